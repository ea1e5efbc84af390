"""What a harvest run does with one fetched page, before anything is stored.

Plain Python (no Django), so pages can be read in worker processes: parse the page,
normalise it with the node's mappings, split it into records, skip those whose content hash
is the one the hub already holds, validate the others and read the accepted ones into
catalogue fields. The caller decides what each outcome means for the catalogue.
"""

from __future__ import annotations

import hashlib
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field

from rdflib import Graph

from hyperontology import normalise, validate
from hyperontology.mappings import Mappings
from hyperontology.validate import model_digest

from . import records
from .rdf import parse_rdf


@dataclass(slots=True)
class Outcome:
    """One record of a page: unchanged (same hash as before), or checked."""

    iri: str
    identifier: str
    content_hash: str
    unchanged: bool = False
    accepted: bool = False
    violations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    payload: dict | None = None  # catalogue fields and canonical N-Triples, if accepted


@dataclass(slots=True)
class PageResult:
    outcomes: list[Outcome]
    catalogue_findings: list[str]


def stage_page(graph: Graph, mappings: Mappings, known: Mapping[str, str]) -> PageResult:
    """`known`: the content hash the hub holds for each record IRI of the node."""
    graph = normalise(graph, mappings, copy=False)
    split = list(records.split(graph))
    # What the hub remembers is the record's hash under this version of the model: after
    # an upgrade of the shapes or mappings every record is checked again.
    model = model_digest()
    for rec in split:
        rec.content_hash = hashlib.sha3_256(f"{model}:{rec.content_hash}".encode()).hexdigest()
    fresh = [rec for rec in split if known.get(rec.iri) != rec.content_hash]
    outcomes = {
        rec.iri: Outcome(rec.iri, rec.identifier, rec.content_hash, unchanged=True)
        for rec in split
        if known.get(rec.iri) == rec.content_hash
    }
    findings: list[str] = []
    if fresh:
        # Validate the changed records only: the page itself when all of it changed.
        if len(fresh) == len(split):
            checked = graph
        else:
            checked = Graph()
            for rec in fresh:
                for triple in rec.triples:
                    checked.add(triple)
        report = validate(checked)
        findings = [f.message for f in report.catalogue_findings]
        verdicts = report.by_iri
        for rec in fresh:
            verdict = verdicts[rec.iri]
            outcome = Outcome(
                rec.iri,
                rec.identifier,
                rec.content_hash,
                accepted=verdict.accepted,
                violations=[f.message for f in verdict.violations],
                warnings=[f.message for f in verdict.warnings],
            )
            if verdict.accepted:
                outcome.payload = {
                    "fields": records.fields(graph, rec.iri),
                    "normalised_rdf": rec.ntriples,
                }
            outcomes[rec.iri] = outcome
    return PageResult([outcomes[rec.iri] for rec in split], findings)


# -- in worker processes ------------------------------------------------------------------

_worker: dict = {}


def _start_worker(extension: Mapping, known: Mapping[str, str]) -> None:
    _worker["mappings"] = Mappings.default().with_extension(extension)
    _worker["known"] = known


def _stage_bytes(body: bytes, content_type: str | None, base: str) -> PageResult:
    graph = parse_rdf(body, content_type, base=base)
    return stage_page(graph, _worker["mappings"], _worker["known"])


def can_use_processes() -> bool:
    """Not from a daemonic process (a Celery prefork child may not start processes)."""
    return not multiprocessing.current_process().daemon


class PagePool:
    """Worker processes staging pages. They are spawned, not forked: a fork would share the
    parent's database connections."""

    def __init__(self, processes: int, extension: Mapping, known: Mapping[str, str]) -> None:
        self.executor = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(dict(extension), dict(known)),
        )
        self.in_flight = 2 * processes  # pages handed out ahead: bounds memory

    def submit(self, body: bytes, content_type: str | None, base: str) -> Future:
        return self.executor.submit(_stage_bytes, body, content_type, base)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
