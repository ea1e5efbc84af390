"""A fast SHACL Core engine for the hub's shapes, giving the same results as pyshacl.

    engine = compile_shapes(shapes_graph)   # once; raises UnsupportedShapes
    results = engine.validate(data_graph)   # list[Result], one per pyshacl sh:ValidationResult

Why: the harvester validates every record it harvests, and pyshacl spends most of its time in
per-constraint bookkeeping (a result description string per result, a results graph, generic
evaluation machinery). The hub's shapes only use simple SHACL Core components that are a few
graph look-ups each, so the shapes graph is compiled once into Python objects and evaluated
directly.

The results are those pyshacl 0.40 produces with inference="none", advanced=False,
allow_warnings=True, the options validate.py uses: the same focus node, result path, value,
source shape, constraint component, severity and messages, including the nested results pyshacl
attaches with sh:detail under a sh:node result (they are sh:ValidationResult nodes of its
results graph too). Where pyshacl's behaviour is subtle the code below follows pyshacl's own
code rather than the SHACL text, and says so.

Only the constraint components in SUPPORTED are compiled; a shapes graph using any other one
(sh:closed, sh:sparql, sh:and, ...), a complex property path, custom constraint components,
recursive shapes or shapes pyshacl itself would refuse makes compile_shapes() raise
UnsupportedShapes, and the caller uses pyshacl instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal

from pyshacl.constraints import ALL_CONSTRAINT_PARAMETERS
from pyshacl.errors import ReportableRuntimeError
from pyshacl.rdfutil import stringify_node
from pyshacl.rdfutil.compare import compare_literal
from rdflib import OWL, RDF, RDFS, XSD, BNode, ConjunctiveGraph, Graph, Literal, URIRef
from rdflib.namespace import SH
from rdflib.term import Node

__all__ = [
    "SUPPORTED",
    "CompiledShapes",
    "Result",
    "UnsupportedShapes",
    "compile_shapes",
    "results_from_graph",
]

# The constraint parameters this engine evaluates (sh:flags goes with sh:pattern).
SUPPORTED = frozenset(
    {
        SH.minCount,
        SH.maxCount,
        SH.nodeKind,
        SH.datatype,
        SH["class"],
        SH["in"],
        SH.pattern,
        SH.minInclusive,
        SH.lessThanOrEquals,
        SH.node,
        SH.property,
        SH["or"],
        SH.qualifiedValueShape,
        SH.qualifiedMinCount,
        SH.qualifiedMaxCount,
        SH.qualifiedValueShapesDisjoint,
    }
)
# SHACL-AF and extension terms: pyshacl ignores them with advanced=False, but a shapes graph
# using them is not what this engine was checked against.
_UNSUPPORTED_EXTRAS = frozenset(
    URIRef(f"{SH}{name}")
    for name in ("target", "rule", "expression", "js", "jsFunctionName", "alternativePath")
)
# With allow_warnings=True pyshacl treats a shape of these severities as conforming whatever
# its constraints say (this matters for shapes nested under sh:or, sh:node...).
_ALLOWED_SEVERITIES = frozenset({SH.Warning, SH.Info})

# Terms compared in the evaluator's inner loops, looked up once: attribute access on an
# rdflib namespace is a Python call.
_XSD_STRING, _LANG_STRING = XSD.string, RDF.langString
# The data graph's triples are grouped by predicate under plain str keys: a dict look-up with
# rdflib terms as keys calls their Python-level __hash__ and __eq__.
_TYPE_KEY = str(RDF.type)


class UnsupportedShapes(Exception):
    """The shapes graph uses something this engine does not evaluate like pyshacl."""


@dataclass(frozen=True, slots=True)
class Result:
    """One validation result, with the fields of a pyshacl sh:ValidationResult."""

    focus_node: Node
    result_path: Node | None
    value: Node | None
    source_shape: Node
    source_constraint_component: Node
    result_severity: Node
    # The shape's sh:message values; empty when the shape has none and pyshacl generates a
    # message (built on demand by message(), since building it costs a graph traversal).
    messages: tuple[Literal, ...] = ()
    source_constraint: Node | None = None
    generic: _Constraint | None = field(default=None, compare=False, repr=False)

    def all_messages(self, graph: Graph) -> tuple[Literal, ...]:
        """The sh:resultMessage values pyshacl gives this result."""
        if self.messages or self.generic is None:
            return self.messages
        return tuple(self.generic.generic_messages(graph, self.focus_node, self.value))

    def message(self, graph: Graph) -> Literal | None:
        messages = self.all_messages(graph)
        return min(messages, key=str) if messages else None


def results_from_graph(results: Graph) -> list[Result]:
    """pyshacl's results graph as Result records (every sh:ValidationResult, nested ones too)."""
    records = []
    for node in results.subjects(RDF.type, SH.ValidationResult):
        records.append(
            Result(
                focus_node=results.value(node, SH.focusNode),
                result_path=results.value(node, SH.resultPath),
                value=results.value(node, SH.value),
                source_shape=results.value(node, SH.sourceShape),
                source_constraint_component=results.value(node, SH.sourceConstraintComponent),
                result_severity=results.value(node, SH.resultSeverity),
                messages=tuple(sorted(results.objects(node, SH.resultMessage), key=str)),
                source_constraint=results.value(node, SH.sourceConstraint),
            )
        )
    return records


