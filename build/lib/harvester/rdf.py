"""Parse a catalogue page in any RDF serialisation into one rdflib Graph, safely.

Nodes are outside the hub's control, so parsing never reaches the network or the file
system: RDF/XML may not declare XML entities (no XXE, no "billion laughs") and JSON-LD
contexts resolve only to the local copies in `contexts/`. Every failure is an `RdfError`
whose message names the URL and the problem in plain words.

    graph = parse_rdf(body, "text/turtle; charset=utf-8", base="https://node/dcat?page=2")
"""

from __future__ import annotations

import json
import re
import warnings
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urldefrag, urljoin
from xml.sax import SAXException, SAXParseException, handler
from xml.sax.expatreader import ExpatParser

import pyoxigraph as ox
from rdflib import BNode, Dataset, Graph, Literal, URIRef
from rdflib.parser import create_input_source
from rdflib.plugins.parsers.rdfxml import ErrorHandler, RDFXMLHandler

__all__ = ["KNOWN_CONTEXTS", "RdfError", "hydra_triples", "parse_rdf"]

CONTEXTS_DIR = Path(__file__).resolve().parent / "contexts"

# Context URL (without scheme) -> local file. The examples context is a different document
# from the 3.0.1 context (it defines the example-* prefixes and language maps).
KNOWN_CONTEXTS = {
    "semiceu.github.io/DCAT-AP/releases/3.0.1/context/dcat-ap.jsonld": "dcat-ap-3.0.1.jsonld",
    "raw.githubusercontent.com/SEMICeu/DCAT-AP/master/releases/3.0.1/context/dcat-ap.jsonld": (
        "dcat-ap-3.0.1.jsonld"
    ),
    "github.com/SEMICeu/DCAT-AP/raw/master/releases/3.0.1/context/dcat-ap.jsonld": (
        "dcat-ap-3.0.1.jsonld"
    ),
    "github.com/SEMICeu/DCAT-AP/raw/refs/heads/master/releases/3.0.1/context/dcat-ap.jsonld": (
        "dcat-ap-3.0.1.jsonld"
    ),
    "semiceu.github.io/uri.semic.eu-generated/DCAT-AP/releases/3.0.0/html/examples/context.jsonld": (
        "dcat-ap-3.0.0-examples.jsonld"
    ),
    "semiceu.github.io/DCAT-AP/releases/3.0.0/html/examples/context.jsonld": (
        "dcat-ap-3.0.0-examples.jsonld"
    ),
}

# Media type -> (rdflib format, whether the format carries named graphs).
FORMATS = {
    "text/turtle": ("turtle", False),
    "application/x-turtle": ("turtle", False),
    "application/turtle": ("turtle", False),
    "application/rdf+xml": ("xml", False),
    "application/xml": ("xml", False),
    "text/xml": ("xml", False),
    "application/ld+json": ("json-ld", True),
    "application/json": ("json-ld", True),
    "application/n-triples": ("nt", False),
    "text/n3": ("n3", False),
    "text/rdf+n3": ("n3", False),
    "application/trig": ("trig", True),
    "application/n-quads": ("nquads", True),
}
GENERIC_TYPES = {"", "text/plain", "application/octet-stream", "binary/octet-stream"}
FORMAT_NAMES = {
    "turtle": "Turtle",
    "xml": "RDF/XML",
    "json-ld": "JSON-LD",
    "nt": "N-Triples",
    "n3": "N3",
    "trig": "TriG",
    "nquads": "N-Quads",
}
_XML_START = re.compile(rb"<(\?xml|!DOCTYPE|!--|[A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*[\s>/])")
_MAX_DETAIL = 300


class RdfError(ValueError):
    """A page the hub cannot read as RDF; the message is shown to the node's operators."""


def parse_rdf(body: bytes, content_type: str | None, *, base: str) -> Graph:
    """Parse `body` by its Content-Type (sniffed when missing or generic) into one Graph.

    Named graphs (TriG, N-Quads, JSON-LD) are merged: a catalogue page is one document.
    """
    fmt, quads = _format_of(body, content_type, base)
    name = FORMAT_NAMES[fmt]
    if fmt in _OXIGRAPH_FORMATS:
        graph = _parse_with_oxigraph(body, fmt, base)
        if graph is not None:
            return graph
    try:
        if fmt == "xml":
            return _parse_rdfxml(body, base)
        if fmt == "json-ld":
            data: bytes | str = json.dumps(_local_contexts(_load_json(body, base), base))
        else:
            data = body
        with warnings.catch_warnings():
            # rdflib 7 warns about its own internal use of deprecated Dataset names.
            warnings.simplefilter("ignore", DeprecationWarning)
            if not quads:
                return Graph().parse(data=data, format=fmt, publicID=base)
            dataset = Dataset()
            dataset.parse(data=data, format=fmt, publicID=base)
            return _merge(dataset)
    except RdfError:
        raise
    except UnicodeDecodeError as exc:
        raise RdfError(f"{base}: not valid {name}: not UTF-8 text ({exc.reason})") from exc
    except Exception as exc:  # rdflib's parsers raise many types; the caller needs one
        raise RdfError(f"{base}: not valid {name}: {_detail(exc)}") from exc


