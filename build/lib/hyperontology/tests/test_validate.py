"""The hub accepts or rejects each dataset of a record, and says why in plain words."""

from pathlib import Path

import pytest
from rdflib import Graph

from hyperontology.validate import validate

DATA = Path(__file__).parent / "data"

PREFIXES = """
@prefix agora: <https://w3id.org/agora/ns#> .
@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix vcard: <http://www.w3.org/2006/vcard/ns#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix healthdcatap: <http://healthdataportal.eu/ns/health#> .
@prefix DCM: <http://dicom.nema.org/resources/ontology/DCM/> .
@prefix ICD10: <http://purl.bioontology.org/ontology/ICD10/> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
@prefix ar: <http://publications.europa.eu/resource/authority/access-right/> .
@prefix ex: <https://node.example/> .
"""

# Every property the hub asks for, one per line so a test can drop or replace one.
COMPLETE = {
    "identifier": 'dct:identifier "{id}"',
    "title": 'dct:title "Liver CT"@en',
    "description": 'dct:description "Abdominal CT before resection."@en',
    "publisher": "dct:publisher ex:org",
    "contact": 'dcat:contactPoint [ a vcard:Kind ; vcard:fn "Data access" ]',
    "access": "dct:accessRights ar:RESTRICTED",
    "subjects": 'healthdcatap:numberOfUniqueIndividuals "197"^^xsd:nonNegativeInteger',
    "studies": 'healthdcatap:numberOfRecords "233"^^xsd:nonNegativeInteger',
    "min_age": 'healthdcatap:minTypicalAge "34"^^xsd:nonNegativeInteger',
    "max_age": 'healthdcatap:maxTypicalAge "86"^^xsd:nonNegativeInteger',
    "modality": "agora:imagingModality DCM:CT",
    "body_part": 'agora:bodyPart "ABDOMEN"',
    "diagnosis": "dct:subject ICD10:C78.7",
    "data_use": "agora:dataUseCondition obo:DUO_0000007",
}


def dataset(id: str = "ds-17", **changes: str | None) -> str:
    """Turtle for one complete dataset; `changes` replace (or, with None, drop) properties."""
    properties = {**COMPLETE, **changes}
    body = " ;\n    ".join(p.format(id=id) for p in properties.values() if p is not None)
    return f"ex:{id} a dcat:Dataset ;\n    {body} .\n"


def record(*datasets: str) -> Graph:
    agent = 'ex:org a foaf:Agent ; foaf:name "Hospital X"@en .\n'
    return Graph().parse(data=PREFIXES + agent + "".join(datasets), format="turtle")


def messages(verdict, kind: str = "violations") -> list[str]:
    return [f.message for f in getattr(verdict, kind)]


def test_a_complete_record_is_accepted_with_no_findings():
    report = validate(record(dataset()))

    [verdict] = report.verdicts
    assert verdict.accepted
    assert verdict.iri == "https://node.example/ds-17"
    assert verdict.identifier == "ds-17"
    assert verdict.violations == [] and verdict.warnings == []
    assert report.accepted == [verdict] and report.rejected == []
    assert report.catalogue_findings == []


def test_the_shared_healthdcat_example_is_accepted_with_warnings_before_normalisation():
    graph = Graph().parse(DATA / "healthdcat-imaging-dataset.ttl")

    report = validate(graph)

    verdict = report.by_iri["https://node.hospital-x.example/datasets/crlm-ct"]
    assert verdict.accepted
    assert verdict.identifier == "CRLM-CT"
    assert verdict.violations == []
    # The modality is only a keyword "CT": normalisation turns it into agora:imagingModality.
    assert messages(verdict, "warnings") == [
        "dataset CRLM-CT: agora:bodyPart (the body part examined, a DICOM code such as CHEST)"
        " is recommended and missing",
        "dataset CRLM-CT: agora:dataUseCondition (the data-use terms, DUO) is recommended"
        " and missing",
        "dataset CRLM-CT: agora:imagingModality (the imaging modality, a DICOM code such as"
        " DCM:CT) is recommended and missing",
    ]
    assert {f.path for f in verdict.warnings} == {
        "agora:bodyPart",
        "agora:dataUseCondition",
        "agora:imagingModality",
    }
    assert all(f.severity == "warning" for f in verdict.warnings)
    assert report.catalogue_findings == []


