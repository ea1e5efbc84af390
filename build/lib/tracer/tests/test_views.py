"""The trace explorer and a trace's page, driven with Django's test client as each kind
of user, with the chain in process (anchoring and checking for real)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from catalogue import services as catalogue
from conftest import make_user
from conftest import page_text as text
from conftest import signed_in as as_
from hub.models import Role
from tracer import services
from tracer.models import Trace

pytestmark = pytest.mark.django_db

EXPLORER = reverse("tracer:explorer")


def page_of(trace) -> str:
    return reverse("tracer:trace", args=[trace.uuid])


def row_of(html: str, trace) -> str:
    """The table row of one trace (it links to the trace's page)."""
    match = re.search(
        rf'<tr>\s*<th scope="row"[^>]*><a href="{page_of(trace)}".*?</tr>', html, re.S
    )
    assert match, f"no row for {trace.uuid}"
    return match.group(0)


@pytest.fixture
def traces(make_dataset, org_b, provider_b):
    a = make_dataset()
    b = make_dataset(organisation=org_b, by=provider_b)
    return {
        "a": Trace.objects.get(dataset_refs__dataset_id=str(a.pk)),
        "b": Trace.objects.get(dataset_refs__dataset_id=str(b.pk)),
        "dataset_a": a,
    }


# --- who sees what ----------------------------------------------------------------------


def test_anonymous_visitors_are_sent_to_sign_in(traces):
    for url in (EXPLORER, page_of(traces["a"])):
        response = as_(None).get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")


def test_a_researcher_is_refused_and_sees_no_traces_link(traces, researcher):
    response = as_(researcher).get(EXPLORER)

    assert response.status_code == 403
    assert "providers of the datasets concerned" in text(response)
    assert as_(researcher).get(page_of(traces["a"])).status_code == 403
    assert f'href="{EXPLORER}"' not in text(as_(researcher).get(reverse("catalogue:search")))


def test_a_provider_sees_the_traces_of_its_datasets_only(traces, provider_a):
    response = as_(provider_a).get(EXPLORER)

    assert response.status_code == 200
    html = text(response)
    assert f'href="{EXPLORER}" aria-current="page">Traces<' in html
    assert page_of(traces["a"]) in html and page_of(traces["b"]) not in html
    assert "1 trace<" in html
    dataset = traces["dataset_a"]
    assert f'href="{reverse("catalogue:dataset", args=[dataset.pk])}"' in row_of(html, traces["a"])
    assert "CREATE_DATASET" in row_of(html, traces["a"])
    assert services.pseudonym("provider_a")[:8] + "…" in row_of(html, traces["a"])
    assert as_(provider_a).get(page_of(traces["b"])).status_code == 403


def test_an_administrator_sees_every_trace_and_the_tracer_status(traces, hub_admin, settings):
    settings.CHAIN_RPC_URL = ""

    html = text(as_(hub_admin).get(EXPLORER))

    assert page_of(traces["a"]) in html and page_of(traces["b"]) in html
    assert "<dt>Traces waiting for a batch</dt><dd>2</dd>" in html
    assert "<dt>Batches anchored</dt><dd>0</dd>" in html
    assert "No chain is configured" in html
    assert "waiting for the chain" in row_of(html, traces["a"])


# --- checks against the chain -----------------------------------------------------------


def test_anchored_traces_are_verified_on_chain_and_an_altered_row_is_a_mismatch(
    traces, hub_admin, in_process_chain
):
    services.anchor_pending()

    html = text(as_(hub_admin).get(EXPLORER))
    assert "verified on chain" in row_of(html, traces["a"])
    assert "verified on chain" in row_of(html, traces["b"])
    assert "<dt>Batches anchored</dt><dd>1</dd>" in html

    Trace.objects.filter(pk=traces["a"].pk).update(tool_version="x")

    html = text(as_(hub_admin).get(EXPLORER))
    assert "mismatch" in row_of(html, traces["a"])
    assert "verified on chain" in row_of(html, traces["b"])
    batch_row = re.search(r'<th scope="row"><a href="[^"]*\?batch=1">.*?</tr>', html, re.S)
    assert "verified on chain" in batch_row.group(0)  # the batch itself is fine on chain
    detail = text(as_(hub_admin).get(page_of(traces["a"])))
    assert "changed after it was recorded" in detail and "mismatch" in detail


def test_a_chain_that_cannot_be_reached_is_said_so(traces, hub_admin, in_process_chain, settings):
    services.anchor_pending()
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"  # nothing listens on the discard port

    response = as_(hub_admin).get(EXPLORER)

    assert response.status_code == 200
    assert "chain unreachable" in row_of(text(response), traces["a"])


def test_a_trace_page_shows_its_canonical_form_its_proof_and_the_transaction(
    traces, provider_a, in_process_chain
):
    services.anchor_pending()
    trace = Trace.objects.select_related("batch__contract").get(pk=traces["a"].pk)

    response = as_(provider_a).get(page_of(trace))

    assert response.status_code == 200
    html = text(response)
    assert "verified on chain" in html
    assert f"&quot;id&quot;:&quot;{trace.uuid}&quot;" in html  # the canonical JSON, escaped
    assert trace.leaf_hash in html and trace.batch.root in html
    assert trace.batch.contract.address in html and trace.batch.tx_hash in html
    assert f'href="{reverse("api:trace-proof", args=[str(trace.uuid)])}"' in html
    assert as_(provider_a).get("/traces/7f0c1c8e-0000-4000-8000-000000000000/").status_code == 404


def test_a_pending_trace_page_says_it_waits(traces, hub_admin, settings):
    settings.CHAIN_RPC_URL = ""

    html = text(as_(hub_admin).get(page_of(traces["a"])))

    assert "waiting for the chain" in html
    assert "waits to be put in a batch" in html


# --- filters and pages ------------------------------------------------------------------


def test_filters_narrow_the_table_and_stay_in_the_form(traces, hub_admin, settings):
    settings.CHAIN_RPC_URL = ""
    dataset = str(traces["dataset_a"].pk)

    html = text(as_(hub_admin).get(EXPLORER, {"dataset": dataset, "action": "CREATE_DATASET"}))

    assert page_of(traces["a"]) in html and page_of(traces["b"]) not in html
    assert f'name="dataset" value="{dataset}"' in html
    assert '<option value="CREATE_DATASET" selected>' in html
    # CHAIMELEON's names fill the same form.
    alias = text(as_(hub_admin).get(EXPLORER, {"datasetId": dataset}))
    assert f'name="dataset" value="{dataset}"' in alias and page_of(traces["b"]) not in alias
    by_user = text(as_(hub_admin).get(EXPLORER, {"user": "provider_b"}))
    assert page_of(traces["b"]) in by_user and page_of(traces["a"]) not in by_user


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "2026-02-30"}, "since"),
        ({"until": "soon"}, "until"),
        ({"action": "DELETE"}, "action"),
        ({"pending": "maybe"}, "pending"),
        ({"page": "-1"}, "page"),
    ],
)
def test_a_bad_filter_is_explained_on_the_page_with_a_400(traces, hub_admin, query, field):
    response = as_(hub_admin).get(EXPLORER, query)

    assert response.status_code == 400
    html = text(response)
    assert "The traces could not be filtered" in html
    assert f"{field} " in html  # the message names it
    if field != "page":  # the form field in question is marked
        assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', html)


