"""Every state change of the harvester: nodes, runs, and what a run does to the catalogue.

A run (pull or push) first stages one HarvestRecord per record it saw, reading nothing but
its own node's previous state; only at its end are the staged records applied to the
catalogue, in one transaction per node. A run that fails before that leaves the catalogue
exactly as it was, and no run ever touches another node's records.
"""

from __future__ import annotations

import json
import logging
import pickle
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from rdflib import Graph

from catalogue import services as catalogue
from hub.errors import Conflict, DomainError, PayloadTooLarge, ValidationFailed, require
from hub.models import Organisation
from hub.roles import can_manage_organisation, is_hub_admin
from hyperontology import miabis_to_dcat
from hyperontology.mappings import Mappings
from tracer.models import Action as TraceAction
from tracer.services import hash_resource, metadata_hash
from tracer.services import record as record_trace

from . import fetch, staging
from .models import HarvestJob, HarvestRecord, Node, NodePage, SourceRecord
from .rdf import RdfError, parse_rdf

log = logging.getLogger(__name__)
Result = HarvestRecord.Result
Status = HarvestJob.Status
TRACE_CALLER = "hub.harvester"
MAX_DATASETS_PER_TRACE = 1000
STILL_REJECTED = " (unchanged since it was rejected)"
# Progress is written at most every FLUSH_SECONDS; staged records go to the run's spool
# file SPOOL_ROWS at a time.
FLUSH_SECONDS = 1.0
SPOOL_ROWS = 1000
# A queued or running job older than the total time limit plus this is taken as lost.
LOST_AFTER_SECONDS = 600


# -- nodes --------------------------------------------------------------------------------


def register_node(
    *,
    by,
    organisation: Organisation,
    name: str,
    base_url: str = "",
    mode: str = Node.Mode.PULL,
    schedule_minutes: int = 1440,
    auto_release: bool = False,
    mappings: dict | None = None,
) -> tuple[Node, str]:
    """A new node of `organisation` and its push token (shown once; only its hash is kept)."""
    require(is_hub_admin(by), "Only hub administrators register nodes.")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("name is required.", field="name")
    if mode not in Node.Mode.values:
        raise ValidationFailed(f"mode must be one of {', '.join(Node.Mode.values)}.", field="mode")
    base_url = (base_url or "").strip()
    if mode != Node.Mode.PUSH and not base_url:
        raise ValidationFailed("base_url is required for a node the hub pulls.", field="base_url")
    if base_url:
        check_node_url(base_url)
    node = Node(
        organisation=organisation,
        name=name,
        base_url=base_url,
        mode=mode,
        schedule_minutes=schedule_minutes,
        auto_release=auto_release,
        mappings=clean_mappings(mappings or {}),
    )
    token = node.new_push_token()
    if node.pulls and schedule_minutes:
        node.next_harvest_at = timezone.now()
    node.save()
    return node, token


def check_node_url(url: str) -> None:
    """400 naming the problem for a URL the hub must not fetch."""
    try:
        fetch.check_url(url, allowed_hosts())
        if not settings.HARVEST_ALLOW_INTERNAL_ADDRESSES:
            fetch.check_address(url, allowed_hosts())
    except fetch.FetchError as exc:
        raise ValidationFailed(str(exc), field="base_url") from exc


def allowed_hosts() -> frozenset[str] | None:
    return frozenset(settings.HARVEST_ALLOWED_HOSTS) if settings.HARVEST_ALLOWED_HOSTS else None


def clean_mappings(value) -> dict:
    """The provider's own labels, checked the way a run will use them (400 naming the fault)."""
    try:
        Mappings.default().with_extension(value)
    except ValueError as exc:
        raise ValidationFailed(str(exc), field="mappings") from exc
    return {kind: dict(labels) for kind, labels in value.items()}


