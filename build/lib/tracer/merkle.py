"""Merkle trees over trace serialisations, as RFC 9162 (Certificate Transparency 2.0)
defines them, with SHA3-256 as the hash.

Plain Python on purpose: a third party verifies a proof with this file (or
`standalone_verify.py`, which repeats it with the standard library only).

    leaf hash  = SHA3-256(0x00 || canonical trace bytes)
    node hash  = SHA3-256(0x01 || left || right)
    tree of n  = split at the largest power of two below n (RFC 9162, 2.1.1)

The domain-separation bytes stop a leaf from being passed off as an inner node.
An inclusion proof is the audit path (sibling hashes, leaf to root); with the
leaf's index and the batch size it fixes the root (RFC 9162, 2.1.3.2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha3_256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha3_256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root_and_paths(leaves: Sequence[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """The root over leaf hashes and every leaf's audit path, in one pass (O(n log n))."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    paths: list[list[bytes]] = [[] for _ in leaves]

    def build(lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return leaves[lo]
        mid = lo + _split(hi - lo)
        left, right = build(lo, mid), build(mid, hi)
        for i in range(lo, mid):
            paths[i].append(right)
        for i in range(mid, hi):
            paths[i].append(left)
        return node_hash(left, right)

    return build(0, len(leaves)), paths


def root_from_path(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes | None:
    """The root that `path` proves for the leaf at `index` of a tree of `size` leaves.

    None when the path cannot belong to such a tree (wrong length or index).
    RFC 9162, 2.1.3.2.
    """
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify(leaf: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    return root_from_path(leaf, index, size, path) == root
