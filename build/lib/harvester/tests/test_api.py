import json
from pathlib import Path

import pytest

from catalogue import services as catalogue
from catalogue.models import Dataset
from harvester.models import HarvestJob, Node
from harvester.tests.catalogues import INVALID, page_turtle

DATA = Path(__file__).parent / "data"
NODES = "/api/v1/nodes/"


def push(api, node, token, body, content_type="text/turtle"):
    api.anonymous()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    if isinstance(body, str):
        body = body.encode()
    return api.post(f"/api/v1/nodes/{node.pk}/records", body, content_type=content_type)


# -- registering and listing nodes ---------------------------------------------------------


def test_admin_registers_a_node_and_gets_its_token_once(api, hub_admin, org_a):
    response = api.as_(hub_admin).post(
        NODES,
        {"organisation": org_a.slug, "name": "Node A", "base_url": "http://127.0.0.1:9/dcat"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["push_token"].startswith("agn_")
    assert body["mode"] == "pull"
    node = Node.objects.get(pk=body["id"])
    assert node.push_token_hash != body["push_token"]  # only the hash is kept
    again = api.get(f"{NODES}{node.pk}/").json()
    assert "push_token" not in again and again["push_token_prefix"] == body["push_token"][:8]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"base_url": "ftp://node.example/dcat"}, "base_url"),
        ({"base_url": "file:///etc/passwd"}, "base_url"),
        ({"base_url": ""}, "base_url"),
        ({"organisation": "nowhere"}, "organisation"),
        ({"mode": "sideways"}, "mode"),
        ({"mappings": {"colour": {"red": "CT"}}}, "mappings"),
    ],
)
def test_registering_a_bad_node_names_the_problem(api, hub_admin, org_a, payload, field):
    data = {"organisation": org_a.slug, "name": "Node", "base_url": "https://n.example/dcat"}
    response = api.as_(hub_admin).post(NODES, data | payload, format="json")
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not Node.objects.exists()


def test_allow_list_refuses_other_hosts(api, hub_admin, org_a, settings):
    settings.HARVEST_ALLOWED_HOSTS = ["nodes.example.org"]
    data = {"organisation": org_a.slug, "name": "Node", "base_url": "http://169.254.169.254/"}
    response = api.as_(hub_admin).post(NODES, data, format="json")
    assert response.status_code == 400
    assert "169.254.169.254" in response.json()["detail"]


def test_providers_cannot_register_and_see_only_their_nodes(
    api, provider_a, provider_b, researcher, push_node, org_b, hub_admin
):
    response = api.as_(provider_a).post(
        NODES, {"organisation": "hospital-a", "name": "Mine", "mode": "push"}, format="json"
    )
    assert response.status_code == 403
    node, _ = push_node
    assert [n["id"] for n in api.as_(provider_a).get(NODES).json()["results"]] == [str(node.pk)]
    assert api.as_(provider_b).get(NODES).json()["results"] == []
    assert api.as_(provider_b).get(f"{NODES}{node.pk}/").status_code == 404
    assert api.as_(researcher).get(NODES).json()["count"] == 0
    assert api.anonymous().get(NODES).status_code in (401, 403)
    assert api.as_(hub_admin).get(NODES).json()["count"] == 1


def test_harvest_of_a_push_only_node_is_a_conflict(api, provider_a, push_node):
    node, _ = push_node
    response = api.as_(provider_a).post(f"{NODES}{node.pk}/harvest")
    assert response.status_code == 409
    assert "only pushes" in response.json()["detail"]


def test_harvest_request_queues_one_job_at_a_time(
    api, provider_a, provider_b, org_a, hub_admin, django_capture_on_commit_callbacks
):
    from harvester import services

    node, _ = services.register_node(
        by=hub_admin, organisation=org_a, name="Pull", base_url="http://127.0.0.1:9/dcat"
    )
    with django_capture_on_commit_callbacks(execute=False) as queued:
        first = api.as_(provider_a).post(f"{NODES}{node.pk}/harvest")
    assert first.status_code == 202
    assert len(queued) == 1
    job = HarvestJob.objects.get(pk=first.json()["id"])
    assert job.status == "queued" and first["Location"].endswith(f"/harvest-jobs/{job.pk}/")
    second = api.post(f"{NODES}{node.pk}/harvest")
    assert second.status_code == 409 and second.json()["job"] == str(job.pk)
    assert api.as_(provider_b).post(f"{NODES}{node.pk}/harvest").status_code == 404
    assert api.as_(provider_b).get(f"/api/v1/harvest-jobs/{job.pk}").status_code == 404
    assert api.as_(provider_a).get(f"/api/v1/harvest-jobs/{job.pk}").json()["status"] == "queued"