def update_node(*, node: Node, by, **changes) -> Node:
    """Providers of the node's organisation may change its schedule, mappings and release."""
    require(
        can_manage_organisation(by, node.organisation_id),
        "Only providers of this organisation can change its nodes.",
    )
    allowed = {"schedule_minutes", "auto_release", "mappings", "enabled", "base_url", "mode"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"Unknown field(s): {', '.join(sorted(unknown))}.")
    # Where the hub sends requests is the administrators' decision, as at registration.
    require(
        is_hub_admin(by) or not {"base_url", "mode"} & set(changes),
        "Only hub administrators change a node's URL or mode.",
    )
    if "mode" in changes and changes["mode"] not in Node.Mode.values:
        raise ValidationFailed(f"mode must be one of {', '.join(Node.Mode.values)}.", field="mode")
    if "mappings" in changes:
        changes["mappings"] = clean_mappings(changes["mappings"])
    if changes.get("base_url"):
        check_node_url(changes["base_url"])
    for name, value in changes.items():
        setattr(node, name, value)
    node.save()
    return node


def rotate_push_token(*, node: Node, by) -> str:
    require(
        can_manage_organisation(by, node.organisation_id),
        "Only providers of this organisation can renew its node token.",
    )
    token = node.new_push_token()
    node.save(update_fields=["push_token_hash", "push_token_prefix"])
    return token


# -- starting runs ------------------------------------------------------------------------


def request_harvest(*, node: Node, by, requested_by: str = "") -> HarvestJob:
    """Queue a pull of `node` (409 while one is queued or running)."""
    if by is not None:
        require(
            can_manage_organisation(by, node.organisation_id),
            "Only providers of this organisation (or hub administrators) can harvest its node.",
        )
    if not node.pulls:
        raise Conflict("This node only pushes; the hub has nothing to pull.")
    with transaction.atomic():
        node = Node.objects.select_for_update().get(pk=node.pk)
        _fail_lost_jobs(node)
        running = node.jobs.filter(
            kind=HarvestJob.Kind.PULL, status__in=[Status.QUEUED, Status.RUNNING]
        )
        current = running.first()
        if current is not None:
            raise Conflict(
                f"A harvest of this node is already {current.status}.", job=str(current.pk)
            )
        job = HarvestJob.objects.create(
            node=node, requested_by=requested_by or getattr(by, "username", "") or "schedule"
        )
        transaction.on_commit(lambda: _queue(job))
    return job


def _queue(job: HarvestJob) -> None:
    from .tasks import harvest_node

    try:
        harvest_node.delay(str(job.pk))
    except Exception as exc:  # the broker down must not leave a job queued for ever
        log.warning("could not queue harvest job=%s: %s", job.pk, exc)
        _fail(job, f"Could not queue the harvest (the task broker did not answer: {exc}).")


def _fail_lost_jobs(node: Node) -> None:
    """A run longer than the time limit allows is lost (a worker killed, a task dropped):
    fail it so the node can be harvested again."""
    limit = timedelta(seconds=settings.HARVEST_TOTAL_TIMEOUT_SECONDS + LOST_AFTER_SECONDS)
    lost = node.jobs.filter(
        status__in=[Status.QUEUED, Status.RUNNING], created__lt=timezone.now() - limit
    )
    for job in lost:
        _fail(job, "Lost: the run did not finish within the harvest time limit.")


def queue_due_harvests(now=None) -> list[HarvestJob]:
    """Queue a pull of every node whose schedule has come (the periodic task)."""
    now = now or timezone.now()
    jobs = []
    due = Node.objects.filter(
        enabled=True, schedule_minutes__gt=0, next_harvest_at__lte=now
    ).exclude(mode=Node.Mode.PUSH)
    for node in due:
        Node.objects.filter(pk=node.pk).update(
            next_harvest_at=now + timedelta(minutes=node.schedule_minutes)
        )
        try:
            jobs.append(request_harvest(node=node, by=None, requested_by="schedule"))
        except Conflict:
            continue  # still running from last time: the next slot will catch up
    return jobs


# -- running a pull -----------------------------------------------------------------------


@dataclass
class _Known:
    content_hash: str
    accepted: bool
    problems: list[str]
    dataset_id: object
    identifier: str


@dataclass(slots=True)
class _Staged:
    """One record's outcome, kept in the run's spool until the run is applied."""

    iri: str
    identifier: str
    result: str
    content_hash: str = ""
    reason: str = ""
    violations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dataset_id: object = None
    payload: dict | None = None  # catalogue fields and N-Triples of an accepted record
    # Same content hash as last time: counted, never written (no validation, no write).
    silent: bool = False

    def row(self, job: HarvestJob) -> HarvestRecord:
        return HarvestRecord(
            job=job,
            iri=self.iri,
            identifier=self.identifier,
            result=self.result,
            reason=self.reason,
            violations=self.violations,
            warnings=self.warnings,
            content_hash=self.content_hash,
            dataset_id=self.dataset_id,
        )


