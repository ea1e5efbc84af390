"""GA4GH Data Use Ontology (DUO): the terms, their hierarchy, and whether a research purpose
fits a dataset's data-use conditions.

    from hyperontology.duo import Duo, match
    Duo.load().label("DUO:0000042")                       # "general research use"
    result = match(["DUO:0000007", "DUO:0000021"], ["DUO:0000007"],
                   dataset_diseases=["C34"], purpose_diseases=["C34.1"])
    result.verdict, result.reasons, result.modifiers      # "match", [...], [ethics approval...]

The rule is DUO's own: a dataset's permission term allows a purpose when it is the purpose's
term or an ancestor of it. Disease-specific research (DUO:0000007) is further matched on ICD-10
codes by the ICD-10 hierarchy (chapter, block, category, subcategory). Modifiers (ethics
approval, collaboration, publication, time limits...) are not machine-matched: they are listed
for the committee and never change the verdict.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from rdflib import OWL, RDF, RDFS, Graph, URIRef
from rdflib.term import Node

from .terms import ICD10, OBO

DUO_OWL = Path(__file__).parent / "vocabularies" / "duo.owl"

PERMISSION_ROOT = "DUO:0000001"  # data use permission
MODIFIER_ROOT = "DUO:0000017"  # data use modifier
NO_RESTRICTION = "DUO:0000004"  # NRES
DISEASE_SPECIFIC = "DUO:0000007"  # DS

_DEFINITION = OBO.IAO_0000115
_OBO_IN_OWL = "http://www.geneontology.org/formats/oboInOwl#"
_OBO_ID = URIRef(_OBO_IN_OWL + "id")
_SHORTHAND = URIRef(_OBO_IN_OWL + "shorthand")
_OBSOLETE_CLASS = URIRef(_OBO_IN_OWL + "ObsoleteClass")
_DUO_ID = re.compile(r"^(?:https?://purl\.obolibrary\.org/obo/)?DUO[:_]([0-9]+)$", re.IGNORECASE)

Kind = Literal["permission", "modifier", "other"]
Verdict = Literal["match", "no_match", "needs_review"]


@dataclass(frozen=True)
class Term:
    """One DUO class. `kind` says whether it descends from "data use permission" or
    "data use modifier"; anything else (roots, obsolete terms, research types) is "other"."""

    id: str  # "DUO:0000007"
    iri: str  # as written in duo.owl
    label: str
    definition: str = ""
    shorthand: str = ""
    parents: tuple[str, ...] = ()  # ids of the named DUO classes it is a subclass of
    kind: Kind = "other"
    obsolete: bool = False

    def __str__(self) -> str:
        return f"{self.id} {self.label}"


class Duo:
    """The loaded ontology: terms by id, with ancestry. Use `Duo.load()` (cached)."""

    def __init__(self, terms: dict[str, Term], aliases: dict[str, str]) -> None:
        self.terms = terms
        self._aliases = aliases  # every accepted spelling of an id ("DUO:00000044") -> its id

    @classmethod
    def load(cls, path: Path | str | None = None) -> Duo:
        """The DUO of `vocabularies/duo.owl` (parsed once), or of another OWL/RDF-XML file."""
        if path is None:
            return _load_default()
        return cls.parse(Path(path))

    @classmethod
    def parse(cls, path: Path) -> Duo:
        """Parse a DUO OWL file (RDF/XML)."""
        graph = Graph()
        graph.parse(path, format="xml")
        # The id comes from oboInOwl:id where present rather than from the IRI: the DUO
        # release copied here writes NPOA's IRI as DUO_00000044 (one zero too many) while
        # its id is DUO:0000044, the id everyone (MIABIS, Beacon) uses.
        id_of: dict[Node, str] = {}
        for cls_node in graph.subjects(RDF.type, OWL.Class):
            if not isinstance(cls_node, URIRef):
                continue
            match = _DUO_ID.match(str(cls_node))
            if not match:
                continue
            declared = graph.value(cls_node, _OBO_ID)
            id_of[cls_node] = str(declared) if declared else f"DUO:{match.group(1)}"
        raw: dict[str, Term] = {}
        aliases: dict[str, str] = {}
        for node, term_id in id_of.items():
            parents = tuple(
                sorted(id_of[p] for p in graph.objects(node, RDFS.subClassOf) if p in id_of)
            )
            obsolete = (node, RDFS.subClassOf, _OBSOLETE_CLASS) in graph or str(
                graph.value(node, OWL.deprecated) or ""
            ).lower() == "true"
            raw[term_id] = Term(
                id=term_id,
                iri=str(node),
                label=_english(graph, node, RDFS.label) or term_id,
                definition=_english(graph, node, _DEFINITION),
                shorthand=str(graph.value(node, _SHORTHAND) or ""),
                parents=parents,
                obsolete=obsolete,
            )
            aliases[_key(term_id)] = term_id
            aliases[_key(str(node))] = term_id
        duo = cls(raw, aliases)
        # Kinds need the whole hierarchy, so they are set in a second pass.
        for term_id, term in raw.items():
            ancestors = duo.ancestors(term_id)
            kind: Kind = "other"
            if PERMISSION_ROOT in ancestors:
                kind = "permission"
            elif MODIFIER_ROOT in ancestors:
                kind = "modifier"
            raw[term_id] = replace(term, kind=kind)
        return duo

    def resolve(self, value: str | Node) -> str:
        """The id ("DUO:0000007") of "DUO:0000007", "DUO_0000007" or the OBO IRI."""
        term_id = self._aliases.get(_key(str(value)))
        if term_id is None:
            raise ValueError(f"unknown DUO term: {str(value)!r}")
        return term_id

    def term(self, value: str | Node) -> Term:
        """The term of an id in any accepted form."""
        return self.terms[self.resolve(value)]

    def label(self, value: str | Node) -> str:
        """The term's English label ("general research use")."""
        return self.term(value).label

    def parents(self, value: str | Node) -> tuple[str, ...]:
        """Ids of the term's direct DUO superclasses."""
        return self.term(value).parents

    def ancestors(self, value: str | Node) -> set[str]:
        """Ids of all the term's DUO superclasses, transitively (not the term itself)."""
        seen: set[str] = set()
        todo = list(self.terms[self.resolve(value)].parents)
        while todo:
            parent = todo.pop()
            if parent not in seen:
                seen.add(parent)
                todo.extend(self.terms[parent].parents)
        return seen

    def descendants(self, value: str | Node) -> set[str]:
        """Ids of all the term's DUO subclasses, transitively (not the term itself)."""
        term_id = self.resolve(value)
        return {other for other in self.terms if term_id in self.ancestors(other)}

    def is_permission(self, value: str | Node) -> bool:
        return self.term(value).kind == "permission"

    def is_modifier(self, value: str | Node) -> bool:
        return self.term(value).kind == "modifier"

    def allows(self, dataset_term: str | Node, purpose_term: str | Node) -> bool:
        """DUO's rule: a dataset term allows a purpose term that is itself or a descendant.
        "No restriction" (DUO:0000004) is a sibling of general research use in DUO's tree, but
        its definition ("there is no restriction on use") allows any purpose."""
        dataset_id, purpose_id = self.resolve(dataset_term), self.resolve(purpose_term)
        if dataset_id == NO_RESTRICTION:
            return True
        return dataset_id == purpose_id or dataset_id in self.ancestors(purpose_id)

    def resolve_all(self, values: Iterable[str | Node]) -> list[Term]:
        """The terms of several ids; a ValueError names every unknown one at once."""
        values = list(values)
        unknown = [str(v) for v in values if _key(str(v)) not in self._aliases]
        if unknown:
            raise ValueError("unknown DUO term(s): " + ", ".join(repr(u) for u in unknown))
        return list(dict.fromkeys(self.term(v) for v in values))