# -- push ------------------------------------------------------------------------------


def test_push_answers_the_report_and_adds_drafts(api, push_node, org_a):
    node, token = push_node
    response = push(api, node, token, page_turtle(range(20), invalid_every=5))
    assert response.status_code == 200, response.content
    report = response.json()
    assert report["status"] == "succeeded"
    assert report["counts"] == {
        "added": 16,
        "updated": 0,
        "unchanged": 0,
        "withdrawn": 0,
        "rejected": 4,
    }
    reasons = {r["identifier"]: r["violations"] for r in report["rejected_records"]}
    assert reasons["ds-4"] == [f"dataset ds-4: {INVALID['no_description']}"]
    assert reasons["ds-9"] == [f"dataset ds-9: {INVALID['no_contact']}"]
    assert reasons["ds-14"] == [f"dataset ds-14: {INVALID['ages_reversed']}"]
    drafts = Dataset.objects.filter(organisation=org_a, source_node=node.source_label)
    assert drafts.count() == 16 and set(drafts.values_list("state", flat=True)) == {"draft"}
    ds0 = drafts.get(identifier="ds-0")
    # Local labels mapped onto the common model.
    assert ds0.modalities == ["CT"] and ds0.body_parts == ["CHEST"]
    assert ds0.number_of_subjects == 30 and ds0.age_min == 18 and ds0.age_max == 70
    assert ds0.contact_email == "data-0@node.example" and ds0.diagnoses == ["C34.1"]
    assert sorted(ds0.sex_labels) == ["female", "male"]


def test_pushing_the_same_records_again_changes_nothing(api, push_node):
    node, token = push_node
    push(api, node, token, page_turtle(range(10), invalid_every=5))
    modified = dict(Dataset.objects.values_list("identifier", "modified"))
    again = push(api, node, token, page_turtle(range(10), invalid_every=5)).json()
    assert again["counts"]["unchanged"] == 8 and again["counts"]["rejected"] == 2
    assert again["counts"]["added"] == again["counts"]["updated"] == 0
    assert dict(Dataset.objects.values_list("identifier", "modified")) == modified
    rejected = again["rejected_records"][0]
    assert "unchanged since it was rejected" in rejected["reason"]


def test_changed_record_updates_a_draft_and_versions_a_released_one(api, push_node, provider_a):
    node, token = push_node
    push(api, node, token, page_turtle(range(3)))
    released = Dataset.objects.get(identifier="ds-1")
    catalogue.release_dataset(dataset=released, by=provider_a)
    report = push(api, node, token, page_turtle(range(3), revisions={0: 1, 1: 1})).json()
    assert report["counts"]["updated"] == 2 and report["counts"]["unchanged"] == 1
    draft = Dataset.objects.get(identifier="ds-0")
    assert draft.state == "draft" and draft.number_of_studies == 41  # updated in place
    versions = Dataset.objects.filter(identifier="ds-1").order_by("created")
    assert [v.state for v in versions] == ["released", "draft"]
    assert versions[0].number_of_studies == 41 and versions[1].number_of_studies == 42
    assert versions[1].previous_version_id == versions[0].pk


def test_auto_release_node_releases_new_records(api, push_node):
    node, token = push_node
    node.auto_release = True
    node.save()
    push(api, node, token, page_turtle(range(2)))
    assert set(Dataset.objects.values_list("state", flat=True)) == {"released"}


def test_push_of_miabis_json(api, push_node, org_a):
    node, token = push_node
    body = (DATA / "miabis-collections.json").read_bytes()
    report = push(api, node, token, body, "application/json").json()
    assert report["status"] == "succeeded"
    assert report["counts"]["added"] + report["counts"]["rejected"] == len(json.loads(body))
    assert Dataset.objects.filter(organisation=org_a).count() == report["counts"]["added"]


