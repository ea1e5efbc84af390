"""Recording (the outbox) and anchoring on the in-process EVM."""

from __future__ import annotations

import pytest
from django.db import transaction

from catalogue import services as catalogue
from hub.errors import ValidationFailed
from tracer import merkle, services
from tracer.models import Action, AnchorBatch, Trace
from tracer.tests.factories import record_use
from tracer.verification import verify_all


@pytest.mark.django_db
def test_each_lifecycle_action_leaves_one_trace_with_its_detail(make_dataset, provider_a):
    dataset = make_dataset(state="published")
    catalogue.update_dataset(
        dataset=dataset, by=provider_a, license="https://creativecommons.org/licenses/by/4.0/"
    )
    catalogue.invalidate_dataset(
        dataset=dataset, by=provider_a, reason="Consent withdrawn by Dr Who"
    )

    traces = list(Trace.objects.filter(dataset_refs__dataset_id=str(dataset.pk)))
    assert [(t.action, t.details) for t in traces] == [
        ("CREATE_DATASET", ""),
        ("UPDATE_DATASET", "RELEASE"),
        ("UPDATE_DATASET", "PUBLISH"),
        ("UPDATE_DATASET", "LICENSE_UPDATED"),
        ("UPDATE_DATASET", "INVALIDATE"),
    ]
    created = traces[0]
    assert created.resources[0]["id"] == "metadata"
    assert created.user_pseudonym == services.pseudonym(provider_a.username)
    assert all(t.caller == "hub.catalogue" for t in traces)


@pytest.mark.django_db
def test_a_new_version_and_draft_edits_are_traced_with_their_metadata_hash(
    make_dataset, provider_a
):
    first = make_dataset(state="published")
    draft = catalogue.create_new_version(dataset=first, by=provider_a)
    created = Trace.objects.get(dataset_refs__dataset_id=str(draft.pk))
    catalogue.update_dataset(dataset=draft, by=provider_a, title="Lung CT, second release")
    edited = Trace.objects.get(dataset_refs__dataset_id=str(draft.pk), details="METADATA_UPDATED")

    assert (created.action, created.subject_id) == ("CREATE_DATASET", str(first.pk))
    before = {r["id"]: r["hash"] for r in created.resources}
    after = {r["id"]: r["hash"] for r in edited.resources}
    assert set(after) == {"metadata"} and after["metadata"] != before["metadata"]


@pytest.mark.django_db
def test_studies_are_committed_by_one_hash_that_shows_no_study_id(make_dataset):
    studies = [{"id": f"ACC-2026{n:04d}", "sha3_256": f"{n:02x}" * 32} for n in range(20)]
    dataset = make_dataset(studies=studies)

    trace = Trace.objects.get(dataset_refs__dataset_id=str(dataset.pk))

    assert [r["id"] for r in trace.resources] == ["metadata", "studies"]
    assert "ACC-2026" not in str(trace.resources)
    assert trace.resources[1]["hash"] == services.metadata_hash({"studies": studies})


@pytest.mark.django_db
def test_an_action_that_fails_leaves_no_trace_and_a_trace_never_outlives_its_action(
    make_dataset, provider_a
):
    dataset = make_dataset(state="draft")
    before = Trace.objects.count()

    with pytest.raises(Exception):  # noqa: B017 - the action itself fails (invalid transition)
        catalogue.publish_dataset(dataset=dataset, by=provider_a)
    with pytest.raises(RuntimeError), transaction.atomic():
        catalogue.release_dataset(dataset=dataset, by=provider_a)
        raise RuntimeError("the request dies after the release, before commit")

    assert Trace.objects.count() == before
    dataset.refresh_from_db()
    assert dataset.state == "draft"


@pytest.mark.django_db(transaction=True)
def test_record_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="inside the action's transaction"):
        services.record(action=Action.HARVEST, caller="hub.harvester", dataset_ids=["x"])


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"action": "DELETE_EVERYTHING"}, "userAction"),
        ({"action": Action.UPDATE_DATASET, "details": "RENAMED"}, "details"),
        ({"dataset_ids": ["John Smith <john@example.org>"]}, "datasetsIds"),
        ({"dataset_ids": []}, "datasetsIds"),
        ({"tool_name": ""}, "toolName"),
        ({"resources": [{"id": "images", "contentType": "FILE_DATA", "data": "..."}]}, "resources"),
        ({"resources": [{"id": "images", "hash": "not-a-digest"}]}, "resources"),
        ({"subject_id": "request of Jane Doe"}, "subjectId"),
    ],
)
def test_a_trace_holds_identifiers_and_hashes_only(overrides, field):
    with pytest.raises(ValidationFailed) as refused, transaction.atomic():
        record_use(**overrides)
    assert refused.value.details["field"] == field


@pytest.mark.django_db
def test_chaimeleon_base64_hashes_are_stored_as_hex():
    digest = bytes(range(32))
    import base64

    (trace,) = record_use(
        resources=[
            {
                "id": "images",
                "contentType": "HASH",
                "hashType": "SHA3_256",
                "hash": base64.b64encode(digest).decode(),
            }
        ]
    )
    assert trace.resources == [services.hash_resource("images", digest.hex())]


@pytest.mark.django_db
def test_anchoring_batches_pending_traces_and_every_proof_verifies(in_process_chain, settings):
    settings.TRACER_BATCH_SIZE = 4
    traces = record_use(10)

    run = services.anchor_pending()

    assert run.anchored == [1, 2, 3] and run.traces == 10
    assert [b.size for b in AnchorBatch.objects.all()] == [4, 4, 2]
    chain = services.chain_from_settings()
    contract = AnchorBatch.objects.first().contract
    for trace in Trace.objects.filter(pk__in=[t.pk for t in traces]).select_related("batch"):
        on_chain = chain.anchored(contract.address, trace.batch.number)
        leaf = bytes.fromhex(trace.computed_leaf_hash())
        path = [bytes.fromhex(p) for p in trace.proof]
        assert merkle.verify(leaf, trace.leaf_index, on_chain.count, path, on_chain.root)
    report = verify_all(chain)
    assert report.ok and report.traces == 10 and report.pending == 0
    assert str(services.anchor_pending()) == "anchored 0 traces in 0 batches"


@pytest.mark.django_db
def test_verify_reports_a_tampered_row_a_deleted_trace_and_a_lost_batch(in_process_chain, settings):
    settings.TRACER_BATCH_SIZE = 3
    first, second, third, *_ = record_use(6)
    services.anchor_pending()

    Trace.objects.filter(pk=first.pk).update(tool_version="9.9")  # content changed
    forged = Trace.objects.get(pk=second.pk)  # content and its leaf changed together
    forged.tool_name = "rstudio"
    forged.leaf_hash = forged.computed_leaf_hash()
    forged.save()
    Trace.objects.filter(pk=third.pk).delete()
    lost = AnchorBatch.objects.get(number=2)
    lost.traces.all().delete()
    lost.delete()

    problems = [str(p) for p in verify_all(services.chain_from_settings()).problems]

    assert any(str(first.uuid) in p and "changed after it was recorded" in p for p in problems)
    assert any(str(second.uuid) in p and "does not lead to batch 1's root" in p for p in problems)
    assert any("1 trace(s) of batch 1 are missing" in p and "positions 2" in p for p in problems)
    assert any("batch 2" in p and "missing from the hub" in p for p in problems)


@pytest.mark.django_db
def test_without_a_chain_traces_wait(settings):
    settings.CHAIN_RPC_URL = ""
    record_use(2)
    assert "traces wait" in str(services.anchor_pending())
    assert Trace.objects.filter(batch__isnull=True).count() == 2
