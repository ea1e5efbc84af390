import copy
import csv
import json
from pathlib import Path

import pytest
from rdflib import RDF, XSD, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF

from hyperontology.miabis import USE_CONDITIONS, dcat_to_miabis, miabis_to_dcat
from hyperontology.terms import ACCESS_RIGHT, AGORA, DCM, HEALTH, ICD10, OBO

DATA = Path(__file__).parent / "data"
DUO_CSV = Path(__file__).resolve().parents[1] / "vocabularies" / "duo.csv"
CRLM = URIRef("urn:miabis:bbmri-eric:ID:XX_hospital-x:collection:ct-colorectal-liver-mets")
CROSSWALKED = [
    "id",
    "name",
    "acronym",
    "description",
    "biobank",
    "juristicPerson",
    "sex",
    "ageLow",
    "ageHigh",
    "ageUnit",
    "diseases",
    "imagingModality",
    "imagingBodyPart",
    "useAndAccessConditions",
    "numberOfSubjects",
    "numberOfStudies",
    "contact",
    "accessRights",
]


@pytest.fixture
def collections():
    return json.loads((DATA / "miabis-collections.json").read_text())


def test_each_collection_becomes_a_dataset(collections):
    g = miabis_to_dcat(collections)
    assert set(g.subjects(RDF.type, DCAT.Dataset)) == {
        CRLM,
        URIRef("urn:miabis:bbmri-eric:ID:XX_hospital-x:collection:pet-lymphoma"),
    }
    nni = XSD.nonNegativeInteger
    assert g.value(CRLM, DCTERMS.identifier) == Literal(collections[0]["id"])
    assert g.value(CRLM, DCTERMS.title) == Literal("Colorectal liver metastases CT collection")
    assert set(g.objects(CRLM, AGORA.imagingModality)) == {DCM.CT}
    assert set(g.objects(CRLM, AGORA.bodyPart)) == {Literal("ABDOMEN"), Literal("LIVER")}
    assert set(g.objects(CRLM, AGORA.sex)) == {Literal("female"), Literal("male")}
    assert set(g.objects(CRLM, DCTERMS.subject)) == {ICD10["C78.7"], ICD10.C18}
    assert set(g.objects(CRLM, AGORA.dataUseCondition)) == {
        OBO.DUO_0000007,
        OBO.DUO_0000046,
        OBO.DUO_0000021,
    }
    assert g.value(CRLM, HEALTH.numberOfUniqueIndividuals) == Literal(197, datatype=nni)
    assert g.value(CRLM, HEALTH.numberOfRecords) == Literal(233, datatype=nni)
    assert g.value(CRLM, HEALTH.minTypicalAge) == Literal(34, datatype=nni)
    assert g.value(CRLM, HEALTH.maxTypicalAge) == Literal(86, datatype=nni)
    assert g.value(CRLM, DCTERMS.accessRights) == ACCESS_RIGHT.RESTRICTED
    publisher = g.value(CRLM, DCTERMS.publisher)
    assert set(g.objects(publisher, FOAF.name)) == {Literal("Hospital X Foundation")}
    contact = g.value(CRLM, DCAT.contactPoint)
    vcard = "http://www.w3.org/2006/vcard/ns#"
    assert g.value(contact, URIRef(vcard + "fn")) == Literal("Data Steward")
    assert g.value(contact, URIRef(vcard + "hasEmail")) == URIRef(
        "mailto:imaging-data@hospital-x.example"
    )


def test_round_trip_gives_back_every_crosswalked_value(collections):
    back = {c["id"]: c for c in dcat_to_miabis(miabis_to_dcat(collections))}
    for original in collections:
        returned = back[original["id"]]
        for key in CROSSWALKED:
            if key not in original:
                continue
            expected, got = original[key], returned.get(key)
            if isinstance(expected, list):
                assert sorted(got) == sorted(expected), key
            else:
                assert got == expected, key


def test_one_dataset_can_be_asked_for(collections):
    (only,) = dcat_to_miabis(miabis_to_dcat(collections), CRLM)
    assert only["acronym"] == "CRLM-CT"


def test_a_single_collection_object_is_accepted(collections):
    assert len(set(miabis_to_dcat(collections[1]).subjects(RDF.type, DCAT.Dataset))) == 1


def test_ages_in_months_are_converted_to_years_covering_the_range(collections):
    c = dict(collections[0], ageLow=18, ageHigh=30, ageUnit="MONTH")
    g = miabis_to_dcat(c)
    assert int(g.value(CRLM, HEALTH.minTypicalAge)) == 1
    assert int(g.value(CRLM, HEALTH.maxTypicalAge)) == 3
    c = dict(collections[0], ageLow=0, ageHigh=400, ageUnit="DAY")
    g = miabis_to_dcat(c)
    assert (int(g.value(CRLM, HEALTH.minTypicalAge)), int(g.value(CRLM, HEALTH.maxTypicalAge))) == (
        0,
        2,
    )


def test_duo_terms_exist_in_duo():
    with DUO_CSV.open(encoding="utf-8") as f:
        known = {row["id"].replace(":", "_") for row in csv.DictReader(f)}
    assert set(USE_CONDITIONS.values()) <= known


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": None}, r"collection #1: 'id' is required"),
        ({"name": ""}, r"ct-colorectal-liver-mets: 'name' is required"),
        ({"name": 3}, r"ct-colorectal-liver-mets: 'name' must be text"),
        ({"sex": "FEMALE"}, r"'sex' must be a list"),
        ({"sex": ["ALIEN"]}, r"'sex' has an unknown value"),
        ({"ageLow": "34"}, r"'ageLow' must be a number"),
        ({"ageUnit": "DECADE"}, r"'ageUnit' must be one of"),
        ({"diseases": ["lung cancer"]}, r"'diseases' has 'lung cancer'"),
        ({"imagingModality": ["holography"]}, r"'imagingModality' has an unknown modality"),
        ({"imagingBodyPart": ["elbowish"]}, r"'imagingBodyPart' has an unknown body part"),
        ({"useAndAccessConditions": ["ANYTHING"]}, r"'useAndAccessConditions' has an unknown"),
        ({"numberOfSubjects": -1}, r"'numberOfSubjects' must not be negative"),
        ({"numberOfStudies": True}, r"'numberOfStudies' must be a number"),
        ({"contact": "someone"}, r"'contact' must be an object"),
        ({"accessRights": "maybe"}, r"'accessRights' has 'maybe'"),
    ],
)
def test_bad_input_names_the_collection_and_the_key(collections, change, message):
    bad = copy.deepcopy(collections)
    bad[0].update(change)
    with pytest.raises(ValueError, match=message):
        miabis_to_dcat(bad)


def test_not_a_collection_is_refused():
    with pytest.raises(ValueError, match="must be an object"):
        miabis_to_dcat(["nope"])
