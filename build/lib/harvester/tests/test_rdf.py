"""parse_rdf reads every RDF serialisation a node may publish, and nothing in a page can
make the hub read a local file, fetch a URL or blow up its memory."""

from __future__ import annotations

import json
import socket
import warnings
from pathlib import Path

import pytest
from rdflib import RDF, Dataset, Graph, Literal, Namespace, URIRef
from rdflib.compare import isomorphic

from harvester.rdf import RdfError, parse_rdf
from harvester.tests.nodeserver import MEDIA_TYPES, NodeServer, Reply

DCAT = Namespace("http://www.w3.org/ns/dcat#")
DCT = Namespace("http://purl.org/dc/terms/")
EXAMPLES = Path("/work/shared/standards/dcat-ap-3.0.1/examples")
BASE = "https://node.example/dcat?page=2"
DCAT_AP_301 = "https://semiceu.github.io/DCAT-AP/releases/3.0.1/context/dcat-ap.jsonld"
EXAMPLES_300 = (
    "https://semiceu.github.io/uri.semic.eu-generated/DCAT-AP/releases/3.0.0/html/examples/"
    "context.jsonld"
)


def catalogue() -> Graph:
    graph = Graph()
    for n in (1, 2):
        dataset = URIRef(f"https://node.example/datasets/{n}")
        graph.add((dataset, RDF.type, DCAT.Dataset))
        graph.add((dataset, DCT.title, Literal(f"Lung CT {n}", lang="en")))
        graph.add((dataset, DCAT.keyword, Literal("lung")))
    return graph


def serialised(graph: Graph, fmt: str) -> bytes:
    if fmt in ("trig", "nquads"):
        dataset = Dataset()
        named = dataset.graph(URIRef("https://node.example/graphs/1"))
        for triple in graph:
            named.add(triple)
        with warnings.catch_warnings():  # rdflib's own use of deprecated names
            warnings.simplefilter("ignore", DeprecationWarning)
            return dataset.serialize(format=fmt, encoding="utf-8")
    return graph.serialize(format=fmt, encoding="utf-8")


