from pathlib import Path

import pytest
from rdflib import RDF, XSD, BNode, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS

from hyperontology.mappings import Mappings
from hyperontology.normalise import normalise, normalised_hash
from hyperontology.terms import ACCESS_RIGHT, AGORA, DCM, HEALTH, ICD10

DATA = Path(__file__).parent / "data"
DS = URIRef("https://node.hospital-x.example/datasets/crlm-ct")
X = URIRef("https://node.example/ds/1")


@pytest.fixture
def example():
    return Graph().parse(DATA / "healthdcat-imaging-dataset.ttl")


def record(*triples):
    g = Graph()
    g.add((X, RDF.type, DCAT.Dataset))
    for p, o in triples:
        g.add((X, p, o))
    return g


def test_modality_and_body_part_are_found_in_keywords_and_text(example):
    out = normalise(example)
    assert set(out.objects(DS, AGORA.imagingModality)) == {DCM.CT}
    assert set(out.objects(DS, AGORA.bodyPart)) == {Literal("ABDOMEN"), Literal("LIVER")}


def test_the_input_is_not_changed(example):
    before = Graph()
    for t in example:
        before.add(t)
    normalise(example)
    assert isomorphic(before, example)
    assert not set(example.objects(DS, AGORA.imagingModality))


def test_local_labels_become_standard_codes():
    g = record(
        (AGORA.imagingModality, Literal("Tomografía computarizada")),
        (AGORA.imagingModality, URIRef("https://node.example/vocab/RMN")),
        (AGORA.imagingModality, DCM.PT),
        (AGORA.bodyPart, Literal("torace")),
        (AGORA.sex, Literal("Weiblich")),
    )
    out = normalise(g)
    assert set(out.objects(X, AGORA.imagingModality)) == {DCM.CT, DCM.MR, DCM.PT}
    assert set(out.objects(X, AGORA.bodyPart)) == {Literal("CHEST")}
    assert set(out.objects(X, AGORA.sex)) == {Literal("female")}


def test_given_values_are_not_supplemented_from_text():
    g = record(
        (AGORA.imagingModality, Literal("MRI")),
        (DCTERMS.description, Literal("Prostate MRI, with CT for planning")),
    )
    out = normalise(g)
    assert set(out.objects(X, AGORA.imagingModality)) == {DCM.MR}
    assert set(out.objects(X, AGORA.bodyPart)) == {Literal("PROSTATE")}


def test_unknown_values_are_kept_for_validation_to_report():
    g = record((AGORA.imagingModality, Literal("holography")))
    assert set(normalise(g).objects(X, AGORA.imagingModality)) == {Literal("holography")}


@pytest.mark.parametrize(
    "value",
    [
        Literal("C78.7"),
        Literal("urn:miriam:icd:C78.7"),
        URIRef("urn:miriam:icd:C78.7"),
        Literal("ICD10:C78.7"),
        URIRef("http://id.who.int/icd/release/10/C78.7"),
        URIRef("http://id.who.int/icd/release/10/2019/C78.7"),
        ICD10["C78.7"],
    ],
)
def test_icd10_forms_become_icd10_iris(value):
    out = normalise(record((DCTERMS.subject, value)))
    assert set(out.objects(X, DCTERMS.subject)) == {ICD10["C78.7"]}


def test_other_subjects_are_kept():
    other = URIRef("http://www.orpha.net/ORDO/Orphanet_123")
    assert set(normalise(record((DCTERMS.subject, other))).objects(X, DCTERMS.subject)) == {other}


@pytest.mark.parametrize(
    ("value", "iri"),
    [
        ("restricted", ACCESS_RIGHT.RESTRICTED),
        ("PUBLIC", ACCESS_RIGHT.PUBLIC),
        ("non-public", ACCESS_RIGHT.NON_PUBLIC),
        ("NON_PUBLIC", ACCESS_RIGHT.NON_PUBLIC),
    ],
)
def test_access_right_literals_become_eu_iris(value, iri):
    out = normalise(record((DCTERMS.accessRights, Literal(value))))
    assert set(out.objects(X, DCTERMS.accessRights)) == {iri}


def test_counts_and_ages_become_non_negative_integers():
    out = normalise(
        record(
            (HEALTH.numberOfUniqueIndividuals, Literal("197")),
            (HEALTH.numberOfRecords, Literal(233)),
            (HEALTH.minTypicalAge, Literal("34.0")),
            (HEALTH.maxTypicalAge, Literal("eighty")),
        )
    )
    nni = XSD.nonNegativeInteger
    assert out.value(X, HEALTH.numberOfUniqueIndividuals) == Literal("197", datatype=nni)
    assert out.value(X, HEALTH.numberOfRecords) == Literal("233", datatype=nni)
    assert out.value(X, HEALTH.minTypicalAge) == Literal("34", datatype=nni)
    assert out.value(X, HEALTH.maxTypicalAge) == Literal("eighty")


def test_normalising_is_deterministic_and_idempotent(example):
    once = normalise(example)
    assert isomorphic(once, normalise(example))
    assert normalised_hash(once, DS) == normalised_hash(normalise(example), DS)
    assert isomorphic(normalise(once), once)
    assert normalised_hash(normalise(once), DS) == normalised_hash(once, DS)


def test_node_mappings_are_used():
    g = record((DCAT.keyword, Literal("TACmultistrato")))
    mappings = Mappings.default().with_extension({"modality": {"TACmultistrato": "CT"}})
    assert set(normalise(g, mappings).objects(X, AGORA.imagingModality)) == {DCM.CT}


def test_hash_ignores_serialisation_and_blank_node_names(example):
    digest = normalised_hash(example, DS)
    as_jsonld = Graph().parse(data=example.serialize(format="json-ld"), format="json-ld")
    assert normalised_hash(as_jsonld, DS) == digest
    renamed = Graph()
    names = {}
    for s, p, o in example:
        s = names.setdefault(s, BNode()) if isinstance(s, BNode) else s
        o = names.setdefault(o, BNode()) if isinstance(o, BNode) else o
        renamed.add((s, p, o))
    assert normalised_hash(renamed, DS) == digest
    assert normalised_hash(example, str(DS)) == digest


def test_hash_changes_when_a_value_changes_even_inside_a_blank_node(example):
    digest = normalised_hash(example, DS)
    changed = Graph()
    for t in example:
        changed.add(t)
    changed.set((DS, HEALTH.numberOfRecords, Literal("234", datatype=XSD.nonNegativeInteger)))
    assert normalised_hash(changed, DS) != digest

    contact = example.value(DS, DCAT.contactPoint)
    fn = URIRef("http://www.w3.org/2006/vcard/ns#fn")
    changed_contact = Graph()
    for t in example:
        changed_contact.add(t)
    changed_contact.set((contact, fn, Literal("Someone else")))
    assert normalised_hash(changed_contact, DS) != digest


def test_hash_ignores_other_datasets_in_the_graph(example):
    digest = normalised_hash(example, DS)
    example.add((X, RDF.type, DCAT.Dataset))
    example.add((X, DCTERMS.title, Literal("another")))
    assert normalised_hash(example, DS) == digest
