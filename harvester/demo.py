"""Demo nodes with a history: a pulled hospital catalogue harvested several times (new,
changed, withdrawn, rejected and unchanged records, one failed run), a biobank pushing
MIABIS collections, and a real provider node (`agora-node`) whose lake holds de-identified
synthetic studies. `make demo` then keeps the hospital node serving on DEMO_NODE_PORT
(`python manage.py serve_demo_node`) and the agora-node on DEMO_AGORA_NODE_PORT
(`agora-node serve`), so "Harvest now" works on both.
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
AGORA_NODE = "La Fe imaging node (agora-node, demo)"
AGORA_NODE_SITE = "la-fe-node"
# The demo lake's pseudonyms are keyed with this; a real site keeps its own secret safe.
DEMO_SITE_SECRET = b"agora demo site secret, not for real data"
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


def demo_lake_path() -> Path:
    return Path(settings.VAR_DIR) / "demo-lake"


def agora_node_base_url() -> str:
    return f"http://127.0.0.1:{settings.DEMO_AGORA_NODE_PORT}"


def build_demo_lake(path: Path, say: Callable[[str], None]):
    """A site's lake made the way a site makes it: synthetic studies with (invented)
    patient data, de-identified by the node adapter into two datasets."""
    import tempfile

    from node_adapter.deid import DeidConfig
    from node_adapter.ingest import ingest
    from node_adapter.lake import Lake
    from node_adapter.sources import FolderSource
    from node_adapter.tests.dicom_factory import make_study, write_study

    lake = Lake(path)
    if lake.datasets():
        return lake
    config = DeidConfig(
        site_secret=DEMO_SITE_SECRET, site_id=AGORA_NODE_SITE, retain_patient_characteristics=True
    )
    collections = {
        "lung-ct-screening": ("Lung cancer screening CT (agora-node demo)", "CT", "CHEST", 12),
        "glioma-mr": ("Glioma MR follow-up (agora-node demo)", "MR", "BRAIN", 8),
    }
    for name, (title, modality, body_part, patients) in collections.items():
        with tempfile.TemporaryDirectory() as incoming:
            for n in range(patients):
                studies = make_study(
                    f"{name}-{n:03d}",
                    f"DEMO^PATIENT{n}",
                    f"19{45 + n}0{1 + n % 9}15",
                    "F" if n % 3 else "M",
                    issuer="LAFE",
                    modality=modality,
                    body_part=body_part,
                    study_date=f"2024{1 + n % 12:02d}10",
                    series=2,
                    instances=2,
                )
                write_study(studies, Path(incoming) / f"p{n}")
            report = ingest(
                FolderSource(Path(incoming)),
                lake,
                config,
                dataset=name,
                title=title,
                description=f"Synthetic {modality} studies de-identified by the demo node.",
            )
            say(f"  demo lake: {name}: {report.summary()}")
    return lake


def load_agora_node(*, admin, organisation: Organisation, say: Callable[[str], None]) -> None:
    """Register the demo agora-node and harvest its catalogue once."""
    import threading

    from node_adapter.serve import make_server

    if Node.objects.filter(name=AGORA_NODE).exists():
        say("Demo agora-node already harvested; nothing added.")
        return
    lake = build_demo_lake(demo_lake_path(), say)
    try:
        server = make_server(
            lake,
            host="127.0.0.1",
            port=settings.DEMO_AGORA_NODE_PORT,
            base_url=agora_node_base_url(),
            site=AGORA_NODE_SITE,
            publisher_name=organisation.name,
            contact_email="imaging-data@la-fe.example",
        )
    except OSError as exc:
        say(
            f"Port {settings.DEMO_AGORA_NODE_PORT} is busy ({exc}); the agora-node was not harvested."
        )
        return
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        node, _ = services.register_node(
            by=admin,
            organisation=organisation,
            name=AGORA_NODE,
            base_url=agora_node_base_url() + "/dcat",
            schedule_minutes=0,
            auto_release=True,
        )
        _pull(node, say)
    finally:
        server.shutdown()
        server.server_close()
