#!/usr/bin/env python
"""The harvester: a whole node pulled end to end, against rdflib + one pyshacl run.

    python bench/harvest.py            # 10,000 datasets (a few minutes)
    python bench/harvest.py --quick    # 2,000 datasets (under a minute)
    python bench/harvest.py --full     # also the peak memory of a 100,000-dataset harvest

A node on loopback (harvester.tests.nodeserver.NodeServer) serves a generated DCAT
catalogue (harvester.tests.catalogues.page_turtle): 100 datasets a page, one in ten
invalid, Hydra paging, ETags so an unchanged page answers 304 to a conditional GET. The
hub runs on a throwaway database: PostgreSQL (`agora_bench_harvest` on the server
DATABASE_URL names) or, without a PostgreSQL DATABASE_URL, the hub's default SQLite file
in a temporary directory under var/bench/. In one run it measures:

- baseline: every page's bytes (fetched once beforehand) parsed by rdflib into one Graph,
  then one whole-graph pyshacl validation with the hub's shapes (full=False), no storage;
- ours, first harvest: harvester.services.run_pull in-process (fetch, parse, normalise,
  split, validate, store in the catalogue);
- ours, the same node harvested again, unchanged;
- with --full, a 100,000-dataset first harvest in a child process, and its peak RSS;
- verdict parity: each dataset accepted or rejected the same way by both.

It prints a table and ends with one `TARGET ...` line per goal. See bench/README.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import (  # noqa: E402
    bench_database,
    database_line,
    process_tree,
    setup_django,
    terminated_cleanly,
)
from harvester.tests.catalogues import hydra_paged_collection, page_turtle  # noqa: E402
from harvester.tests.nodeserver import NodeServer, Reply  # noqa: E402

BENCH_DATABASE = "agora_bench_harvest"
RSS_DATABASE = "agora_bench_harvest_rss"
WORK_DIR = ROOT / "var" / "bench"
PAGE_SIZE = 100
INVALID_EVERY = 10
RSS_DATASETS = 100_000
FIRST_SPEEDUP_GOAL = 2
UNCHANGED_SPEEDUP_GOAL = 20
PEAK_RSS_GOAL_MB = 1000

STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:4.0f} s] {message}", file=sys.stderr, flush=True)


# --- the node ------------------------------------------------------------------------


def serve_catalogue(server: NodeServer, n: int, path: str) -> list[str]:
    """Route `n` generated datasets at `path` (page 1) and `path?page=N`; returns the
    pages' URLs. Each page is page_turtle's Turtle with ckanext-dcat's Hydra paging
    appended, served as is (ETag from the body, 304 to a matching If-None-Match)."""
    base = server.url(path)
    datasets = server.url(path.rstrip("/") + "/datasets/")
    starts = range(0, n, PAGE_SIZE)
    urls = [base] + [f"{base}?page={k}" for k in range(2, len(starts) + 1)]
    for k, start in enumerate(starts):
        next_url = urls[k + 1] if k + 1 < len(urls) else None
        body = page_turtle(
            range(start, min(start + PAGE_SIZE, n)),
            base=datasets,
            invalid_every=INVALID_EVERY,
            hydra=hydra_paged_collection(urls[k], next_url, n),
        )
        route = path if k == 0 else f"{path}?page={k + 1}"
        server.routes[route] = Reply(body.encode(), content_type="text/turtle", etag="auto")
    return urls


def download(urls: list[str]) -> list[tuple[str, bytes]]:
    """Every page's bytes, fetched once (outside any timed region)."""
    import requests

    with requests.Session() as session:
        pages = []
        for url in urls:
            response = session.get(url, timeout=60)
            response.raise_for_status()
            pages.append((url, response.content))
        return pages


# --- the baseline --------------------------------------------------------------------


