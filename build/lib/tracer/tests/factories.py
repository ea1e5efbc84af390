"""Traces as an external component posts them, for tests that need many."""

from __future__ import annotations

from django.db import transaction

from tracer import services
from tracer.models import Action, Trace


def record_use(n: int = 1, start: int = 0, **overrides) -> list[Trace]:
    """n USE_DATASETS traces of a sandbox tool, each in its own transaction (as its POSTs)."""
    traces = []
    for i in range(start, start + n):
        fields = {
            "action": Action.USE_DATASETS,
            "caller": "sandbox-tool",
            "user_id": f"researcher-{i}",
            "dataset_ids": [f"ds-{i}"],
            "tool_name": "jupyter",
            "tool_version": "4.6",
        } | overrides
        with transaction.atomic():
            traces.append(services.record(**fields))
    return traces
