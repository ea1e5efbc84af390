"""Every role against every action of the access-request API, refusals included."""

from datetime import timedelta

import pytest
from django.utils import timezone

from access_requests import services
from access_requests.models import Entitlement
from access_requests.tests.workflow import approve_all, part_of, submitted
from conftest import make_user
from hub.models import Role

END = (timezone.localdate() + timedelta(days=90)).isoformat()
ROLES = [
    "anonymous",
    "outsider",
    "member",
    "pi",
    "committee_a",
    "committee_b",
    "provider_a",
    "admin",
]


@pytest.fixture
def cast(django_user_model, setup, people, org_a, org_b, provider_a, hub_admin):
    """A request in review (A's part) with B's part approved, and everyone who may knock."""
    request = submitted(setup, people)
    member = make_user(django_user_model, "member", Role.RESEARCHER)
    services.add_member(project=request.project, by=people["researcher"], user=member)
    b = part_of(request, org_b)
    services.decide(part=b, by=people["b1"], decisions=approve_all(b))
    users = {
        "anonymous": None,
        "outsider": make_user(django_user_model, "outsider", Role.RESEARCHER),
        "member": member,
        "pi": people["researcher"],
        "committee_a": people["a2"],
        "committee_b": people["b1"],
        "provider_a": provider_a,
        "admin": hub_admin,
    }
    return request, users, Entitlement.objects.get()


def _call(api, user, method, url, data=None):
    client = api.anonymous() if user is None else api.as_(user)
    return getattr(client, method)(url, data or {}, format="json")


# action -> (method, url template, body, {role: expected status})
MATRIX = {
    "read request": (
        "get",
        "/api/v1/access-requests/{r}/",
        None,
        {
            "anonymous": 401,
            "outsider": 404,
            "member": 200,
            "pi": 200,
            "committee_a": 200,
            "committee_b": 200,
            "provider_a": 404,
            "admin": 200,
        },
    ),
    "edit request": (
        "patch",
        "/api/v1/access-requests/{r}/",
        {"purpose": "x"},
        {
            "anonymous": 401,
            "outsider": 404,
            "member": 403,
            "pi": 409,
            "committee_a": 403,
            "committee_b": 403,
            "provider_a": 404,
            "admin": 409,
        },
    ),
    "vote on A": (
        "post",
        "/api/v1/access-requests/{r}/parts/hospital-a/vote/",
        {"choice": "yes"},
        {
            "anonymous": 401,
            "outsider": 404,
            "member": 403,
            "pi": 403,
            "committee_a": 200,
            "committee_b": 404,
            "provider_a": 404,
            "admin": 403,
        },
    ),
    "decide on B again": (
        "post",
        "/api/v1/access-requests/{r}/parts/hospital-b/decide/",
        {"decisions": []},
        {
            "anonymous": 401,
            "outsider": 404,
            "member": 403,
            "pi": 403,
            "committee_a": 404,
            "committee_b": 409,
            "provider_a": 404,
            "admin": 403,
        },
    ),
    "close": (
        "post",
        "/api/v1/access-requests/{r}/close/",
        None,
        {
            "anonymous": 401,
            "outsider": 404,
            "member": 403,
            "pi": 409,
            "committee_a": 403,
            "committee_b": 403,
            "provider_a": 404,
            "admin": 409,
        },
    ),
    "list entitlements": (
        "get",
        "/api/v1/entitlements/",
        None,
        {role: 200 for role in ROLES} | {"anonymous": 401},
    ),
    "visa": (
        "get",
        "/api/v1/entitlements/{e}/visa/",
        None,
        {
            "anonymous": 401,
            "outsider": 404,
            "member": 200,
            "pi": 200,
            "committee_a": 404,
            "committee_b": 403,
            "provider_a": 404,
            "admin": 403,
        },
    ),
    "revoke": (
        "post",
        "/api/v1/entitlements/{e}/revoke/",
        {"reason": "Matrix."},
        {
            "anonymous": 401,
            "outsider": 404,
            "member": 403,
            "pi": 403,
            "committee_a": 404,
            "committee_b": 200,
            "provider_a": 404,
            "admin": 200,
        },
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", list(MATRIX))
def test_every_role_against_every_action(api, cast, action, role):
    request, users, entitlement = cast
    method, template, body, expected = MATRIX[action]
    url = template.format(r=request.pk, e=entitlement.pk)
    response = _call(api, users[role], method, url, body)
    assert response.status_code == expected[role], (action, role, response.content[:200])
    if response.status_code >= 400 and response.status_code != 401:
        assert response.json()["detail"]  # every refusal says why
