"""The tracer's API as CHAIMELEON's components and the hub's users meet it: posting
traces, listing and reading them, and the public proof checked against the chain."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from catalogue import services as catalogue
from conftest import make_user
from hub.models import Role
from tracer import canonical, merkle, services
from tracer.models import Trace

pytestmark = pytest.mark.django_db

TRACES = "/api/v1/traces"
DIGEST = hashlib.sha3_256(b"study-1 pixels").digest()


def detail(trace_id) -> str:
    return f"{TRACES}/{trace_id}"


def proof(trace_id) -> str:
    return f"{TRACES}/{trace_id}/proof"


def ids(response) -> set[str]:
    return {t["id"] for t in response.json()["results"]}


@pytest.fixture
def trace_writer(django_user_model):
    return make_user(django_user_model, "sandbox-tool", Role.TRACE_WRITER)


@pytest.fixture
def other_writer(django_user_model):
    return make_user(django_user_model, "site-job-runner", Role.TRACE_WRITER)


def create_body(**overrides) -> dict:
    """A CREATE_DATASET body as CHAIMELEON's dataset service sends it."""
    return {
        "userId": "ext-user-42",
        "userAction": "CREATE_DATASET",
        "datasetId": "ds-external-1",
        "resources": [
            {
                "id": "study-1",
                "contentType": "HASH",
                "hashType": "SHA3_256",
                "hash": base64.b64encode(DIGEST).decode(),
            }
        ],
    } | overrides


def use_body(**overrides) -> dict:
    return {
        "userId": "ext-user-42",
        "userAction": "USE_DATASETS",
        "datasetsIds": ["ds-external-1", "ds-external-2"],
        "toolName": "jupyterlab",
        "toolVersion": "4.6.6",
    } | overrides


@pytest.fixture
def traces(make_dataset, org_b, provider_b, trace_writer, api):
    """A trace of Hospital A's dataset, one of Hospital B's, and one a component posted."""
    a = make_dataset()
    b = make_dataset(organisation=org_b, by=provider_b)
    posted = api.with_token(trace_writer).post(TRACES, use_body(), format="json").json()
    return {
        "a": Trace.objects.get(dataset_refs__dataset_id=str(a.pk)),
        "b": Trace.objects.get(dataset_refs__dataset_id=str(b.pk)),
        "posted": Trace.objects.get(uuid=posted["id"]),
        "dataset_a": a,
        "dataset_b": b,
    }


# --- posting ----------------------------------------------------------------------------


def test_trace_writer_posts_a_chaimeleon_create_dataset_and_gets_200_with_the_trace(
    api, trace_writer
):
    response = api.with_token(trace_writer).post(TRACES, create_body(), format="json")

    assert response.status_code == 200  # CHAIMELEON's clients accept only 200 or 204
    body = response.json()
    trace = Trace.objects.get()
    assert response["Location"] == f"http://testserver{detail(trace.uuid)}"
    assert body["id"] == str(trace.uuid)
    assert body["callerId"] == "sandbox-tool"
    assert body["userId"] == services.pseudonym("ext-user-42") != "ext-user-42"
    assert body["userAction"] == "CREATE_DATASET"
    assert body["datasetId"] == "ds-external-1" and body["datasetsIds"] == ["ds-external-1"]
    assert body["resources"] == [
        {"id": "study-1", "contentType": "HASH", "hashType": "SHA3_256", "hash": DIGEST.hex()}
    ]
    assert body["status"] == "pending" and body["batch"] is None
    assert body["leafHash"] == trace.leaf_hash == trace.computed_leaf_hash()
    assert body["links"] == {
        "self": f"http://testserver{detail(trace.uuid)}",
        "proof": f"http://testserver{proof(trace.uuid)}",
    }


def test_trace_writer_posts_an_update_with_its_details(api, trace_writer):
    body = create_body(userAction="UPDATE_DATASET", details="INVALIDATE", resources=[])

    response = api.with_token(trace_writer).post(TRACES + "/", body, format="json")

    assert response.status_code == 200
    assert response.json()["details"] == "INVALIDATE"
    assert response.json()["datasetId"] == "ds-external-1"
    assert Trace.objects.get().details == "INVALIDATE"


