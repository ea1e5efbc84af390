"""Send the node's records to the hub's push endpoint, with the node's own token.

    report = push(lake, hub_url="https://hub.example", token=token, node_id=node_id,
                  base_url="https://node.example", site="hospital-x")
    report["counts"]            # the hub's per-record report (its harvest job)

The hub's contract (harvester/api): `POST /api/v1/nodes/<id>/records` with
`Authorization: Token <push token>`, the body RDF in any serialisation named by its
Content-Type (Turtle here), at most 50 MiB (HARVEST_PUSH_MAX_BYTES; 413 beyond). The answer
(200) is the job: status, counts and every rejected record with its reasons. A push adds and
updates; it withdraws nothing. The token is never logged.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .describe import FORMATS, describe_all, to_rdf

__all__ = ["MAX_PUSH_BYTES", "PushError", "push", "records_url"]

log = logging.getLogger("node_adapter.push")

MAX_PUSH_BYTES = 50 * 1024 * 1024  # the hub's default HARVEST_PUSH_MAX_BYTES
USER_AGENT = "agora-node/1"


class PushError(Exception):
    """The push did not happen; the message says why in plain words (no token)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def records_url(hub_url: str, node_id: str) -> str:
    """The push endpoint; `hub_url` is the hub's root (or its /api/v1)."""
    parts = urlsplit(hub_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError(f"hub URL must be an http(s) URL, not {hub_url!r}")
    if not node_id.strip():
        raise PushError("node id is required (the hub shows it when the node is registered)")
    root = hub_url.strip().rstrip("/").removesuffix("/api/v1")
    return f"{root}/api/v1/nodes/{quote(node_id.strip(), safe='')}/records"


def push(
    lake: Any,
    *,
    hub_url: str,
    token: str,
    node_id: str,
    base_url: str,
    site: str,
    fmt: str = "ttl",
    datasets: list[str] | None = None,
    timeout: float = 120.0,
    max_bytes: int = MAX_PUSH_BYTES,
    session: requests.Session | None = None,
    **describe_options: Any,
) -> dict:
    """Describe the lake's datasets (latest versions; or only `datasets`) and POST them to
    the hub; returns the hub's JSON report. Raises PushError on any failure."""
    if not token.strip():
        raise PushError("a node push token is required (AGORA_NODE_TOKEN or --token)")
    url = records_url(hub_url, node_id)
    descriptions = describe_all(lake, base_url=base_url, site=site, **describe_options)
    if datasets is not None:
        missing = sorted(set(datasets) - {d.dataset for d in descriptions})
        if missing:
            raise PushError(f"no dataset named {missing[0]!r} in the lake")
        descriptions = [d for d in descriptions if d.dataset in set(datasets)]
    if not descriptions:
        raise PushError("nothing to push: the lake has no published dataset yet")
    body = to_rdf(descriptions, base_url=base_url, fmt=fmt)
    if len(body) > max_bytes:
        raise PushError(
            f"the records are {len(body)} bytes, more than the hub takes ({max_bytes}); "
            "push fewer datasets at a time"
        )
    headers = {
        "Authorization": f"Token {token.strip()}",
        "Content-Type": f"{FORMATS[fmt][1]}; charset=utf-8",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    log.info("push_start url=%s datasets=%d bytes=%d", url, len(descriptions), len(body))
    client = session or requests.Session()
    try:
        response = client.post(url, data=body, headers=headers, timeout=timeout)
    except requests.exceptions.Timeout as exc:
        raise PushError(f"the hub at {url} did not answer within {timeout:g} s") from exc
    except requests.exceptions.RequestException as exc:
        raise PushError(f"could not reach the hub at {url}: {_reason(exc)}") from exc
    finally:
        if session is None:
            client.close()
    report = _report(response, url, node_id)
    log.info(
        "push_done job=%s status=%s counts=%s",
        report.get("id", ""),
        report.get("status", ""),
        report.get("counts", {}),
    )
    return report


def _report(response: requests.Response, url: str, node_id: str) -> dict:
    detail = _detail(response)
    status = response.status_code
    if status in (401, 403):
        raise PushError(
            f"the hub refused the node token (HTTP {status}): {detail or 'not authorised'}; "
            "check the token the hub gave when the node was registered",
            status=status,
        )
    if status == 404:
        raise PushError(
            f"the hub has no node {node_id} for this token (HTTP 404){_colon(detail)}",
            status=status,
        )
    if status == 409:
        raise PushError(
            f"the hub does not take pushes from this node (HTTP 409){_colon(detail)}",
            status=status,
        )
    if status == 413:
        raise PushError(
            f"the hub found the records too large (HTTP 413){_colon(detail)}; "
            "push fewer datasets at a time",
            status=status,
        )
    if 400 <= status < 500:
        raise PushError(f"the hub rejected the push (HTTP {status}){_colon(detail)}", status=status)
    if status >= 500:
        raise PushError(
            f"the hub failed (HTTP {status}){_colon(detail)}; try again later", status=status
        )
    if not 200 <= status < 300:
        raise PushError(f"unexpected answer from the hub at {url}: HTTP {status}", status=status)
    try:
        report = response.json()
    except ValueError as exc:
        raise PushError(f"the hub at {url} answered HTTP {status} without JSON") from exc
    if not isinstance(report, dict):
        raise PushError(f"the hub at {url} answered HTTP {status} with unexpected JSON")
    return report


def _detail(response: requests.Response) -> str:
    """The hub's words: {"error", "detail"} (hub.errors) or DRF's {"detail"}."""
    try:
        data = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] if text and "<" not in text[:1] else ""
    if isinstance(data, dict):
        detail = data.get("detail") or data.get("error") or ""
        return str(detail)[:300]
    return ""


def _colon(detail: str) -> str:
    return f": {detail}" if detail else ""


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused (is the hub running, and the URL right?)"
    if "Name or service not known" in text or "NameResolutionError" in text:
        return "the host name could not be resolved"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS connection failed (certificate or protocol problem)"
    return type(exc).__name__
