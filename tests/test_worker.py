"""Lifecycle side effects run in a real Celery worker process, through Redis."""

import pytest

from catalogue import services
from catalogue.models import Dataset, ZenodoSync
from conftest import wait_until
from tracer.chain import connect
from tracer.models import AnchorBatch, Trace
from tracer.tasks import anchor_pending_traces
from tracer.verification import verify_all

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def dois_on(org_a, zenodo_service):
    zenodo_service.reset()
    org_a.zenodo_token = "worker-token"
    org_a.zenodo_community = "eucaim"
    org_a.save()
    return org_a


def test_publishing_gets_a_doi_from_the_worker(
    celery_worker, dois_on, make_dataset, zenodo_service
):
    dataset = make_dataset("published")

    doi = wait_until(lambda: Dataset.objects.get(pk=dataset.pk).doi, timeout=30)
    # The DOI is stored as soon as Zenodo answers; the pending row goes in the worker's
    # next transaction.
    wait_until(lambda: not ZenodoSync.objects.filter(dataset=dataset).exists(), timeout=30)

    assert doi.startswith("10.5072/zenodo.")
    [deposition] = zenodo_service.depositions()
    assert deposition["submitted"] is True
    assert deposition["metadata"]["title"] == dataset.title


def test_invalidation_closes_the_record_through_the_worker(
    celery_worker, dois_on, make_dataset, provider_a, zenodo_service
):
    dataset = make_dataset("published")
    wait_until(lambda: Dataset.objects.get(pk=dataset.pk).doi, timeout=30)
    dataset.refresh_from_db()

    services.invalidate_dataset(dataset=dataset, by=provider_a, reason="Consent withdrawn")

    wait_until(lambda: not ZenodoSync.objects.filter(dataset=dataset).exists(), timeout=30)
    [deposition] = zenodo_service.depositions()
    assert deposition["metadata"]["access_right"] == "closed"
    dataset.refresh_from_db()
    assert dataset.doi  # a DOI is permanent


def test_a_lifecycle_trace_is_anchored_on_chain_by_the_worker(
    celery_worker, make_dataset, ganache, settings
):
    dataset = make_dataset("released")
    trace = Trace.objects.get(dataset_refs__dataset_id=str(dataset.pk), details="RELEASE")

    anchor_pending_traces.delay()

    batch = wait_until(
        lambda: (
            AnchorBatch.objects.filter(traces=trace, status=AnchorBatch.Status.ANCHORED)
            .exclude(tx_hash="")
            .first()
        ),
        timeout=60,
    )
    chain = connect(ganache.url, settings.GANACHE_DEVELOPMENT_KEY)
    on_chain = chain.anchored(batch.contract.address, batch.number)
    assert (on_chain.root.hex(), on_chain.count) == (batch.root, batch.size)
    assert chain.anchoring_tx(batch.contract.address, batch.number).tx_hash == batch.tx_hash
    assert verify_all(chain).ok
