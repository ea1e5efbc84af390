"""The MIABIS core v3 Collection <-> DCAT crosswalk.

    graph = miabis_to_dcat(collections)     # one dcat:Dataset per collection
    collections = dcat_to_miabis(graph)     # back, in the JSON form the node adapter emits

The JSON form is documented in the README (Common model): MIABIS core attribute names in
lowerCamelCase plus the hub's imaging additions (imagingModality, imagingBodyPart,
numberOfStudies, accessRights).

| MIABIS key              | DCAT / HealthDCAT-AP / hub term                                      |
|-------------------------|----------------------------------------------------------------------|
| id                      | dct:identifier (and the dataset IRI: base + id)                      |
| name, description       | dct:title, dct:description                                           |
| acronym                 | dct:alternative                                                      |
| biobank, juristicPerson | dct:publisher (foaf:Agent: dct:identifier biobank, foaf:name)        |
| contact                 | dcat:contactPoint (vcard: fn, given-name, family-name, hasEmail, role)|
| sex                     | agora:sex ("female", "male", "other", "unknown")                     |
| ageLow, ageHigh, ageUnit| healthdcatap:minTypicalAge / maxTypicalAge, in years                 |
| diseases                | dct:subject ICD10: IRIs (urn:miriam:icd:C78.7)                       |
| useAndAccessConditions  | agora:dataUseCondition DUO IRIs                                      |
| numberOfSubjects        | healthdcatap:numberOfUniqueIndividuals                               |
| numberOfStudies         | healthdcatap:numberOfRecords                                         |
| imagingModality         | agora:imagingModality DCM: IRIs                                      |
| imagingBodyPart         | agora:bodyPart                                                       |
| accessRights            | dct:accessRights EU access-right IRI                                 |

Not crosswalked: datasetType (DCAT-AP's dct:type wants a controlled vocabulary the hub
does not have yet), country, status and other MIABIS attributes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from rdflib import RDF, XSD, BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, Namespace
from rdflib.term import Node

from .mappings import Mappings
from .normalise import access_right_iri, icd10_iri
from .terms import ACCESS_RIGHT, AGORA, BODY_PART, DATA_USE, DCM, HEALTH, ICD10, OBO, SEX

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")

# MIABIS use-and-access conditions -> DUO; the first name of each term is the one written back.
USE_CONDITIONS: dict[str, str] = {
    "GENERAL_RESEARCH_USE": "DUO_0000042",
    "NO_RESTRICTION": "DUO_0000004",
    "HEALTH_MEDICAL_BIOMEDICAL_RESEARCH": "DUO_0000006",
    "SPECIFIC_RESEARCH_USE": "DUO_0000007",
    "DISEASE_SPECIFIC": "DUO_0000007",
    "DISEASE_SPECIFIC_RESEARCH": "DUO_0000007",
    "POPULATION_ORIGINS_ANCESTRY_RESEARCH": "DUO_0000011",
    "RESEARCH_SPECIFIC_RESTRICTIONS": "DUO_0000012",
    "NO_GENERAL_METHODS_RESEARCH": "DUO_0000015",
    "GENETIC_STUDIES_ONLY": "DUO_0000016",
    "NOT_FOR_PROFIT_NON_COMMERCIAL_USE": "DUO_0000018",
    "PUBLICATION_REQUIRED": "DUO_0000019",
    "COLLABORATION_REQUIRED": "DUO_0000020",
    "ETHICS_APPROVAL_REQUIRED": "DUO_0000021",
    "GEOGRAPHICAL_RESTRICTION": "DUO_0000022",
    "PUBLICATION_MORATORIUM": "DUO_0000024",
    "TIME_LIMIT_ON_USE": "DUO_0000025",
    "USER_SPECIFIC_RESTRICTION": "DUO_0000026",
    "PROJECT_SPECIFIC_RESTRICTION": "DUO_0000027",
    "INSTITUTION_SPECIFIC_RESTRICTION": "DUO_0000028",
    "RETURN_TO_DATABASE": "DUO_0000029",
    "CLINICAL_CARE_USE": "DUO_0000043",
    "NO_POPULATION_ORIGINS_ANCESTRY_RESEARCH": "DUO_0000044",
    "NOT_FOR_PROFIT_USE_ONLY": "DUO_0000045",
    "NO_COMMERCIAL_USE": "DUO_0000046",
}
_CONDITION_OF_DUO: dict[str, str] = {}
for _name, _duo in USE_CONDITIONS.items():
    _CONDITION_OF_DUO.setdefault(_duo, _name)

SEX_TO_HUB = {
    "FEMALE": "female",
    "MALE": "male",
    "UNDIFFERENTIAL": "other",
    "UNDIFFERENTIATED": "other",
    "OTHER": "other",
    "UNKNOWN": "unknown",
    "NAV": "unknown",
}
SEX_TO_MIABIS = {
    "female": "FEMALE",
    "male": "MALE",
    "other": "UNDIFFERENTIAL",
    "unknown": "UNKNOWN",
}

# Years per age unit; low ages are rounded down, high ages up, so the range still covers all.
AGE_UNITS = {"YEAR": 1.0, "MONTH": 12.0, "WEEK": 365.25 / 7, "DAY": 365.25}

_ORPHA_IRI = "http://www.orpha.net/ORDO/Orphanet_"
_ORPHA = re.compile(r"^(?:urn:miriam:orphanet:|ORPHA:)([0-9]+)$", re.IGNORECASE)


def miabis_to_dcat(
    collections: list[dict] | dict,
    *,
    base: str = "urn:miabis:",
    mappings: Mappings | None = None,
) -> Graph:
    """One dcat:Dataset per MIABIS collection. Bad input raises ValueError naming the
    collection id and the key."""
    mappings = mappings or Mappings.default()
    if isinstance(collections, Mapping):
        collections = [collections]
    if not isinstance(collections, list):
        raise ValueError("MIABIS: expected a collection object or a list of them")
    g = Graph()
    g.bind("dcat", DCAT)
    g.bind("dct", DCTERMS)
    g.bind("foaf", FOAF)
    g.bind("vcard", VCARD)
    g.bind("agora", AGORA)
    g.bind("dcm", DCM)
    g.bind("icd10", ICD10)
    g.bind("obo", OBO)
    g.bind("healthdcatap", HEALTH)
    for position, collection in enumerate(collections):
        _add_collection(g, collection, position, base, mappings)
    # Collections of one biobank share its publisher node: a juristic person named by any
    # of them is the publisher's name, not the biobank id used when none is named.
    for publisher in set(g.subjects(RDF.type, FOAF.Agent)):
        names = set(g.objects(publisher, FOAF.name))
        identifier = g.value(publisher, DCTERMS.identifier)
        if len(names) > 1 and identifier in names:
            g.remove((publisher, FOAF.name, identifier))
    return g


def dcat_to_miabis(graph: Graph, dataset_iri: Node | str | None = None) -> list[dict]:
    """MIABIS collections for the datasets of `graph` (or only `dataset_iri`), by identifier."""
    if dataset_iri is not None:
        datasets = [URIRef(dataset_iri) if isinstance(dataset_iri, str) else dataset_iri]
    else:
        datasets = sorted(set(graph.subjects(RDF.type, DCAT.Dataset)), key=lambda n: n.n3())
    return [_collection(graph, d) for d in datasets]


# -- MIABIS -> DCAT -----------------------------------------------------------------------


class _Reader:
    """Typed access to one collection's keys; errors name the collection and the key."""

    def __init__(self, collection: Mapping[str, Any], label: str) -> None:
        self.c = collection
        self.label = label

    def error(self, key: str, problem: str) -> ValueError:
        return ValueError(f"MIABIS collection {self.label}: {key!r} {problem}")

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.c.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.error(key, "is required and missing")
            return None
        if not isinstance(value, str):
            raise self.error(key, f"must be text, not {type(value).__name__}")
        return value.strip()

    def texts(self, key: str) -> list[str]:
        value = self.c.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(key, "must be a list of text values")
        return [v.strip() for v in value]

    def count(self, key: str) -> int | None:
        value = self.c.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {type(value).__name__}")
        if value < 0:
            raise self.error(key, "must not be negative")
        return value


