"""Pulls from real HTTP nodes on loopback: paging, conditional GET, withdrawals, faults."""

from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.models import Dataset
from harvester import services
from harvester.models import HarvestJob, NodePage, SourceRecord
from harvester.tests.catalogues import INVALID, page_turtle
from harvester.tests.nodeserver import NodeServer, Reply, paged_catalogue
from tracer.models import Trace

DATA = Path(__file__).parent / "data"
PAGE = 10


@pytest.fixture
def node_server():
    with NodeServer() as server:
        yield server


@pytest.fixture
def fast_limits(settings):
    settings.HARVEST_REQUEST_TIMEOUT_SECONDS = 1.0
    settings.HARVEST_TOTAL_TIMEOUT_SECONDS = 5.0
    settings.HARVEST_MAX_PAGES = 50


def serve(server, n_records, *, path="/dcat", invalid_every=10, revisions=None, drop=(), **kw):
    """The node's catalogue: n_records datasets, PAGE per page, ETags on."""
    numbers = [n for n in range(n_records) if n not in drop]
    pages = [
        page_turtle(
            numbers[i : i + PAGE],
            base=server.url("/datasets/"),
            invalid_every=invalid_every,
            revisions=revisions,
        )
        for i in range(0, len(numbers), PAGE)
    ]
    routes = paged_catalogue(pages, base=server.url(path), total_items=len(numbers), **kw)
    server.routes.update(routes)
    return routes


def register(hub_admin, organisation, server, name="Node", path="/dcat", **kw):
    node, _ = services.register_node(
        by=hub_admin, organisation=organisation, name=name, base_url=server.url(path), **kw
    )
    return node


def pull(node) -> HarvestJob:
    job = services.request_harvest(node=node, by=None, requested_by="test")
    return services.run_pull(job.pk)


def snapshot(node):
    """Everything a run could change for a node."""
    datasets = Dataset.objects.filter(source_node=node.source_label).order_by(
        "identifier", "created"
    )
    return (
        [(d.identifier, d.state, d.version, d.modified, d.invalidation_reason) for d in datasets],
        sorted(
            SourceRecord.objects.filter(node=node).values_list("iri", "content_hash", "withdrawn")
        ),
        sorted(NodePage.objects.filter(node=node).values_list("url", "etag", "next_url")),
    )


# -- the normal life of a node ----------------------------------------------------------


def test_first_pull_follows_every_page_and_reports_each_record(node_server, hub_admin, org_a):
    serve(node_server, 30, etag="auto")
    node = register(hub_admin, org_a, node_server)
    job = pull(node)
    assert job.status == "succeeded", job.error
    assert job.pages_done == 3 and job.total_items == 30 and job.progress_percent == 100
    assert job.counts == {"added": 27, "updated": 0, "unchanged": 0, "withdrawn": 0, "rejected": 3}
    rejected = {r.identifier: r.violations for r in job.records.filter(result="rejected")}
    assert rejected["ds-9"] == [f"dataset ds-9: {INVALID['no_description']}"]
    assert rejected["ds-19"] == [f"dataset ds-19: {INVALID['no_contact']}"]
    datasets = Dataset.objects.filter(organisation=org_a, source_node=node.source_label)
    assert datasets.count() == 27 and set(datasets.values_list("state", flat=True)) == {"draft"}
    harvest = Trace.objects.get(action="HARVEST")
    assert harvest.subject_id == str(job.pk)
    assert set(harvest.dataset_ids) == {str(d.pk) for d in datasets}


def test_unchanged_node_costs_a_conditional_get_per_page(node_server, hub_admin, org_a):
    serve(node_server, 30, etag="auto")
    node = register(hub_admin, org_a, node_server)
    pull(node)
    before = snapshot(node)
    node_server.clear_log()
    job = pull(node)
    assert job.status == "succeeded", job.error
    assert job.pages_not_modified == 3
    assert job.counts == {"added": 0, "updated": 0, "unchanged": 27, "withdrawn": 0, "rejected": 3}
    assert all(r.headers.get("If-None-Match") for r in node_server.requests)
    assert snapshot(node) == before


