"""The catalogue as DCAT-AP 3 with HealthDCAT-AP terms, for other hubs and portals to harvest.

Pure graph building: callers pass datasets already filtered for whoever asks
(selectors) and get an rdflib Graph or serialised bytes back. Every node gets an
IRI (hash IRIs under the dataset's own), never a blank node, so the same
datasets always serialise to the same bytes and harvesters can track
distributions and contact points from one harvest to the next.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from django.conf import settings
from django.urls import reverse
from rdflib import Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, FOAF, RDF, SKOS, XSD

from .models import AccessRights, Dataset

ADMS = Namespace("http://www.w3.org/ns/adms#")
# DCAT 3 (rdflib ships DCAT 2, which lacks version, previousVersion and prev).
DCAT = Namespace("http://www.w3.org/ns/dcat#")
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
DCATAP = Namespace("http://data.europa.eu/r5r/")
ELI = Namespace("http://data.europa.eu/eli/ontology#")
HEALTH = Namespace("http://healthdataportal.eu/ns/health#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
ACCESS_RIGHT = Namespace("http://publications.europa.eu/resource/authority/access-right/")
DATA_THEME = Namespace("http://publications.europa.eu/resource/authority/data-theme/")
FILE_TYPE = Namespace("http://publications.europa.eu/resource/authority/file-type/")
ICD10 = Namespace("http://purl.bioontology.org/ontology/ICD10/")
OBO = Namespace("http://purl.obolibrary.org/obo/")

PREFIXES = {
    "dcat": DCAT,
    "dct": DCTERMS,
    "foaf": FOAF,
    "vcard": VCARD,
    "xsd": XSD,
    "skos": SKOS,
    "adms": ADMS,
    "dcatap": DCATAP,
    "healthdcatap": HEALTH,
    "hydra": HYDRA,
}

THEME_HEALTH = DATA_THEME.HEAL
THEME_TAXONOMY = URIRef("http://publications.europa.eu/resource/authority/data-theme")
DICOM_FORMAT = FILE_TYPE.DCM
# The Data Governance Act: the legal frame of re-using protected health data held by
# the providers, as in HealthDCAT-AP (where dcatap:applicableLegislation is mandatory).
DATA_GOVERNANCE_ACT = URIRef("http://data.europa.eu/eli/reg/2022/868/oj")
ACCESS_NOTE = (
    "The data can only be used inside a project sandbox of this hub, after the data "
    "holder's committee has approved an access request; nothing can be downloaded."
)


@dataclass(frozen=True)
class Format:
    key: str  # the ?format= value and the file extension
    media_type: str
    rdflib_name: str


TURTLE = Format("ttl", "text/turtle", "turtle")
RDF_XML = Format("rdf", "application/rdf+xml", "xml")
JSON_LD = Format("jsonld", "application/ld+json", "json-ld")
# In order of preference when the client does not mind.
FORMATS: dict[str, Format] = {f.key: f for f in (TURTLE, RDF_XML, JSON_LD)}


@dataclass(frozen=True)
class Paging:
    """One page of the catalogue; `url(n)` is the absolute address of page n."""

    number: int
    size: int
    total: int
    url: Callable[[int], str]

    @property
    def last(self) -> int:
        return max(1, math.ceil(self.total / self.size))


# Characters XML 1.0 cannot carry; stripped from literals so RDF/XML stays parseable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# An absolute http(s) IRI without characters that Turtle and RDF/XML cannot write unescaped.
_HTTP_IRI = re.compile(r"^https?://[^\s<>\"{}|\\^`]+$")
_ICD10_CODE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")
_DUO_TERM = re.compile(r"^DUO:([0-9]{7})$")


def _text(value) -> Literal | None:
    text = _NOT_XML.sub("", str(value)).strip() if value is not None else ""
    return Literal(text) if text else None


def _http_iri(value: str) -> URIRef | None:
    value = (value or "").strip()
    return URIRef(value) if _HTTP_IRI.match(value) else None


def _count(value: int | None) -> Literal:
    return Literal(int(value), datatype=XSD.nonNegativeInteger)


def _datetime(value: datetime) -> Literal:
    return Literal(value, datatype=XSD.dateTime)


def _site(path: str) -> str:
    return settings.SITE_URL + path


def catalogue_uri() -> URIRef:
    return URIRef(_site(reverse("catalogue:dcat")))


def dataset_uri(dataset: Dataset) -> URIRef:
    return URIRef(_site(dataset.get_absolute_url()))


def _dataset_uri_from_pk(pk) -> URIRef:
    return URIRef(_site(reverse("catalogue:dataset", args=[pk])))


def organisation_uri(organisation) -> URIRef:
    return URIRef(_site(f"/organisations/{quote(organisation.slug, safe='')}"))


def new_graph() -> Graph:
    graph = Graph(bind_namespaces="core")
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace)
    return graph


def _add_text(graph: Graph, subject: URIRef, predicate: URIRef, value) -> None:
    literal = _text(value)
    if literal is not None:
        graph.add((subject, predicate, literal))


def _add_vocabulary_nodes(graph: Graph) -> None:
    """Type the controlled-vocabulary IRIs used, as the full DCAT-AP shapes' range
    checks expect (a harvester does not fetch the vocabularies to learn them)."""
    graph.add((THEME_HEALTH, RDF.type, SKOS.Concept))
    graph.add((THEME_HEALTH, SKOS.prefLabel, Literal("Health", lang="en")))
    graph.add((THEME_HEALTH, SKOS.inScheme, THEME_TAXONOMY))
    graph.add((THEME_TAXONOMY, RDF.type, SKOS.ConceptScheme))
    graph.add((THEME_TAXONOMY, DCTERMS.title, Literal("Data theme", lang="en")))
    graph.add((DICOM_FORMAT, RDF.type, DCTERMS.MediaTypeOrExtent))
    graph.add((DATA_GOVERNANCE_ACT, RDF.type, ELI.LegalResource))


def _add_document(graph: Graph, subject: URIRef, predicate: URIRef, page: URIRef) -> None:
    graph.add((subject, predicate, page))
    graph.add((page, RDF.type, FOAF.Document))


def _add_agent(graph: Graph, node: URIRef, name: str, homepage: str = "") -> URIRef:
    graph.add((node, RDF.type, FOAF.Agent))
    graph.add((node, RDF.type, FOAF.Organization))
    # foaf:name is mandatory for an agent: fall back to the node's own address.
    graph.add((node, FOAF.name, _text(name) or Literal(str(node))))
    page = _http_iri(homepage)
    if page is not None:
        _add_document(graph, node, FOAF.homepage, page)
    return node


def _keywords(dataset: Dataset, extra: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in [
        *(dataset.keywords or []),
        *(dataset.modalities or []),
        *(dataset.body_parts or []),
        *extra,
    ]:
        if isinstance(value, str) and _text(value) is not None:
            seen.setdefault(str(_text(value)), None)
    return list(seen)


def _identifiers(dataset: Dataset) -> tuple[str, str]:
    """(dct:identifier, the provider's identifier when it cannot be that).

    A new version starts with its predecessor's identifier; harvesters such as
    ckanext-dcat key datasets by dct:identifier and would merge the versions, so
    only the earliest version carrying an identifier uses it, later ones their id.
    Needs `previous_version` selected with the dataset.
    """
    own = str(_text(dataset.identifier) or "")
    if not own:
        return str(dataset.pk), ""
    previous = dataset.previous_version if dataset.previous_version_id else None
    if previous is not None and str(_text(previous.identifier) or "") == own:
        return str(dataset.pk), own
    return own, ""


def describe_dataset(graph: Graph, dataset: Dataset, *, link_previous: bool = True) -> URIRef:
    """Add one dataset (with its publisher, contact point and distribution) to `graph`.

    `link_previous`: whether the caller may see the previous version, so that it is
    linked only when the link leads somewhere.
    """
    node = dataset_uri(dataset)
    add = graph.add
    _add_vocabulary_nodes(graph)
    add((node, RDF.type, DCAT.Dataset))
    identifier, inherited = _identifiers(dataset)
    add((node, DCTERMS.identifier, Literal(identifier)))
    if inherited:
        other = URIRef(f"{node}#identifier")
        add((node, ADMS.identifier, other))
        add((other, RDF.type, ADMS.Identifier))
        add((other, SKOS.notation, Literal(inherited)))
    # Title and description are mandatory: never leave them out, even if blank at source.
    add((node, DCTERMS.title, _text(dataset.title) or Literal(str(dataset.pk))))
    add(
        (
            node,
            DCTERMS.description,
            _text(dataset.description) or _text(dataset.title) or Literal(str(dataset.pk)),
        )
    )
    # The dataset's IRI is its page on the hub, hence also its landing page.
    _add_document(graph, node, DCAT.landingPage, node)
    add((node, DCAT.theme, THEME_HEALTH))
    add((node, DCATAP.applicableLegislation, DATA_GOVERNANCE_ACT))
    _add_text(graph, node, DCAT.version, dataset.version)
    if dataset.access_rights in AccessRights.values:
        add((node, DCTERMS.accessRights, ACCESS_RIGHT[dataset.access_rights]))
        add((ACCESS_RIGHT[dataset.access_rights], RDF.type, DCTERMS.RightsStatement))

    organisation = dataset.organisation
    publisher = _add_agent(
        graph, organisation_uri(organisation), organisation.name, organisation.homepage
    )
    add((node, DCTERMS.publisher, publisher))

    if dataset.contact_name or dataset.contact_email:
        contact = URIRef(f"{node}#contact")
        add((node, DCAT.contactPoint, contact))
        add((contact, RDF.type, VCARD.Kind))
        add(
            (
                contact,
                VCARD.fn,
                _text(dataset.contact_name) or _text(organisation.name) or Literal("Contact"),
            )
        )
        email = (dataset.contact_email or "").strip()
        if email and "@" in email:
            add(
                (contact, VCARD.hasEmail, URIRef("mailto:" + quote(email, safe="@!$&'()*+,;=-._~")))
            )

    for index, author in enumerate(dataset.authors or [], start=1):
        name = _text(author.get("name")) if isinstance(author, dict) else None
        if name is None:
            continue
        creator = URIRef(f"{node}#creator-{index}")
        add((node, DCTERMS.creator, creator))
        add((creator, RDF.type, FOAF.Agent))
        add((creator, RDF.type, FOAF.Person))
        add((creator, FOAF.name, name))

    loose_diagnoses = []
    for raw in dataset.diagnoses or []:
        code = str(raw).strip().upper()
        if _ICD10_CODE.match(code):
            add((node, DCTERMS.subject, ICD10[code]))
        else:
            loose_diagnoses.append(raw)
    for keyword in _keywords(dataset, loose_diagnoses):
        add((node, DCAT.keyword, Literal(keyword)))
    for term in dataset.duo_terms or []:
        match = _DUO_TERM.match(str(term).strip())
        if match:
            add((node, DCTERMS.rights, OBO[f"DUO_{match.group(1)}"]))

    if dataset.number_of_subjects:
        add((node, HEALTH.numberOfUniqueIndividuals, _count(dataset.number_of_subjects)))
    if dataset.number_of_studies:
        add((node, HEALTH.numberOfRecords, _count(dataset.number_of_studies)))
    if dataset.age_min is not None:
        add((node, HEALTH.minTypicalAge, _count(dataset.age_min)))
    if dataset.age_max is not None:
        add((node, HEALTH.maxTypicalAge, _count(dataset.age_max)))

    if dataset.released_at:
        add((node, DCTERMS.issued, _datetime(dataset.released_at)))
    if dataset.modified:
        add((node, DCTERMS.modified, _datetime(dataset.modified)))
    if dataset.previous_version_id and link_previous:
        previous = _dataset_uri_from_pk(dataset.previous_version_id)
        add((node, DCAT.previousVersion, previous))
        add((node, DCAT.prev, previous))

    doi = (dataset.doi or "").strip()
    if doi:
        doi_url = "https://doi.org/" + quote(doi, safe="/:;()._-")
        identifier = URIRef(f"{node}#doi")
        add((node, ADMS.identifier, identifier))
        add((identifier, RDF.type, ADMS.Identifier))
        add((identifier, SKOS.notation, Literal(doi_url, datatype=XSD.anyURI)))
        add((identifier, ADMS.schemaAgency, Literal("DOI")))

    license_iri = _http_iri(dataset.license)
    if license_iri is not None:
        add((node, DCTERMS.license, license_iri))
        add((license_iri, RDF.type, DCTERMS.LicenseDocument))

    distribution = URIRef(f"{node}#distribution")
    add((node, DCAT.distribution, distribution))
    add((distribution, RDF.type, DCAT.Distribution))
    add((distribution, DCTERMS.title, Literal("DICOM studies, on request")))
    add((distribution, DCTERMS.description, Literal(ACCESS_NOTE)))
    add((distribution, DCAT.accessURL, node))
    add((distribution, DCTERMS.format, DICOM_FORMAT))
    if license_iri is not None:
        add((distribution, DCTERMS.license, license_iri))
    if dataset.size_bytes and dataset.size_bytes > 0:
        add((distribution, DCAT.byteSize, _count(dataset.size_bytes)))
    return node


def _describe_catalogue(graph: Graph, modified: datetime | None) -> URIRef:
    node = catalogue_uri()
    graph.add((node, RDF.type, DCAT.Catalog))
    graph.add((node, DCTERMS.title, _text(settings.CATALOGUE_TITLE) or Literal("Agora catalogue")))
    graph.add(
        (
            node,
            DCTERMS.description,
            Literal(
                "De-identified cancer-imaging datasets described by their data holders. "
                + ACCESS_NOTE
            ),
        )
    )
    publisher = _add_agent(graph, URIRef(_site("/#publisher")), settings.CATALOGUE_PUBLISHER)
    graph.add((node, DCTERMS.publisher, publisher))
    _add_document(graph, node, FOAF.homepage, URIRef(_site("/")))
    graph.add((node, DCAT.themeTaxonomy, THEME_TAXONOMY))
    if modified:
        graph.add((node, DCTERMS.modified, _datetime(modified)))
    _add_vocabulary_nodes(graph)
    return node


def _describe_page(graph: Graph, paging: Paging) -> None:
    """Hydra paging, with both the current terms (first, next...) and the older
    ones (firstPage, nextPage...) that some harvesters, e.g. ckanext-dcat, still read."""
    page = URIRef(paging.url(paging.number))
    graph.add((page, RDF.type, HYDRA.PagedCollection))
    graph.add((page, HYDRA.totalItems, Literal(paging.total)))
    graph.add((page, HYDRA.itemsPerPage, Literal(paging.size)))
    links = {
        (HYDRA.first, HYDRA.firstPage): 1,
        (HYDRA.last, HYDRA.lastPage): paging.last,
        (HYDRA.next, HYDRA.nextPage): paging.number + 1 if paging.number < paging.last else None,
        (HYDRA.previous, HYDRA.previousPage): paging.number - 1 if paging.number > 1 else None,
    }
    for predicates, number in links.items():
        if number is None:
            continue
        for predicate in predicates:
            graph.add((page, predicate, URIRef(paging.url(number))))


def catalogue_graph(
    datasets: Iterable[Dataset],
    *,
    paging: Paging,
    modified: datetime | None = None,
    linkable: set | frozenset = frozenset(),
) -> Graph:
    """One page of the catalogue: the dcat:Catalog, its datasets on this page, Hydra links.

    `linkable`: ids of datasets the caller may see, for version links.
    """
    graph = new_graph()
    catalogue = _describe_catalogue(graph, modified)
    for dataset in datasets:
        node = describe_dataset(
            graph, dataset, link_previous=dataset.previous_version_id in linkable
        )
        graph.add((catalogue, DCAT.dataset, node))
    _describe_page(graph, paging)
    return graph


def dataset_graph(dataset: Dataset, *, link_previous: bool = True) -> Graph:
    graph = new_graph()
    describe_dataset(graph, dataset, link_previous=link_previous)
    return graph


def serialise(graph: Graph, fmt: Format) -> bytes:
    if fmt is JSON_LD:
        context = {prefix: str(namespace) for prefix, namespace in PREFIXES.items()}
        return graph.serialize(format=fmt.rdflib_name, context=context, encoding="utf-8")
    return graph.serialize(format=fmt.rdflib_name, encoding="utf-8")
