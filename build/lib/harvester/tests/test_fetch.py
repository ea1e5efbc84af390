"""fetch_pages walks a node's catalogue page by page, and a slow, huge, broken or hostile
node costs the hub bounded time and memory and ends in a message naming the problem.
Every test talks to a real HTTP server on loopback."""

from __future__ import annotations

import socket
import time

import pytest
from rdflib import RDF, Namespace, URIRef

from harvester.fetch import (
    CachedPage,
    FetchError,
    HttpStatusError,
    Limits,
    PageTooLarge,
    PageUnreadable,
    PagingLoop,
    RequestTimeout,
    TotalTimeout,
    UnsafeUrl,
    check_url,
    fetch_pages,
)
from harvester.tests.nodeserver import MEDIA_TYPES, NodeServer, Reply, paged_catalogue

DCAT = Namespace("http://www.w3.org/ns/dcat#")
FAST = Limits(request_timeout=0.5, total_timeout=5.0)
LAST_MODIFIED = "Wed, 01 Oct 2025 10:00:00 GMT"


def dataset_page(*numbers: int) -> str:
    lines = ["@prefix dcat: <http://www.w3.org/ns/dcat#> ."]
    lines += [f"<https://node.example/datasets/{n}> a dcat:Dataset ." for n in numbers]
    return "\n".join(lines)