def test_pages_of_traces_keep_the_filters(make_dataset, hub_admin, settings):
    settings.CHAIN_RPC_URL = ""
    for _ in range(3):
        make_dataset()  # each leaves one CREATE_DATASET trace

    html = text(
        as_(hub_admin).get(EXPLORER, {"action": "CREATE_DATASET", "page_size": "2", "page": "2"})
    )

    assert "3 traces matching the filters" in html
    assert "page 2 of 2" in html
    assert 'aria-current="page">2<' in html
    assert f'href="{EXPLORER}?action=CREATE_DATASET&amp;page_size=2" rel="prev"' in html


def test_the_traces_link_is_shown_to_those_who_may_explore(
    django_user_model, provider_a, hub_admin, researcher
):
    writer = make_user(django_user_model, "sandbox-tool", Role.TRACE_WRITER)
    search = reverse("catalogue:search")
    for user in (provider_a, hub_admin, writer):
        assert f'href="{EXPLORER}"' in text(as_(user).get(search))
    for user in (researcher, None):
        assert f'href="{EXPLORER}"' not in text(as_(user).get(search))


def test_charts_show_the_visible_traces_by_action_and_by_day(
    make_dataset, provider_a, provider_b, org_b
):
    for _ in range(2):
        catalogue.release_dataset(dataset=make_dataset(), by=provider_a)
    make_dataset(organisation=org_b, by=provider_b)  # another organisation's: not counted

    html = text(as_(provider_a).get(EXPLORER))

    actions = re.search(r'<svg class="chart" id="chart-actions".*?</svg>', html, re.S).group(0)
    assert "<title>create: 2</title>" in actions and "<title>release: 2</title>" in actions
    days = re.search(r'<svg class="chart" id="chart-days".*?</svg>', html, re.S).group(0)
    assert f"<title>{timezone.now().date().isoformat()}: 4</title>" in days
    assert '<th scope="col">Traces</th>' in html  # the charts' tables for screen readers