# Turtle and N-Triples are read by oxigraph (Rust; a third of rdflib's time) into the same
# rdflib terms; test_rdf.py checks both parsers give the same graph. On any error rdflib
# parses again, so the message a node sees does not depend on which parser ran.
_OXIGRAPH_FORMATS = {"turtle": ox.RdfFormat.TURTLE, "nt": ox.RdfFormat.N_TRIPLES}
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"


HYDRA_NS = "http://www.w3.org/ns/hydra/core#"
_RDF_TYPE = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type"


def hydra_triples(body: bytes, content_type: str | None, *, base: str) -> tuple[Graph, bool]:
    """The page's Hydra paging triples, and whether the graph returned is the whole page.

    Turtle and N-Triples are scanned by oxigraph for Hydra terms only (the whole document is
    still read, so a syntax error anywhere is found); other serialisations are parsed whole.
    Raises RdfError as parse_rdf does.
    """
    fmt = _format_of(body, content_type, base)[0]
    if fmt not in _OXIGRAPH_FORMATS:
        return parse_rdf(body, content_type, base=base), True
    links = Graph()
    try:
        for quad in ox.parse(body, format=_OXIGRAPH_FORMATS[fmt], base_iri=base):
            predicate = quad.predicate.value
            if predicate.startswith(HYDRA_NS) or (
                predicate == _RDF_TYPE
                and isinstance(quad.object, ox.NamedNode)
                and quad.object.value.startswith(HYDRA_NS)
            ):
                links.add(_rdflib_triple(quad))
    except (SyntaxError, ValueError, OSError):
        return parse_rdf(body, content_type, base=base), True  # rdflib's words for the error
    return links, False


def _rdflib_triple(quad) -> tuple:
    return tuple(_plain_term(t) for t in (quad.subject, quad.predicate, quad.object))


def _plain_term(t):
    if isinstance(t, ox.NamedNode):
        return URIRef(t.value)
    if isinstance(t, ox.BlankNode):
        return BNode(t.value)
    if t.language:
        return Literal(t.value, lang=t.language)
    datatype = t.datatype.value
    return Literal(t.value) if datatype == _XSD_STRING else Literal(t.value, datatype=datatype)


def _parse_with_oxigraph(body: bytes, fmt: str, base: str) -> Graph | None:
    graph = Graph()
    blank: dict[str, BNode] = {}
    iris: dict[str, URIRef] = {}

    def term(t):
        if isinstance(t, ox.NamedNode):
            iri = iris.get(t.value)
            if iri is None:
                iri = iris[t.value] = URIRef(t.value)
            return iri
        if isinstance(t, ox.BlankNode):
            node = blank.get(t.value)
            if node is None:
                node = blank[t.value] = BNode()
            return node
        if t.language:
            return Literal(t.value, lang=t.language)
        datatype = t.datatype.value
        return (
            Literal(t.value)
            if datatype == _XSD_STRING
            else Literal(t.value, datatype=term(t.datatype))
        )

    add = graph.add
    try:
        for quad in ox.parse(body, format=_OXIGRAPH_FORMATS[fmt], base_iri=base):
            add((term(quad.subject), term(quad.predicate), term(quad.object)))
    except (SyntaxError, ValueError, OSError):
        return None
    for prefix, namespace in _prefixes(body):
        graph.bind(prefix, namespace, override=False)
    return graph


_PREFIX = re.compile(rb"@prefix\s+([A-Za-z][\w.-]*)?:\s*<([^>]*)>", re.IGNORECASE)


def _prefixes(body: bytes) -> list[tuple[str, str]]:
    """The document's own prefixes: reports name terms the way the node wrote them."""
    return [(p.decode(), n.decode()) for p, n in _PREFIX.findall(body[:20_000]) if p]


def _format_of(body: bytes, content_type: str | None, base: str) -> tuple[str, bool]:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in GENERIC_TYPES:
        return _sniff(body)
    if media_type in FORMATS:
        return FORMATS[media_type]
    raise RdfError(f"{base}: unsupported content type {media_type}")


def _sniff(body: bytes) -> tuple[str, bool]:
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    if _XML_START.match(head):
        return "xml", False
    if head[:1] in (b"{", b"["):
        return "json-ld", True
    return "turtle", False


def _detail(exc: BaseException) -> str:
    if isinstance(exc, SAXParseException):
        where = f"line {exc.getLineNumber()}, column {exc.getColumnNumber()}"
        exc = Exception(f"{where}: {exc.getMessage()}")
    text = " ".join(str(exc).split()) or type(exc).__name__
    # Parsers quote the input around the error; the position is enough, and a page's
    # bytes are never echoed back (they could come from somewhere the node should not see).
    text = _QUOTED_INPUT.split(text, 1)[0].rstrip(" :")
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 3] + "..."


