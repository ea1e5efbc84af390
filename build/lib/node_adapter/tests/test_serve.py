"""serve: the catalogue as the hub's harvester reads it, on a real HTTP server on loopback."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from rdflib import RDF, Graph, Namespace, URIRef

from hyperontology import validate
from node_adapter.describe import HYDRA
from node_adapter.serve import make_server
from node_adapter.tests.test_describe import SITE, Built, build_lake

DCAT = Namespace("http://www.w3.org/ns/dcat#")  # plain: pytest probes module attributes

MEDIA = {
    "ttl": "text/turtle",
    "jsonld": "application/ld+json",
    "rdf": "application/rdf+xml",
    "nt": "application/n-triples",
}
RDFLIB = {
    "text/turtle": "turtle",
    "application/ld+json": "json-ld",
    "application/rdf+xml": "xml",
    "application/n-triples": "nt",
}
# What harvester/fetch.py sends (ACCEPT there).
HARVESTER_ACCEPT = (
    "text/turtle, application/ld+json;q=0.9, application/rdf+xml;q=0.8, "
    "application/n-triples;q=0.7, */*;q=0.1"
)
DATASETS = ["lung-ct", "ds-a", "ds-b", "ds-c", "ds-d"]


@dataclass
class Node:
    url: str
    built: Built


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def node(tmp_path) -> Iterator[Node]:
    built = build_lake(tmp_path / "lake")
    for n, name in enumerate(DATASETS[1:], start=1):
        built.lake.publish_dataset(name, built.studies[n:], title=f"Part {n}", site=SITE)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = make_server(
        built.lake,
        host="127.0.0.1",
        port=port,
        base_url=url,
        site=SITE,
        page_size=2,
        contact_email="data@x.example",
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Node(url, built)
    server.shutdown()
    server.server_close()
    thread.join(5)


def parse(response: requests.Response) -> Graph:
    """As harvester/rdf.py's parse_rdf does: by Content-Type, the final URL as base."""
    media = response.headers["Content-Type"].split(";")[0].strip()
    return Graph().parse(data=response.content, format=RDFLIB[media], publicID=response.url)


def next_page(graph: Graph) -> str | None:
    """harvester/fetch.py's _next_page for a PartialCollectionView."""
    views = set(graph.objects(None, HYDRA.view)) | set(
        graph.subjects(RDF.type, HYDRA.PartialCollectionView)
    )
    targets = {str(t) for v in views for t in graph.objects(v, HYDRA.next)}
    assert len(targets) <= 1
    return next(iter(targets), None)


