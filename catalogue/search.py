"""Parsing and checking search parameters, shared by the API and the web page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.http import QueryDict
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.timezone import is_naive, make_aware

from hub.errors import ValidationFailed

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

    @property
    def is_empty(self) -> bool:
        return not (
            self.text
            or self.filters
            or self.age_min is not None
            or self.age_max is not None
            or self.min_subjects
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
        values = [v.strip() for raw in query.getlist(param) for v in raw.split(",") if v.strip()]
        if not values:
            continue
        if len(values) > MAX_VALUES_PER_FACET:
            raise ValidationFailed(
                f"At most {MAX_VALUES_PER_FACET} values for {param}.", parameter=param
            )
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
    return params