_QUOTED_INPUT = re.compile(r"\s+at \^ in:|\s+in: ?[\"']")


def _merge(dataset: Dataset) -> Graph:
    graph = Graph()
    for prefix, namespace in dataset.namespaces():
        graph.bind(prefix, namespace, override=False)
    for s, p, o, _ in dataset.quads((None, None, None, None)):
        graph.add((s, p, o))
    return graph


# -- RDF/XML ------------------------------------------------------------------------------


class _EntityRefused(SAXException):
    pass


class _SafeExpatParser(ExpatParser):
    """xml.sax's expat reader that refuses entity declarations and external references.

    Refusing every <!ENTITY> stops both external entities (XXE: local files, internal
    URLs) and internal expansion bombs; DCAT RDF/XML never needs them.
    """

    def reset(self) -> None:
        super().reset()
        self._parser.EntityDeclHandler = self._refuse_entity
        self._parser.UnparsedEntityDeclHandler = self._refuse_unparsed
        self._parser.ExternalEntityRefHandler = self._refuse_external

    def _refuse_entity(self, name, is_parameter, value, base, system_id, public_id, notation):
        kind = f"external entity {name!r} ({system_id})" if system_id else f"entity {name!r}"
        raise _EntityRefused(
            f"the document declares the XML {kind}; XML entities are refused for safety "
            "(write the values out in full)"
        )

    def _refuse_unparsed(self, name, base, system_id, public_id, notation):
        raise _EntityRefused(
            f"the document declares the external XML entity {name!r} ({system_id}); "
            "XML entities are refused for safety"
        )

    def _refuse_external(self, context, base, system_id, public_id):
        raise _EntityRefused(
            f"the document refers to an external DTD or entity ({system_id}); "
            "the hub never fetches them"
        )


def _parse_rdfxml(body: bytes, base: str) -> Graph:
    graph = Graph()
    source = create_input_source(data=body, publicID=base)
    parser = _SafeExpatParser()
    parser.setFeature(handler.feature_namespaces, 1)
    parser.setFeature(handler.feature_external_ges, 0)
    parser.setFeature(handler.feature_external_pes, 0)
    content = RDFXMLHandler(graph)
    content.setDocumentLocator(source)  # rdflib reads the base IRI from it
    parser.setContentHandler(content)
    parser.setErrorHandler(ErrorHandler())
    try:
        parser.parse(source)
    except _EntityRefused as exc:
        raise RdfError(f"{base}: RDF/XML refused: {exc.getMessage()}") from exc
    except Exception as exc:
        raise RdfError(f"{base}: not valid RDF/XML: {_detail(exc)}") from exc
    return graph


# -- JSON-LD ------------------------------------------------------------------------------


def _load_json(body: bytes, base: str) -> Any:
    try:
        return json.loads(body.decode("utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise RdfError(f"{base}: not valid JSON-LD: not valid JSON: {exc}") from exc


@cache
def _context_file(filename: str) -> Any:
    document = json.loads((CONTEXTS_DIR / filename).read_text(encoding="utf-8"))
    return document["@context"]


def _known_context(url: str, base: str) -> Any:
    absolute = urldefrag(urljoin(base, url.strip()))[0]
    key = re.sub(r"^https?://", "", absolute)
    filename = KNOWN_CONTEXTS.get(key)
    if filename is None or not absolute.startswith(("http://", "https://")):
        raise RdfError(
            f"{base}: JSON-LD context {url} is not one the hub knows; "
            "inline it or use the DCAT-AP context"
        )
    # A fresh copy: rdflib must never share (or alter) the cached object.
    return json.loads(json.dumps(_context_file(filename)))


def _local_contexts(node: Any, base: str) -> Any:
    """Replace every remote context reference by its local copy, or refuse it.

    Contexts can appear at the top, in any node object, as scoped contexts inside term
    definitions and through @import; all are "@context" or "@import" keys of some object.
    """
    if isinstance(node, list):
        return [_local_contexts(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    result = {}
    for key, value in node.items():
        if key == "@context":
            result[key] = _context_value(value, base)
        else:
            result[key] = _local_contexts(value, base)
    return result


def _context_value(value: Any, base: str) -> Any:
    if isinstance(value, str):
        return _known_context(value, base)
    if isinstance(value, list):
        merged: list[Any] = []
        for item in value:
            resolved = _context_value(item, base)
            merged.extend(resolved if isinstance(resolved, list) else [resolved])
        return merged
    if isinstance(value, dict):
        definitions = _local_contexts(value, base)
        imported = definitions.pop("@import", None)
        if imported is None:
            return definitions
        if not isinstance(imported, str):
            raise RdfError(f"{base}: JSON-LD @import must be a context URL")
        # @import: the imported definitions, overridden by the importing context's own.
        known = _known_context(imported, base)
        if not isinstance(known, dict):
            raise RdfError(f"{base}: JSON-LD context {imported} cannot be imported")
        return known | definitions
    return value