# --- the data graph, as the evaluator reads it --------------------------------------------


class _Data:
    """The data graph with the look-ups of one run cached: each focus node's triples are read
    once, not once per property shape."""

    __slots__ = ("graph", "_out", "_supers", "_instances")

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self._out: dict[Node, dict[str, list[Node]]] = {}
        self._supers: dict[Node, set[Node]] = {}
        self._instances: dict[tuple[Node, Node], bool] = {}

    def objects(self, subject: Node, key: str) -> list[Node]:
        """The objects of `subject` for the predicate whose IRI is `key` (a plain str)."""
        by_predicate = self._out.get(subject)
        if by_predicate is None:
            by_predicate = {}
            if not isinstance(subject, Literal):
                for p, o in self.graph.predicate_objects(subject):
                    by_predicate.setdefault(str(p), []).append(o)
            self._out[subject] = by_predicate
        return by_predicate.get(key, [])

    def subjects(self, predicate: Node, obj: Node) -> list[Node]:
        return list(self.graph.subjects(predicate, obj))

    def is_instance(self, node: Node, cls: Node) -> bool:
        # pyshacl's sh:class: one of the node's rdf:type values is the class or has it among
        # its rdfs:subClassOf ancestors in the data graph (no inference, no shapes graph).
        key = (node, cls)
        known = self._instances.get(key)
        if known is None:
            known = False
            if not isinstance(node, Literal):
                for kind in self.objects(node, _TYPE_KEY):
                    if kind == cls or cls in self._superclasses(kind):
                        known = True
                        break
            self._instances[key] = known
        return known

    def _superclasses(self, kind: Node) -> set[Node]:
        supers = self._supers.get(kind)
        if supers is None:
            supers = set(self.graph.transitive_objects(kind, RDFS.subClassOf))
            self._supers[kind] = supers
        return supers


# --- compiled shapes ------------------------------------------------------------------------


class _Path:
    """A property path: a predicate, or sh:inversePath of a predicate."""

    __slots__ = ("predicate", "inverse", "key")

    def __init__(self, predicate: URIRef, inverse: bool) -> None:
        self.predicate = predicate
        self.inverse = inverse
        self.key = str(predicate)

    def values(self, data: _Data, focus: Node) -> list[Node]:
        if self.inverse:
            return data.subjects(self.predicate, focus)
        return data.objects(focus, self.key)


@dataclass(eq=False)
class _Shape:
    node: Node
    path_node: Node | None  # the sh:path value, reported as sh:resultPath
    path: _Path | None  # None for a node shape: its value node is the focus node
    severity: Node
    messages: tuple[Literal, ...]
    deactivated: bool
    constraints: list[_Constraint] = field(default_factory=list)
    # A shape whose severity pyshacl allows (warnings) always conforms.
    lenient: bool = False
    target_classes: tuple[Node, ...] = ()
    target_nodes: tuple[Node, ...] = ()
    target_subjects_of: tuple[Node, ...] = ()
    target_objects_of: tuple[Node, ...] = ()

    @property
    def has_targets(self) -> bool:
        return bool(
            self.target_classes
            or self.target_nodes
            or self.target_subjects_of
            or self.target_objects_of
        )

    def focus_nodes(self, data: _Data) -> set[Node]:
        graph = data.graph
        found: set[Node] = set(self.target_nodes)
        for cls in self.target_classes:
            # pyshacl follows rdfs:subClassOf in the data graph even with inference="none".
            for sub in graph.transitive_subjects(RDFS.subClassOf, cls):
                found.update(graph.subjects(RDF.type, sub))
        for predicate in self.target_subjects_of:
            found.update(s for s, _ in graph.subject_objects(predicate))
        for predicate in self.target_objects_of:
            found.update(o for _, o in graph.subject_objects(predicate))
        return found

    def check(self, data: _Data, focus: Node, out: list[Result]) -> bool:
        """Validate one focus node; append the results to `out`; True if it conforms (in
        pyshacl's sense, with allow_warnings=True)."""
        if self.deactivated:
            return True
        values = [focus] if self.path is None else self.path.values(data, focus)
        conforms = True
        for constraint in self.constraints:
            if not constraint.check(data, self, focus, values, out):
                conforms = False
        return conforms or self.lenient

    def result(
        self,
        constraint: _Constraint,
        focus: Node,
        value: Node | None = None,
        component: Node | None = None,
    ) -> Result:
        return Result(
            focus_node=focus,
            result_path=self.path_node,
            value=value,
            source_shape=self.node,
            source_constraint_component=component or constraint.component,
            result_severity=self.severity,
            messages=self.messages,
            generic=None if self.messages else constraint,
        )


