"""Every read of traces, already filtered for the caller."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from hub import paging
from hub.errors import NotAllowed, NotFound, ValidationFailed
from hub.models import Role
from hub.roles import has_role, is_hub_admin, provider_organisation_ids

from .models import Action, AnchorBatch, Trace, TraceDataset
from .services import pseudonym
from .verification import trace_problem

PSEUDONYM = re.compile(r"^[0-9a-f]{32}$")


def can_explore_traces(user) -> bool:
    """Administrators, providers (their datasets' traces) and trace writers (their own)."""
    if not user or not user.is_authenticated:
        return False
    return (
        is_hub_admin(user)
        or bool(provider_organisation_ids(user))
        or has_role(user, Role.TRACE_WRITER)
    )


def visible_traces(user) -> QuerySet[Trace]:
    """Traces the user may list: all for administrators; for a provider, those concerning
    their organisations' datasets; for a machine account, those it posted."""
    if not can_explore_traces(user):
        raise NotAllowed(
            "Only administrators and the providers of the datasets concerned see traces."
        )
    traces = Trace.objects.select_related("batch")
    if is_hub_admin(user):
        return traces
    seen = Q(pk__in=[])
    organisations = provider_organisation_ids(user)
    if organisations:
        seen |= Q(
            Exists(
                TraceDataset.objects.filter(trace=OuterRef("pk"), organisation_id__in=organisations)
            )
        )
    if has_role(user, Role.TRACE_WRITER):
        seen |= Q(caller=user.get_username())
    return traces.filter(seen)


@dataclass(frozen=True)
class TraceFilters:
    dataset: str = ""
    user: str = ""
    caller: str = ""
    action: str = ""
    details: str = ""
    since: datetime | None = None
    until: datetime | None = None
    batch: int | None = None
    pending: bool | None = None


# Our names, and CHAIMELEON's tracer's for the same filter.
ALIASES = {
    "dataset": ("dataset", "datasetId"),
    "user": ("user", "userId"),
    "caller": ("caller", "callerId"),
    "action": ("action", "userAction"),
    "details": ("details",),
    "since": ("since", "from"),
    "until": ("until", "to"),
    "batch": ("batch",),
    "pending": ("pending",),
}


DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
BATCH_NUMBER = re.compile(r"^[0-9]{1,18}$")
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_FILTER_LENGTH = 200


def _when(name: str, value: str, end_of_day: bool = False) -> datetime:
    """A date (its start, or its end for `until`) or a date-time; naive means UTC."""
    problem = ValidationFailed(
        f"{name} must be a real date (2026-11-22) or date-time (2026-11-22T10:00:00Z).",
        field=name,
    )
    try:
        if DAY.match(value):
            day = parse_date(value)
            moment = datetime.combine(day, time.max if end_of_day else time.min)
        else:
            moment = parse_datetime(value)
        if moment is None:
            raise problem
        # In UTC here: year 1 at +05:00 is out of range, a 400 rather than the database's 500.
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):  # well-formed but impossible: 2026-02-30, 25:00
        raise problem from None


def parse_filters(params) -> TraceFilters:
    """Query parameters to filters; a bad value is a 400 naming the parameter."""
    raw = {}
    for name, spellings in ALIASES.items():
        for spelling in spellings:
            value = (params.get(spelling) or "").strip()
            if len(value) > MAX_FILTER_LENGTH or CONTROL.search(value):
                raise ValidationFailed(
                    f"{spelling} must be at most {MAX_FILTER_LENGTH} printable characters.",
                    field=spelling,
                )
            if value:
                raw[name] = value
                break
    action = raw.get("action", "")
    if action and action not in Action.values:
        raise ValidationFailed(f"action must be one of {', '.join(Action.values)}.", field="action")
    batch = raw.get("batch")
    if batch is not None and not BATCH_NUMBER.match(batch):
        raise ValidationFailed("batch must be a batch number.", field="batch")
    pending = raw.get("pending")
    if pending is not None and pending not in ("true", "false"):
        raise ValidationFailed("pending must be true or false.", field="pending")
    filters = TraceFilters(
        dataset=raw.get("dataset", ""),
        user=raw.get("user", ""),
        caller=raw.get("caller", ""),
        action=action,
        details=raw.get("details", ""),
        since=_when("since", raw["since"]) if "since" in raw else None,
        until=_when("until", raw["until"], end_of_day=True) if "until" in raw else None,
        batch=int(batch) if batch else None,
        pending=None if pending is None else pending == "true",
    )
    if filters.since and filters.until and filters.since > filters.until:
        raise ValidationFailed("since must not be after until.", field="since")
    return filters


def filtered_traces(user, filters: TraceFilters) -> QuerySet[Trace]:
    traces = visible_traces(user)
    if filters.dataset:
        traces = traces.filter(
            Exists(TraceDataset.objects.filter(trace=OuterRef("pk"), dataset_id=filters.dataset))
        )
    if filters.user:
        # A username or a pseudonym; the username is turned into its pseudonym.
        wanted = {pseudonym(filters.user)}
        if PSEUDONYM.match(filters.user):
            wanted.add(filters.user)
        traces = traces.filter(user_pseudonym__in=wanted)
    if filters.caller:
        traces = traces.filter(caller=filters.caller)
    if filters.action:
        traces = traces.filter(action=filters.action)
    if filters.details:
        traces = traces.filter(details=filters.details)
    if filters.since:
        traces = traces.filter(recorded_at__gte=filters.since)
    if filters.until:
        traces = traces.filter(recorded_at__lte=filters.until)
    if filters.batch is not None:
        traces = traces.filter(batch__number=filters.batch)
    if filters.pending is not None:
        traces = (
            traces.filter(batch__isnull=filters.pending)
            if filters.pending
            else traces.filter(batch__status=AnchorBatch.Status.ANCHORED)
        )
    return traces.order_by("-seq")


