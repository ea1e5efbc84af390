"""Parsing and checking search parameters, shared by the API and the web page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.http import QueryDict
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware

from hub.errors import ValidationFailed
from hyperontology.duo import DISEASE_SPECIFIC, Duo, Icd10

from .facets import SEXES
from .models import AccessRights

# Query parameter -> stored facet name; multi-valued (OR within, AND across).
FILTER_PARAMS = {
    "modality": "modality",
    "body_part": "body_part",
    "diagnosis": "diagnosis",
    "sex": "sex",
    "provider": "provider",
    "access_rights": "access_rights",
    "duo": "duo",
}
SORTS = {
    "relevance": None,
    "title": ("title", "id"),
    "-title": ("-title", "-id"),
    "modified": ("modified", "id"),
    "-modified": ("-modified", "-id"),
    "subjects": ("number_of_subjects", "id"),
    "-subjects": ("-number_of_subjects", "-id"),
}
OTHER_PARAMS = {
    "q",
    "age_min",
    "age_max",
    "min_subjects",
    "sort",
    "page",
    "page_size",
    "format",
    "modified_since",
    "facets",
    "purpose",
    "purpose_disease",
}
MAX_QUERY_LENGTH = 200
MAX_VALUES_PER_FACET = 20


@dataclass
class SearchParams:
    text: str = ""
    filters: dict[str, list[str]] = field(default_factory=dict)
    age_min: int | None = None
    age_max: int | None = None
    min_subjects: int | None = None
    sort: str = ""
    page: int = 1
    page_size: int = 20
    modified_since: datetime | None = None
    with_facets: bool = True
    # "Matches my purpose": DUO permission term ids (all must be allowed) and ICD-10 codes of
    # the diseases studied (all must be covered), for disease-specific research.
    purpose: list[str] = field(default_factory=list)
    purpose_diseases: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (
            self.text
            or self.filters
            or self.age_min is not None
            or self.age_max is not None
            or self.min_subjects
            or self.purpose
        )


def _int(query: QueryDict, name: str, low: int, high: int) -> int | None:
    raw = query.get(name, "").strip()
    if raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationFailed(
            f"{name} must be a whole number, not {raw[:40]!r}.", parameter=name
        ) from exc
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must be between {low} and {high}.", parameter=name)
    return value


def _values(query: QueryDict, name: str) -> list[str]:
    """A multi-valued parameter: repeated and/or comma-separated, blanks dropped."""
    values = [v.strip() for raw in query.getlist(name) for v in raw.split(",") if v.strip()]
    if len(values) > MAX_VALUES_PER_FACET:
        raise ValidationFailed(f"At most {MAX_VALUES_PER_FACET} values for {name}.", parameter=name)
    return values


def purpose_choices(duo: Duo | None = None) -> list[tuple[str, str]]:
    """The DUO data-use permission terms a purpose may name: (id, label), by label."""
    duo = duo or Duo.load()
    terms = [t for t in duo.terms.values() if t.kind == "permission" and not t.obsolete]
    return [(t.id, t.label) for t in sorted(terms, key=lambda t: (t.label, t.id))]


def is_disease_specific(term_id: str, duo: Duo | None = None) -> bool:
    """Whether a purpose term is disease-specific research (or under it): the terms that
    `purpose_disease` codes apply to."""
    duo = duo or Duo.load()
    return term_id == DISEASE_SPECIFIC or DISEASE_SPECIFIC in duo.ancestors(term_id)


def parse_purpose(query: QueryDict) -> tuple[list[str], list[str]]:
    """`purpose` as DUO permission term ids and `purpose_disease` as ICD-10 codes.

    `purpose_disease` alone means disease-specific research (DUO:0000007); with `purpose`, one
    of its terms must be disease-specific research (or under it), else the codes would be
    silently ignored by the matching.
    """
    asked, codes = _values(query, "purpose"), _values(query, "purpose_disease")
    if not (asked or codes):
        return [], []
    duo = Duo.load()
    purpose: list[str] = []
    for raw in asked:
        try:
            term = duo.term(raw)
        except ValueError as exc:
            raise ValidationFailed(
                f"purpose: unknown DUO term {raw[:60]!r}; use an id such as DUO:0000042.",
                parameter="purpose",
            ) from exc
        if term.kind != "permission" or term.obsolete:
            allowed = ", ".join(term_id for term_id, _ in purpose_choices(duo))
            raise ValidationFailed(
                f"purpose: {term.id} ({term.label}) is not a data-use permission; "
                f"a purpose is one of {allowed}.",
                parameter="purpose",
            )
        purpose.append(term.id)
    diseases: list[str] = []
    for raw in codes:
        try:
            diseases.append(Icd10.parse(raw).text)
        except ValueError as exc:
            raise ValidationFailed(
                f"purpose_disease: {raw[:60]!r} is not an ICD-10 code, block or chapter "
                "(e.g. C34, C34.1, C30-C39 or II).",
                parameter="purpose_disease",
            ) from exc
    if diseases and not purpose:
        purpose = [DISEASE_SPECIFIC]
    elif diseases and not any(is_disease_specific(t, duo) for t in purpose):
        raise ValidationFailed(
            f"purpose_disease applies to disease-specific research ({DISEASE_SPECIFIC}): "
            f"add purpose={DISEASE_SPECIFIC}, or leave purpose out.",
            parameter="purpose_disease",
        )
    return list(dict.fromkeys(purpose)), list(dict.fromkeys(diseases))


def parse_modified_since(raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        try:
            day = parse_date(raw)
        except ValueError:
            day = None
        if day is None:
            raise ValidationFailed(
                "modified_since must be an ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z.",
                parameter="modified_since",
            )
        value = datetime(day.year, day.month, day.day)
    return make_aware(value) if is_naive(value) else value


def parse_search(
    query: QueryDict, *, default_page_size: int, max_page_size: int, allowed: set[str] = frozenset()
) -> SearchParams:
    """Turn query parameters into SearchParams, or raise ValidationFailed naming the parameter."""
    unknown = set(query.keys()) - set(FILTER_PARAMS) - OTHER_PARAMS - set(allowed)
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(
            f"Unknown parameter or facet {name!r}; facets are {', '.join(FILTER_PARAMS)}.",
            parameter=name,
        )
    params = SearchParams(page_size=default_page_size)
    params.text = query.get("q", "").strip()
    if len(params.text) > MAX_QUERY_LENGTH:
        raise ValidationFailed(f"q must be at most {MAX_QUERY_LENGTH} characters.", parameter="q")
    for param, facet in FILTER_PARAMS.items():
        values = _values(query, param)
        if not values:
            continue
        if facet in ("modality", "body_part", "diagnosis"):
            values = [v.upper() for v in values]
        if facet == "sex" and set(values) - set(SEXES):
            raise ValidationFailed(f"sex must be one of {', '.join(SEXES)}.", parameter="sex")
        if facet == "access_rights" and set(values) - set(AccessRights.values):
            raise ValidationFailed(
                f"access_rights must be one of {', '.join(AccessRights.values)}.",
                parameter="access_rights",
            )
        params.filters[facet] = list(dict.fromkeys(values))
    params.age_min = _int(query, "age_min", 0, 150)
    params.age_max = _int(query, "age_max", 0, 150)
    if (
        params.age_min is not None
        and params.age_max is not None
        and params.age_min > params.age_max
    ):
        raise ValidationFailed("age_min must not be greater than age_max.", parameter="age_min")
    params.min_subjects = _int(query, "min_subjects", 0, 10_000_000)
    params.sort = query.get("sort", "").strip() or ("relevance" if params.text else "title")
    if params.sort not in SORTS:
        raise ValidationFailed(f"sort must be one of {', '.join(SORTS)}.", parameter="sort")
    params.page = _int(query, "page", 1, 1_000_000) or 1
    size = _int(query, "page_size", 1, max_page_size)
    params.page_size = size or default_page_size
    params.modified_since = parse_modified_since(query.get("modified_since", ""))
    params.with_facets = query.get("facets", "1") not in ("0", "false", "no")
    params.purpose, params.purpose_diseases = parse_purpose(query)
    return params