class _Constraint:
    """One constraint component of one shape."""

    component: URIRef

    def __init__(self, shapes: Graph, shape: _Shape) -> None:
        self.shapes = shapes
        self.shape = shape

    def check(
        self, data: _Data, shape: _Shape, focus: Node, values: list[Node], out: list[Result]
    ) -> bool:
        raise NotImplementedError

    def generic_messages(self, graph: Graph, focus: Node, value: Node | None) -> list[Literal]:
        """pyshacl's message for a shape without sh:message (same words, same node forms)."""
        raise NotImplementedError

    def _s(self, node: Node) -> str:
        return stringify_node(self.shapes, node)


def _data_string(graph: Graph, node: Node) -> str:
    try:
        return stringify_node(graph, node)
    except (LookupError, ValueError):
        return str(node)


class _ValueCheck(_Constraint):
    """A constraint that tests each value node on its own: one result per failing value."""

    def ok(self, data: _Data, value: Node) -> bool:
        raise NotImplementedError

    def check(self, data, shape, focus, values, out):
        conforms = True
        for value in values:
            if not self.ok(data, value):
                conforms = False
                out.append(shape.result(self, focus, value))
        return conforms


class _MinCount(_Constraint):
    component = SH.MinCountConstraintComponent

    def __init__(self, shapes, shape, count: int) -> None:
        super().__init__(shapes, shape)
        self.count = count

    def check(self, data, shape, focus, values, out):
        if len(values) >= self.count:
            return True
        out.append(shape.result(self, focus))
        return False

    def generic_messages(self, graph, focus, value):
        path = self._s(self.shape.path_node)
        return [Literal(f"Less than {self.count} values on {_data_string(graph, focus)}->{path}")]


class _MaxCount(_Constraint):
    component = SH.MaxCountConstraintComponent

    def __init__(self, shapes, shape, count: int) -> None:
        super().__init__(shapes, shape)
        self.count = count

    def check(self, data, shape, focus, values, out):
        if len(values) <= self.count:
            return True
        out.append(shape.result(self, focus))
        return False

    def generic_messages(self, graph, focus, value):
        path = self._s(self.shape.path_node)
        focus_text = stringify_node(graph, focus)
        return [Literal(f"More than {self.count} values on {focus_text}->{path}")]


_NODE_KINDS = {
    # node kind -> (IRIs match, blank nodes match, literals match)
    SH.IRI: (True, False, False),
    SH.BlankNode: (False, True, False),
    SH.Literal: (False, False, True),
    SH.BlankNodeOrIRI: (True, True, False),
    SH.BlankNodeOrLiteral: (False, True, True),
    SH.IRIOrLiteral: (True, False, True),
}


class _NodeKind(_ValueCheck):
    component = SH.NodeKindConstraintComponent

    def __init__(self, shapes, shape, kind: Node) -> None:
        super().__init__(shapes, shape)
        self.kind = kind
        self.iri, self.blank, self.literal = _NODE_KINDS.get(kind, (False, False, False))

    def ok(self, data, value):
        if isinstance(value, BNode):
            return self.blank
        if isinstance(value, Literal):
            return self.literal
        return self.iri

    def generic_messages(self, graph, focus, value):
        return [Literal(f"Value is not of Node Kind {self._s(self.kind)}")]


# pyshacl checks the Python value rdflib made of a literal for these datatypes only; a
# well-typed literal of another datatype passes.
_PYTHON_TYPES: dict[Node, type | tuple[type, ...]] = {
    XSD.string: (str, bytes),
    RDF.langString: (str, bytes),
    XSD.integer: int,
    XSD.float: float,
    XSD.decimal: Decimal,
    XSD.boolean: bool,
    XSD.date: date,
    XSD.time: time,
    XSD.dateTime: datetime,
}


class _Datatype(_ValueCheck):
    component = SH.DatatypeConstraintComponent

    def __init__(self, shapes, shape, datatype: Node) -> None:
        super().__init__(shapes, shape)
        self.datatype = datatype
        # Decided once here rather than by comparing rdflib terms for every value.
        self.key = str(datatype)
        self.python = _PYTHON_TYPES.get(datatype, object)
        self.any_literal = datatype == RDFS.Literal
        self.any_typed = datatype == RDFS.Datatype
        self.plain = datatype == XSD.string
        self.tagged = datatype == RDF.langString

    def ok(self, data, value):
        # pyshacl's rules, in its order: an ill-typed literal ("abc"^^xsd:integer) fails;
        # rdfs:Literal takes any literal; a plain literal is an xsd:string.
        if not isinstance(value, Literal):
            return False
        datatype = value.datatype
        if datatype is not None and str.__eq__(datatype, self.key):
            if getattr(value, "ill_typed", None) is True:
                return False
            return isinstance(value.value, self.python)
        if self.any_literal:
            return True
        if self.any_typed and datatype:
            return True
        if self.plain and datatype is None and value.language is None:
            return isinstance(value.value, self.python)
        if self.tagged and value.language:
            return isinstance(value.value, self.python)
        return False

    def generic_messages(self, graph, focus, value):
        return [Literal(f"Value is not Literal with datatype {self._s(self.datatype)}")]