@functools.cache
def _load_default() -> Duo:
    return Duo.parse(DUO_OWL)


def _key(text: str) -> str:
    """Spellings of one id compared alike: "DUO_0000007", the OBO IRI -> "DUO:0000007"."""
    match = _DUO_ID.match(text.strip())
    return f"DUO:{match.group(1)}" if match else text.strip()


def _english(graph: Graph, node: Node, prop: URIRef) -> str:
    values = list(graph.objects(node, prop))
    for value in values:
        if getattr(value, "language", None) in ("en", None):
            return str(value)
    return str(values[0]) if values else ""


# --- ICD-10 -------------------------------------------------------------------------------

# WHO ICD-10 (2019) chapters and the categories they span.
ICD10_CHAPTERS: dict[str, tuple[str, str]] = {
    "I": ("A00", "B99"),
    "II": ("C00", "D48"),
    "III": ("D50", "D89"),
    "IV": ("E00", "E90"),
    "V": ("F00", "F99"),
    "VI": ("G00", "G99"),
    "VII": ("H00", "H59"),
    "VIII": ("H60", "H95"),
    "IX": ("I00", "I99"),
    "X": ("J00", "J99"),
    "XI": ("K00", "K93"),
    "XII": ("L00", "L99"),
    "XIII": ("M00", "M99"),
    "XIV": ("N00", "N99"),
    "XV": ("O00", "O99"),
    "XVI": ("P00", "P96"),
    "XVII": ("Q00", "Q99"),
    "XVIII": ("R00", "R99"),
    "XIX": ("S00", "T98"),
    "XX": ("V01", "Y98"),
    "XXI": ("Z00", "Z99"),
    "XXII": ("U00", "U99"),
}

