"""The anchoring contract: the committed artifact is what its source compiles to, and
on an EVM a batch id is written once, by the hub's key only, never empty."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from eth_tester.exceptions import TransactionFailed
from web3 import Web3

from tracer import chain as tracer_chain
from tracer.chain import ChainMismatch

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "tracer" / "contracts"
ROOT_A = bytes.fromhex("a1" * 32)
ROOT_B = bytes.fromhex("b2" * 32)


def selector(signature: str) -> bytes:
    return Web3.keccak(text=signature)[:4]


def revert_data(failure: TransactionFailed) -> bytes:
    """The revert data the in-process EVM reports, as bytes ("execution reverted: b'...'")."""
    message = failure.args[0]
    assert message.startswith("execution reverted: b"), message
    return ast.literal_eval(message.removeprefix("execution reverted: "))


def test_the_committed_artifact_is_what_the_source_compiles_to():
    node = shutil.which("node")
    assert node, "node is needed to compile the contract (make test installs it)"
    compiled = subprocess.run(
        [node, str(CONTRACTS / "compile.mjs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    fresh = json.loads(compiled.stdout)
    committed = json.loads((CONTRACTS / "TraceAnchor.json").read_text())

    assert fresh["abi"] == committed["abi"]
    assert fresh["bytecode"] == committed["bytecode"]
    assert (fresh["compiler"], fresh["evmVersion"]) == (
        committed["compiler"],
        committed["evmVersion"],
    )


@pytest.fixture
def evm(in_process_chain):
    """The hub's chain seam on a fresh in-process EVM, with the contract deployed."""
    chain = tracer_chain.connect(tracer_chain.IN_PROCESS, None)
    address, _ = chain.deploy()
    return chain, address


def other_account(chain) -> tracer_chain.Chain:
    """The same EVM, signing with a funded key that did not deploy the contract."""
    keys = chain.w3.provider.ethereum_tester.backend.account_keys
    return tracer_chain.Chain(chain.w3, keys[1].to_hex())


def send_with_fixed_gas(chain, address: str, *args) -> str:
    """Send anchor(...) without the client's gas estimate, so the EVM itself must refuse."""
    tx = (
        chain.contract(address)
        .functions.anchor(*args)
        .build_transaction(chain._tx_fields() | {"gas": 200_000})
    )
    signed = chain._account.sign_transaction(tx)
    return Web3.to_hex(chain.w3.eth.send_raw_transaction(signed.raw_transaction))


def test_the_deployer_owns_the_contract(evm):
    chain, address = evm
    assert chain.contract(address).functions.owner().call() == chain.signer


def test_a_batch_id_is_anchored_once_and_never_overwritten(evm):
    chain, address = evm
    chain.wait(chain.send_anchor(address, 1, ROOT_A, 3))

    with pytest.raises(TransactionFailed) as refused:
        chain.send_anchor(address, 1, ROOT_B, 4)
    assert revert_data(refused.value) == (
        selector("AlreadyAnchored(uint256,bytes32)") + (1).to_bytes(32, "big") + ROOT_A
    )
    with pytest.raises(ChainMismatch, match="reverted"):
        chain.wait(send_with_fixed_gas(chain, address, 1, ROOT_B, 4))
    with pytest.raises(ChainMismatch, match="reverted"):  # not even the same root again
        chain.wait(send_with_fixed_gas(chain, address, 1, ROOT_A, 3))

    kept = chain.anchored(address, 1)
    assert (kept.root, kept.count) == (ROOT_A, 3)
    assert [e["batch_id"] for e in chain.anchored_events(address)] == [1]


def test_only_the_owner_anchors(evm):
    chain, address = evm
    stranger = other_account(chain)

    with pytest.raises(TransactionFailed) as refused:
        stranger.send_anchor(address, 1, ROOT_A, 3)
    assert revert_data(refused.value) == selector("NotOwner()")
    with pytest.raises(ChainMismatch, match="reverted"):
        stranger.wait(send_with_fixed_gas(stranger, address, 1, ROOT_A, 3))

    assert chain.anchored(address, 1) is None
    assert chain.anchored_events(address) == []


@pytest.mark.parametrize("root, count", [(bytes(32), 3), (ROOT_A, 0)])
def test_an_empty_root_or_an_empty_batch_is_refused(evm, root, count):
    chain, address = evm

    with pytest.raises(TransactionFailed) as refused:
        chain.send_anchor(address, 1, root, count)
    assert revert_data(refused.value) == selector("EmptyBatch()")
    with pytest.raises(ChainMismatch, match="reverted"):
        chain.wait(send_with_fixed_gas(chain, address, 1, root, count))

    assert chain.anchored(address, 1) is None


def test_an_unknown_batch_reads_as_zeros(evm):
    chain, address = evm
    chain.wait(chain.send_anchor(address, 1, ROOT_A, 3))

    assert chain.contract(address).functions.batch(2).call() == [bytes(32), 0, 0]
    assert chain.contract(address).functions.batch(2**256 - 1).call() == [bytes(32), 0, 0]
    assert chain.anchored(address, 2) is None


def test_anchoring_records_the_root_count_and_block_time_and_emits_one_event(evm):
    chain, address = evm

    sent = chain.wait(chain.send_anchor(address, 7, ROOT_A, 5))

    receipt = chain.w3.eth.get_transaction_receipt(sent.tx_hash)
    block = chain.w3.eth.get_block(sent.block_number)
    [event] = chain.contract(address).events.Anchored().process_receipt(receipt)
    assert dict(event["args"]) == {"batchId": 7, "root": ROOT_A, "count": 5}
    [log] = receipt["logs"]
    assert log["topics"][0] == Web3.keccak(text="Anchored(uint256,bytes32,uint64)")
    assert log["topics"][1] == (7).to_bytes(32, "big")  # indexed: searchable by batch id
    assert chain.anchored(address, 7) == tracer_chain.AnchoredBatch(ROOT_A, 5, block["timestamp"])
    assert chain.anchoring_tx(address, 7) == sent
