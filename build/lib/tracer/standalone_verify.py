#!/usr/bin/env python3
"""Check one Agora trace against the chain, trusting nothing the hub says about hashes.

    python standalone_verify.py --rpc http://node:8545 proof.json
    python standalone_verify.py --rpc http://node:8545 --url https://hub/api/v1/traces/<id>/proof

Needs only Python 3.8+ and its standard library, and an Ethereum JSON-RPC node of the
chain the hub anchors on: copy this one file anywhere. It reads the proof document
(GET /api/v1/traces/<id>/proof), then on its own

1. serialises the trace document canonically (JSON, sorted keys, no spaces, UTF-8),
2. hashes it as an RFC 9162 leaf: SHA3-256(0x00 || bytes),
3. climbs the audit path to a root (RFC 9162, 2.1.3.2; nodes are SHA3-256(0x01 || l || r)),
4. asks the node, through the contract's `batch(uint256)` view, for the root and the
   number of traces the hub anchored under that batch number,

and says VERIFIED (exit 0) only if the two roots are equal. The document's own
`leafHash`, `batch.root` and `canonical` fields are ignored: the chain and this
computation decide. Pin the contract with --contract (an address you got from the hub's
operator, not from the document) so a document cannot point you at another contract.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run from a checkout, Python puts this file's folder first on sys.path, and the hub's
# own modules there (selectors.py) would shadow the standard library's. Nothing here
# is imported from that folder.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import urllib.request  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

# The standard library has no Keccak-256 (hashlib's sha3_256 is the FIPS 202 variant,
# with different padding), so the two values taken from Keccak are written out here.
# Derive them with any Ethereum tool, e.g. web3.py:
#   Web3.keccak(text="batch(uint256)")[:4].hex()                    -> 0eaa75fe
#   Web3.keccak(text="Anchored(uint256,bytes32,uint64)").hex()     -> 0669d8d6...c6ec
# (cast sig "batch(uint256)" with Foundry gives the same selector.)
BATCH_SELECTOR = "0eaa75fe"
ANCHORED_TOPIC = "0x0669d8d621bba43dc1f22b853e40d59050fb8d820565709136967ac12c99c6ec"

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
TIMEOUT_SECONDS = 20


class NotVerified(Exception):
    """The trace cannot be shown to be on chain; the message says why."""


# --- the computation -----------------------------------------------------------------


def canonical_bytes(document: dict) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha3_256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha3_256(NODE_PREFIX + left + right).digest()


def root_from_audit_path(leaf: bytes, index: int, size: int, path: list[bytes]) -> bytes:
    """RFC 9162, section 2.1.3.2: the root the audit path proves for leaf `index` of
    `size`. Raises NotVerified if the path cannot belong to such a tree."""
    if not 0 <= index < size:
        raise NotVerified(f"leaf index {index} is outside a batch of {size} traces")
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            raise NotVerified("the audit path is longer than the tree is deep")
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r)
            if fn % 2 == 0:
                # The rightmost node of a level with no right sibling: climb until
                # the node is a right child (or the root's left spine ends).
                while fn != 0 and fn % 2 == 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise NotVerified("the audit path is shorter than the tree is deep")
    return r


# --- the chain, over plain JSON-RPC ---------------------------------------------------


class Node:
    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        self.url = url
        self.timeout = timeout
        self._id = 0

    def call(self, method: str, *params):
        self._id += 1
        body = json.dumps({"jsonrpc": "2.0", "id": self._id, "method": method, "params": params})
        request = urllib.request.Request(
            self.url, data=body.encode(), headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                reply = json.loads(answer.read())
        except (OSError, ValueError) as exc:
            raise NotVerified(f"cannot ask the chain node at {self.url}: {exc}") from None
        if "error" in reply:
            raise NotVerified(f"the chain node refused {method}: {reply['error']}")
        return reply.get("result")

    def batch(self, contract: str, number: int) -> tuple[bytes, int, int]:
        """(root, count, anchoredAt) from the contract's `batch(uint256)` view."""
        data = "0x" + BATCH_SELECTOR + number.to_bytes(32, "big").hex()
        result = self.call("eth_call", {"to": contract, "data": data}, "latest")
        raw = bytes.fromhex((result or "0x")[2:])
        if len(raw) != 96:
            raise NotVerified(
                f"{contract} did not answer batch(uint256) as the anchoring contract does"
            )
        root = raw[0:32]
        count = int.from_bytes(raw[32:64], "big")
        anchored_at = int.from_bytes(raw[64:96], "big")
        return root, count, anchored_at


def _hex_bytes(value: object, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str):
        raise NotVerified(f"{what} is not a hex string")
    text = value[2:] if value.lower().startswith("0x") else value
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise NotVerified(f"{what} is not a hex string") from None
    if length is not None and len(raw) != length:
        raise NotVerified(f"{what} is not {length} bytes long")
    return raw


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise NotVerified(f"{what} is not an integer")
    return value


def _utc(seconds: int) -> str:
    # timezone.utc, not datetime.UTC (3.11+): the verifier runs on older Pythons too.
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")  # noqa: UP017


# --- the check ---------------------------------------------------------------------------