class _Run:
    """Stages the records of one run in a spool file; nothing here writes to the catalogue
    or stores a record: the catalogue sees the run only when it is applied, whole."""

    def __init__(self, job: HarvestJob) -> None:
        self.job = job
        self.node = job.node
        self.mappings = Mappings.default().with_extension(self.node.mappings or {})
        self.known = _known_records(self.node)
        self.known_hashes = {iri: k.content_hash for iri, k in self.known.items()}
        self.seen: set[str] = set()
        self.counts = {r: 0 for r in Result.values}
        self.catalogue_findings: list[str] = []
        self.buffer: list[_Staged] = []
        self.spool = tempfile.TemporaryFile(prefix="agora-harvest-")
        self.flushed_at = time.monotonic()

    def stage_graph(self, graph: Graph) -> list[str]:
        """Stage a page read here; returns the IRIs of the records it lists."""
        return self.take(staging.stage_page(graph, self.mappings, self.known_hashes))

    def take(self, page: staging.PageResult) -> list[str]:
        """Stage a page's outcomes (read here or in a worker); returns the IRIs it lists."""
        self.catalogue_findings += page.catalogue_findings
        staged = []
        for outcome in page.outcomes:
            if outcome.iri in self.seen:
                continue  # listed twice (on two pages): the first one counts
            self.seen.add(outcome.iri)
            before = self.known.get(outcome.iri)
            if outcome.unchanged and before is not None:
                staged.append(self._unchanged(outcome.iri, outcome.identifier, before))
            else:
                staged.append(self._checked(outcome, before))
        self._save(staged)
        return [outcome.iri for outcome in page.outcomes]

    def stage_unchanged(self, iris: list[str]) -> list[str]:
        """The records of a page the node says has not changed (HTTP 304)."""
        staged = []
        for iri in iris:
            before = self.known.get(iri)
            if iri in self.seen or before is None:
                continue
            self.seen.add(iri)
            staged.append(self._unchanged(iri, before.identifier, before))
        self._save(staged)
        return iris

    def _unchanged(self, iri: str, identifier: str, before: _Known) -> _Staged:
        if before.accepted:
            return _Staged(
                iri,
                identifier,
                Result.UNCHANGED,
                before.content_hash,
                dataset_id=before.dataset_id,
                silent=True,
            )
        return _Staged(
            iri,
            identifier,
            Result.REJECTED,
            before.content_hash,
            reason=_reason(before.problems) + STILL_REJECTED,
            violations=before.problems,
        )

    def _checked(self, outcome: staging.Outcome, before: _Known | None) -> _Staged:
        staged = _Staged(
            outcome.iri,
            outcome.identifier,
            Result.REJECTED,
            outcome.content_hash,
            warnings=outcome.warnings,
        )
        if not outcome.accepted:
            staged.violations = outcome.violations
            staged.reason = _reason(outcome.violations)
        else:
            staged.result = Result.UPDATED if before and before.dataset_id else Result.ADDED
            staged.dataset_id = before.dataset_id if before else None
            staged.payload = outcome.payload
        return staged

    def _save(self, staged: list[_Staged]) -> None:
        self.buffer += staged
        for row in staged:
            self.counts[row.result] += 1
        if len(self.buffer) >= SPOOL_ROWS:
            self._spill()

    def _spill(self) -> None:
        if self.buffer:
            pickle.dump(self.buffer, self.spool, protocol=pickle.HIGHEST_PROTOCOL)
            self.buffer = []

    def progress(self, force: bool = False) -> None:
        """Show how far the run is, without a commit per page (SQLite syncs each one)."""
        if not force and time.monotonic() - self.flushed_at < FLUSH_SECONDS:
            return
        self.flushed_at = time.monotonic()
        job = self.job
        job.records_seen = len(self.seen)
        HarvestJob.objects.filter(pk=job.pk).update(
            records_seen=job.records_seen,
            pages_done=job.pages_done,
            pages_not_modified=job.pages_not_modified,
            total_items=job.total_items,
            **self.counts,
        )

    def batches(self) -> Iterator[list[_Staged]]:
        """Everything staged, in the order it was seen; the spool is closed after."""
        self._spill()
        self.spool.seek(0)
        try:
            while True:
                try:
                    yield pickle.load(self.spool)  # noqa: S301 (this run's own file)
                except EOFError:
                    return
        finally:
            self.spool.close()


