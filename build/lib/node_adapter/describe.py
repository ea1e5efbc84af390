"""Aggregated metadata of a dataset version: what the site publishes, and nothing more.

    description = describe(lake, "lung-ct", base_url="https://node.example", site="hospital-x")
    turtle = to_rdf([description], base_url="https://node.example", fmt="ttl")
    collection = to_miabis(description)

A description holds counts and value sets over the version's manifest, never a value of
one patient: no pseudonym, no UID, no file path, no exact date. The rules that keep small
groups from giving one patient away (a minimum or maximum *is* one patient's value):

- The age range and the study-date range are given only when at least `min_subjects`
  (k = 5 by default) distinct subjects have a known value; ages are widened to 5-year bands
  (min rounded down, max rounded up to the band's end) and top-coded at 90 (HIPAA Safe
  Harbor: "90 or older"); study dates are given to the month only.
- Sex is given only for datasets of at least k subjects: which sexes are present, and the
  count of each sex with at least k subjects (smaller cells are left out of the counts).
- Counts of subjects, studies, series, instances and bytes, and the modalities, body parts
  and manufacturers, describe the collection, not a person, and are always given.

DCAT follows the hub's shapes (DCAT-AP 3.0.1 plus the hub's imaging profile, see
hyperontology/shapes); the dataset IRI is stable across versions (the hub keeps versions
itself) and its one distribution names the site and the manifest: the manifest's URN
`urn:agora:<site>:manifest:<sha3>`, its SHA3-256 as spdx:checksum, never a path.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from rdflib import RDF, XSD, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF

from hyperontology.miabis import dcat_to_miabis
from hyperontology.terms import ACCESS_RIGHT, AGORA, BODY_PART, DCATAP, DCM, HEALTH, SEX

__all__ = [
    "FORMATS",
    "K_ANONYMITY",
    "Description",
    "catalogue_graph",
    "describe",
    "describe_all",
    "serialise",
    "to_miabis",
    "to_rdf",
]

log = logging.getLogger("node_adapter.describe")

K_ANONYMITY = 5  # fewest subjects behind an age range, a date range or a sex count
AGE_BAND = 5
AGE_TOP = 90  # ages above are given as 90 ("90 or older")

VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
SPDX = Namespace("http://spdx.org/rdf/terms#")
HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
FILE_TYPE = Namespace("http://publications.europa.eu/resource/authority/file-type/")
DATA_THEME = Namespace("http://publications.europa.eu/resource/authority/data-theme/")
EHDS = URIRef("http://data.europa.eu/eli/reg/2025/327/oj")  # the European Health Data Space
DCAT_VERSION = URIRef(f"{DCAT}version")  # DCAT 3; rdflib's DCAT namespace predates it
SKOS_CONCEPT = URIRef("http://www.w3.org/2004/02/skos/core#Concept")
SKOS_PREF_LABEL = URIRef("http://www.w3.org/2004/02/skos/core#prefLabel")
ELI_LEGAL_RESOURCE = URIRef("http://data.europa.eu/eli/ontology#LegalResource")

# fmt -> (rdflib serialiser, media type)
FORMATS: dict[str, tuple[str, str]] = {
    "ttl": ("turtle", "text/turtle"),
    "jsonld": ("json-ld", "application/ld+json"),
    "rdf": ("xml", "application/rdf+xml"),
    "nt": ("nt", "application/n-triples"),
}
ACCESS_RIGHTS = ("PUBLIC", "RESTRICTED", "NON_PUBLIC")
SEX_CODES = {"M": "male", "F": "female", "O": "other", "MALE": "male", "FEMALE": "female"}
JSONLD_CONTEXT = {
    "dcat": str(DCAT),
    "dct": str(DCTERMS),
    "foaf": str(FOAF),
    "vcard": str(VCARD),
    "spdx": str(SPDX),
    "xsd": str(XSD),
    "dcatap": str(DCATAP),
    "healthdcatap": str(HEALTH),
    "agora": str(AGORA),
    "dcm": str(DCM),
    "hydra": str(HYDRA),
}


@dataclass
class Description:
    """Aggregates of one dataset version only: no per-patient value."""

    dataset: str
    version: int
    title: str
    description: str
    site: str
    manifest_sha3_256: str
    subjects: int
    studies: int
    series: int
    instances: int
    size_bytes: int
    modalities: list[str]
    body_parts: list[str]
    manufacturers: list[str]
    sex_counts: dict[str, int]  # sexes with at least `min_subjects` subjects
    age_min: int | None
    age_max: int | None
    study_date_min: str | None  # "YYYY-MM" (dates shifted per patient, if the site does)
    study_date_max: str | None
    sexes: list[str] = field(default_factory=list)  # present, when >= min_subjects subjects
    modified: str = ""  # when the version was published (ISO 8601)
    min_subjects: int = K_ANONYMITY
    publisher_name: str = ""
    contact_name: str = ""
    contact_email: str = ""
    access_rights: str = "RESTRICTED"


# -- describe -----------------------------------------------------------------------------


def describe(
    lake: Any,
    dataset: str,
    *,
    version: int | None = None,
    base_url: str,
    site: str,
    min_subjects: int = K_ANONYMITY,
    publisher_name: str = "",
    contact_name: str = "",
    contact_email: str = "",
    access_rights: str = "RESTRICTED",
) -> Description:
    """The aggregates of `dataset` (its latest version, or `version`) from the lake's index,
    restricted to the files of that version's manifest. KeyError if there is no such
    dataset version."""
    if access_rights not in ACCESS_RIGHTS:
        raise ValueError(f"access rights must be one of {', '.join(ACCESS_RIGHTS)}")
    if min_subjects < 1:
        raise ValueError("min_subjects must be at least 1")
    _base(base_url)  # a misconfigured base URL fails here, not in the hub's harvest
    manifest = lake.manifest(dataset, version)
    files = {f["path"]: f for study in manifest.studies for f in study["files"]}
    studies = [(s["subject"], s["study"]) for s in manifest.studies]
    rows = [row for row in _index_rows(lake, studies) if _get(row, "relative_path") in files]
    subjects = {subject for subject, _ in studies}
    description = Description(
        dataset=manifest.dataset,
        version=manifest.version,
        title=manifest.title or manifest.dataset,
        description=manifest.description,
        site=site or manifest.site,
        manifest_sha3_256=manifest.sha3_256,
        subjects=len(subjects),
        studies=len(set(studies)),
        series=len({(_get(r, "study"), _get(r, "series")) for r in rows}),
        instances=len(files),
        size_bytes=sum(int(f["size"]) for f in files.values()),
        modalities=_values(rows, "modality", upper=True),
        body_parts=_values(rows, "body_part", upper=True),
        manufacturers=_values(rows, "manufacturer"),
        sex_counts={},
        age_min=None,
        age_max=None,
        study_date_min=None,
        study_date_max=None,
        modified=manifest.created,
        min_subjects=min_subjects,
        publisher_name=publisher_name,
        contact_name=contact_name,
        contact_email=contact_email,
        access_rights=access_rights,
    )
    _add_sexes(description, rows, min_subjects)
    _add_ages(description, rows, min_subjects)
    _add_dates(description, rows, min_subjects)
    log.info(
        "described dataset=%s version=%d subjects=%d studies=%d instances=%d",
        description.dataset,
        description.version,
        description.subjects,
        description.studies,
        description.instances,
    )
    return description


def describe_all(lake: Any, *, base_url: str, site: str, **options: Any) -> list[Description]:
    """The latest version of every dataset of the lake, by name."""
    return [
        describe(lake, name, base_url=base_url, site=site, **options)
        for name in sorted(lake.datasets())
    ]


def _index_rows(lake: Any, studies: list[tuple[str, str]]) -> Iterable[Any]:
    """The lake index's rows of those studies (a version's files are filtered after: a
    study may have grown since the version was published)."""
    return lake.index().rows(studies)


def _get(row: Any, name: str) -> Any:
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _values(rows: list[Any], name: str, *, upper: bool = False) -> list[str]:
    found = {str(_get(r, name) or "").strip() for r in rows}
    return sorted({v.upper() if upper else v for v in found if v})


def _per_subject(rows: list[Any], name: str) -> Iterator[tuple[str, list[Any]]]:
    values: dict[str, list[Any]] = {}
    for row in rows:
        value = _get(row, name)
        if value not in (None, ""):
            values.setdefault(_get(row, "subject"), []).append(value)
    yield from values.items()


def _add_sexes(d: Description, rows: list[Any], k: int) -> None:
    if d.subjects < k:
        return
    sex_of = {}
    for subject in {_get(r, "subject") for r in rows}:
        sex_of[subject] = "unknown"
    for subject, values in _per_subject(rows, "sex"):
        # A subject's most frequent recorded sex (deliveries may disagree).
        code = Counter(str(v).strip().upper() for v in values).most_common(1)[0][0]
        sex_of[subject] = SEX_CODES.get(code, "unknown")
    counts = Counter(sex_of.values())
    d.sexes = sorted(counts)
    d.sex_counts = {sex: n for sex, n in sorted(counts.items()) if n >= k}


def _add_ages(d: Description, rows: list[Any], k: int) -> None:
    ages = dict(_per_subject(rows, "age_years"))
    if len(ages) < k:
        return
    values = [int(a) for subject_ages in ages.values() for a in subject_ages]
    d.age_min = min(AGE_TOP, AGE_BAND * (min(values) // AGE_BAND))
    d.age_max = min(AGE_TOP, AGE_BAND * (max(values) // AGE_BAND) + AGE_BAND - 1)


def _add_dates(d: Description, rows: list[Any], k: int) -> None:
    dates: dict[str, list[str]] = {}
    for subject, values in _per_subject(rows, "study_date"):
        months = [m for m in (_month(v) for v in values) if m]
        if months:
            dates[subject] = months
    if len(dates) < k:
        return
    months = [m for subject_months in dates.values() for m in subject_months]
    d.study_date_min, d.study_date_max = min(months), max(months)


def _month(value: Any) -> str | None:
    """ "YYYYMMDD" (DICOM DA) -> "YYYY-MM"; anything else -> None."""
    text = str(value).strip().replace("-", "")
    if len(text) < 6 or not text[:6].isdigit() or not 1 <= int(text[4:6]) <= 12:
        return None
    return f"{text[:4]}-{text[4:6]}"


# -- DCAT ---------------------------------------------------------------------------------


def dataset_iri(base_url: str, dataset: str) -> URIRef:
    """Stable across versions: the hub makes its own versions of a changed record."""
    return URIRef(f"{_base(base_url)}/datasets/{quote(dataset, safe='-._~')}")


def catalogue_iri(base_url: str) -> URIRef:
    return URIRef(f"{_base(base_url)}/catalogue")


def manifest_urn(site: str, sha3_256: str) -> URIRef:
    return URIRef(f"urn:agora:{quote(site, safe='-._~')}:manifest:{sha3_256}")


def catalogue_graph(descriptions: list[Description], *, base_url: str, site: str = "") -> Graph:
    """The node's dcat:Catalog with one dcat:Dataset per description (on every page of a
    paged listing the catalogue is described the same way; serve.py adds Hydra)."""
    g = Graph()
    for prefix, namespace in JSONLD_CONTEXT.items():
        g.bind(prefix, namespace)
    site = site or (descriptions[0].site if descriptions else "")
    catalogue = catalogue_iri(base_url)
    publisher = _publisher(g, base_url, site, descriptions)
    g.add((catalogue, RDF.type, DCAT.Catalog))
    g.add((catalogue, DCTERMS.title, Literal(f"Imaging datasets of {site}", lang="en")))
    g.add(
        (
            catalogue,
            DCTERMS.description,
            Literal(
                f"De-identified imaging datasets held at {site}; aggregated metadata only.",
                lang="en",
            ),
        )
    )
    g.add((catalogue, DCTERMS.publisher, publisher))
    for d in descriptions:
        ds = _add_dataset(g, d, base_url, publisher)
        g.add((catalogue, DCAT.dataset, ds))
    return g


def to_rdf(descriptions: list[Description], *, base_url: str, fmt: str) -> bytes:
    """The catalogue of `descriptions` as "ttl", "jsonld", "rdf" (RDF/XML) or "nt"."""
    return serialise(catalogue_graph(descriptions, base_url=base_url), fmt)


def serialise(graph: Graph, fmt: str) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    name = FORMATS[fmt][0]
    if name == "json-ld":
        return graph.serialize(format=name, context=JSONLD_CONTEXT, auto_compact=True).encode()
    return graph.serialize(format=name, encoding="utf-8")


def _base(base_url: str) -> str:
    base = base_url.strip().rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ValueError(f"base URL must start with http:// or https://, not {base_url!r}")
    return base


def _publisher(g: Graph, base_url: str, site: str, descriptions: list[Description]) -> URIRef:
    publisher = URIRef(f"{_base(base_url)}/publisher")
    name = next((d.publisher_name for d in descriptions if d.publisher_name), "") or site
    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, FOAF.name, Literal(name or "Agora node")))
    if site:
        # MIABIS reads the biobank id from it.
        g.add((publisher, DCTERMS.identifier, Literal(site)))
    return publisher


def _add_dataset(g: Graph, d: Description, base_url: str, publisher: URIRef) -> URIRef:
    ds = dataset_iri(base_url, d.dataset)
    add = g.add
    add((ds, RDF.type, DCAT.Dataset))
    add((ds, DCTERMS.identifier, Literal(d.dataset)))
    add((ds, DCTERMS.title, Literal(d.title, lang="en")))
    add((ds, DCTERMS.description, Literal(_text(d), lang="en")))
    add((ds, DCAT_VERSION, Literal(str(d.version))))
    if d.modified:
        add((ds, DCTERMS.modified, _datetime(d.modified)))
    add((ds, DCTERMS.publisher, publisher))
    add((ds, DCTERMS.accessRights, ACCESS_RIGHT[d.access_rights]))
    add((ds, DCAT.theme, DATA_THEME.HEAL))
    add((ds, DCATAP.applicableLegislation, EHDS))
    # The classes of the vocabulary terms used, so the complete DCAT-AP shapes (with their
    # range checks) accept the record without fetching the EU vocabularies.
    add((ACCESS_RIGHT[d.access_rights], RDF.type, DCTERMS.RightsStatement))
    add((DATA_THEME.HEAL, RDF.type, SKOS_CONCEPT))
    add((DATA_THEME.HEAL, SKOS_PREF_LABEL, Literal("Health", lang="en")))
    add((EHDS, RDF.type, ELI_LEGAL_RESOURCE))
    add((ds, DCAT.keyword, Literal("medical imaging", lang="en")))
    _add_contact(g, ds, d)
    _count(g, ds, HEALTH.numberOfUniqueIndividuals, d.subjects)
    _count(g, ds, HEALTH.numberOfRecords, d.studies)
    for modality in d.modalities:
        add((ds, AGORA.imagingModality, DCM[modality]))
    for body_part in d.body_parts:
        add((ds, BODY_PART, Literal(body_part)))
    for sex in d.sexes:
        add((ds, SEX, Literal(sex)))
    if d.age_min is not None and d.age_max is not None:
        _count(g, ds, HEALTH.minTypicalAge, d.age_min)
        _count(g, ds, HEALTH.maxTypicalAge, d.age_max)
    if d.study_date_min and d.study_date_max:
        period = BNode()
        add((ds, DCTERMS.temporal, period))
        add((period, RDF.type, DCTERMS.PeriodOfTime))
        add((period, DCAT.startDate, Literal(d.study_date_min, datatype=XSD.gYearMonth)))
        add((period, DCAT.endDate, Literal(d.study_date_max, datatype=XSD.gYearMonth)))
    add((ds, DCAT.distribution, _distribution(g, d, base_url)))
    return ds


def _distribution(g: Graph, d: Description, base_url: str) -> URIRef:
    """The manifest of this version: named by site and hash, resolved to files at the site
    only (its access URL is the node's, which lets nobody read it)."""
    dist = manifest_urn(d.site, d.manifest_sha3_256)
    checksum = BNode()
    add = g.add
    add((dist, RDF.type, DCAT.Distribution))
    add((dist, DCTERMS.identifier, Literal(str(dist))))
    add((dist, DCTERMS.title, Literal(f"{d.dataset} version {d.version} at {d.site}", lang="en")))
    add(
        (
            dist,
            DCTERMS.description,
            Literal(
                f"Manifest {d.manifest_sha3_256} of {d.studies} studies held at {d.site}; "
                "the studies are opened only in an approved sandbox at the site.",
                lang="en",
            ),
        )
    )
    url = f"{_base(base_url)}/manifests/{quote(d.dataset, safe='-._~')}/v{d.version}"
    add((dist, DCAT.accessURL, URIRef(url)))
    add((dist, DCTERMS.format, FILE_TYPE.DCM))
    add((FILE_TYPE.DCM, RDF.type, DCTERMS.MediaTypeOrExtent))
    add((dist, DCAT.byteSize, Literal(d.size_bytes, datatype=XSD.nonNegativeInteger)))
    add((dist, SPDX.checksum, checksum))
    add((checksum, RDF.type, SPDX.Checksum))
    add((checksum, SPDX.algorithm, SPDX.checksumAlgorithm_sha3_256))
    add((SPDX.checksumAlgorithm_sha3_256, RDF.type, SPDX.ChecksumAlgorithm))
    add((checksum, SPDX.checksumValue, Literal(d.manifest_sha3_256, datatype=XSD.hexBinary)))
    return dist


def _add_contact(g: Graph, ds: URIRef, d: Description) -> None:
    contact = BNode()
    g.add((ds, DCAT.contactPoint, contact))
    g.add((contact, RDF.type, VCARD.Organization))
    g.add((contact, RDF.type, VCARD.Kind))  # Organization's superclass, stated: no inference
    g.add((contact, VCARD.fn, Literal(d.contact_name or f"Data desk of {d.site}")))
    if d.contact_email:
        g.add((contact, VCARD.hasEmail, URIRef("mailto:" + d.contact_email.strip())))


def _count(g: Graph, subject: URIRef, prop: URIRef, value: int) -> None:
    g.add((subject, prop, Literal(int(value), datatype=XSD.nonNegativeInteger)))


def _datetime(value: str) -> Literal:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return Literal(value[:10], datatype=XSD.date)
    return Literal(parsed.isoformat(), datatype=XSD.dateTime)


def _text(d: Description) -> str:
    """The provider's words, then the aggregates in plain words (dct:description is
    required, and the hub's free-text search reads it)."""
    parts = [d.description.strip()] if d.description.strip() else []
    parts.append(
        f"{d.subjects} subjects, {d.studies} studies, {d.series} series, "
        f"{d.instances} DICOM instances ({_size(d.size_bytes)}), de-identified at {d.site}."
    )
    if d.modalities:
        parts.append(f"Modalities: {', '.join(d.modalities)}.")
    if d.body_parts:
        parts.append(f"Body parts: {', '.join(d.body_parts)}.")
    if d.manufacturers:
        parts.append(f"Equipment manufacturers: {', '.join(d.manufacturers)}.")
    if d.sex_counts:
        parts.append(
            "Subjects by sex: " + ", ".join(f"{s} {n}" for s, n in d.sex_counts.items()) + "."
        )
    if d.study_date_min and d.study_date_max:
        parts.append(f"Studies from {d.study_date_min} to {d.study_date_max}.")
    return " ".join(parts)


def _size(n: int) -> str:
    for unit, factor in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} bytes"


# -- MIABIS -------------------------------------------------------------------------------


def to_miabis(description: Description) -> dict:
    """The dataset as one MIABIS core v3 Collection in the hub's JSON form (the crosswalk
    of hyperontology.miabis, so the hub reads it back to the same DCAT)."""
    base = "https://node.invalid"  # IRIs do not appear in MIABIS: only the identifiers
    graph = catalogue_graph([description], base_url=base)
    collection = dcat_to_miabis(graph, dataset_iri(base, description.dataset))[0]
    collection["id"] = f"{description.site}:collection:{description.dataset}"
    collection["datasetType"] = ["IMAGING"]
    return collection
