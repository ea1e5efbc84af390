"""Fetch a node's DCAT catalogue page by page, within limits the hub sets.

A node is an outside server: it may be slow, huge, broken or hostile. So the client only
speaks http(s) to the node's own host, follows redirects and Hydra next-page links only on
that host, reads bodies in bounded chunks under a deadline, and turns every failure into
a `FetchError` whose message names the URL and the problem in plain words (operators read
it on the node's page).

    for page in fetch_pages("https://node.example/catalog.ttl", cache=previous_run):
        if not page.not_modified:
            use(page.graph)
"""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit

import requests
import urllib3.exceptions
from rdflib import RDF, Graph, Literal, Namespace, URIRef
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .rdf import RdfError, hydra_triples, parse_rdf

__all__ = [
    "ACCEPT",
    "CachedPage",
    "FetchError",
    "HttpStatusError",
    "Limits",
    "Page",
    "PageTooLarge",
    "PageUnreadable",
    "PagingLoop",
    "RequestTimeout",
    "TotalTimeout",
    "UnsafeUrl",
    "check_url",
    "fetch_pages",
]

HYDRA = Namespace("http://www.w3.org/ns/hydra/core#")
ACCEPT = (
    "text/turtle, application/ld+json;q=0.9, application/rdf+xml;q=0.8, "
    "application/n-triples;q=0.7, */*;q=0.1"
)
USER_AGENT = "Agora-harvester/1 (+https://w3id.org/agora)"
REDIRECTS = {301, 302, 303, 307, 308}
CHUNK = 64 * 1024
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Limits:
    max_page_bytes: int = 50 * 1024 * 1024
    request_timeout: float = 30.0  # whole request, connect + reading the body
    total_timeout: float = 1800.0  # the whole run
    max_pages: int = 10_000
    max_redirects: int = 5


@dataclass(frozen=True)
class CachedPage:
    """What the previous successful run saw at a URL (for conditional GETs)."""

    etag: str = ""
    last_modified: str = ""
    next_url: str | None = None


@dataclass
class Page:
    url: str  # as requested (the cache key); redirects are followed behind it
    number: int  # 1-based
    not_modified: bool
    etag: str
    last_modified: str
    next_url: str | None
    total_items: int | None  # hydra:totalItems when the page says it
    size_bytes: int
    body: bytes = b""
    content_type: str | None = None
    base: str = ""  # the URL the body came from (after redirects): its base IRI
    parsed: Graph | None = None

    @property
    def graph(self) -> Graph | None:
        """The page as one graph (None when not modified), parsed when first asked for:
        a harvester may parse it elsewhere (in a worker process) instead."""
        if self.not_modified:
            return None
        if self.parsed is None:
            self.parsed = parse_rdf(self.body, self.content_type, base=self.base)
        return self.parsed


class FetchError(Exception):
    """A page could not be fetched; the message names the URL and says why."""

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class UnsafeUrl(FetchError):
    """Not http(s), a host the hub may not contact, or a jump to another host."""


class HttpStatusError(FetchError):
    def __init__(self, message: str, *, url: str = "", status: int = 0) -> None:
        super().__init__(message, url=url)
        self.status = status


class PageTooLarge(FetchError):
    pass


class RequestTimeout(FetchError):
    pass


class TotalTimeout(FetchError):
    pass


class PagingLoop(FetchError):
    pass


class PageUnreadable(FetchError):
    """The body arrived cut off or is not RDF the hub can read."""


def check_url(url: str, allowed_hosts: Collection[str] | None) -> None:
    """Refuse URLs the hub must never fetch (also used when a node is registered).

    `allowed_hosts` holds host names, or host:port to allow one port only; None allows any.
    """
    parts, port = _strict_parts(url)
    if allowed_hosts is None:
        return
    host = parts.hostname.lower()
    allowed = {entry.strip().lower() for entry in allowed_hosts}
    if host in allowed or (port is not None and f"{host}:{port}" in allowed):
        return
    shown = f"{host}:{port}" if port is not None else host
    raise UnsafeUrl(f"{url}: host {shown} is not one the hub is allowed to harvest", url=url)


