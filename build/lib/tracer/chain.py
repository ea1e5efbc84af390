"""The one seam between the tracer and an Ethereum JSON-RPC node (web3.py).

Any node works: Hyperledger Besu in production, ganache in the demo and the
tests, the in-process EVM (`CHAIN_RPC_URL=eth-tester://`) in unit tests.
Transactions are signed here with the key from settings and sent raw, so the
node never holds the key. The key is never logged or put in an error message.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import requests
from eth_account import Account
from web3 import Web3
from web3.exceptions import (
    BadFunctionCallOutput,
    BadResponseFormat,
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    Web3RPCError,
)

logger = logging.getLogger(__name__)

ARTIFACT = Path(__file__).parent / "contracts" / "TraceAnchor.json"
IN_PROCESS = "eth-tester://"
# What a node that is down, restarting, overloaded or answering with a JSON-RPC error
# raises through web3: all mean "not now" to the tracer, which retries.
UNREACHABLE = (
    requests.exceptions.RequestException,
    ConnectionError,
    OSError,
    TimeExhausted,
    Web3RPCError,
    BadResponseFormat,
    BadFunctionCallOutput,
)


class ChainUnavailable(Exception):
    """The node cannot be reached now; the caller retries later."""


class ChainMismatch(Exception):
    """The chain holds something other than what the hub recorded (reported loudly)."""


class AnchorRefused(Exception):
    """The contract would revert the anchoring (e.g. the batch id was anchored meanwhile)."""


@cache
def artifact() -> dict:
    return json.loads(ARTIFACT.read_text())


@dataclass(frozen=True)
class AnchoredBatch:
    root: bytes
    count: int
    anchored_at: int


@dataclass(frozen=True)
class SentAnchor:
    tx_hash: str
    block_number: int


class Chain:
    def __init__(
        self,
        w3: Web3,
        private_key: str | None,
        timeout: float = 60.0,
        gas_price_wei: int | None = None,
    ):
        self.w3 = w3
        self._account = Account.from_key(private_key) if private_key else None
        self.timeout = timeout
        # Set for networks without EIP-1559 fees (e.g. a free-gas Besu network: 0).
        self.gas_price_wei = gas_price_wei
        self._owners: dict[str, str] = {}

    def __repr__(self) -> str:  # never show the key
        return f"<Chain {self.w3.provider!r} signer={self.signer}>"

    @property
    def signer(self) -> str | None:
        return self._account.address if self._account else None

    # --- identity of the chain -------------------------------------------------------
    def identity(self) -> tuple[int, str]:
        """(chain id, genesis block hash): a reset node with the same chain id differs."""
        with _reachable():
            genesis = self.w3.eth.get_block(0)["hash"]
            return self.w3.eth.chain_id, Web3.to_hex(genesis)

    def has_code(self, address: str) -> bool:
        with _reachable():
            return len(self.w3.eth.get_code(Web3.to_checksum_address(address))) > 0

    def contract(self, address: str):
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(address), abi=artifact()["abi"]
        )

    # --- writing ---------------------------------------------------------------------
    def deploy(self) -> tuple[str, str]:
        """Deploy the anchoring contract; returns its address and the creating transaction."""
        factory = self.w3.eth.contract(abi=artifact()["abi"], bytecode=artifact()["bytecode"])
        with _reachable():
            tx = factory.constructor().build_transaction(self._tx_fields())
            receipt = self._send(tx)
        return receipt["contractAddress"], Web3.to_hex(receipt["transactionHash"])

    def send_anchor(self, address: str, batch_id: int, root: bytes, count: int) -> str:
        """Send the anchoring transaction without waiting; returns its hash."""
        with _reachable():
            try:
                tx = (
                    self.contract(address)
                    .functions.anchor(batch_id, root, count)
                    .build_transaction(self._tx_fields())
                )
            except (ContractCustomError, ContractLogicError) as exc:
                raise AnchorRefused(f"the contract refuses batch {batch_id}") from exc
            signed = self._account.sign_transaction(tx)
            try:
                return Web3.to_hex(self.w3.eth.send_raw_transaction(signed.raw_transaction))
            except Web3RPCError as exc:
                # "nonce too low", "underpriced", "already known": an earlier transaction of
                # ours is still in the pool. Later, it is mined and the next run finds it.
                raise ChainUnavailable(f"the node refused the transaction for now: {exc}") from None

    def wait(self, tx_hash: str) -> SentAnchor:
        with _reachable():
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout)
        if receipt["status"] != 1:
            raise ChainMismatch(f"transaction {tx_hash} was reverted")
        return SentAnchor(Web3.to_hex(receipt["transactionHash"]), receipt["blockNumber"])

    def _tx_fields(self) -> dict:
        if self._account is None:
            raise ChainMismatch("CHAIN_PRIVATE_KEY is not set; the hub cannot sign transactions")
        fields = {
            "from": self._account.address,
            "nonce": self.w3.eth.get_transaction_count(self._account.address, "pending"),
            "chainId": self.w3.eth.chain_id,
        }
        if self.gas_price_wei is not None:
            fields["gasPrice"] = self.gas_price_wei
        return fields

    def _send(self, tx: dict):
        signed = self._account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        return self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.timeout)

    # --- reading ---------------------------------------------------------------------
    def owner(self, address: str) -> str:
        """The account that may anchor on this contract (its deployer; immutable, so it
        is asked once per address)."""
        if address not in self._owners:
            with _reachable():
                self._owners[address] = self.contract(address).functions.owner().call()
        return self._owners[address]

    def anchored(self, address: str, batch_id: int) -> AnchoredBatch | None:
        with _reachable():
            root, count, at = self.contract(address).functions.batch(batch_id).call()
        if root == b"\x00" * 32:
            return None
        return AnchoredBatch(bytes(root), count, at)

    def anchoring_tx(self, address: str, batch_id: int) -> SentAnchor | None:
        """The transaction whose Anchored event wrote `batch_id`, from the chain's logs."""
        with _reachable():
            logs = self.contract(address).events.Anchored.get_logs(
                from_block=0, argument_filters={"batchId": batch_id}
            )
        if not logs:
            return None
        return SentAnchor(Web3.to_hex(logs[0]["transactionHash"]), logs[0]["blockNumber"])

    def anchored_events(self, address: str) -> list[dict]:
        with _reachable():
            logs = self.contract(address).events.Anchored.get_logs(from_block=0)
        return [
            {
                "batch_id": log["args"]["batchId"],
                "root": bytes(log["args"]["root"]).hex(),
                "count": log["args"]["count"],
                "tx_hash": Web3.to_hex(log["transactionHash"]),
            }
            for log in logs
        ]


