"""The tracer's fault guarantees, with real parts: each test runs its own ganache node
(so it can stop, freeze or restart it), PostgreSQL, and the hub's own commands in
other processes (so they can be killed, or run two at once).

Whatever happens (a chain that is down, a worker killed between preparing a batch and
seeing it mined, two workers at once), no trace is lost, none is anchored twice, and
`verify_traces` finds everything in order, or names what is not.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction

from catalogue import services as catalogue
from conftest import wait_until
from tests.chain import GanacheNode
from tracer import merkle, services
from tracer.chain import ChainUnavailable
from tracer.models import AnchorBatch, ChainContract, Trace
from tracer.tasks import anchor_pending_traces
from tracer.tests.factories import record_use
from tracer.verification import verify_all

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
# While recording: no batch is ever "full", so no action queues anchoring by itself and
# only what the test runs anchors (a worker elsewhere on the broker must not join in).
QUIET = 10**9
PREPARED = AnchorBatch.Status.PREPARED
ANCHORED = AnchorBatch.Status.ANCHORED


# --- helpers -------------------------------------------------------------------------------


@pytest.fixture
def node(tmp_path):
    """A ganache of this test's own (not started: a test may want a block time first)."""
    node = GanacheNode(tmp_path / "chain")
    yield node
    if node.proc and node.proc.poll() is None:
        os.killpg(node.proc.pid, signal.SIGCONT)  # a test that failed while it was frozen
    node.stop()


@pytest.fixture
def hub_on(settings):
    """Point this process's hub at a node; anchoring itself is run explicitly by tests."""

    def point(node: GanacheNode, timeout: float = 2) -> None:
        settings.CHAIN_RPC_URL = node.url
        settings.CHAIN_PRIVATE_KEY = django_settings.GANACHE_DEVELOPMENT_KEY
        settings.TRACER_CONTRACT_ADDRESS = ""
        settings.CHAIN_TIMEOUT_SECONDS = timeout
        settings.TRACER_BATCH_SIZE = QUIET

    return point


@pytest.fixture
def processes():
    """Commands started by a test; killed at the end if still running."""
    started: list[subprocess.Popen] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def command_env(node: GanacheNode, **extra) -> dict[str, str]:
    """The environment of `manage.py` in another process: this test database, this node."""
    url = os.environ.get("DATABASE_URL", "")
    if connection.vendor != "postgresql" or not url.startswith("postgres"):
        pytest.fail("these tests run the hub's commands in other processes: use PostgreSQL")
    return (
        os.environ
        | {
            "DATABASE_URL": url.rsplit("/", 1)[0] + "/" + connection.settings_dict["NAME"],
            "CHAIN_RPC_URL": node.url,
            "CHAIN_PRIVATE_KEY": django_settings.GANACHE_DEVELOPMENT_KEY,
            "TRACER_CONTRACT_ADDRESS": "",
            "CHAIN_TIMEOUT_SECONDS": "5",
            "LOG_LEVEL": "WARNING",
        }
        | {name: str(value) for name, value in extra.items()}
    )