def _by_uuid(trace_id) -> Trace:
    try:
        key = uuid.UUID(str(trace_id))
    except ValueError:
        raise NotFound("No such trace.") from None
    trace = Trace.objects.select_related("batch__contract").filter(uuid=key).first()
    if trace is None:
        raise NotFound("No such trace.")
    return trace


def trace_for(user, trace_id) -> Trace:
    """One trace, for someone who may list it (404 if unknown, 403 if not theirs)."""
    trace = _by_uuid(trace_id)
    if not visible_traces(user).filter(pk=trace.pk).exists():
        raise NotAllowed("This trace concerns datasets of another organisation.")
    return trace


def trace_for_proof(trace_id) -> Trace:
    """Any trace, for anyone: a trace holds no personal data and its proof is public."""
    return _by_uuid(trace_id)


def tracer_status() -> dict:
    """Counts for /healthz-like summaries and the explorer's header."""
    counts = dict(
        AnchorBatch.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    pending = Trace.objects.filter(batch__isnull=True)
    oldest = pending.order_by("seq").values_list("recorded_at", flat=True).first()
    return {
        "pending_traces": pending.count(),
        "oldest_pending": oldest,
        "batches_anchored": counts.get(AnchorBatch.Status.ANCHORED, 0),
        "batches_waiting": counts.get(AnchorBatch.Status.PREPARED, 0),
    }


def recent_batches(limit: int = 20) -> list[AnchorBatch]:
    return list(AnchorBatch.objects.select_related("contract").order_by("-number")[:limit])


# --- For the HTTP API and the trace explorer (tracer/api, tracer/views) ----------------
# Added after the functions above, which stay as they are: query checking that turns
# every odd value into a 400, paging, who may post, and the local integrity check.

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
FILTER_NAMES = frozenset(spelling for spellings in ALIASES.values() for spelling in spellings)
PAGING_NAMES = frozenset({"page", "page_size"})


def can_post_traces(user) -> bool:
    """Trusted external components only: accounts holding the trace_writer role.

    A hub administrator is not one: whoever records the hub's own actions must not
    also be able to write arbitrary traces in the hub's name.
    """
    return bool(user and user.is_authenticated and has_role(user, Role.TRACE_WRITER))


def trace_state(trace: Trace) -> str:
    """Where the trace stands: "pending" (in no batch yet), "waiting_for_chain" or "anchored"."""
    if trace.batch_id is None:
        return "pending"
    if trace.batch.status == AnchorBatch.Status.ANCHORED:
        return "anchored"
    return "waiting_for_chain"


def locally_intact(trace: Trace) -> bool:
    """The row still hashes to its recorded leaf, and its proof leads to its batch's root.

    No chain call: with the batch's root checked against the chain (verification.
    chain_marks), this is enough to say whether this one trace is verified.
    """
    if trace.batch_id is None:
        return trace.computed_leaf_hash() == trace.leaf_hash
    root = bytes.fromhex(trace.batch.root)
    return not trace_problem(trace, root, trace.batch.size, where="in the hub")


def query_filters(params, *, also_allowed: frozenset[str] = PAGING_NAMES) -> TraceFilters:
    """parse_filters() for a query string from outside: an unknown name is a 400 too."""
    unknown = sorted(set(params.keys()) - FILTER_NAMES - also_allowed)
    if unknown:
        raise ValidationFailed(
            f"Unknown parameter {unknown[0]!r}; the filters are {', '.join(ALIASES)}.",
            field=unknown[0],
        )
    return parse_filters(params)


def query_page(params) -> tuple[int, int]:
    """(page, page size) from ?page= and ?page_size=; a bad value is a 400."""
    return paging.query_page(
        params, default_page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE
    )


@dataclass(frozen=True)
class TracePage:
    traces: list[Trace]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    @property
    def first(self) -> int:
        return (self.page - 1) * self.page_size + 1


def trace_page(user, filters: TraceFilters, *, page: int, page_size: int) -> TracePage:
    """One page of the traces the user may see, newest first, with batch and contract."""
    traces = filtered_traces(user, filters).select_related("batch__contract")
    start = (page - 1) * page_size
    return TracePage(list(traces[start : start + page_size]), traces.count(), page, page_size)


# --- For the explorer's charts -----------------------------------------------------------

CHART_DAYS = 14


def _chart_label(action: str, details: str) -> str:
    """ "release", "use", "create": short enough for a chart's label column."""
    if details:
        return details.lower().removesuffix("_updated")
    return action.lower().removesuffix("_datasets").removesuffix("_dataset")


def counts_by_action(traces: QuerySet[Trace]) -> list[tuple[str, int]]:
    """How many of these traces per action (UPDATE_DATASET by its detail), most first."""
    rows = traces.order_by().values("action", "details").annotate(n=Count("pk"))
    counts: dict[str, int] = {}
    for row in rows:
        label = _chart_label(row["action"], row["details"])
        counts[label] = counts.get(label, 0) + row["n"]
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def counts_by_day(traces: QuerySet[Trace], days: int = CHART_DAYS) -> list[tuple[str, int]]:
    """Traces recorded on each of the last `days` days (UTC), oldest first, zeros included."""
    today = timezone.now().date()
    first = today - timedelta(days=days - 1)
    rows = (
        traces.order_by()
        .filter(recorded_at__date__gte=first)
        .annotate(day=TruncDate("recorded_at"))
        .values("day")
        .annotate(n=Count("pk"))
    )
    counts = {row["day"]: row["n"] for row in rows}
    return [
        ((first + timedelta(days=i)).isoformat(), counts.get(first + timedelta(days=i), 0))
        for i in range(days)
    ]