def _strict_parts(url: str):
    """The URL's parts, refusing any URL two parsers could read differently: the host
    checked here must be the host requests connects to (no userinfo, no backslash, no
    spaces or control characters)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"{url}: not a valid URL ({exc})", url=url) from exc
    if parts.scheme not in DEFAULT_PORTS:
        raise UnsafeUrl(f"{url}: only http and https URLs can be harvested", url=url)
    if not parts.hostname:
        raise UnsafeUrl(f"{url}: the URL has no host", url=url)
    if "@" in parts.netloc or "\\" in url or _UNSAFE_CHARACTERS.search(url):
        raise UnsafeUrl(
            f"{url!r}: user names, backslashes, spaces and control characters are not "
            "allowed in a node URL",
            url=url,
        )
    try:
        theirs = parse_url(url)
    except LocationParseError as exc:
        raise UnsafeUrl(f"{url}: not a valid URL ({exc})", url=url) from exc
    if (theirs.host or "").lower().strip("[]") != parts.hostname.lower():
        raise UnsafeUrl(f"{url}: the host is ambiguous", url=url)
    return parts, port


def check_address(
    url: str, allowed_hosts: Collection[str] | None, address: str | None = None
) -> None:
    """Refuse a host that resolves to a loopback, private, link-local or otherwise internal
    address, unless the allow-list names it: a node's DNS is in its operator's hands.
    `address`: the one actually connected to, instead of resolving the name."""
    host = (urlsplit(url).hostname or "").lower()
    if allowed_hosts is not None and host in {h.strip().lower() for h in allowed_hosts}:
        return
    if address is not None:
        _refuse_internal(url, host, address)
        return
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise FetchError(f"{url}: the host {host} cannot be resolved ({exc})", url=url) from exc
    for info in infos:
        _refuse_internal(url, host, info[4][0])


def _refuse_internal(url: str, host: str, address: str) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global or ip.is_multicast:
        raise UnsafeUrl(
            f"{url}: {host} is at {ip}, an internal address the hub does not harvest "
            "(an administrator may allow it: HARVEST_ALLOWED_HOSTS)",
            url=url,
        )


def fetch_pages(
    url: str,
    *,
    limits: Limits = Limits(),  # noqa: B008 (frozen, so sharing the default is safe)
    allowed_hosts: Collection[str] | None = None,
    cache: Mapping[str, CachedPage] | None = None,
    session: requests.Session | None = None,
    clock: Callable[[], float] = time.monotonic,
    block_internal: bool = False,
) -> Iterator[Page]:
    """Yield the catalogue's pages in order, following Hydra next-page links.

    `block_internal`: refuse hosts at loopback, private or link-local addresses (checked
    before each request and again on the connected socket), unless `allowed_hosts` names
    them.

    A page is checked completely (body, size, next link on the node's host, no loop, page
    count) before it is yielded, so a consumer never sees a page the run then disowns.
    """
    check_url(url, allowed_hosts)
    guard = (lambda u, a=None: check_address(u, allowed_hosts, a)) if block_internal else None
    client = _Client(url, limits, session, clock, guard)
    fetched: set[str] = set()
    current: str | None = url
    number = 0
    try:
        while current is not None:
            number += 1
            page, final_url = client.get(current, number, (cache or {}).get(current))
            fetched.update({_key(current), _key(final_url)})
            if page.next_url is not None:
                _check_next(url, page, fetched, limits)
            yield page
            current = page.next_url
    finally:
        client.close()


def _check_next(node_url: str, page: Page, fetched: set[str], limits: Limits) -> None:
    assert page.next_url is not None
    where = f"page {page.number} at {page.url}"
    if urlsplit(page.next_url).scheme not in DEFAULT_PORTS:
        raise UnsafeUrl(f"{where} links to {page.next_url}, which is not http(s)", url=page.url)
    _strict_parts(page.next_url)
    if _host(page.next_url) != _host(node_url):
        raise UnsafeUrl(
            f"{where} links its next page to host {_shown(page.next_url)}, "
            f"not the node's host {_shown(node_url)}",
            url=page.url,
        )
    if _key(page.next_url) in fetched:
        raise PagingLoop(f"{where} points back to {page.next_url}, already fetched", url=page.url)
    if page.number >= limits.max_pages:
        raise PagingLoop(f"{node_url}: more than {limits.max_pages} pages; stopping", url=page.url)


class _Client:
    def __init__(
        self,
        node_url: str,
        limits: Limits,
        session: requests.Session | None,
        clock: Callable[[], float],
        guard: Callable[..., None] | None = None,
    ) -> None:
        self.guard = guard
        self.node_url = node_url
        self.limits = limits
        self.own_session = session is None
        self.session = session or requests.Session()
        self.clock = clock
        self.deadline = clock() + limits.total_timeout

    def close(self) -> None:
        if self.own_session:
            self.session.close()

    def get(self, url: str, number: int, cached: CachedPage | None) -> tuple[Page, str]:
        headers = {"Accept": ACCEPT, "User-Agent": USER_AGENT}
        if cached is not None and cached.etag:
            headers["If-None-Match"] = cached.etag
        if cached is not None and cached.last_modified:
            headers["If-Modified-Since"] = cached.last_modified
        current = url
        for _hop in range(self.limits.max_redirects + 1):
            response, request_deadline = self._send(current, headers)
            with response:
                if response.status_code in REDIRECTS:
                    current = self._redirect_target(url, current, response)
                    continue
                if response.status_code == 304 and cached is not None:
                    page = Page(
                        url=url,
                        number=number,
                        not_modified=True,
                        etag=response.headers.get("ETag") or cached.etag,
                        last_modified=response.headers.get("Last-Modified") or cached.last_modified,
                        next_url=cached.next_url,
                        total_items=None,
                        size_bytes=0,
                    )
                    return page, current
                if not 200 <= response.status_code < 300:
                    raise HttpStatusError(
                        f"{current}: the node answered HTTP {response.status_code}"
                        + (f" {response.reason}" if response.reason else ""),
                        url=current,
                        status=response.status_code,
                    )
                body = self._read_body(current, response, request_deadline)
                return self._page(url, current, number, response, body), current
        raise FetchError(
            f"{url}: more than {self.limits.max_redirects} redirects; stopping", url=url
        )

    def _send(self, url: str, headers: dict[str, str]) -> tuple[requests.Response, float]:
        now = self.clock()
        if now >= self.deadline:
            raise self._total_timeout(url)
        request_deadline = min(now + self.limits.request_timeout, self.deadline)
        wait = request_deadline - now
        if self.guard is not None:
            self.guard(url)
        try:
            response = self.session.get(
                url, headers=headers, stream=True, allow_redirects=False, timeout=(wait, wait)
            )
        except requests.exceptions.Timeout as exc:
            raise self._timeout(url, request_deadline) from exc
        except requests.exceptions.RequestException as exc:
            raise FetchError(f"{url}: {_connection_problem(exc)}", url=url) from exc
        if self.clock() >= request_deadline:
            response.close()
            raise self._timeout(url, request_deadline)
        if self.guard is not None:
            self._check_peer(url, response)
        return response, request_deadline

    def _check_peer(self, url: str, response: requests.Response) -> None:
        assert self.guard is not None
        """The address actually connected to: DNS may answer differently the second time."""
        sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
        try:
            address = sock.getpeername()[0] if sock is not None else None
        except OSError:
            address = None
        if address is not None:
            try:
                self.guard(url, address)
            except UnsafeUrl:
                response.close()
                raise

    def _redirect_target(self, start: str, current: str, response: requests.Response) -> str:
        location = response.headers.get("Location")
        if not location:
            raise HttpStatusError(
                f"{current}: the node answered HTTP {response.status_code} with no Location",
                url=current,
                status=response.status_code,
            )
        target = urldefrag(urljoin(current, location))[0]
        if urlsplit(target).scheme not in DEFAULT_PORTS:
            raise UnsafeUrl(f"{current} redirects to {target}, which is not http(s)", url=start)
        _strict_parts(target)
        if _host(target) != _host(self.node_url):
            raise UnsafeUrl(
                f"{current} redirects to host {_shown(target)}, not the node's host "
                f"{_shown(self.node_url)}; the hub only follows redirects on the node's host",
                url=start,
            )
        return target

    def _read_body(self, url: str, response: requests.Response, request_deadline: float) -> bytes:
        limit = self.limits.max_page_bytes
        declared = _content_length(response)
        if declared is not None and declared > limit:
            raise PageTooLarge(
                f"{url}: the page is {_size(declared)} (Content-Length), more than the "
                f"limit of {_size(limit)}",
                url=url,
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            now = self.clock()
            if now >= request_deadline:
                raise self._timeout(url, request_deadline)
            _limit_socket_wait(response, request_deadline - now)
            try:
                chunk = response.raw.read1(CHUNK, decode_content=True)
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError) as exc:
                raise self._timeout(url, request_deadline) from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise PageUnreadable(f"{url}: {_cut_off(exc)}", url=url) from exc
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise PageTooLarge(
                    f"{url}: the page is larger than the limit of {_size(limit)}", url=url
                )
            chunks.append(chunk)
        body = b"".join(chunks)
        if declared is not None and "Content-Encoding" not in response.headers:
            if len(body) < declared:
                raise PageUnreadable(
                    f"{url}: the page arrived incomplete ({len(body)} of {declared} bytes)",
                    url=url,
                )
        return body

    def _page(
        self, url: str, final_url: str, number: int, response: requests.Response, body: bytes
    ) -> Page:
        content_type = response.headers.get("Content-Type")
        try:
            # The Hydra links only: Turtle and N-Triples are scanned without building the
            # page's graph (a worker parses it); other serialisations are parsed whole.
            links, whole = hydra_triples(body, content_type, base=final_url)
        except RdfError as exc:
            raise PageUnreadable(str(exc), url=url) from exc
        return Page(
            url=url,
            number=number,
            not_modified=False,
            etag=response.headers.get("ETag", ""),
            last_modified=response.headers.get("Last-Modified", ""),
            next_url=_next_page(links, {url, final_url}, final_url),
            total_items=_total_items(links),
            size_bytes=len(body),
            body=body,
            content_type=content_type,
            base=final_url,
            parsed=links if whole else None,
        )

    def _timeout(self, url: str, request_deadline: float) -> FetchError:
        if request_deadline >= self.deadline:
            return self._total_timeout(url)
        return RequestTimeout(
            f"{url}: no complete answer within {self.limits.request_timeout:g} s", url=url
        )

    def _total_timeout(self, url: str) -> TotalTimeout:
        return TotalTimeout(
            f"{url}: the harvest took longer than {self.limits.total_timeout:g} s in all; stopping",
            url=url,
        )


# -- Hydra --------------------------------------------------------------------------------


def _next_page(graph: Graph, page_urls: set[str], final_url: str) -> str | None:
    """The next page's URL: hydra:nextPage (PagedCollection, as ckanext-dcat publishes,
    often as a literal) or hydra:next of a PartialCollectionView."""
    found: dict[str, set[str]] = {}  # next URL -> subjects that name it

    def add(subject, value) -> None:
        if isinstance(value, URIRef | Literal) and str(value).strip():
            target = urldefrag(urljoin(final_url, str(value).strip()))[0]
            found.setdefault(target, set()).add(str(subject))

    for subject, value in graph.subject_objects(HYDRA.nextPage):
        add(subject, value)
    views = set(graph.objects(None, HYDRA.view))
    views |= set(graph.subjects(RDF.type, HYDRA.PartialCollectionView))
    for view in views:
        for value in graph.objects(view, HYDRA.next):
            add(view, value)
    if len(found) <= 1:
        return next(iter(found), None)
    # Several candidates (e.g. a page that also embeds other views): the page's own wins.
    own = [target for target, subjects in found.items() if subjects & page_urls]
    if len(own) == 1:
        return own[0]
    raise PageUnreadable(
        f"{final_url}: the page names more than one next page ({', '.join(sorted(found))})",
        url=final_url,
    )


def _total_items(graph: Graph) -> int | None:
    counts = []
    for value in graph.objects(None, HYDRA.totalItems):
        try:
            counts.append(int(str(value)))
        except ValueError:
            continue
    return max(counts) if counts else None


# -- small helpers ------------------------------------------------------------------------


_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")


def _host(url: str) -> tuple[str, int | None]:
    """Host and explicit port, scheme-independent: http->https on one host is the same node."""
    parts = urlsplit(url)
    port = parts.port
    if port == DEFAULT_PORTS.get(parts.scheme):
        port = None
    return (parts.hostname or "").lower(), port


def _shown(url: str) -> str:
    host, port = _host(url)
    return f"{host}:{port}" if port is not None else host


def _key(url: str) -> str:
    return urldefrag(url)[0]


def _content_length(response: requests.Response) -> int | None:
    try:
        value = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _limit_socket_wait(response: requests.Response, seconds: float) -> None:
    """Bound the next single socket read by what is left of the request's time."""
    connection = getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.001))
        except OSError:
            pass


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MiB"
    if n >= 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n} bytes"


def _detail(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _cut_off(exc: BaseException) -> str:
    counts = re.search(r"IncompleteRead\((\d+) bytes read, (\d+) more expected\)", str(exc))
    if counts:
        got, missing = counts.groups()
        return (
            f"the page arrived incomplete: the connection closed after {got} bytes, "
            f"{missing} more were announced"
        )
    return f"the page arrived incomplete ({_detail(exc)})"


def _connection_problem(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS connection failed (certificate or protocol problem)"
    if "Connection refused" in text or "ConnectionRefusedError" in text:
        return "connection refused (is the node running and reachable?)"
    if any(
        words in text
        for words in (
            "Name or service not known",
            "nodename nor servname",
            "getaddrinfo failed",
            "Temporary failure in name resolution",
            "No address associated",
            "NameResolutionError",
        )
    ):
        return "the host name could not be resolved"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"the connection failed ({_detail(exc)})"
    return f"the request failed ({_detail(exc)})"
