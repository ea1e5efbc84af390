"""Recording traces (inside the caller's transaction) and anchoring them on chain."""

from __future__ import annotations

import base64
import binascii
import fcntl
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Max
from django.utils import timezone

from hub.errors import ValidationFailed

from . import canonical, merkle
from .chain import AnchorRefused, Chain, ChainMismatch, ChainUnavailable, connect
from .models import Action, AnchorBatch, ChainContract, Trace, TraceDataset, UpdateDetail

logger = logging.getLogger(__name__)

# Every free-form value a trace can hold is an identifier: nothing else gets in,
# so no name, e-mail or sentence can end up on chain.
IDENTIFIER = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:/+-]{0,99}\Z")
DETAIL = re.compile(r"\A[A-Z][A-Z0-9_]{0,31}\Z")
TOOL_TEXT = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._:/+ -]{0,49}\Z")
HEX_HASH = re.compile(r"\A[0-9a-fA-F]{64}\Z")
ANCHORING_LOCK_KEY = 0x6167_6F72_6174_7263  # "agoratrc": one advisory lock id for anchoring
MAX_DATASETS = 1000
MAX_RESOURCES = 10000
DATASET_ACTIONS = {Action.CREATE_DATASET, Action.UPDATE_DATASET, Action.USE_DATASETS}


def pseudonym(identifier: str, kind: str = "user") -> str:
    """A stable pseudonymous id: only the hub, which holds the key, can link it back."""
    key = settings.TRACER_PSEUDONYM_KEY.encode()
    message = f"{kind}:{identifier}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def user_pseudonym(user) -> str:
    if user is None or not getattr(user, "is_authenticated", False):
        return ""
    return pseudonym(user.get_username())


def hash_resource(resource_id: str, digest_hex: str) -> dict[str, str]:
    """A resource entry as CHAIMELEON's tracer writes it (hash as hex here)."""
    return {"id": resource_id, "contentType": "HASH", "hashType": "SHA3_256", "hash": digest_hex}


def _normalise_hash(value: object, position: int) -> str:
    """Hex or base64 (CHAIMELEON sends base64 of the 32-byte digest) to lower-case hex."""
    if isinstance(value, str) and HEX_HASH.match(value):
        return value.lower()
    if isinstance(value, str):
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) == 32:
            return raw.hex()
    raise ValidationFailed(
        f"resources[{position}].hash must be a SHA3-256 digest, as 64 hex digits or base64.",
        field="resources",
    )


def _clean_resources(resources: Iterable[dict]) -> list[dict[str, str]]:
    out = []
    for i, resource in enumerate(resources):
        if not isinstance(resource, dict):
            raise ValidationFailed(f"resources[{i}] must be an object.", field="resources")
        if resource.get("contentType", "HASH") != "HASH":
            raise ValidationFailed(
                f"resources[{i}].contentType must be HASH: traces hold hashes, never content.",
                field="resources",
            )
        if resource.get("hashType", "SHA3_256") != "SHA3_256":
            raise ValidationFailed(f"resources[{i}].hashType must be SHA3_256.", field="resources")
        rid = resource.get("id")
        if not isinstance(rid, str) or not IDENTIFIER.match(rid):
            raise ValidationFailed(
                f"resources[{i}].id must be an identifier (letters, digits, . _ : / + -).",
                field="resources",
            )
        out.append(hash_resource(rid, _normalise_hash(resource.get("hash"), i)))
        if len(out) > MAX_RESOURCES:
            raise ValidationFailed(f"At most {MAX_RESOURCES} resources.", field="resources")
    return out


