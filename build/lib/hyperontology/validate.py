"""Validate DCAT records against DCAT-AP 3.0.1 and the hub's imaging profile, per dataset.

    report = validate(graph)
    for verdict in report.rejected:
        for finding in verdict.violations:
            print(finding.message)   # "dataset ds-17: dcat:contactPoint is required and missing"

One SHACL run per graph (the shapes are parsed and compiled once and cached): by the hub's own
engine (fastshacl: the same results as pyshacl, many times faster) when it supports the shapes,
else by pyshacl; `engine="pyshacl"` forces pyshacl. Each SHACL result is
attached to the dataset it concerns: a result on a dataset belongs to that dataset; a result on
another node (a distribution, a contact point, a publisher...) belongs to every dataset that
links to it, directly or through other nodes. Results that reach no dataset (the catalogue
itself, a catalogue record, an orphan node) never reject a dataset: they are collected in
`ValidationReport.catalogue_findings`, named after the catalogue when there is one.
"""

from __future__ import annotations

import hashlib
import re
from collections import deque
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal as TypingLiteral

from pyshacl import validate as shacl_validate
from rdflib import RDF, BNode, ConjunctiveGraph, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, SH, NamespaceManager
from rdflib.term import Node

from .fastshacl import CompiledShapes, Result, UnsupportedShapes, compile_shapes, results_from_graph
from .terms import ACCESS_RIGHT, AGORA, DCATAP, DCM, HEALTH, ICD10, OBO

SHAPES_DIR = Path(__file__).parent / "shapes"
CORE_SHAPES = SHAPES_DIR / "shapes.ttl"  # DCAT-AP 3.0.1, mandatory constraints
FULL_SHAPES = SHAPES_DIR / "dcat-ap-SHACL.ttl"  # DCAT-AP 3.0.1, with range checks
HUB_PROFILE = SHAPES_DIR / "hub-profile.ttl"

# How far to follow incoming links from a node to the dataset that describes it
# (dataset -> distribution -> checksum is 2).
MAX_HOPS = 6

Severity = TypingLiteral["violation", "warning"]
Engine = TypingLiteral["auto", "fast", "pyshacl"]


@dataclass(frozen=True)
class Finding:
    dataset: str  # IRI of the dataset (or of the catalogue, for catalogue findings)
    path: str  # the property, as a prefixed name ("dcat:contactPoint"); "" if none
    message: str  # plain words, naming the dataset: "dataset ds-17: ..."
    severity: Severity


@dataclass
class DatasetVerdict:
    iri: str
    identifier: str  # dct:identifier, else the last segment of the IRI
    accepted: bool
    violations: list[Finding] = field(default_factory=list)
    warnings: list[Finding] = field(default_factory=list)


@dataclass
class ValidationReport:
    verdicts: list[DatasetVerdict]
    # Results that concern no dataset (the catalogue, a catalogue record...): reported, but
    # they reject nothing.
    catalogue_findings: list[Finding] = field(default_factory=list)

    @property
    def accepted(self) -> list[DatasetVerdict]:
        return [v for v in self.verdicts if v.accepted]

    @property
    def rejected(self) -> list[DatasetVerdict]:
        return [v for v in self.verdicts if not v.accepted]

    @property
    def by_iri(self) -> dict[str, DatasetVerdict]:
        return {v.iri: v for v in self.verdicts}


def validate(graph: Graph, *, full: bool = False, engine: Engine = "auto") -> ValidationReport:
    """Check every dcat:Dataset of `graph`; a dataset is accepted if it has no violation.

    `full=True` checks against the complete DCAT-AP 3.0.1 shapes (with class range checks)
    instead of the mandatory ones only. `engine`: "auto" uses the fast engine when it supports
    the shapes (it does for full=False) and `graph` is a plain Graph, pyshacl otherwise; "fast"
    insists on the fast engine (UnsupportedShapes if it cannot); "pyshacl" always runs pyshacl.
    Both give the same report.
    """
    shapes = _shapes(full)
    results = _results(graph, full, engine)
    names = _namespaces()
    datasets = _datasets(graph)
    verdicts = {
        iri: DatasetVerdict(iri=_key(iri), identifier=_identifier(graph, iri), accepted=True)
        for iri in datasets
    }
    catalogue = next(graph.subjects(RDF.type, DCAT.Catalog), None)
    catalogue_findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()

    owners_of = _Owners(graph, datasets)

    for result in results:
        focus = result.focus_node
        owners = owners_of(focus)
        severity: Severity = "violation" if result.result_severity == SH.Violation else "warning"
        path = _path_name(result.result_path, names)
        catalogue_level = not owners
        named = (catalogue if catalogue is not None else focus) if catalogue_level else None
        what = _describe(shapes, result, graph, focus, owners or [named], names)
        if owners:
            for owner in owners:
                verdict = verdicts[owner]
                message = f"dataset {verdict.identifier}: {what}"
                if (verdict.iri, message, severity) in seen:
                    continue
                seen.add((verdict.iri, message, severity))
                finding = Finding(verdict.iri, path, message, severity)
                if severity == "violation":
                    verdict.violations.append(finding)
                    verdict.accepted = False
                else:
                    verdict.warnings.append(finding)
        else:
            where = named
            label = "catalogue" if catalogue is not None else "record"
            message = f"{label} {_identifier(graph, where)}: {what}"
            if (_key(where), message, severity) in seen:
                continue
            seen.add((_key(where), message, severity))
            catalogue_findings.append(Finding(_key(where), path, message, severity))

    for verdict in verdicts.values():
        verdict.violations.sort(key=lambda f: f.message)
        verdict.warnings.sort(key=lambda f: f.message)
    return ValidationReport(
        verdicts=sorted(verdicts.values(), key=lambda v: v.iri),
        catalogue_findings=sorted(catalogue_findings, key=lambda f: f.message),
    )