def verify(document: dict, node: Node, contract: str | None = None, say=print) -> None:
    """Raise NotVerified with the reason unless the trace is in a root on chain."""
    if not isinstance(document, dict):
        raise NotVerified("the proof document is not a JSON object")
    trace = document.get("trace", document.get("document"))
    if not isinstance(trace, dict):
        raise NotVerified("the proof document holds no trace document")
    proof = document.get("proof")
    batch = document.get("batch")
    anchor = document.get("anchor")
    if not (isinstance(proof, dict) and isinstance(batch, dict) and isinstance(anchor, dict)):
        raise NotVerified("the trace is not anchored yet (no proof, batch or anchor given)")

    say(f"trace     {trace.get('id')}  {trace.get('userAction')} {trace.get('details') or ''}")
    data = canonical_bytes(trace)
    leaf = leaf_hash(data)
    say(f"leaf      {leaf.hex()}  (computed here from {len(data)} canonical bytes)")

    number = _int(batch.get("number"), "batch.number")
    index = _int(proof.get("leafIndex"), "proof.leafIndex")
    path_hex = proof.get("auditPath")
    if not isinstance(path_hex, list):
        raise NotVerified("proof.auditPath is not a list")
    path = [_hex_bytes(p, f"proof.auditPath[{i}]", 32) for i, p in enumerate(path_hex)]

    address = anchor.get("contract")
    if not isinstance(address, str) or len(_hex_bytes(address, "anchor.contract")) != 20:
        raise NotVerified("anchor.contract is not an address")
    if contract and contract.lower() != address.lower():
        raise NotVerified(f"the document names contract {address}, not {contract}")

    answer = node.call("eth_chainId")
    if not isinstance(answer, str):
        raise NotVerified("the chain node did not say which chain it is on")
    chain_id = int(answer, 16)
    claimed = anchor.get("chainId")
    if claimed is not None and _int(claimed, "anchor.chainId") != chain_id:
        raise NotVerified(f"the node is on chain {chain_id}, the trace was anchored on {claimed}")
    if node.call("eth_getCode", address, "latest") in (None, "0x", "0x0"):
        raise NotVerified(f"there is no contract at {address} on chain {chain_id}")

    root, count, anchored_at = node.batch(address, number)
    if root == bytes(32):
        raise NotVerified(f"batch {number} is not anchored in contract {address}")
    say(
        f"chain     {chain_id}, contract {address}: batch {number} holds {count} traces, "
        f"anchored {_utc(anchored_at)}"
    )
    claimed_size = proof.get("treeSize")
    if claimed_size is not None and claimed_size != count:
        say(f"note      the document says the batch has {claimed_size} traces; the chain decides")

    computed = root_from_audit_path(leaf, index, count, path)
    say(f"root      {computed.hex()}  (leaf {index} of {count} up {len(path)} audit-path nodes)")
    say(f"on chain  {root.hex()}")
    if computed != root:
        raise NotVerified(f"the trace and its audit path do not lead to batch {number}'s root")

    tx_hash = anchor.get("transaction")
    if tx_hash:
        receipt = node.call("eth_getTransactionReceipt", tx_hash)
        if receipt is None:
            raise NotVerified(f"transaction {tx_hash} is not on this chain")
        if not _anchors(receipt, address, number, root):
            raise NotVerified(f"transaction {tx_hash} did not anchor batch {number}")
        say(f"tx        {tx_hash} in block {int(receipt['blockNumber'], 16)}")


def _anchors(receipt: dict, address: str, number: int, root: bytes) -> bool:
    """The receipt is a successful call that emitted Anchored(number, root, ...)."""
    if receipt.get("status") not in ("0x1", "0x01"):
        return False
    topic = "0x" + number.to_bytes(32, "big").hex()
    for log in receipt.get("logs") or []:
        topics = [t.lower() for t in log.get("topics") or []]
        if (
            str(log.get("address", "")).lower() == address.lower()
            and topics[:2] == [ANCHORED_TOPIC, topic]
            and _hex_bytes(log.get("data", "0x"), "log data")[:32] == root
        ):
            return True
    return False


def load(path: str | None, url: str | None) -> dict:
    try:
        if url:
            request = urllib.request.Request(url, headers={"Accept": "application/json"})
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
                return json.loads(answer.read())
        if path == "-":
            return json.load(sys.stdin)
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NotVerified(f"cannot read the proof document: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Verify an Agora trace proof against the chain (standard library only)."
    )
    parser.add_argument("proof", nargs="?", help="the proof JSON file ('-' for standard input)")
    parser.add_argument("--url", help="fetch the proof document from the hub instead")
    parser.add_argument("--rpc", required=True, help="JSON-RPC URL of a node of the chain")
    parser.add_argument("--contract", help="the anchoring contract's address, if you know it")
    args = parser.parse_args(argv)
    if bool(args.proof) == bool(args.url):
        parser.error("give either a proof file or --url")
    try:
        verify(load(args.proof, args.url), Node(args.rpc), contract=args.contract)
    except NotVerified as exc:
        print(f"NOT VERIFIED: {exc}")
        return 1
    print("VERIFIED: the trace is unchanged and its batch root is on chain.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