class _reachable:
    """Turn the many ways a node can be down into ChainUnavailable (without the key)."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc is None:
            return False
        if isinstance(exc, ContractCustomError | ContractLogicError):
            return False
        if isinstance(exc, UNREACHABLE):
            raise ChainUnavailable(f"chain node unreachable: {type(exc).__name__}") from None
        return False


_in_process: dict[str, object] = {}


def in_process_chain() -> tuple[Web3, str]:
    """The process's own EVM (eth-tester) and a funded key; reset_in_process() starts afresh."""
    if "w3" not in _in_process:
        from eth_tester import EthereumTester, PyEVMBackend
        from web3 import EthereumTesterProvider

        backend = PyEVMBackend()
        w3 = Web3(EthereumTesterProvider(EthereumTester(backend)))
        _in_process["w3"] = w3
        _in_process["key"] = backend.account_keys[0].to_hex()
    return _in_process["w3"], _in_process["key"]


def reset_in_process() -> None:
    _in_process.clear()


def connect(
    url: str, private_key: str | None, timeout: float = 10.0, gas_price_wei: int | None = None
) -> Chain:
    """A Chain on `url`; `timeout` bounds each JSON-RPC call, receipts get at least 60 s."""
    if url == IN_PROCESS:
        w3, key = in_process_chain()
        return Chain(w3, private_key or key, timeout=timeout)
    # No retries inside web3 (it would try a hung node 5 times): Celery retries instead.
    w3 = Web3(
        Web3.HTTPProvider(
            url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None
        )
    )
    return Chain(w3, private_key, timeout=max(timeout, 60.0), gas_price_wei=gas_price_wei)
