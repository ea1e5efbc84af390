"""The hub's SHACL engine gives exactly pyshacl's results, verdicts and messages, faster.

The parity corpus: every RDF file of the package and its test data, the official DCAT-AP
examples, the HealthDCAT example, MIABIS-converted records, the normalised form of all of
them, the records test_validate builds, a generated catalogue like a real harvest, and a few
hundred randomly mutated records that break every constraint of the hub's shapes.

    # datasets/s of both engines on a generated catalogue of 2,000 datasets
    .venv/bin/python -m hyperontology.tests.test_fastshacl 2000
"""

from __future__ import annotations

import importlib
import json
import random
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from pyshacl import validate as shacl_validate
from pyshacl.errors import ReportableRuntimeError
from rdflib import RDF, RDFS, XSD, BNode, Dataset, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, SH
from rdflib.term import Node

from hyperontology.fastshacl import (
    SUPPORTED,
    UnsupportedShapes,
    compile_shapes,
    results_from_graph,
)
from hyperontology.miabis import miabis_to_dcat
from hyperontology.normalise import normalise
from hyperontology.terms import ACCESS_RIGHT, DCM, HEALTH, ICD10, OBO
from hyperontology.tests import test_validate
from hyperontology.validate import _shapes, validate

PACKAGE = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
HERE = DATA / "fastshacl"
EX = "https://node.example/"


# --- comparing the engines ---------------------------------------------------------------


def pyshacl_results(graph: Graph, shapes: Graph):
    _conforms, results, _text = shacl_validate(
        graph,
        shacl_graph=shapes,
        inference="none",
        advanced=False,
        abort_on_first=False,
        allow_warnings=True,
    )
    return results_from_graph(results)


def comparable(results, graph: Graph) -> Counter:
    """Results as a multiset of plain tuples, messages spelt out."""
    return Counter(
        (
            r.focus_node,
            r.result_path,
            r.value,
            r.source_shape,
            r.source_constraint_component,
            r.result_severity,
            tuple(sorted(str(m) for m in r.all_messages(graph))),
        )
        for r in results
    )


def assert_same(graph: Graph) -> None:
    """Both engines: the same SHACL results, and validate() gives the same report."""
    shapes = _shapes(False)
    expected = comparable(pyshacl_results(graph, shapes), graph)
    actual = comparable(compile_shapes(shapes).validate(graph), graph)
    assert actual == expected
    assert validate(graph, engine="fast") == validate(graph, engine="pyshacl")


def parse(path: Path) -> Graph:
    if path.suffix == ".jsonld":
        # The official examples name their context by URL: read the local copy instead.
        document = json.loads(path.read_text())
        if isinstance(document.get("@context"), str):
            context = json.loads((HERE / "dcat-ap-context.jsonld").read_text())["@context"]
            document["@context"] = context
        return Graph().parse(data=json.dumps(document), format="json-ld")
    if path.suffix in {".owl", ".rdf"}:
        return Graph().parse(path, format="xml")
    return Graph().parse(path, format="turtle")


RDF_FILES = sorted(
    p
    for p in PACKAGE.rglob("*")
    if p.suffix in {".ttl", ".jsonld", ".rdf", ".owl"}
    and p.name != "dcat-ap-context.jsonld"
    and ".venv" not in p.parts
)


# --- what the engine supports ------------------------------------------------------------


def test_every_constraint_component_of_the_hub_shapes_is_supported():
    shapes = _shapes(False)
    used = {p for p in shapes.predicates() if str(p).startswith(str(SH))}
    parameters = {
        SH.minCount,
        SH.maxCount,
        SH.nodeKind,
        SH.datatype,
        SH["class"],
        SH["in"],
        SH.pattern,
        SH.minInclusive,
        SH.lessThanOrEquals,
        SH.node,
        SH.property,
        SH["or"],
        SH.qualifiedValueShape,
        SH.qualifiedMinCount,
    }
    assert (
        parameters
        <= used
        <= SUPPORTED
        | {
            SH.path,
            SH.inversePath,
            SH.targetClass,
            SH.severity,
            SH.message,
            # A DCAT-AP typo for sh:node: not SHACL, so pyshacl ignores it, and so do we.
            URIRef(f"{SH}shape"),
        }
    )

    compiled = compile_shapes(shapes)

    assert {s.node for s in compiled.targeted} == set(shapes.subjects(SH.targetClass, None))


