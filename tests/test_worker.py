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


def test_node_harvests_run_in_the_worker_and_a_failing_node_spares_the_other(
    celery_worker, hub_admin, org_a, org_b
):
    from harvester import services as harvester
    from harvester.models import HarvestJob
    from harvester.tests.catalogues import page_turtle
    from harvester.tests.nodeserver import NodeServer, Reply, paged_catalogue

    with NodeServer() as node:
        pages = [
            page_turtle(range(i, i + 10), base=node.url("/ds/"), invalid_every=10) for i in (0, 10)
        ]
        node.routes.update(paged_catalogue(pages, base=node.url("/good")))
        node.routes["/broken"] = Reply(b"upstream down", status=502)
        good, _ = harvester.register_node(
            by=hub_admin, organisation=org_a, name="good", base_url=node.url("/good")
        )
        broken, _ = harvester.register_node(
            by=hub_admin, organisation=org_b, name="broken", base_url=node.url("/broken")
        )
        jobs = [harvester.request_harvest(node=n, by=hub_admin) for n in (broken, good)]

        def finished():
            states = HarvestJob.objects.filter(pk__in=[j.pk for j in jobs])
            return all(j.done for j in states) and {j.node_id: j for j in states}

        done = wait_until(finished, timeout=60)
    assert done[broken.pk].status == "failed" and "502" in done[broken.pk].error
    assert done[good.pk].status == "succeeded" and done[good.pk].added == 18
    assert Dataset.objects.filter(organisation=org_a).count() == 18
    assert not Dataset.objects.filter(organisation=org_b).exists()
