"""API tokens, machine accounts, and the mapping from OIDC groups to roles."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from hub import services
from hub.auth import roles_from_groups
from hub.models import ApiToken, Organisation, Role, RoleAssignment
from hub.roles import replace_oidc_roles

ME = "/api/v1/me/"


def create_token(*args: str) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue().strip()


def client_with(header: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    return client


# --- API tokens --------------------------------------------------------------------------


def test_a_token_printed_by_the_command_authenticates_its_user(provider_a):
    raw = create_token("provider_a", "--name", "nightly export")

    answer = client_with(f"Token {raw}").get(ME)

    assert answer.status_code == 200
    assert answer.json() == {
        "authenticated": True,
        "username": "provider_a",
        "roles": ["provider (data holder) of Hospital A"],
        "hub_admin": False,
        "projects": [],
    }
    token = ApiToken.objects.get()
    assert token.last_used is not None
    assert (token.user, token.name, token.revoked) == (provider_a, "nightly export", False)


def test_only_a_hash_of_the_token_is_stored(provider_a):
    raw = create_token("provider_a")

    token = ApiToken.objects.get()
    assert raw.startswith("agora_") and len(raw) > 40
    assert raw not in {token.key_hash, token.prefix, token.name}
    assert raw.startswith("agora_" + token.prefix)


def test_a_revoked_token_is_refused_with_a_clear_message(provider_a):
    raw = create_token("provider_a")
    assert services.revoke_api_token(prefix=ApiToken.objects.get().prefix) == 1

    answer = client_with(f"Token {raw}").get(ME)

    assert answer.status_code == 401
    assert answer.json()["detail"] == "Invalid or revoked token."
    assert answer["WWW-Authenticate"] == "Token"


def test_an_unknown_token_is_refused_with_a_clear_message(db):
    answer = client_with("Token agora_this-token-was-never-issued").get(ME)

    assert answer.status_code == 401
    assert answer.json()["detail"] == "Invalid or revoked token."


def test_a_token_of_a_deactivated_user_is_refused(provider_a):
    raw = create_token("provider_a")
    provider_a.is_active = False
    provider_a.save()

    assert client_with(f"Token {raw}").get(ME).status_code == 401


def test_a_malformed_authorization_header_is_refused(provider_a):
    answer = client_with("Token two parts").get(ME)

    assert answer.status_code == 401
    assert answer.json()["detail"] == "Authorization header must be 'Token <key>'."


def test_without_a_token_the_caller_is_anonymous(db):
    answer = APIClient().get(ME)

    assert answer.status_code == 200
    assert answer.json() == {"authenticated": False, "roles": []}


def test_machine_role_creates_a_machine_account_that_cannot_use_a_password(db, django_user_model):
    raw = create_token("tracer-bot", "--machine-role", "trace_writer")

    machine = django_user_model.objects.get(username="tracer-bot")
    assert not machine.has_usable_password()
    assert list(machine.role_assignments.values_list("role", flat=True)) == [Role.TRACE_WRITER]
    answer = client_with(f"Token {raw}").get(ME).json()
    assert answer["username"] == "tracer-bot"
    assert answer["roles"] == ["trace writer (machine account)"]


def test_machine_role_for_an_existing_machine_account_adds_a_second_token(db, django_user_model):
    first = create_token("tracer-bot", "--machine-role", "trace_writer")
    second = create_token("tracer-bot", "--machine-role", "trace_writer")

    assert first != second
    assert django_user_model.objects.filter(username="tracer-bot").count() == 1
    assert RoleAssignment.objects.filter(role=Role.TRACE_WRITER).count() == 1
    for raw in (first, second):
        assert client_with(f"Token {raw}").get(ME).json()["username"] == "tracer-bot"


def test_a_token_for_an_unknown_user_is_a_command_error(db):
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        create_token("ghost")
    assert not ApiToken.objects.exists()


def test_only_machine_roles_can_be_given_by_the_command(db, django_user_model):
    with pytest.raises(CommandError, match="invalid choice"):
        create_token("someone", "--machine-role", "provider")
    assert not django_user_model.objects.filter(username="someone").exists()


# --- OIDC groups to roles --------------------------------------------------------------------


def as_keys(wanted) -> set[tuple[str, str | None, str]]:
    return {(role, org.slug if org else None, code) for role, org, code in wanted}


def test_groups_map_to_roles(org_a, org_b):
    wanted = roles_from_groups(
        [
            "PROVIDER-hospital-a",
            "COMMITTEE-hospital-b",
            "PROJECT-LUNG1",
            "RESEARCHER",
            "HUB-ADMIN",
            "TRACE-WRITER",
            "unrelated",
        ]
    )

    assert as_keys(wanted) == {
        (Role.PROVIDER, "hospital-a", ""),
        (Role.COMMITTEE_MEMBER, "hospital-b", ""),
        (Role.PROJECT_MEMBER, None, "LUNG1"),
        (Role.RESEARCHER, None, ""),
        (Role.HUB_ADMIN, None, ""),
        (Role.TRACE_WRITER, None, ""),
    }


def test_keycloak_group_paths_count_by_their_last_segment(org_a):
    wanted = roles_from_groups(["/PROVIDER-hospital-a", "/hub/RESEARCHER/", "/projects/PROJECT-X9"])

    assert as_keys(wanted) == {
        (Role.PROVIDER, "hospital-a", ""),
        (Role.RESEARCHER, None, ""),
        (Role.PROJECT_MEMBER, None, "X9"),
    }


def test_both_organisation_roles_from_groups_of_one_organisation(org_a):
    wanted = roles_from_groups(["PROVIDER-hospital-a", "COMMITTEE-hospital-a"])

    assert as_keys(wanted) == {
        (Role.PROVIDER, "hospital-a", ""),
        (Role.COMMITTEE_MEMBER, "hospital-a", ""),
    }


def test_groups_of_unknown_organisations_are_ignored_and_logged(org_a, caplog):
    with caplog.at_level(logging.WARNING, logger="hub.auth"):
        wanted = roles_from_groups(["PROVIDER-hospital-z", "COMMITTEE-hospital-a"])

    assert as_keys(wanted) == {(Role.COMMITTEE_MEMBER, "hospital-a", "")}
    assert "slug=hospital-z" in caplog.text
    assert not Organisation.objects.filter(slug="hospital-z").exists()


def test_empty_names_and_non_strings_give_no_roles(org_a):
    assert roles_from_groups(["PROJECT-", "PROVIDER-", "", 42, None, {"name": "HUB-ADMIN"}]) == []


def test_group_names_and_prefixes_come_from_settings(org_a, settings):
    settings.OIDC_GROUP_PROVIDER_PREFIX = "agora-data-"
    settings.OIDC_GROUP_PROJECT_PREFIX = "agora-project-"
    settings.OIDC_GROUP_ADMIN = "agora-admins"

    wanted = roles_from_groups(
        ["/agora/agora-data-hospital-a", "agora-project-LUNG1", "agora-admins", "HUB-ADMIN"]
    )

    assert as_keys(wanted) == {
        (Role.PROVIDER, "hospital-a", ""),
        (Role.PROJECT_MEMBER, None, "LUNG1"),
        (Role.HUB_ADMIN, None, ""),
    }
    assert roles_from_groups(["PROVIDER-hospital-a", "PROJECT-LUNG1"]) == []


def test_replacing_oidc_roles_keeps_manual_ones(org_a, org_b, researcher):
    RoleAssignment.objects.create(user=researcher, role=Role.PROVIDER, organisation=org_b)
    replace_oidc_roles(researcher, roles_from_groups(["PROVIDER-hospital-a", "PROJECT-LUNG1"]))

    replace_oidc_roles(researcher, roles_from_groups(["COMMITTEE-hospital-a", "PROJECT-LUNG1"]))

    held = set(
        RoleAssignment.objects.filter(user=researcher).values_list(
            "role", "organisation__slug", "project_code", "source"
        )
    )
    manual, oidc = RoleAssignment.Source.MANUAL, RoleAssignment.Source.OIDC
    assert held == {
        (Role.RESEARCHER, None, "", manual),
        (Role.PROVIDER, "hospital-b", "", manual),
        (Role.COMMITTEE_MEMBER, "hospital-a", "", oidc),
        (Role.PROJECT_MEMBER, None, "LUNG1", oidc),
    }


def test_no_groups_removes_every_oidc_role(org_a, researcher):
    replace_oidc_roles(researcher, roles_from_groups(["PROVIDER-hospital-a", "HUB-ADMIN"]))

    replace_oidc_roles(researcher, roles_from_groups([]))

    assert list(researcher.role_assignments.values_list("role", "source")) == [
        (Role.RESEARCHER, RoleAssignment.Source.MANUAL)
    ]