class _Class(_Constraint):
    component = SH.ClassConstraintComponent

    def __init__(self, shapes, shape, classes: list[Node]) -> None:
        super().__init__(shapes, shape)
        self.classes = classes

    def check(self, data, shape, focus, values, out):
        conforms = True
        for cls in self.classes:  # pyshacl: one result per class a value is not an instance of
            for value in values:
                if not data.is_instance(value, cls):
                    conforms = False
                    out.append(shape.result(self, focus, value))
        return conforms

    def generic_messages(self, graph, focus, value):
        if len(self.classes) < 2:
            return [Literal(f"Value does not have class {self._s(self.classes[0])}")]
        names = ", ".join(self._s(c) for c in self.classes)
        return [Literal(f"Value class is not in classes ({names})")]


class _In(_ValueCheck):
    component = SH.InConstraintComponent

    def __init__(self, shapes, shape, members: list[Node]) -> None:
        super().__init__(shapes, shape)
        # RDF term equality, as pyshacl: "1"^^xsd:integer is not "01"^^xsd:integer.
        self.members = set(members)

    def ok(self, data, value):
        return value in self.members

    def generic_messages(self, graph, focus, value):
        members = [self._s(m) for m in self.members]
        return [Literal(f"Value {stringify_node(graph, value)} not in list {members}")]


class _Pattern(_Constraint):
    component = SH.PatternConstraintComponent

    def __init__(self, shapes, shape, patterns: list[Literal], flags: Node | None) -> None:
        super().__init__(shapes, shape)
        self.patterns = patterns
        re_flags = 0
        if flags:
            text = str(flags.value).lower()
            if "i" in text:
                re_flags |= re.I
            if "m" in text:
                re_flags |= re.M
        # pyshacl compiles the literal's value, or its lexical form when that is one character.
        self.compiled = [
            re.compile(
                str(p.value) if p.value is not None and len(p.value) > 1 else str(p), re_flags
            )
            for p in patterns
        ]

    def check(self, data, shape, focus, values, out):
        conforms = True
        for matcher in self.compiled:
            for value in values:
                if isinstance(value, BNode) or not matcher.search(_string_of(value)):
                    conforms = False
                    out.append(shape.result(self, focus, value))
        return conforms

    def generic_messages(self, graph, focus, value):
        if len(self.patterns) < 2:
            return [Literal(f"Value does not match pattern '{self.patterns[0].value}'")]
        patterns = "', '".join(str(p.value) for p in self.patterns)
        return [Literal(f"Value does not match every pattern in ('{patterns}')")]


def _string_of(value: Node) -> str:
    # pyshacl's string form of a value node for sh:pattern: a string literal's value, else
    # the lexical form or the IRI.
    if isinstance(value, Literal):
        if value.value is not None and value.datatype in (None, _LANG_STRING, _XSD_STRING):
            return str(value.value)
    return str(value)


class _MinInclusive(_Constraint):
    component = SH.MinInclusiveConstraintComponent

    def __init__(self, shapes, shape, minimums: list[Literal]) -> None:
        super().__init__(shapes, shape)
        self.minimums = minimums

    def check(self, data, shape, focus, values, out):
        conforms = True
        for minimum in self.minimums:
            minimum_is_string = isinstance(minimum.value, str)
            for value in values:
                if not self._at_least(value, minimum, minimum_is_string):
                    conforms = False
                    out.append(shape.result(self, focus, value))
        return conforms

    @staticmethod
    def _at_least(value: Node, minimum: Literal, minimum_is_string: bool) -> bool:
        # pyshacl: only literals compare, strings only with strings, and a comparison that
        # fails (a date against a number, an ill-typed literal) is a failed check.
        if not isinstance(value, Literal):
            return False
        if minimum_is_string != isinstance(value.value, str):
            return False
        try:
            return compare_literal(value, minimum) >= 0
        except (TypeError, NotImplementedError):
            return False

    def generic_messages(self, graph, focus, value):
        if len(self.minimums) < 2:
            return [Literal(f"Value is not >= {self._s(self.minimums[0])}")]
        rules = ", ".join(self._s(m) for m in self.minimums)
        return [Literal(f"Value is not >= in ({rules})")]