def run_pull(job_id, on_page: Callable[[HarvestJob], None] | None = None) -> HarvestJob:
    """Fetch every page of the node's catalogue, stage, then apply (the Celery task's body).

    `on_page` is called with the job after each page (the command line shows progress).
    """
    job = _start(job_id)
    if job is None:
        return HarvestJob.objects.get(pk=job_id)
    node = job.node
    run = _Run(job)
    last_pages = list(node.pages.all())
    cache = {
        page.url: fetch.CachedPage(page.etag, page.last_modified, page.next_url or None)
        for page in last_pages
    }
    page_iris = {page.url: page.record_iris for page in last_pages}
    # A node answering 304 everywhere says nothing of its size: the last run's count stands.
    previous = node.jobs.filter(kind=HarvestJob.Kind.PULL, status=Status.SUCCEEDED).first()
    job.total_items = previous.total_items if previous else None
    seen_pages: list[NodePage] = []
    queue: deque[tuple[fetch.Page, Future | None]] = deque()
    pool: staging.PagePool | None = None

    def finish_page(page: fetch.Page, future: Future | None) -> None:
        if page.not_modified:
            iris = run.stage_unchanged(page_iris.get(page.url, []))
        elif future is not None:
            iris = run.take(future.result())
        else:
            iris = run.stage_graph(page.graph)
        seen_pages.append(
            NodePage(
                node=node,
                url=page.url,
                etag=page.etag,
                last_modified=page.last_modified,
                next_url=page.next_url or "",
                record_iris=iris,
            )
        )
        job.pages_done = len(seen_pages)
        job.pages_not_modified += 1 if page.not_modified else 0
        job.records_seen = len(run.seen)
        run.progress()
        if on_page is not None:
            on_page(job)

    try:
        for page in fetch.fetch_pages(
            node.base_url,
            limits=_limits(),
            allowed_hosts=allowed_hosts(),
            cache=cache,
            block_internal=not settings.HARVEST_ALLOW_INTERNAL_ADDRESSES,
        ):
            if page.total_items is not None:
                job.total_items = page.total_items
            if pool is None and _worth_processes(page):
                pool = staging.PagePool(
                    settings.HARVEST_WORKER_PROCESSES, node.mappings or {}, run.known_hashes
                )
            future = None
            if pool is not None and not page.not_modified:
                future = pool.submit(page.body, page.content_type, page.base)
            queue.append((page, future))
            # Pages are finished in order; ahead of that, workers read the next ones.
            while queue and (
                queue[0][1] is None
                or queue[0][1].done()
                or (pool is not None and len(queue) > pool.in_flight)
            ):
                finish_page(*queue.popleft())
        while queue:
            finish_page(*queue.popleft())
        run.progress(force=True)
    except fetch.FetchError as exc:
        return _fail(job, str(exc))
    except RdfError as exc:  # a worker could not read a page fetch_pages let through
        return _fail(job, str(exc))
    except Exception as exc:  # a bug must fail this node's run, never the worker or others
        log.exception("harvest failed node=%s job=%s", node.pk, job.pk)
        return _fail(job, f"Internal error while harvesting: {type(exc).__name__}: {exc}")
    finally:
        if pool is not None:
            pool.close()
    return _apply(job, run, complete=True, pages=seen_pages)


def _worth_processes(page: fetch.Page) -> bool:
    """Worker processes pay off for big catalogues only (each takes a second to start)."""
    return (
        settings.HARVEST_WORKER_PROCESSES > 1
        and (page.total_items or 0) >= settings.HARVEST_PARALLEL_MIN_RECORDS
        and staging.can_use_processes()
    )


# -- receiving a push ---------------------------------------------------------------------

MIABIS_TYPES = ("application/vnd.miabis+json", "application/x-miabis+json")