@dataclass
class Baseline:
    datasets: int
    parse_seconds: float
    validate_seconds: float
    triples: int
    conforms: bool
    results: int
    violations: int
    rejected: set[str]  # dataset IRIs with a violation (attributed outside the timing)
    accepted: set[str]
    unattributed: list[str]  # focus nodes of violations that reach no dataset

    @property
    def seconds(self) -> float:
        return self.parse_seconds + self.validate_seconds

    @property
    def rate(self) -> float:
        return self.datasets / self.seconds


def baseline(pages: list[tuple[str, bytes]], n: int) -> Baseline:
    """rdflib parses every page into one Graph; pyshacl validates it once, with exactly the
    shapes validate() uses for full=False and inference="none". Only those two are timed."""
    from pyshacl import validate as shacl_validate
    from rdflib import Graph

    from hyperontology.validate import _shapes

    shapes = _shapes(False)  # parsed (and cached) before the clock starts
    graph = Graph()
    gc.collect()
    start = time.perf_counter()
    for url, body in pages:
        graph.parse(data=body, format="turtle", publicID=url)
    parse_seconds = time.perf_counter() - start
    log(f"  baseline parse: {len(graph):,} triples in {parse_seconds:.2f} s; pyshacl")
    gc.collect()
    start = time.perf_counter()
    conforms, results, _text = shacl_validate(
        graph,
        shacl_graph=shapes,
        inference="none",
        advanced=False,
        abort_on_first=False,
        allow_warnings=True,
    )
    validate_seconds = time.perf_counter() - start
    rejected, total, violations, unattributed = attribute(graph, results)
    return Baseline(
        datasets=n,
        parse_seconds=parse_seconds,
        validate_seconds=validate_seconds,
        triples=len(graph),
        conforms=bool(conforms),
        results=total,
        violations=violations,
        rejected=rejected,
        accepted=dataset_iris(graph) - rejected,
        unattributed=unattributed,
    )


def dataset_iris(graph) -> set[str]:
    from rdflib import RDF
    from rdflib.namespace import DCAT

    return {str(s) for s in graph.subjects(RDF.type, DCAT.Dataset)}


def attribute(graph, results) -> tuple[set[str], int, int, list[str]]:
    """The datasets pyshacl's violations reject: a violation's focus node is the dataset,
    or a node the dataset reaches through nodes that are neither datasets nor catalogues.
    Computed here from the results graph, independently of hyperontology's own attribution.
    Returns (rejected IRIs, results, violations, focus nodes reaching no dataset)."""
    from rdflib import RDF
    from rdflib.namespace import DCAT, SH

    datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
    stop = datasets | set(graph.subjects(RDF.type, DCAT.Catalog))
    owners_of: dict = {}

    def owners(node) -> set:
        if node in datasets:
            return {node}
        if node not in owners_of:
            found, visited, queue = set(), {node}, deque([node])
            while queue:
                for subject in graph.subjects(None, queue.popleft()):
                    if subject in visited:
                        continue
                    visited.add(subject)
                    if subject in datasets:
                        found.add(subject)
                    elif subject not in stop:
                        queue.append(subject)
            owners_of[node] = found
        return owners_of[node]

    rejected: set[str] = set()
    unattributed: list[str] = []
    total = violations = 0
    for result in results.subjects(RDF.type, SH.ValidationResult):
        total += 1
        if results.value(result, SH.resultSeverity) != SH.Violation:
            continue
        violations += 1
        focus = results.value(result, SH.focusNode)
        found = owners(focus)
        if not found:
            path = results.value(result, SH.resultPath)
            unattributed.append(f"{focus} ({path.n3() if path is not None else 'no path'})")
        rejected |= {str(d) for d in found}
    return rejected, total, violations, unattributed


# --- ours ----------------------------------------------------------------------------