def datasets(pages) -> list[str]:
    return sorted(
        str(s).rsplit("/", 1)[-1]
        for page in pages
        for s in page.graph.subjects(RDF.type, DCAT.Dataset)
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def node():
    with NodeServer() as server:
        yield server


def three_pages(node, **options) -> str:
    node.routes.update(
        paged_catalogue(
            [dataset_page(1, 2), dataset_page(3, 4), dataset_page(5)],
            base=node.url("/dcat"),
            total_items=5,
            **options,
        )
    )
    return node.url("/dcat")


# -- reading a catalogue ------------------------------------------------------------------


@pytest.mark.parametrize("style", ["PagedCollection", "PartialCollectionView"])
@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_a_paged_catalogue_is_read_in_every_serialisation_and_paging_style(node, fmt, style):
    start = three_pages(node, fmt=fmt, style=style)
    pages = list(fetch_pages(start, limits=FAST))
    assert [p.number for p in pages] == [1, 2, 3]
    assert [p.url for p in pages] == [start, f"{start}?page=2", f"{start}?page=3"]
    assert [p.next_url for p in pages] == [f"{start}?page=2", f"{start}?page=3", None]
    assert datasets(pages) == ["1", "2", "3", "4", "5"]
    assert all(p.total_items == 5 and not p.not_modified and p.size_bytes > 0 for p in pages)


@pytest.mark.parametrize("style", ["PagedCollection", "PartialCollectionView"])
def test_relative_next_links_resolve_against_the_page_url(node, style):
    start = three_pages(node, style=style, relative=True)
    pages = list(fetch_pages(start, limits=FAST))
    assert [p.next_url for p in pages] == [f"{start}?page=2", f"{start}?page=3", None]


def test_a_single_page_catalogue_without_hydra(node):
    node.routes["/catalog.ttl"] = Reply(dataset_page(1))
    [page] = fetch_pages(node.url("/catalog.ttl"), limits=FAST)
    assert (page.number, page.next_url, page.total_items) == (1, None, None)
    assert (URIRef("https://node.example/datasets/1"), RDF.type, DCAT.Dataset) in page.graph


def test_the_hub_asks_for_turtle_first(node):
    start = three_pages(node)
    list(fetch_pages(start, limits=FAST))
    accept = node.requests[0].headers["Accept"]
    types = [part.split(";")[0].strip() for part in accept.split(",")]
    assert types == [
        "text/turtle",
        "application/ld+json",
        "application/rdf+xml",
        "application/n-triples",
        "*/*",
    ]


def test_a_page_that_is_not_rdf_is_unreadable(node):
    node.routes["/dcat"] = Reply(b"<html>maintenance</html>", content_type="text/html")
    with pytest.raises(PageUnreadable) as error:
        list(fetch_pages(node.url("/dcat"), limits=FAST))
    assert str(error.value) == f"{node.url('/dcat')}: unsupported content type text/html"


def test_a_broken_page_names_the_url_and_the_syntax_error(node):
    start = three_pages(node)
    node.routes["/dcat?page=2"] = Reply(b"@prefix dcat: <http://www.w3.org/ns/dcat#> .\n<a> a ")
    pages = fetch_pages(start, limits=FAST)
    assert next(pages).number == 1
    with pytest.raises(PageUnreadable, match=r"page=2: not valid Turtle: .*line 2"):
        next(pages)


# -- conditional GET ----------------------------------------------------------------------


def test_unchanged_pages_are_not_downloaded_again(node):
    start = three_pages(node, etag="auto", last_modified=LAST_MODIFIED)
    first_run = list(fetch_pages(start, limits=FAST))
    assert all(p.etag.startswith('"') and p.last_modified == LAST_MODIFIED for p in first_run)
    cache = {p.url: CachedPage(p.etag, p.last_modified, p.next_url) for p in first_run}
    node.clear_log()

    second_run = list(fetch_pages(start, limits=FAST, cache=cache))

    assert [p.not_modified for p in second_run] == [True, True, True]
    assert [p.graph for p in second_run] == [None, None, None]
    assert [p.next_url for p in second_run] == [p.next_url for p in first_run]
    assert [p.etag for p in second_run] == [p.etag for p in first_run]
    for request, page in zip(node.requests, first_run, strict=True):
        assert request.headers["If-None-Match"] == page.etag
        assert request.headers["If-Modified-Since"] == LAST_MODIFIED


def test_last_modified_alone_is_enough_for_a_conditional_get(node):
    node.routes["/dcat"] = Reply(dataset_page(1), last_modified=LAST_MODIFIED)
    cache = {node.url("/dcat"): CachedPage(last_modified=LAST_MODIFIED)}
    [page] = fetch_pages(node.url("/dcat"), limits=FAST, cache=cache)
    assert page.not_modified and page.last_modified == LAST_MODIFIED
    assert "If-None-Match" not in node.requests[0].headers


def test_a_changed_page_is_downloaded_and_its_new_links_followed(node):
    start = three_pages(node, etag="auto")
    first_run = list(fetch_pages(start, limits=FAST))
    cache = {p.url: CachedPage(p.etag, p.last_modified, p.next_url) for p in first_run}
    node.routes.update(
        paged_catalogue(
            [dataset_page(1, 2, 9), dataset_page(3, 4), dataset_page(5)],
            base=start,
            total_items=5,
            etag="auto",
        )
    )
    second_run = list(fetch_pages(start, limits=FAST, cache=cache))
    assert [p.not_modified for p in second_run] == [False, True, True]
    assert datasets(second_run[:1]) == ["1", "2", "9"]
    assert second_run[0].etag != first_run[0].etag


def test_no_conditional_headers_without_a_cache(node):
    start = three_pages(node, etag="auto")
    list(fetch_pages(start, limits=FAST))
    assert all("If-None-Match" not in r.headers for r in node.requests)
    assert all("If-Modified-Since" not in r.headers for r in node.requests)


# -- size ---------------------------------------------------------------------------------

TOO_BIG = Limits(max_page_bytes=10_000, request_timeout=2.0, total_timeout=5.0)


def big_body() -> bytes:
    return dataset_page(1).encode() + b"\n" + b"# padding\n" * 20_000


@pytest.mark.parametrize(
    "reply",
    [
        Reply(big_body()),
        Reply(big_body(), content_length=False),
        Reply(big_body(), chunked=True, drip=(4096, 0)),
    ],
    ids=["content-length", "streamed", "chunked"],
)
def test_a_page_larger_than_the_limit_is_refused(node, reply):
    node.routes["/dcat"] = reply
    with pytest.raises(PageTooLarge) as error:
        list(fetch_pages(node.url("/dcat"), limits=TOO_BIG))
    assert str(error.value).startswith(f"{node.url('/dcat')}: the page is")
    assert "9.8 KiB" in str(error.value)


def test_a_page_just_under_the_limit_is_read(node):
    node.routes["/dcat"] = Reply(dataset_page(1), chunked=True)
    [page] = fetch_pages(node.url("/dcat"), limits=Limits(max_page_bytes=len(dataset_page(1))))
    assert datasets([page]) == ["1"]


# -- time ---------------------------------------------------------------------------------


def test_a_node_that_drips_its_page_slowly_times_out(node):
    node.routes["/dcat"] = Reply(dataset_page(1) + "\n" + "#" * 2000, drip=(20, 0.02))
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as error:
        list(fetch_pages(node.url("/dcat"), limits=FAST))
    assert time.monotonic() - started < 1.0
    assert str(error.value) == f"{node.url('/dcat')}: no complete answer within 0.5 s"


def test_a_node_that_does_not_answer_times_out(node):
    node.routes["/dcat"] = Reply(dataset_page(1), delay=2.0)
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        list(fetch_pages(node.url("/dcat"), limits=FAST))
    assert time.monotonic() - started < 1.0


def test_the_whole_run_has_a_deadline(node):
    start = three_pages(node, delay=0.3)
    seen = []
    started = time.monotonic()
    with pytest.raises(TotalTimeout) as error:
        for page in fetch_pages(start, limits=Limits(request_timeout=5.0, total_timeout=0.5)):
            seen.append(page.number)
    assert seen == [1]
    assert time.monotonic() - started < 1.0
    assert "took longer than 0.5 s in all" in str(error.value)


def test_the_deadline_is_checked_before_each_request(node):
    start = three_pages(node)
    now = [0.0]
    pages = fetch_pages(start, limits=Limits(total_timeout=60.0), clock=lambda: now[0])
    assert next(pages).number == 1
    now[0] = 61.0
    with pytest.raises(TotalTimeout):
        next(pages)
    assert len(node.requests) == 1


# -- broken answers -----------------------------------------------------------------------


def test_a_truncated_body_is_unreadable(node):
    node.routes["/dcat"] = Reply(dataset_page(1), truncated=True)
    with pytest.raises(PageUnreadable) as error:
        list(fetch_pages(node.url("/dcat"), limits=FAST))
    assert "the page arrived incomplete" in str(error.value)
    assert str(error.value).startswith(node.url("/dcat"))


@pytest.mark.parametrize("status, words", [(500, "Internal Server Error"), (404, "Not Found")])
def test_an_http_error_names_the_status(node, status, words):
    node.routes["/dcat"] = Reply(b"oops", content_type="text/plain", status=status)
    with pytest.raises(HttpStatusError) as error:
        list(fetch_pages(node.url("/dcat"), limits=FAST))
    assert error.value.status == status
    assert str(error.value) == f"{node.url('/dcat')}: the node answered HTTP {status} {words}"


def test_an_error_on_a_later_page_comes_after_the_earlier_pages(node):
    start = three_pages(node)
    node.routes["/dcat?page=3"] = Reply(status=503, body=b"busy")
    seen = []
    with pytest.raises(HttpStatusError, match="page=3: the node answered HTTP 503"):
        for page in fetch_pages(start, limits=FAST):
            seen.append(page.number)
    assert seen == [1, 2]


def test_a_refused_connection_is_said_in_plain_words():
    url = f"http://127.0.0.1:{free_port()}/dcat"
    with pytest.raises(FetchError) as error:
        list(fetch_pages(url, limits=FAST))
    assert str(error.value) == f"{url}: connection refused (is the node running and reachable?)"


def test_an_unknown_host_is_said_in_plain_words():
    with pytest.raises(FetchError, match="the host name could not be resolved"):
        list(fetch_pages("http://node.invalid/dcat", limits=FAST))


# -- where the hub may go -----------------------------------------------------------------


def test_a_redirect_on_the_node_host_is_followed(node):
    node.routes["/old"] = Reply(redirect="/dcat", status=301)
    node.routes["/dcat"] = Reply("<datasets/1> a <http://www.w3.org/ns/dcat#Dataset> .")
    [page] = fetch_pages(node.url("/old"), limits=FAST)
    assert page.url == node.url("/old")  # the URL the cache knows
    assert (URIRef(node.url("/datasets/1")), RDF.type, DCAT.Dataset) in page.graph
    assert [r.path for r in node.requests] == ["/old", "/dcat"]


@pytest.mark.parametrize("status", [302, 303, 307, 308])
def test_every_redirect_status_is_followed(node, status):
    node.routes["/old"] = Reply(redirect=node.url("/dcat"), status=status)
    node.routes["/dcat"] = Reply(dataset_page(1))
    [page] = fetch_pages(node.url("/old"), limits=FAST)
    assert datasets([page]) == ["1"]


def test_a_redirect_to_another_host_is_refused(node):
    other = f"http://localhost:{node.port}/dcat"
    node.routes["/dcat"] = Reply(redirect=other)
    with pytest.raises(UnsafeUrl) as error:
        list(fetch_pages(node.url("/dcat"), limits=FAST))
    assert f"redirects to host localhost:{node.port}" in str(error.value)
    assert f"not the node's host 127.0.0.1:{node.port}" in str(error.value)
    assert [r.path for r in node.requests] == ["/dcat"]


def test_a_redirect_to_another_scheme_is_refused(node):
    node.routes["/dcat"] = Reply(redirect="file:///etc/passwd")
    with pytest.raises(UnsafeUrl, match="which is not http"):
        list(fetch_pages(node.url("/dcat"), limits=FAST))


def test_endless_redirects_stop(node):
    node.routes["/a"] = Reply(redirect="/b")
    node.routes["/b"] = Reply(redirect="/a")
    with pytest.raises(FetchError, match="more than 5 redirects"):
        list(fetch_pages(node.url("/a"), limits=FAST))
    assert len(node.requests) == 6


def test_a_next_page_on_another_host_is_refused(node):
    node.routes.update(
        paged_catalogue(
            [dataset_page(1), dataset_page(2)], base=f"http://localhost:{node.port}/dcat"
        )
    )
    with pytest.raises(UnsafeUrl) as error:
        list(fetch_pages(node.url("/dcat"), limits=FAST))
    assert str(error.value) == (
        f"page 1 at {node.url('/dcat')} links its next page to host localhost:{node.port}, "
        f"not the node's host 127.0.0.1:{node.port}"
    )
    assert len(node.requests) == 1


@pytest.mark.parametrize(
    "url", ["ftp://node.example/dcat", "file:///etc/passwd", "gopher://x/", "node.example/dcat"]
)
def test_only_http_and_https_are_fetched(url):
    with pytest.raises(UnsafeUrl, match="only http and https"):
        check_url(url, None)
    with pytest.raises(UnsafeUrl):
        list(fetch_pages(url))


def test_the_allow_list_is_enforced(node):
    node.routes["/dcat"] = Reply(dataset_page(1))
    [page] = fetch_pages(node.url("/dcat"), limits=FAST, allowed_hosts={"127.0.0.1"})
    assert page.number == 1
    [page] = fetch_pages(node.url("/dcat"), limits=FAST, allowed_hosts={node.host})
    assert page.number == 1
    node.clear_log()
    with pytest.raises(UnsafeUrl) as error:
        list(fetch_pages(node.url("/dcat"), limits=FAST, allowed_hosts={"node.example"}))
    assert str(error.value) == (
        f"{node.url('/dcat')}: host 127.0.0.1:{node.port} is not one the hub is allowed to harvest"
    )
    assert node.requests == []


def test_an_allowed_host_with_a_port_allows_only_that_port():
    check_url("https://node.example:8443/dcat", {"node.example:8443"})
    with pytest.raises(UnsafeUrl):
        check_url("https://node.example:9000/dcat", {"node.example:8443"})
    with pytest.raises(UnsafeUrl):
        check_url("https://node.example/dcat", {"node.example:8443"})
    check_url("https://NODE.example/dcat", {"node.example"})


# -- paging that never ends ---------------------------------------------------------------


def test_endless_paging_stops_at_the_page_limit(node):
    start = node.serve_endless()
    seen = []
    with pytest.raises(PagingLoop) as error:
        for page in fetch_pages(start, limits=Limits(max_pages=4, request_timeout=0.5)):
            seen.append(page.number)
    assert seen == [1, 2, 3]
    assert str(error.value) == f"{start}: more than 4 pages; stopping"
    assert len(node.requests) == 4


def test_a_paging_loop_is_stopped(node):
    start = node.serve_loop()
    seen = []
    with pytest.raises(PagingLoop) as error:
        for page in fetch_pages(start, limits=FAST):
            seen.append(page.number)
    assert seen == [1]
    second = node.url("/loop?page=2")
    assert str(error.value) == f"page 2 at {second} points back to {start}, already fetched"


def test_a_page_pointing_to_itself_is_a_loop(node):
    node.routes["/dcat"] = Reply(
        dataset_page(1)
        + f"\n<{node.url('/dcat')}> <http://www.w3.org/ns/hydra/core#nextPage> "
        + f'"{node.url("/dcat")}#again" .'
    )
    with pytest.raises(PagingLoop, match="page 1 at .* points back to"):
        list(fetch_pages(node.url("/dcat"), limits=FAST))


# -- a node must not be able to point the hub at internal services ------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9\\@node.example/dcat",
        "http://user:pw@node.example/dcat",
        "http://node.example@127.0.0.1/dcat",
        "http://node.example /dcat",
        "http://node.example/dc\tat",
    ],
)
def test_urls_two_parsers_could_read_differently_are_refused(url):
    with pytest.raises(UnsafeUrl, match="not allowed in a node URL|not a valid URL"):
        check_url(url, {"node.example"})


