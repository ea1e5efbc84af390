"""Checking what the hub holds against what the chain holds: every anchored trace,
every batch root, and batches the chain knows but the hub has lost."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from . import merkle
from .chain import AnchoredBatch, Chain, ChainUnavailable
from .models import AnchorBatch, ChainContract, Trace
from .services import signer_address


@dataclass(frozen=True)
class Problem:
    kind: str  # "batch" or "trace"
    ref: str  # batch number or trace id
    message: str

    def __str__(self) -> str:
        return f"{self.kind.upper()} {self.ref}: {self.message}"


@dataclass
class Report:
    batches: int = 0
    traces: int = 0
    pending: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _on_chain(chain: Chain, batch: AnchorBatch) -> AnchoredBatch | None:
    if batch.contract is None or not chain.has_code(batch.contract.address):
        return None
    return chain.anchored(batch.contract.address, batch.number)


def contract_problem(chain: Chain, address: str) -> str:
    """Why a contract is not one the hub anchors on ("" if it is): the address pinned in
    settings, else a contract whose owner is the hub's own signing account. (A row changed
    to point a batch at a contract someone else deployed must not pass.)"""
    pinned = settings.TRACER_CONTRACT_ADDRESS
    if pinned and address.lower() != pinned.lower():
        return f"contract {address} is not the pinned TRACER_CONTRACT_ADDRESS {pinned}"
    owner = chain.owner(address)
    signer = chain.signer or signer_address()
    if signer and owner.lower() != signer.lower():
        return f"contract {address} belongs to {owner}, not to the hub's account {signer}"
    return ""


def batch_problem(chain: Chain, batch: AnchorBatch) -> tuple[AnchoredBatch | None, str]:
    """The batch as the chain holds it, and what is wrong with it ("" if nothing)."""
    found = _on_chain(chain, batch)
    where = f"contract {batch.contract.address}" if batch.contract else "no contract"
    if found is not None:
        foreign = contract_problem(chain, batch.contract.address)
        if foreign:
            return None, f"batch {batch.number}: {foreign}"
    if found is None:
        return None, f"batch {batch.number} is not on chain ({where}); was the chain reset?"
    if found.root.hex() != batch.root or found.count != batch.size:
        return found, (
            f"batch {batch.number}: the chain holds root {found.root.hex()} over {found.count} "
            f"traces, the hub root {batch.root} over {batch.size}"
        )
    return found, ""


def trace_problem(trace: Trace, root: bytes, size: int, where: str = "on chain") -> str:
    """What is wrong with one anchored trace against its batch's root ("" if nothing)."""
    computed = trace.computed_leaf_hash()
    if computed != trace.leaf_hash:
        return (
            f"trace {trace.uuid} was changed after it was recorded: its content hashes to "
            f"{computed}, its recorded leaf is {trace.leaf_hash}"
        )
    path = [bytes.fromhex(p) for p in trace.proof or []]
    if trace.leaf_index is None or not merkle.verify(
        bytes.fromhex(computed), trace.leaf_index, size, path, root
    ):
        return (
            f"trace {trace.uuid}: its proof does not lead to batch {trace.batch.number}'s "
            f"root {where}"
        )
    return ""


def verify_all(chain: Chain) -> Report:
    report = Report(pending=Trace.objects.filter(batch__isnull=True).count())
    batches = AnchorBatch.objects.filter(status=AnchorBatch.Status.ANCHORED).select_related(
        "contract"
    )
    for batch in batches.iterator():
        report.batches += 1
        found, problem = batch_problem(chain, batch)
        if problem:
            report.problems.append(Problem("batch", str(batch.number), problem))
        seen = set()
        for trace in batch.traces.order_by("leaf_index").iterator(chunk_size=2000):
            report.traces += 1
            trace.batch = batch
            seen.add(trace.leaf_index)
            if found is not None:
                message = trace_problem(trace, found.root, found.count)
                if message:
                    report.problems.append(Problem("trace", str(trace.uuid), message))
        missing = sorted(set(range(batch.size)) - seen)
        if missing:
            shown = ", ".join(str(i) for i in missing[:20]) + (" ..." if len(missing) > 20 else "")
            report.problems.append(
                Problem(
                    "batch",
                    str(batch.number),
                    f"{len(missing)} trace(s) of batch {batch.number} are missing from the "
                    f"hub's database (positions {shown})",
                )
            )
    report.problems += _unknown_batches(chain)
    return report


def _unknown_batches(chain: Chain) -> list[Problem]:
    """Batches anchored on chain by the hub's contracts that the hub no longer has, or
    holds with another root."""
    chain_id, genesis = chain.identity()
    known = {
        number: (root, contract_id)
        for number, root, contract_id in AnchorBatch.objects.values_list(
            "number", "root", "contract_id"
        )
    }
    problems = []
    for contract in ChainContract.objects.filter(chain_id=chain_id, genesis_hash=genesis):
        if not chain.has_code(contract.address) or contract_problem(chain, contract.address):
            continue
        for event in chain.anchored_events(contract.address):
            held, held_on = known.get(event["batch_id"], (None, None))
            # On its own contract a batch's root is checked above; here the case where
            # the hub's row points elsewhere while this contract holds another root.
            if held is not None and held_on != contract.pk and held != event["root"]:
                problems.append(
                    Problem(
                        "batch",
                        str(event["batch_id"]),
                        f"batch {event['batch_id']} is anchored on chain (contract "
                        f"{contract.address}, tx {event['tx_hash']}) with root {event['root']}, "
                        f"the hub holds root {held}",
                    )
                )
            elif held is None:
                problems.append(
                    Problem(
                        "batch",
                        str(event["batch_id"]),
                        f"batch {event['batch_id']} ({event['count']} traces, tx "
                        f"{event['tx_hash']}) is anchored on chain but missing from the hub",
                    )
                )
    return problems


CHAIN_DOWN_KEY = "tracer:chain-unreachable"


def chain_marks(chain: Chain | None, batches: list[AnchorBatch]) -> dict[int, str]:
    """Per batch number: "verified", "mismatch", "unreachable" or "waiting" (not anchored
    yet), for pages. Cached briefly,
    so a busy explorer page costs the chain one call per batch a minute."""
    marks = {}
    for batch in batches:
        key = f"tracer:mark:{batch.number}:{batch.root}"
        mark = cache.get(key)
        if batch.status != AnchorBatch.Status.ANCHORED:
            mark = "waiting"
        elif mark is None:
            # Once the node has failed, ask it nothing more for a while: a hung node must
            # not cost a page one timeout per batch shown.
            if chain is None or cache.get(CHAIN_DOWN_KEY):
                mark = "unreachable"
            else:
                try:
                    found, problem = batch_problem(chain, batch)
                    mark = "mismatch" if problem else "verified"
                    cache.set(key, mark, 60)
                except ChainUnavailable:
                    mark = "unreachable"
                    cache.set(CHAIN_DOWN_KEY, True, 30)
        marks[batch.number] = mark
    return marks
