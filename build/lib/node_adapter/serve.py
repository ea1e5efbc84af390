"""The node's catalogue over HTTP, for the hub's harvester (stdlib http.server).

    GET /dcat[?page=N][&format=ttl|jsonld|rdf|nt]   the DCAT catalogue, Hydra-paged
    GET /health                                     {"ok": ..., "datasets": N, "lake_writable": ...}

Every RDF serialisation by content negotiation (Accept) or `?format=`; each page has a
strong ETag (a hash of its bytes) and a Last-Modified (the newest manifest), and answers
304 to If-None-Match / If-Modified-Since, so an unchanged catalogue costs the hub one small
request per page. Paging follows Hydra core: the collection `<base>/dcat` has
hydra:totalItems and a hydra:view, a hydra:PartialCollectionView with first, previous,
next and last (what harvester/fetch.py follows). Errors are short plain text, never a
stack trace. The manifests are never served: they name pseudonyms and files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from rdflib import RDF, Literal, URIRef
from rdflib.namespace import XSD

from .describe import FORMATS, HYDRA, Description, catalogue_graph, describe, serialise

__all__ = ["DEFAULT_PAGE_SIZE", "Catalogue", "make_server", "run"]

log = logging.getLogger("node_adapter.serve")

DEFAULT_PAGE_SIZE = 100
MEDIA_TYPES = {media: fmt for fmt, (_, media) in FORMATS.items()}
MEDIA_TYPES["application/json"] = "jsonld"
MEDIA_TYPES["application/x-turtle"] = "ttl"
MEDIA_TYPES["application/xml"] = "rdf"
MEDIA_TYPES["text/plain"] = "nt"  # N-Triples' old media type
_CACHED_PAGES = 64


class NotAcceptable(Exception):
    pass


class Catalogue:
    """The lake's latest dataset versions, described once per change of the manifests, and
    their rendered pages (cached by the manifests' hashes)."""

    def __init__(
        self,
        lake: Any,
        *,
        base_url: str,
        site: str,
        page_size: int = DEFAULT_PAGE_SIZE,
        **describe_options: Any,
    ) -> None:
        if page_size < 1:
            raise ValueError("page size must be at least 1")
        self.lake = lake
        self.base_url = base_url.strip().rstrip("/")
        self.site = site
        self.page_size = page_size
        self.options = describe_options
        self._lock = threading.Lock()
        self._state: tuple = ()
        self._descriptions: list[Description] = []
        self._pages: OrderedDict[tuple, tuple[bytes, str]] = OrderedDict()

    def descriptions(self) -> tuple[list[Description], datetime | None]:
        """Every dataset's latest version and when the newest one was published."""
        manifests = [self.lake.manifest(name) for name in self.lake.datasets()]
        state = tuple((m.dataset, m.version, m.sha3_256) for m in manifests)
        with self._lock:
            if state != self._state:
                self._descriptions = [
                    describe(
                        self.lake,
                        m.dataset,
                        version=m.version,
                        base_url=self.base_url,
                        site=self.site,
                        **self.options,
                    )
                    for m in manifests
                ]
                self._state = state
                self._pages.clear()
            descriptions = self._descriptions
        newest = max((_parse_time(m.created) for m in manifests), default=None)
        return descriptions, newest

    def pages(self, total: int) -> int:
        return max(1, math.ceil(total / self.page_size))

    def page(
        self, number: int, fmt: str, *, format_in_urls: bool = False
    ) -> tuple[bytes, str, datetime | None, int]:
        """(body, etag, last modified, total pages); KeyError for a page past the last.

        `format_in_urls`: the Hydra links carry ?format= (for a client that asked with it)."""
        descriptions, newest = self.descriptions()
        last = self.pages(len(descriptions))
        if not 1 <= number <= last:
            raise KeyError(number)
        key = (self._state, number, fmt, format_in_urls)
        with self._lock:
            cached = self._pages.get(key)
        if cached is None:
            body = self._render(descriptions, number, last, fmt, format_in_urls)
            cached = (body, '"' + hashlib.sha3_256(body).hexdigest()[:40] + '"')
            with self._lock:
                self._pages[key] = cached
                while len(self._pages) > _CACHED_PAGES:
                    self._pages.popitem(last=False)
        return cached[0], cached[1], newest, last

    def _render(
        self, descriptions: list[Description], number: int, last: int, fmt: str, in_urls: bool
    ) -> bytes:
        start = (number - 1) * self.page_size
        chunk = descriptions[start : start + self.page_size]
        graph = catalogue_graph(chunk, base_url=self.base_url, site=self.site)

        def url(n: int | None) -> URIRef:
            return URIRef(self.page_url(n, fmt if in_urls else None))

        collection, view = url(None), url(number)
        graph.add((collection, RDF.type, HYDRA.Collection))
        graph.add((collection, HYDRA.totalItems, Literal(len(descriptions), datatype=XSD.integer)))
        graph.add((collection, HYDRA.view, view))
        graph.add((view, RDF.type, HYDRA.PartialCollectionView))
        graph.add((view, HYDRA.first, url(1)))
        graph.add((view, HYDRA.last, url(last)))
        if number > 1:
            graph.add((view, HYDRA.previous, url(number - 1)))
        if number < last:
            graph.add((view, HYDRA.next, url(number + 1)))
        return serialise(graph, fmt)

    def page_url(self, number: int | None, fmt: str | None = None) -> str:
        query = {}
        if fmt is not None:
            query["format"] = fmt
        if number is not None:
            query["page"] = str(number)
        return f"{self.base_url}/dcat" + (f"?{urlencode(query)}" if query else "")


def make_server(
    lake: Any,
    *,
    host: str,
    port: int,
    base_url: str,
    site: str,
    page_size: int = DEFAULT_PAGE_SIZE,
    **describe_options: Any,
) -> ThreadingHTTPServer:
    """A server ready to `serve_forever()` (port 0: a free port, see `server_address`)."""
    catalogue = Catalogue(
        lake, base_url=base_url, site=site, page_size=page_size, **describe_options
    )

    class Handler(_Handler):
        pass

    Handler.catalogue = catalogue
    Handler.lake = lake
    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def run(
    lake: Any,
    *,
    host: str,
    port: int,
    base_url: str,
    site: str,
    page_size: int = DEFAULT_PAGE_SIZE,
    **describe_options: Any,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM's KeyboardInterrupt)."""
    server = make_server(
        lake,
        host=host,
        port=port,
        base_url=base_url,
        site=site,
        page_size=page_size,
        **describe_options,
    )
    bound_host, bound_port = server.server_address[:2]
    log.info("serving host=%s port=%d base_url=%s", bound_host, bound_port, base_url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    catalogue: Catalogue
    lake: Any
    server_version = "agora-node"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._answer(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer(head=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.info("request client=%s %s", self.client_address[0], format % args)

    def _answer(self, *, head: bool) -> None:
        self.head = head
        parts = urlsplit(self.path)
        try:
            if parts.path in ("/dcat", "/dcat/"):
                self._dcat(parse_qs(parts.query, keep_blank_values=True))
            elif parts.path == "/health":
                self._health()
            elif parts.path.startswith("/manifests/"):
                self._plain(
                    HTTPStatus.FORBIDDEN,
                    "Manifests are resolved at the site only: their studies are opened in a "
                    "sandbox the hub grants access to, never downloaded.",
                )
            else:
                self._plain(HTTPStatus.NOT_FOUND, "Not found. This node serves /dcat and /health.")
        except Exception:
            log.exception("request_failed path=%s", parts.path)
            self._plain(
                HTTPStatus.INTERNAL_SERVER_ERROR, "Internal error; the node's log has details."
            )

    def _dcat(self, query: dict[str, list[str]]) -> None:
        unknown = sorted(set(query) - {"page", "format"})
        if unknown:
            self._plain(
                HTTPStatus.BAD_REQUEST,
                f"Unknown parameter {unknown[0]!r}; /dcat takes page and format.",
            )
            return
        try:
            number = _page_number(query.get("page"))
            fmt, explicit = _format(query.get("format"), self.headers.get("Accept"))
        except ValueError as exc:
            self._plain(HTTPStatus.BAD_REQUEST, str(exc))
            return
        except NotAcceptable as exc:
            self._plain(HTTPStatus.NOT_ACCEPTABLE, str(exc))
            return
        catalogue = self.catalogue
        try:
            body, etag, modified, _ = catalogue.page(number, fmt, format_in_urls=explicit)
        except KeyError:
            last = catalogue.pages(len(catalogue.descriptions()[0]))
            self._plain(
                HTTPStatus.NOT_FOUND, f"No page {number}: the catalogue has pages 1 to {last}."
            )
            return
        headers = {
            "Content-Type": f"{FORMATS[fmt][1]}; charset=utf-8",
            "ETag": etag,
            "Vary": "Accept",
            "Cache-Control": "no-cache",
        }
        if modified is not None:
            headers["Last-Modified"] = format_datetime(modified, usegmt=True)
        if self._not_modified(etag, modified):
            self._send(HTTPStatus.NOT_MODIFIED, b"", headers, length=False)
            return
        self._send(HTTPStatus.OK, body, headers)

    def _not_modified(self, etag: str, modified: datetime | None) -> bool:
        """RFC 9110 13.2.2: If-None-Match decides when present, else If-Modified-Since."""
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match is not None:
            tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
            return "*" in tags or etag in tags
        since = self.headers.get("If-Modified-Since")
        if since is None or modified is None:
            return False
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return modified.replace(microsecond=0) <= when

    def _health(self) -> None:
        root = self.lake.root
        try:
            datasets = len(self.lake.datasets())
            ok = True
        except Exception:
            log.exception("health_check_failed")
            datasets, ok = 0, False
        writable = os.access(root, os.W_OK) and os.access(root / ".agora", os.W_OK)
        body = json.dumps({"ok": ok, "datasets": datasets, "lake_writable": writable}).encode()
        status = HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE
        self._send(status, body, {"Content-Type": "application/json", "Cache-Control": "no-store"})

    def _plain(self, status: HTTPStatus, message: str) -> None:
        body = (message + "\n").encode()
        self._send(status, body, {"Content-Type": "text/plain; charset=utf-8"})

    def _send(
        self, status: HTTPStatus, body: bytes, headers: dict[str, str], *, length: bool = True
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and not self.head:
            self.wfile.write(body)


def _page_number(values: list[str] | None) -> int:
    if not values:
        return 1
    text = values[-1].strip()
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"page must be a whole number from 1, not {values[-1]!r}.")
    return int(text)


def _format(values: list[str] | None, accept: str | None) -> tuple[str, bool]:
    """(format, whether the client named it in the URL)."""
    if values:
        fmt = values[-1].strip().lower()
        if fmt not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {values[-1]!r}.")
        return fmt, True
    return _negotiate(accept), False


def _negotiate(accept: str | None) -> str:
    """The best format for an Accept header (Turtle for none or */*)."""
    if not accept or not accept.strip():
        return "ttl"
    best: tuple[float, int, str] | None = None
    for position, item in enumerate(accept.split(",")):
        media, _, params = item.strip().partition(";")
        media = media.strip().lower()
        quality = _quality(params)
        if quality <= 0:
            continue
        if media in MEDIA_TYPES:
            fmt = MEDIA_TYPES[media]
        elif media in ("*/*", "text/*", "application/*"):
            fmt = "ttl" if media != "application/*" else "jsonld"
        else:
            continue
        # Higher quality wins; among equals, the client's order.
        candidate = (quality, -position, fmt)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
    if best is None:
        raise NotAcceptable(
            "None of the accepted types is served; ask for one of "
            + ", ".join(media for _, media in FORMATS.values())
            + " (or ?format=ttl|jsonld|rdf|nt)."
        )
    return best[2]


def _quality(params: str) -> float:
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value)
            except ValueError:
                return 0.0
    return 1.0


def _parse_time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