def test_changed_record_is_updated_and_the_rest_left_alone(node_server, hub_admin, org_a):
    serve(node_server, 30)
    node = register(hub_admin, org_a, node_server)
    pull(node)
    untouched = Dataset.objects.get(identifier="ds-3").modified
    serve(node_server, 30, revisions={12: 5})
    job = pull(node)
    assert job.counts["updated"] == 1 and job.counts["unchanged"] == 26, job.counts
    assert Dataset.objects.get(identifier="ds-12").number_of_studies == 40 + 12 + 5
    assert Dataset.objects.get(identifier="ds-3").modified == untouched


def test_record_gone_from_a_complete_pull_is_withdrawn_never_deleted(node_server, hub_admin, org_a):
    serve(node_server, 20)
    node = register(hub_admin, org_a, node_server)
    pull(node)
    serve(node_server, 20, drop={5})
    job = pull(node)
    assert job.counts["withdrawn"] == 1
    gone = Dataset.objects.get(identifier="ds-5")
    assert gone.state == "invalidated" and gone.invalidation_reason == "withdrawn at source"
    assert job.records.get(result="withdrawn").identifier == "ds-5"
    # Back at the source: back in the catalogue, in the state it had.
    serve(node_server, 20)
    job = pull(node)
    gone.refresh_from_db()
    assert gone.state == "draft" and job.counts["withdrawn"] == 0


def test_released_dataset_gets_a_new_draft_version_on_change(
    node_server, hub_admin, org_a, provider_a
):
    from catalogue import services as catalogue

    serve(node_server, 5, invalid_every=0)
    node = register(hub_admin, org_a, node_server)
    pull(node)
    released = catalogue.release_dataset(
        dataset=Dataset.objects.get(identifier="ds-2"), by=provider_a
    )
    serve(node_server, 5, invalid_every=0, revisions={2: 1})
    pull(node)
    released.refresh_from_db()
    assert released.state == "released" and released.number_of_studies == 42
    draft = Dataset.objects.get(identifier="ds-2", state="draft")
    assert draft.previous_version_id == released.pk and draft.number_of_studies == 43


def test_auto_release_node(node_server, hub_admin, org_a):
    serve(node_server, 3, invalid_every=0)
    node = register(hub_admin, org_a, node_server, auto_release=True)
    pull(node)
    assert set(Dataset.objects.values_list("state", flat=True)) == {"released"}


@pytest.mark.parametrize("fmt", ["turtle", "xml", "json-ld", "nt", "trig", "nquads"])
@pytest.mark.parametrize("style", ["PagedCollection", "PartialCollectionView"])
def test_every_serialisation_and_paging_style(node_server, hub_admin, org_a, fmt, style):
    serve(node_server, 25, fmt=fmt, style=style)
    node = register(hub_admin, org_a, node_server)
    job = pull(node)
    assert job.status == "succeeded", job.error
    assert (job.pages_done, job.added, job.rejected) == (3, 23, 2)


def test_node_mappings_extend_the_common_ones(node_server, hub_admin, org_a):
    text = page_turtle([1], base=node_server.url("/datasets/"), invalid_every=0)
    text = text.replace('"TAC"', '"Risonanza"').replace('"LIVER"', '"Fegato"')
    node_server.routes["/dcat"] = Reply(text)
    node = register(
        hub_admin,
        org_a,
        node_server,
        mappings={"modality": {"Risonanza": "MR"}, "body_part": {"Fegato": "LIVER"}},
    )
    pull(node)
    dataset = Dataset.objects.get(identifier="ds-1")
    assert dataset.modalities == ["MR"] and dataset.body_parts == ["LIVER"]


def test_official_dcat_ap_examples_are_rejected_with_reasons(node_server, hub_admin, org_a):
    for name, media in (("ttl", "text/turtle"), ("jsonld", "application/ld+json")):
        body = (DATA / "dcat-ap" / f"example-bee-population.{name}").read_bytes()
        node_server.routes[f"/{name}"] = Reply(body, content_type=media)
    for name in ("ttl", "jsonld"):
        node = register(hub_admin, org_a, node_server, name=name, path=f"/{name}")
        job = pull(node)
        assert job.status == "succeeded", job.error
        assert job.added == 0 and job.rejected >= 1
        messages = " ".join(m for r in job.records.all() for m in r.violations)
        assert "dcat:contactPoint is required and missing" in messages
        assert "dct:accessRights is required and missing" in messages
    assert not Dataset.objects.exists()


