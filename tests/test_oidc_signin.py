"""Signing in through a real OpenID Connect provider, end to end.

The provider is tests/oidc/idp.mjs (oidc-provider), started by tests/services.py;
the hub runs as pytest-django's live server on the port registered as the
client's redirect URI. A `requests.Session` plays the browser: it follows the
authorization-code flow through the provider's sign-in form and back to the
hub's callback, exactly as a person would.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.conf import settings

from hub.models import Organisation, Role, RoleAssignment

pytestmark = pytest.mark.services

TIMEOUT = 15
OIDC_LINK = re.compile(r'href="(/oidc/authenticate/[^"]*)"')
LOGIN_FORM = re.compile(r'<form method="post" action="(/interaction/[^"/]+/login)"')
ABORT_FORM = re.compile(r'<form method="post" action="(/interaction/[^"/]+/abort)"')


def idp_url() -> str:
    parts = urlsplit(settings.OIDC_OP_AUTHORIZATION_ENDPOINT)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(autouse=True)
def _needs_identity_provider():
    if not settings.OIDC_ENABLED:
        pytest.fail(
            "OIDC is not configured: start the test services first "
            "(source the output of `tests/services.py start`, or run `make test`)"
        )


@pytest.fixture
def hub(live_server, org_a):
    """The hub, serving over HTTP, with Hospital A known to it."""
    return live_server.url


def open_sign_in_form(hub_url: str) -> tuple[requests.Session, requests.Response]:
    """From the hub's login page, follow "sign in with your institution" to the provider."""
    browser = requests.Session()
    login = browser.get(f"{hub_url}/accounts/login/?next=/api/v1/me/", timeout=TIMEOUT)
    link = OIDC_LINK.search(login.text)
    assert link, f"the login page offers no OIDC sign-in: {login.status_code} {login.text[:300]}"
    page = browser.get(urljoin(login.url, html.unescape(link.group(1))), timeout=TIMEOUT)
    assert page.url.startswith(idp_url() + "/interaction/"), (
        f"expected the provider's sign-in form, got {page.status_code} at {page.url}: "
        f"{page.text[:300]} (does AGORA_TEST_LIVESERVER match IDP_REDIRECT_URIS?)"
    )
    assert page.status_code == 200
    return browser, page


def submit(browser: requests.Session, page: requests.Response, form: re.Pattern, data=None):
    action = form.search(page.text)
    assert action, f"no such form on {page.url}: {page.text[:300]}"
    return browser.post(urljoin(page.url, action.group(1)), data=data or {}, timeout=TIMEOUT)


def sign_in(hub_url: str, username: str, password: str | None = None):
    """The whole journey; returns the browser and the last page it landed on."""
    browser, form = open_sign_in_form(hub_url)
    data = {"username": username, "password": password or f"{username}-password"}
    return browser, submit(browser, form, LOGIN_FORM, data)


def me(browser: requests.Session, hub_url: str) -> dict:
    answer = browser.get(f"{hub_url}/api/v1/me/", timeout=TIMEOUT)
    assert answer.status_code == 200
    return answer.json()


def passed_through_callback(answer: requests.Response, hub_url: str) -> bool:
    return any(r.url.startswith(f"{hub_url}/oidc/callback/") for r in answer.history)


@pytest.fixture
def idp_groups():
    """Move a test account between groups at the provider; restored afterwards."""
    auth = (settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET)
    originals: dict[str, list[str]] = {}

    def set_groups(username: str, groups: list[str]) -> None:
        answer = requests.post(
            f"{idp_url()}/test/accounts/{username}",
            json={"groups": groups},
            auth=auth,
            timeout=TIMEOUT,
        )
        assert answer.status_code == 200, answer.text
        originals.setdefault(username, answer.json()["previous"])

    yield set_groups
    for username, groups in originals.items():
        requests.post(
            f"{idp_url()}/test/accounts/{username}",
            json={"groups": groups},
            auth=auth,
            timeout=TIMEOUT,
        ).raise_for_status()


def test_provider_staff_sign_in_and_hold_the_organisation_role_from_their_group(
    hub, org_a, django_user_model
):
    browser, landed = sign_in(hub, "oidc-provider-a")

    assert passed_through_callback(landed, hub)
    assert landed.url == f"{hub}/api/v1/me/"  # back where sign-in was asked from
    assert me(browser, hub) == {
        "authenticated": True,
        "username": "oidc-provider-a",
        "roles": ["provider (data holder) of Hospital A"],
        "hub_admin": False,
        "projects": [],
    }
    user = django_user_model.objects.get(username="oidc-provider-a")
    assert (user.email, user.first_name, user.last_name) == (
        "oidc-provider-a@idp.example.org",
        "Paula",
        "Provider",
    )
    assert not user.has_usable_password()  # the provider is the only way in
    assert not user.is_staff and not user.is_superuser
    assignment = RoleAssignment.objects.get(user=user)
    assert (assignment.role, assignment.organisation, assignment.source) == (
        Role.PROVIDER,
        org_a,
        RoleAssignment.Source.OIDC,
    )