def _add_collection(
    g: Graph, collection: Any, position: int, base: str, mappings: Mappings
) -> None:
    if not isinstance(collection, Mapping):
        raise ValueError(f"MIABIS collection #{position + 1}: must be an object")
    raw_id = collection.get("id")
    label = raw_id if isinstance(raw_id, str) and raw_id.strip() else f"#{position + 1}"
    r = _Reader(collection, label)
    identifier = r.text("id", required=True)
    name = r.text("name", required=True)

    ds = URIRef(base + quote(identifier, safe=":/@!$&'()*+,;=-._~"))
    g.add((ds, RDF.type, DCAT.Dataset))
    g.add((ds, DCTERMS.identifier, Literal(identifier)))
    g.add((ds, DCTERMS.title, Literal(name)))
    if description := r.text("description"):
        g.add((ds, DCTERMS.description, Literal(description)))
    if acronym := r.text("acronym"):
        g.add((ds, DCTERMS.alternative, Literal(acronym)))

    _add_publisher(g, ds, r, base)
    _add_contact(g, ds, r)

    for value in r.texts("sex"):
        sex = SEX_TO_HUB.get(value.upper()) or mappings.sex(value)
        if sex is None:
            raise r.error("sex", f"has an unknown value {value!r}")
        g.add((ds, SEX, Literal(sex)))

    _add_ages(g, ds, r)

    for value in r.texts("diseases"):
        iri = icd10_iri(value)
        if iri is None and (orpha := _ORPHA.match(value)):
            iri = URIRef(_ORPHA_IRI + orpha.group(1))
        if iri is None:
            raise r.error("diseases", f"has {value!r}, not an ICD-10 or ORPHA code")
        g.add((ds, DCTERMS.subject, iri))

    for value in r.texts("imagingModality"):
        codes = mappings.modalities(value)
        if not codes:
            raise r.error("imagingModality", f"has an unknown modality {value!r}")
        for code in sorted(codes):
            g.add((ds, AGORA.imagingModality, DCM[code]))

    for value in r.texts("imagingBodyPart"):
        codes = mappings.body_parts(value)
        if not codes:
            raise r.error("imagingBodyPart", f"has an unknown body part {value!r}")
        for code in sorted(codes):
            g.add((ds, BODY_PART, Literal(code)))

    for value in r.texts("useAndAccessConditions"):
        duo = _duo_of(value)
        if duo is None:
            raise r.error("useAndAccessConditions", f"has an unknown condition {value!r}")
        g.add((ds, DATA_USE, OBO[duo]))

    for key, prop in (
        ("numberOfSubjects", HEALTH.numberOfUniqueIndividuals),
        ("numberOfStudies", HEALTH.numberOfRecords),
    ):
        value = r.count(key)
        if value is not None:
            if value != int(value):
                raise r.error(key, "must be a whole number")
            g.add((ds, prop, Literal(int(value), datatype=XSD.nonNegativeInteger)))

    if access := r.text("accessRights"):
        iri = access_right_iri(access)
        if iri is None:
            raise r.error("accessRights", f"has {access!r}, not PUBLIC, RESTRICTED or NON_PUBLIC")
        g.add((ds, DCTERMS.accessRights, iri))