def test_trace_writer_posts_a_use_of_datasets_with_its_tool(api, trace_writer):
    response = api.with_token(trace_writer).post(TRACES, use_body(subjectId="PRJ-7"), format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["datasetId"] is None  # a single id only for CREATE/UPDATE_DATASET
    assert body["datasetsIds"] == ["ds-external-1", "ds-external-2"]
    assert (body["toolName"], body["toolVersion"], body["subjectId"]) == (
        "jupyterlab",
        "4.6.6",
        "PRJ-7",
    )


def test_null_optional_fields_are_taken_as_absent(api, trace_writer):
    body = use_body(details=None, datasetId=None, resources=None, subjectId=None, userId=None)

    response = api.with_token(trace_writer).post(TRACES, body, format="json")

    assert response.status_code == 200
    assert response.json()["userId"] == "" and response.json()["resources"] == []


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (create_body(patientName="Jane Doe"), "patientName", "Unknown field patientName"),
        ({"userId": "u1", "datasetId": "ds-1"}, "userAction", "required"),
        (create_body(userAction="DELETE_EVERYTHING"), "userAction", "DELETE_EVERYTHING"),
        (create_body(userAction="UPDATE_DATASET"), "details", "details of UPDATE_DATASET"),
        (use_body(toolName=""), "toolName", "toolName and toolVersion"),
        (use_body(datasetsIds="ds-1"), "datasetsIds", "list"),
        (use_body(datasetsIds=[]), "datasetsIds", "at least one dataset"),
        (create_body(datasetId="John Smith <js@example.org>"), "datasetsIds", "identifiers"),
        (
            create_body(resources=[{"id": "study-1", "hash": "not-a-digest"}]),
            "resources",
            "resources[0].hash",
        ),
        (create_body(resources=[{"hash": DIGEST.hex()}]), "resources", "resources[0].id"),
        (
            create_body(resources=[{"id": "x", "contentType": "FILE_DATA", "hash": DIGEST.hex()}]),
            "resources",
            "never content",
        ),
        (create_body(resources=["study-1"]), "resources", "resources[0]"),
        (use_body(subjectId="request of Jane Doe"), "subjectId", "identifier"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field_and_records_nothing(
    api, trace_writer, body, field, words
):
    response = api.with_token(trace_writer).post(TRACES, body, format="json")

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert words in response.json()["detail"]
    assert Trace.objects.count() == 0


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ('"CREATE_DATASET"', "application/json"),
        ("userAction=CREATE_DATASET", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_400(api, trace_writer, content, content_type):
    response = api.with_token(trace_writer).post(TRACES, content, content_type=content_type)

    assert response.status_code == 400
    assert "JSON object" in response.json()["detail"]
    assert Trace.objects.count() == 0


def test_only_trace_writers_may_post_not_even_administrators(
    api, hub_admin, provider_a, researcher
):
    assert api.anonymous().post(TRACES, create_body(), format="json").status_code in (401, 403)
    for user in (hub_admin, provider_a, researcher):
        response = api.as_(user).post(TRACES, create_body(), format="json")
        assert response.status_code == 403
        assert "trace_writer" in response.json()["detail"]
    assert Trace.objects.count() == 0


def test_a_trace_writer_signed_in_as_a_person_cannot_post(api, trace_writer):
    """Only an API token makes a caller: a person in the TRACE-WRITER group, signed in
    through the browser, would otherwise put their username into the trace."""
    response = api.as_(trace_writer).post(TRACES, create_body(), format="json")

    assert response.status_code == 403
    assert "API token" in response.json()["detail"]
    assert Trace.objects.count() == 0


def test_supported_hash_algorithms_are_listed_for_chaimeleon_clients(api):
    response = api.anonymous().get(TRACES + "/hashes")

    assert response.status_code == 200
    assert response.json() == ["SHA3_256"]


# --- reading ----------------------------------------------------------------------------


def test_anonymous_and_researchers_cannot_list_traces(api, traces, researcher):
    assert api.anonymous().get(TRACES).status_code in (401, 403)
    response = api.as_(researcher).get(TRACES)
    assert response.status_code == 403
    assert "administrators" in response.json()["detail"]


def test_administrator_lists_every_trace_newest_first(api, traces, hub_admin):
    response = api.as_(hub_admin).get(TRACES)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [t["id"] for t in body["results"]] == [str(traces[k].uuid) for k in ("posted", "b", "a")]


def test_each_provider_lists_the_traces_of_its_own_datasets_only(
    api, traces, provider_a, provider_b
):
    assert ids(api.as_(provider_a).get(TRACES)) == {str(traces["a"].uuid)}
    assert ids(api.as_(provider_b).get(TRACES + "/")) == {str(traces["b"].uuid)}


def test_a_trace_writer_lists_and_reads_the_traces_it_posted(
    api, traces, trace_writer, other_writer
):
    mine = str(traces["posted"].uuid)
    assert ids(api.as_(trace_writer).get(TRACES)) == {mine}
    assert api.as_(trace_writer).get(detail(mine)).json()["callerId"] == "sandbox-tool"
    assert api.as_(trace_writer).get(detail(traces["a"].uuid)).status_code == 403
    assert ids(api.as_(other_writer).get(TRACES)) == set()
    assert api.as_(other_writer).get(detail(mine)).status_code == 403


def test_one_trace_for_its_provider_403_for_another_404_when_unknown(
    api, traces, provider_a, provider_b, researcher
):
    trace = traces["a"]

    response = api.as_(provider_a).get(detail(trace.uuid))
    assert response.status_code == 200
    body = response.json()
    assert body["userAction"] == "CREATE_DATASET" and body["callerId"] == "hub.catalogue"
    assert body["datasetId"] == str(traces["dataset_a"].pk)
    assert body["userId"] == services.pseudonym("provider_a")
    assert api.as_(provider_a).get(detail(trace.uuid) + "/").status_code == 200

    refused = api.as_(provider_b).get(detail(trace.uuid))
    assert refused.status_code == 403 and "another organisation" in refused.json()["detail"]
    assert api.as_(researcher).get(detail(trace.uuid)).status_code == 403
    assert api.anonymous().get(detail(trace.uuid)).status_code in (401, 403)
    unknown = "7f0c1c8e-0000-4000-8000-000000000000"
    assert api.as_(provider_a).get(detail(unknown)).status_code == 404
    assert api.as_(provider_a).get(detail("not-a-uuid")).status_code == 404


def test_trace_json_has_chaimeleons_names(api, traces, hub_admin):
    body = api.as_(hub_admin).get(detail(traces["a"].uuid)).json()

    assert set(body) == {
        "id",
        "version",
        "timestamp",
        "callerId",
        "userId",
        "userAction",
        "details",
        "datasetId",
        "datasetsIds",
        "resources",
        "toolName",
        "toolVersion",
        "subjectId",
        "leafHash",
        "status",
        "batch",
        "links",
    }
    assert body["timestamp"] == canonical.format_time(traces["a"].recorded_at)


# --- filters and pages ------------------------------------------------------------------


def test_filters_by_dataset_user_action_caller_and_their_chaimeleon_names(
    api, traces, hub_admin, provider_a
):
    dataset_a = str(traces["dataset_a"].pk)
    catalogue.release_dataset(dataset=traces["dataset_a"], by=provider_a)
    client = api.as_(hub_admin)

    def found(**query):
        response = client.get(TRACES, query)
        assert response.status_code == 200, response.json()
        return [(t["userAction"], t["details"]) for t in response.json()["results"]]

    both = [("UPDATE_DATASET", "RELEASE"), ("CREATE_DATASET", "")]
    assert found(dataset=dataset_a) == found(datasetId=dataset_a) == both
    assert found(user="provider_a") == found(userId="provider_a") == both
    assert found(user=services.pseudonym("provider_a")) == both
    assert found(user="ext-user-42") == [("USE_DATASETS", "")]
    assert found(action="UPDATE_DATASET") == found(userAction="UPDATE_DATASET") == both[:1]
    assert found(details="RELEASE") == both[:1]
    assert found(caller="sandbox-tool") == found(callerId="sandbox-tool") == [("USE_DATASETS", "")]
    assert len(found(caller="hub.catalogue", pending="true")) == 3
    assert found(pending="false") == []


def test_filters_by_time_range(api, trace_writer, hub_admin, monkeypatch):
    for day in (1, 2, 3):
        moment = datetime(2026, 3, day, 12, 0, tzinfo=UTC)
        monkeypatch.setattr(services, "timezone", SimpleNamespace(now=lambda m=moment: m))
        api.with_token(trace_writer).post(TRACES, use_body(subjectId=f"day-{day}"), format="json")
    monkeypatch.undo()
    client = api.as_(hub_admin)

    def days(**query):
        return [t["subjectId"] for t in client.get(TRACES, query).json()["results"]]

    assert days(since="2026-03-02") == ["day-3", "day-2"]
    assert days(until="2026-03-02") == ["day-2", "day-1"]  # a date counts to its end
    assert days(since="2026-03-02", until="2026-03-02") == ["day-2"]
    assert days(**{"from": "2026-03-01T13:00:00Z", "to": "2026-03-03T11:59:59Z"}) == ["day-2"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ({"action": "DELETE"}, "action"),
        ({"userAction": "DELETE"}, "action"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-02-30"}, "since"),
        ({"until": "2026-03-01T25:00:00"}, "until"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "since"),
        ({"batch": "first"}, "batch"),
        ({"batch": "²"}, "batch"),
        ({"pending": "maybe"}, "pending"),
        ({"colour": "red"}, "colour"),
        ({"dataset": "a\x00b"}, "dataset"),
        ({"page": "0"}, "page"),
        ({"page_size": "100000"}, "page_size"),
        ({"page": "9" * 5000}, "page"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, traces, hub_admin, query, parameter):
    response = api.as_(hub_admin).get(TRACES, query)

    assert response.status_code == 400
    assert response.json()["field"] == parameter


def test_pages_of_traces_link_to_each_other(api, trace_writer, hub_admin):
    for n in range(5):
        api.with_token(trace_writer).post(TRACES, use_body(subjectId=f"n-{n}"), format="json")
    client = api.as_(hub_admin)

    first = client.get(TRACES, {"page_size": 2, "caller": "sandbox-tool"}).json()
    last = client.get(TRACES, {"page_size": 2, "caller": "sandbox-tool", "page": 3}).json()
    beyond = client.get(TRACES, {"page_size": 2, "page": 4}).json()

    assert (first["count"], first["pages"], first["page"], first["page_size"]) == (5, 3, 1, 2)
    assert [t["subjectId"] for t in first["results"]] == ["n-4", "n-3"]
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/traces?page_size=2&caller=sandbox-tool&page=2"
    assert [t["subjectId"] for t in last["results"]] == ["n-0"] and last["next"] is None
    assert beyond["results"] == []


# --- the public proof -------------------------------------------------------------------


def test_the_proof_of_a_pending_trace_is_public_and_says_it_waits(api, traces):
    trace = traces["a"]

    response = api.anonymous().get(proof(trace.uuid))

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "pending"
    assert body["proof"] is None and body["anchor"] is None and body["batch"] is None
    assert "waits" in body["message"]
    assert body["document"] == trace.document()
    assert body["canonical"] == canonical.canonical_bytes(trace.document()).decode()
    assert json.loads(body["canonical"]) == body["document"]
    leaf = hashlib.sha3_256(b"\x00" + body["canonical"].encode()).hexdigest()
    assert leaf == body["leafHash"] == trace.leaf_hash


def test_the_proof_of_an_anchored_trace_leads_to_the_root_on_chain(
    api, traces, in_process_chain, settings
):
    settings.TRACER_BATCH_SIZE = 2
    services.anchor_pending()
    trace = Trace.objects.select_related("batch__contract").get(pk=traces["b"].pk)

    body = api.anonymous().get(proof(trace.uuid)).json()

    assert body["status"] == "anchored"
    assert body["batch"] == {
        "number": trace.batch.number,
        "root": trace.batch.root,
        "size": 2,
        "status": "anchored",
    }
    path = body["proof"]
    assert (path["leafIndex"], path["treeSize"], path["hash"]) == (1, 2, "SHA3-256")
    assert path["scheme"].startswith("RFC 9162")
    anchor = body["anchor"]
    contract = trace.batch.contract
    assert (anchor["chainId"], anchor["contract"]) == (contract.chain_id, contract.address)
    assert anchor["transaction"].startswith("0x") and anchor["blockNumber"] > 0
    assert anchor["contractFunction"].startswith("batch(uint256)")

    leaf = merkle.leaf_hash(body["canonical"].encode())
    assert leaf.hex() == body["leafHash"]
    root = merkle.root_from_path(
        leaf, path["leafIndex"], path["treeSize"], [bytes.fromhex(h) for h in path["auditPath"]]
    )
    on_chain = services.chain_from_settings().anchored(anchor["contract"], body["batch"]["number"])
    assert root == on_chain.root and on_chain.count == path["treeSize"]


def test_a_proof_that_does_not_exist_is_a_404(api, db):
    assert api.anonymous().get(proof("7f0c1c8e-0000-4000-8000-000000000000")).status_code == 404
    assert api.anonymous().get(proof("x' OR 1=1")).status_code == 404


def test_the_api_schema_describes_the_trace_endpoints_once(client, db):
    paths = client.get("/api/schema/", {"format": "json"}).json()["paths"]

    traces = sorted(p for p in paths if p.startswith("/api/v1/traces"))
    assert traces == [
        "/api/v1/traces",
        "/api/v1/traces/hashes",
        "/api/v1/traces/{trace_id}",
        "/api/v1/traces/{trace_id}/proof",
    ]
    assert set(paths["/api/v1/traces"]) == {"get", "post"}
    public = paths["/api/v1/traces/{trace_id}/proof"]["get"]
    assert not any(public.get("security", [])), "the proof needs no credentials"
