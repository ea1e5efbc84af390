"""The issue's story through the API, and who may see and do what."""

from datetime import timedelta

import pytest
from django.utils import timezone

from access_requests.models import Committee
from conftest import make_user
from hub.models import Role

REQUESTS = "/api/v1/access-requests/"
END = (timezone.localdate() + timedelta(days=180)).isoformat()


@pytest.fixture
def world(api, django_user_model, org_a, org_b, researcher, make_dataset, provider_b):
    people = {
        "researcher": researcher,
        "a1": make_user(django_user_model, "a1", (Role.COMMITTEE_MEMBER, org_a, "")),
        "a2": make_user(django_user_model, "a2", (Role.COMMITTEE_MEMBER, org_a, "")),
        "b1": make_user(django_user_model, "b1", (Role.COMMITTEE_MEMBER, org_b, "")),
        "outsider": make_user(django_user_model, "outsider", Role.RESEARCHER),
    }
    Committee.objects.create(
        organisation=org_a, rule=Committee.Rule.MAJORITY, quorum=2, chair=people["a1"]
    )
    datasets = [
        make_dataset("released", title="A one"),
        make_dataset("published", title="A two"),
        make_dataset("released", organisation=org_b, by=provider_b, title="B one"),
    ]
    project = {"code": "LUNG-AI", "title": "Lung AI", "purpose": "Nodules."}
    assert api.as_(researcher).post("/api/v1/projects/", project, format="json").status_code == 201
    return people, [str(d.pk) for d in datasets]


def submitted(api, world):
    people, ids = world
    api.as_(people["researcher"])
    created = api.post(REQUESTS, {"project": "LUNG-AI", "datasets": ids}, format="json")
    assert created.status_code == 201, created.content
    url = f"{REQUESTS}{created.json()['id']}/"
    edit = {"purpose": "Train a detector.", "purpose_duo": ["DUO:0000007"], "terms_accepted": ids}
    assert api.patch(url, edit, format="json").status_code == 200
    response = api.post(f"{url}submit/")
    assert response.status_code == 200 and response.json()["state"] == "submitted"
    return url


