"""A provider node on loopback, for the harvester's tests and benchmark.

It serves whatever the test puts in `routes` (path -> `Reply`, or a callable that builds
one from the request), can misbehave on demand (slow, dripping, truncated, redirecting,
endless paging) and logs every request so tests can check what the hub sent.

    with NodeServer() as node:
        node.routes.update(paged_catalogue([page1_ttl, page2_ttl], base=node.url("/dcat")))
        pages = list(fetch_pages(node.url("/dcat")))
        assert node.requests[-1].headers.get("If-None-Match") is None
"""

from __future__ import annotations

import hashlib
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from rdflib import RDF, Dataset, Graph, Literal, Namespace, URIRef

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")

# rdflib serialiser name -> media type the node announces.
MEDIA_TYPES = {
    "turtle": "text/turtle",
    "xml": "application/rdf+xml",
    "json-ld": "application/ld+json",
    "nt": "application/n-triples",
    "n3": "text/n3",
    "trig": "application/trig",
    "nquads": "application/n-quads",
}


@dataclass
class Reply:
    """One response, and how badly to deliver it."""

    body: bytes | str = b""
    content_type: str | None = "text/turtle"
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None  # a quoted ETag, or "auto" for one computed from the body
    last_modified: str | None = None  # an HTTP date; answers 304 to If-Modified-Since
    delay: float = 0.0  # seconds before answering at all
    drip: tuple[int, float] | None = None  # (bytes, seconds): send the body slowly
    truncated: bool = False  # announce more bytes than are sent, then close
    content_length: bool = True  # False: no Content-Length, close to end the body
    chunked: bool = False  # Transfer-Encoding: chunked
    redirect: str | None = None  # Location (status 302 unless a 3xx status is given)

    @property
    def data(self) -> bytes:
        return self.body.encode() if isinstance(self.body, str) else self.body

    @property
    def computed_etag(self) -> str | None:
        if self.etag == "auto":
            return '"' + hashlib.sha256(self.data).hexdigest()[:32] + '"'
        return self.etag


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # with the query string
    headers: dict[str, str]

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}


Route = Reply | Callable[[Request], Reply]


