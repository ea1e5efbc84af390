#!/usr/bin/env python
"""The tracer: Merkle batches against one chain transaction per trace, on a real node.

    python bench/tracer.py            # 10,000 traces, baseline on 300 (a few minutes)
    python bench/tracer.py --quick    # 2,000 traces, baseline on 100 (under a minute)

The script records synthetic governance traces through tracer.services.record, one
transaction per action as the services do, on a throwaway database: PostgreSQL
(`agora_bench_tracer` on the server DATABASE_URL names) or, without a PostgreSQL
DATABASE_URL, the hub's default SQLite file in a temporary directory under var/bench/.
It starts ganache on a free loopback port and anchors the traces two ways:

- ours: tracer.services.anchor_pending(), end to end (Merkle trees, proofs stored in
  the database, one transaction per batch sent and confirmed);
- baseline: CHAIMELEON's design, one transaction per trace on the same contract,
  each receipt awaited before the next trace is sent.

It then checks every trace against the chain with tracer.verification.verify_all,
prints a table and ends with one `TARGET ...` line per goal. See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import bench_database, database_line, setup_django, terminated_cleanly  # noqa: E402
from tests.chain import GanacheNode  # noqa: E402

if TYPE_CHECKING:
    from tracer.chain import Chain
    from tracer.models import Trace
    from tracer.verification import Report

BENCH_DATABASE = "agora_bench_tracer"
WORK_DIR = ROOT / "var" / "bench"
SEED = 20240611
SPEEDUP_GOAL = 100

ORGANISATIONS = (
    ("ehu-valencia", "Hospital Universitari La Fe", "ES"),
    ("ehu-pisa", "Azienda Ospedaliero-Universitaria Pisana", "IT"),
    ("ehu-porto", "IPO Porto", "PT"),
    ("ehu-athens", "Athens Medical Center", "GR"),
    ("ehu-lyon", "Centre Léon Bérard", "FR"),
    ("ehu-graz", "Medical University of Graz", "AT"),
    ("ehu-leuven", "UZ Leuven", "BE"),
    ("ehu-oslo", "Oslo University Hospital", "NO"),
)
DATASETS = 200
PROVIDERS = 16  # hub accounts that create and update datasets
PROJECT_MEMBERS = 40  # external sandbox users, pseudonymised from their own ids
TOOLS = (
    ("jupyterlab", "4.6.6"),
    ("3d-slicer", "5.8.1"),
    ("pyradiomics", "3.1.0"),
    ("nnunet", "2.5.1"),
    ("monai-label", "0.8.4"),
    ("totalsegmentator", "2.4.0"),
)
# Share of each kind of trace: creations carry hashes, updates a detail, uses a tool.
MIX = (("CREATE_DATASET", 25), ("UPDATE_DATASET", 45), ("USE_DATASETS", 30))
UPDATES = (
    ("RELEASE", 20),
    ("PUBLISH", 20),
    ("METADATA_UPDATED", 25),
    ("LICENSE_UPDATED", 10),
    ("PID_UPDATED", 15),
    ("UNPUBLISH", 4),
    ("INVALIDATE", 4),
    ("REACTIVATE", 2),
)


# --- the synthetic traces ------------------------------------------------------------


def sha3(*parts: object) -> str:
    return hashlib.sha3_256(":".join(map(str, parts)).encode()).hexdigest()


def generate(n: int, dataset_ids: list[str], providers: list, rng: random.Random) -> list[dict]:
    """Keyword arguments for record(), as the catalogue and the sandboxes' tools send them."""
    from tracer.services import hash_resource

    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    details = [d for d, _ in UPDATES]
    detail_weights = [w for _, w in UPDATES]
    traces = []
    for i in range(n):
        kind = rng.choices(kinds, weights)[0]
        dataset = rng.choice(dataset_ids)
        metadata = hash_resource("metadata", sha3("metadata", dataset, i))
        if kind == "CREATE_DATASET":
            studies = [
                hash_resource(f"1.2.826.0.1.3680043.8.498.{rng.randrange(10**12)}", sha3(i, s))
                for s in range(rng.randint(1, 3))
            ]
            traces.append(
                dict(
                    action=kind,
                    caller="hub.catalogue",
                    user=rng.choice(providers),
                    dataset_ids=[dataset],
                    resources=[metadata, *studies],
                )
            )
        elif kind == "UPDATE_DATASET":
            detail = rng.choices(details, detail_weights)[0]
            edited = detail in ("METADATA_UPDATED", "LICENSE_UPDATED")
            traces.append(
                dict(
                    action=kind,
                    caller="hub.catalogue",
                    user=None if detail == "PID_UPDATED" else rng.choice(providers),
                    dataset_ids=[dataset],
                    details=detail,
                    resources=[metadata] if edited else [],
                )
            )
        else:
            tool, version = rng.choice(TOOLS)
            project = rng.randrange(12)
            traces.append(
                dict(
                    action=kind,
                    caller="sandbox-runner",
                    user_id=f"prj{project:03d}-member-{rng.randrange(PROJECT_MEMBERS)}",
                    dataset_ids=rng.sample(dataset_ids, rng.randint(1, 5)),
                    tool_name=tool,
                    tool_version=version,
                    subject_id=f"PRJ-{project:03d}",
                )
            )
    return traces