# The prefixes ICD-10 codes come with (as in normalise.py), including the hub's ICD10: IRIs.
_ICD10_PREFIX = re.compile(
    r"^(?:ICD-?10(?:-CM)?:\s*|urn:miriam:icd:|"
    + re.escape(str(ICD10))
    + r"|https?://purl\.bioontology\.org/ontology/ICD10(?:CM)?/"
    r"|https?://id\.who\.int/icd/release/10/(?:[0-9]{4}/)?"
    r"|https?://icd\.who\.int/browse10/[0-9]{4}/en#/?)",
    re.IGNORECASE,
)
_CATEGORY = r"[A-Z][0-9]{2}"
_CODE = re.compile(rf"^({_CATEGORY})(?:\.([0-9A-Z]{{1,4}}))?$")
_BLOCK = re.compile(rf"^({_CATEGORY})\s*-\s*({_CATEGORY})$")
_CHAPTER = re.compile(r"^(?:CHAPTER\s+)?([IVX]+)$")


@dataclass(frozen=True)
class Icd10:
    """An ICD-10 chapter, block, category or subcategory as the categories it spans
    (categories compare as text: one letter, two digits) and, for a subcategory, its digits."""

    text: str  # as shown in reasons: "II", "C30-C39", "C34", "C34.1"
    first: str
    last: str
    subcategory: str = ""

    @classmethod
    def parse(cls, value: str | Node) -> Icd10:
        """ "C34.1", "ICD10:C34.1", an ICD10: IRI, a block "C30-C39" or a chapter "II"."""
        text = _ICD10_PREFIX.sub("", str(value).strip()).strip().upper()
        if match := _CODE.match(text):
            return cls(text, match.group(1), match.group(1), match.group(2) or "")
        if match := _BLOCK.match(text):
            first, last = match.groups()
            if first > last:
                raise ValueError(f"ICD-10 block runs backwards: {str(value)!r}")
            return cls(f"{first}-{last}", first, last)
        if (match := _CHAPTER.match(text)) and match.group(1) in ICD10_CHAPTERS:
            first, last = ICD10_CHAPTERS[match.group(1)]
            return cls(match.group(1), first, last)
        raise ValueError(f"not an ICD-10 code, block or chapter: {str(value)!r}")

    def contains(self, other: Icd10) -> bool:
        """Whether `other` is this or lies under it in the ICD-10 hierarchy."""
        if not (self.first <= other.first and other.last <= self.last):
            return False
        # A subcategory holds only itself and its own extensions (C34.1 holds C34.10).
        return other.subcategory.startswith(self.subcategory)

    def __str__(self) -> str:
        return self.text


def icd10_contains(outer: str | Node, inner: str | Node) -> bool:
    """Whether ICD-10 code/block/chapter `inner` lies under `outer` ("C34" holds "C34.1")."""
    return Icd10.parse(outer).contains(Icd10.parse(inner))


# --- Matching -----------------------------------------------------------------------------


@dataclass
class Match:
    """Whether one dataset's data-use terms allow a purpose, in plain words for the requester
    and the committee. `modifiers` are the dataset's conditions that no machine can check."""

    verdict: Verdict
    reasons: list[str] = field(default_factory=list)
    modifiers: list[Term] = field(default_factory=list)


_RANK: dict[Verdict, int] = {"no_match": 0, "needs_review": 1, "match": 2}