def test_healthdcat_example_is_accepted(node_server, hub_admin, org_a):
    node_server.routes["/dcat"] = Reply((DATA / "healthdcat-imaging-dataset.ttl").read_bytes())
    job = pull(register(hub_admin, org_a, node_server))
    assert job.added == 1, [r.violations for r in job.records.all()]


# -- faults: the failing node's data untouched, the other node's complete -------------------

FAULTS = {
    "server error": lambda r: Reply(b"oops", status=500),
    "timeout": lambda r: Reply(r.data, delay=3),
    "malformed": lambda r: Reply(
        b"@prefix dcat: <http://www.w3.org/ns/dcat#> . <a> dcat:x ",
    ),
    "truncated": lambda r: Reply(r.data, truncated=True),
    "oversized": lambda r: Reply(r.data + b"#" * 40_000),
    "other host": lambda r: Reply(b"", status=302, redirect="http://localhost:9/dcat"),
}
WORDS = {
    "server error": "500",
    "timeout": "",
    "malformed": "Turtle",
    "truncated": "",
    "oversized": "",
    "other host": "localhost",
}


@pytest.mark.parametrize("fault", [*FAULTS, "endless", "loop"])
def test_a_failing_node_keeps_its_data_and_spares_the_others(
    node_server, hub_admin, org_a, org_b, fast_limits, settings, fault
):
    settings.HARVEST_MAX_PAGE_BYTES = 30_000
    routes = serve(node_server, 30)
    serve(node_server, 20, path="/other")
    failing = register(hub_admin, org_a, node_server, name="failing")
    other = register(hub_admin, org_b, node_server, name="other", path="/other")
    assert pull(failing).status == "succeeded"
    before = snapshot(failing)

    page2 = next(path for path in routes if path.endswith("page=2"))
    page3 = node_server.url("/dcat?page=3")
    if fault == "endless":
        endless = node_server.url("/endless?page=3")
        node_server.routes[page2] = Reply(routes[page2].data.decode().replace(page3, endless))
        node_server.serve_endless("/endless")
    elif fault == "loop":
        first = node_server.url("/dcat")
        node_server.routes[page2] = Reply(routes[page2].data.decode().replace(page3, first))
    else:
        node_server.routes[page2] = FAULTS[fault](routes[page2])
    serve(node_server, 30, drop={1, 2, 3}, path="/unused")  # a changed catalogue elsewhere

    job = pull(failing)
    assert job.status == "failed"
    assert job.error and WORDS.get(fault, "") in job.error
    assert job.counts == dict.fromkeys(job.counts, 0) and not job.records.exists()
    assert snapshot(failing) == before

    other_job = pull(other)
    assert other_job.status == "succeeded" and other_job.added == 18
    assert Dataset.objects.filter(organisation=org_b).count() == 18


def test_a_failed_run_leaves_the_next_one_a_clean_start(node_server, hub_admin, org_a):
    routes = serve(node_server, 20)
    node = register(hub_admin, org_a, node_server)
    page2 = next(path for path in routes if path.endswith("page=2"))
    good = routes[page2]
    node_server.routes[page2] = Reply(b"", status=503)
    assert pull(node).status == "failed"
    assert not Dataset.objects.exists()  # page 1's records were never applied
    node_server.routes[page2] = good
    assert pull(node).added == 18


# -- scheduling, command line ------------------------------------------------------------