def test_the_official_dcat_ap_example_is_rejected_by_the_hub_profile():
    graph = Graph().parse(DATA / "example-bee-population.ttl")

    report = validate(graph)

    [verdict] = report.rejected
    assert verdict.identifier == "BeePopulation"
    assert messages(verdict) == [
        "dataset BeePopulation: dcat:contactPoint is required and missing",
        "dataset BeePopulation: dct:accessRights is required and missing",
        "dataset BeePopulation: healthdcatap:numberOfRecords (the number of studies)"
        " is required and missing",
        "dataset BeePopulation: healthdcatap:numberOfUniqueIndividuals (the number of subjects)"
        " is required and missing",
    ]
    assert {f.path for f in verdict.violations} == {
        "dcat:contactPoint",
        "dct:accessRights",
        "healthdcatap:numberOfRecords",
        "healthdcatap:numberOfUniqueIndividuals",
    }


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        (
            {"contact": None},
            "dcat:contactPoint",
            "dataset ds-17: dcat:contactPoint is required and missing",
        ),
        (
            {"publisher": None},
            "dct:publisher",
            "dataset ds-17: dct:publisher is required and missing",
        ),
        (
            {"access": None},
            "dct:accessRights",
            "dataset ds-17: dct:accessRights is required and missing",
        ),
        (
            {"access": "dct:accessRights <https://node.example/rights/open>"},
            "dct:accessRights",
            "dataset ds-17: dct:accessRights must be PUBLIC, RESTRICTED or NON_PUBLIC from the EU"
            " access-right vocabulary, not <https://node.example/rights/open>",
        ),
        (
            {"subjects": None},
            "healthdcatap:numberOfUniqueIndividuals",
            "dataset ds-17: healthdcatap:numberOfUniqueIndividuals (the number of subjects)"
            " is required and missing",
        ),
        (
            {"subjects": 'healthdcatap:numberOfUniqueIndividuals "about 200"'},
            "healthdcatap:numberOfUniqueIndividuals",
            "dataset ds-17: healthdcatap:numberOfUniqueIndividuals (the number of subjects)"
            ' must be a non-negative integer, not "about 200"',
        ),
        (
            {"subjects": 'healthdcatap:numberOfUniqueIndividuals "-3"^^xsd:integer'},
            "healthdcatap:numberOfUniqueIndividuals",
            "dataset ds-17: healthdcatap:numberOfUniqueIndividuals (the number of subjects)"
            " must be a non-negative integer, not -3",
        ),
        (
            {"studies": None},
            "healthdcatap:numberOfRecords",
            "dataset ds-17: healthdcatap:numberOfRecords (the number of studies)"
            " is required and missing",
        ),
        (
            {"studies": 'healthdcatap:numberOfRecords "233.5"^^xsd:decimal'},
            "healthdcatap:numberOfRecords",
            "dataset ds-17: healthdcatap:numberOfRecords (the number of studies)"
            ' must be a non-negative integer, not "233.5"',
        ),
        (
            {"description": None},
            "dct:description",
            "dataset ds-17: dct:description is required and missing",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) and " " not in v else None,
)
def test_a_dataset_breaking_a_rule_is_rejected_with_one_plain_reason(changes, path, message):
    report = validate(record(dataset(**changes)))

    [verdict] = report.rejected
    assert messages(verdict) == [message]
    [finding] = verdict.violations
    assert finding.path == path
    assert finding.severity == "violation"
    assert finding.dataset == "https://node.example/ds-17"


def test_an_inconsistent_age_range_is_rejected_naming_both_ages():
    graph = record(
        dataset(
            min_age='healthdcatap:minTypicalAge "90"^^xsd:nonNegativeInteger',
            max_age='healthdcatap:maxTypicalAge "20"^^xsd:nonNegativeInteger',
        )
    )

    [verdict] = validate(graph).rejected

    assert messages(verdict) == [
        "dataset ds-17: the minimum typical age (90) is greater than the maximum (20)"
    ]
    assert verdict.violations[0].path == "healthdcatap:minTypicalAge"