@dataclass
class Phases:
    """Where run_pull's time goes: some of the harvester's own steps wrapped in a timer
    for the run (two clock reads per call, a few thousand calls), so the split comes from
    the timed run itself. Steps nest: staging includes normalising and validating."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timing(self, steps: list[tuple[object, str, str]]) -> Iterator[None]:
        originals = [(owner, name, getattr(owner, name)) for owner, name, _label in steps]

        def wrap(label: str, fn):
            def timed(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.seconds[label] = self.seconds.get(label, 0) + time.perf_counter() - start

            return timed

        for (owner, name, fn), (_o, _n, label) in zip(originals, steps, strict=True):
            setattr(owner, name, wrap(label, fn))
        try:
            yield
        finally:
            for owner, name, fn in originals:
                setattr(owner, name, fn)


PARSE = "fetch: parse each page (rdf.parse_rdf)"
SCAN = "fetch: find each page's Hydra links (rdf.hydra_triples)"
STAGE = "stage: each fetched page, in this process (_Run.stage_graph)"
TAKE = "stage: each page's outcomes from the workers (_Run.take)"
UNCHANGED = "stage: each page answered 304 (_Run.stage_unchanged)"
NORMALISE = "  normalise (labels to codes)"
VALIDATE = "  validate (hyperontology.validate)"
SPLIT = "  the rest: split, hash, serialise, insert rows"
APPLY = "store: apply the staged records (_apply)"
CREATE = "  catalogue.create_harvested_datasets (new records)"
APPLY_RECORD = "  catalogue.apply_harvested_record (known records)"
REST = "the rest (HTTP, waiting for worker processes, progress, pages, job)"


def harvest_steps() -> list[tuple[object, str, str]]:
    from catalogue import services as catalogue
    from harvester import fetch, services, staging

    steps = [
        (fetch, "parse_rdf", PARSE),
        (fetch, "hydra_triples", SCAN),
        (services._Run, "stage_graph", STAGE),
        (services._Run, "take", TAKE),
        (services._Run, "stage_unchanged", UNCHANGED),
        (staging, "normalise", NORMALISE),
        (staging, "validate", VALIDATE),
        (services, "_apply", APPLY),
        (catalogue, "create_harvested_datasets", CREATE),
        (catalogue, "apply_harvested_record", APPLY_RECORD),
    ]
    # The harvester changes: time the steps it still has.
    return [step for step in steps if hasattr(step[0], step[1])]


@dataclass
class Harvest:
    datasets: int
    seconds: float
    status: str
    counts: dict[str, int]
    pages: int
    not_modified: int
    job: str = ""
    error: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    rejected: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)

    @property
    def rate(self) -> float:
        return self.datasets / self.seconds


def hub_node(url: str):
    """A hub administrator, an organisation and a pull node registered on `url`."""
    from django.contrib.auth import get_user_model

    from harvester import services
    from hub.models import Organisation, Role, RoleAssignment

    admin = get_user_model().objects.create_user(username="bench-hub-admin")
    RoleAssignment.objects.create(user=admin, role=Role.HUB_ADMIN)
    organisation = Organisation.objects.create(
        slug="bench-node", name="Bench Hospital Node", country="ES"
    )
    node, _token = services.register_node(
        by=admin, organisation=organisation, name="Bench node", base_url=url
    )
    return node


def harvest(node, n: int) -> Harvest:
    """One pull, as the worker's task runs it: request_harvest, then run_pull (timed)."""
    from harvester import services

    job = services.request_harvest(node=node, by=None, requested_by="bench")
    phases = Phases()
    gc.collect()
    with phases.timing(harvest_steps()):
        start = time.perf_counter()
        job = services.run_pull(job.pk)
        seconds = time.perf_counter() - start
    return Harvest(
        datasets=n,
        seconds=seconds,
        status=job.status,
        counts=job.counts,
        pages=job.pages_done,
        not_modified=job.pages_not_modified,
        job=str(job.pk),
        error=job.error,
        phases=phases.seconds,
    )


def verdicts(h: Harvest) -> None:
    """The job's accepted and rejected dataset IRIs, from its records (outside the timing)."""
    from harvester.models import HarvestRecord

    Result = HarvestRecord.Result
    for iri, result in HarvestRecord.objects.filter(job_id=h.job).values_list("iri", "result"):
        if result == Result.REJECTED:
            h.rejected.add(iri)
        elif result != Result.WITHDRAWN:
            h.accepted.add(iri)