class _LessThanOrEquals(_Constraint):
    component = SH.LessThanOrEqualsConstraintComponent

    def __init__(self, shapes, shape, properties: list[URIRef]) -> None:
        super().__init__(shapes, shape)
        self.properties = properties
        self.keys = [str(p) for p in properties]

    def check(self, data, shape, focus, values, out):
        conforms = True
        for key in self.keys:
            others = data.objects(focus, key)
            for value in values:
                for other in others:
                    if not _less_or_equal(value, other):
                        conforms = False
                        # pyshacl: one result per value and per larger-or-incomparable other.
                        out.append(shape.result(self, focus, value))
        return conforms

    def generic_messages(self, graph, focus, value):
        if len(self.properties) < 2:
            rules = self._s(self.properties[0])
        else:
            rules = ", ".join(self._s(p) for p in self.properties)
        return [
            Literal(
                f"Value of {stringify_node(graph, focus)}->{rules} < {stringify_node(graph, value)}"
            )
        ]


def _less_or_equal(value: Node, other: Node) -> bool:
    """pyshacl's comparison for sh:lessThanOrEquals: IRIs and string literals compare as
    strings, only with strings; other literals with Literal's own <= (which may raise, as in
    pyshacl); a blank node is an error."""
    if isinstance(value, BNode) or isinstance(other, BNode):
        raise ReportableRuntimeError("Cannot use sh:lessThanOrEquals to compare a BlankNode.")
    left, left_is_string = _comparable(value)
    right, right_is_string = _comparable(other)
    if left_is_string != right_is_string:
        return False
    return bool(left <= right)


def _comparable(node: Node) -> tuple[object, bool]:
    if isinstance(node, URIRef):
        return str(node), True
    if isinstance(node, Literal) and isinstance(node.value, str):
        return node.value, True
    return node, False


class _NodeRef(_Constraint):
    """sh:node: a value that does not conform gives one result on the focus node, followed by
    the nested shape's own results (pyshacl reports them under it with sh:detail)."""

    component = SH.NodeConstraintComponent

    def __init__(self, shapes, shape, targets: list[_Shape]) -> None:
        super().__init__(shapes, shape)
        self.targets = targets

    def check(self, data, shape, focus, values, out):
        conforms = True
        for target in self.targets:
            for value in values:
                nested: list[Result] = []
                # pyshacl fails sh:node when the nested shape does not conform or reported
                # anything at all (warnings included).
                if not target.check(data, value, nested) or nested:
                    conforms = False
                    out.append(shape.result(self, focus, value))
                    out.extend(nested)
        return conforms

    def generic_messages(self, graph, focus, value):
        if len(self.targets) < 2:
            m = f"Value does not conform to Shape {self._s(self.targets[0].node)}."
        else:
            names = "', '".join(self._s(t.node) for t in self.targets)
            m = f"Value must conform to every Shape in ('{names}')."
        return [Literal(m + " See details for more information.")]


class _Property(_Constraint):
    """sh:property: the property shapes' results are the shape's results."""

    component = SH.PropertyConstraintComponent

    def __init__(self, shapes, shape, targets: list[_Shape]) -> None:
        super().__init__(shapes, shape)
        self.targets = targets

    def check(self, data, shape, focus, values, out):
        conforms = True
        for target in self.targets:
            for value in values:
                if not target.check(data, value, out):
                    conforms = False
        return conforms

    def generic_messages(self, graph, focus, value):  # pragma: no cover - never reported
        raise NotImplementedError


class _Or(_Constraint):
    """sh:or: one result per value conforming to none of the members; the members' own
    results are dropped, as in pyshacl."""

    component = SH.OrConstraintComponent

    def __init__(self, shapes, shape, lists: list[tuple[Node, list[_Shape]]]) -> None:
        super().__init__(shapes, shape)
        self.lists = lists

    def check(self, data, shape, focus, values, out):
        conforms = True
        for _, members in self.lists:
            for value in values:
                # Every member is checked, as pyshacl does, so that an error in any of them
                # is raised whatever the order.
                passed = [member.check(data, value, []) for member in members]
                if not any(passed):
                    conforms = False
                    out.append(shape.result(self, focus, value))
        return conforms

    def generic_messages(self, graph, focus, value):
        if len(self.lists) < 2:
            members = " , ".join(self._s(m) for m in self.shapes.items(self.lists[0][0]))
        else:
            members = " and ".join(
                "(" + " , ".join(self._s(m) for m in self.shapes.items(node)) + ")"
                for node, _ in self.lists
            )
        return [
            Literal(
                f"Node {_data_string(graph, value)} must conform to one or more shapes in {members}"
            )
        ]


