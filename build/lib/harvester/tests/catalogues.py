"""Generated DCAT catalogues for the harvester's tests and benchmark.

Records look like what provider nodes publish (HealthDCAT-AP with the hub's imaging terms,
local labels included); `INVALID` lists the faults a record can be given, each with the
words a provider is told.
"""

from __future__ import annotations

from collections.abc import Iterable

PREFIXES = """@prefix dcat: <http://www.w3.org/ns/dcat#> .
@prefix dct: <http://purl.org/dc/terms/> .
@prefix foaf: <http://xmlns.com/foaf/0.1/> .
@prefix vcard: <http://www.w3.org/2006/vcard/ns#> .
@prefix xsd: <http://www.w3.org/2001/XMLSchema#> .
@prefix dcatap: <http://data.europa.eu/r5r/> .
@prefix healthdcatap: <http://healthdataportal.eu/ns/health#> .
@prefix agora: <https://w3id.org/agora/ns#> .
@prefix hydra: <http://www.w3.org/ns/hydra/core#> .
"""

# fault -> the message (without "dataset <id>: ") a provider reads.
INVALID = {
    "no_description": "dct:description is required and missing",
    "no_contact": "dcat:contactPoint is required and missing",
    "ages_reversed": "the minimum typical age (90) is greater than the maximum (40)",
    "no_access_rights": "dct:accessRights is required and missing",
    "no_subjects": "healthdcatap:numberOfUniqueIndividuals (the number of subjects) is required and missing",
}
MODALITY_LABELS = ("Computed Tomography", "TAC", "MR", "PET-CT", "Mammography")
BODY_LABELS = ("Thorax", "LIVER", "Brain", "Breast", "Abdomen")


def dataset_turtle(
    n: int,
    *,
    base: str = "https://node.example/datasets/",
    fault: str | None = None,
    revision: int = 0,
) -> str:
    """One dataset in Turtle; `fault` (a key of INVALID) makes it fail validation."""
    iri = f"<{base}ds-{n}>"
    lines = [
        f"{iri} a dcat:Dataset ;",
        f'  dct:identifier "ds-{n}" ;',
        f'  dct:title "Imaging collection {n}"@en ;',
        f"  dct:publisher <{base}publisher> ;",
        "  dcat:theme <http://publications.europa.eu/resource/authority/data-theme/HEAL> ;",
        f'  dcat:keyword "cohort {n % 7}"@en ;',
        "  dcatap:applicableLegislation <http://data.europa.eu/eli/reg/2022/868/oj> ;",
        "  dct:subject <http://purl.bioontology.org/ontology/ICD10/C34.1> ;",
        f'  agora:imagingModality "{MODALITY_LABELS[n % len(MODALITY_LABELS)]}" ;',
        f'  agora:bodyPart "{BODY_LABELS[n % len(BODY_LABELS)]}" ;',
        '  agora:sex "female", "male" ;',
        f'  healthdcatap:numberOfRecords "{40 + n % 50 + revision}"^^xsd:nonNegativeInteger ;',
        "  dcat:distribution [ a dcat:Distribution ;",
        f"      dcat:accessURL <{base}ds-{n}/access> ;",
        "      dct:format <http://publications.europa.eu/resource/authority/file-type/DCM> ]",
    ]
    if fault != "no_description":
        lines.insert(
            3, f'  dct:description "De-identified studies of cohort {n}, revision {revision}."@en ;'
        )
    if fault != "no_contact":
        lines.insert(
            3,
            '  dcat:contactPoint [ a vcard:Organization ; vcard:fn "Data desk" ;'
            f" vcard:hasEmail <mailto:data-{n % 3}@node.example> ] ;",
        )
    if fault != "no_access_rights":
        lines.insert(
            3,
            "  dct:accessRights <http://publications.europa.eu/resource/authority/access-right/RESTRICTED> ;",
        )
    if fault != "no_subjects":
        lines.insert(
            3, f'  healthdcatap:numberOfUniqueIndividuals "{30 + n % 40}"^^xsd:nonNegativeInteger ;'
        )
    low, high = (90, 40) if fault == "ages_reversed" else (18 + n % 30, 70 + n % 20)
    lines.insert(3, f'  healthdcatap:minTypicalAge "{low}"^^xsd:nonNegativeInteger ;')
    lines.insert(3, f'  healthdcatap:maxTypicalAge "{high}"^^xsd:nonNegativeInteger ;')
    return "\n".join(lines) + " .\n"


def publisher_turtle(base: str = "https://node.example/datasets/") -> str:
    return f'<{base}publisher> a foaf:Agent ; foaf:name "Hospital Node"@en .\n'


def fault_of(n: int, invalid_every: int) -> str | None:
    """Every `invalid_every`-th record gets a fault, cycling through INVALID."""
    if not invalid_every or n % invalid_every != invalid_every - 1:
        return None
    faults = list(INVALID)
    return faults[(n // invalid_every) % len(faults)]


def page_turtle(
    numbers: Iterable[int],
    *,
    base: str = "https://node.example/datasets/",
    invalid_every: int = 0,
    revisions: dict[int, int] | None = None,
    hydra: str = "",
) -> str:
    """A catalogue page of the given datasets, with Hydra paging triples `hydra` appended."""
    numbers = list(numbers)
    revisions = revisions or {}
    parts = [PREFIXES, publisher_turtle(base)]
    catalogue = f'<{base}catalogue> a dcat:Catalog ; dct:title "Node catalogue"@en'
    if numbers:
        catalogue += " ;\n  dcat:dataset " + ", ".join(f"<{base}ds-{n}>" for n in numbers)
    parts.append(catalogue + " .\n")
    for n in numbers:
        parts.append(
            dataset_turtle(
                n, base=base, fault=fault_of(n, invalid_every), revision=revisions.get(n, 0)
            )
        )
    if hydra:
        parts.append(hydra)
    return "\n".join(parts)


def hydra_paged_collection(page_url: str, next_url: str | None, total: int) -> str:
    """ckanext-dcat's style: hydra:PagedCollection with hydra:nextPage."""
    text = f"<{page_url}> a hydra:PagedCollection ; hydra:totalItems {total}"
    if next_url:
        text += f" ;\n  hydra:nextPage <{next_url}>"
    return text + " .\n"


def hydra_partial_view(collection_url: str, page_url: str, next_url: str | None, total: int) -> str:
    """Hydra core's style: a PartialCollectionView with hydra:next."""
    text = (
        f"<{collection_url}> a hydra:Collection ; hydra:totalItems {total} ; hydra:view <{page_url}> .\n"
        f"<{page_url}> a hydra:PartialCollectionView"
    )
    if next_url:
        text += f" ;\n  hydra:next <{next_url}>"
    return text + " .\n"
