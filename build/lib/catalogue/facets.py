"""The facets of the catalogue: their names, how a dataset's values are derived,
and the fixed buckets for age and number of subjects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Dataset

# Facets kept in Dataset.facet_keys: name -> label shown in pages.
VALUE_FACETS = {
    "modality": "Modality",
    "body_part": "Body part",
    "diagnosis": "Diagnosis (ICD-10)",
    "sex": "Sex",
    "provider": "Provider",
    "access_rights": "Access rights",
    "duo": "Data use (DUO)",
    "age": "Age (years)",
}
AGE_BUCKET_WIDTH = 10
AGE_BUCKET_LIMIT = 100  # the last bucket is "100+"
SUBJECT_THRESHOLDS = (10, 50, 100, 500, 1000, 5000)
SEXES = ("female", "male", "other", "unknown")


def age_buckets(age_min: int | None, age_max: int | None) -> list[str]:
    """Decade buckets the dataset's age range overlaps ("40-49", ..., "100+")."""
    if age_min is None and age_max is None:
        return []
    low = age_min if age_min is not None else 0
    high = age_max if age_max is not None else AGE_BUCKET_LIMIT
    out = []
    for start in range(0, AGE_BUCKET_LIMIT, AGE_BUCKET_WIDTH):
        end = start + AGE_BUCKET_WIDTH - 1
        if low <= end and high >= start:
            out.append(f"{start}-{end}")
    if high >= AGE_BUCKET_LIMIT:
        out.append(f"{AGE_BUCKET_LIMIT}+")
    return out


def age_bucket_order(label: str) -> int:
    return int(label.split("-")[0].rstrip("+"))


def diagnosis_values(codes: list[str]) -> set[str]:
    """An ICD-10 code and its three-character category, so "C34" finds "C34.1"."""
    out = set()
    for code in codes:
        code = code.strip().upper()
        if code:
            out.add(code)
            out.add(code.split(".")[0])
    return out


def facet_values(dataset: Dataset) -> set[tuple[str, str]]:
    rows: set[tuple[str, str]] = set()
    rows |= {("modality", v.upper()) for v in dataset.modalities}
    rows |= {("body_part", v.upper()) for v in dataset.body_parts}
    rows |= {("diagnosis", v) for v in diagnosis_values(dataset.diagnoses)}
    rows |= {("sex", s) for s in dataset.sex_labels}
    rows |= {("duo", v) for v in dataset.duo_terms}
    rows |= {("age", b) for b in age_buckets(dataset.age_min, dataset.age_max)}
    rows.add(("provider", dataset.organisation.slug))
    rows.add(("access_rights", dataset.access_rights))
    return {(f, v[:64]) for f, v in rows if v}


def facet_key(facet: str, value: str) -> str:
    """How a facet value is stored in Dataset.facet_keys."""
    return f"{facet}={value}"


def facet_keys(dataset: Dataset) -> dict[str, bool]:
    """The value of Dataset.facet_keys for the dataset's current fields."""
    return {facet_key(f, v): True for f, v in sorted(facet_values(dataset))}


def age_rows(buckets: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """Every decade bucket in order, with zeros where no dataset covers it."""
    counts = dict(buckets)
    labels = [
        f"{start}-{start + AGE_BUCKET_WIDTH - 1}"
        for start in range(0, AGE_BUCKET_LIMIT, AGE_BUCKET_WIDTH)
    ]
    labels.append(f"{AGE_BUCKET_LIMIT}+")
    return [(label, int(counts.get(label, 0))) for label in labels]
