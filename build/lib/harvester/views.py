"""The harvester's web pages: the nodes, one node with its settings and runs, and one
run with its per-record report, updating live while it runs.

Thin, as everywhere: reads go through `selectors`, changes through `services`. A node
or a run the user may not see is a 404 (selectors); domain errors propagate to
hub.errors.DomainErrorMiddleware, except a refused form (shown in place) and a harvest
already under way (409, shown as a message). A push token is shown once: it is kept in
the session only until the next page of that node reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import OuterRef, Subquery
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from hub import charts, paging
from hub.errors import Conflict, DomainError, NotFound, ValidationFailed, require
from hub.roles import is_hub_admin, provider_organisation_ids

from . import selectors, services
from .forms import NodeRegisterForm, NodeSettingsForm
from .models import HarvestJob, HarvestRecord, Node

Result = HarvestRecord.Result
Status = HarvestJob.Status
NOT_YOURS = "Only hub administrators and providers see harvesting nodes."
ONLY_ADMINS = "Only hub administrators register nodes."
TOKEN_KEY = "harvester_token"
CHART_RUNS = 30
RECENT_RUNS = 20
RECORDS_PAGE_SIZE = 50
RECORDS_MAX_PAGE_SIZE = 500
POLL_SECONDS = 2

STATUS_BADGES = {
    Status.QUEUED: "badge--draft",
    Status.RUNNING: "badge--restricted",
    Status.SUCCEEDED: "badge--published",
    Status.FAILED: "badge--invalidated",
}
RESULT_BADGES = {
    Result.ADDED: "badge--published",
    Result.UPDATED: "badge--released",
    Result.UNCHANGED: "badge--draft",
    Result.WITHDRAWN: "badge--restricted",
    Result.REJECTED: "badge--invalidated",
}


@dataclass
class NodeRow:
    node: Node
    last_job: HarvestJob | None


def _badged(jobs):
    """The jobs, each with the badge class of its status (the text says it too)."""
    for job in jobs:
        if job is not None:
            job.badge = STATUS_BADGES[job.status]
    return jobs


def _may_see_nodes(user) -> bool:
    return is_hub_admin(user) or bool(provider_organisation_ids(user))


def _last_jobs(nodes) -> list[NodeRow]:
    """Each node with its latest run, in two queries (no selector gives this yet)."""
    latest = HarvestJob.objects.filter(node=OuterRef("pk")).order_by("-created").values("pk")[:1]
    nodes = list(nodes.annotate(last_job_id=Subquery(latest)))
    jobs = HarvestJob.objects.in_bulk([n.last_job_id for n in nodes if n.last_job_id])
    _badged(jobs.values())
    return [NodeRow(n, jobs.get(n.last_job_id)) for n in nodes]


def _keep_token(request: HttpRequest, node: Node, token: str) -> None:
    request.session[TOKEN_KEY] = {"node": str(node.pk), "token": token}


def _pop_token(request: HttpRequest, node: Node) -> str:
    """The token just made for `node`, once: a reload of the page no longer shows it."""
    kept = request.session.get(TOKEN_KEY)
    if not kept or kept.get("node") != str(node.pk):
        return ""
    del request.session[TOKEN_KEY]
    return kept.get("token", "")


def _no_store(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


# -- the nodes ------------------------------------------------------------------------------


@login_required
@require_GET
def node_list(request: HttpRequest) -> HttpResponse:
    require(_may_see_nodes(request.user), NOT_YOURS)
    context = {
        "rows": _last_jobs(selectors.visible_nodes(request.user)),
        "can_register": is_hub_admin(request.user),
    }
    return render(request, "harvester/node_list.html", context)


@login_required
def node_new(request: HttpRequest) -> HttpResponse:
    require(is_hub_admin(request.user), ONLY_ADMINS)
    if request.method != "POST":
        return render(request, "harvester/node_form.html", {"form": NodeRegisterForm()})
    form = NodeRegisterForm(request.POST)
    status = 400
    if form.is_valid():
        try:
            node, token = services.register_node(by=request.user, **form.arguments())
        except DomainError as exc:
            status = form.add_domain_error(exc)
        else:
            _keep_token(request, node, token)
            messages.success(request, f"Node “{node.name}” registered.")
            return redirect(node)
    return render(request, "harvester/node_form.html", {"form": form}, status=status)


# -- one node -------------------------------------------------------------------------------


def _runs_chart(jobs: list[HarvestJob]) -> charts.StackedChart:
    """Finished runs, newest first as given, drawn oldest first."""
    series = [label for _, label in Result.choices]
    rows = [
        (
            f"{job.created:%Y-%m-%d %H:%M} {job.get_kind_display().lower()}"
            + (" (failed)" if job.status == HarvestJob.Status.FAILED else ""),
            [getattr(job, name) for name in Result.values],
        )
        for job in reversed(jobs)
    ]
    # Runs of one day are told apart by their time, others by their date.
    one_day = len({label[:10] for label, _ in rows}) <= 1
    return charts.stacked_bars(
        "chart-runs",
        f"Records by result in the last {len(rows)} run{'s' if len(rows) != 1 else ''}",
        series,
        rows,
        label_heading="Run (UTC)",
        tick=lambda label: label[11:16] if one_day else label[5:10],
        empty=lambda label: "failed" if label.endswith("(failed)") else "0",
    )


def _node_page(request, node: Node, form: NodeSettingsForm, status: int = 200) -> HttpResponse:
    jobs = _badged(selectors.jobs_of_node(node, limit=max(CHART_RUNS, RECENT_RUNS)))
    context = {
        "node": node,
        "form": form,
        "token": _pop_token(request, node),
        "jobs": jobs[:RECENT_RUNS],
        "chart": _runs_chart([job for job in jobs if job.done][:CHART_RUNS]),
    }
    response = render(request, "harvester/node_detail.html", context, status=status)
    return _no_store(response) if context["token"] else response


@login_required
def node_detail(request: HttpRequest, pk) -> HttpResponse:
    """The node's page; a POST saves its settings."""
    node = selectors.get_node(request.user, pk)
    if request.method != "POST":
        return _node_page(request, node, NodeSettingsForm(node=node))
    form = NodeSettingsForm(request.POST, node=node)
    if not form.is_valid():
        return _node_page(request, node, form, status=400)
    changes = form.changes()
    if not changes:
        messages.info(request, "Nothing changed.")
        return redirect(node)
    try:
        services.update_node(node=node, by=request.user, **changes)
    except DomainError as exc:
        node.refresh_from_db()
        return _node_page(request, node, form, status=form.add_domain_error(exc))
    messages.success(request, "Settings saved.")
    return redirect(node)


