"""Local labels -> the hub's standard codes: imaging modalities (DICOM CID 29), body parts
(DICOM Body Part Examined) and sex, in several European languages.

    m = Mappings.default()
    m.modality("Tomografía computarizada")          # "CT"
    m.modalities("PET/CT")                          # frozenset({"PT", "CT"})
    m.body_part("torace")                           # "CHEST"
    m.find_in_text("Abdominal CT before resection") # ({"CT"}, {"ABDOMEN"})

The tables are the CSV files in mappings/ (see mappings/README.md). A node extends or
overrides them without code: `Mappings.default().from_file("node-mappings.json")`.
"""

from __future__ import annotations

import csv
import json
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

MAPPINGS_DIR = Path(__file__).parent / "mappings"
KINDS = ("modality", "body_part", "sex")

# Where a label is also looked for inside free text.
IN_TEXT_YES = "yes"  # any case
IN_TEXT_CASE = "case"  # only as written (short codes are ordinary lower-case words)
IN_TEXT_NO = "no"  # only as a whole value or keyword
_IN_TEXT_VALUES = {IN_TEXT_YES, IN_TEXT_CASE, IN_TEXT_NO}

_NON_WORD = re.compile(r"[^0-9a-z]+")
_NON_WORD_ANY_CASE = re.compile(r"[^0-9A-Za-z]+")


def fold(label: str) -> str:
    """The matching key of a label: no accents, case-folded, punctuation as single spaces."""
    return _NON_WORD.sub(" ", _strip_accents(label).casefold()).strip()


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _fold_keep_case(text: str) -> str:
    return _NON_WORD_ANY_CASE.sub(" ", _strip_accents(text)).strip()


@dataclass(frozen=True)
class _Entry:
    label: str
    codes: tuple[str, ...]
    in_text: str