def test_an_equal_age_range_is_accepted():
    graph = record(
        dataset(
            min_age='healthdcatap:minTypicalAge "40"^^xsd:nonNegativeInteger',
            max_age='healthdcatap:maxTypicalAge "40"^^xsd:nonNegativeInteger',
        )
    )

    assert validate(graph).rejected == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"modality": None},
            "dataset ds-17: agora:imagingModality (the imaging modality, a DICOM code such as"
            " DCM:CT) is recommended and missing",
        ),
        (
            {"modality": 'agora:imagingModality "CT"'},
            "dataset ds-17: agora:imagingModality should be a DICOM modality code (DCM:CT,"
            ' DCM:MR ...), not "CT"',
        ),
        (
            {"body_part": None},
            "dataset ds-17: agora:bodyPart (the body part examined, a DICOM code such as CHEST)"
            " is recommended and missing",
        ),
        (
            {"diagnosis": 'dct:subject "liver metastases"'},
            "dataset ds-17: dct:subject (the diagnosis, an ICD-10 code) is recommended and missing",
        ),
        (
            {"data_use": None},
            "dataset ds-17: agora:dataUseCondition (the data-use terms, DUO) is recommended"
            " and missing",
        ),
    ],
)
def test_a_missing_recommended_term_is_a_warning_and_the_dataset_is_accepted(changes, message):
    [verdict] = validate(record(dataset(**changes))).verdicts

    assert verdict.accepted
    assert verdict.violations == []
    assert messages(verdict, "warnings") == [message]


def test_each_dataset_gets_its_own_verdict_and_a_bad_one_rejects_no_other():
    graph = record(
        dataset("good-1"),
        dataset("bad", contact=None, access="dct:accessRights ar:SOMETIMES"),
        dataset("good-2", body_part=None),
    )

    report = validate(graph)

    assert [v.identifier for v in report.accepted] == ["good-1", "good-2"]
    [bad] = report.rejected
    assert messages(bad) == [
        "dataset bad: dcat:contactPoint is required and missing",
        "dataset bad: dct:accessRights must be PUBLIC, RESTRICTED or NON_PUBLIC from the EU"
        " access-right vocabulary, not access-right:SOMETIMES",
    ]
    assert report.by_iri["https://node.example/good-1"].warnings == []
    assert [f.path for f in report.by_iri["https://node.example/good-2"].warnings] == [
        "agora:bodyPart"
    ]


def test_a_problem_on_a_linked_node_belongs_to_the_dataset_that_links_to_it():
    # A distribution without dcat:accessURL breaks DCAT-AP; the dataset is rejected for it.
    graph = record(
        dataset("with-dist", identifier='dct:identifier "with-dist" ; dcat:distribution ex:d1'),
        dataset("other"),
        'ex:d1 a dcat:Distribution ; dct:title "files"@en .\n',
    )

    report = validate(graph)

    verdict = report.by_iri["https://node.example/with-dist"]
    assert messages(verdict) == [
        "dataset with-dist: dcat:accessURL of the dcat:Distribution <https://node.example/d1>"
        " is required and missing"
    ]
    assert report.by_iri["https://node.example/other"].accepted


def test_a_problem_of_the_catalogue_alone_rejects_no_dataset():
    # DCAT-AP requires a catalogue title, description and publisher; this one has none.
    graph = record(dataset(), "ex:catalog a dcat:Catalog ; dcat:dataset ex:ds-17 .\n")

    report = validate(graph)

    [verdict] = report.verdicts
    assert verdict.accepted
    assert "catalogue catalog: dct:title is required and missing" in [
        f.message for f in report.catalogue_findings
    ]
    assert all(f.dataset == "https://node.example/catalog" for f in report.catalogue_findings)


def test_a_shared_publisher_with_a_problem_rejects_every_dataset_it_publishes():
    graph = Graph().parse(
        data=PREFIXES + "ex:org a foaf:Agent .\n" + dataset("one") + dataset("two"),
        format="turtle",
    )

    report = validate(graph)

    assert [messages(v) for v in report.rejected] == [
        [
            "dataset one: foaf:name of the foaf:Agent <https://node.example/org> is required"
            " and missing"
        ],
        [
            "dataset two: foaf:name of the foaf:Agent <https://node.example/org> is required"
            " and missing"
        ],
    ]


def test_the_full_dcat_ap_shapes_also_check_the_class_of_linked_things():
    graph = record(dataset(publisher="dct:publisher ex:unknown-org"))

    assert validate(graph).rejected == []
    [verdict] = validate(graph, full=True).rejected
    assert (
        "dataset ds-17: dct:publisher must be a foaf:Agent (<https://node.example/unknown-org>"
        " is not declared as one)"
    ) in messages(verdict)
