"""Reachability of what the hub depends on, for /healthz."""

import json
import time

import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone


def check_database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return {"status": "ok", "vendor": connection.vendor}


def check_broker() -> dict:
    from hub.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
        transport = conn.transport.driver_name
    return {"status": "ok", "transport": transport}


def check_chain() -> dict:
    if not settings.CHAIN_RPC_URL:
        return {"status": "not_configured"}
    if settings.CHAIN_RPC_URL == "eth-tester://":
        return {"status": "ok", "in_process": True}
    payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
    answer = requests.post(
        settings.CHAIN_RPC_URL,
        data=json.dumps(payload),
        timeout=2,
        headers={"Content-Type": "application/json"},
    )
    answer.raise_for_status()
    return {"status": "ok", "block": int(answer.json()["result"], 16)}


def check_tracer() -> dict:
    """The anchoring backlog: traces wait while the chain is down, and this shows how long."""
    from tracer.selectors import tracer_status

    status = tracer_status()
    oldest = status.pop("oldest_pending")
    status["oldest_pending_seconds"] = (
        round((timezone.now() - oldest).total_seconds()) if oldest else 0
    )
    return {"status": "ok"} | status


CHECKS = {
    "database": check_database,
    "broker": check_broker,
    "chain": check_chain,
    "tracer": check_tracer,
}


def run_checks() -> tuple[bool, dict]:
    results, healthy = {}, True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            result = check()
        except Exception as exc:  # any failure of a dependency is reported, not raised
            result = {"status": "error", "detail": type(exc).__name__}
        result["ms"] = round((time.monotonic() - started) * 1000, 1)
        results[name] = result
        healthy &= result["status"] in ("ok", "not_configured")
    return healthy, results