def _clean(
    action: str,
    caller: str,
    details: str,
    dataset_ids: Iterable[str],
    resources: Iterable[dict],
    tool_name: str,
    tool_version: str,
    subject_id: str,
) -> dict:
    if action not in Action.values:
        raise ValidationFailed(
            f"userAction must be one of {', '.join(Action.values)}.", field="userAction"
        )
    if not IDENTIFIER.match(caller or ""):
        raise ValidationFailed("The caller must be an identifier.", field="callerId")
    if action == Action.UPDATE_DATASET and details not in UpdateDetail.values:
        raise ValidationFailed(
            f"details of UPDATE_DATASET must be one of {', '.join(UpdateDetail.values)}.",
            field="details",
        )
    if details and not DETAIL.match(details):
        raise ValidationFailed("details must be an upper-case code like RELEASE.", field="details")
    ids = list(dict.fromkeys(dataset_ids))
    if any(not isinstance(d, str) or not IDENTIFIER.match(d) for d in ids):
        raise ValidationFailed("Dataset ids must be identifiers.", field="datasetsIds")
    if len(ids) > MAX_DATASETS:
        raise ValidationFailed(f"At most {MAX_DATASETS} dataset ids.", field="datasetsIds")
    if action in DATASET_ACTIONS and not ids:
        raise ValidationFailed(f"{action} needs at least one dataset id.", field="datasetsIds")
    if action == Action.USE_DATASETS and not (tool_name and tool_version):
        raise ValidationFailed("USE_DATASETS needs toolName and toolVersion.", field="toolName")
    for name, value in (("toolName", tool_name), ("toolVersion", tool_version)):
        if value and not TOOL_TEXT.match(value):
            raise ValidationFailed(
                f"{name} must be a short name (letters, digits, . _ : / + - and spaces).",
                field=name,
            )
    if subject_id and not IDENTIFIER.match(subject_id):
        raise ValidationFailed("subjectId must be an identifier.", field="subjectId")
    return {
        "action": action,
        "caller": caller,
        "details": details,
        "dataset_ids": ids,
        "resources": _clean_resources(resources),
        "tool_name": tool_name,
        "tool_version": tool_version,
        "subject_id": subject_id,
    }


def record(
    *,
    action: str,
    caller: str,
    user=None,
    user_id: str | None = None,
    dataset_ids: Iterable[str] = (),
    details: str = "",
    resources: Iterable[dict] = (),
    tool_name: str = "",
    tool_version: str = "",
    subject_id: str = "",
    organisation_ids: Mapping[str, int] | None = None,
) -> Trace:
    """Record one governance action, in the transaction of the action itself (an outbox).

    `user` is the hub account that acted (stored only as a pseudonym); `user_id`
    is an external component's user identifier, pseudonymised the same way.
    Raises ValidationFailed (400) for a trace that would hold anything but identifiers.
    """
    return record_many(
        [
            {
                "action": action,
                "caller": caller,
                "user": user,
                "user_id": user_id,
                "dataset_ids": dataset_ids,
                "details": details,
                "resources": resources,
                "tool_name": tool_name,
                "tool_version": tool_version,
                "subject_id": subject_id,
            }
        ],
        organisation_ids=organisation_ids,
    )[0]