def _results(graph: Graph, full: bool, engine: Engine) -> list[Result]:
    if engine == "fast" or (engine == "auto" and not isinstance(graph, ConjunctiveGraph)):
        compiled = _compiled(full)
        if compiled is not None:
            return compiled.validate(graph)
        if engine == "fast":
            compile_shapes(_shapes(full))  # raises UnsupportedShapes, saying what
    _conforms, results, _text = shacl_validate(
        graph,
        shacl_graph=_shapes(full),
        inference="none",
        advanced=False,
        abort_on_first=False,
        allow_warnings=True,
    )
    return results_from_graph(results)


@cache
def _compiled(full: bool) -> CompiledShapes | None:
    """The shapes compiled for the fast engine; None if it does not support them."""
    try:
        return compile_shapes(_shapes(full))
    except UnsupportedShapes:
        return None


@cache
def model_digest() -> str:
    """SHA3-256 of the model's files (vocabulary, shapes, mappings): a verdict given under
    one digest may change under another, so a harvester re-checks records when it does."""
    root = SHAPES_DIR.parent
    files = sorted(
        [root / "model.ttl", *SHAPES_DIR.glob("*.ttl"), *(root / "mappings").glob("*.csv")]
    )
    digest = hashlib.sha3_256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def _shapes(full: bool) -> Graph:
    shapes = Graph()
    shapes.parse(FULL_SHAPES if full else CORE_SHAPES, format="turtle")
    shapes.parse(HUB_PROFILE, format="turtle")
    return shapes


@cache
def _namespaces() -> NamespaceManager:
    names = NamespaceManager(Graph(), bind_namespaces="none")
    for prefix, namespace in {
        "dcat": DCAT,
        "dct": DCTERMS,
        "foaf": "http://xmlns.com/foaf/0.1/",
        "vcard": "http://www.w3.org/2006/vcard/ns#",
        "adms": "http://www.w3.org/ns/adms#",
        "prov": "http://www.w3.org/ns/prov#",
        "skos": "http://www.w3.org/2004/02/skos/core#",
        "spdx": "http://spdx.org/rdf/terms#",
        "odrl": "http://www.w3.org/ns/odrl/2/",
        "locn": "http://www.w3.org/ns/locn#",
        "rdf": RDF,
        "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
        "xsd": "http://www.w3.org/2001/XMLSchema#",
        "dcatap": DCATAP,
        "healthdcatap": HEALTH,
        "agora": AGORA,
        "DCM": DCM,
        "ICD10": ICD10,
        "obo": OBO,
        "access-right": ACCESS_RIGHT,
    }.items():
        names.bind(prefix, URIRef(str(namespace)), override=True, replace=True)
    return names


def _datasets(graph: Graph) -> set[Node]:
    return set(graph.subjects(RDF.type, DCAT.Dataset))


class _Owners:
    """The datasets a result on a node concerns: itself, or those linking to it (directly or
    through other nodes, up to MAX_HOPS, not through a catalogue). Remembered per node: many
    results are on the same node (a shared publisher, a dataset with several findings)."""

    def __init__(self, graph: Graph, datasets: set[Node]) -> None:
        self.graph = graph
        self.datasets = datasets
        self.known: dict[Node, list[Node]] = {}
        self.catalogues = set(graph.subjects(RDF.type, DCAT.Catalog))

    def __call__(self, node: Node | None) -> list[Node]:
        if node is None:
            return []
        if node in self.datasets:
            return [node]
        owners = self.known.get(node)
        if owners is None:
            owners = self.known[node] = self._search(node)
        return owners

    def _search(self, node: Node) -> list[Node]:
        graph, datasets = self.graph, self.datasets
        owners: set[Node] = set()
        visited = {node}
        queue = deque([(node, 0)])
        while queue:
            current, hops = queue.popleft()
            if hops >= MAX_HOPS:
                continue
            for subject in graph.subjects(None, current):
                if subject in visited:
                    continue
                visited.add(subject)
                if subject in datasets:
                    owners.add(subject)
                elif subject not in self.catalogues:
                    queue.append((subject, hops + 1))
        return sorted(owners, key=str)


