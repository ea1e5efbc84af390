"""The harvester's pages: the nodes, a node with its settings and runs, and a run's
report, driven with Django's test client as each kind of user. Runs and their records
are written directly (no node is fetched): the pages only read them."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import page_text as text
from conftest import signed_in as as_
from harvester import services
from harvester.models import HarvestJob, HarvestRecord, Node
from hub import charts
from hub.models import hash_token

pytestmark = pytest.mark.django_db

NODES = reverse("harvester:nodes")
NEW = reverse("harvester:node-new")
Result = HarvestRecord.Result
Status = HarvestJob.Status
VIOLATION = "dataset ds-17: dct:description is required and missing"


@pytest.fixture(autouse=True)
def _node_hosts(settings):
    settings.HARVEST_ALLOWED_HOSTS = ["node-a.example", "node-b.example"]


def page_of(node) -> str:
    return reverse("harvester:node", args=[node.pk])


def job_page(job) -> str:
    return reverse("harvester:job", args=[job.pk])


def progress_of(job) -> str:
    return reverse("harvester:job-progress", args=[job.pk])


def make_node(by, organisation, name="Node A", **kwargs) -> Node:
    kwargs.setdefault(
        "base_url", f"https://{organisation.slug.replace('hospital', 'node')}.example/catalogue"
    )
    node, _token = services.register_node(by=by, organisation=organisation, name=name, **kwargs)
    return node


def make_job(node, status=Status.SUCCEEDED, **fields) -> HarvestJob:
    now = timezone.now()
    if status in (Status.SUCCEEDED, Status.FAILED):
        fields.setdefault("started", now)
        fields.setdefault("finished", now)
    elif status == Status.RUNNING:
        fields.setdefault("started", now)
    return HarvestJob.objects.create(node=node, status=status, requested_by="tester", **fields)


def make_record(job, result, identifier, **fields) -> HarvestRecord:
    return HarvestRecord.objects.create(
        job=job,
        iri=f"https://node-a.example/datasets/{identifier}",
        identifier=identifier,
        result=result,
        **fields,
    )


@pytest.fixture
def node_a(hub_admin, org_a):
    return make_node(hub_admin, org_a, "Hospital A PACS catalogue")


@pytest.fixture
def node_b(hub_admin, org_b):
    return make_node(hub_admin, org_b, "Hospital B catalogue")


@pytest.fixture
def job_a(node_a, make_dataset):
    dataset = make_dataset(title="Harvested lung CT")
    job = make_job(
        node_a, added=1, unchanged=1, rejected=2, pages_done=3, records_seen=4, total_items=4
    )
    make_record(job, Result.ADDED, "ds-1", dataset=dataset)
    make_record(job, Result.UNCHANGED, "ds-2")
    make_record(
        job,
        Result.REJECTED,
        "ds-17",
        reason=VIOLATION,
        violations=[VIOLATION, "dataset ds-17: dct:title is required and missing"],
        warnings=["dataset ds-17: dcat:contactPoint is recommended"],
    )
    make_record(
        job,
        Result.REJECTED,
        "ds-18",
        violations=["dataset ds-18: modality “XYZ” is not a DICOM modality"],
    )
    return job


def settings_post(node, **changes) -> dict:
    data = {
        "schedule_minutes": node.schedule_minutes,
        "auto_release": "on" if node.auto_release else "",
        "enabled": "on" if node.enabled else "",
        "mappings": "",
    }
    return {k: v for k, v in (data | changes).items() if v != ""}


def field_error(html: str, name: str) -> str:
    match = re.search(rf'<p class="field__error" id="id_{name}_error">(.*?)</p>', html, re.S)
    assert match, f"no error shown next to {name}"
    return html_lib.unescape(match.group(1)).strip()


# --- who sees what ----------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(job_a, node_a):
    for url in (NODES, NEW, page_of(node_a), job_page(job_a), progress_of(job_a)):
        response = as_(None).get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_a_researcher_is_refused_and_sees_no_nodes_link(researcher, node_a, job_a):
    assert as_(researcher).get(NODES).status_code == 403
    assert as_(researcher).get(page_of(node_a)).status_code == 404
    assert as_(researcher).get(job_page(job_a)).status_code == 404
    response = as_(researcher).get(progress_of(job_a))
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert f'href="{NODES}"' not in text(as_(researcher).get(reverse("catalogue:search")))


def test_a_provider_sees_its_organisations_nodes_and_runs_only(provider_a, node_a, node_b, job_a):
    job_b = make_job(node_b)

    response = as_(provider_a).get(NODES)

    html = text(response)
    assert response.status_code == 200
    assert f'href="{NODES}" aria-current="page">Nodes<' in html
    assert page_of(node_a) in html and page_of(node_b) not in html
    assert "Hospital B catalogue" not in html
    assert job_page(job_a) in html  # the last run, with its counts
    assert "1 added, 0 updated, 1 unchanged, 0 withdrawn, 2 rejected" in html
    assert "Register a node" not in html
    assert as_(provider_a).get(page_of(node_a)).status_code == 200
    assert as_(provider_a).get(job_page(job_a)).status_code == 200
    for url in (page_of(node_b), job_page(job_b), progress_of(job_b)):
        assert as_(provider_a).get(url).status_code == 404, url
    harvest_b = reverse("harvester:node-harvest", args=[node_b.pk])
    assert as_(provider_a).post(harvest_b).status_code == 404
    assert not node_b.jobs.exclude(pk=job_b.pk).exists()


def test_an_administrator_sees_every_node_and_may_register_one(hub_admin, node_a, node_b):
    html = text(as_(hub_admin).get(NODES))

    assert page_of(node_a) in html and page_of(node_b) in html
    assert "Hospital A" in html and "Hospital B" in html
    assert "never run" in html
    assert f'href="{NEW}"' in html


# --- registering a node -----------------------------------------------------------------


def test_a_provider_cannot_register_a_node(provider_a, org_a):
    assert as_(provider_a).get(NEW).status_code == 403
    response = as_(provider_a).post(
        NEW, {"organisation": org_a.slug, "name": "Mine", "mode": "push", "schedule_minutes": 0}
    )
    assert response.status_code == 403
    assert not Node.objects.exists()


def test_registering_a_node_shows_its_token_once(hub_admin, org_a):
    browser = as_(hub_admin)
    response = browser.post(
        NEW,
        {
            "organisation": org_a.slug,
            "name": "Hospital A PACS",
            "base_url": "https://node-a.example/catalogue",
            "mode": "both",
            "schedule_minutes": 720,
            "auto_release": "on",
        },
    )

    node = Node.objects.get()
    assert response.status_code == 302 and response["Location"] == page_of(node)
    assert (node.organisation, node.mode, node.schedule_minutes, node.auto_release) == (
        org_a,
        "both",
        720,
        True,
    )
    page = browser.get(page_of(node))
    html = text(page)
    token = re.search(r'<code class="break" id="push-token">([^<]+)</code>', html).group(1)
    assert hash_token(token) == node.push_token_hash
    assert "it will not be shown again" in html
    assert "Node “Hospital A PACS” registered." in html
    assert page["Cache-Control"] == "no-store"
    again = text(browser.get(page_of(node)))
    assert token not in again and "push-token" not in again
    assert node.push_token_prefix in again  # the prefix alone identifies it


def test_a_refused_registration_says_why_next_to_the_field(hub_admin, org_a):
    response = as_(hub_admin).post(
        NEW, {"organisation": org_a.slug, "name": "No URL", "mode": "pull", "schedule_minutes": 60}
    )

    assert response.status_code == 400
    assert (
        field_error(text(response), "base_url") == "base_url is required for a node the hub pulls."
    )
    assert not Node.objects.exists()


# --- harvest now, token ------------------------------------------------------------------


def test_harvest_now_queues_a_run_and_opens_its_page(
    provider_a, node_a, django_capture_on_commit_callbacks
):
    harvest = reverse("harvester:node-harvest", args=[node_a.pk])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = as_(provider_a).post(harvest)

    job = node_a.jobs.get()
    assert (job.status, job.kind, job.requested_by) == ("queued", "pull", "provider_a")
    assert len(queued) == 1  # the task, sent on commit
    assert response.status_code == 302 and response["Location"] == job_page(job)
    assert as_(provider_a).get(harvest).status_code == 405


def test_harvest_now_while_one_is_queued_is_a_message_not_an_error(
    provider_a, node_a, django_capture_on_commit_callbacks
):
    harvest = reverse("harvester:node-harvest", args=[node_a.pk])
    browser = as_(provider_a)
    with django_capture_on_commit_callbacks(execute=False):
        browser.post(harvest)
        response = browser.post(harvest, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == page_of(node_a)
    assert "A harvest of this node is already queued." in text(response)
    assert node_a.jobs.count() == 1


def test_a_push_only_node_has_no_harvest_button(hub_admin, provider_a, org_a):
    node = make_node(hub_admin, org_a, "Pushing node", mode="push", base_url="")

    html = text(as_(provider_a).get(page_of(node)))
    assert "Harvest now" not in html
    response = as_(provider_a).post(reverse("harvester:node-harvest", args=[node.pk]), follow=True)
    assert "This node only pushes" in text(response)
    assert not node.jobs.exists()


def test_renewing_the_token_shows_the_new_one_once(provider_a, node_a):
    old = node_a.push_token_hash
    browser = as_(provider_a)

    response = browser.post(reverse("harvester:node-token", args=[node_a.pk]), follow=True)

    node_a.refresh_from_db()
    assert node_a.push_token_hash != old
    token = re.search(r'id="push-token">([^<]+)<', text(response)).group(1)
    assert hash_token(token) == node_a.push_token_hash
    assert "the old one no longer works" in text(response)
    assert token not in text(browser.get(page_of(node_a)))


# --- settings and mappings ---------------------------------------------------------------


def test_settings_are_saved(provider_a, node_a):
    response = as_(provider_a).post(
        page_of(node_a), settings_post(node_a, schedule_minutes=60, auto_release="on", enabled="")
    )

    assert response.status_code == 302
    node_a.refresh_from_db()
    assert (node_a.schedule_minutes, node_a.auto_release, node_a.enabled) == (60, True, False)


def test_mappings_are_extended_with_json(provider_a, node_a):
    mappings = '{"modality": {"TAC": "CT"}, "body_part": {"Thorax": "CHEST"}}'

    response = as_(provider_a).post(page_of(node_a), settings_post(node_a, mappings=mappings))

    assert response.status_code == 302
    node_a.refresh_from_db()
    assert node_a.mappings == {"modality": {"TAC": "CT"}, "body_part": {"Thorax": "CHEST"}}
    assert "Thorax" in text(as_(provider_a).get(page_of(node_a)))  # shown back in the form


def test_mappings_are_extended_with_csv_lines(provider_a, node_a):
    mappings = "kind,label,code\nmodality,TAC,CT\nmodality,RM,MR\n\nbody_part,Mama,BREAST\n"

    response = as_(provider_a).post(page_of(node_a), settings_post(node_a, mappings=mappings))

    assert response.status_code == 302
    node_a.refresh_from_db()
    assert node_a.mappings == {
        "modality": {"TAC": "CT", "RM": "MR"},
        "body_part": {"Mama": "BREAST"},
    }


@pytest.mark.parametrize(
    ("mappings", "message"),
    [
        ('{"organ": {"Thorax": "CHEST"}}', "unknown kind 'organ'"),
        ('{"modality": ["CT"]}', "'modality' must be an object"),
        ('{"modality": {"TAC": "CT"}', "This is not valid JSON"),
        ("modality,TAC\n", "Line 1: expected three values"),
    ],
)
def test_invalid_mappings_are_refused_and_nothing_is_saved(provider_a, node_a, mappings, message):
    services.update_node(node=node_a, by=provider_a, mappings={"modality": {"TAC": "CT"}})

    response = as_(provider_a).post(
        page_of(node_a), settings_post(node_a, mappings=mappings, schedule_minutes=5)
    )

    assert response.status_code == 400
    assert message in field_error(text(response), "mappings")
    node_a.refresh_from_db()
    assert node_a.mappings == {"modality": {"TAC": "CT"}}
    assert node_a.schedule_minutes == 1440


# --- the node's runs ---------------------------------------------------------------------


def test_the_node_page_charts_the_results_of_its_runs(provider_a, node_a, job_a):
    make_job(node_a, added=5, updated=2)
    failed = make_job(node_a, status=Status.FAILED, error="The node answered 503.")

    html = text(as_(provider_a).get(page_of(node_a)))

    chart = re.search(r'<svg class="chart" id="chart-runs".*?</svg>', html, re.S).group(0)
    assert chart.count('class="chart-segment"') == 5  # added+unchanged+rejected, added+updated
    assert "Added 5" in chart and "Rejected 2" in chart
    assert '<th scope="col">Withdrawn</th>' in html  # the chart's table and the runs' table
    assert job_page(job_a) in html and job_page(failed) in html
    assert "Failed" in html


# --- a run's report ----------------------------------------------------------------------


def test_the_report_lists_each_violation_and_warning_of_rejected_records(provider_a, job_a):
    html = text(as_(provider_a).get(job_page(job_a)))

    assert "4 records" in html
    assert f"<li>{VIOLATION}</li>" in html
    assert "<li>dataset ds-17: dct:title is required and missing</li>" in html
    assert (
        '<ul class="warnings"><li>dataset ds-17: dcat:contactPoint is recommended</li></ul>' in html
    )
    assert "modality “XYZ” is not a DICOM modality" in html
    added = HarvestRecord.objects.get(identifier="ds-1")
    assert f'<a href="{added.dataset.get_absolute_url()}">Harvested lung CT</a>' in html
    assert '<progress id="job-progress-bar" max="100" value="100">' in html
    assert "<script>" not in html and 'http-equiv="refresh"' not in html  # done: no polling


def test_the_report_filters_by_result(provider_a, job_a):
    html = text(as_(provider_a).get(job_page(job_a), {"result": "rejected"}))

    assert "2 records rejected" in html
    assert "ds-17" in html and "ds-18" in html
    assert "Harvested lung CT" not in html and "ds-2<" not in html
    assert '?result=rejected#records-heading" aria-current="page">Rejected<' in html
    assert as_(provider_a).get(job_page(job_a), {"result": "lost"}).status_code == 400


def test_the_report_is_paginated(provider_a, node_a):
    job = make_job(node_a, rejected=5)
    for n in range(5):
        make_record(job, Result.REJECTED, f"ds-{n}", violations=[f"dataset ds-{n}: problem {n}"])

    html = text(as_(provider_a).get(job_page(job), {"page_size": 2, "page": 2}))

    assert "problem 2" in html and "problem 3" in html
    assert "problem 1" not in html and "problem 4" not in html
    assert "Showing 3–4, page 2 of 3" in html
    assert 'href="?page_size=2&amp;page=3' in html.replace(job_page(job), "")
    assert as_(provider_a).get(job_page(job), {"page": "x"}).status_code == 400


def test_a_failed_run_says_why(provider_a, node_a):
    job = make_job(node_a, status=Status.FAILED, error="The node answered 503 Service Unavailable.")

    html = text(as_(provider_a).get(job_page(job)))

    assert "The run failed" in html
    assert "The node answered 503 Service Unavailable." in html


def test_a_running_job_updates_live(provider_a, node_a):
    job = make_job(
        node_a,
        status=Status.RUNNING,
        pages_done=2,
        records_seen=30,
        total_items=120,
        added=20,
        rejected=3,
    )

    page = as_(provider_a).get(job_page(job))
    progress = as_(provider_a).get(progress_of(job))

    html = text(page)
    assert '<progress id="job-progress-bar" max="100" value="25">' in html
    assert '<noscript><meta http-equiv="refresh" content="5"></noscript>' in html
    assert f'data-progress-url="{progress_of(job)}" data-poll-ms="2000"' in html
    assert "<script>" in html
    assert page["Cache-Control"] == "no-store"
    assert progress.status_code == 200
    assert progress.json() == {
        "status": "running",
        "status_label": "Running",
        "done": False,
        "pages_done": 2,
        "records_seen": 30,
        "total_items": 120,
        "percent": 25,
        "counts": {"added": 20, "updated": 0, "unchanged": 0, "withdrawn": 0, "rejected": 3},
    }


def test_a_queued_job_without_a_total_has_an_open_progress_bar(provider_a, node_a):
    job = make_job(node_a, status=Status.QUEUED)

    html = text(as_(provider_a).get(job_page(job)))
    body = as_(provider_a).get(progress_of(job)).json()

    assert '<progress id="job-progress-bar" max="100">' in html
    assert 'of <span id="progress-total">an unstated number</span>' in html
    assert (body["status"], body["percent"], body["total_items"]) == ("queued", None, None)


# --- the stacked chart -------------------------------------------------------------------


def test_stacked_bars_stack_each_column_and_escape_labels():
    chart = charts.stacked_bars(
        "c", "Runs <recent>", ["Added", "Rejected"], [("run <1>", [3, 1]), ("run 2", [0, 0])]
    )

    assert chart.svg.count("<rect") == 2  # nothing drawn for zeros
    assert "run &lt;1&gt;: Added 3" in chart.svg and "<1>" not in chart.svg
    assert chart.legend == [("Added", charts.SERIES_FILLS[0]), ("Rejected", charts.SERIES_FILLS[1])]
    assert not chart.is_empty
    assert charts.stacked_bars("e", "Empty", ["Added"], []).is_empty
    with pytest.raises(ValueError):
        charts.stacked_bars("x", "Bad", ["Added", "Rejected"], [("run", [1])])