def record_many(
    entries: list[dict], *, organisation_ids: Mapping[str, int] | None = None
) -> list[Trace]:
    """record() for many actions at once (a harvest run's new datasets), in one INSERT.

    Each entry holds record()'s keyword arguments; `organisation_ids` may give the
    organisation of every dataset named, saving a look-up.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("tracer.services.record() must run inside the action's transaction")
    traces = []
    for entry in entries:
        fields = _clean(
            entry["action"],
            entry["caller"],
            entry.get("details", ""),
            [str(d) for d in entry.get("dataset_ids", ())],
            entry.get("resources", ()),
            entry.get("tool_name", ""),
            entry.get("tool_version", ""),
            entry.get("subject_id", ""),
        )
        user_id = entry.get("user_id")
        trace = Trace(
            recorded_at=timezone.now(),
            user_pseudonym=pseudonym(user_id) if user_id else user_pseudonym(entry.get("user")),
            **fields,
        )
        trace.leaf_hash = trace.computed_leaf_hash()
        traces.append(trace)
    if len(traces) == 1:
        traces[0].save()
    else:
        Trace.objects.bulk_create(traces)
    named = {d for trace in traces for d in trace.dataset_ids}
    # The caller may know the datasets' organisations already (it just saved them).
    if organisation_ids is None or named - set(organisation_ids):
        organisation_ids = _organisations_of(sorted(named))
    TraceDataset.objects.bulk_create(
        TraceDataset(trace=trace, dataset_id=d, organisation_id=organisation_ids.get(d))
        for trace in traces
        for d in trace.dataset_ids
    )
    batch = max(settings.TRACER_BATCH_SIZE, 1)
    if any(trace.seq % batch == 0 for trace in traces) or (
        len(traces) > 1 and traces[-1].seq // batch != traces[0].seq // batch
    ):
        # A full batch is waiting: anchor now rather than at the next scheduled run.
        transaction.on_commit(_queue_anchoring)
    return traces


def _organisations_of(dataset_ids: list[str]) -> dict[str, int]:
    from catalogue.selectors import organisation_ids_of_datasets

    return organisation_ids_of_datasets(dataset_ids) if dataset_ids else {}


def _queue_anchoring() -> None:
    from .tasks import anchor_pending_traces

    try:
        anchor_pending_traces.delay()
    except Exception:  # the broker being down must not fail the action; the schedule catches up
        logger.warning("could not queue trace anchoring; the periodic run will do it")


# --- anchoring -------------------------------------------------------------------------


@dataclass
class AnchorRun:
    anchored: list[int] = field(default_factory=list)
    traces: int = 0
    note: str = ""

    def __str__(self) -> str:
        if self.note:
            return self.note
        batches = len(self.anchored)
        return f"anchored {self.traces} traces in {batches} batch{'' if batches == 1 else 'es'}"


def signer_address() -> str:
    """The hub's signing account (its address only), or "" without a key."""
    from eth_account import Account

    key = settings.CHAIN_PRIVATE_KEY
    return Account.from_key(key).address if key else ""


def reading_chain(timeout: float = 3.0) -> Chain | None:
    """A chain for pages: no signing key, a short timeout; None when none is configured."""
    if not settings.CHAIN_RPC_URL:
        return None
    return connect(settings.CHAIN_RPC_URL, None, min(timeout, settings.CHAIN_TIMEOUT_SECONDS))


def chain_from_settings() -> Chain:
    return connect(
        settings.CHAIN_RPC_URL, settings.CHAIN_PRIVATE_KEY, settings.CHAIN_TIMEOUT_SECONDS
    )


def current_contract(chain: Chain) -> ChainContract:
    """The anchoring contract on this chain: from settings, remembered, or deployed now."""
    chain_id, genesis = chain.identity()
    address = settings.TRACER_CONTRACT_ADDRESS
    if address:
        if not chain.has_code(address):
            raise ChainMismatch(f"TRACER_CONTRACT_ADDRESS {address} holds no contract")
        if chain.signer and chain.owner(address).lower() != chain.signer.lower():
            raise ChainMismatch(
                f"TRACER_CONTRACT_ADDRESS {address} belongs to another account than the hub's"
            )
        contract, _ = ChainContract.objects.get_or_create(
            chain_id=chain_id, genesis_hash=genesis, address=address
        )
        return contract
    known = ChainContract.objects.filter(chain_id=chain_id, genesis_hash=genesis).last()
    if known and chain.has_code(known.address):
        return known
    address, tx_hash = chain.deploy()
    logger.warning("deployed the trace anchoring contract at %s (chain %s)", address, chain_id)
    return ChainContract.objects.create(
        chain_id=chain_id, genesis_hash=genesis, address=address, deployed_in_tx=tx_hash
    )