@login_required
@require_POST
def node_harvest(request: HttpRequest, pk) -> HttpResponse:
    node = selectors.get_node(request.user, pk)
    try:
        job = services.request_harvest(node=node, by=request.user)
    except Conflict as exc:
        messages.warning(request, exc.message)
        return redirect(node)
    messages.success(request, "Harvest queued: this page follows it as it runs.")
    return redirect(job)


@login_required
@require_POST
def node_token(request: HttpRequest, pk) -> HttpResponse:
    node = selectors.get_node(request.user, pk)
    token = services.rotate_push_token(node=node, by=request.user)
    _keep_token(request, node, token)
    messages.success(request, "A new push token was made; the old one no longer works.")
    return redirect(node)


# -- one run --------------------------------------------------------------------------------


def _progress(job: HarvestJob) -> dict:
    return {
        "status": job.status,
        "status_label": job.get_status_display(),
        "done": job.done,
        "pages_done": job.pages_done,
        "records_seen": job.records_seen,
        "total_items": job.total_items,
        "percent": job.progress_percent,
        "counts": job.counts,
    }


def _result_filter(query: QueryDict) -> str:
    result = (query.get("result") or "").strip()
    if result and result not in Result.values:
        raise ValidationFailed(f"result must be one of {', '.join(Result.values)}.", field="result")
    return result


def _records_url(request, result: str, page_size: int, number: int) -> str:
    query = QueryDict(mutable=True)
    if result:
        query["result"] = result
    if page_size != RECORDS_PAGE_SIZE:
        query["page_size"] = str(page_size)
    if number > 1:
        query["page"] = str(number)
    encoded = query.urlencode()
    return request.path + ("?" + encoded if encoded else "") + "#records-heading"


@login_required
@require_GET
def job_detail(request: HttpRequest, pk) -> HttpResponse:
    job = _badged([selectors.get_job(request.user, pk)])[0]
    result = _result_filter(request.GET)
    number, size = paging.query_page(
        request.GET, default_page_size=RECORDS_PAGE_SIZE, max_page_size=RECORDS_MAX_PAGE_SIZE
    )
    records = selectors.job_records(job, result).select_related("dataset")
    total = records.count()
    pages = max(1, -(-total // size))
    first = (number - 1) * size
    shown = list(records[first : first + size])
    for record in shown:
        record.badge = RESULT_BADGES[record.result]
    counts = [(name, label, getattr(job, name)) for name, label in Result.choices]
    svg, parts = charts.proportion_bar(
        "chart-results", "Records by result", [(label, n) for _, label, n in counts]
    )

    def url(n: int) -> str:
        return _records_url(request, result, size, n)

    context = {
        "job": job,
        "node": job.node,
        "counts": counts,
        "results_svg": svg,
        "results_parts": parts,
        "result": result,
        "records": shown,
        "total": total,
        "first": first + 1,
        "last": first + len(shown),
        "page_number": number,
        "pages_count": pages,
        "pages": paging.page_links(number, pages, url),
        "previous_url": url(number - 1) if number > 1 else "",
        "next_url": url(number + 1) if number < pages else "",
        "filter_urls": [
            (name, label, _records_url(request, name, size, 1))
            for name, label in [("", "All results"), *Result.choices]
        ],
        "progress_url": reverse("harvester:job-progress", args=[job.pk]),
        "poll_ms": POLL_SECONDS * 1000,
    }
    response = render(request, "harvester/job_detail.html", context)
    return response if job.done else _no_store(response)


@login_required
@require_GET
def job_progress(request: HttpRequest, pk) -> HttpResponse:
    """What the run's page polls while it runs (same access rule as the page)."""
    try:
        job = selectors.get_job(request.user, pk)
    except NotFound as exc:
        return JsonResponse(exc.as_dict(), status=404)
    return _no_store(JsonResponse(_progress(job)))