def _add_publisher(g: Graph, ds: URIRef, r: _Reader, base: str) -> None:
    biobank = r.text("biobank")
    juristic_person = r.text("juristicPerson")
    if not biobank and not juristic_person:
        return
    if biobank:
        publisher: Node = URIRef(base + quote(biobank, safe=":/@!$&'()*+,;=-._~"))
        g.add((publisher, DCTERMS.identifier, Literal(biobank)))
    else:
        publisher = BNode()
    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, FOAF.name, Literal(juristic_person or biobank)))
    g.add((ds, DCTERMS.publisher, publisher))


def _add_contact(g: Graph, ds: URIRef, r: _Reader) -> None:
    contact = r.c.get("contact")
    if contact is None:
        return
    if not isinstance(contact, Mapping):
        raise r.error("contact", "must be an object with firstName, lastName, email, role")
    for key in ("firstName", "lastName", "email", "role"):
        if contact.get(key) is not None and not isinstance(contact[key], str):
            raise r.error("contact", f"{key} must be text")
    first, last = contact.get("firstName"), contact.get("lastName")
    email, role = contact.get("email"), contact.get("role")
    if not email:
        raise r.error("contact", "needs an email")
    node = BNode()
    full_name = " ".join(p for p in (first, last) if p)
    g.add((node, RDF.type, VCARD.Individual if full_name else VCARD.Kind))
    g.add((node, VCARD.fn, Literal(full_name or role or email)))
    g.add((node, VCARD.hasEmail, URIRef("mailto:" + email.strip())))
    if first:
        g.add((node, VCARD["given-name"], Literal(first)))
    if last:
        g.add((node, VCARD["family-name"], Literal(last)))
    if role:
        g.add((node, VCARD.role, Literal(role)))
    g.add((ds, DCAT.contactPoint, node))


def _add_ages(g: Graph, ds: URIRef, r: _Reader) -> None:
    low, high = r.count("ageLow"), r.count("ageHigh")
    if low is None and high is None:
        return
    unit = (r.text("ageUnit") or "YEAR").upper()
    if unit.endswith("S"):
        unit = unit[:-1]
    if unit not in AGE_UNITS:
        raise r.error("ageUnit", f"must be one of {', '.join(AGE_UNITS)}, not {unit!r}")
    per_year = AGE_UNITS[unit]
    if low is not None:
        years = math.floor(low / per_year + 1e-9)
        g.add((ds, HEALTH.minTypicalAge, Literal(years, datatype=XSD.nonNegativeInteger)))
    if high is not None:
        years = math.ceil(high / per_year - 1e-9)
        g.add((ds, HEALTH.maxTypicalAge, Literal(years, datatype=XSD.nonNegativeInteger)))