def receive_push(*, node: Node, body: bytes, content_type: str) -> HarvestJob:
    """Validate and apply what a node pushed; the job is the per-record report it gets back.

    RDF in any serialisation (by Content-Type) or MIABIS collections as JSON (a list, or an
    object with "collections"). A push is not the node's whole catalogue: nothing is
    withdrawn by it.
    """
    if not node.accepts_push:
        raise Conflict("This node is registered for pull only; the hub does not take pushes.")
    if len(body) > settings.HARVEST_PUSH_MAX_BYTES:
        raise PayloadTooLarge(
            f"The body is larger than {settings.HARVEST_PUSH_MAX_BYTES} bytes; push in parts."
        )
    if not body.strip():
        raise ValidationFailed("The body is empty.")
    graph = _pushed_graph(node, body, content_type)
    job = HarvestJob.objects.create(
        node=node,
        kind=HarvestJob.Kind.PUSH,
        status=Status.RUNNING,
        started=timezone.now(),
        requested_by="node",
        pages_done=1,
    )
    run = _Run(job)
    try:
        run.stage_graph(graph)
    except Exception as exc:
        log.exception("push failed node=%s job=%s", node.pk, job.pk)
        return _fail(job, f"Internal error while reading the push: {type(exc).__name__}: {exc}")
    return _apply(job, run, complete=False, pages=None)


def _pushed_graph(node: Node, body: bytes, content_type: str) -> Graph:
    media = (content_type or "").split(";")[0].strip().lower()
    if media in MIABIS_TYPES or (media == "application/json" and _looks_like_miabis(body)):
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValidationFailed(f"The body is not valid JSON: {exc}.") from exc
        collections = document.get("collections") if isinstance(document, dict) else document
        if not isinstance(collections, list):
            raise ValidationFailed(
                "MIABIS JSON must be a list of collections (or an object with a "
                '"collections" list).'
            )
        try:
            mappings = Mappings.default().with_extension(node.mappings or {})
            return miabis_to_dcat(collections, base=_push_base(node), mappings=mappings)
        except ValueError as exc:
            raise ValidationFailed(f"MIABIS: {exc}") from exc
    try:
        return parse_rdf(body, content_type, base=_push_base(node))
    except RdfError as exc:
        raise ValidationFailed(str(exc)) from exc


def _looks_like_miabis(body: bytes) -> bool:
    """JSON without "@context" or "@id" is MIABIS, not JSON-LD."""
    head = body[:4096]
    return b"@context" not in head and b'"@id"' not in head and b'"@graph"' not in head


def _push_base(node: Node) -> str:
    return node.base_url or f"{settings.SITE_URL}/nodes/{node.pk}/"


# -- applying a run -----------------------------------------------------------------------


def _start(job_id) -> HarvestJob | None:
    """Mark the job running; None if it already finished (a redelivered task)."""
    with transaction.atomic():
        job = HarvestJob.objects.select_for_update().select_related("node").get(pk=job_id)
        if job.done:
            return None
        # A worker that died mid-run left staged rows: start again from nothing.
        job.records.all().delete()
        job.status = Status.RUNNING
        job.started = timezone.now()
        job.pages_done = job.pages_not_modified = job.records_seen = 0
        job.save()
    return job


def _fail(job: HarvestJob, error: str) -> HarvestJob:
    """Nothing of the run reaches the catalogue; the node's previous data stay as they were."""
    with transaction.atomic():
        job.records.all().delete()
        job.status = Status.FAILED
        job.error = error[:4000]
        job.finished = timezone.now()
        for name in Result.values:
            setattr(job, name, 0)
        job.save()
    log.warning("harvest failed node=%s job=%s error=%s", job.node_id, job.pk, error[:200])
    return job


def _apply(
    job: HarvestJob, run: _Run, *, complete: bool, pages: list[NodePage] | None
) -> HarvestJob:
    node = job.node
    try:
        with transaction.atomic():
            Node.objects.select_for_update().get(pk=node.pk)  # one run applies at a time
            memory = _Memory(node)
            changed_datasets: list[str] = []
            for batch in run.batches():
                _apply_batch(job, node, batch, memory, changed_datasets)
            if complete:
                for source in memory.not_seen(run.seen, since=job.started):
                    _withdraw(job, source, changed_datasets)
                node.pages.all().delete()
                NodePage.objects.bulk_create(pages or [], batch_size=200)
            memory.save()
            _finish(job, run, changed_datasets, silent=memory.silent)
    except Exception as exc:
        log.exception("applying harvest failed node=%s job=%s", node.pk, job.pk)
        return _fail(job, f"Could not store the run: {type(exc).__name__}: {exc}")
    return job