def populate(rng: random.Random) -> tuple[list[str], list]:
    """Organisations, provider accounts and datasets, so traces resolve their providers."""
    from django.contrib.auth import get_user_model

    from catalogue.models import Dataset
    from hub.models import Organisation

    organisations = Organisation.objects.bulk_create(
        Organisation(slug=slug, name=name, country=country) for slug, name, country in ORGANISATIONS
    )
    datasets = Dataset.objects.bulk_create(
        Dataset(
            organisation=rng.choice(organisations),
            title=f"Imaging collection {i}",
            description="Synthetic dataset for the tracer benchmark.",
            state=Dataset.State.PUBLISHED,
        )
        for i in range(DATASETS)
    )
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"bench-provider-{i}") for i in range(PROVIDERS)
    )
    return [str(d.pk) for d in datasets], users


# --- measuring -----------------------------------------------------------------------


@dataclass
class Step:
    traces: int
    seconds: float
    transactions: int | None = None

    @property
    def rate(self) -> float:
        return self.traces / self.seconds


@dataclass
class Phases:
    """Where anchor_pending's time goes: the service's own steps, wrapped in a timer for
    the call (two clock reads per batch), so the split comes from the timed run itself."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timing(self, module: object, names: dict[str, str]) -> Iterator[None]:
        originals = {name: getattr(module, name) for name in names}

        def wrap(name: str, fn: Callable) -> Callable:
            def timed(*args, **kwargs):
                start = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    label = names[name]
                    self.seconds[label] = self.seconds.get(label, 0) + time.perf_counter() - start

            return timed

        for name, fn in originals.items():
            setattr(module, name, wrap(name, fn))
        try:
            yield
        finally:
            for name, fn in originals.items():
                setattr(module, name, fn)


def record_all(traces: list[dict]) -> Step:
    """Each trace in its own transaction, as each action's service writes it."""
    from django.db import transaction

    from tracer.services import record

    every = max(len(traces) // 10, 1)
    start = time.perf_counter()
    for i, kwargs in enumerate(traces, 1):
        with transaction.atomic():
            record(**kwargs)
        if i % every == 0:
            log(f"  recorded {i:,}/{len(traces):,}")
    return Step(len(traces), time.perf_counter() - start)


def sent_by(chain: Chain) -> int:
    return chain.w3.eth.get_transaction_count(chain.signer)


def one_transaction_per_trace(chain: Chain, address: str, traces: list[Trace]) -> Step:
    """CHAIMELEON's design: every trace its own transaction, its receipt awaited."""
    every = max(len(traces) // 5, 1)
    before = sent_by(chain)
    start = time.perf_counter()
    for i, trace in enumerate(traces, 1):
        tx_hash = chain.send_anchor(address, trace.uuid.int, bytes.fromhex(trace.leaf_hash), 1)
        chain.wait(tx_hash)
        if i % every == 0:
            log(f"  baseline: anchored {i}/{len(traces)}")
    seconds = time.perf_counter() - start
    return Step(len(traces), seconds, sent_by(chain) - before)


def anchor_ours(chain: Chain, phases: Phases) -> tuple[Step, int]:
    """anchor_pending() as the worker's task calls it; returns the step and the batches."""
    from tracer import services

    before = sent_by(chain)
    with phases.timing(
        services,
        {"_prepare_batch": "preparing batches", "_anchor_batch": "anchoring on chain"},
    ):
        start = time.perf_counter()
        run = services.anchor_pending()
        seconds = time.perf_counter() - start
    return Step(run.traces, seconds, sent_by(chain) - before), len(run.anchored)


@dataclass
class Verified:
    step: Step
    report: Report
    total: int  # traces in the database
    failing_proofs: int
    in_failing_batches: int
    not_anchored: int
    baseline_on_chain: int  # the baseline's per-trace anchors, seen as unknown batches
    other_problems: list[str]

    @property
    def unverified(self) -> int:
        return self.failing_proofs + self.in_failing_batches + self.not_anchored


def verify(chain: Chain, baseline_ids: set[int]) -> Verified:
    """verify_all, and how many traces it cannot vouch for (each counted once)."""
    from tracer.models import AnchorBatch, Trace
    from tracer.verification import verify_all

    start = time.perf_counter()
    report = verify_all(chain)
    seconds = time.perf_counter() - start
    numbers = {str(n) for n in AnchorBatch.objects.values_list("number", flat=True)}
    failing_batches, baseline, unexplained = set(), 0, []
    for problem in report.problems:
        if problem.kind != "batch":
            continue
        if problem.ref in numbers:
            failing_batches.add(int(problem.ref))
        elif problem.ref.isdigit() and int(problem.ref) in baseline_ids:
            baseline += 1  # on chain, unknown to the hub: the baseline's anchors
        else:
            unexplained.append(str(problem))
    in_failing = {
        str(u)
        for u in Trace.objects.filter(batch__number__in=failing_batches).values_list(
            "uuid", flat=True
        )
    }
    failing_proofs = {p.ref for p in report.problems if p.kind == "trace"} - in_failing
    total = Trace.objects.count()
    return Verified(
        step=Step(report.traces, seconds),
        report=report,
        total=total,
        failing_proofs=len(failing_proofs),
        in_failing_batches=len(in_failing),
        # Pending traces, and traces of batches prepared but never anchored.
        not_anchored=total - report.traces,
        baseline_on_chain=baseline,
        other_problems=unexplained,
    )


# --- progress ------------------------------------------------------------------------


STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:4.0f} s] {message}", file=sys.stderr, flush=True)


