"""What the hub's own checks catch beyond a changed row: a forged contract, a node that
answers errors, impossible filter times."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import Client
from django.urls import reverse

from hub.errors import ValidationFailed
from tracer import chain as chains
from tracer import merkle, selectors, services
from tracer.chain import ChainUnavailable
from tracer.models import AnchorBatch, ChainContract, Trace
from tracer.tests.factories import record_use
from tracer.verification import verify_all

pytestmark = pytest.mark.django_db


def test_a_batch_pointed_at_a_contract_of_another_account_does_not_verify(in_process_chain):
    record_use(3)
    services.anchor_pending()
    hub_chain = services.chain_from_settings()
    # Someone with database access rewrites a trace and its batch, and anchors the forged
    # root on a contract they deployed themselves.
    trace = Trace.objects.order_by("seq").first()
    trace.tool_version = "forged"
    trace.leaf_hash = trace.computed_leaf_hash()
    trace.save()
    leaves = [bytes.fromhex(t.leaf_hash) for t in Trace.objects.order_by("leaf_index")]
    root, paths = merkle.root_and_paths(leaves)
    for t, path in zip(Trace.objects.order_by("leaf_index"), paths, strict=True):
        Trace.objects.filter(pk=t.pk).update(proof=[p.hex() for p in path])
    w3, _ = chains.in_process_chain()
    other_key = w3.provider.ethereum_tester.backend.account_keys[1].to_hex()
    forger = chains.Chain(w3, other_key)
    address, _ = forger.deploy()
    forger.wait(forger.send_anchor(address, 1, root, 3))
    chain_id, genesis = hub_chain.identity()
    forged = ChainContract.objects.create(chain_id=chain_id, genesis_hash=genesis, address=address)
    AnchorBatch.objects.filter(number=1).update(root=root.hex(), contract=forged)

    problems = [str(p) for p in verify_all(hub_chain).problems]

    assert any(f"contract {address} belongs to" in p for p in problems), problems


class _ErrorNode(BaseHTTPRequestHandler):
    """A node that answers every JSON-RPC call with an error (rate limit, say)."""

    def do_POST(self):  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = json.dumps(
            {"jsonrpc": "2.0", "id": 1, "error": {"code": -32005, "message": "limit"}}
        )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def error_node():
    server = HTTPServer(("127.0.0.1", 0), _ErrorNode)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_a_node_answering_errors_is_unreachable_not_a_crash(
    in_process_chain, error_node, settings, hub_admin
):
    record_use(2)
    services.anchor_pending()
    record_use(1, start=2)
    settings.CHAIN_RPC_URL = error_node
    settings.CHAIN_PRIVATE_KEY = settings.GANACHE_DEVELOPMENT_KEY

    with pytest.raises(ChainUnavailable):
        services.anchor_pending()
    browser = Client()
    browser.force_login(hub_admin)
    page = browser.get(reverse("tracer:explorer"))
    trace = Trace.objects.filter(batch__isnull=False).first()
    one = browser.get(reverse("tracer:trace", args=[trace.uuid]))

    assert page.status_code == 200 and "unreachable" in page.content.decode()
    assert one.status_code == 200
    assert Trace.objects.filter(batch__isnull=True).count() == 1  # waits, nothing lost


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
def test_a_time_out_of_range_in_utc_is_a_400(value):
    with pytest.raises(ValidationFailed) as refused:
        selectors.parse_filters({"since": value})
    assert refused.value.details["field"] == "since"


def test_after_a_restore_a_batch_number_taken_on_chain_moves_on_and_is_reported(
    in_process_chain, settings
):
    settings.TRACER_BATCH_SIZE = 2
    record_use(4)
    services.anchor_pending()
    # The database comes back from a backup taken before batch 2 was anchored.
    lost = AnchorBatch.objects.get(number=2)
    Trace.objects.filter(batch=lost).update(batch=None, leaf_index=None, proof=[])
    lost.delete()
    record_use(1, start=4)
    settings.TRACER_BATCH_SIZE = 3  # so batch 2 is now built over other traces

    run = services.anchor_pending()

    assert run.anchored == [3] and run.traces == 3
    report = verify_all(services.chain_from_settings())
    (problem,) = report.problems  # the chain's batch 2, which the hub no longer has
    assert "batch 2 (2 traces" in str(problem) and "missing from the hub" in str(problem)
    assert report.traces == 5