def match(
    dataset_terms: Iterable[str | Node],
    purpose_terms: Iterable[str | Node],
    *,
    dataset_diseases: Iterable[str | Node] = (),
    purpose_diseases: Iterable[str | Node] = (),
    duo: Duo | None = None,
) -> Match:
    """Whether a purpose (its DUO terms, and ICD-10 codes for disease-specific research) fits
    one dataset's DUO terms (and ICD-10 codes). Every purpose permission term must be allowed
    by one of the dataset's permission terms. Unknown terms or codes raise ValueError."""
    duo = duo or Duo.load()
    dataset = duo.resolve_all(dataset_terms)
    purpose = duo.resolve_all(purpose_terms)
    dataset_codes = [Icd10.parse(code) for code in dataset_diseases]
    purpose_codes = [Icd10.parse(code) for code in purpose_diseases]

    reasons: list[str] = []
    modifiers = [term for term in dataset if term.kind == "modifier"]
    permissions = [term for term in dataset if term.kind == "permission"]
    wanted = [term for term in purpose if term.kind == "permission"]
    for term in dataset:
        if term.kind == "other":
            reasons.append(f"{_named(term)} is not a data-use permission or modifier: not matched")
    for term in purpose:
        if term.kind != "permission":
            reasons.append(f"{_named(term)} in the purpose is not a data-use permission: ignored")

    if not permissions:
        verdict: Verdict = "needs_review"
        reasons.insert(0, "the dataset states no data-use permission")
    elif not wanted:
        verdict = "needs_review"
        reasons.insert(0, "the purpose states no DUO data-use permission term")
    else:
        verdict = "match"
        for asked in wanted:
            # The most favourable of the dataset's permissions decides for this purpose term;
            # the weakest purpose term decides for the whole purpose.
            outcomes = [
                _permission_verdict(duo, held, asked, dataset_codes, purpose_codes)
                for held in permissions
            ]
            best = max(outcomes, key=lambda outcome: _RANK[outcome[0]])
            if best[0] == "no_match":
                # Say why in ICD-10 terms when the hierarchy allowed it but the diseases did not.
                detail = [reason for outcome in outcomes for reason in outcome[1]]
                held_names = ", ".join(_named(term) for term in permissions)
                reasons.extend(
                    detail or [f"the dataset's {held_names} does not allow {_named(asked)}"]
                )
            else:
                reasons.extend(best[1])
            verdict = min(verdict, best[0], key=_RANK.__getitem__)

    for term in modifiers:
        reasons.append(f"{_named(term)}: not machine-matched, shown to the committee")
    return Match(verdict=verdict, reasons=reasons, modifiers=modifiers)


def match_dataset(
    dataset_terms: Iterable[str | Node],
    dataset_diagnoses: Iterable[str | Node],
    purpose_terms: Iterable[str | Node],
    purpose_diseases: Iterable[str | Node] = (),
    *,
    duo: Duo | None = None,
) -> Match:
    """`match` for a catalogue dataset as it is described: its diagnoses are the diseases
    its disease-specific permission is for (those that are not ICD-10 cannot cover a
    purpose, so they are left out), and terms DUO does not know leave the verdict to the
    committee instead of failing."""
    duo = duo or Duo.load()
    dataset_terms = [str(t) for t in dataset_terms]
    try:
        disease_specific = DISEASE_SPECIFIC in {duo.resolve(t) for t in dataset_terms}
        codes = []
        for code in dataset_diagnoses if disease_specific else ():
            try:
                Icd10.parse(code)
            except ValueError:
                continue
            codes.append(code)
        return match(
            dataset_terms,
            purpose_terms,
            dataset_diseases=codes,
            purpose_diseases=purpose_diseases,
            duo=duo,
        )
    except ValueError as exc:
        return Match(verdict="needs_review", reasons=[str(exc)])


def _permission_verdict(
    duo: Duo,
    held: Term,
    asked: Term,
    dataset_codes: list[Icd10],
    purpose_codes: list[Icd10],
) -> tuple[Verdict, list[str]]:
    """One dataset permission term against one purpose permission term."""
    if not duo.allows(held.id, asked.id):
        return "no_match", []
    if held.id == NO_RESTRICTION:
        return "match", [f"the dataset's {_named(held)} allows any use, including {_named(asked)}"]
    if held.id != DISEASE_SPECIFIC:
        how = "is" if held.id == asked.id else "is an ancestor of"
        return "match", [f"the dataset's {_named(held)} {how} the purpose's {_named(asked)}"]
    # Both are disease-specific research: the diseases decide, by the ICD-10 hierarchy.
    if not dataset_codes:
        return "needs_review", [
            f"the dataset allows {_named(held)} but names no ICD-10 disease to match on"
        ]
    if not purpose_codes:
        return "needs_review", [f"the purpose is {_named(asked)} but names no ICD-10 disease"]
    covered = ", ".join(map(str, dataset_codes))
    outside = [code for code in purpose_codes if not any(d.contains(code) for d in dataset_codes)]
    if outside:
        return "no_match", [
            f"{_named(held)}: the purpose's ICD-10 {', '.join(map(str, outside))} falls "
            f"outside the dataset's ICD-10 {covered}"
        ]
    asked_codes = ", ".join(map(str, purpose_codes))
    return "match", [
        f"{_named(held)}: the purpose's ICD-10 {asked_codes} falls under the dataset's "
        f"ICD-10 {covered}"
    ]


def _named(term: Term) -> str:
    return f'{term.id} "{term.label}"'
