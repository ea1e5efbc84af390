"""Every read of the catalogue, already filtered for the caller."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import BooleanField, Count, FloatField, Q, QuerySet
from django.db.models.expressions import Expression, RawSQL

from hub.errors import Gone, NotFound
from hub.roles import can_manage_organisation, is_hub_admin, provider_organisation_ids

from .facets import SUBJECT_THRESHOLDS, VALUE_FACETS, age_bucket_order, facet_key
from .models import Dataset, LifecycleEvent
from .search import SORTS, SearchParams

State = Dataset.State


def _visibility(user) -> Q:
    if is_hub_admin(user):
        return ~Q(state=State.INVALIDATED)
    if not user or not user.is_authenticated:
        return Q(state=State.PUBLISHED)
    seen = Q(state__in=[State.RELEASED, State.PUBLISHED])
    own = provider_organisation_ids(user)
    if own:
        seen |= Q(state=State.DRAFT, organisation_id__in=own)
    return seen


def visible_datasets(user) -> QuerySet[Dataset]:
    """Datasets the user may find: never invalidated ones."""
    return Dataset.objects.filter(_visibility(user)).select_related("organisation")


def _could_see_before_invalidation(user, dataset: Dataset) -> bool:
    before = dataset.state_before_invalidation
    if can_manage_organisation(user, dataset.organisation_id):
        return True
    if before == State.PUBLISHED:
        return True
    return before == State.RELEASED and bool(user and user.is_authenticated)


def dataset_for(user, pk) -> Dataset:
    """The dataset if the user may see it; 404 if not; 410 with its tombstone if invalidated."""
    try:
        pk = uuid.UUID(str(pk))
    except ValueError as exc:
        raise NotFound("No such dataset.") from exc
    dataset = (
        Dataset.objects.select_related("organisation", "previous_version").filter(pk=pk).first()
    )
    if dataset is None:
        raise NotFound("No such dataset.")
    if dataset.state == State.INVALIDATED:
        if not _could_see_before_invalidation(user, dataset):
            raise NotFound("No such dataset.")
        raise Gone(
            "This dataset was invalidated.",
            id=str(dataset.pk),
            title=dataset.title,
            reason=dataset.invalidation_reason,
            invalidated_at=dataset.invalidated_at.isoformat() if dataset.invalidated_at else None,
            doi=dataset.doi or None,
            can_reactivate=can_manage_organisation(user, dataset.organisation_id),
        )
    if not visible_datasets(user).filter(pk=pk).exists():
        raise NotFound("No such dataset.")
    return dataset


def dataset_to_manage(user, pk) -> Dataset:
    """For lifecycle actions: also finds invalidated datasets, for those who manage them."""
    try:
        pk = uuid.UUID(str(pk))
    except ValueError as exc:
        raise NotFound("No such dataset.") from exc
    dataset = Dataset.objects.select_related("organisation").filter(pk=pk).first()
    if dataset is None:
        raise NotFound("No such dataset.")
    if dataset.state == State.INVALIDATED and can_manage_organisation(
        user, dataset.organisation_id
    ):
        return dataset
    return dataset_for(user, pk)


def versions_of(user, dataset: Dataset) -> list[Dataset]:
    """The chain of versions this one belongs to, oldest first, as far as the user may see."""
    root = dataset
    seen = {root.pk}
    while root.previous_version_id and root.previous_version_id not in seen:
        root = Dataset.objects.get(pk=root.previous_version_id)
        seen.add(root.pk)
    seen = {root.pk}
    chain, frontier = [root], [root.pk]
    while frontier:
        nxt = list(Dataset.objects.filter(previous_version_id__in=frontier).order_by("created"))
        nxt = [d for d in nxt if d.pk not in seen]
        seen.update(d.pk for d in nxt)
        chain += nxt
        frontier = [d.pk for d in nxt]
    visible = set(
        visible_datasets(user).filter(pk__in=[d.pk for d in chain]).values_list("pk", flat=True)
    )
    return [d for d in chain if d.pk in visible or d.pk == dataset.pk]


def lifecycle_history(dataset: Dataset) -> QuerySet[LifecycleEvent]:
    return dataset.events.select_related("by")


@dataclass
class FacetCount:
    value: str
    count: int
    label: str = ""


@dataclass
class SearchResult:
    datasets: list[Dataset]
    total: int
    page: int
    page_size: int
    facets: dict[str, list[FacetCount]] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.page_size))


TS_QUERY = "websearch_to_tsquery('english', %s)"


class _TextMatch(Expression):
    """search_vector @@ the query, on whatever alias the dataset table has where it is compiled.

    A condition on the table itself (not an id IN subquery), so PostgreSQL can AND the
    text index's bitmap with the facet index's.
    """

    output_field = BooleanField()

    def __init__(self, text: str):
        super().__init__()
        self.text = text

    def as_sql(self, compiler, connection):
        table = compiler.quote_name_unless_alias(compiler.query.base_table)
        return f"{table}.search_vector @@ {TS_QUERY}", [self.text]


def _text_filter(qs: QuerySet, text: str) -> QuerySet:
    if connection.vendor == "postgresql":
        # search_vector is a generated tsvector column with a GIN index (migration 0002).
        return qs.filter(_TextMatch(text))
    for word in text.split():
        qs = qs.filter(
            Q(title__icontains=word) | Q(description__icontains=word) | Q(keywords__icontains=word)
        )
    return qs


def _facet_filter(qs: QuerySet, facet: str, values: list[str]) -> QuerySet:
    # On PostgreSQL `?|` on the GIN-indexed facet_keys (migration 0004).
    return qs.filter(facet_keys__has_any_keys=[facet_key(facet, v) for v in values])


def _by_relevance(qs: QuerySet, text: str) -> QuerySet:
    if connection.vendor != "postgresql":
        return qs.order_by("title", "id")
    rank = RawSQL(
        f"ts_rank(catalogue_dataset.search_vector, {TS_QUERY})", (text,), output_field=FloatField()
    )
    return qs.annotate(rank=rank).order_by("-rank", "title", "id")


def filtered_datasets(user, params: SearchParams) -> QuerySet[Dataset]:
    """The matching datasets, unordered and unpaged."""
    qs = visible_datasets(user)
    if params.text:
        qs = _text_filter(qs, params.text)
    for facet, values in params.filters.items():
        qs = _facet_filter(qs, facet, values)
    if params.age_min is not None:
        qs = qs.filter(age_max__gte=params.age_min)
    if params.age_max is not None:
        qs = qs.filter(age_min__lte=params.age_max)
    if params.min_subjects:
        qs = qs.filter(number_of_subjects__gte=params.min_subjects)
    if params.modified_since:
        qs = qs.filter(modified__gte=params.modified_since)
    return qs


# Each key of a JSON object, one row per key, in each database's own words.
_OBJECT_KEYS = {
    "postgresql": "jsonb_object_keys(m.facet_keys) AS k",
    "sqlite": "json_each(m.facet_keys) AS j",
}
_KEY_COLUMN = {"postgresql": "k", "sqlite": "j.key"}


def _facet_rows(matching: QuerySet[Dataset]) -> list[tuple[str, str, int]]:
    """(facet, value, count) over the matches, reading their own facet_keys once."""
    vendor = connection.vendor
    sql, params = matching.order_by().values("facet_keys").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_KEY_COLUMN[vendor]}, count(*) FROM ({sql}) m, {_OBJECT_KEYS[vendor]}"
            f" GROUP BY {_KEY_COLUMN[vendor]}",
            params,
        )
        return [(*key.split("=", 1), n) for key, n in cursor.fetchall()]


def _counted(matching: QuerySet[Dataset]) -> tuple[int, dict[str, list[FacetCount]]]:
    """The total and the counts per facet value: one aggregate, one grouped query."""
    aggregates = matching.order_by().aggregate(
        total=Count("id"),
        **{f"s{t}": Count("id", filter=Q(number_of_subjects__gte=t)) for t in SUBJECT_THRESHOLDS},
    )
    out: dict[str, list[FacetCount]] = {name: [] for name in VALUE_FACETS}
    if aggregates["total"]:
        for facet, value, n in _facet_rows(matching):
            if facet in out:
                out[facet].append(FacetCount(value, n))
    for facet, counts in out.items():
        if facet == "age":
            counts.sort(key=lambda c: age_bucket_order(c.value))
        else:
            counts.sort(key=lambda c: (-c.count, c.value))
    out["min_subjects"] = [
        FacetCount(str(t), aggregates[f"s{t}"], f"≥ {t}") for t in SUBJECT_THRESHOLDS
    ]
    return aggregates["total"], out


def search_datasets(user, params: SearchParams) -> SearchResult:
    matching = filtered_datasets(user, params)
    order = SORTS[params.sort]
    if order is None:
        ordered = (
            _by_relevance(matching, params.text)
            if params.text
            else matching.order_by("title", "id")
        )
    else:
        ordered = matching.order_by(*order)
    if params.with_facets:
        total, facets = _counted(matching)
    else:
        total, facets = matching.order_by().count(), {}
    start = (params.page - 1) * params.page_size
    page = list(ordered[start : start + params.page_size]) if total else []
    return SearchResult(page, total, params.page, params.page_size, facets)