class NodeServer:
    """A threaded HTTP server on 127.0.0.1 (a free port unless `port` is given) serving
    `routes`."""

    def __init__(self, routes: Mapping[str, Route] | None = None, port: int = 0) -> None:
        self.routes: dict[str, Route] = dict(routes or {})
        self._port = port
        self._log: list[Request] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> NodeServer:
        handler = type("Handler", (_Handler,), {"node": self})
        self._httpd = _Server(("127.0.0.1", self._port), handler)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> NodeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- addresses
    @property
    def port(self) -> int:
        assert self._httpd is not None, "start the server first"
        return self._httpd.server_address[1]

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- request log
    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._log)

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, request: Request) -> None:
        with self._lock:
            self._log.append(request)

    # -- ready-made misbehaviour
    def serve_endless(self, path: str = "/endless", fmt: str = "turtle") -> str:
        """`path?page=N` always links to page N+1; returns the first page's URL."""

        def page(request: Request) -> Reply:
            n = int(request.query.get("page", "1"))
            graph = Graph()
            dataset = URIRef(self.url(f"/datasets/endless-{n}"))
            graph.add((dataset, RDF.type, DCAT.Dataset))
            graph.add((dataset, DCT.title, Literal(f"Endless {n}", lang="en")))
            here = URIRef(self.url(f"{path}?page={n}"))
            graph.add((here, RDF.type, HYDRA.PagedCollection))
            graph.add((here, HYDRA.nextPage, Literal(self.url(f"{path}?page={n + 1}"))))
            return Reply(graph.serialize(format=fmt), content_type=MEDIA_TYPES[fmt])

        self.routes[path] = page
        return self.url(f"{path}?page=1")

    def serve_loop(self, path: str = "/loop") -> str:
        """Page 1 links to page 2, which links back to page 1; returns page 1's URL."""
        first, second = self.url(f"{path}?page=1"), self.url(f"{path}?page=2")
        for name, here, there in (("loop-1", first, second), ("loop-2", second, first)):
            body = _with_next(_one_dataset(self, name), here, there, "PagedCollection")
            self.routes[urlsplit(here).path + "?" + urlsplit(here).query] = Reply(body)
        return first


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """Clients hanging up (timeouts, size limits) are expected here, not errors."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    node: NodeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 (the stdlib's name)
        pass

    def do_HEAD(self) -> None:  # noqa: N802 (the stdlib's name)
        self._answer(send_body=False)

    def do_GET(self) -> None:  # noqa: N802
        self._answer(send_body=True)

    def _answer(self, *, send_body: bool) -> None:
        request = Request(self.command, self.path, dict(self.headers.items()))
        self.node._record(request)
        route = self.node.routes.get(self.path) or self.node.routes.get(urlsplit(self.path).path)
        if route is None:
            reply = Reply(b"not found", content_type="text/plain", status=404)
        else:
            reply = route(request) if callable(route) else route
        try:
            self._deliver(request, reply, send_body)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            self.close_connection = True

    def _deliver(self, request: Request, reply: Reply, send_body: bool) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        data = reply.data
        etag = reply.computed_etag
        if reply.redirect:
            status = reply.status if 300 <= reply.status < 400 else 302
            self.send_response(status)
            self.send_header("Location", reply.redirect)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if reply.status == 200 and _not_modified(request, etag, reply.last_modified):
            self.send_response(304)
            if etag:
                self.send_header("ETag", etag)
            if reply.last_modified:
                self.send_header("Last-Modified", reply.last_modified)
            self.end_headers()
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        if etag:
            self.send_header("ETag", etag)
        if reply.last_modified:
            self.send_header("Last-Modified", reply.last_modified)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif reply.truncated:
            self.send_header("Content-Length", str(len(data) + 1000))
            self.send_header("Connection", "close")
            self.close_connection = True
        elif reply.content_length:
            self.send_header("Content-Length", str(len(data)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not send_body:
            return
        step, pause = reply.drip or (64 * 1024, 0.0)
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            if reply.chunked:
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                self.wfile.write(piece)
            self.wfile.flush()
            if pause:
                time.sleep(pause)
        if reply.chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def _not_modified(request: Request, etag: str | None, last_modified: str | None) -> bool:
    headers = {k.lower(): v for k, v in request.headers.items()}
    if "if-none-match" in headers:
        tags = {tag.strip() for tag in headers["if-none-match"].split(",")}
        return etag is not None and (etag in tags or "*" in tags)
    if "if-modified-since" in headers and last_modified:
        try:
            return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(
                headers["if-modified-since"]
            )
        except (TypeError, ValueError):
            return False
    return False


# -- catalogues ---------------------------------------------------------------------------


def paged_catalogue(
    pages: Iterable[Graph | str],
    *,
    style: str = "PagedCollection",
    base: str,
    fmt: str = "turtle",
    relative: bool = False,
    total_items: int | None = None,
    **reply: object,
) -> dict[str, Reply]:
    """Routes serving `pages` (Graphs or Turtle) as one catalogue with Hydra paging.

    Page 1 is at `base` (a full URL), page N at `base?page=N` (`&page=N` if base has a
    query). style "PagedCollection" links with hydra:nextPage literals, as ckanext-dcat
    does; "PartialCollectionView" with hydra:view / hydra:next IRIs. `relative` writes the
    next links as relative references. Extra keyword arguments go to every Reply.
    """
    if style not in ("PagedCollection", "PartialCollectionView"):
        raise ValueError(f"unknown paging style {style}")
    graphs = [_as_graph(page, base) for page in pages]
    joiner = "&" if "?" in base else "?"
    urls = [base] + [f"{base}{joiner}page={n}" for n in range(2, len(graphs) + 1)]
    routes: dict[str, Reply] = {}
    for n, graph in enumerate(graphs):
        next_url = urls[n + 1] if n + 1 < len(urls) else None
        if next_url is not None and relative:
            next_url = _relative(next_url)
        body = _with_next(graph, urls[n], next_url, style, total_items=total_items, fmt=fmt)
        parts = urlsplit(urls[n])
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        routes[path] = replace(Reply(body, content_type=MEDIA_TYPES[fmt]), **reply)
    return routes


def serialise(graph: Graph, fmt: str = "turtle") -> Reply:
    """A Reply carrying `graph` in any rdflib serialisation, with its media type."""
    if fmt in ("trig", "nquads"):
        dataset = Dataset()
        named = dataset.graph(URIRef("urn:x-agora:page"))
        for triple in graph:
            named.add(triple)
        with warnings.catch_warnings():  # rdflib's own use of deprecated names
            warnings.simplefilter("ignore", DeprecationWarning)
            return Reply(dataset.serialize(format=fmt), content_type=MEDIA_TYPES[fmt])
    return Reply(graph.serialize(format=fmt), content_type=MEDIA_TYPES[fmt])


def _with_next(
    graph: Graph,
    page_url: str,
    next_url: str | None,
    style: str,
    *,
    total_items: int | None = None,
    fmt: str = "turtle",
) -> bytes:
    page = Graph()
    for prefix, namespace in graph.namespaces():
        page.bind(prefix, namespace, override=False)
    page.bind("hydra", HYDRA)
    for triple in graph:
        page.add(triple)
    here = URIRef(page_url)
    if style == "PagedCollection":
        page.add((here, RDF.type, HYDRA.PagedCollection))
        if next_url is not None:
            page.add((here, HYDRA.nextPage, Literal(next_url)))
        if total_items is not None:
            page.add((here, HYDRA.totalItems, Literal(total_items)))
    else:
        collection = URIRef(page_url.split("?", 1)[0] + "#catalogue")
        page.add((collection, HYDRA.view, here))
        page.add((here, RDF.type, HYDRA.PartialCollectionView))
        if next_url is not None:
            page.add((here, HYDRA.next, URIRef(next_url)))
        if total_items is not None:
            page.add((collection, HYDRA.totalItems, Literal(total_items)))
    return serialise(page, fmt).data


def _as_graph(page: Graph | str, base: str) -> Graph:
    if isinstance(page, Graph):
        return page
    graph = Graph()
    graph.parse(data=page, format="turtle", publicID=base)
    return graph


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return parts.path.rsplit("/", 1)[-1] + (f"?{parts.query}" if parts.query else "")


def _one_dataset(node: NodeServer, name: str) -> Graph:
    graph = Graph()
    dataset = URIRef(node.url(f"/datasets/{name}"))
    graph.add((dataset, RDF.type, DCAT.Dataset))
    graph.add((dataset, DCT.title, Literal(name, lang="en")))
    return graph