SHACL_PREFIXES = """
@prefix sh: <http://www.w3.org/ns/shacl#> .
@prefix ex: <https://node.example/> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
"""


@pytest.mark.parametrize(
    "shape",
    [
        "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:closed true .",
        "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property [ sh:path ex:p ; sh:hasValue 1 ] .",
        "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property [ sh:path ( ex:p ex:q ) ; "
        "sh:minCount 1 ] .",
        "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property [ sh:path [ sh:zeroOrMorePath "
        "ex:p ] ; sh:minCount 1 ] .",
        "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:sparql [ sh:select 'SELECT $this {}' ] .",
        "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property [ sh:path ex:p ; sh:node ex:S ] .",
        "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:property [ sh:path ex:p ; "
        "sh:minCount '1' ] .",
        "ex:S a sh:NodeShape ; sh:targetClass ex:C ; sh:severity sh:Warning, sh:Info .",
    ],
    ids=[
        "closed",
        "hasValue",
        "sequence-path",
        "zero-or-more",
        "sparql",
        "recursion",
        "string-count",
        "two-severities",
    ],
)
def test_a_shapes_graph_with_anything_else_is_refused(shape):
    shapes = Graph().parse(data=SHACL_PREFIXES + shape, format="turtle")

    with pytest.raises(UnsupportedShapes):
        compile_shapes(shapes)


def test_the_full_dcat_ap_shapes_fall_back_to_pyshacl():
    graph = test_validate.record(test_validate.dataset(publisher="dct:publisher ex:unknown-org"))

    with pytest.raises(UnsupportedShapes, match="closed"):
        validate(graph, full=True, engine="fast")
    assert validate(graph, full=True) == validate(graph, full=True, engine="pyshacl")
    assert not validate(graph, full=True).verdicts[0].accepted


def test_the_hub_shapes_run_on_the_fast_engine_by_default(monkeypatch):
    # The package exports the function validate under the module's name: ask for the module.
    module = importlib.import_module("hyperontology.validate")

    def refuse(*args, **kwargs):
        raise AssertionError("pyshacl was run")

    monkeypatch.setattr(module, "shacl_validate", refuse)
    report = validate(test_validate.record(test_validate.dataset()))
    assert report.verdicts[0].accepted
    with pytest.raises(AssertionError, match="pyshacl was run"):
        validate(test_validate.record(test_validate.dataset()), engine="pyshacl")


# Supported components the hub's shapes do not use (or not this way), against pyshacl.
OTHER_SHAPES = """
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
ex:Named a sh:NodeShape ; sh:targetNode ex:a, ex:missing ;
    sh:property [ sh:path ex:label ; sh:pattern "^ab" ; sh:flags "i" ; sh:minCount 1 ] .
ex:Subjects a sh:NodeShape ; sh:targetSubjectsOf ex:link ;
    sh:property [ sh:path ex:link ; sh:class ex:Thing, ex:Other ] .
ex:Objects a sh:NodeShape ; sh:targetObjectsOf ex:link ; sh:nodeKind sh:IRI .
ex:Thing a owl:Class, sh:NodeShape ;
    sh:property [ sh:path ex:when ; sh:minInclusive "2020-01-01"^^xsd:date ;
                  sh:lessThanOrEquals ex:until ; sh:maxCount 1 ] ;
    sh:property [ sh:path ex:part ; sh:node ex:Soft ] ;
    sh:property [ sh:path ex:part ; sh:node ex:Off ] ;
    sh:property [ sh:path ex:kind ; sh:qualifiedValueShape [ sh:in ( ex:x ex:w ) ] ;
                  sh:qualifiedMaxCount 1 ; sh:qualifiedValueShapesDisjoint true ] ;
    sh:property [ sh:path ex:kind ; sh:qualifiedValueShape [ sh:in ( ex:y ex:z ) ] ;
                  sh:qualifiedMinCount 1 ; sh:qualifiedValueShapesDisjoint true ] ;
    sh:property [ sh:path ex:label ; sh:datatype xsd:string ; sh:datatype_ignored 1 ] ;
    sh:property [ sh:path ex:size ; sh:datatype xsd:integer ; sh:severity sh:Info ] .
ex:Soft a sh:NodeShape ; sh:severity sh:Warning ;
    sh:property [ sh:path ex:label ; sh:minCount 1 ] .
ex:Off a sh:NodeShape ; sh:deactivated true ; sh:property [ sh:path ex:label ; sh:minCount 1 ] .
"""
OTHER_DATA = """
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
ex:Special rdfs:subClassOf ex:Thing .
ex:a ex:label "ABc", "xab", 3 ; ex:link ex:b, "text" .
ex:b a ex:Special ; ex:when "2019-05-01"^^xsd:date, "2021-05-01"^^xsd:date ;
    ex:until "2020-06-01"^^xsd:date ; ex:part ex:c, [ ex:label "p" ] ;
    ex:kind ex:x, ex:w, ex:y ; ex:label "plain", "tagged"@en ; ex:size "x"^^xsd:integer .
ex:c ex:when "2022-01-01T00:00:00"^^xsd:dateTime ; a ex:Thing ; ex:kind ex:z ;
    ex:until 5 ; ex:size 4 .
"""