def manage(processes: list, *args: str, env: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    processes.append(proc)
    return proc


def rpc(node: GanacheNode, method: str, *params):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(
        node.url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())["result"]


def in_flight(node: GanacheNode) -> list[str]:
    """Hashes of the transactions waiting in the node's pool (sent, not mined)."""
    pool = rpc(node, "txpool_content")["pending"]
    return [tx["hash"] for by_nonce in pool.values() for tx in by_nonce.values()]


def lock_waiters() -> int:
    """Other database sessions waiting for a row lock (a worker queued behind this test)."""
    with connection.cursor() as cursor:
        # Statistics views are read once per transaction unless told to look again.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def assert_every_trace_anchored_exactly_once(chain) -> None:
    """Every trace is in one batch; each batch is on chain once, under its number, with
    the root of exactly the traces the hub holds in it; verify_traces finds no problem."""
    batches = list(AnchorBatch.objects.order_by("number"))
    assert [b.number for b in batches] == list(range(1, len(batches) + 1))
    assert all(b.status == ANCHORED and b.tx_hash and b.block_number for b in batches)
    assert not Trace.objects.filter(batch__isnull=True).exists()
    assert sum(b.size for b in batches) == Trace.objects.count()
    events = [e for c in ChainContract.objects.all() for e in chain.anchored_events(c.address)]
    assert sorted(e["batch_id"] for e in events) == [b.number for b in batches]
    on_chain = {e["batch_id"]: e for e in events}
    for batch in batches:
        traces = list(batch.traces.order_by("leaf_index"))
        assert [t.leaf_index for t in traces] == list(range(batch.size))
        root, _ = merkle.root_and_paths([bytes.fromhex(t.leaf_hash) for t in traces])
        event = on_chain[batch.number]
        assert (
            (event["root"], event["count"]) == (root.hex(), batch.size) == (batch.root, batch.size)
        )
        assert event["tx_hash"] == batch.tx_hash
    report = verify_all(chain)
    assert report.ok, [str(p) for p in report.problems]
    assert (report.traces, report.pending) == (Trace.objects.count(), 0)


# --- a. the chain is down ------------------------------------------------------------------


def test_while_the_chain_is_down_actions_succeed_traces_wait_and_are_anchored_once_after(
    node, hub_on, settings, make_dataset, provider_a
):
    node.start()
    hub_on(node)
    dataset = make_dataset(state="published")
    record_use(2)
    settings.TRACER_BATCH_SIZE = 2
    assert services.anchor_pending().traces == 5
    settings.TRACER_BATCH_SIZE = QUIET

    node.stop()
    license_ = "https://creativecommons.org/licenses/by/4.0/"
    dataset = catalogue.update_dataset(dataset=dataset, by=provider_a, license=license_)
    dataset = catalogue.unpublish_dataset(dataset=dataset, by=provider_a)
    dataset = catalogue.invalidate_dataset(dataset=dataset, by=provider_a, reason="Withdrawn")
    waiting = {t.pk for t in record_use(2, start=2)}
    waiting |= set(
        Trace.objects.filter(
            details__in=["LICENSE_UPDATED", "UNPUBLISH", "INVALIDATE"]
        ).values_list("pk", flat=True)
    )
    settings.TRACER_BATCH_SIZE = 2
    started = time.monotonic()
    with pytest.raises(ChainUnavailable):
        services.anchor_pending()
    assert time.monotonic() - started < 5
    with pytest.raises(CommandError, match="Pending traces wait; nothing is lost"):
        call_command("anchor_traces")

    assert dataset.state == "invalidated" and dataset.license == license_
    assert set(Trace.objects.filter(batch__isnull=True).values_list("pk", flat=True)) == waiting
    assert not AnchorBatch.objects.filter(status=PREPARED).exists()

    node.start()  # the same chain (its database) on the same port
    run = services.anchor_pending()

    assert run.traces == 5 and run.anchored == [4, 5, 6]
    assert set(Trace.objects.filter(batch__number__gte=4).values_list("pk", flat=True)) == waiting
    assert_every_trace_anchored_exactly_once(services.chain_from_settings())


def test_the_anchoring_task_retries_with_growing_backoff_while_the_chain_is_down(
    node, hub_on, monkeypatch
):
    task = anchor_pending_traces
    assert ChainUnavailable in task.autoretry_for and task.acks_late
    hub_on(node)  # never started: nothing answers on its port
    record_use(3)
    countdowns = []
    retry = task.retry

    def recorded_retry(*args, **kwargs):
        countdowns.append(kwargs["countdown"])
        return retry(*args, **kwargs)

    monkeypatch.setattr(task, "retry", recorded_retry)

    failed = task.apply()

    assert failed.state == "FAILURE" and isinstance(failed.result, ChainUnavailable)
    # One retry per failed attempt (the last one gives up): full-jitter exponential backoff.
    assert len(countdowns) == task.max_retries + 1
    for attempt, countdown in enumerate(countdowns):
        assert 0 <= countdown <= min(task.retry_backoff * 2**attempt, task.retry_backoff_max)
    assert task.retry_backoff * 2**task.max_retries > task.retry_backoff_max  # it is capped
    assert Trace.objects.filter(batch__isnull=True).count() == 3
    assert not AnchorBatch.objects.exists()

    node.start()
    done = task.apply()

    assert done.successful() and done.result.startswith("anchored 3 traces in 1 batch")
    assert_every_trace_anchored_exactly_once(services.chain_from_settings())


def test_a_node_that_hangs_is_given_up_on_within_the_timeout(node, hub_on):
    node.start()
    hub_on(node, timeout=0.5)
    record_use(1)
    os.killpg(node.proc.pid, signal.SIGSTOP)  # accepts connections, never answers
    try:
        started = time.monotonic()
        with pytest.raises(ChainUnavailable):
            services.anchor_pending()
        elapsed = time.monotonic() - started
    finally:
        os.killpg(node.proc.pid, signal.SIGCONT)

    assert elapsed < 2 * 0.5 + 1


# --- b. a worker killed in the middle of a batch ---------------------------------------------


def kill_with_a_transaction_in_flight(node, processes, env) -> str:
    """Run `anchor_traces`, let it prepare batch 1 and send its root, and SIGKILL it while
    it waits for the receipt (the node mines nothing until told). Returns the tx hash."""
    rpc(node, "miner_stop")
    worker = manage(processes, "anchor_traces", env=env)
    sent = wait_until(
        lambda: AnchorBatch.objects.filter(status=PREPARED).exists() and in_flight(node),
        timeout=60,
    )
    worker.kill()
    worker.communicate()
    assert worker.returncode == -signal.SIGKILL
    [batch] = AnchorBatch.objects.all()
    assert (batch.number, batch.status, batch.size, batch.tx_hash) == (1, PREPARED, 5, "")
    [tx_hash] = sent
    return tx_hash


def test_a_worker_killed_with_its_transaction_in_flight_loses_nothing_and_doubles_nothing(
    node, hub_on, settings, processes
):
    node.start()
    hub_on(node)
    record_use(12)
    chain = services.chain_from_settings()
    contract = services.current_contract(chain)

    tx_hash = kill_with_a_transaction_in_flight(
        node, processes, command_env(node, TRACER_BATCH_SIZE=5)
    )
    assert chain.anchored(contract.address, 1) is None
    rpc(node, "miner_start")  # the dead worker's transaction is mined all the same
    wait_until(lambda: chain.anchored(contract.address, 1), timeout=30)
    settings.TRACER_BATCH_SIZE = 5
    run = services.anchor_pending()

    assert run.anchored == [1, 2, 3] and run.traces == 12
    assert AnchorBatch.objects.get(number=1).tx_hash == tx_hash  # adopted, not sent again
    assert_every_trace_anchored_exactly_once(chain)


def test_anchoring_again_while_the_dead_workers_transaction_is_pending_stops_cleanly(
    node, hub_on, settings, processes
):
    node.start()
    hub_on(node)
    record_use(12)
    chain = services.chain_from_settings()
    services.current_contract(chain)
    env = command_env(node, TRACER_BATCH_SIZE=5)
    kill_with_a_transaction_in_flight(node, processes, env)

    rerun = manage(processes, "anchor_traces", env=env)
    # It either gives up cleanly at once or sends (and waits for) a transaction of its own.
    wait_until(lambda: rerun.poll() is not None or len(in_flight(node)) > 1, timeout=60)
    rpc(node, "miner_start")
    out, err = rerun.communicate(timeout=90)
    settings.TRACER_BATCH_SIZE = 5
    services.anchor_pending()

    assert_every_trace_anchored_exactly_once(chain)
    assert "Traceback" not in err, err
    assert rerun.returncode == 0 or "nothing is lost" in err


def test_a_batch_prepared_when_the_chain_went_down_is_finished_first_with_the_same_traces(
    node, hub_on, settings, processes
):
    node.start()
    hub_on(node)
    record_use(7)
    services.current_contract(services.chain_from_settings())

    with transaction.atomic():
        # Hold the pending traces: the worker reaches the chain, then waits to prepare.
        list(Trace.objects.select_for_update().filter(batch__isnull=True))
        worker = manage(processes, "anchor_traces", env=command_env(node, TRACER_BATCH_SIZE=5))
        wait_until(lambda: lock_waiters() > 0, timeout=60)
        node.stop()  # ... and the chain goes down while it prepares batch 1
    out, err = worker.communicate(timeout=60)

    assert worker.returncode == 1 and "nothing is lost" in err, err
    [batch] = AnchorBatch.objects.all()
    assert (batch.number, batch.status, batch.size, batch.attempts) == (1, PREPARED, 5, 1)
    assert "unreachable" in batch.last_error
    prepared = list(batch.traces.order_by("leaf_index").values_list("pk", "proof"))

    record_use(3, start=7)
    node.start()
    settings.TRACER_BATCH_SIZE = 5
    run = services.anchor_pending()

    assert run.anchored == [1, 2] and run.traces == 10
    finished = AnchorBatch.objects.get(number=1)
    assert (finished.root, finished.attempts, finished.last_error) == (batch.root, 1, "")
    assert list(finished.traces.order_by("leaf_index").values_list("pk", "proof")) == prepared
    assert_every_trace_anchored_exactly_once(services.chain_from_settings())


# --- c. two workers at once ----------------------------------------------------------------


def start_together(processes, env, count: int = 2) -> list[subprocess.Popen]:
    """Start `anchor_traces` workers at the same moment. A lock on the contracts table holds
    the one that takes the anchoring lock (its first query after it waits) until the others
    have found the anchoring lock taken and stopped: a real overlap, not a lucky one."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {ChainContract._meta.db_table} IN ACCESS EXCLUSIVE MODE")
        workers = [manage(processes, "anchor_traces", env=env) for _ in range(count)]
        wait_until(
            lambda: lock_waiters() == 1 and sum(w.poll() is not None for w in workers) == count - 1,
            timeout=60,
        )
    return workers


def test_two_workers_at_once_anchor_every_trace_exactly_once(node, hub_on, processes):
    node.start()
    hub_on(node)
    record_use(60)
    chain = services.chain_from_settings()
    services.current_contract(chain)

    workers = start_together(processes, command_env(node, TRACER_BATCH_SIZE=5))
    outputs = [worker.communicate(timeout=120) for worker in workers]

    assert [w.returncode for w in workers] == [0, 0], outputs
    said = sorted(out.strip() for out, _ in outputs)
    assert said == [
        "anchored 60 traces in 12 batches",
        "another worker is anchoring; nothing to do here",
    ]
    assert AnchorBatch.objects.count() == 12
    assert_every_trace_anchored_exactly_once(chain)


def test_two_workers_on_a_new_chain_deploy_one_contract(node, hub_on, processes):
    node.start()
    hub_on(node)
    record_use(10)

    workers = start_together(processes, command_env(node, TRACER_BATCH_SIZE=5))
    outputs = [worker.communicate(timeout=120) for worker in workers]

    assert [w.returncode for w in workers] == [0, 0], outputs
    assert ChainContract.objects.count() == 1
    assert_every_trace_anchored_exactly_once(services.chain_from_settings())


# --- d. verify_traces reports loudly ---------------------------------------------------------


def test_verify_traces_names_each_changed_or_missing_trace_and_batch(node, hub_on, settings):
    node.start()
    hub_on(node)
    traces = record_use(9)
    settings.TRACER_BATCH_SIZE = 3
    services.anchor_pending()
    call_command("verify_traces")  # all in order: no error

    changed, deleted = traces[1], traces[4]  # batch 1 position 1, batch 2 position 1
    Trace.objects.filter(pk=changed.pk).update(tool_version="9.9")
    Trace.objects.filter(pk=deleted.pk).delete()
    AnchorBatch.objects.filter(number=3).update(root="ab" * 32)
    result = subprocess.run(
        [sys.executable, "manage.py", "verify_traces"],
        cwd=ROOT,
        env=command_env(node),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    mismatches = [line for line in result.stderr.splitlines() if line.startswith("MISMATCH")]
    assert len(mismatches) == 3, result.stderr
    assert any(f"TRACE {changed.uuid}" in m and "changed after" in m for m in mismatches)
    assert any("BATCH 2" in m and "missing" in m and "positions 1" in m for m in mismatches)
    assert any("BATCH 3" in m and "the hub root " + "ab" * 32 in m for m in mismatches)
    assert "3 problem(s)" in result.stderr
    assert str(deleted.uuid) not in result.stderr  # gone: its batch and position say so