def test_researcher_groups_give_the_researcher_role_and_project_membership(hub):
    browser, _ = sign_in(hub, "oidc-researcher")

    answer = me(browser, hub)
    assert answer["username"] == "oidc-researcher"
    assert sorted(answer["roles"]) == ["project member of LUNG1", "researcher"]
    assert answer["projects"] == ["LUNG1"]
    assert answer["hub_admin"] is False


def test_admin_group_makes_a_hub_administrator(hub, django_user_model):
    browser, _ = sign_in(hub, "oidc-admin")

    answer = me(browser, hub)
    assert answer["hub_admin"] is True
    assert answer["roles"] == ["hub administrator"]
    admin = django_user_model.objects.get(username="oidc-admin")
    assert admin.is_staff and admin.is_superuser  # the Django admin too


def test_leaving_the_admin_group_takes_administration_away_at_next_sign_in(
    hub, django_user_model, idp_groups
):
    sign_in(hub, "oidc-admin")
    idp_groups("oidc-admin", ["RESEARCHER"])

    browser, _ = sign_in(hub, "oidc-admin")

    answer = me(browser, hub)
    assert (answer["hub_admin"], answer["roles"]) == (False, ["researcher"])
    admin = django_user_model.objects.get(username="oidc-admin")
    assert not admin.is_staff and not admin.is_superuser


def test_keycloak_group_paths_count_and_unknown_organisations_are_ignored(
    hub, org_a, django_user_model
):
    # oidc-committee is in /COMMITTEE-hospital-a, /PROVIDER-no-such-hospital, /staff/radiology
    browser, landed = sign_in(hub, "oidc-committee")

    assert passed_through_callback(landed, hub)
    assert me(browser, hub)["roles"] == ["data access committee member of Hospital A"]
    user = django_user_model.objects.get(username="oidc-committee")
    assert list(RoleAssignment.objects.filter(user=user).values_list("role", "organisation")) == [
        (Role.COMMITTEE_MEMBER, org_a.pk)
    ]
    assert not Organisation.objects.filter(slug="no-such-hospital").exists()


def test_signing_in_again_replaces_oidc_roles_and_keeps_manual_ones(
    hub, org_a, django_user_model, idp_groups
):
    sign_in(hub, "oidc-researcher")
    user = django_user_model.objects.get(username="oidc-researcher")
    # An administrator adds a role by hand in the admin.
    RoleAssignment.objects.create(user=user, role=Role.COMMITTEE_MEMBER, organisation=org_a)
    # At the provider, the person moves from the lung project to Hospital A's staff.
    idp_groups("oidc-researcher", ["PROVIDER-hospital-a", "PROJECT-BRAIN2"])

    browser, _ = sign_in(hub, "oidc-researcher")

    answer = me(browser, hub)
    assert sorted(answer["roles"]) == [
        "data access committee member of Hospital A",
        "project member of BRAIN2",
        "provider (data holder) of Hospital A",
    ]
    assert answer["projects"] == ["BRAIN2"]
    sources = set(
        RoleAssignment.objects.filter(user=user).values_list("role", "project_code", "source")
    )
    assert sources == {
        (Role.COMMITTEE_MEMBER, "", RoleAssignment.Source.MANUAL),
        (Role.PROVIDER, "", RoleAssignment.Source.OIDC),
        (Role.PROJECT_MEMBER, "BRAIN2", RoleAssignment.Source.OIDC),
    }
    assert django_user_model.objects.filter(username="oidc-researcher").count() == 1


def test_a_wrong_password_does_not_sign_in(hub, django_user_model):
    browser, form = open_sign_in_form(hub)

    answer = submit(
        browser, form, LOGIN_FORM, {"username": "oidc-provider-a", "password": "not-the-password"}
    )

    assert answer.status_code == 401
    assert "Invalid username or password." in answer.text
    assert not passed_through_callback(answer, hub)
    assert me(browser, hub) == {"authenticated": False, "roles": []}
    assert not django_user_model.objects.filter(username="oidc-provider-a").exists()


def test_an_unknown_person_cannot_sign_in(hub, django_user_model):
    browser, answer = sign_in(hub, "nobody", password="nobody-password")

    assert answer.status_code == 401
    assert me(browser, hub)["authenticated"] is False
    assert not django_user_model.objects.filter(username="nobody").exists()


def test_cancelling_at_the_provider_comes_back_signed_out(hub, django_user_model):
    browser, form = open_sign_in_form(hub)

    answer = submit(browser, form, ABORT_FORM)

    assert passed_through_callback(answer, hub)  # with error=access_denied
    assert me(browser, hub)["authenticated"] is False
    assert django_user_model.objects.count() == 0