def anchor_pending(*, chain: Chain | None = None, max_batches: int | None = None) -> AnchorRun:
    """Anchor every pending trace, batch by batch, oldest first. Safe to run anywhere, often.

    One process anchors at a time (anchoring_lock); another returns at once. A batch
    is prepared (its traces, root and proofs committed) before the chain is called, and
    a prepared batch is always finished before a new one is built; the contract takes
    each batch id once. So a worker killed at any point, a chain that is down, or two
    workers at once never lose a trace nor anchor one twice.
    """
    if chain is None:
        if not settings.CHAIN_RPC_URL:
            return AnchorRun(note="no chain configured (CHAIN_RPC_URL); traces wait")
        chain = chain_from_settings()
    with anchoring_lock() as mine:
        if not mine:
            return AnchorRun(note="another worker is anchoring; nothing to do here")
        return _anchor_all(chain, max_batches)


@contextmanager
def anchoring_lock():
    """One anchoring process at a time, so one signer, one nonce sequence, one contract.

    PostgreSQL: a session advisory lock (freed when a killed worker's connection drops;
    needs session pooling, not PgBouncer's transaction mode). SQLite, whose processes
    share one machine: an flock next to the database (freed when the process dies).
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ANCHORING_LOCK_KEY])
            mine = cursor.fetchone()[0]
        try:
            yield mine
        finally:
            if mine:
                try:
                    with connection.cursor() as cursor:
                        cursor.execute("SELECT pg_advisory_unlock(%s)", [ANCHORING_LOCK_KEY])
                except DatabaseError:  # e.g. inside an aborted transaction:
                    connection.close()  # ending the session frees its lock
        return
    path = Path(settings.VAR_DIR) / "tracer-anchoring.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _anchor_all(chain: Chain, max_batches: int | None) -> AnchorRun:
    run = AnchorRun()
    contract = current_contract(chain)
    while max_batches is None or len(run.anchored) < max_batches:
        batch = _next_batch()
        if batch is None:
            break
        try:
            if _anchor_batch(chain, contract, batch.pk):
                # Read back: the batch may have moved to another number (_renumber).
                run.anchored.append(AnchorBatch.objects.get(pk=batch.pk).number)
                run.traces += batch.size
        except (ChainUnavailable, ChainMismatch) as exc:
            _note_failure(batch.pk, exc)
            raise
    return run


def _next_batch() -> AnchorBatch | None:
    """The oldest prepared batch, or a new one over the oldest pending traces.

    Runs under the anchoring lock: no other process prepares or finishes batches.
    """
    prepared = (
        AnchorBatch.objects.filter(status=AnchorBatch.Status.PREPARED).order_by("number").first()
    )
    if prepared is not None:
        return prepared
    with transaction.atomic():
        return _prepare_batch()


def _prepare_batch() -> AnchorBatch | None:
    pending = list(
        Trace.objects.filter(batch__isnull=True)
        .order_by("seq")
        .only("seq", "leaf_hash")[: max(settings.TRACER_BATCH_SIZE, 1)]
    )
    if not pending:
        return None
    root, paths = merkle.root_and_paths([bytes.fromhex(t.leaf_hash) for t in pending])
    number = (AnchorBatch.objects.aggregate(n=Max("number"))["n"] or 0) + 1
    batch = AnchorBatch.objects.create(number=number, root=root.hex(), size=len(pending))
    _store_proofs(batch, [t.seq for t in pending], [[p.hex() for p in path] for path in paths])
    return batch


def _store_proofs(batch: AnchorBatch, seqs: list[int], proofs: list[list[str]]) -> None:
    """Each trace's batch, position and audit path, in one statement per batch.

    (Django's bulk_update builds a CASE per row and column: a second per 1,000 traces,
    which was most of the anchoring time; see bench/README.md.)
    """
    table = Trace._meta.db_table
    as_json = [json.dumps(proof) for proof in proofs]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS t SET batch_id = %s, leaf_index = v.i, proof = v.p "
                "FROM unnest(%s::bigint[], %s::int[], %s::jsonb[]) AS v(s, i, p) "
                "WHERE t.seq = v.s",
                [batch.pk, seqs, list(range(len(seqs))), as_json],
            )
        else:
            cursor.executemany(
                f"UPDATE {table} SET batch_id = %s, leaf_index = %s, proof = %s WHERE seq = %s",
                [
                    (batch.pk, i, p, seq)
                    for i, (seq, p) in enumerate(zip(seqs, as_json, strict=True))
                ],
            )


def _anchor_batch(
    chain: Chain, contract: ChainContract, batch_pk: int, renumbered: bool = False
) -> bool:
    """Put one prepared batch's root on chain (or find it there). False if already done.

    Runs under the anchoring lock, so no other process works on this batch; the chain
    calls happen outside any database transaction, so a slow node never holds a lock
    that recording (an action's transaction) would wait for.
    """
    batch = AnchorBatch.objects.get(pk=batch_pk)
    if batch.status == AnchorBatch.Status.ANCHORED:
        return False
    root = bytes.fromhex(batch.root)
    sent = None
    found = chain.anchored(contract.address, batch.number)
    if found is None:
        sent, found = _send(chain, contract, batch, root)
    if sent is None:  # anchored earlier (a run that died): check it is ours
        if found.root != root or found.count != batch.size:
            if renumbered:
                raise ChainMismatch(f"batch {batch.number} conflicts with the chain again")
            _renumber(chain, contract, batch, found)
            return _anchor_batch(chain, contract, batch_pk, renumbered=True)
        sent = chain.anchoring_tx(contract.address, batch.number)
    AnchorBatch.objects.filter(pk=batch_pk, status=AnchorBatch.Status.PREPARED).update(
        status=AnchorBatch.Status.ANCHORED,
        contract=contract,
        tx_hash=sent.tx_hash if sent else "",
        block_number=sent.block_number if sent else None,
        anchored_at=timezone.now(),
        last_error="",
    )
    return True


def _renumber(chain: Chain, contract: ChainContract, batch: AnchorBatch, found) -> None:
    """The chain already holds another root under this batch's number (the hub's database
    was restored from a backup older than the chain, say). The number is not part of any
    proof, so the batch moves past every number in use; verify_traces keeps reporting the
    chain's batch the hub lacks."""
    on_chain = max((e["batch_id"] for e in chain.anchored_events(contract.address)), default=0)
    in_hub = AnchorBatch.objects.aggregate(n=Max("number"))["n"] or 0
    number = max(on_chain, in_hub) + 1
    logger.error(
        "batch %s: the chain holds root %s over %s traces under this number, the hub root %s "
        "over %s; anchoring it as batch %s instead (run verify_traces)",
        batch.number,
        found.root.hex(),
        found.count,
        batch.root,
        batch.size,
        number,
    )
    AnchorBatch.objects.filter(pk=batch.pk, status=AnchorBatch.Status.PREPARED).update(
        number=number
    )


