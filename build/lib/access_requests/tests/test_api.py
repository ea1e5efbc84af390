import pytest

from access_requests.models import Project
from conftest import make_user
from hub.models import Role, RoleAssignment

PROJECTS = "/api/v1/projects/"
LUNG = {"code": "LUNG-AI", "title": "Lung nodule AI", "purpose": "Train a nodule detector."}


@pytest.fixture
def colleague(django_user_model):
    return make_user(django_user_model, "colleague", Role.RESEARCHER)


@pytest.fixture
def project(api, researcher):
    assert api.as_(researcher).post(PROJECTS, LUNG, format="json").status_code == 201
    return Project.objects.get(code="LUNG-AI")


def usernames(body):
    return {(m["username"], m["role"], m["source"]) for m in body["members"]}


def test_a_researcher_creates_a_project_and_leads_it(api, researcher):
    response = api.as_(researcher).post(PROJECTS, LUNG, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["principal_investigator"] == "researcher"
    assert usernames(body) == {("researcher", "pi", "hub")}
    assert [p["code"] for p in api.get(PROJECTS).json()["results"]] == ["LUNG-AI"]


@pytest.mark.parametrize(
    "change, field",
    [({"code": "x"}, "code"), ({"code": "bad code!"}, "code"), ({"purpose": " "}, "purpose")],
)
def test_bad_projects_are_refused_naming_the_field(api, researcher, change, field):
    response = api.as_(researcher).post(PROJECTS, LUNG | change, format="json")
    assert response.status_code == 400 and response.json()["field"] == field
    assert not Project.objects.exists()


def test_codes_are_unique(api, researcher, project):
    response = api.as_(researcher).post(PROJECTS, LUNG, format="json")
    assert response.status_code == 409 and "exists" in response.json()["detail"]


def test_only_researchers_create_projects(api, provider_a, committee_a):
    for user in (provider_a, committee_a):
        assert api.as_(user).post(PROJECTS, LUNG, format="json").status_code == 403
    assert api.anonymous().post(PROJECTS, LUNG, format="json").status_code in (401, 403)


def test_outsiders_do_not_see_a_project(api, project, colleague, provider_a, hub_admin):
    for user in (colleague, provider_a):
        assert api.as_(user).get(f"{PROJECTS}LUNG-AI/").status_code == 404
        assert api.get(PROJECTS).json()["count"] == 0
    assert api.as_(hub_admin).get(f"{PROJECTS}LUNG-AI/").status_code == 200


def test_the_pi_manages_members(api, researcher, project, colleague):
    url = f"{PROJECTS}LUNG-AI/members/"
    response = api.as_(researcher).post(url, {"username": "colleague"}, format="json")
    assert response.status_code == 200
    assert ("colleague", "member", "hub") in usernames(response.json())
    # A member sees the project but cannot change its members.
    assert api.as_(colleague).get(f"{PROJECTS}LUNG-AI/").status_code == 200
    assert (
        api.post(url, {"username": "researcher", "role": "member"}, format="json").status_code
        == 403
    )
    assert api.as_(researcher).post(url, {"username": "nobody"}, format="json").status_code == 404
    assert api.delete(f"{url}researcher/").status_code == 409  # the PI stays
    assert api.delete(f"{url}colleague/").status_code == 204
    assert api.as_(colleague).get(f"{PROJECTS}LUNG-AI/").status_code == 404


def test_handing_over_the_lead(api, researcher, project, colleague):
    url = f"{PROJECTS}LUNG-AI/members/"
    body = (
        api.as_(researcher).post(url, {"username": "colleague", "role": "pi"}, format="json").json()
    )
    assert body["principal_investigator"] == "colleague"
    assert usernames(body) == {("colleague", "pi", "hub"), ("researcher", "member", "hub")}


def test_members_from_oidc_groups(api, project, django_user_model):
    grouped = make_user(django_user_model, "grouped", Role.RESEARCHER)
    RoleAssignment.objects.create(
        user=grouped, role=Role.PROJECT_MEMBER, project_code="LUNG-AI", source="oidc"
    )
    body = api.as_(grouped).get(f"{PROJECTS}LUNG-AI/").json()
    assert ("grouped", "member", "oidc") in usernames(body)