class Mappings:
    """Immutable label tables; `with_extension` and `from_file` return new instances."""

    def __init__(self, tables: Mapping[str, Mapping[str, _Entry]]) -> None:
        self._tables = MappingProxyType(
            {kind: MappingProxyType(dict(tables.get(kind, {}))) for kind in KINDS}
        )
        self._patterns = {kind: self._compile(kind) for kind in ("modality", "body_part")}

    # -- construction ---------------------------------------------------------------

    @classmethod
    def default(cls) -> Mappings:
        return _default()

    @classmethod
    def from_directory(cls, directory: Path) -> Mappings:
        tables: dict[str, dict[str, _Entry]] = {}
        for kind in KINDS:
            with (directory / f"{kind}.csv").open(encoding="utf-8", newline="") as f:
                rows = list(csv.DictReader(f))
            tables[kind] = _table(kind, rows, source=f"{kind}.csv")
        return cls(tables)

    def with_extension(self, extra: Mapping[str, Mapping[str, str]]) -> Mappings:
        """A copy where `extra` ({kind: {label: code}}) adds labels or overrides existing ones.

        A code may name several standard codes separated by spaces ("PT CT"). Added labels
        are also looked for in free text when they are longer than three characters.
        """
        if not isinstance(extra, Mapping):
            raise ValueError("mapping extension: expected an object {kind: {label: code}}")
        tables = {kind: dict(self._tables[kind]) for kind in KINDS}
        for kind, labels in extra.items():
            if kind not in KINDS:
                raise ValueError(
                    f"mapping extension: unknown kind {kind!r}, expected one of {KINDS}"
                )
            if not isinstance(labels, Mapping):
                raise ValueError(f"mapping extension: {kind!r} must be an object {{label: code}}")
            for label, code in labels.items():
                if not isinstance(label, str) or not isinstance(code, str):
                    raise ValueError(f"mapping extension: {kind!r} labels and codes must be text")
            rows = [
                {"label": label, "code": code, "in_text": "yes" if len(label) > 3 else "case"}
                for label, code in labels.items()
            ]
            tables[kind].update(_table(kind, rows, source=f"extension {kind!r}"))
        return Mappings(tables)

    def from_file(self, path: str | Path) -> Mappings:
        """A copy extended by a JSON file {kind: {label: code}} or a CSV kind,label,code."""
        path = Path(path)
        text = path.read_text(encoding="utf-8")
        if path.suffix.lower() == ".json":
            try:
                extra = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path.name}: not valid JSON ({exc})") from exc
            return self.with_extension(extra)
        extra: dict[str, dict[str, str]] = {}
        for row in csv.DictReader(text.splitlines()):
            if not {"kind", "label", "code"} <= set(row):
                raise ValueError(f"{path.name}: the header must be kind,label,code")
            extra.setdefault(row["kind"].strip(), {})[row["label"]] = row["code"]
        return self.with_extension(extra)

    # -- look-ups -------------------------------------------------------------------

    def codes(self, kind: str) -> frozenset[str]:
        """Every standard code of a kind."""
        return frozenset(c for e in self._tables[kind].values() for c in e.codes)

    def modalities(self, label: str) -> frozenset[str]:
        return self._lookup("modality", label)

    def modality(self, label: str) -> str | None:
        """The (first) modality code of a label; `modalities` gives all ("PET/CT")."""
        entry = self._tables["modality"].get(fold(label))
        return entry.codes[0] if entry else None

    def body_part(self, label: str) -> str | None:
        entry = self._tables["body_part"].get(fold(label))
        return entry.codes[0] if entry else None

    def body_parts(self, label: str) -> frozenset[str]:
        return self._lookup("body_part", label)

    def sex(self, label: str) -> str | None:
        entry = self._tables["sex"].get(fold(label))
        return entry.codes[0] if entry else None

    def find_in_text(self, text: str) -> tuple[set[str], set[str]]:
        """Modalities and body parts named in free text, on word boundaries."""
        return self._find("modality", text), self._find("body_part", text)

    # -- internals ------------------------------------------------------------------

    def _lookup(self, kind: str, label: str) -> frozenset[str]:
        entry = self._tables[kind].get(fold(label))
        return frozenset(entry.codes) if entry else frozenset()

    def _compile(self, kind: str) -> tuple[re.Pattern | None, re.Pattern | None]:
        """One regex for case-insensitive labels, one for case-sensitive ones; longest first."""
        entries = self._tables[kind].values()
        anywhere = sorted({e.label for e in entries if e.in_text == IN_TEXT_YES}, key=_longest)
        exact = sorted({e.label for e in entries if e.in_text == IN_TEXT_CASE}, key=_longest)
        anywhere_keys = sorted({fold(label) for label in anywhere}, key=_longest)
        exact_keys = sorted({_fold_keep_case(label) for label in exact}, key=_longest)
        return _alternation(anywhere_keys), _alternation(exact_keys)

    def _find(self, kind: str, text: str) -> set[str]:
        if not text:
            return set()
        anywhere, exact = self._patterns[kind]
        table = self._tables[kind]
        found: set[str] = set()
        if anywhere is not None:
            for match in anywhere.finditer(fold(text)):
                found.update(table[match.group(1)].codes)
        if exact is not None:
            for match in exact.finditer(_fold_keep_case(text)):
                found.update(table[fold(match.group(1))].codes)
        return found


def _longest(label: str) -> tuple[int, str]:
    return (-len(label), label)


def _alternation(keys: Iterable[str]) -> re.Pattern | None:
    keys = [k for k in keys if k]
    if not keys:
        return None
    body = "|".join(re.escape(k).replace(r"\ ", " ") for k in keys)
    return re.compile(rf"(?<![0-9A-Za-z])({body})(?![0-9A-Za-z])")


def _table(kind: str, rows: Iterable[Mapping[str, str]], *, source: str) -> dict[str, _Entry]:
    table: dict[str, _Entry] = {}
    for number, row in enumerate(rows, start=2):
        label = (row.get("label") or "").strip()
        codes = tuple((row.get("code") or "").split())
        in_text = (row.get("in_text") or IN_TEXT_YES).strip().lower()
        key = fold(label)
        if not key or not codes:
            raise ValueError(f"{source}, row {number}: a label and a code are required")
        if in_text not in _IN_TEXT_VALUES:
            raise ValueError(f"{source}, row {number}: in_text must be one of {_IN_TEXT_VALUES}")
        table[key] = _Entry(label=label, codes=codes, in_text=in_text)
    return table


@cache
def _default() -> Mappings:
    return Mappings.from_directory(MAPPINGS_DIR)