def test_the_story_through_the_api(api, world):
    people, ids = world
    url = submitted(api, world)
    for voter in ("a1", "a2"):
        vote = api.as_(people[voter]).post(
            f"{url}parts/hospital-a/vote/", {"choice": "yes"}, format="json"
        )
        assert vote.status_code == 200
    decisions = [
        {"dataset": d, "approve": True, "end_date": END, "conditions": "No export."}
        for d in ids[:2]
    ]
    decided = api.as_(people["a1"]).post(
        f"{url}parts/hospital-a/decide/", {"decisions": decisions}, format="json"
    )
    assert decided.status_code == 200, decided.content
    rejection = [{"dataset": ids[2], "approve": False, "reason": "Consent too narrow."}]
    final = api.as_(people["b1"]).post(
        f"{url}parts/hospital-b/decide/", {"decisions": rejection}, format="json"
    )
    assert final.json()["state"] == "partially_approved"
    mine = api.as_(people["researcher"]).get("/api/v1/entitlements/").json()
    assert mine["count"] == 2 and {e["conditions"] for e in mine["results"]} == {"No export."}
    first = mine["results"][0]["id"]
    revoked = api.as_(people["a2"]).post(
        f"/api/v1/entitlements/{first}/revoke/", {"reason": "Breach."}, format="json"
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    again = api.post(f"/api/v1/entitlements/{first}/revoke/", {"reason": "Twice."}, format="json")
    assert again.status_code == 409 and again.json()["current_state"] == "revoked"
    timeline = [e["action"] for e in api.as_(people["researcher"]).get(url).json()["timeline"]]
    assert timeline[:2] == ["create", "submit"] and timeline[-1] == "revoke"


def test_each_committee_sees_only_its_part(api, world):
    people, ids = world
    url = submitted(api, world)
    a_view = api.as_(people["a1"]).get(url).json()
    assert [p["organisation"] for p in a_view["parts"]] == ["hospital-a"]
    assert {i["dataset"] for i in a_view["items"]} == set(ids[:2])
    b_view = api.as_(people["b1"]).get(url).json()
    assert {i["dataset"] for i in b_view["items"]} == {ids[2]}
    # B's committee cannot act on A's part, nor see it.
    response = api.post(f"{url}parts/hospital-a/vote/", {"choice": "yes"}, format="json")
    assert response.status_code == 404
    assert api.as_(people["outsider"]).get(url).status_code == 404
    assert api.get(REQUESTS).json()["count"] == 0


def test_requests_refuse_what_is_not_theirs_to_do(api, world):
    people, ids = world
    url = submitted(api, world)
    # The committee cannot edit the request; the requester cannot vote.
    assert api.as_(people["a1"]).patch(url, {"purpose": "x"}, format="json").status_code == 403
    vote = api.as_(people["researcher"]).post(
        f"{url}parts/hospital-a/vote/", {"choice": "yes"}, format="json"
    )
    assert vote.status_code == 403
    # An illegal step answers 409 naming the state.
    again = api.post(f"{url}submit/")
    assert again.status_code == 409 and again.json()["current_state"] == "submitted"
    assert api.post(f"{url}parts/hospital-a/approve/").status_code == 404
    bad = api.as_(people["a1"]).post(
        f"{url}parts/hospital-a/vote/", {"choice": "maybe"}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["field"] == "choice"


def test_drafting_needs_your_project_and_datasets_you_can_see(api, world, make_dataset):
    people, ids = world
    api.as_(people["outsider"])
    assert (
        api.post(REQUESTS, {"project": "LUNG-AI", "datasets": ids}, format="json").status_code
        == 404
    )
    api.as_(people["researcher"])
    draft = make_dataset("draft", title="Hidden draft")
    response = api.post(
        REQUESTS, {"project": "LUNG-AI", "datasets": [str(draft.pk)]}, format="json"
    )
    assert response.status_code == 400 and str(draft.pk) in response.json()["detail"]
    assert api.get(f"{REQUESTS}?state=lost").status_code == 400


def test_a_member_drafts_a_renewal(api, world):
    people, ids = world
    url = submitted(api, world)
    rejection = [{"dataset": ids[2], "approve": True, "end_date": END}]
    api.as_(people["b1"]).post(
        f"{url}parts/hospital-b/decide/", {"decisions": rejection}, format="json"
    )
    entitlement = api.as_(people["researcher"]).get("/api/v1/entitlements/").json()["results"][0]
    renewal = api.post(
        f"/api/v1/entitlements/{entitlement['id']}/renew/", {"note": "More time."}, format="json"
    )
    assert renewal.status_code == 201
    assert renewal.json()["renewal_of"] == entitlement["id"] and renewal.json()["state"] == "draft"
    outsider = api.as_(people["outsider"]).post(f"/api/v1/entitlements/{entitlement['id']}/renew/")
    assert outsider.status_code == 404


def test_a_committee_asks_and_the_project_answers_in_the_part_thread(api, world):
    people, ids = world
    url = submitted(api, world)
    asked = api.as_(people["a1"]).post(
        f"{url}parts/hospital-a/message/", {"text": "Which scanner protocols?"}, format="json"
    )
    assert asked.status_code == 200
    answer = api.as_(people["researcher"]).post(
        f"{url}parts/hospital-a/message/", {"text": "Low-dose only."}, format="json"
    )
    thread = answer.json()["parts"][0]["messages"]
    assert [(m["author"], m["text"]) for m in thread] == [
        ("a1", "Which scanner protocols?"),
        ("researcher", "Low-dose only."),
    ]
    # B's committee neither sees A's thread nor writes in it.
    b_view = api.as_(people["b1"]).get(url).json()
    assert [p["organisation"] for p in b_view["parts"]] == ["hospital-b"]
    assert (
        api.post(f"{url}parts/hospital-a/message/", {"text": "Hi"}, format="json").status_code
        == 404
    )
    assert (
        api.as_(people["a1"])
        .post(f"{url}parts/hospital-a/message/", {"text": " "}, format="json")
        .status_code
        == 400
    )
    notices = api.as_(people["researcher"]).get("/api/v1/notices/").json()["results"]
    assert any("asks about request" in n["text"] for n in notices)


PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def test_the_ethics_approval_is_a_pdf_the_committees_can_read(api, world, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path
    people, ids = world
    api.as_(people["researcher"])
    created = api.post(REQUESTS, {"project": "LUNG-AI", "datasets": ids}, format="json").json()
    url = f"{REQUESTS}{created['id']}/ethics-document/"

    def upload(content, name="approval.pdf", kind="application/pdf"):
        return api.post(
            url, {"document": SimpleUploadedFile(name, content, kind)}, format="multipart"
        )

    fake = upload(b"MZ\x90\x00 not a pdf", name="approval.pdf")
    assert fake.status_code == 400 and "PDF" in fake.json()["detail"]
    settings.ETHICS_DOCUMENT_MAX_BYTES = 20
    assert upload(PDF).status_code == 413
    settings.ETHICS_DOCUMENT_MAX_BYTES = 10 * 1024 * 1024
    stored = upload(PDF)
    assert stored.status_code == 200 and stored.json()["has_ethics_document"]
    edit = {"purpose": "AI.", "terms_accepted": ids}
    api.patch(f"{REQUESTS}{created['id']}/", edit, format="json")
    api.post(f"{REQUESTS}{created['id']}/submit/")
    read = api.as_(people["a1"]).get(url)
    assert read.status_code == 200 and b"".join(read.streaming_content) == PDF
    assert api.as_(people["outsider"]).get(url).status_code == 404
    late = api.as_(people["researcher"]).post(
        url, {"document": SimpleUploadedFile("x.pdf", PDF, "application/pdf")}, format="multipart"
    )
    assert late.status_code == 409


def test_each_dataset_shows_whether_the_purpose_fits_its_data_use_terms(api, world):
    people, ids = world
    api.as_(people["researcher"])
    created = api.post(REQUESTS, {"project": "LUNG-AI", "datasets": ids}, format="json")
    url = f"{REQUESTS}{created.json()['id']}/"

    def verdicts(**purpose):
        response = api.patch(url, purpose, format="json")
        assert response.status_code == 200, response.content
        return {i["title"]: i["duo_match"]["verdict"] for i in response.json()["items"]}

    # The datasets allow disease-specific research (DUO:0000007) on ICD-10 C34.1.
    assert set(verdicts(purpose_duo=["DUO:0000007"]).values()) == {"needs_review"}
    assert set(verdicts(purpose_icd10=["ICD10:C34.1"]).values()) == {"match"}
    assert set(verdicts(purpose_icd10=["C50.9"]).values()) == {"no_match"}
    # General research use is broader than disease-specific: not allowed.
    assert set(verdicts(purpose_duo=["DUO_0000042"]).values()) == {"no_match"}
    stored = api.get(url).json()
    assert stored["purpose_duo"] == ["DUO:0000042"] and stored["purpose_icd10"] == ["C50.9"]


def test_unknown_purpose_terms_are_refused_by_name(api, world):
    people, ids = world
    api.as_(people["researcher"])
    created = api.post(REQUESTS, {"project": "LUNG-AI", "datasets": ids}, format="json")
    url = f"{REQUESTS}{created.json()['id']}/"
    unknown = api.patch(url, {"purpose_duo": ["DUO:9999999"]}, format="json")
    assert unknown.status_code == 400 and "DUO:9999999" in unknown.json()["detail"]
    not_icd = api.patch(url, {"purpose_icd10": ["lung"]}, format="json")
    assert not_icd.status_code == 400 and "'lung'" in not_icd.json()["detail"]
    assert api.get(url).json()["purpose_duo"] == []


def test_a_page_of_requests_costs_the_same_queries_however_many_it_holds(api, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    people, ids = world

    def queries_of_one_page() -> int:
        api.as_(people["a1"])  # a committee member: sees only hospital A's parts
        with CaptureQueriesContext(connection) as run:
            assert api.get(REQUESTS).status_code == 200
        return len(run.captured_queries)

    submitted(api, world)
    one = queries_of_one_page()
    for _ in range(9):
        submitted(api, world)
    assert queries_of_one_page() <= one <= 20
    page = api.get(REQUESTS).json()
    assert page["count"] == 10
    assert {p["organisation"] for r in page["results"] for p in r["parts"]} == {"hospital-a"}
