"""push: against a local HTTP server that checks the hub's push contract (harvester/api):
`POST /api/v1/nodes/<id>/records`, `Authorization: Token <token>`, an RDF body named by
its Content-Type. The real hub receiving a push is the cross-app integration test."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from rdflib import Graph

from hyperontology import validate
from node_adapter.push import PushError, push, records_url
from node_adapter.tests.test_describe import SITE, Built, build_lake

NODE_ID = "5d1c9a4e-8a51-4b0e-9d1f-2c0a7e6b3f10"
TOKEN = "agn_test-token-0123456789"
BASE = "https://node.example"


@dataclass
class Hub:
    url: str
    received: list[dict] = field(default_factory=list)
    answer: tuple[int, bytes, str] | None = None  # forced (status, body, content type)


class HubHandler(BaseHTTPRequestHandler):
    hub: Hub

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.hub.received.append(
            {"path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        if self.hub.answer is not None:
            self._send(*self.hub.answer)
            return
        auth = self.headers.get("Authorization", "").split()
        if len(auth) != 2 or auth[0] != "Token" or auth[1] != TOKEN:
            self._json(401, {"detail": "Invalid push token, or the node is disabled."})
            return
        if self.path.rstrip("/") != f"/api/v1/nodes/{NODE_ID}/records":
            self._json(404, {"error": "not_found", "detail": "No node for this token."})
            return
        media = self.headers.get("Content-Type", "").split(";")[0]
        if media != "text/turtle":
            self._json(400, {"error": "invalid", "detail": f"unsupported content type {media}"})
            return
        report = validate(Graph().parse(data=body, format="turtle", publicID=BASE))
        self._json(
            200,
            {
                "id": "job-1",
                "node": NODE_ID,
                "kind": "push",
                "status": "succeeded",
                "counts": {"added": len(report.accepted), "rejected": len(report.rejected)},
                "rejected_records": [
                    {"iri": v.iri, "violations": [f.message for f in v.violations]}
                    for v in report.rejected
                ],
            },
        )

    def _json(self, status: int, data: dict) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def hub() -> Iterator[Hub]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), HubHandler)
    hub = Hub(f"http://127.0.0.1:{server.server_address[1]}")
    HubHandler.hub = hub
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield hub
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def built(tmp_path) -> Built:
    return build_lake(tmp_path / "lake")


def send(built: Built, hub: Hub, **overrides) -> dict:
    arguments = {
        "hub_url": hub.url,
        "token": TOKEN,
        "node_id": NODE_ID,
        "base_url": BASE,
        "site": SITE,
        "contact_email": "data@x.example",
    } | overrides
    return push(built.lake, **arguments)


def test_push_sends_turtle_with_the_token_and_returns_the_hubs_report(built, hub):
    report = send(built, hub)
    assert report["status"] == "succeeded"
    assert report["counts"] == {"added": 1, "rejected": 0}
    (request,) = hub.received
    assert request["path"] == f"/api/v1/nodes/{NODE_ID}/records"
    assert request["headers"]["Authorization"] == f"Token {TOKEN}"
    assert request["headers"]["Content-Type"] == "text/turtle; charset=utf-8"
    graph = Graph().parse(data=request["body"], format="turtle")
    assert {str(s) for s in graph.subjects()} >= {f"{BASE}/datasets/lung-ct"}


def test_the_hub_url_may_name_the_api_root(built, hub):
    send(built, hub, hub_url=hub.url + "/api/v1/")
    assert hub.received[0]["path"] == f"/api/v1/nodes/{NODE_ID}/records"
    assert records_url("https://hub.example", "n 1") == (
        "https://hub.example/api/v1/nodes/n%201/records"
    )


def test_a_wrong_token_is_named_without_echoing_it(built, hub):
    with pytest.raises(PushError) as caught:
        send(built, hub, token="agn_wrong")
    assert caught.value.status == 401
    assert "refused the node token" in str(caught.value)
    assert "Invalid push token" in str(caught.value)
    assert "agn_wrong" not in str(caught.value)


def test_another_nodes_id_is_404(built, hub):
    with pytest.raises(PushError, match="no node other-node for this token") as caught:
        send(built, hub, node_id="other-node")
    assert caught.value.status == 404


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        (
            413,
            b'{"error": "too_large", "detail": "The body is larger than 1000 bytes; push in '
            b'parts."}',
            "too large (HTTP 413): The body is larger than 1000 bytes",
        ),
        (
            400,
            b'{"error": "invalid", "detail": "http://x: not valid Turtle: at line 4"}',
            "rejected the push (HTTP 400): http://x: not valid Turtle: at line 4",
        ),
        (
            409,
            b'{"error": "conflict", "detail": "This node is registered for pull only"}',
            "does not take pushes from this node (HTTP 409)",
        ),
        (500, b"<html>Server Error</html>", "the hub failed (HTTP 500); try again later"),
        (503, b"", "the hub failed (HTTP 503); try again later"),
    ],
)
def test_hub_errors_become_plain_words(built, hub, status, body, words):
    hub.answer = (status, body, "application/json" if body.startswith(b"{") else "text/html")
    with pytest.raises(PushError) as caught:
        send(built, hub)
    assert words in str(caught.value)
    assert caught.value.status == status


def test_a_200_without_json_is_an_error(built, hub):
    hub.answer = (200, b"ok", "text/plain")
    with pytest.raises(PushError, match="without JSON"):
        send(built, hub)


def test_an_unreachable_hub_is_named(built):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(PushError, match="could not reach the hub .* connection refused"):
        push(
            built.lake,
            hub_url=f"http://127.0.0.1:{port}",
            token=TOKEN,
            node_id=NODE_ID,
            base_url=BASE,
            site=SITE,
        )


def test_records_larger_than_the_hub_takes_are_not_sent(built, hub):
    with pytest.raises(PushError, match="more than the hub takes"):
        send(built, hub, max_bytes=1000)
    assert hub.received == []


def test_nothing_to_push_and_bad_settings_are_refused_before_sending(tmp_path, hub):
    from node_adapter.lake import Lake

    empty = Built(Lake(tmp_path / "empty"), [], set(), set())
    with pytest.raises(PushError, match="no published dataset"):
        send(empty, hub)
    with pytest.raises(PushError, match="push token is required"):
        send(empty, hub, token=" ")
    with pytest.raises(PushError, match="http"):
        send(empty, hub, hub_url="ftp://hub.example")
    assert hub.received == []


def test_only_named_datasets_are_pushed(built, hub):
    built.lake.publish_dataset("other", built.studies[:2], site=SITE)
    send(built, hub, datasets=["other"])
    body = hub.received[0]["body"].decode()
    assert f"{BASE}/datasets/other" in body and f"{BASE}/datasets/lung-ct" not in body
    with pytest.raises(PushError, match="no dataset named 'missing'"):
        send(built, hub, datasets=["missing"])


def test_the_pushed_body_holds_no_per_patient_value(built, hub):
    send(built, hub)
    body = hub.received[0]["body"].decode()
    for secret in built.secrets | built.dates:
        assert secret not in body
