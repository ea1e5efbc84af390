"""The canonical serialisation of a trace: the exact bytes its Merkle leaf hashes.

Plain Python (no Django), shared by the hub and by anyone verifying a proof.
JSON with sorted keys, no spaces, UTF-8; times in UTC with microseconds and a Z.
Field names follow CHAIMELEON's tracer API (`userAction`, `datasetsIds`, ...).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from . import merkle

FORMAT_VERSION = 1


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def trace_document(
    *,
    trace_id: str,
    version: int,
    timestamp: datetime,
    caller: str,
    user: str,
    action: str,
    details: str,
    dataset_ids: list[str],
    resources: list[dict[str, str]],
    tool_name: str,
    tool_version: str,
    subject_id: str,
) -> dict[str, Any]:
    return {
        "version": version,
        "id": trace_id,
        "timestamp": format_time(timestamp),
        "callerId": caller,
        "userId": user,
        "userAction": action,
        "details": details,
        "datasetsIds": list(dataset_ids),
        "resources": [dict(r) for r in resources],
        "toolName": tool_name,
        "toolVersion": tool_version,
        "subjectId": subject_id,
    }


def canonical_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def document_leaf(document: dict[str, Any]) -> bytes:
    return merkle.leaf_hash(canonical_bytes(document))
