"""A harvested page, split into records and read into catalogue fields.

Plain Python on rdflib (no Django): the benchmark and the node adapter's self-check use
it too. Input graphs are already normalised (hyperontology.normalise), so modalities are
DCM: IRIs, diagnoses ICD10: IRIs, access rights EU IRIs and counts integers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from rdflib import RDF, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF
from rdflib.term import Node

from hyperontology.normalise import description_lines, description_triples
from hyperontology.terms import (
    ACCESS_RIGHT,
    BODY_PART,
    DATA_USE,
    DCM,
    HEALTH,
    ICD10,
    IMAGING_MODALITY,
    OBO,
    SEX,
)

VCARD = URIRef("http://www.w3.org/2006/vcard/ns#")
VCARD_FN = URIRef(f"{VCARD}fn")
VCARD_EMAIL = URIRef(f"{VCARD}hasEmail")
# Nodes a record's description never reaches into: they are described on their own.
_OWN_RECORDS = (DCAT.Dataset, DCAT.Catalog, DCAT.CatalogRecord, URIRef(f"{DCAT}DatasetSeries"))
SEXES = ("female", "male", "other", "unknown")
ACCESS_RIGHTS = {"PUBLIC", "RESTRICTED", "NON_PUBLIC"}


@dataclass
class Record:
    iri: str
    identifier: str
    # The dataset's description: its triples and those of every node it reaches (not other
    # datasets), as triples and as canonical N-Triples lines (what is stored and hashed).
    triples: list[tuple[Node, Node, Node]]
    lines: list[str]
    content_hash: str

    @property
    def ntriples(self) -> str:
        return "".join(f"{line} .\n" for line in self.lines)

    def graph(self) -> Graph:
        description = Graph()
        for triple in self.triples:
            description.add(triple)
        return description


def split(graph: Graph) -> Iterator[Record]:
    """One Record per dcat:Dataset of `graph`, in a stable order."""
    stop = {s for cls in _OWN_RECORDS for s in graph.subjects(RDF.type, cls)}
    for dataset in sorted(set(graph.subjects(RDF.type, DCAT.Dataset)), key=str):
        if not isinstance(dataset, URIRef):
            continue  # a record without an IRI cannot be followed from one run to the next
        triples = list(description_triples(graph, dataset, follow_iris=True, stop=stop))
        lines = description_lines(triples)
        yield Record(
            iri=str(dataset),
            identifier=_identifier(graph, dataset),
            triples=triples,
            lines=lines,
            content_hash=hashlib.sha3_256("\n".join(lines).encode()).hexdigest(),
        )


def fields(graph: Graph, iri: str) -> dict[str, Any]:
    """The catalogue fields of a normalised, accepted record of `graph`."""
    g, ds = graph, URIRef(iri)
    modalities = [
        _last_segment(m) for m in g.objects(ds, IMAGING_MODALITY) if str(m).startswith(str(DCM))
    ]
    diagnoses = [
        str(s)[len(str(ICD10)) :]
        for s in g.objects(ds, DCTERMS.subject)
        if str(s).startswith(str(ICD10))
    ]
    duo = [
        "DUO:" + str(t)[len(str(OBO)) + 4 :]
        for t in (*g.objects(ds, DATA_USE), *g.objects(ds, DCTERMS.rights))
        if str(t).startswith(str(OBO.DUO_))
    ]
    access = next(
        (str(a)[len(str(ACCESS_RIGHT)) :] for a in g.objects(ds, DCTERMS.accessRights)), ""
    )
    contact_name, contact_email = _contact(g, ds)
    out: dict[str, Any] = {
        "identifier": _identifier(g, ds)[:255],
        "title": _text(g, ds, DCTERMS.title)[:500],
        "description": _text(g, ds, DCTERMS.description),
        "keywords": sorted({str(k).strip() for k in g.objects(ds, DCAT.keyword) if str(k).strip()}),
        "number_of_subjects": _count(g, ds, HEALTH.numberOfUniqueIndividuals) or 0,
        "number_of_studies": _count(g, ds, HEALTH.numberOfRecords) or 0,
        "modalities": sorted(set(modalities)),
        "body_parts": sorted({str(b).upper() for b in g.objects(ds, BODY_PART)}),
        "diagnoses": sorted(set(diagnoses)),
        # A record says which sexes are present, not how many of each: counts unknown.
        "sex_counts": {str(s): None for s in sorted(set(g.objects(ds, SEX))) if str(s) in SEXES},
        "age_min": _count(g, ds, HEALTH.minTypicalAge),
        "age_max": _count(g, ds, HEALTH.maxTypicalAge),
        "duo_terms": sorted(set(duo)),
        "license": _license(g, ds),
        "contact_name": contact_name[:200],
        "contact_email": contact_email,
    }
    if access in ACCESS_RIGHTS:
        out["access_rights"] = access
    return out


# -- internals ----------------------------------------------------------------------------


def _identifier(graph: Graph, node: Node) -> str:
    value = graph.value(node, DCTERMS.identifier)
    if value is not None and str(value).strip():
        return str(value).strip()
    return _last_segment(node)


def _last_segment(node: Node) -> str:
    text = str(node).rstrip("/#")
    return text.rsplit("#", 1)[-1].rsplit("/", 1)[-1] or text


def _text(g: Graph, subject: Node, prop: URIRef) -> str:
    values = [v for v in g.objects(subject, prop) if isinstance(v, Literal)]
    if not values:
        return ""
    for lang in ("en", None):
        for value in values:
            if value.language == lang:
                return str(value).strip()
    return str(sorted(values)[0]).strip()


def _count(g: Graph, subject: Node, prop: URIRef) -> int | None:
    for value in g.objects(subject, prop):
        try:
            number = int(value.toPython()) if isinstance(value, Literal) else None
        except (TypeError, ValueError):
            number = None
        if number is not None and 0 <= number < 2**31:
            return number
    return None


def _license(g: Graph, ds: Node) -> str:
    candidates = [*g.objects(ds, DCTERMS.license)]
    for distribution in g.objects(ds, DCAT.distribution):
        candidates += g.objects(distribution, DCTERMS.license)
    for value in candidates:
        if isinstance(value, URIRef) and str(value).startswith(("http://", "https://")):
            return str(value)[:500]
    return ""


def _contact(g: Graph, ds: Node) -> tuple[str, str]:
    for contact in g.objects(ds, DCAT.contactPoint):
        name = _text(g, contact, VCARD_FN) or _text(g, contact, FOAF.name)
        email = ""
        for value in g.objects(contact, VCARD_EMAIL):
            text = str(value).strip()
            text = text[len("mailto:") :] if text.lower().startswith("mailto:") else text
            if "@" in text and " " not in text:
                email = text[:254]
                break
        return name, email
    return "", ""