class _Qualified(_Constraint):
    """sh:qualifiedValueShape with sh:qualifiedMinCount / sh:qualifiedMaxCount."""

    component = SH.QualifiedMinCountConstraintComponent  # or ...MaxCount..., per result

    def __init__(
        self,
        shapes,
        shape,
        targets: list[tuple[_Shape, list[_Shape]]],
        min_count: int | None,
        max_count: int | None,
        disjoint: bool,
    ) -> None:
        super().__init__(shapes, shape)
        self.targets = targets  # (qualified value shape, its sibling shapes)
        self.min_count = min_count
        self.max_count = max_count
        self.disjoint = disjoint

    def check(self, data, shape, focus, values, out):
        if not self.disjoint and not values and (self.min_count is None or self.min_count < 1):
            return True
        conforms = True
        for target, siblings in self.targets:
            count = 0
            for value in values:
                if target.check(data, value, []):
                    siblings_pass = [s.check(data, value, []) for s in siblings]
                    if not any(siblings_pass):
                        count += 1
            if self.max_count is not None and count > self.max_count:
                conforms = False
                out.append(
                    shape.result(self, focus, component=SH.QualifiedMaxCountConstraintComponent)
                )
            if self.min_count is not None and count < self.min_count:
                conforms = False
                out.append(
                    shape.result(self, focus, component=SH.QualifiedMinCountConstraintComponent)
                )
        return conforms

    def generic_messages(self, graph, focus, value):
        names = ",".join(self._s(t.node) for t, _ in self.targets)
        counts = ""
        if self.min_count is not None:
            counts += f" MinCount {self.min_count}"
        if self.max_count is not None:
            counts += f" MaxCount {self.max_count}"
        if len(self.targets) > 1:
            return [Literal(f"Focus node does not conform to shapes{counts}: ({names})")]
        return [Literal(f"Focus node does not conform to shape{counts}: {names}")]


# --- the compiler -----------------------------------------------------------------------------


@dataclass
class CompiledShapes:
    """A shapes graph compiled for evaluation; reusable across data graphs (not thread-safe
    state is kept per validate() call only)."""

    shapes_graph: Graph
    shapes: dict[Node, _Shape]
    targeted: list[_Shape]

    def validate(self, graph: Graph) -> list[Result]:
        """Every result pyshacl would report for `graph` (nested sh:node details included),
        in no particular order."""
        if isinstance(graph, ConjunctiveGraph):
            # pyshacl validates the union of a dataset's graphs: not done here.
            raise TypeError("the fast engine validates a Graph, not a Dataset")
        data = _Data(graph)
        out: list[Result] = []
        for shape in self.targeted:
            if shape.deactivated:
                continue
            for focus in shape.focus_nodes(data):
                shape.check(data, focus, out)
        if out:
            # pyshacl binds the sh: prefix in the data graph while it describes results.
            graph.namespace_manager.bind("sh", SH, override=False, replace=False)
        return out


def compile_shapes(shapes: Graph) -> CompiledShapes:
    """Compile `shapes` (a SHACL shapes graph); raises UnsupportedShapes for anything this
    engine does not evaluate exactly as pyshacl."""
    return _Compiler(shapes).compile()