def crawl(url: str, **headers: str) -> list[requests.Response]:
    pages, seen = [], set()
    while url is not None:
        assert url not in seen
        seen.add(url)
        response = requests.get(url, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        pages.append(response)
        url = next_page(parse(response))
    return pages


def test_the_first_page_is_turtle_with_validators(node):
    response = requests.get(node.url + "/dcat", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/turtle; charset=utf-8"
    etag = response.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert response.headers["Last-Modified"].endswith("GMT")
    assert response.headers["Vary"] == "Accept"
    graph = parse(response)
    assert len(set(graph.subjects(RDF.type, DCAT.Dataset))) == 2


@pytest.mark.parametrize("fmt", sorted(MEDIA))
def test_every_serialisation_by_accept_and_by_format(node, fmt):
    by_accept = requests.get(node.url + "/dcat", headers={"Accept": MEDIA[fmt]}, timeout=10)
    by_format = requests.get(
        node.url + f"/dcat?format={fmt}", headers={"Accept": "text/turtle"}, timeout=10
    )
    for response in (by_accept, by_format):
        assert response.status_code == 200
        assert response.headers["Content-Type"] == f"{MEDIA[fmt]}; charset=utf-8"
        graph = parse(response)
        assert len(set(graph.subjects(RDF.type, DCAT.Dataset))) == 2
    assert by_accept.headers["ETag"] != by_format.headers["ETag"] or fmt == "ttl"


def test_negotiation_follows_quality_values(node):
    def served(accept: str) -> str:
        response = requests.get(node.url + "/dcat", headers={"Accept": accept}, timeout=10)
        return response.headers["Content-Type"].split(";")[0]

    assert served(HARVESTER_ACCEPT) == "text/turtle"
    assert served("application/rdf+xml;q=0.5, application/ld+json") == "application/ld+json"
    assert served("application/json") == "application/ld+json"
    assert served("*/*") == "text/turtle"
    assert served("text/turtle;q=0, application/n-triples;q=0.2") == "application/n-triples"


def test_hydra_paging_reaches_every_dataset_once(node):
    pages = crawl(node.url + "/dcat", Accept=HARVESTER_ACCEPT)
    assert len(pages) == 3
    found = []
    for number, response in enumerate(pages, start=1):
        graph = parse(response)
        (view,) = graph.subjects(RDF.type, HYDRA.PartialCollectionView)
        assert (URIRef(node.url + "/dcat"), HYDRA.view, view) in graph
        assert str(graph.value(view, HYDRA.first)) == node.url + "/dcat?page=1"
        assert str(graph.value(view, HYDRA.last)) == node.url + "/dcat?page=3"
        assert [int(n) for n in graph.objects(None, HYDRA.totalItems)] == [len(DATASETS)]
        assert (graph.value(view, HYDRA.previous) is None) == (number == 1)
        found += [str(ds) for ds in graph.subjects(RDF.type, DCAT.Dataset)]
        report = validate(graph)  # the hub's validator, page by page
        assert all(v.accepted for v in report.verdicts), [v.violations for v in report.verdicts]
    assert sorted(found) == sorted(f"{node.url}/datasets/{name}" for name in DATASETS)


def test_links_keep_the_format_asked_for_in_the_url(node):
    pages = crawl(node.url + "/dcat?format=nt")
    assert len(pages) == 3
    assert all(p.headers["Content-Type"].startswith("application/n-triples") for p in pages)
    assert pages[-1].url == node.url + "/dcat?format=nt&page=3"


def test_an_unchanged_catalogue_answers_304(node):
    first = requests.get(node.url + "/dcat?page=2", timeout=10)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    for headers in (
        {"If-None-Match": etag},
        {"If-None-Match": f'"other", {etag}'},
        {"If-Modified-Since": modified},
    ):
        again = requests.get(node.url + "/dcat?page=2", headers=headers, timeout=10)
        assert again.status_code == 304, headers
        assert again.content == b""
        assert again.headers["ETag"] == etag
    # If-None-Match decides when both are sent (RFC 9110).
    stale = requests.get(
        node.url + "/dcat?page=2",
        headers={"If-None-Match": '"other"', "If-Modified-Since": modified},
        timeout=10,
    )
    assert stale.status_code == 200


def test_a_new_version_changes_the_validators(node):
    before = requests.get(node.url + "/dcat", timeout=10)
    node.built.lake.publish_dataset("ds-a", node.built.studies[:1])
    after = requests.get(
        node.url + "/dcat",
        headers={"If-None-Match": before.headers["ETag"]},
        timeout=10,
    )
    assert after.status_code == 200
    assert after.headers["ETag"] != before.headers["ETag"]
    graph = parse(after)
    versions = {str(v) for v in graph.objects(None, URIRef(f"{DCAT}version"))}
    assert "2" in versions


def test_health_reports_the_lake(node):
    response = requests.get(node.url + "/health", timeout=10)
    assert response.status_code == 200
    assert response.json() == {"ok": True, "datasets": len(DATASETS), "lake_writable": True}


@pytest.mark.parametrize(
    ("path", "headers", "status", "words"),
    [
        ("/dcat?page=0", {}, 400, "page must be a whole number"),
        ("/dcat?page=two", {}, 400, "page must be a whole number"),
        ("/dcat?page=9", {}, 404, "No page 9: the catalogue has pages 1 to 3."),
        ("/dcat?format=xls", {}, 400, "format must be one of ttl, jsonld, rdf, nt"),
        ("/dcat?size=10", {}, 400, "Unknown parameter 'size'"),
        ("/dcat", {"Accept": "image/png"}, 406, "ask for one of text/turtle"),
        ("/nothing", {}, 404, "This node serves /dcat and /health."),
        ("/manifests/lung-ct/v1", {}, 403, "Manifests are resolved at the site only"),
    ],
)
def test_errors_are_plain_words(node, path, headers, status, words):
    response = requests.get(node.url + path, headers=headers, timeout=10)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert words in response.text
    assert "Traceback" not in response.text


def test_head_sends_the_headers_only(node):
    response = requests.head(node.url + "/dcat", timeout=10)
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["Content-Length"]) > 0


def test_nothing_per_patient_is_served(node):
    texts = [requests.get(node.url + "/health", timeout=10).text]
    for fmt in MEDIA:
        texts += [p.text for p in crawl(node.url + f"/dcat?format={fmt}")]
    for text in texts:
        for secret in node.built.secrets | node.built.dates:
            assert secret not in text
        assert ".dcm" not in text


def test_the_hubs_own_harvester_reads_the_node(node):
    """harvester.fetch and harvester.staging are plain Python (no Django): the very code a
    pull runs, page by page, including its conditional GETs."""
    pytest.importorskip("pyoxigraph")  # the hub's parser; not installed at a site
    from harvester.fetch import CachedPage, fetch_pages
    from harvester.staging import stage_page
    from hyperontology.mappings import Mappings

    pages = list(fetch_pages(node.url + "/dcat"))
    assert [p.number for p in pages] == [1, 2, 3]
    assert pages[0].total_items == len(DATASETS)
    outcomes = [o for p in pages for o in stage_page(p.graph, Mappings.default(), {}).outcomes]
    assert sorted(o.identifier for o in outcomes) == sorted(DATASETS)
    assert all(o.accepted for o in outcomes), [o.violations for o in outcomes]
    fields = {o.identifier: o.payload["fields"] for o in outcomes}
    assert fields["lung-ct"]["number_of_subjects"] == 6
    assert fields["lung-ct"]["modalities"] == ["CT", "MR"]

    cache = {p.url: CachedPage(p.etag, p.last_modified, p.next_url) for p in pages}
    again = list(fetch_pages(node.url + "/dcat", cache=cache))
    assert [p.not_modified for p in again] == [True, True, True]


def test_health_json_is_plain_json(node):
    body = requests.get(node.url + "/health", timeout=10).content
    assert set(json.loads(body)) == {"ok", "datasets", "lake_writable"}