def _apply_batch(
    job: HarvestJob, node: Node, batch: list[_Staged], memory: _Memory, changed: list[str]
) -> None:
    """One spool batch into the catalogue, then its per-record results in one INSERT."""
    accepted = [s for s in batch if s.payload is not None]
    if accepted:
        new = [s for s in accepted if memory.dataset_id(s.iri) is None]
        _add_records(node, new, memory, changed)
        for staged in accepted:
            if staged.payload is not None:  # not handled as new
                _apply_record(node, staged, memory, changed)
    for staged in batch:
        if staged.result == Result.REJECTED and staged.iri not in memory.refusals:
            if staged.violations and not staged.reason.endswith(STILL_REJECTED):
                # Not validated again while unchanged; the dataset it fed before (if any)
                # keeps its last accepted content.
                memory.remember(staged, accepted=False)
    HarvestRecord.objects.bulk_create([s.row(job) for s in batch if not s.silent], batch_size=1000)
    memory.silent += sum(1 for s in batch if s.silent)


def _add_records(node: Node, new: list[_Staged], memory: _Memory, changed: list[str]) -> None:
    """Records the hub has never seen, created in bulk."""
    if not new:
        return
    outcomes = catalogue.create_harvested_datasets(
        organisation=node.organisation,
        records=[
            s.payload["fields"] | {"normalised_rdf": s.payload["normalised_rdf"]} for s in new
        ],
        source=node.source_label,
        auto_release=node.auto_release,
    )
    for staged, outcome in zip(new, outcomes, strict=True):
        staged.payload = None
        if isinstance(outcome, DomainError):
            _refuse(staged, outcome, memory)
            continue
        changed.append(str(outcome.pk))
        staged.result, staged.dataset_id = Result.ADDED, outcome.pk
        memory.remember(staged, accepted=True, dataset_id=outcome.pk)


def _apply_record(node: Node, staged: _Staged, memory: _Memory, changed: list[str]) -> None:
    payload, staged.payload = staged.payload, None
    try:
        with transaction.atomic():
            dataset, result = catalogue.apply_harvested_record(
                organisation=node.organisation,
                dataset_id=memory.dataset_id(staged.iri),
                fields=payload["fields"] | {"normalised_rdf": payload["normalised_rdf"]},
                source=node.source_label,
                auto_release=node.auto_release,
            )
    except DomainError as exc:
        _refuse(staged, exc, memory)
        return
    if result != "unchanged":
        changed.append(str(dataset.pk))
    staged.result = {"added": Result.ADDED, "updated": Result.UPDATED}.get(result, Result.UNCHANGED)
    staged.dataset_id = dataset.pk
    memory.remember(staged, accepted=True, dataset_id=dataset.pk)


def _refuse(staged: _Staged, error: DomainError, memory: _Memory) -> None:
    staged.result, staged.reason = Result.REJECTED, error.message
    staged.violations = [error.message]
    memory.refused(staged.iri)


class _Memory:
    """The node's SourceRecords as the run leaves them, written in bulk at its end; read
    only if the run has something to remember (an unchanged run reads none)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._rows: dict[str, SourceRecord] | None = None
        self.touched: set[str] = set()
        self.refusals: set[str] = set()
        self.silent = 0  # records unchanged since the last run, counted but not written

    @property
    def rows(self) -> dict[str, SourceRecord]:
        if self._rows is None:
            self._rows = {r.iri: r for r in SourceRecord.objects.filter(node=self.node)}
        return self._rows

    def dataset_id(self, iri: str):
        source = self.rows.get(iri)
        return source.dataset_id if source is not None else None

    def remember(self, staged: _Staged, *, accepted: bool, dataset_id=None) -> None:
        """What the next run compares with: the record's hash, verdict and dataset."""
        source = self.rows.get(staged.iri) or SourceRecord(node=self.node, iri=staged.iri)
        source.identifier = staged.identifier
        source.content_hash = staged.content_hash
        source.accepted = accepted
        source.problems = [] if accepted else staged.violations
        if dataset_id is not None:
            source.dataset_id = dataset_id
        source.withdrawn = False
        source.last_seen = timezone.now()
        self.rows[staged.iri] = source
        self.touched.add(staged.iri)

    def refused(self, iri: str) -> None:
        """The catalogue refused a valid record (its dataset invalidated on the hub, say):
        forget its hash so the next run tries again, and keep no verdict."""
        self.refusals.add(iri)
        source = self.rows.get(iri)
        if source is not None:
            source.content_hash = ""
            self.touched.add(iri)

    def not_seen(self, seen: set[str], since) -> list[SourceRecord]:
        """Records the run did not list, and no push brought in while it ran."""
        live = SourceRecord.objects.filter(node=self.node, withdrawn=False).filter(
            Q(last_seen__isnull=True) | Q(last_seen__lt=since)
        )
        missing = [pk for pk, iri in live.values_list("pk", "iri") if iri not in seen]
        return list(SourceRecord.objects.filter(pk__in=missing)) if missing else []

    def save(self) -> None:
        if self._rows is None:
            return
        rows = [self._rows[iri] for iri in self.touched]
        new = [r for r in rows if r.pk is None]
        known = [r for r in rows if r.pk is not None]
        SourceRecord.objects.bulk_create(new, batch_size=500)
        SourceRecord.objects.bulk_update(
            known,
            [
                "identifier",
                "content_hash",
                "accepted",
                "problems",
                "dataset",
                "withdrawn",
                "last_seen",
            ],
            batch_size=500,
        )


