"""Bring harvested DCAT records to the hub's common model, without changing their meaning.

    graph = normalise(graph)                      # a new graph; the input is left as it was
    digest = normalised_hash(graph, dataset_iri)  # the harvester skips unchanged records

For each dcat:Dataset:
- agora:imagingModality / agora:bodyPart / agora:sex given as local labels (literals, or IRIs
  whose last segment is a label) become DCM: IRIs, DICOM body-part codes and the hub's sex
  values; values that no mapping knows are left as they are (validation reports them);
- a dataset without modality (or body part) gets those named in its dcat:keyword, dct:title
  and dct:description: records from generic portals carry them only there;
- ICD-10 codes in other forms ("C78.7", "urn:miriam:icd:C78.7", "ICD10:C78.7", WHO IRIs)
  become ICD10: IRIs under dct:subject;
- access rights given as literals ("restricted", "PUBLIC") become EU access-right IRIs;
- counts and ages given as plain literals become xsd:nonNegativeInteger.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator

from rdflib import RDF, XSD, BNode, Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS
from rdflib.term import Node

from .mappings import Mappings, fold
from .terms import ACCESS_RIGHT, AGORA, BODY_PART, DCM, HEALTH, ICD10, IMAGING_MODALITY, SEX

COUNT_PROPERTIES = (
    HEALTH.numberOfUniqueIndividuals,
    HEALTH.numberOfRecords,
    HEALTH.minTypicalAge,
    HEALTH.maxTypicalAge,
)

_ICD10_CODE = r"([A-Z][0-9]{2}(?:\.[0-9A-Z]{1,4})?)"
_ICD10_FORMS = [
    re.compile(rf"^{_ICD10_CODE}$"),
    re.compile(rf"^urn:miriam:icd:{_ICD10_CODE}$", re.IGNORECASE),
    re.compile(rf"^ICD-?10(?:-CM)?:\s*{_ICD10_CODE}$", re.IGNORECASE),
    re.compile(rf"^https?://id\.who\.int/icd/release/10/(?:[0-9]{{4}}/)?{_ICD10_CODE}$"),
    re.compile(rf"^https?://purl\.bioontology\.org/ontology/ICD10(?:CM)?/{_ICD10_CODE}$"),
    re.compile(rf"^https?://icd\.who\.int/browse10/[0-9]{{4}}/en#/?{_ICD10_CODE}$"),
]

ACCESS_RIGHTS = {
    "public": ACCESS_RIGHT.PUBLIC,
    "open": ACCESS_RIGHT.PUBLIC,
    "open access": ACCESS_RIGHT.PUBLIC,
    "restricted": ACCESS_RIGHT.RESTRICTED,
    "controlled": ACCESS_RIGHT.RESTRICTED,
    "controlled access": ACCESS_RIGHT.RESTRICTED,
    "on request": ACCESS_RIGHT.RESTRICTED,
    "non public": ACCESS_RIGHT.NON_PUBLIC,
    "nonpublic": ACCESS_RIGHT.NON_PUBLIC,
    "not public": ACCESS_RIGHT.NON_PUBLIC,
    "private": ACCESS_RIGHT.NON_PUBLIC,
    "closed": ACCESS_RIGHT.NON_PUBLIC,
}


def normalise(graph: Graph, mappings: Mappings | None = None, *, copy: bool = True) -> Graph:
    """A normalised copy of `graph` (see the module docstring); `graph` is not changed.

    `copy=False` normalises `graph` itself and returns it (a harvester's page graph, which
    nobody else holds: copying it would cost as much as parsing it).
    """
    mappings = mappings or Mappings.default()
    if copy:
        out = Graph()
        for prefix, namespace in graph.namespaces():
            out.bind(prefix, namespace, override=True, replace=True)
        for triple in graph:
            out.add(triple)
    else:
        out = graph
    out.bind("agora", AGORA)
    out.bind("dcm", DCM)
    out.bind("icd10", ICD10)
    out.bind("healthdcatap", HEALTH)
    for dataset in sorted(set(out.subjects(RDF.type, DCAT.Dataset)), key=_sort_key):
        _normalise_dataset(out, dataset, mappings)
    return out


def normalised_hash(graph: Graph, dataset_iri: Node | str) -> str:
    """The description_hash of the dataset's triples and of the blank nodes it reaches."""
    dataset = URIRef(dataset_iri) if isinstance(dataset_iri, str) else dataset_iri
    return description_hash(_description(graph, dataset))