def test_redirect_and_next_page_with_a_smuggled_host_are_refused():
    with NodeServer() as internal, NodeServer() as node:
        internal.routes["/secret"] = Reply(b"SECRET_API_KEY=hunter2", content_type="text/plain")
        smuggled = f"http://127.0.0.1:{internal.port}\\@{node.host}:{node.port}/secret"
        node.routes["/dcat"] = Reply(b"", status=302, redirect=smuggled)
        with pytest.raises(UnsafeUrl):
            list(fetch_pages(node.url("/dcat")))
        node.routes["/dcat"] = Reply(
            f"<{node.url('/dcat')}> a <http://www.w3.org/ns/hydra/core#PagedCollection> ;"
            ' <http://www.w3.org/ns/hydra/core#nextPage> "%s" .' % smuggled.replace("\\", "\\\\")
        )
        with pytest.raises(UnsafeUrl):
            list(fetch_pages(node.url("/dcat")))
        assert not internal.requests


def test_internal_addresses_are_refused_unless_allowed_by_name():
    with NodeServer() as node:
        node.routes["/dcat"] = Reply(b"<http://a> <http://b> <http://c> .")
        for host in ("127.0.0.1", "localhost"):
            url = f"http://{host}:{node.port}/dcat"
            with pytest.raises(UnsafeUrl, match="internal address"):
                list(fetch_pages(url, block_internal=True))
        assert not node.requests
        pages = list(
            fetch_pages(node.url("/dcat"), block_internal=True, allowed_hosts={"127.0.0.1"})
        )
        assert len(pages[0].graph) == 1
