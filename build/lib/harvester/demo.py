"""Demo nodes with a history: a pulled hospital catalogue harvested several times (new,
changed, withdrawn, rejected and unchanged records, one failed run) and a biobank pushing
MIABIS collections. `make demo` then keeps the hospital node serving on DEMO_NODE_PORT
(`python manage.py serve_demo_node`), so "Harvest now" works on the demo.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

from hub.models import Organisation

from . import services
from .models import Node
from .tests.catalogues import page_turtle
from .tests.nodeserver import NodeServer, Reply, paged_catalogue

DATA = Path(__file__).parent / "tests" / "data"
PULL_NODE = "Hospital node (demo, pull)"
PUSH_NODE = "Biobank node (demo, MIABIS push)"
RECORDS = 48
PER_PAGE = 12
# Each demo run: which records the node lists, and which were revised since the first run.
HISTORY = (
    {"drop": set(), "revisions": {}},
    {"drop": set(), "revisions": {3: 1, 14: 1, 27: 1}},
    {"drop": {5, 30}, "revisions": {3: 1, 14: 1, 27: 1}},
)
CURRENT = HISTORY[-1]


def node_routes(base: str, drop=(), revisions=None) -> dict[str, Reply]:
    """The demo hospital's catalogue at `base`, 12 records a page, ETags on."""
    numbers = [n for n in range(RECORDS) if n not in drop]
    datasets = base.rsplit("/", 1)[0] + "/datasets/"
    pages = [
        page_turtle(numbers[i : i + PER_PAGE], base=datasets, invalid_every=10, revisions=revisions)
        for i in range(0, len(numbers), PER_PAGE)
    ]
    return paged_catalogue(pages, base=base, total_items=len(numbers), etag="auto")


def demo_node_url() -> str:
    return f"http://127.0.0.1:{settings.DEMO_NODE_PORT}/dcat"


def load(
    *, admin, hospital: Organisation, biobank: Organisation, say: Callable[[str], None]
) -> None:
    if Node.objects.filter(name=PULL_NODE).exists():
        say("Demo nodes already harvested; nothing added.")
        return
    node, _ = services.register_node(
        by=admin,
        organisation=hospital,
        name=PULL_NODE,
        base_url=demo_node_url(),
        schedule_minutes=0,
        mappings={"modality": {"Escáner TC": "CT"}},
    )
    try:
        server = NodeServer(port=settings.DEMO_NODE_PORT).start()
    except OSError as exc:
        say(f"Port {settings.DEMO_NODE_PORT} is busy ({exc}); the demo node was not harvested.")
        return
    try:
        for n, state in enumerate(HISTORY):
            server.routes = dict(node_routes(demo_node_url(), **state))
            _pull(node, say)
            if n == 1:  # an outage between two good runs
                routes = dict(server.routes)
                server.routes[next(p for p in routes if p.endswith("page=2"))] = Reply(
                    b"Service Unavailable", status=503
                )
                _pull(node, say)
        _pull(node, say)  # unchanged: every page answers 304
    finally:
        server.stop()
    push_node, _ = services.register_node(
        by=admin, organisation=biobank, name=PUSH_NODE, mode=Node.Mode.PUSH
    )
    collections = json.loads((DATA / "miabis-collections.json").read_text())
    job = services.receive_push(
        node=push_node, body=json.dumps(collections).encode(), content_type="application/json"
    )
    say(f"  {push_node}: push {job.status}: {job.error or _counts(job)}")


def _pull(node: Node, say: Callable[[str], None]) -> None:
    job = services.request_harvest(node=node, by=None, requested_by="demo")
    job = services.run_pull(job.pk)
    say(f"  {node}: pull {job.status}: {job.error or _counts(job)}")


def _counts(job) -> str:
    return ", ".join(f"{n} {name}" for name, n in job.counts.items() if n)