def _key(node: Node) -> str:
    return f"_:{node}" if isinstance(node, BNode) else str(node)


def _identifier(graph: Graph, node: Node) -> str:
    identifier = graph.value(node, DCTERMS.identifier)
    if isinstance(identifier, Literal) and str(identifier).strip():
        return str(identifier).strip()
    if isinstance(node, BNode):
        return f"_:{node}"
    return re.split(r"[/#]", str(node).rstrip("/#"))[-1] or str(node)


def _name(node: Node | None, names: NamespaceManager) -> str:
    """A term as a provider would write it: a prefixed name, <iri>, or "text"."""
    if node is None:
        return ""
    if isinstance(node, URIRef):
        try:
            prefix, namespace, local = names.compute_qname(str(node), generate=False)
        except (KeyError, ValueError):
            return f"<{node}>"
        return f"{prefix}:{local}" if local else f"<{node}>"
    if isinstance(node, Literal):
        return f'"{node}"'
    return "a blank node"


def _plain(node: Node | None, names: NamespaceManager) -> str:
    """Like _name, but a number or date unquoted: "the minimum typical age (90)"."""
    if isinstance(node, Literal) and isinstance(node.toPython(), (int, float)):
        return str(node)
    return _name(node, names)


def _path_name(path: Node | None, names: NamespaceManager) -> str:
    if path is None:
        return ""
    if isinstance(path, URIRef):
        return _name(path, names)
    return "a property path"


def _describe(
    shapes: Graph,
    result: Result,
    graph: Graph,
    focus: Node | None,
    owners: list[Node],
    names: NamespaceManager,
) -> str:
    """The reason, in words, without the "dataset X:" prefix; `owners` are the nodes the
    finding is reported under (a node other than them is named in the sentence)."""
    path = _path_name(result.result_path, names)
    value = result.value
    component = result.source_constraint_component
    shape = result.source_shape
    # Results name the shapes graph's nodes in sh:sourceShape / sh:sourceConstraint (a SPARQL
    # constraint carries its own message): look them up there.
    own_message = None
    for source in (result.source_constraint, shape):
        if source is not None and own_message is None:
            own_message = shapes.value(source, SH.message)

    # The subject of the sentence: the property, and the node it is on when that is not the
    # dataset itself ("foaf:name of the foaf:Agent <https://...>").
    subject = path or "it"
    if focus is not None and focus not in owners:
        subject = f"{subject} of {_node_phrase(graph, focus, names)}"

    if own_message is not None:
        # The hub profile's own words; pyshacl substitutes nothing in core constraints' messages.
        message = str(result.message(graph) or own_message)
        message = message.replace("{$value}", _plain(value, names))
        other = shapes.value(shape, SH.lessThanOrEquals) or shapes.value(shape, SH.lessThan)
        if other is not None and focus is not None:
            others = ", ".join(sorted(_plain(o, names) for o in graph.objects(focus, other)))
            message = message.replace("{?other}", others)
        if focus is not None and focus not in owners and path and message.startswith(path):
            message = subject + message[len(path) :]
        return message

    local = str(component).rsplit("#", 1)[-1] if component is not None else ""
    if local == "MinCountConstraintComponent":
        return f"{subject} is required and missing"
    if local == "MaxCountConstraintComponent":
        limit = shapes.value(shape, SH.maxCount)
        if limit is not None:
            return f"{subject} has too many values (at most {limit} allowed)"
        return f"{subject} has too many values"
    if local == "NodeKindConstraintComponent":
        if isinstance(value, Literal):
            return f"{subject} must be a link (an IRI), not the text {_name(value, names)}"
        return f"{subject} must be a text, number or date, not the link {_name(value, names)}"
    if local == "DatatypeConstraintComponent":
        datatype = shapes.value(shape, SH.datatype)
        expected = f" of type {_name(datatype, names)}" if datatype is not None else ""
        return f"{subject} must be a value{expected}, not {_name(value, names)}"
    if local == "ClassConstraintComponent":
        cls = shapes.value(shape, SH["class"])
        expected = f"a {_name(cls, names)}" if cls is not None else "of another class"
        return f"{subject} must be {expected} ({_name(value, names)} is not declared as one)"
    if local == "InConstraintComponent":
        return f"{subject} has a value that is not allowed: {_name(value, names)}"
    if local in {"NodeConstraintComponent", "ShapeConstraintComponent"}:
        return f"{subject} has a value that is not valid: {_name(value, names)}"
    generic = result.message(graph)
    detail = f": {generic}" if generic is not None else ""
    return f"{subject} is not valid{detail}"


def _node_phrase(graph: Graph, node: Node, names: NamespaceManager) -> str:
    kind = graph.value(node, RDF.type)
    kind_name = _name(kind, names) if kind is not None else "node"
    if isinstance(node, BNode):
        return f"a {kind_name}"
    return f"the {kind_name} {_name(node, names)}"
