"""Every read of the catalogue, already filtered for the caller."""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import BooleanField, FloatField, Q, QuerySet
from django.db.models.expressions import Expression, RawSQL

from hub.errors import Gone, NotFound
from hub.roles import can_manage_organisation, is_hub_admin, provider_organisation_ids
from hyperontology.duo import DISEASE_SPECIFIC, NO_RESTRICTION, Duo, match_dataset

from .facets import SUBJECT_THRESHOLDS, VALUE_FACETS, age_bucket_order, facet_key
from .models import Dataset, LifecycleEvent, ZenodoSync
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


def pending_doi_sync(dataset: Dataset) -> ZenodoSync | None:
    """The DOI record update still to be made for this dataset, if any."""
    return ZenodoSync.objects.filter(dataset=dataset).first()


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


_DUO_DIGITS = re.compile(r"DUO_([0-9]+)$")


def _spellings(duo: Duo, term_id: str) -> set[str]:
    """How a term may be stored in duo_terms: its id, and the id its IRI spells (NPOA's IRI
    says DUO_00000044), both of which DUO resolves."""
    out = {term_id}
    if digits := _DUO_DIGITS.search(duo.terms[term_id].iri):
        out.add(f"DUO:{digits.group(1)}")
    return out


def _holders(duo: Duo, purpose_term: str) -> list[str]:
    """Every dataset term that could allow the purpose term: itself, its permission
    ancestors, and "no restriction", in each stored spelling."""
    held = {purpose_term, NO_RESTRICTION} | {
        t for t in duo.ancestors(purpose_term) if duo.terms[t].kind == "permission"
    }
    return sorted({s for t in held for s in _spellings(duo, t)})


class _IdIn(Expression):
    """The dataset's id is (or with `negate`, is not) one of `ids`, as one bound parameter
    (an array on PostgreSQL, a JSON array on SQLite) however many ids there are."""

    output_field = BooleanField()

    def __init__(self, ids: list[uuid.UUID], negate: bool = False):
        super().__init__()
        self.ids = ids
        self.negate = negate

    def as_sql(self, compiler, connection):
        table = compiler.quote_name_unless_alias(compiler.query.base_table)
        column = f"{table}.{connection.ops.quote_name('id')}"
        if connection.vendor == "postgresql":
            test = "<> ALL" if self.negate else "= ANY"
            return f"{column} {test}(%s::uuid[])", [self.ids]
        test = "NOT IN" if self.negate else "IN"
        return (
            f"{column} {test} (SELECT value FROM json_each(%s))",
            [json.dumps([i.hex for i in self.ids])],
        )


def _purpose_filter(qs: QuerySet, purpose: list[str], diseases: list[str]) -> QuerySet:
    """Datasets whose DUO terms allow the purpose (match's verdict "match").

    The database first keeps the datasets holding, for each purpose term, a term that could
    allow it (`?|` on the facet keys, GIN-indexed on PostgreSQL); the exact verdict is then
    computed on those candidates' terms and diagnoses only, once per distinct combination,
    and the query narrowed to the matching ids (or away from the failing ones, if fewer).
    """
    duo = Duo.load()
    for term in purpose:
        keys = [facet_key("duo", t) for t in _holders(duo, term)]
        qs = qs.filter(facet_keys__has_any_keys=keys)
    verdicts: dict[tuple, bool] = {}
    keep: list[uuid.UUID] = []
    drop: list[uuid.UUID] = []
    rows = qs.order_by().values_list("pk", "duo_terms", "diagnoses")
    for pk, terms, diagnoses in rows.iterator(chunk_size=2000):
        terms = [str(t) for t in terms or []]
        diagnoses = [str(d) for d in diagnoses or []]
        # Diagnoses count only for disease-specific research, so most datasets share a key.
        seen = (tuple(terms), tuple(diagnoses) if DISEASE_SPECIFIC in terms else ())
        if seen not in verdicts:
            match = match_dataset(terms, diagnoses, purpose, diseases, duo=duo)
            verdicts[seen] = match.verdict == "match"
        (keep if verdicts[seen] else drop).append(pk)
    if len(drop) < len(keep):
        return qs.filter(_IdIn(drop, negate=True)) if drop else qs
    return qs.filter(_IdIn(keep))


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
    if params.purpose:
        qs = _purpose_filter(qs, params.purpose, params.purpose_diseases)
    return qs


