"""Every read of the catalogue, already filtered for the caller."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Count, FloatField, Q, QuerySet
from django.db.models.expressions import RawSQL

from hub.errors import Gone, NotFound
from hub.roles import can_manage_organisation, is_hub_admin, provider_organisation_ids

from .facets import SUBJECT_THRESHOLDS, VALUE_FACETS, age_bucket_order
from .models import Dataset, DatasetFacet, LifecycleEvent
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


def _text_filter(qs: QuerySet, text: str) -> QuerySet:
    if connection.vendor == "postgresql":
        # search_vector is a generated tsvector column with a GIN index (migration 0002).
        # A self-contained subquery, so the filter also works where this queryset is itself
        # nested (facet counts), whatever alias the outer query gives the table.
        matches = RawSQL(
            f"SELECT id FROM catalogue_dataset WHERE search_vector @@ {TS_QUERY}", (text,)
        )
        return qs.filter(id__in=matches)
    for word in text.split():
        qs = qs.filter(
            Q(title__icontains=word) | Q(description__icontains=word) | Q(keywords__icontains=word)
        )
    return qs


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
        qs = qs.filter(
            id__in=DatasetFacet.objects.filter(facet=facet, value__in=values).values("dataset_id")
        )
    if params.age_min is not None:
        qs = qs.filter(age_max__gte=params.age_min)
    if params.age_max is not None:
        qs = qs.filter(age_min__lte=params.age_max)
    if params.min_subjects:
        qs = qs.filter(number_of_subjects__gte=params.min_subjects)
    if params.modified_since:
        qs = qs.filter(modified__gte=params.modified_since)
    return qs


def facet_counts(matching: QuerySet[Dataset]) -> dict[str, list[FacetCount]]:
    """Counts per facet value over the matching datasets (one grouped query, one aggregate)."""
    rows = (
        DatasetFacet.objects.filter(dataset_id__in=matching.order_by().values("id"))
        .values_list("facet", "value")
        .annotate(n=Count("id"))
    )
    out: dict[str, list[FacetCount]] = {name: [] for name in VALUE_FACETS}
    for facet, value, n in rows:
        if facet in out:
            out[facet].append(FacetCount(value, n))
    for facet, counts in out.items():
        if facet == "age":
            counts.sort(key=lambda c: age_bucket_order(c.value))
        else:
            counts.sort(key=lambda c: (-c.count, c.value))
    aggregates = matching.order_by().aggregate(
        **{f"s{t}": Count("id", filter=Q(number_of_subjects__gte=t)) for t in SUBJECT_THRESHOLDS}
    )
    out["min_subjects"] = [
        FacetCount(str(t), aggregates[f"s{t}"], f"≥ {t}") for t in SUBJECT_THRESHOLDS
    ]
    return out


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
    total = matching.order_by().count()
    start = (params.page - 1) * params.page_size
    page = list(ordered[start : start + params.page_size])
    facets = facet_counts(matching) if params.with_facets else {}
    return SearchResult(page, total, params.page, params.page_size, facets)