# --- memory ------------------------------------------------------------------------


@dataclass
class PeakRss:
    harvest: Harvest
    max_rss_mb: float


def rss_child(url: str, n: int, given: str) -> int:
    """(--rss-child) A first harvest of `url` on a database of its own; prints its result
    as JSON. The parent serves the node, so only the hub's side counts in this process."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="harvest-rss-", dir=WORK_DIR))
    sampler = TreeRss()
    try:
        with terminated_cleanly(), bench_database(RSS_DATABASE, given, log=log) as db_url:
            setup_django(db_url, work)
            node = hub_node(url)
            with sampler.running():
                result = harvest(node, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    extra = {"rejected": [], "accepted": [], "tree_rss_mb": sampler.peak_mb}
    print(json.dumps(result.__dict__ | extra), flush=True)
    return 0


class TreeRss:
    """The resident memory of this process and its worker processes together, sampled
    every 0.2 s: ru_maxrss would count only the largest single process."""

    def __init__(self) -> None:
        self.peak_mb = 0.0
        self._stop = threading.Event()

    @contextmanager
    def running(self) -> Iterator[None]:
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            self.peak_mb = max(
                self.peak_mb, sum(_rss_kb(pid) for pid in process_tree(os.getpid())) / 1024
            )


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def peak_rss(server: NodeServer, n: int, given: str) -> PeakRss:
    """Serve `n` datasets, harvest them in a child process, read its peak RSS (wait4)."""
    log(f"generating {n:,} datasets for the memory run")
    urls = serve_catalogue(server, n, "/big/dcat")
    env = dict(os.environ, DATABASE_URL=given) if given else dict(os.environ)
    if not given:
        env.pop("DATABASE_URL", None)
    log(f"memory run: a child process harvests {n:,} datasets ({len(urls):,} pages)")
    command = [sys.executable, __file__, "--rss-child", urls[0], "--datasets", str(n)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    try:
        out = child.stdout.read()
        _pid, status, usage = os.wait4(child.pid, 0)
    finally:
        if child.returncode is None and child.poll() is None:
            child.kill()
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"the memory run's child process failed ({child.returncode})")
    result = json.loads(out.decode().strip().splitlines()[-1])
    result["rejected"], result["accepted"] = set(), set()
    tree_mb = result.pop("tree_rss_mb")
    # ru_maxrss is in kilobytes on Linux; with worker processes the sampled sum is larger.
    return PeakRss(Harvest(**result), max(usage.ru_maxrss / 1024, tree_mb))


# --- the report ----------------------------------------------------------------------


@dataclass
class Results:
    n: int
    pages: int
    database: str
    base: Baseline
    first: Harvest
    again: Harvest
    rss: PeakRss | None
    engine: str


def print_phases(h: Harvest) -> None:
    """The timed steps of a run, and what is left between them."""
    phases = dict(h.phases)
    if STAGE in phases and VALIDATE in phases:
        phases[SPLIT] = phases[STAGE] - phases.get(NORMALISE, 0) - phases[VALIDATE]
    order = [
        PARSE,
        SCAN,
        STAGE,
        NORMALISE,
        VALIDATE,
        SPLIT,
        TAKE,
        UNCHANGED,
        APPLY,
        CREATE,
        APPLY_RECORD,
    ]
    for label, seconds in sorted(phases.items(), key=lambda item: order.index(item[0])):
        print(f"  {label:<52}{seconds:>8.2f} s {seconds / h.seconds:>5.0%}")
    rest = h.seconds - sum(s for label, s in h.phases.items() if not label.startswith(" "))
    print(f"  {REST:<52}{rest:>8.2f} s {rest / h.seconds:>5.0%}")


def parity(r: Results) -> tuple[list[str], list[str]]:
    """IRIs judged differently (ours rejected, baseline accepted; and the reverse), and
    IRIs only one side saw."""
    ours_rejected, ours_accepted = r.first.rejected, r.first.accepted
    base_rejected, base_accepted = r.base.rejected, r.base.accepted
    differing = sorted((ours_rejected & base_accepted) | (ours_accepted & base_rejected))
    missing = sorted((ours_rejected | ours_accepted) ^ (base_rejected | base_accepted))
    return differing, missing


def report(r: Results, quick: bool, full: bool) -> bool:
    """Print the report; True when every goal is met."""
    b, first, again = r.base, r.first, r.again
    print()
    print(f"{r.database}; whole run {time.monotonic() - STARTED:.0f} s")
    print(
        f"Harvest: a loopback node serving {r.n:,} generated datasets ({r.pages} pages of "
        f"{PAGE_SIZE}, every {INVALID_EVERY}th invalid, ETags). Ours: "
        "harvester.services.run_pull end to end (fetch, parse, normalise, split, validate "
        f"with the {r.engine}, store). Baseline: rdflib parse of every page into one Graph, "
        "then one pyshacl run (the hub's full=False shapes, inference none), nothing stored."
    )
    from django.conf import settings

    print(
        f"Pages of nodes with at least {settings.HARVEST_PARALLEL_MIN_RECORDS:,} records are "
        f"read in {settings.HARVEST_WORKER_PROCESSES} worker processes "
        f"(HARVEST_WORKER_PROCESSES; {os.cpu_count()} CPUs here); the baseline uses one."
    )
    print()
    header = f"{'step':<44}{'datasets':>10}{'seconds':>10}{'datasets/s':>12}{'ratio':>8}"
    print(header)
    print("-" * len(header))

    def row(name: str, datasets: int, seconds: float, ratio: bool = True) -> None:
        rate = datasets / seconds
        shown = f"{rate / b.rate:>8.2f}" if ratio else f"{'':>8}"
        print(f"{name:<44}{datasets:>10,}{seconds:>10.2f}{rate:>12,.1f}{shown}")

    row("baseline: rdflib parse + pyshacl", b.datasets, b.seconds)
    row("  rdflib parse into one Graph", b.datasets, b.parse_seconds, ratio=False)
    row("  pyshacl, one whole-graph run", b.datasets, b.validate_seconds, ratio=False)
    row("ours: first harvest (run_pull)", first.datasets, first.seconds)
    row("ours: unchanged node harvested again", again.datasets, again.seconds)
    if r.rss is not None:
        big = r.rss.harvest
        row(f"ours: first harvest of {big.datasets:,} (child)", big.datasets, big.seconds)
    print()
    print(
        f"baseline: {b.triples:,} triples; parse {b.parse_seconds:.2f} s "
        f"({b.parse_seconds / b.seconds:.0%}), validate {b.validate_seconds:.2f} s "
        f"({b.validate_seconds / b.seconds:.0%}); {b.results:,} SHACL results, "
        f"{b.violations:,} violations, {len(b.rejected):,} datasets rejected, "
        f"{len(b.unattributed)} violations on no dataset"
    )
    for focus in sorted(set(b.unattributed))[:5]:
        print(f"  on no dataset: {focus}")
    for name, h in (("first harvest", first), ("again", again)):
        counts = ", ".join(f"{k} {v:,}" for k, v in h.counts.items())
        print(
            f"ours, {name}: {h.status}; {h.pages} pages ({h.not_modified} not modified); {counts}"
            + (f"; error: {h.error}" if h.error else "")
        )
        print_phases(h)
    if r.rss is not None:
        h = r.rss.harvest
        counts = ", ".join(f"{k} {v:,}" for k, v in h.counts.items())
        print(
            f"ours, {h.datasets:,} datasets in a child process: {h.status}; {h.pages} pages; "
            f"{counts}; peak RSS {r.rss.max_rss_mb:,.0f} MB (the child and its worker "
            "processes together)" + (f"; error: {h.error}" if h.error else "")
        )
        print_phases(h)
    differing, missing = parity(r)
    print(
        f"verdicts: ours rejected {len(first.rejected):,}, baseline {len(b.rejected):,}; "
        f"{len(differing)} differ; {len(missing)} seen by one side only"
    )
    for iri in differing[:20]:
        side = "ours rejects, baseline accepts" if iri in first.rejected else "baseline rejects"
        print(f"  differs: {iri} ({side})")
    for iri in missing[:20]:
        print(f"  seen by one side only: {iri}")

    first_speedup = first.rate / b.rate
    unchanged_speedup = first.seconds / again.seconds
    mismatches = len(differing) + len(missing)
    ok_runs = first.status == again.status == "succeeded" and (
        r.rss is None or r.rss.harvest.status == "succeeded"
    )
    if quick:
        print(f"# --quick: {r.n:,} datasets, not the full run's 10,000")
    if r.rss is None:
        print("# harvest_100k_peak_rss_mb: measured only with --full (a 100,000-dataset harvest)")
    print(
        f"TARGET name=harvest_first_speedup measured={first_speedup:.2f} "
        f"goal=>={FIRST_SPEEDUP_GOAL} unit=x"
    )
    print(
        f"TARGET name=harvest_unchanged_speedup measured={unchanged_speedup:.1f} "
        f"goal=>={UNCHANGED_SPEEDUP_GOAL} unit=x"
    )
    ok = (
        ok_runs
        and first_speedup >= FIRST_SPEEDUP_GOAL
        and unchanged_speedup >= UNCHANGED_SPEEDUP_GOAL
        and mismatches == 0
    )
    if r.rss is not None:
        print(
            f"TARGET name=harvest_100k_peak_rss_mb measured={r.rss.max_rss_mb:.0f} "
            f"goal=<={PEAK_RSS_GOAL_MB} unit=MB"
        )
        ok = ok and r.rss.max_rss_mb <= PEAK_RSS_GOAL_MB
    print(f"TARGET name=harvest_verdict_parity measured={mismatches} goal===0 unit=datasets")
    return ok


# --- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 datasets")
    parser.add_argument(
        "--full", action="store_true", help=f"also a {RSS_DATASETS:,}-dataset harvest's peak RSS"
    )
    parser.add_argument("--datasets", type=int, help="datasets (default 10,000, quick 2,000)")
    parser.add_argument("--rss-child", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    given = os.environ.get("DATABASE_URL", "")
    if args.rss_child:
        return rss_child(args.rss_child, args.datasets or RSS_DATASETS, given)
    n = args.datasets or (2_000 if args.quick else 10_000)

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="harvest-", dir=WORK_DIR))
    server = NodeServer()
    try:
        with terminated_cleanly(), bench_database(BENCH_DATABASE, given, log=log) as db_url:
            setup_django(db_url, work)
            from hyperontology.validate import _compiled

            database = database_line()
            log(f"{database}; migrated")
            server.start()
            urls = serve_catalogue(server, n, "/dcat")
            log(f"node at {urls[0]}: {n:,} datasets, {len(urls)} pages")
            pages = download(urls)
            size = sum(len(body) for _url, body in pages)
            log(f"fetched the {len(pages)} pages once ({size / 1e6:.1f} MB); baseline")
            base = baseline(pages, n)
            del pages
            log(f"baseline: {base.seconds:.2f} s, {base.rate:,.1f} datasets/s")

            node = hub_node(urls[0])
            log(f"ours: first harvest of {n:,} datasets")
            first = harvest(node, n)
            log(f"ours: {first.status} in {first.seconds:.2f} s, {first.rate:,.1f} datasets/s")
            log("ours: the unchanged node again")
            again = harvest(node, n)
            log(f"ours: {again.status} in {again.seconds:.2f} s")
            verdicts(first)
            engine = "hub's fast engine" if _compiled(False) is not None else "pyshacl"
            rss = peak_rss(server, RSS_DATASETS, given) if args.full else None
            results = Results(
                n=n,
                pages=len(urls),
                database=database,
                base=base,
                first=first,
                again=again,
                rss=rss,
                engine=engine,
            )
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
    log("done")
    return 0 if report(results, args.quick, args.full) else 1


if __name__ == "__main__":
    sys.exit(main())