# Each key of a JSON object as rows, in each database's own words.
_OBJECT_KEYS = {
    "postgresql": ("jsonb_object_keys(m.facet_keys) AS j(key)", "j.key"),
    "sqlite": ("json_each(m.facet_keys) AS j", "j.key"),
}


def _ordered_for(matching: QuerySet[Dataset], params: SearchParams) -> tuple[QuerySet, tuple]:
    order = SORTS[params.sort]
    if order is not None:
        return matching, order
    if params.text and connection.vendor == "postgresql":
        rank = RawSQL(
            f"ts_rank(catalogue_dataset.search_vector, {TS_QUERY})",
            (params.text,),
            output_field=FloatField(),
        )
        return matching.annotate(rank=rank), ("-rank", "title", "id")
    return matching, ("title", "id")


def _scan_once(matching: QuerySet[Dataset], params: SearchParams) -> list[tuple]:
    """Total, subject thresholds, facet counts and the page's ids from one statement.

    The matches are found once (a materialised CTE built from the ORM's own SQL) and
    read four ways, instead of four queries each finding them again.
    """
    matching, order = _ordered_for(matching.order_by(), params)
    columns = list(
        dict.fromkeys(["id", "facet_keys", "number_of_subjects", *(o.lstrip("-") for o in order)])
    )
    sql, sql_params = matching.values(*columns).query.sql_with_params()
    quote = connection.ops.quote_name
    order_sql = ", ".join(
        f"m.{quote(o.lstrip('-'))} {'DESC' if o.startswith('-') else 'ASC'}" for o in order
    )
    keys_from, key = _OBJECT_KEYS[connection.vendor]
    thresholds = " UNION ALL ".join(
        f"SELECT 's', '{t}', count(*) FROM m WHERE m.number_of_subjects >= {int(t)}"
        for t in SUBJECT_THRESHOLDS
    )
    facets = (
        f"UNION ALL SELECT 'k', {key}, count(*) FROM m, {keys_from} GROUP BY {key} "
        if params.with_facets
        else ""
    )
    statement = (
        f"WITH m AS MATERIALIZED ({sql}) "
        "SELECT 't', '', count(*) FROM m "
        f"UNION ALL {thresholds} "
        f"{facets}"
        "UNION ALL SELECT * FROM ("
        # A UNION keeps no order: each page row carries its position.
        f"SELECT 'p', CAST(m.id AS text), row_number() OVER (ORDER BY {order_sql}) FROM m"
        f" ORDER BY {order_sql} LIMIT %s OFFSET %s) page"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement, (*sql_params, params.page_size, (params.page - 1) * params.page_size)
        )
        return cursor.fetchall()


def search_datasets(user, params: SearchParams) -> SearchResult:
    rows = _scan_once(filtered_datasets(user, params), params)
    total = next(n for kind, _, n in rows if kind == "t")
    page_rows = sorted((n, value) for kind, value, n in rows if kind == "p")
    ids = [uuid.UUID(value) for _, value in page_rows]
    found = Dataset.objects.select_related("organisation").in_bulk(ids) if ids else {}
    page = [found[pk] for pk in ids]
    facets: dict[str, list[FacetCount]] = {}
    if params.with_facets:
        facets = {name: [] for name in VALUE_FACETS}
        for kind, value, n in rows:
            if kind == "k":
                facet, _, facet_value = value.partition("=")
                if facet in facets:
                    facets[facet].append(FacetCount(facet_value, n))
        for facet, counts in facets.items():
            if facet == "age":
                counts.sort(key=lambda c: age_bucket_order(c.value))
            else:
                counts.sort(key=lambda c: (-c.count, c.value))
        thresholds = sorted((int(value), n) for kind, value, n in rows if kind == "s")
        facets["min_subjects"] = [FacetCount(str(t), n, f"≥ {t}") for t, n in thresholds]
    return SearchResult(page, total, params.page, params.page_size, facets)


def organisation_ids_of_datasets(dataset_ids: list[str]) -> dict[str, int]:
    """Each known dataset id (as text) with its organisation's id; unknown ids are left out."""
    valid = []
    for value in dataset_ids:
        try:
            valid.append(uuid.UUID(value))
        except ValueError:
            continue
    rows = Dataset.objects.filter(pk__in=valid).order_by().values_list("pk", "organisation_id")
    return {str(pk): organisation for pk, organisation in rows}