def test_due_nodes_are_queued_once(
    node_server, hub_admin, org_a, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    serve(node_server, 3)
    due = register(hub_admin, org_a, node_server, name="due", schedule_minutes=60)
    later = register(hub_admin, org_a, node_server, name="later", schedule_minutes=60)
    manual = register(hub_admin, org_a, node_server, name="manual", schedule_minutes=0)
    later.next_harvest_at = timezone.now() + timedelta(minutes=30)
    later.save()
    with django_capture_on_commit_callbacks(execute=False):
        jobs = services.queue_due_harvests()
        assert [j.node for j in jobs] == [due]
        assert services.queue_due_harvests() == []  # scheduled an hour ahead now
    due.refresh_from_db()
    assert due.next_harvest_at > timezone.now() + timedelta(minutes=59)
    assert not manual.jobs.exists()


def test_harvest_task_runs_the_pull(node_server, hub_admin, org_a, settings):
    from harvester.tasks import harvest_node

    serve(node_server, 5, invalid_every=0)
    node = register(hub_admin, org_a, node_server)
    job = HarvestJob.objects.create(node=node)
    assert harvest_node(str(job.pk)) == "succeeded"
    assert harvest_node(str(job.pk)) == "succeeded"  # redelivered: nothing done twice
    assert Dataset.objects.count() == 5


def test_harvest_command(node_server, hub_admin, org_a, capsys):
    serve(node_server, 10)
    node = register(hub_admin, org_a, node_server, name="cli node")
    call_command("harvest", "cli node")
    out = capsys.readouterr()
    assert "succeeded (9 added" in out.out
    assert f"dataset ds-9: {INVALID['no_description']}" in out.out
    assert "page 1" in out.err
    with pytest.raises(CommandError, match="No node"):
        call_command("harvest", "nowhere")
    node_server.routes.clear()
    with pytest.raises(CommandError, match="Harvest failed"):
        call_command("harvest", str(node.pk))


# -- found in review: each of these once went wrong --------------------------------------


def test_a_record_back_at_its_source_brings_back_every_withdrawn_version(
    node_server, hub_admin, org_a
):
    serve(node_server, 3, invalid_every=0)
    node = register(hub_admin, org_a, node_server, auto_release=True)
    pull(node)
    serve(node_server, 3, invalid_every=0, revisions={1: 1})
    pull(node)  # ds-1: v1 released, v2 a draft
    serve(node_server, 3, invalid_every=0, drop={1})
    pull(node)
    assert set(Dataset.objects.filter(identifier="ds-1").values_list("state", flat=True)) == {
        "invalidated"
    }
    serve(node_server, 3, invalid_every=0, revisions={1: 1})
    pull(node)
    versions = Dataset.objects.filter(identifier="ds-1").order_by("created")
    assert [v.state for v in versions] == ["released", "draft"]


def test_a_record_the_catalogue_refused_is_tried_again(node_server, hub_admin, org_a, provider_a):
    from catalogue import services as catalogue

    serve(node_server, 3, invalid_every=0)
    node = register(hub_admin, org_a, node_server)
    pull(node)
    held = Dataset.objects.get(identifier="ds-1")
    catalogue.invalidate_dataset(dataset=held, by=provider_a, reason="Consent under review")
    serve(node_server, 3, invalid_every=0, revisions={1: 1})
    refused = pull(node).records.get(identifier="ds-1")
    assert refused.result == "rejected" and "reactivate it there" in refused.reason
    catalogue.reactivate_dataset(dataset=held, by=provider_a)
    retried = pull(node).records.get(identifier="ds-1")
    assert retried.result == "updated"
    held.refresh_from_db()
    assert held.number_of_studies == 42


def test_a_record_pushed_while_a_pull_runs_is_not_withdrawn_by_it(node_server, hub_admin, org_a):
    serve(node_server, 20, invalid_every=0)
    node = register(hub_admin, org_a, node_server, mode="both")
    job = services.request_harvest(node=node, by=None)

    def push_meanwhile(job):
        if job.pages_done == 1:
            services.receive_push(
                node=node,
                body=page_turtle([99], base=node_server.url("/datasets/")).encode(),
                content_type="text/turtle",
            )

    job = services.run_pull(job.pk, on_page=push_meanwhile)
    assert job.status == "succeeded" and job.withdrawn == 0
    assert Dataset.objects.get(identifier="ds-99").state == "draft"


def test_a_released_dataset_keeps_its_released_text_when_only_the_rest_changes(
    node_server, hub_admin, org_a, provider_a
):
    from catalogue import services as catalogue

    serve(node_server, 2, invalid_every=0)
    node = register(hub_admin, org_a, node_server)
    pull(node)
    dataset = catalogue.release_dataset(
        dataset=Dataset.objects.get(identifier="ds-0"), by=provider_a
    )
    released_text = dataset.normalised_rdf
    routes = serve(node_server, 2, invalid_every=0)
    first = next(iter(routes))
    body = routes[first].data.decode().replace("ds-0/access", "ds-0/access-v2")
    node_server.routes[first] = Reply(body)
    pull(node)
    dataset.refresh_from_db()
    assert dataset.normalised_rdf == released_text
    assert Dataset.objects.filter(identifier="ds-0").count() == 1


def test_internal_node_addresses_refused_when_production_says_so(
    node_server, hub_admin, org_a, settings
):
    from hub.errors import ValidationFailed

    settings.HARVEST_ALLOW_INTERNAL_ADDRESSES = False
    with pytest.raises(ValidationFailed, match="internal address"):
        register(hub_admin, org_a, node_server)
    settings.HARVEST_ALLOWED_HOSTS = ["127.0.0.1"]
    serve(node_server, 3)
    assert pull(register(hub_admin, org_a, node_server)).status == "succeeded"


def test_only_administrators_move_a_node(node_server, hub_admin, provider_a, org_a):
    from hub.errors import NotAllowed, ValidationFailed

    node = register(hub_admin, org_a, node_server)
    with pytest.raises(NotAllowed):
        services.update_node(node=node, by=provider_a, base_url="http://elsewhere.example/")
    services.update_node(node=node, by=provider_a, schedule_minutes=60)
    with pytest.raises(ValidationFailed, match="mode"):
        services.update_node(node=node, by=hub_admin, mode="sideways")


def test_a_lost_job_does_not_block_the_node(node_server, hub_admin, org_a, settings):
    from datetime import timedelta

    from django.utils import timezone

    serve(node_server, 3)
    node = register(hub_admin, org_a, node_server)
    lost = HarvestJob.objects.create(node=node, status="running")
    HarvestJob.objects.filter(pk=lost.pk).update(created=timezone.now() - timedelta(days=1))
    job = pull(node)
    assert job.status == "succeeded"
    lost.refresh_from_db()
    assert lost.status == "failed" and "Lost" in lost.error


def test_a_broker_that_cannot_be_reached_fails_the_job(
    node_server, hub_admin, org_a, monkeypatch, django_capture_on_commit_callbacks
):
    from harvester import tasks

    def down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(tasks.harvest_node, "delay", down)
    node = register(hub_admin, org_a, node_server)
    with django_capture_on_commit_callbacks(execute=True):
        job = services.request_harvest(node=node, by=None)
    job.refresh_from_db()
    assert job.status == "failed" and "broker" in job.error
    with django_capture_on_commit_callbacks(execute=False):
        assert services.request_harvest(node=node, by=None).status == "queued"


def test_a_page_error_never_echoes_the_bytes(node_server, hub_admin, org_a):
    node_server.routes["/dcat"] = Reply(
        b"SECRET_API_KEY=hunter2 internal-only", content_type="text/turtle"
    )
    job = pull(register(hub_admin, org_a, node_server))
    assert job.status == "failed" and "Turtle" in job.error
    assert "SECRET" not in job.error


def test_worker_processes_give_the_same_run_as_one_process(
    node_server, hub_admin, org_a, org_b, settings
):
    serve(node_server, 45)
    serial = register(hub_admin, org_a, node_server, name="serial")
    settings.HARVEST_WORKER_PROCESSES = 2
    settings.HARVEST_PARALLEL_MIN_RECORDS = 1
    parallel = register(hub_admin, org_b, node_server, name="parallel")
    one, two = pull(serial), pull(parallel)
    assert one.counts == two.counts and two.pages_done == 5

    def report(job):
        return [(r.iri, r.result, r.violations, r.warnings) for r in job.records.order_by("id")]

    assert report(one) == report(two)
    assert [p.record_iris for p in NodePage.objects.filter(node=parallel).order_by("id")] == [
        p.record_iris for p in NodePage.objects.filter(node=serial).order_by("id")
    ]
    # Unchanged on the second run, page by page, in the workers too.
    serve(node_server, 45, revisions={7: 1})
    again = pull(parallel)
    assert again.counts["updated"] == 1 and again.counts["unchanged"] == 40


def test_a_new_model_checks_unchanged_records_again(node_server, hub_admin, org_a, monkeypatch):
    from harvester import staging

    serve(node_server, 10)
    node = register(hub_admin, org_a, node_server)
    pull(node)
    assert pull(node).counts["unchanged"] == 9  # same model: nothing checked
    monkeypatch.setattr(staging, "model_digest", lambda: "shapes of a newer hub")
    again = pull(node)
    rejected = again.records.get(result="rejected")
    assert not rejected.reason.endswith("(unchanged since it was rejected)")
    assert again.counts["unchanged"] == 9 and not again.records.filter(result="updated").exists()
