"""The trace explorer: traces and anchoring batches, each marked against the chain, for
administrators and providers; and one trace with its canonical form and its proof.

Thin, as everywhere: reads go through `selectors`. The chain is asked about each batch
shown at most once (verification.chain_marks, cached briefly); each trace is checked
locally against its batch, so an altered row shows as a mismatch even in a good batch.
Domain errors propagate to hub.errors.DomainErrorMiddleware (403, 404 pages); only a bad
filter is caught, to show the problem in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse

from hub import charts, paging
from hub.errors import ValidationFailed, require

from . import canonical, selectors, services, verification
from .api.serializers import CONTRACT_FUNCTION, SCHEME
from .models import Action, AnchorBatch, Trace, UpdateDetail

RECENT_BATCHES = 10
FORM_FIELDS = ("dataset", "user", "action", "details", "since", "until", "caller", "pending")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
NOT_YOURS = "Only administrators and the providers of the datasets concerned see traces."


@dataclass(frozen=True)
class Mark:
    """What the page says about a trace or a batch, in words (the colour only repeats it)."""

    key: str  # verified | mismatch | unreachable | waiting

    LABELS = {
        "verified": ("verified on chain", "badge--published"),
        "mismatch": ("mismatch", "badge--invalidated"),
        "unreachable": ("chain unreachable", "badge--restricted"),
        "waiting": ("waiting for the chain", "badge--draft"),
    }

    @property
    def label(self) -> str:
        return self.LABELS[self.key][0]

    @property
    def badge(self) -> str:
        return self.LABELS[self.key][1]


@dataclass
class DatasetRef:
    id: str
    url: str = ""


@dataclass
class TraceRow:
    trace: Trace
    mark: Mark
    datasets: list[DatasetRef] = field(default_factory=list)


@dataclass
class BatchRow:
    batch: AnchorBatch
    mark: Mark


def _batch_marks(batches) -> dict[int, str]:
    """Per batch number: the chain's verdict for anchored batches, "waiting" for the others."""
    batches = list(batches)
    anchored = [b for b in batches if b.status == AnchorBatch.Status.ANCHORED]
    marks = verification.chain_marks(services.reading_chain(), anchored) if anchored else {}
    return {b.number: marks.get(b.number, "waiting") for b in batches}


def _trace_mark(trace: Trace, batch_marks: dict[int, str]) -> Mark:
    if not selectors.locally_intact(trace):
        return Mark("mismatch")
    if trace.batch_id is None:
        return Mark("waiting")
    return Mark(batch_marks.get(trace.batch.number, "waiting"))


def _dataset_refs(dataset_ids: list[str]) -> list[DatasetRef]:
    return [
        DatasetRef(d, reverse("catalogue:dataset", args=[d]) if UUID.match(d) else "")
        for d in dataset_ids
    ]


def _form_values(query: QueryDict) -> dict[str, str]:
    """What the filter form shows: our names, filled from CHAIMELEON's spellings too."""
    values = {}
    for name in FORM_FIELDS:
        spellings = selectors.ALIASES[name]
        raw = next((v for s in spellings if (v := (query.get(s) or "").strip())), "")
        values[name] = raw[: selectors.MAX_FILTER_LENGTH]
    return values


def _form_field(parameter: str) -> str:
    return next((n for n, s in selectors.ALIASES.items() if parameter in s), parameter)


def _page_url(request, form: dict[str, str], page_size: int, number: int) -> str:
    query = QueryDict(mutable=True)
    for name, value in form.items():
        if value:
            query[name] = value
    if page_size != selectors.DEFAULT_PAGE_SIZE:
        query["page_size"] = str(page_size)
    if number > 1:
        query["page"] = str(number)
    encoded = query.urlencode()
    return request.path + ("?" + encoded if encoded else "")


def _charts(traces) -> list[charts.Chart]:
    drawn = [
        charts.histogram(
            "chart-days",
            f"Traces recorded per day, last {selectors.CHART_DAYS} days (UTC)",
            selectors.counts_by_day(traces),
            axis_label="Day of the month",
            label_heading="Day",
            tick=lambda day: day[-2:],
        ),
        charts.horizontal_bars(
            "chart-actions",
            "Traces by action",
            selectors.counts_by_action(traces),
            label_heading="Action",
        ),
    ]
    for chart in drawn:
        chart.value_heading = "Traces"
    return drawn


@login_required
def explorer(request: HttpRequest) -> HttpResponse:
    require(selectors.can_explore_traces(request.user), NOT_YOURS)
    form = _form_values(request.GET)
    context = {
        "form": form,
        "actions": Action.values,
        "update_details": UpdateDetail.values,
        "status": selectors.tracer_status(),
        "chain_configured": bool(settings.CHAIN_RPC_URL),
        "clear_url": request.path,
    }
    try:
        filters = selectors.query_filters(request.GET)
        number, size = selectors.query_page(request.GET)
    except ValidationFailed as exc:
        context |= {"error": exc.message, "error_field": _form_field(exc.details.get("field", ""))}
        return render(request, "tracer/explorer.html", context, status=400)
    page = selectors.trace_page(request.user, filters, page=number, page_size=size)
    context["charts"] = _charts(selectors.filtered_traces(request.user, filters))
    recent = selectors.recent_batches(RECENT_BATCHES)
    batches = {b.number: b for b in recent}
    batches |= {t.batch.number: t.batch for t in page.traces if t.batch_id}
    marks = _batch_marks(batches.values())
    context |= {
        "page": page,
        "rows": [
            TraceRow(t, _trace_mark(t, marks), _dataset_refs(t.dataset_ids)) for t in page.traces
        ],
        "last": page.first + len(page.traces) - 1,
        "batches": [BatchRow(b, Mark(marks[b.number])) for b in recent],
        "filtered": any(form.values()),
        "pages": paging.page_links(
            page.page, page.pages, lambda n: _page_url(request, form, page.page_size, n)
        ),
        "previous_url": _page_url(request, form, page.page_size, page.page - 1)
        if page.page > 1
        else "",
        "next_url": _page_url(request, form, page.page_size, page.page + 1)
        if page.page < page.pages
        else "",
    }
    return render(request, "tracer/explorer.html", context)


@login_required
def trace_detail(request: HttpRequest, trace_id) -> HttpResponse:
    trace = selectors.trace_for(request.user, trace_id)
    marks = _batch_marks([trace.batch]) if trace.batch_id else {}
    computed = trace.computed_leaf_hash()
    state = selectors.trace_state(trace)
    context = {
        "trace": trace,
        "mark": _trace_mark(trace, marks),
        "state": state,
        "datasets": _dataset_refs(trace.dataset_ids),
        "canonical": canonical.canonical_bytes(trace.document()).decode(),
        "computed_leaf": computed,
        "leaf_altered": computed != trace.leaf_hash,
        "anchored": state == "anchored",
        "proof_url": reverse("api:trace-proof", args=[str(trace.uuid)]),
        "scheme": SCHEME,
        "contract_function": CONTRACT_FUNCTION,
    }
    return render(request, "tracer/trace_detail.html", context)