def _withdraw(job: HarvestJob, source: SourceRecord, changed: list[str]) -> None:
    if source.dataset is not None:
        for version in catalogue.withdraw_harvested_dataset(dataset=source.dataset):
            changed.append(str(version.pk))
    source.withdrawn = True
    source.save(update_fields=["withdrawn"])
    HarvestRecord.objects.create(
        job=job,
        iri=source.iri,
        identifier=source.identifier,
        result=Result.WITHDRAWN,
        reason=catalogue.WITHDRAWN_AT_SOURCE,
        dataset=source.dataset,
    )


def _finish(job: HarvestJob, run: _Run, changed: list[str], silent: int = 0) -> None:
    counts = {
        row["result"]: row["n"]
        for row in job.records.values("result").annotate(n=models.Count("id"))
    }
    counts[Result.UNCHANGED] = counts.get(Result.UNCHANGED, 0) + silent
    for name in Result.values:
        setattr(job, name, counts.get(name, 0))
    job.status = Status.SUCCEEDED
    job.finished = timezone.now()
    job.records_seen = len(run.seen)
    job.catalogue_findings = sorted(set(run.catalogue_findings))[:200]
    job.save()
    _trace(job, changed)


def _trace(job: HarvestJob, changed: list[str]) -> None:
    """The run itself, with the datasets it changed (their own lifecycle traces say how)."""
    report = metadata_hash({"job": str(job.pk), "counts": job.counts, "datasets": sorted(changed)})
    ids = list(dict.fromkeys(changed)) or [""]
    for start in range(0, len(ids), MAX_DATASETS_PER_TRACE):
        record_trace(
            action=TraceAction.HARVEST,
            caller=TRACE_CALLER,
            dataset_ids=[i for i in ids[start : start + MAX_DATASETS_PER_TRACE] if i],
            details=job.kind.upper(),
            resources=[hash_resource("report", report)],
            subject_id=str(job.pk),
        )


# -- small helpers ------------------------------------------------------------------------


def _known_records(node: Node) -> dict[str, _Known]:
    rows = SourceRecord.objects.filter(node=node).values_list(
        "iri", "content_hash", "accepted", "problems", "dataset_id", "identifier", "withdrawn"
    )
    # A withdrawn record that comes back is taken in again, even unchanged.
    return {
        iri: _Known("" if withdrawn else digest, accepted, problems, dataset_id, identifier)
        for iri, digest, accepted, problems, dataset_id, identifier, withdrawn in rows
    }


def _limits() -> fetch.Limits:
    return fetch.Limits(
        max_page_bytes=settings.HARVEST_MAX_PAGE_BYTES,
        request_timeout=settings.HARVEST_REQUEST_TIMEOUT_SECONDS,
        total_timeout=settings.HARVEST_TOTAL_TIMEOUT_SECONDS,
        max_pages=settings.HARVEST_MAX_PAGES,
    )


def _reason(problems: list[str]) -> str:
    if not problems:
        return ""
    return problems[0] if len(problems) == 1 else f"{problems[0]} (and {len(problems) - 1} more)"
