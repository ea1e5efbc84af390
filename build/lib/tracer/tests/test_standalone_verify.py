"""A third party checks a trace with standalone_verify.py: the standard library, a proof
document and a chain node (a real ganache), and nothing the hub says about hashes."""

from __future__ import annotations

import ast
import copy
import http.server
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from web3 import Web3

from tracer import canonical, merkle, services, standalone_verify
from tracer.models import Action, Trace

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = "tracer/standalone_verify.py"
BATCH = 5  # not a power of two: the last leaf climbs the tree's right edge


def proof_document(trace: Trace) -> dict:
    """The public proof of an anchored trace, in the shape GET /api/v1/traces/<id>/proof has."""
    trace = Trace.objects.select_related("batch__contract").get(pk=trace.pk)
    batch, document = trace.batch, trace.document()
    return {
        "trace": document,
        "canonical": canonical.canonical_bytes(document).decode(),
        "leafHash": trace.leaf_hash,
        "proof": {
            "leafIndex": trace.leaf_index,
            "treeSize": batch.size,
            "auditPath": list(trace.proof),
        },
        "batch": {
            "number": batch.number,
            "root": batch.root,
            "size": batch.size,
            "status": batch.status,
        },
        "anchor": {
            "chainId": batch.contract.chain_id,
            "contract": batch.contract.address,
            "transaction": batch.tx_hash,
            "blockNumber": batch.block_number,
        },
    }