def test_push_of_healthdcat_example_is_accepted(api, push_node):
    node, token = push_node
    body = (DATA / "healthdcat-imaging-dataset.ttl").read_bytes()
    report = push(api, node, token, body).json()
    assert report["counts"]["added"] == 1, report
    dataset = Dataset.objects.get(identifier="CRLM-CT")
    assert dataset.diagnoses == ["C78.7"] and dataset.access_rights == "RESTRICTED"
    assert dataset.number_of_subjects == 197 and dataset.number_of_studies == 233


@pytest.mark.parametrize(
    "header, status",
    [(None, 401), ("Token agn_wrong", 401), ("Basic abc", 401), ("Token a b", 401)],
)
def test_push_needs_the_node_token(api, push_node, header, status):
    node, _ = push_node
    api.anonymous()
    if header:
        api.credentials(HTTP_AUTHORIZATION=header)
    response = api.post(
        f"/api/v1/nodes/{node.pk}/records", page_turtle([1]), content_type="text/turtle"
    )
    assert response.status_code == status
    assert not Dataset.objects.exists()


def test_a_token_pushes_only_to_its_own_node(api, push_node, hub_admin, org_b):
    from harvester import services

    node, token = push_node
    other, _ = services.register_node(by=hub_admin, organisation=org_b, name="B", mode="push")
    response = push(api, other, token, page_turtle([1]))
    assert response.status_code == 404
    assert not Dataset.objects.exists()


@pytest.mark.parametrize(
    "body, content_type, words",
    [
        (b"", "text/turtle", "empty"),
        (b"<a> <b> ", "text/turtle", "Turtle"),
        (b"{not json", "application/json", "JSON"),
        (b'[{"id": "x"}]', "application/json", "MIABIS"),
        (b"%PDF-1.4", "application/pdf", "application/pdf"),
    ],
)
def test_bad_push_bodies_are_refused_with_the_reason(api, push_node, body, content_type, words):
    node, token = push_node
    response = push(api, node, token, body, content_type)
    assert response.status_code == 400, response.content
    assert words.lower() in response.json()["detail"].lower()
    assert not Dataset.objects.exists()


def test_oversized_push_is_refused(api, push_node, settings):
    settings.HARVEST_PUSH_MAX_BYTES = 1000
    node, token = push_node
    response = push(api, node, token, page_turtle(range(5)))
    assert response.status_code == 413
    assert not Dataset.objects.exists()


def test_push_to_a_pull_only_node_is_a_conflict(api, hub_admin, org_a):
    from harvester import services

    node, token = services.register_node(
        by=hub_admin, organisation=org_a, name="Pull", base_url="https://n.example/dcat"
    )
    assert push(api, node, token, page_turtle([1])).status_code == 409


def test_job_records_are_paged_and_filtered(api, push_node, provider_a):
    node, token = push_node
    job = push(api, node, token, page_turtle(range(20), invalid_every=5)).json()
    records = api.as_(provider_a).get(f"/api/v1/harvest-jobs/{job['id']}/records?result=rejected")
    assert records.json()["count"] == 4
    assert all(r["result"] == "rejected" for r in records.json()["results"])
    assert api.get(f"/api/v1/harvest-jobs/{job['id']}/records?result=lost").status_code == 400
    assert api.get(f"/api/v1/harvest-jobs/{job['id']}/records?page=0").status_code == 400


def test_rejected_records_are_listed_first(api, push_node, provider_a):
    node, token = push_node
    job = push(api, node, token, page_turtle(range(20), invalid_every=5)).json()
    results = api.as_(provider_a).get(f"/api/v1/harvest-jobs/{job['id']}/records").json()
    assert [r["result"] for r in results["results"][:4]] == ["rejected"] * 4
    assert {r["result"] for r in results["results"][4:]} == {"added"}


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/v1/nodes/nope/"),
        ("post", "/api/v1/nodes/nope/harvest"),
        ("get", "/api/v1/harvest-jobs/nope"),
        ("get", "/api/v1/harvest-jobs/nope/records"),
    ],
)
def test_malformed_ids_are_not_found(api, hub_admin, method, path):
    response = getattr(api.as_(hub_admin), method)(path)
    assert response.status_code == 404
    assert "nope" in response.json()["detail"]


def test_push_larger_than_ordinary_bodies_is_taken(api, push_node, settings):
    node, token = push_node
    body = page_turtle(range(3)) + "#" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)
    response = push(api, node, token, body)
    assert response.status_code == 200, response.content
    assert response.json()["counts"]["added"] == 3