def _send(chain: Chain, contract: ChainContract, batch: AnchorBatch, root: bytes):
    """(our receipt, None), or (None, what the chain holds) when the contract refuses
    because a transaction of a run that died anchored this batch id meanwhile."""
    try:
        tx_hash = chain.send_anchor(contract.address, batch.number, root, batch.size)
        # Mined and not reverted: the contract stored exactly this root and count.
        return chain.wait(tx_hash), None
    except (AnchorRefused, ChainMismatch):
        found = chain.anchored(contract.address, batch.number)
        if found is None:
            raise ChainMismatch(
                f"the contract refuses batch {batch.number}, yet holds no root for it"
            ) from None
        return None, found


def _note_failure(batch_pk: int, exc: Exception) -> None:
    message = str(exc)[:500]
    logger.warning("anchoring batch %s failed: %s", batch_pk, message)
    with transaction.atomic():
        batch = AnchorBatch.objects.select_for_update().filter(pk=batch_pk).first()
        if batch is not None and batch.status == AnchorBatch.Status.PREPARED:
            batch.attempts += 1
            batch.last_error = message
            batch.save(update_fields=["attempts", "last_error"])


def metadata_hash(document: dict) -> str:
    """SHA3-256 of a JSON document in canonical form (a dataset's metadata, say)."""
    return hashlib.sha3_256(canonical.canonical_bytes(document)).hexdigest()