def run_verifier(tmp_path, document: dict, *args: str, rpc: str) -> subprocess.CompletedProcess:
    """As a third party runs it: `python tracer/standalone_verify.py`, with `-S` so no
    installed package (web3, Django) can be imported, only the standard library."""
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(document))
    return subprocess.run(
        [sys.executable, "-S", SCRIPT, "--rpc", rpc, *args, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def anchored(db, settings, ganache) -> list[Trace]:
    """Seven traces anchored on the real ganache: a batch of five and one of two."""
    settings.CHAIN_RPC_URL = ganache.url
    settings.CHAIN_PRIVATE_KEY = django_settings.GANACHE_DEVELOPMENT_KEY
    settings.TRACER_CONTRACT_ADDRESS = ""
    settings.TRACER_BATCH_SIZE = 10**9  # recording queues no anchoring of its own
    traces = []
    for i in range(7):
        with transaction.atomic():
            traces.append(
                services.record(
                    action=Action.USE_DATASETS,
                    caller="sandbox-tool",
                    user_id=f"researcher-{i}",
                    dataset_ids=[f"ds-{i}", "ds-common"],
                    resources=[services.hash_resource(f"result-{i}", f"{i:02x}" * 32)],
                    tool_name="jupyter",
                    tool_version="4.6",
                )
            )
    settings.TRACER_BATCH_SIZE = BATCH
    assert services.anchor_pending().anchored == [1, 2]
    return traces


def test_every_anchored_trace_verifies_against_the_chain_alone(anchored, ganache, tmp_path):
    for trace in anchored:
        result = run_verifier(tmp_path, proof_document(trace), rpc=ganache.url)

        assert result.returncode == 0, result.stdout + result.stderr
        assert "VERIFIED: the trace is unchanged" in result.stdout
        assert "NOT VERIFIED" not in result.stdout
        assert str(trace.uuid) in result.stdout


def _edit_trace(document):
    document["trace"]["datasetsIds"] = ["ds-other", "ds-common"]


def _edit_user(document):
    document["trace"]["userId"] = services.pseudonym("someone-else")


def _flip_audit_path(document):
    node = bytearray.fromhex(document["proof"]["auditPath"][0])
    node[0] ^= 1
    document["proof"]["auditPath"][0] = node.hex()


def _move_leaf(document):
    document["proof"]["leafIndex"] = 0


def _shorten_audit_path(document):
    document["proof"]["auditPath"].pop()


def _lengthen_audit_path(document):
    document["proof"]["auditPath"].append("00" * 32)


def _other_batch(document):
    document["batch"]["number"] = 2


def _unknown_batch(document):
    document["batch"]["number"] = 99


def _other_chain(document):
    document["anchor"]["chainId"] = 1


def _no_contract_there(document):
    document["anchor"]["contract"] = "0x" + "11" * 20


def _other_transaction(document):
    document["anchor"]["transaction"] = "0x" + "ab" * 32


@pytest.mark.parametrize(
    "tamper, reason",
    [
        (_edit_trace, "do not lead to batch 1's root"),
        (_edit_user, "do not lead to batch 1's root"),
        (_flip_audit_path, "do not lead to batch 1's root"),
        (_move_leaf, "do not lead to batch 1's root"),
        (_shorten_audit_path, "shorter than the tree is deep"),
        (_lengthen_audit_path, "longer than the tree is deep"),
        (_other_batch, "leaf index 3 is outside a batch of 2"),
        (_unknown_batch, "batch 99 is not anchored"),
        (_other_chain, "the node is on chain 1337, the trace was anchored on 1"),
        (_no_contract_there, "there is no contract"),
        (_other_transaction, "is not on this chain"),
    ],
)
def test_a_tampered_proof_is_not_verified(anchored, ganache, tmp_path, tamper, reason):
    document = proof_document(anchored[3])  # leaf 3 of 5: a path of three nodes
    tamper(document)

    result = run_verifier(tmp_path, document, rpc=ganache.url)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "NOT VERIFIED" in result.stdout and reason in result.stdout
    assert "VERIFIED: the trace is unchanged" not in result.stdout


def test_the_hubs_own_hashes_are_never_trusted(anchored, ganache, tmp_path):
    genuine = proof_document(anchored[4])  # the last leaf of five: it climbs the right edge
    garbled = copy.deepcopy(genuine)
    garbled["leafHash"] = "00" * 32
    garbled["batch"]["root"] = "00" * 32
    garbled["canonical"] = "{}"
    # A hub that lies consistently: the changed trace, its leaf hash and a root over it.
    forged = copy.deepcopy(genuine)
    forged["trace"]["toolName"] = "rstudio"
    leaf = canonical.document_leaf(forged["trace"])
    path = [bytes.fromhex(p) for p in forged["proof"]["auditPath"]]
    forged["leafHash"] = leaf.hex()
    forged["canonical"] = canonical.canonical_bytes(forged["trace"]).decode()
    forged["batch"]["root"] = merkle.root_from_path(leaf, 4, BATCH, path).hex()

    assert run_verifier(tmp_path, garbled, rpc=ganache.url).returncode == 0
    result = run_verifier(tmp_path, forged, rpc=ganache.url)
    assert result.returncode == 1 and "NOT VERIFIED" in result.stdout


def test_the_hubs_proof_endpoint_gives_what_the_verifier_checks(anchored, ganache, tmp_path, api):
    response = api.anonymous().get(f"/api/v1/traces/{anchored[6].uuid}/proof")
    assert response.status_code == 200

    result = run_verifier(tmp_path, response.json(), rpc=ganache.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERIFIED" in result.stdout


def test_a_pinned_contract_must_be_the_one_the_document_names(anchored, ganache, tmp_path):
    document = proof_document(anchored[0])
    address = document["anchor"]["contract"]

    assert run_verifier(tmp_path, document, "--contract", address, rpc=ganache.url).returncode == 0
    result = run_verifier(tmp_path, document, "--contract", "0x" + "22" * 20, rpc=ganache.url)
    assert result.returncode == 1 and f"names contract {address}" in result.stdout


def test_a_trace_not_anchored_yet_is_not_verified(anchored, ganache, tmp_path):
    document = proof_document(anchored[0]) | {"proof": None, "anchor": None}

    result = run_verifier(tmp_path, document, rpc=ganache.url)

    assert result.returncode == 1 and "not anchored yet" in result.stdout


def test_an_unreachable_node_is_not_verified(anchored, tmp_path):
    from tests.chain import free_port

    result = run_verifier(
        tmp_path, proof_document(anchored[0]), rpc=f"http://127.0.0.1:{free_port()}"
    )

    assert result.returncode == 1 and "NOT VERIFIED: cannot ask the chain node" in result.stdout


def test_the_proof_can_be_fetched_from_the_hub(anchored, ganache):
    body = json.dumps(proof_document(anchored[2])).encode()

    class Hub(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path.endswith("/proof") else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/v1/traces/{anchored[2].uuid}/proof"
        result = subprocess.run(
            [sys.executable, "-S", SCRIPT, "--rpc", ganache.url, "--url", url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.shutdown()
        server.server_close()

    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERIFIED" in result.stdout


def test_the_hard_coded_keccak_values_are_the_contracts():
    assert bytes.fromhex(standalone_verify.BATCH_SELECTOR) == Web3.keccak(text="batch(uint256)")[:4]
    assert standalone_verify.ANCHORED_TOPIC == Web3.to_hex(
        Web3.keccak(text="Anchored(uint256,bytes32,uint64)")
    )


def test_the_inclusion_check_agrees_with_the_hubs_merkle_trees():
    """An independent RFC 9162 implementation: every leaf of every tree up to 33 leaves."""
    for size in range(1, 34):
        leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(size)]
        root, paths = merkle.root_and_paths(leaves)
        for index, path in enumerate(paths):
            assert standalone_verify.root_from_audit_path(leaves[index], index, size, path) == root
            if size > 1:
                with pytest.raises(standalone_verify.NotVerified):
                    standalone_verify.root_from_audit_path(leaves[index], index, size, path[:-1])


def test_the_verifier_imports_nothing_but_the_standard_library():
    tree = ast.parse((ROOT / SCRIPT).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "no relative imports"
            imported.add(node.module.split(".")[0])

    assert imported - {"__future__"} <= sys.stdlib_module_names