class _Compiler:
    def __init__(self, shapes: Graph) -> None:
        self.g = shapes
        self.compiled: dict[Node, _Shape] = {}

    def compile(self) -> CompiledShapes:
        g = self.g
        if any(True for _ in g.subjects(RDF.type, SH.ConstraintComponent)) or any(
            True for _ in g.subjects(RDFS.subClassOf, SH.ConstraintComponent)
        ):
            raise UnsupportedShapes("custom constraint components")
        for predicate in _UNSUPPORTED_EXTRAS:
            for _ in g.subject_objects(predicate):
                raise UnsupportedShapes(f"{predicate} is not supported")
        found = self._find_shapes()
        for node, path_node in found.items():
            self.compiled[node] = self._shape_header(node, path_node)
        for node, shape in self.compiled.items():
            shape.constraints = self._constraints(node, shape)
        self._refuse_recursion()
        targeted = [s for s in self.compiled.values() if s.has_targets]
        return CompiledShapes(shapes_graph=g, shapes=self.compiled, targeted=targeted)

    def _find_shapes(self) -> dict[Node, Node | None]:
        """The shapes pyshacl finds (its ShapesGraph rules), each with its sh:path or None."""
        g = self.g
        node_shapes = set(g.subjects(RDF.type, SH.NodeShape))
        property_shapes = set(g.subjects(RDF.type, SH.PropertyShape))
        if node_shapes & property_shapes:
            raise UnsupportedShapes("a shape both sh:NodeShape and sh:PropertyShape")
        candidates: set[Node] = set(node_shapes | property_shapes)
        for predicate in (
            SH.targetClass,
            SH.targetNode,
            SH.targetObjectsOf,
            SH.targetSubjectsOf,
            SH.property,
            SH.node,
        ):
            candidates.update(s for s, _ in g.subject_objects(predicate))
        for predicate in (SH.property, SH.node, SH["not"], SH.qualifiedValueShape):
            candidates.update(o for _, o in g.subject_objects(predicate))
        for predicate in (SH["and"], SH["or"], SH.xone):
            for _, lst in g.subject_objects(predicate):
                members = list(g.items(lst))
                if not members:
                    raise UnsupportedShapes(f"{predicate} without a list of shapes")
                candidates.update(members)
        found: dict[Node, Node | None] = {}
        for node in candidates:
            paths = list(g.objects(node, SH.path))
            if len(paths) > 1:
                raise UnsupportedShapes(f"shape {node} has several sh:path")
            if node in node_shapes and paths:
                raise UnsupportedShapes(f"node shape {node} has a sh:path")
            if node in property_shapes and not paths:
                raise UnsupportedShapes(f"property shape {node} has no sh:path")
            found[node] = paths[0] if paths else None
        return found

    def _shape_header(self, node: Node, path_node: Node | None) -> _Shape:
        g = self.g
        deactivated = list(g.objects(node, SH.deactivated))
        if len(deactivated) > 1 or (deactivated and not isinstance(deactivated[0], Literal)):
            raise UnsupportedShapes(f"bad sh:deactivated on {node}")
        severities = set(g.objects(node, SH.severity))
        if len(severities) > 1:
            raise UnsupportedShapes(f"several sh:severity on {node}")
        for predicate in set(g.predicates(node, None)):
            if predicate in ALL_CONSTRAINT_PARAMETERS and predicate not in SUPPORTED:
                raise UnsupportedShapes(f"{predicate} (on {node}) is not supported")
        severity = next(iter(severities)) if severities else SH.Violation
        targets = {
            p: tuple(g.objects(node, p))
            for p in (SH.targetClass, SH.targetNode, SH.targetSubjectsOf, SH.targetObjectsOf)
        }
        implicit = self._implicit_class_target(node)
        return _Shape(
            node=node,
            path_node=path_node,
            path=None if path_node is None else self._path(path_node),
            severity=severity,
            messages=tuple(sorted(g.objects(node, SH.message), key=str)),
            deactivated=bool(deactivated[0].value) if deactivated else False,
            lenient=severity in _ALLOWED_SEVERITIES,
            target_classes=targets[SH.targetClass] + implicit,
            target_nodes=targets[SH.targetNode],
            target_subjects_of=targets[SH.targetSubjectsOf],
            target_objects_of=targets[SH.targetObjectsOf],
        )

    def _implicit_class_target(self, node: Node) -> tuple[Node, ...]:
        # A shape that is also a class targets its instances (pyshacl counts rdfs:Class,
        # owl:Class and the shapes graph's subclasses of rdfs:Class).
        g = self.g
        classes = {RDFS.Class, OWL.Class} | set(g.subjects(RDFS.subClassOf, RDFS.Class))
        if any(t in classes for t in g.objects(node, RDF.type)):
            return (node,)
        return ()

    def _path(self, path_node: Node) -> _Path:
        if isinstance(path_node, URIRef):
            return _Path(path_node, inverse=False)
        if isinstance(path_node, BNode):
            predicates = set(self.g.predicates(path_node, None))
            inverse = list(self.g.objects(path_node, SH.inversePath))
            if predicates == {SH.inversePath} and len(inverse) == 1:
                if isinstance(inverse[0], URIRef):
                    return _Path(inverse[0], inverse=True)
        raise UnsupportedShapes(f"property path {path_node} is not a predicate or its inverse")

    def _constraints(self, node: Node, shape: _Shape) -> list[_Constraint]:
        g = self.g

        def values(predicate: URIRef) -> list[Node]:
            return list(g.objects(node, predicate))

        def one(predicate: URIRef) -> Node | None:
            found = values(predicate)
            if len(found) > 1:
                raise UnsupportedShapes(f"several {predicate} on {node}")
            return found[0] if found else None

        def count(predicate: URIRef) -> int | None:
            value = one(predicate)
            if value is None:
                return None
            if not (isinstance(value, Literal) and value.datatype == XSD.integer):
                raise UnsupportedShapes(f"{predicate} on {node} is not an xsd:integer")
            if int(value.value) < 0:
                raise UnsupportedShapes(f"{predicate} on {node} is negative")
            return int(value.value)

        is_property = shape.path is not None
        constraints: list[_Constraint] = []
        if (n := count(SH.minCount)) is not None:
            if not is_property:
                raise UnsupportedShapes(f"sh:minCount on node shape {node}")
            constraints.append(_MinCount(g, shape, n))
        if (n := count(SH.maxCount)) is not None:
            if not is_property:
                raise UnsupportedShapes(f"sh:maxCount on node shape {node}")
            constraints.append(_MaxCount(g, shape, n))
        if (kind := one(SH.nodeKind)) is not None:
            constraints.append(_NodeKind(g, shape, kind))
        if (datatype := one(SH.datatype)) is not None:
            constraints.append(_Datatype(g, shape, datatype))
        if classes := values(SH["class"]):
            constraints.append(_Class(g, shape, classes))
        if (members := one(SH["in"])) is not None:
            constraints.append(_In(g, shape, list(g.items(members))))
        if patterns := values(SH.pattern):
            if not all(isinstance(p, Literal) for p in patterns):
                raise UnsupportedShapes(f"sh:pattern on {node} is not a literal")
            flags = one(SH.flags)
            if flags is not None and not isinstance(flags, Literal):
                raise UnsupportedShapes(f"sh:flags on {node} is not a literal")
            constraints.append(_Pattern(g, shape, patterns, flags))
        if minimums := values(SH.minInclusive):
            if not all(isinstance(m, Literal) for m in minimums):
                raise UnsupportedShapes(f"sh:minInclusive on {node} is not a literal")
            constraints.append(_MinInclusive(g, shape, minimums))
        if properties := values(SH.lessThanOrEquals):
            if not is_property or not all(isinstance(p, URIRef) for p in properties):
                raise UnsupportedShapes(f"bad sh:lessThanOrEquals on {node}")
            constraints.append(_LessThanOrEquals(g, shape, list(set(properties))))
        if targets := values(SH.node):
            shapes = [self._other(t) for t in targets]
            if any(s.path is not None for s in shapes):
                raise UnsupportedShapes(f"sh:node of {node} is a property shape")
            constraints.append(_NodeRef(g, shape, shapes))
        if targets := values(SH.property):
            shapes = [self._other(t) for t in targets]
            if any(s.path is None for s in shapes):
                raise UnsupportedShapes(f"sh:property of {node} is not a property shape")
            constraints.append(_Property(g, shape, shapes))
        if lists := values(SH["or"]):
            constraints.append(
                _Or(
                    g,
                    shape,
                    [(lst, self._unique(self._other(m) for m in g.items(lst))) for lst in lists],
                )
            )
        qualified = self._qualified(node, shape, is_property, values, count)
        if qualified is not None:
            constraints.append(qualified)
        return constraints

    def _qualified(self, node, shape, is_property, values, count) -> _Qualified | None:
        g = self.g
        value_shapes = list(set(values(SH.qualifiedValueShape)))
        min_count = count(SH.qualifiedMinCount)
        max_count = count(SH.qualifiedMaxCount)
        disjoint_values = values(SH.qualifiedValueShapesDisjoint)
        if not (value_shapes or min_count is not None or max_count is not None or disjoint_values):
            return None
        if not is_property:
            raise UnsupportedShapes(f"sh:qualifiedValueShape on node shape {node}")
        if not value_shapes or (min_count is None and max_count is None):
            raise UnsupportedShapes(f"incomplete qualified value shape on {node}")
        disjoint = any(
            isinstance(d, Literal) and isinstance(d.value, bool) and d.value
            for d in disjoint_values
        )
        targets = []
        for value_shape in value_shapes:
            siblings: set[Node] = set()
            if disjoint:
                # Sibling shapes: the other qualified value shapes of the property shapes of
                # the shapes this one is a property of.
                for parent in g.subjects(SH.property, node):
                    for sibling_property in g.objects(parent, SH.property):
                        for sibling in g.objects(sibling_property, SH.qualifiedValueShape):
                            if sibling != value_shape:
                                siblings.add(sibling)
            sibling_shapes = [self.compiled[s] for s in siblings if s in self.compiled]
            targets.append((self._other(value_shape), sibling_shapes))
        return _Qualified(g, shape, targets, min_count, max_count, disjoint)

    def _other(self, node: Node) -> _Shape:
        shape = self.compiled.get(node)
        if shape is None:
            raise UnsupportedShapes(f"{node} is referred to as a shape but is not one")
        return shape

    @staticmethod
    def _unique(shapes: Iterable[_Shape]) -> list[_Shape]:
        # pyshacl evaluates each member of a sh:or list once however often it is listed.
        return list({id(s): s for s in shapes}.values())

    def _refuse_recursion(self) -> None:
        # Recursive shapes are left undefined by SHACL and pyshacl cuts them off with its own
        # heuristics: not worth imitating.
        edges: dict[int, list[_Shape]] = {}
        for shape in self.compiled.values():
            edges[id(shape)] = [t for c in shape.constraints for t in _references(c)]
        done: set[int] = set()
        active: set[int] = set()

        def visit(shape: _Shape) -> None:
            key = id(shape)
            if key in done:
                return
            if key in active:
                raise UnsupportedShapes(f"recursive shapes through {shape.node}")
            active.add(key)
            for target in edges[key]:
                visit(target)
            active.discard(key)
            done.add(key)

        for shape in self.compiled.values():
            visit(shape)


def _references(constraint: _Constraint) -> list[_Shape]:
    if isinstance(constraint, (_NodeRef, _Property)):
        return list(constraint.targets)
    if isinstance(constraint, _Or):
        return [m for _, members in constraint.lists for m in members]
    if isinstance(constraint, _Qualified):
        return [s for t, siblings in constraint.targets for s in (t, *siblings)]
    return []