# --- the report ----------------------------------------------------------------------


@dataclass
class Results:
    batch_size: int
    record: Step
    ours: Step
    batches: int
    phases: Phases
    baseline: Step
    verified: Verified
    database: str
    node: str
    mix: dict[str, int]

    @property
    def speedup(self) -> float:
        return self.ours.rate / self.baseline.rate


def report(r: Results, quick: bool) -> bool:
    """Print the report; True when every goal is met."""
    v = r.verified
    print()
    print(f"{r.database}; {r.node}; whole run {time.monotonic() - STARTED:.0f} s")
    mix = ", ".join(f"{kind} {n:,}" for kind, n in r.mix.items())
    print(
        f"Tracer: {r.record.traces:,} traces ({mix}) recorded through tracer.services.record, "
        "one transaction each, then anchored by anchor_pending() in batches of "
        f"{r.batch_size:,} (TRACER_BATCH_SIZE): Merkle trees, proofs stored, transactions "
        f"confirmed. Baseline: {r.baseline.traces} of the same traces anchored one transaction "
        "per trace (CHAIMELEON's design), each receipt awaited, on the same node and contract."
    )
    print()
    header = (
        f"{'name':<38}{'traces':>8}{'txs':>6}{'seconds':>9}{'traces/s':>11}"
        f"{'baseline/s':>12}{'ratio':>8}"
    )
    print(header)
    print("-" * len(header))

    def row(name: str, step: Step, baseline: Step | None = None) -> None:
        txs = "-" if step.transactions is None else f"{step.transactions:,}"
        line = f"{name:<38}{step.traces:>8,}{txs:>6}{step.seconds:>9.2f}{step.rate:>11,.1f}"
        if baseline is not None:
            line += f"{baseline.rate:>12,.1f}{step.rate / baseline.rate:>8.1f}"
        print(line)

    row("record (one transaction per action)", r.record)
    row("anchor_pending (ours)", r.ours, r.baseline)
    row("one transaction per trace (baseline)", r.baseline)
    row("verify_all against the chain", v.step)
    print()
    other = r.ours.seconds - sum(r.phases.seconds.values())
    parts = ", ".join(f"{name} {s:.2f} s" for name, s in r.phases.seconds.items())
    print(f"anchor_pending: {parts}, the rest {other:.2f} s")
    print(
        f"  {r.batches} batches, {r.ours.transactions} transactions "
        f"({r.ours.traces / r.ours.transactions:,.0f} traces per transaction); "
        f"baseline {r.baseline.transactions} transactions for {r.baseline.traces} traces"
    )
    print(
        f"verify_all: {v.step.traces:,} of {v.total:,} traces checked in {v.report.batches} "
        f"batches; {v.unverified} unverified ({v.failing_proofs} failing proofs, "
        f"{v.in_failing_batches} in failing batches, {v.not_anchored} not anchored)"
    )
    print(
        f"  the chain's other batches: {v.baseline_on_chain}/{r.baseline.traces} are the "
        f"baseline's per-trace anchors; {len(v.other_problems)} unexplained"
    )
    for problem in v.other_problems[:5]:
        print(f"  {problem}")
    if quick:
        print(
            f"# --quick: {r.record.traces:,} traces and a baseline of {r.baseline.traces}, "
            "not the full run's 10,000 and 300"
        )
    speedup_ok = r.speedup >= SPEEDUP_GOAL
    record_ok = r.record.rate > 0
    # Every per-trace anchor of the baseline must be on chain too, or the run proves nothing.
    verified_ok = (
        v.unverified == 0 and not v.other_problems and v.baseline_on_chain == r.baseline.traces
    )
    print(
        f"TARGET name=tracer_speedup_vs_tx_per_trace measured={r.speedup:.1f} "
        f"goal=>={SPEEDUP_GOAL} unit=x"
    )
    print(f"TARGET name=tracer_record_per_s measured={r.record.rate:.1f} goal=>0 unit=traces/s")
    print(f"TARGET name=tracer_unverified measured={v.unverified} goal===0 unit=traces")
    return speedup_ok and record_ok and verified_ok