@pytest.fixture
def network_attempts(monkeypatch):
    """Every attempt to open a socket, refused and recorded (parse_rdf must make none)."""
    attempts: list[object] = []

    def refuse(self, address, *args):
        attempts.append(address)
        raise OSError("network access during a parsing test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.mark.parametrize("fmt", sorted(MEDIA_TYPES))
def test_every_serialisation_is_read_by_its_content_type(fmt):
    graph = parse_rdf(serialised(catalogue(), fmt), MEDIA_TYPES[fmt], base=BASE)
    assert isomorphic(graph, catalogue())


@pytest.mark.parametrize(
    "content_type, fmt",
    [
        ("text/turtle; charset=utf-8", "turtle"),
        ("application/x-turtle", "turtle"),
        ("Application/RDF+XML; charset=UTF-8", "xml"),
        ("application/json", "json-ld"),
        ("text/plain", "nt"),
    ],
)
def test_content_type_parameters_and_aliases(content_type, fmt):
    graph = parse_rdf(serialised(catalogue(), fmt), content_type, base=BASE)
    assert isomorphic(graph, catalogue())


@pytest.mark.parametrize("content_type", [None, "", "application/octet-stream", "text/plain"])
@pytest.mark.parametrize("fmt", ["turtle", "xml", "json-ld", "nt"])
def test_a_missing_or_generic_type_is_sniffed_from_the_body(content_type, fmt):
    graph = parse_rdf(serialised(catalogue(), fmt), content_type, base=BASE)
    assert isomorphic(graph, catalogue())


def test_rdf_xml_without_a_declaration_is_sniffed():
    body = (
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns:dct="http://purl.org/dc/terms/">'
        b'<rdf:Description rdf:about="/datasets/1"><dct:title>CT</dct:title></rdf:Description>'
        b"</rdf:RDF>"
    )
    graph = parse_rdf(body, None, base=BASE)
    assert graph.value(URIRef("https://node.example/datasets/1"), DCT.title) == Literal("CT")


@pytest.mark.parametrize(
    "body, content_type",
    [
        (b"<datasets/1> <http://purl.org/dc/terms/title> 'CT' .", "text/turtle"),
        (b'{"@id": "datasets/1", "http://purl.org/dc/terms/title": "CT"}', "application/ld+json"),
    ],
)
def test_relative_iris_resolve_against_the_page_url(body, content_type):
    graph = parse_rdf(body, content_type, base=BASE)
    assert graph.value(URIRef("https://node.example/datasets/1"), DCT.title) == Literal("CT")


def test_an_unsupported_content_type_is_named():
    with pytest.raises(RdfError) as error:
        parse_rdf(b"%PDF-1.7", "application/pdf", base=BASE)
    assert str(error.value) == f"{BASE}: unsupported content type application/pdf"


@pytest.mark.parametrize(
    "body, content_type, words",
    [
        (b"@prefix dct: <http://purl.org/dc/terms/> .\n<a> dct:title ", "text/turtle", "Turtle"),
        (b'{"@id": "a", "http://purl.org/dc/terms/title": ', "application/ld+json", "JSON"),
        (b"\xff\xfe\x00\x81garbage\x00", "text/turtle", "not UTF-8"),
        (b"\xff\xfe\x00\x81garbage\x00", "application/ld+json", "not UTF-8"),
        (b"\xff\xfe\x00\x81garbage\x00", None, "Turtle"),
        (b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="x"><oops', "application/rdf+xml", "RDF/XML"),
        (b"<a> <b> <c>", "application/n-triples", "N-Triples"),
        (b"<a> <b> <c> <d> <e> .", "application/n-quads", "N-Quads"),
        (b'{"@context": 5}', "application/ld+json", "JSON-LD"),
    ],
)
def test_a_malformed_body_is_an_rdf_error_naming_the_page(body, content_type, words):
    with pytest.raises(RdfError) as error:
        parse_rdf(body, content_type, base=BASE)
    message = str(error.value)
    assert message.startswith(f"{BASE}: ")
    assert words in message


def test_an_error_names_the_line():
    body = b"@prefix dct: <http://purl.org/dc/terms/> .\n\n<a> dct:title 'x' ;\n  dct:oops .\n"
    with pytest.raises(RdfError, match=r"not valid Turtle: .*line 4"):
        parse_rdf(body, "text/turtle", base=BASE)


# -- XML entities -------------------------------------------------------------------------

RDF_OPEN = (
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
    b'xmlns:dct="http://purl.org/dc/terms/">'
)


def test_an_external_entity_is_refused_and_the_file_never_read():
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n'
        + RDF_OPEN
        + b'<rdf:Description rdf:about="a"><dct:title>&secret;</dct:title></rdf:Description>'
        b"</rdf:RDF>"
    )
    with pytest.raises(RdfError) as error:
        parse_rdf(body, "application/rdf+xml", base=BASE)
    assert "XML external entity 'secret' (file:///etc/passwd)" in str(error.value)
    assert "refused for safety" in str(error.value)
    assert "root:" not in str(error.value)


def test_an_external_dtd_is_never_fetched(network_attempts):
    with NodeServer({"/evil.dtd": Reply(b'<!ENTITY x "pwned">', content_type="text/plain")}) as n:
        body = (
            b'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF SYSTEM "'
            + n.url("/evil.dtd").encode()
            + b'">\n'
            + RDF_OPEN
            + b'<rdf:Description rdf:about="a"><dct:title>T</dct:title></rdf:Description>'
            b"</rdf:RDF>"
        )
        try:
            graph = parse_rdf(body, "application/rdf+xml", base=BASE)
        except RdfError as error:
            assert "never fetches" in str(error) or "refused" in str(error)
        else:
            assert "pwned" not in graph.serialize(format="nt")
        assert n.requests == []
    assert network_attempts == []


def test_entity_expansion_bombs_are_refused():
    lol = [b'<!ENTITY lol0 "lollollollollollollollollollol">']
    for i in range(1, 10):
        refs = f"&lol{i - 1};" * 10
        lol.append(f'<!ENTITY lol{i} "{refs}">'.encode())
    body = (
        b'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF ['
        + b"".join(lol)
        + b"]>\n"
        + RDF_OPEN
        + b'<rdf:Description rdf:about="a"><dct:title>&lol9;</dct:title></rdf:Description>'
        b"</rdf:RDF>"
    )
    with pytest.raises(RdfError, match="XML entity 'lol0'; XML entities are refused for safety"):
        parse_rdf(body, "application/rdf+xml", base=BASE)


# -- JSON-LD contexts ---------------------------------------------------------------------


def bee_population() -> dict:
    return json.loads((EXAMPLES / "example-bee-population.jsonld").read_text())


def bee_population_turtle() -> Graph:
    return Graph().parse(EXAMPLES / "example-bee-population.ttl", format="turtle")


def test_the_official_example_is_read_with_its_context_from_disk(network_attempts):
    body = json.dumps(bee_population()).encode()
    graph = parse_rdf(body, "application/ld+json", base=BASE)
    assert isomorphic(graph, bee_population_turtle())
    assert network_attempts == []


def test_the_official_example_without_graph_gives_the_same_triples(network_attempts):
    document = bee_population()
    flat = {"@context": document["@context"], **document["@graph"][0]}
    graph = parse_rdf(json.dumps(flat).encode(), "application/ld+json", base=BASE)
    assert isomorphic(graph, bee_population_turtle())
    assert network_attempts == []


def test_the_dcat_ap_301_context_is_resolved_locally(network_attempts):
    document = {
        "@context": DCAT_AP_301,
        "@id": "https://node.example/datasets/1",
        "@type": "Dataset",
        "title": "Lung CT",
        "keyword": ["lung", "screening"],
        "publisher": "https://node.example/publisher",
    }
    graph = parse_rdf(json.dumps(document).encode(), "application/ld+json", base=BASE)
    dataset = URIRef("https://node.example/datasets/1")
    assert (dataset, RDF.type, DCAT.Dataset) in graph
    assert graph.value(dataset, DCT.title) == Literal("Lung CT")
    assert set(graph.objects(dataset, DCAT.keyword)) == {Literal("lung"), Literal("screening")}
    assert graph.value(dataset, DCT.publisher) == URIRef("https://node.example/publisher")
    assert network_attempts == []


def test_a_known_context_may_be_listed_with_inline_ones_and_over_http(network_attempts):
    document = {
        "@context": [
            DCAT_AP_301.replace("https://", "http://"),
            {"agora": "https://w3id.org/agora/ns#"},
        ],
        "@graph": [{"@id": "agora:ds-1", "@type": "Dataset", "title": "CT"}],
    }
    graph = parse_rdf(json.dumps(document).encode(), "application/json", base=BASE)
    assert graph.value(URIRef("https://w3id.org/agora/ns#ds-1"), DCT.title) == Literal("CT")
    assert network_attempts == []


def test_an_imported_known_context_is_resolved_locally(network_attempts):
    document = {
        "@context": {"@version": 1.1, "@import": EXAMPLES_300, "ex": "https://ex.org/"},
        "@id": "ex:1",
        "@type": "Dataset",
        "title": {"en": "Bees"},
    }
    graph = parse_rdf(json.dumps(document).encode(), "application/ld+json", base=BASE)
    assert graph.value(URIRef("https://ex.org/1"), DCT.title) == Literal("Bees", lang="en")
    assert network_attempts == []


def test_inline_contexts_are_fine():
    document = {
        "@context": {"dct": "http://purl.org/dc/terms/", "title": "dct:title"},
        "@id": "https://node.example/datasets/1",
        "title": "CT",
    }
    graph = parse_rdf(json.dumps(document).encode(), "application/ld+json", base=BASE)
    assert graph.value(URIRef("https://node.example/datasets/1"), DCT.title) == Literal("CT")


def remote_context_documents(url: str) -> dict[str, dict]:
    node = {"@id": "https://node.example/datasets/1", "title": "CT"}
    return {
        "string": {"@context": url, **node},
        "list": {"@context": [{"x": "https://x.org/"}, url], **node},
        "nested node": {"@context": {}, "@graph": [{"@context": url, **node}]},
        "scoped": {"@context": {"Dataset": {"@id": "https://x/D", "@context": url}}, **node},
        "import": {"@context": {"@version": 1.1, "@import": url}, **node},
        "relative": {"@context": "context.jsonld", **node},
    }


@pytest.mark.parametrize("where", ["string", "list", "nested node", "scoped", "import", "relative"])
def test_an_unknown_remote_context_is_refused_without_touching_the_network(where, network_attempts):
    with NodeServer({"/context.jsonld": Reply(b'{"@context": {}}', "application/ld+json")}) as n:
        url = n.url("/context.jsonld")
        document = remote_context_documents(url)[where]
        with pytest.raises(RdfError) as error:
            parse_rdf(json.dumps(document).encode(), "application/ld+json", base=BASE)
        assert n.requests == []
    shown = "context.jsonld" if where == "relative" else url
    assert str(error.value) == (
        f"{BASE}: JSON-LD context {shown} is not one the hub knows; "
        "inline it or use the DCAT-AP context"
    )
    assert network_attempts == []


def test_named_graphs_in_json_ld_are_merged():
    document = {
        "@context": {"dct": "http://purl.org/dc/terms/"},
        "@graph": [
            {"@id": "https://node.example/g1", "@graph": [{"@id": "a", "dct:title": "A"}]},
            {"@id": "b", "dct:title": "B"},
        ],
    }
    graph = parse_rdf(json.dumps(document).encode(), "application/ld+json", base=BASE)
    titles = {str(o) for o in graph.objects(None, DCT.title)}
    assert titles == {"A", "B"}


# -- the fast Turtle path gives rdflib's graph ------------------------------------------


def _corpus() -> list[tuple[str, bytes]]:
    from harvester.tests.catalogues import page_turtle

    here = Path(__file__).parent / "data"
    files = [*here.glob("*.ttl"), *here.glob("*/*.ttl")]
    tricky = b"""@prefix ex: <http://example.org/> . @base <https://node.example/dcat/> .
<rel> ex:p "030"^^<http://www.w3.org/2001/XMLSchema#integer>, "x"@EN-gb, "y", 1.50, true,
  ( 1 2 [ ex:q "z" ] ) ; ex:r [ ex:s [ ex:t <../up> ] ] .
"""
    pages = [page_turtle(range(i, i + 7), invalid_every=3) for i in (0, 7)]
    return (
        [(f.name, f.read_bytes()) for f in files]
        + [("tricky", tricky)]
        + [(f"page {n}", p.encode()) for n, p in enumerate(pages)]
    )


@pytest.mark.parametrize("name, body", _corpus(), ids=lambda v: v if isinstance(v, str) else "")
def test_fast_turtle_path_equals_rdflib(name, body):
    from rdflib.compare import isomorphic

    from harvester import rdf

    base = "https://node.example/dcat/page"
    fast = rdf._parse_with_oxigraph(body, "turtle", base)
    assert fast is not None
    slow = _lower_language_tags(Graph().parse(data=body, format="turtle", publicID=base))
    assert len(fast) == len(slow) and isomorphic(fast, slow)
    as_nt = slow.serialize(format="nt").encode()
    assert isomorphic(rdf._parse_with_oxigraph(as_nt, "nt", base), slow)


def _lower_language_tags(graph: Graph) -> Graph:
    """The one difference: oxigraph writes language tags in lower case (BCP 47 tags are
    case-insensitive), rdflib keeps the document's case."""
    out = Graph()
    for s, p, o in graph:
        if isinstance(o, Literal) and o.language:
            o = Literal(str(o), lang=o.language.lower())
        out.add((s, p, o))
    return out


def test_fast_path_errors_are_rdflibs_words():
    with pytest.raises(RdfError, match="not valid Turtle"):
        parse_rdf(b"@prefix ex: <http://e/> . ex:a ex:b ", "text/turtle", base="https://n/")