def test_same_results_on_supported_components_the_hub_does_not_use():
    shapes = Graph().parse(data=SHACL_PREFIXES + OTHER_SHAPES, format="turtle")
    graph = Graph().parse(data=SHACL_PREFIXES + OTHER_DATA, format="turtle")

    expected = comparable(pyshacl_results(graph, shapes), graph)

    assert comparable(compile_shapes(shapes).validate(graph), graph) == expected
    components = {c.rsplit("#", 1)[-1] for _, _, _, _, c, _, _ in expected}
    assert components >= {
        "PatternConstraintComponent",
        "MinCountConstraintComponent",
        "ClassConstraintComponent",
        "NodeKindConstraintComponent",
        "MinInclusiveConstraintComponent",
        "LessThanOrEqualsConstraintComponent",
        "MaxCountConstraintComponent",
        "NodeConstraintComponent",
        "QualifiedMaxCountConstraintComponent",
        "DatatypeConstraintComponent",
    }


def test_a_dataset_of_named_graphs_is_left_to_pyshacl():
    graph = Dataset()
    graph.parse(data=test_validate.PREFIXES + test_validate.dataset(), format="turtle")

    with pytest.raises(TypeError):
        validate(graph, engine="fast")
    assert validate(graph) == validate(graph, engine="pyshacl")


# --- parity on files, examples, conversions ----------------------------------------------


def test_the_corpus_has_the_files_it_should():
    names = {p.name for p in RDF_FILES}
    assert {
        "healthdcat-imaging-dataset.ttl",
        "example-bee-population.ttl",
        "example-bee-population.jsonld",
        "example-bee-population-dataset-series.ttl",
        "shapes.ttl",
        "hub-profile.ttl",
        "model.ttl",
        "duo.owl",
    } <= names