def description_hash(description: Iterable[tuple[Node, Node, Node]]) -> str:
    """SHA3-256 over a description's sorted N-Triples, blank nodes named by what reaches them.

    Equal for the same description whatever the serialisation or blank-node labels, and
    much cheaper than full RDF canonicalisation: the harvester hashes every record it sees.
    """
    return hashlib.sha3_256("\n".join(description_lines(description)).encode()).hexdigest()


def description_lines(description: Iterable[tuple[Node, Node, Node]]) -> list[str]:
    """The description's triples as sorted N-Triples statements (without the final " ."),
    blank nodes named by the paths that reach them: its canonical text."""
    triples = list(dict.fromkeys(description))
    names = _blank_node_names(triples)
    return sorted(" ".join(names.get(term) or term.n3() for term in triple) for triple in triples)


def icd10_iri(value: Node | str) -> URIRef | None:
    """The ICD10: IRI of an ICD-10 code written in any of the known forms, else None."""
    text = str(value).strip()
    for form in _ICD10_FORMS:
        match = form.match(text)
        if match:
            return ICD10[match.group(1).upper()]
    return None


def access_right_iri(value: Node | str) -> URIRef | None:
    """The EU access-right IRI of a label ("restricted", "PUBLIC", "non-public"), else None."""
    text = str(value).strip()
    if text.startswith(str(ACCESS_RIGHT)):
        return URIRef(text)
    return ACCESS_RIGHTS.get(fold(text).replace("_", " "))


def modality_iri(code: str) -> URIRef:
    return DCM[code]


# -- internals ----------------------------------------------------------------------------


def _normalise_dataset(g: Graph, dataset: Node, mappings: Mappings) -> None:
    modality_codes = mappings.codes("modality")
    body_part_codes = mappings.codes("body_part")

    had_modality = _replace_values(
        g, dataset, IMAGING_MODALITY, lambda v: _modalities(v, mappings, modality_codes)
    )
    had_body_part = _replace_values(
        g, dataset, BODY_PART, lambda v: _body_parts(v, mappings, body_part_codes)
    )
    _replace_values(g, dataset, SEX, lambda v: _sex(v, mappings))

    if not had_modality or not had_body_part:
        found_modalities, found_body_parts = _find_in_dataset_text(g, dataset, mappings)
        if not had_modality:
            for code in sorted(found_modalities):
                g.add((dataset, IMAGING_MODALITY, DCM[code]))
        if not had_body_part:
            for code in sorted(found_body_parts):
                g.add((dataset, BODY_PART, Literal(code)))

    _replace_values(g, dataset, DCTERMS.subject, lambda v: _as_list(icd10_iri(v)))
    _replace_values(
        g,
        dataset,
        DCTERMS.accessRights,
        lambda v: _as_list(access_right_iri(v) if isinstance(v, Literal) else None),
    )
    for prop in COUNT_PROPERTIES:
        _replace_values(g, dataset, prop, lambda v: _as_list(_non_negative_integer(v)))


def _replace_values(g: Graph, subject: Node, prop: URIRef, convert) -> bool:
    """Replace each value of `prop` by what `convert` gives (nothing: keep it). Any values?"""
    values = sorted(g.objects(subject, prop), key=_sort_key)
    for value in values:
        replacements = convert(value)
        if replacements:
            g.remove((subject, prop, value))
            for replacement in replacements:
                g.add((subject, prop, replacement))
    return bool(values)


def _label_of(value: Node) -> str:
    """A literal's text, or an IRI's last segment (after #, / or :)."""
    if isinstance(value, Literal):
        return str(value)
    return re.split(r"[#/:]", str(value).rstrip("/#"))[-1]


def _modalities(value: Node, mappings: Mappings, known: frozenset[str]) -> list[Node]:
    if isinstance(value, URIRef) and str(value).startswith(str(DCM)):
        code = str(value)[len(str(DCM)) :]
        if code in known:
            return []
    codes = mappings.modalities(_label_of(value))
    return [DCM[c] for c in sorted(codes)]