def _duo_of(value: str) -> str | None:
    name = re.sub(r"[^A-Z0-9]+", "_", value.upper()).strip("_")
    if name in USE_CONDITIONS:
        return USE_CONDITIONS[name]
    match = re.fullmatch(r"(?:DUO[:_])?([0-9]{7})", value.strip(), re.IGNORECASE)
    if match and f"DUO_{match.group(1)}" in _CONDITION_OF_DUO:
        return f"DUO_{match.group(1)}"
    return None


# -- DCAT -> MIABIS -----------------------------------------------------------------------


def _collection(g: Graph, ds: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    identifier = _first(g, ds, DCTERMS.identifier)
    out["id"] = str(identifier) if identifier is not None else unquote(str(ds))
    _put(out, "name", _first(g, ds, DCTERMS.title))
    _put(out, "acronym", _first(g, ds, DCTERMS.alternative))
    _put(out, "description", _first(g, ds, DCTERMS.description))

    publisher = _first(g, ds, DCTERMS.publisher)
    if publisher is not None:
        biobank = _first(g, publisher, DCTERMS.identifier)
        name = _first(g, publisher, FOAF.name)
        _put(out, "biobank", biobank)
        if name is not None and (biobank is None or str(name) != str(biobank)):
            out["juristicPerson"] = str(name)

    sexes = [SEX_TO_MIABIS.get(str(v), str(v).upper()) for v in g.objects(ds, SEX)]
    _put_list(out, "sex", sexes)

    low = _first(g, ds, HEALTH.minTypicalAge)
    high = _first(g, ds, HEALTH.maxTypicalAge)
    if low is not None:
        out["ageLow"] = int(low)
    if high is not None:
        out["ageHigh"] = int(high)
    if low is not None or high is not None:
        out["ageUnit"] = "YEAR"

    diseases = []
    for subject in g.objects(ds, DCTERMS.subject):
        text = str(subject)
        if text.startswith(str(ICD10)):
            diseases.append("urn:miriam:icd:" + text[len(str(ICD10)) :])
        elif text.startswith(_ORPHA_IRI):
            diseases.append("urn:miriam:orphanet:" + text[len(_ORPHA_IRI) :])
    _put_list(out, "diseases", diseases)

    modalities = [
        str(v)[len(str(DCM)) :]
        for v in g.objects(ds, AGORA.imagingModality)
        if str(v).startswith(str(DCM))
    ]
    _put_list(out, "imagingModality", modalities)
    _put_list(out, "imagingBodyPart", [str(v) for v in g.objects(ds, BODY_PART)])

    conditions = []
    for term in g.objects(ds, DATA_USE):
        text = str(term)
        duo = text[len(str(OBO)) :] if text.startswith(str(OBO)) else None
        if duo in _CONDITION_OF_DUO:
            conditions.append(_CONDITION_OF_DUO[duo])
    _put_list(out, "useAndAccessConditions", conditions)

    subjects = _first(g, ds, HEALTH.numberOfUniqueIndividuals)
    studies = _first(g, ds, HEALTH.numberOfRecords)
    if subjects is not None:
        out["numberOfSubjects"] = int(subjects)
    if studies is not None:
        out["numberOfStudies"] = int(studies)

    contact = _first(g, ds, DCAT.contactPoint)
    if contact is not None:
        _put_contact(g, contact, out)

    access = _first(g, ds, DCTERMS.accessRights)
    if access is not None and str(access).startswith(str(ACCESS_RIGHT)):
        out["accessRights"] = str(access)[len(str(ACCESS_RIGHT)) :]
    return out


def _put_contact(g: Graph, contact: Node, out: dict[str, Any]) -> None:
    result: dict[str, str] = {}
    given = _first(g, contact, VCARD["given-name"])
    family = _first(g, contact, VCARD["family-name"])
    if given is None and family is None:
        # A contact from another DCAT source has only vcard:fn: split it as a person's name.
        fn = _first(g, contact, VCARD.fn)
        if fn is not None and (_first(g, contact, RDF.type) == VCARD.Individual):
            given, _, family = str(fn).partition(" ")
    if given:
        result["firstName"] = str(given)
    if family:
        result["lastName"] = str(family)
    email = _first(g, contact, VCARD.hasEmail)
    if email is not None:
        result["email"] = str(email).removeprefix("mailto:")
    role = _first(g, contact, VCARD.role)
    if role is not None:
        result["role"] = str(role)
    if result:
        out["contact"] = result


def _first(g: Graph, subject: Node, prop: URIRef) -> Node | None:
    values = sorted(g.objects(subject, prop), key=lambda n: n.n3())
    return values[0] if values else None


def _put(out: dict[str, Any], key: str, value: Node | None) -> None:
    if value is not None:
        out[key] = str(value)


def _put_list(out: dict[str, Any], key: str, values: list[str]) -> None:
    if values:
        out[key] = sorted(set(values))
