"""Every read of traces, already filtered for the caller."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.dateparse import parse_date, parse_datetime

from hub.errors import NotAllowed, NotFound, ValidationFailed
from hub.models import Role
from hub.roles import has_role, is_hub_admin, provider_organisation_ids

from .models import Action, AnchorBatch, Trace, TraceDataset
from .services import pseudonym

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


def _when(name: str, value: str, end_of_day: bool = False) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValidationFailed(
                f"{name} must be a date (2026-11-22) or a date-time (2026-11-22T10:00:00Z).",
                field=name,
            )
        moment = datetime.combine(day, datetime.max.time() if end_of_day else datetime.min.time())
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_filters(params) -> TraceFilters:
    """Query parameters to filters; a bad value is a 400 naming the parameter."""
    raw = {}
    for name, spellings in ALIASES.items():
        for spelling in spellings:
            value = (params.get(spelling) or "").strip()
            if value:
                raw[name] = value
                break
    action = raw.get("action", "")
    if action and action not in Action.values:
        raise ValidationFailed(f"action must be one of {', '.join(Action.values)}.", field="action")
    batch = raw.get("batch")
    if batch is not None and not batch.isdigit():
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