# --- main ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2,000 traces, baseline on 100")
    parser.add_argument("--traces", type=int, help="traces to record (default 10,000, quick 2,000)")
    parser.add_argument(
        "--baseline-traces",
        type=int,
        help="traces anchored one transaction each (default 300, quick 100)",
    )
    parser.add_argument("--batch-size", type=int, help="TRACER_BATCH_SIZE (default: the setting)")
    args = parser.parse_args()
    n_traces = args.traces or (2_000 if args.quick else 10_000)
    n_baseline = min(args.baseline_traces or (100 if args.quick else 300), n_traces)

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="tracer-", dir=WORK_DIR))
    node = GanacheNode(work / "chain")
    try:
        with (
            terminated_cleanly(),
            bench_database(BENCH_DATABASE, os.environ.get("DATABASE_URL", ""), log=log) as db_url,
        ):
            setup_django(db_url, work)
            from django.conf import settings

            from tracer.models import Trace
            from tracer.services import chain_from_settings, current_contract

            database = database_line()
            log(f"{database}; migrated")
            if args.batch_size:
                settings.TRACER_BATCH_SIZE = args.batch_size
            log("starting ganache")
            node.start()
            settings.CHAIN_RPC_URL = node.url
            settings.CHAIN_PRIVATE_KEY = settings.GANACHE_DEVELOPMENT_KEY
            settings.TRACER_CONTRACT_ADDRESS = ""
            chain = chain_from_settings()
            address = current_contract(chain).address  # deployed once, used by both
            node_line = f"{chain.w3.client_version.split('/EthereumJS')[0]} on {node.url}"
            log(f"{node_line}: contract {address}")

            rng = random.Random(SEED)
            dataset_ids, providers = populate(rng)
            traces = generate(n_traces, dataset_ids, providers, rng)
            mix = {kind: sum(t["action"] == kind for t in traces) for kind, _ in MIX}
            log(f"recording {n_traces:,} traces, one transaction each")
            recorded = record_all(traces)

            step = n_traces // n_baseline
            sample = list(Trace.objects.order_by("seq").only("uuid", "leaf_hash"))[::step]
            sample = sample[:n_baseline]
            log(f"baseline: {n_baseline} traces, one transaction each")
            baseline = one_transaction_per_trace(chain, address, sample)

            log(
                f"anchor_pending(): {n_traces:,} traces in batches of {settings.TRACER_BATCH_SIZE:,}"
            )
            phases = Phases()
            ours, batches = anchor_ours(chain, phases)
            log("verify_all against the chain")
            verified = verify(chain, {t.uuid.int for t in sample})
            results = Results(
                batch_size=settings.TRACER_BATCH_SIZE,
                record=recorded,
                ours=ours,
                batches=batches,
                phases=phases,
                baseline=baseline,
                verified=verified,
                database=database,
                node=node_line,
                mix=mix,
            )
    finally:
        node.stop()
        shutil.rmtree(work, ignore_errors=True)
    log("done")
    return 0 if report(results, args.quick) else 1


if __name__ == "__main__":
    sys.exit(main())