@pytest.mark.parametrize("path", RDF_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_same_results_on_every_rdf_file_and_its_normalised_form(path):
    graph = parse(path)
    assert_same(graph)
    assert_same(normalise(graph))


def test_same_results_on_miabis_records():
    collections = json.loads((DATA / "miabis-collections.json").read_text())
    graph = miabis_to_dcat(collections)
    assert_same(graph)
    assert_same(normalise(graph))
    # Each collection without one of the things the hub requires.
    required = ["contact", "accessRights", "numberOfSubjects", "description", "biobank"]
    for position, collection in enumerate(collections):
        broken = {k: v for k, v in collection.items() if k != required[position % len(required)]}
        assert_same(normalise(miabis_to_dcat(broken)))


def parametrized_changes(test) -> list[dict]:
    # The change sets test_validate parametrises its tests with (pytest keeps them on the
    # function), so the parity check sees every case those tests see.
    [mark] = [m for m in test.pytestmark if m.name == "parametrize"]
    return [case[0] for case in mark.args[1]]


def test_same_results_on_the_records_test_validate_builds():
    record, dataset = test_validate.record, test_validate.dataset
    changes = parametrized_changes(
        test_validate.test_a_dataset_breaking_a_rule_is_rejected_with_one_plain_reason
    ) + parametrized_changes(
        test_validate.test_a_missing_recommended_term_is_a_warning_and_the_dataset_is_accepted
    )
    for change in changes:
        assert_same(record(dataset(**change)))
    assert_same(
        record(
            dataset("good-1"),
            dataset("bad", contact=None, access="dct:accessRights ar:SOMETIMES"),
            dataset("with-dist", identifier='dct:identifier "w" ; dcat:distribution ex:d1'),
            'ex:d1 a dcat:Distribution ; dct:title "files"@en .\n',
            "ex:catalog a dcat:Catalog ; dcat:dataset ex:good-1 .\n",
            dataset(
                "ages",
                min_age='healthdcatap:minTypicalAge "90"^^xsd:nonNegativeInteger',
                max_age='healthdcatap:maxTypicalAge "20"^^xsd:nonNegativeInteger',
            ),
        )
    )
    assert_same(
        Graph().parse(
            data=test_validate.PREFIXES + "ex:org a foaf:Agent .\n" + dataset("a") + dataset("b"),
            format="turtle",
        )
    )


def test_same_results_on_a_generated_catalogue():
    graph = imaging_catalogue(150, seed=7)
    report = validate(graph, engine="fast")
    assert 0 < len(report.rejected) < len(report.verdicts)
    assert_same(graph)


# --- parity on mutated records -----------------------------------------------------------

# Values of every kind the shapes tell apart: IRIs in and out of the hub's vocabularies,
# blank nodes, plain and language-tagged strings, well- and ill-typed numbers and dates.
VALUES = [
    None,  # a new blank node
    URIRef(EX + "thing"),
    DCM.CT,
    URIRef("https://dicom.nema.org/resources/ontology/DCM/CT"),
    OBO.DUO_0000007,
    OBO.GO_0000001,
    ICD10["C78.7"],
    ACCESS_RIGHT.PUBLIC,
    ACCESS_RIGHT.NON_PUBLIC,
    ACCESS_RIGHT.SOMETIMES,
    Literal("http://dicom.nema.org/resources/ontology/DCM/CT"),
    Literal("http://purl.obolibrary.org/obo/DUO_0000007"),
    Literal("PUBLIC"),
    Literal("text"),
    Literal("texte", lang="fr"),
    Literal("12", datatype=XSD.integer),
    Literal("-3", datatype=XSD.integer),
    Literal("-3", datatype=XSD.nonNegativeInteger),
    Literal("abc", datatype=XSD.integer),
    Literal("7", datatype=XSD.nonNegativeInteger),
    Literal("0", datatype=XSD.positiveInteger),
    Literal("5", datatype=XSD.int),
    Literal("5000000000", datatype=XSD.long),
    Literal("2.5", datatype=XSD.decimal),
    Literal("1e3", datatype=XSD.double),
    Literal("2024-05-02", datatype=XSD.date),
    Literal("2024-13-45", datatype=XSD.date),
    Literal("2024-05-02T10:00:00", datatype=XSD.dateTime),
    Literal("2024", datatype=XSD.gYear),
    Literal("2024-05", datatype=XSD.gYearMonth),
    Literal("P1D", datatype=XSD.duration),
    Literal("a1b2", datatype=XSD.hexBinary),
    Literal("zz", datatype=XSD.hexBinary),
    Literal("true", datatype=XSD.boolean),
    Literal("34"),
    Literal("x", datatype=URIRef(EX + "datatype")),
]
# sh:lessThanOrEquals is an error on a blank node (in pyshacl too): kept out of the ages.
AGES = [v for v in VALUES if v is not None] + [
    Literal(str(n), datatype=XSD.nonNegativeInteger) for n in (0, 18, 40, 40, 65, 90)
]


def shape_properties(shapes: Graph) -> dict[URIRef, list[URIRef]]:
    """Per target class, the predicates the shapes constrain on its instances."""
    out: dict[URIRef, list[URIRef]] = {}
    for shape, cls in shapes.subject_objects(SH.targetClass):
        for prop in shapes.objects(shape, SH.property):
            path = shapes.value(prop, SH.path)
            if isinstance(path, URIRef):
                out.setdefault(cls, []).append(path)
    return {cls: sorted(set(ps)) for cls, ps in out.items()}


def complete_record(graph: Graph, n: int) -> dict[URIRef, Node]:
    """A valid dataset with a node of every class the shapes target linked to it."""
    ds = URIRef(f"{EX}ds-{n}")
    graph.parse(
        data=test_validate.PREFIXES
        + test_validate.dataset(f"ds-{n}").replace("ex:org", f"ex:org-{n}")
        + f'ex:org-{n} a foaf:Agent ; foaf:name "Hospital {n}"@en .\n',
        format="turtle",
    )
    nodes = {DCAT.Dataset: ds, FOAF.Agent: URIRef(f"{EX}org-{n}")}

    def node(cls: URIRef, link: URIRef | None, *triples) -> URIRef:
        iri = URIRef(f"{EX}{cls.split('/')[-1].split('#')[-1]}-{n}")
        graph.add((iri, RDF.type, cls))
        if link is not None:
            graph.add((ds, link, iri))
        for p, o in triples:
            graph.add((iri, p, o))
        nodes[cls] = iri
        return iri

    spdx = "http://spdx.org/rdf/terms#"
    skos = "http://www.w3.org/2004/02/skos/core#"
    checksum = node(
        URIRef(spdx + "Checksum"),
        None,
        (URIRef(spdx + "algorithm"), URIRef(spdx + "checksumAlgorithm_sha1")),
        (URIRef(spdx + "checksumValue"), Literal("a1b2", datatype=XSD.hexBinary)),
    )
    node(
        DCAT.Distribution,
        DCAT.distribution,
        (DCAT.accessURL, URIRef(f"{EX}access/{n}")),
        (URIRef(spdx + "checksum"), checksum),
        (DCTERMS.issued, Literal("2024-05-02", datatype=XSD.date)),
    )
    node(
        DCAT.DataService,
        None,
        (DCTERMS.title, Literal("API")),
        (DCAT.endpointURL, URIRef(f"{EX}api")),
        (DCAT.servesDataset, ds),
    )
    series = node(DCAT.DatasetSeries, DCAT.inSeries, (DCTERMS.title, Literal("Series")))
    series_text = Literal("A series")
    graph.add((series, DCTERMS.description, series_text))
    node(DCTERMS.Location, DCTERMS.spatial, (DCAT.centroid, Literal("POINT(1 2)")))
    node(
        DCTERMS.PeriodOfTime,
        DCTERMS.temporal,
        (DCAT.startDate, Literal("2020-01-01", datatype=XSD.date)),
        (DCAT.endDate, Literal("2021", datatype=XSD.gYear)),
    )
    node(
        DCAT.Relationship,
        DCAT.qualifiedRelation,
        (DCTERMS.relation, URIRef(f"{EX}other")),
        (DCAT.hadRole, URIRef(f"{EX}role")),
    )
    node(URIRef(skos + "Concept"), DCAT.theme, (URIRef(skos + "prefLabel"), Literal("Health")))
    node(URIRef(skos + "ConceptScheme"), None, (DCTERMS.title, Literal("Themes")))
    node(
        URIRef("http://www.w3.org/ns/adms#Identifier"),
        URIRef("http://www.w3.org/ns/adms#identifier"),
    )
    node(DCTERMS.LicenseDocument, None, (DCTERMS.type, URIRef(f"{EX}licence-type")))
    node(
        DCAT.CatalogRecord,
        None,
        (FOAF.primaryTopic, ds),
        (DCTERMS.modified, Literal("2024-05-02", datatype=XSD.date)),
    )
    catalogue = node(
        DCAT.Catalog,
        None,
        (DCTERMS.title, Literal("Catalogue")),
        (DCTERMS.description, Literal("Everything")),
        (DCTERMS.publisher, URIRef(f"{EX}org-{n}")),
        (DCAT.dataset, ds),
    )
    graph.add((catalogue, DCAT.record, nodes[DCAT.CatalogRecord]))
    return nodes


AGE_PROPERTIES = (HEALTH.minTypicalAge, HEALTH.maxTypicalAge)
# What a mutation does to one property of one node.
KINDS = ("remove", "add-two", "literal", "link")


def mutate(graph: Graph, nodes: dict, cls: URIRef, predicate: URIRef, kind: str, rng) -> None:
    """Change one property of the record's node of class `cls`, randomly but so that the
    change breaks whatever constraint that kind of change can break."""
    subject = nodes[cls]
    pool = [v for v in VALUES if v is not None] if predicate in AGE_PROPERTIES else VALUES

    def pick(literal: bool | None = None) -> Node:
        choices = [v for v in pool if literal is None or isinstance(v, Literal) == literal]
        value = rng.choice(choices)
        return BNode() if value is None else value

    if kind == "remove":  # the property missing
        graph.remove((subject, predicate, None))
    elif kind == "add-two":  # more values than allowed
        graph.add((subject, predicate, pick()))
        graph.add((subject, predicate, pick()))
    elif kind == "literal":  # a wrong text, number or date
        graph.remove((subject, predicate, None))
        graph.add((subject, predicate, pick(literal=True)))
    elif kind == "link":  # a wrong IRI or blank node
        graph.remove((subject, predicate, None))
        graph.add((subject, predicate, pick(literal=False)))
    elif kind == "inverse":  # nothing links to the node any more
        graph.remove((None, predicate, subject))


def retype(graph: Graph, nodes: dict, rng) -> None:
    """The record's graph changed where the shapes look for their targets."""
    cls = rng.choice(sorted(nodes))
    subject = nodes[cls]
    choice = rng.randrange(4)
    if choice == 0:  # typed by a subclass only: still a target, through rdfs:subClassOf
        sub = URIRef(f"{EX}Special{cls.split('/')[-1].split('#')[-1]}")
        graph.remove((subject, RDF.type, cls))
        graph.add((sub, RDFS.subClassOf, cls))
        graph.add((subject, RDF.type, sub))
    elif choice == 1:  # not typed at all: not a target
        graph.remove((subject, RDF.type, cls))
    elif choice == 2:  # a second class
        graph.add((subject, RDF.type, rng.choice(sorted(nodes))))
    else:  # the catalogue record is about something else
        topic = rng.choice(VALUES + [subject])
        graph.set((nodes[DCAT.CatalogRecord], FOAF.primaryTopic, topic or BNode()))


def mutation_plan(rng) -> list[tuple[URIRef, URIRef, str]]:
    """Every kind of change to every property the shapes constrain, in a random order."""
    properties = shape_properties(_shapes(False))
    properties[DCAT.Dataset] = sorted(
        set(properties[DCAT.Dataset]) | {*AGE_PROPERTIES, DCTERMS.subject}
    )
    plan = [(c, p, kind) for c, ps in properties.items() for p in ps for kind in KINDS]
    plan.append((DCAT.DatasetSeries, DCAT.inSeries, "inverse"))
    rng.shuffle(plan)
    return plan


def mutated_graphs(*, seed: int, per_record: int = 2, per_graph: int = 4):
    """Graphs of `per_graph` records, each with `per_record` planned changes and, now and
    then, a change of class; together they carry out the whole plan."""
    rng = random.Random(seed)
    plan = mutation_plan(rng)
    record = 0
    while plan:
        graph = Graph()
        for _ in range(per_graph):
            nodes = complete_record(graph, record)
            record += 1
            for cls, predicate, kind in plan[:per_record]:
                mutate(graph, nodes, cls, predicate, kind, rng)
            del plan[:per_record]
            if rng.random() < 0.3:
                retype(graph, nodes, rng)
        yield graph


def test_same_results_on_a_few_hundred_mutated_records_breaking_every_constraint():
    shapes = _shapes(False)
    compiled = compile_shapes(shapes)
    seen: Counter = Counter()
    records = 0
    for graph in mutated_graphs(seed=20240502):
        records += len(set(graph.subjects(RDF.type, DCAT.CatalogRecord)))
        try:
            expected = pyshacl_results(graph, shapes)
        except ReportableRuntimeError as error:  # pragma: no cover - the ages avoid it
            with pytest.raises(ReportableRuntimeError, match=str(error.args[0])):
                compiled.validate(graph)
            continue
        assert comparable(compiled.validate(graph), graph) == comparable(expected, graph)
        assert validate(graph, engine="fast") == validate(graph, engine="pyshacl")
        seen.update((r.source_shape, r.source_constraint_component) for r in expected)
    assert records >= 250

    # Every constraint that can report was broken somewhere in the corpus.
    missing = [
        (shape.node, constraint.component)
        for shape in reportable_shapes(compiled)
        for constraint in shape.constraints
        if reports(shape, constraint) and (shape.node, constraint.component) not in seen
    ]
    assert missing == []


def reportable_shapes(compiled):
    """The shapes whose results reach the report: targeted shapes, their property shapes,
    and the shapes sh:node refers to (sh:or and qualified members report nothing)."""
    todo = list(compiled.targeted)
    found = []
    while todo:
        shape = todo.pop()
        if shape in found:
            continue
        found.append(shape)
        for constraint in shape.constraints:
            if constraint.component in (SH.PropertyConstraintComponent, SH.NodeConstraintComponent):
                todo.extend(constraint.targets)
    return found


def reports(shape, constraint) -> bool:
    """Whether data can break the constraint so that it reports."""
    if constraint.component == SH.PropertyConstraintComponent:
        return False  # its property shapes report, not itself
    # What links to a node is never a literal: sh:nodeKind cannot fail on an inverse path.
    inverse = shape.path is not None and shape.path.inverse
    return not (inverse and constraint.component == SH.NodeKindConstraintComponent)


def test_a_blank_node_compared_by_less_than_or_equals_is_the_same_error():
    graph = test_validate.record(
        test_validate.dataset(min_age="healthdcatap:minTypicalAge [ a dcat:Dataset ]")
    )

    with pytest.raises(ReportableRuntimeError) as by_pyshacl:
        validate(graph, engine="pyshacl")
    with pytest.raises(ReportableRuntimeError) as by_fast:
        validate(graph, engine="fast")
    assert str(by_fast.value) == str(by_pyshacl.value)


# --- a catalogue like a real harvest (also the benchmark's input) -------------------------

ORGANISATIONS = 25


def imaging_catalogue(n: int, *, seed: int = 0, invalid_share: float = 0.1) -> Graph:
    """`n` imaging datasets shaped like the shared HealthDCAT example, from 25 providers;
    about `invalid_share` of them broken in one of several ways a provider gets wrong."""
    rng = random.Random(seed)
    parts = [
        test_validate.PREFIXES,
        "@prefix dcatap: <http://data.europa.eu/r5r/> .\n",
        "@prefix spdx: <http://spdx.org/rdf/terms#> .\n",
        'ex:catalog a dcat:Catalog ; dct:title "Hub"@en ; dct:description "All"@en ;'
        " dct:publisher ex:org-0 .\n",
    ]
    for o in range(ORGANISATIONS):
        name = "" if o == ORGANISATIONS - 1 else f' ; foaf:name "Hospital {o}"@en'
        parts.append(f"ex:org-{o} a foaf:Agent, foaf:Organization{name} .\n")
    modalities = ["CT", "MR", "PT", "US", "CR"]
    faults = [
        "description",
        "contact",
        "access",
        "ages",
        "negative",
        "publisher",
        "ill-typed",
        "two-counts",
        "distribution",
        "issued",
        "unnamed-publisher",
        "modality",
    ]
    for i in range(n):
        identifier = f"DS-{seed}-{i:05d}"
        fault = rng.choice(faults) if rng.random() < invalid_share else None
        org = ORGANISATIONS - 1 if fault == "unnamed-publisher" else i % (ORGANISATIONS - 1)
        subjects = rng.randrange(10, 2000)
        low = rng.randrange(0, 60)
        high = low + rng.randrange(0, 40)
        if fault == "ages":
            low, high = high + 5, low
        props = {
            "identifier": f'dct:identifier "{identifier}"',
            "title": f'dct:title "Imaging collection {i}"@en',
            "description": f'dct:description "De-identified {modalities[i % 5]} studies, {i}."@en',
            "publisher": f"dct:publisher ex:org-{org}",
            "contact": f'dcat:contactPoint [ a vcard:Kind ; vcard:fn "Data access {org}" ;'
            f" vcard:hasEmail <mailto:data-{org}@hospital.example> ]",
            "access": "dct:accessRights ar:" + rng.choice(["PUBLIC", "RESTRICTED", "NON_PUBLIC"]),
            "theme": "dcat:theme <http://publications.europa.eu/resource/authority/data-theme/HEAL>",
            "keyword": f'dcat:keyword "{modalities[i % 5]}"@en, "oncology"@en',
            "legislation": "dcatap:applicableLegislation <http://data.europa.eu/eli/reg/2022/868/oj>",
            "subjects": f'healthdcatap:numberOfUniqueIndividuals "{subjects}"^^xsd:nonNegativeInteger',
            "studies": f'healthdcatap:numberOfRecords "{subjects + rng.randrange(0, 500)}"'
            "^^xsd:nonNegativeInteger",
            "min_age": f'healthdcatap:minTypicalAge "{low}"^^xsd:nonNegativeInteger',
            "max_age": f'healthdcatap:maxTypicalAge "{high}"^^xsd:nonNegativeInteger',
            "modality": f"agora:imagingModality DCM:{modalities[i % 5]}",
            "body_part": 'agora:bodyPart "' + rng.choice(["CHEST", "ABDOMEN", "HEAD"]) + '"',
            "diagnosis": f"dct:subject ICD10:C{rng.randrange(10, 97)}",
            "data_use": "agora:dataUseCondition obo:DUO_0000007",
            "issued": f'dct:issued "20{rng.randrange(10, 25)}-0{rng.randrange(1, 10)}-1{i % 10}"'
            "^^xsd:date",
            "distribution": f"dcat:distribution [ a dcat:Distribution ; dcat:accessURL"
            f" <{EX}access/{identifier}> ; dct:format"
            " <http://publications.europa.eu/resource/authority/file-type/DCM> ;"
            ' dcat:byteSize "1024"^^xsd:nonNegativeInteger ]',
        }
        if fault in ("description", "contact", "publisher"):
            del props[fault]
        elif fault == "access":
            props["access"] = rng.choice(
                ['dct:accessRights "restricted"', "dct:accessRights ar:SOMETIMES"]
            )
        elif fault == "negative":
            props["subjects"] = 'healthdcatap:numberOfUniqueIndividuals "-4"^^xsd:integer'
        elif fault == "ill-typed":
            props["studies"] = 'healthdcatap:numberOfRecords "many"^^xsd:integer'
        elif fault == "two-counts":
            props["studies"] += ', "12"^^xsd:nonNegativeInteger'
        elif fault == "distribution":
            props["distribution"] = 'dcat:distribution [ a dcat:Distribution ; dct:title "x" ]'
        elif fault == "issued":
            props["issued"] = 'dct:issued "last spring"'
        elif fault == "modality":
            props["modality"] = 'agora:imagingModality "CT scan"'
        body = " ;\n  ".join(props.values())
        parts.append(f"ex:ds-{seed}-{i} a dcat:Dataset ;\n  {body} .\n")
        parts.append(f"ex:catalog dcat:dataset ex:ds-{seed}-{i} .\n")
    return Graph().parse(data="".join(parts), format="turtle")


def measure(n: int) -> None:  # pragma: no cover - run by hand, see the module docstring
    graph = imaging_catalogue(n, seed=1)
    shapes = _shapes(False)
    compiled = compile_shapes(shapes)
    rows = []
    for name, run in [
        ("pyshacl (one whole-graph run)", lambda: pyshacl_results(graph, shapes)),
        ("fast engine (results only)", lambda: compiled.validate(graph)),
        ('validate(engine="pyshacl")', lambda: validate(graph, engine="pyshacl")),
        ('validate(engine="fast")', lambda: validate(graph, engine="fast")),
    ]:
        run()  # warm the caches (shapes parsed and compiled once per process)
        start = time.perf_counter()
        runs = 0
        while runs < 1 or time.perf_counter() - start < 3:
            run()
            runs += 1
        seconds = (time.perf_counter() - start) / runs
        rows.append((name, seconds, n / seconds))
    rejected = len(validate(graph).rejected)
    print(f"{n} datasets, {len(graph)} triples, {rejected} rejected")
    print(f"{'engine':32} {'s/run':>8} {'datasets/s':>11}")
    for name, seconds, rate in rows:
        print(f"{name:32} {seconds:8.3f} {rate:11.0f}")


if __name__ == "__main__":  # pragma: no cover
    measure(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