def _body_parts(value: Node, mappings: Mappings, known: frozenset[str]) -> list[Node]:
    if isinstance(value, Literal) and str(value) in known and value.language is None:
        if value.datatype in (None, XSD.string):
            return []
    codes = mappings.body_parts(_label_of(value))
    return [Literal(c) for c in sorted(codes)]


def _sex(value: Node, mappings: Mappings) -> list[Node]:
    code = mappings.sex(_label_of(value))
    if code is None or (isinstance(value, Literal) and value == Literal(code)):
        return []
    return [Literal(code)]


def _non_negative_integer(value: Node) -> Literal | None:
    if not isinstance(value, Literal) or value.datatype == XSD.nonNegativeInteger:
        return None
    text = str(value).strip()
    if re.fullmatch(r"\+?[0-9]+(\.0*)?", text):
        return Literal(
            int(float(text)) if "." in text else int(text), datatype=XSD.nonNegativeInteger
        )
    return None


def _as_list(node: Node | None) -> list[Node]:
    return [] if node is None else [node]


def _find_in_dataset_text(g: Graph, dataset: Node, mappings: Mappings) -> tuple[set[str], set[str]]:
    modalities: set[str] = set()
    body_parts: set[str] = set()
    for keyword in g.objects(dataset, DCAT.keyword):
        # A keyword is a whole label ("US", "mama") as well as a short text.
        modalities |= mappings.modalities(str(keyword))
        body_parts |= mappings.body_parts(str(keyword))
        found_m, found_b = mappings.find_in_text(str(keyword))
        modalities |= found_m
        body_parts |= found_b
    for prop in (DCTERMS.title, DCTERMS.description):
        for text in g.objects(dataset, prop):
            if isinstance(text, Literal):
                found_m, found_b = mappings.find_in_text(str(text))
                modalities |= found_m
                body_parts |= found_b
    return modalities, body_parts


def _description(graph: Graph, dataset: Node) -> Iterator[tuple[Node, Node, Node]]:
    return description_triples(graph, dataset)


def description_triples(
    graph: Graph, start: Node, *, follow_iris: bool = False, stop: Collection[Node] = ()
) -> Iterator[tuple[Node, Node, Node]]:
    """The node's own triples and, recursively, those of the blank nodes it reaches (and of
    the IRIs, with `follow_iris`), never entering the nodes in `stop`."""
    seen: set[Node] = set()
    todo: list[Node] = [start]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        for _, p, o in graph.triples((node, None, None)):
            yield node, p, o
            follow = isinstance(o, BNode) or (follow_iris and isinstance(o, URIRef))
            if follow and o not in seen and o not in stop:
                todo.append(o)


def _blank_node_names(triples: list[tuple[Node, Node, Node]]) -> dict[Node, str]:
    """Name each blank node by the (subject, predicate) paths reaching it and its literals."""
    incoming: dict[Node, list[tuple[Node, Node]]] = defaultdict(list)
    literals: dict[Node, list[str]] = defaultdict(list)
    for s, p, o in triples:
        if isinstance(o, BNode):
            incoming[o].append((s, p))
        elif isinstance(s, BNode):
            literals[s].append(f"{p.n3()}={o.n3()}")
    pending = {t for s, _, o in triples for t in (s, o) if isinstance(t, BNode)}
    names: dict[Node, str] = {}
    while pending:
        ready = [
            node
            for node in pending
            if not any(isinstance(s, BNode) and s not in names for s, _ in incoming[node])
        ]
        if not ready:  # a cycle of blank nodes: no stable name, keep their labels
            names |= {node: node.n3() for node in pending}
            break
        for node in ready:
            paths = sorted(f"{names.get(s) or s.n3()}>{p.n3()}" for s, p in incoming[node])
            # Siblings reached by the same path are told apart by their own values.
            content = sorted(literals[node])
            digest = hashlib.sha3_256("|".join([*paths, "#", *content]).encode()).hexdigest()
            names[node] = "_:b" + digest[:32]
        pending.difference_update(ready)
    return names


def _sort_key(node: Node) -> tuple[str, str]:
    return (type(node).__name__, node.n3())
