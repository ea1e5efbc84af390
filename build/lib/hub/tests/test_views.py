"""The hub's own pages and endpoints: health, metrics, API description, sign-in
with a local account, and the production settings' deployment check."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client

from hub import services
from hub.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-" + "x" * 12  # conftest.make_user's default


@pytest.fixture
def redis_broker():
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.fail(
            "CELERY_BROKER_URL must point at the test Redis; run the suite with `make test`"
        )
    return settings.CELERY_BROKER_URL


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- health ------------------------------------------------------------------------------


def test_healthz_is_ok_when_the_database_and_the_broker_answer(client, db, redis_broker):
    answer = client.get("/healthz")

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"] == body["checks"]["broker"] | {
        "status": "ok",
        "transport": "redis",
    }


def test_healthz_answers_503_naming_the_broker_when_it_is_down(
    client, db, redis_broker, settings, monkeypatch
):
    down = f"redis://127.0.0.1:{closed_port()}/0"
    settings.CELERY_BROKER_URL = down
    # Celery prefers CELERY_BROKER_URL from the environment over its loaded configuration.
    monkeypatch.setenv("CELERY_BROKER_URL", down)
    assert celery_app.conf.broker_write_url == down

    answer = client.get("/healthz")

    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "error"
    assert body["checks"]["broker"]["detail"]  # the kind of failure, never a URL or password
    assert "127.0.0.1" not in json.dumps(body)
    assert body["checks"]["database"]["status"] == "ok"


def test_healthz_needs_no_credentials(client, db, redis_broker):
    assert client.get("/healthz", HTTP_AUTHORIZATION="Token agora_not-a-token").status_code == 200


# --- metrics and API description --------------------------------------------------------------


def test_metrics_are_served_in_prometheus_text_format(client, db):
    client.get("/healthz")

    answer = client.get("/metrics")

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("text/plain")
    text = answer.content.decode()
    assert "# TYPE django_http_requests_before_middlewares_total counter" in text
    assert "django_http_responses_total_by_status_total" in text


def test_api_schema_is_an_openapi_3_document(client, db):
    answer = client.get("/api/schema/")

    assert answer.status_code == 200
    assert answer["Content-Type"].startswith("application/vnd.oai.openapi")
    schema = yaml.safe_load(answer.content)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Agora hub API"
    assert "/api/v1/me/" in schema["paths"]
    assert any(path.startswith("/api/v1/datasets/") for path in schema["paths"])


def test_api_schema_is_also_served_as_json(client, db):
    answer = client.get("/api/schema/", {"format": "json"})

    assert answer.status_code == 200
    assert json.loads(answer.content)["openapi"].startswith("3.")


def test_api_docs_page_loads_with_assets_served_by_the_hub(client, db):
    answer = client.get("/api/docs/")

    assert answer.status_code == 200
    page = answer.content.decode()
    assert "swagger-ui" in page.lower()
    assert "/api/schema/" in page
    # Hospital networks are often closed: the Swagger UI files come from the hub itself.
    bundle = "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"
    assert settings.STATIC_URL + bundle in page
    assert finders.find(bundle)


# --- local accounts ----------------------------------------------------------------------


def test_a_local_account_signs_in_on_the_login_page(provider_a):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/accounts/login/")
    assert page.status_code == 200
    assert 'name="password"' in page.content.decode()

    answer = browser.post(
        "/accounts/login/",
        {
            "username": "provider_a",
            "password": PASSWORD,
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value,
        },
    )

    assert answer.status_code == 302
    assert answer["Location"] == settings.LOGIN_REDIRECT_URL
    me = browser.get("/api/v1/me/").json()
    assert me["username"] == "provider_a"
    assert me["roles"] == ["provider (data holder) of Hospital A"]


def test_a_wrong_local_password_keeps_the_person_signed_out(provider_a):
    browser = Client()

    answer = browser.post("/accounts/login/", {"username": "provider_a", "password": "wrong"})

    assert answer.status_code == 200  # the form again, with an error
    assert browser.get("/api/v1/me/").json()["authenticated"] is False


def test_a_machine_account_cannot_sign_in_on_the_login_page(db):
    services.create_api_token(username="tracer-bot", machine_role="trace_writer")
    browser = Client()

    for password in ("", "!", "tracer-bot"):
        browser.post("/accounts/login/", {"username": "tracer-bot", "password": password})

    assert browser.get("/api/v1/me/").json()["authenticated"] is False


# --- production settings -----------------------------------------------------------------


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    secret = {
        "DJANGO_SECRET_KEY",
        "CHAIN_PRIVATE_KEY",
        "TRACER_PSEUDONYM_KEY",
        "PASSPORT_SIGNING_KEY",
    }
    environment = {k: v for k, v in os.environ.items() if k not in secret} | env
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deployment_check():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        "--settings=hub.settings_production",
        **PRODUCTION_SECRETS,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


PRODUCTION_SECRETS = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "CHAIN_PRIVATE_KEY": "0x" + secrets.token_hex(32),
    "TRACER_PSEUDONYM_KEY": secrets.token_urlsafe(32),
    "PASSPORT_SIGNING_KEY": "-----BEGIN PRIVATE KEY-----\\nnot read by check --deploy\\n"
    "-----END PRIVATE KEY-----",
}


@pytest.mark.parametrize(
    "missing, message",
    [
        ("CHAIN_PRIVATE_KEY", "CHAIN_PRIVATE_KEY must be the hub's own signing key"),
        ("TRACER_PSEUDONYM_KEY", "TRACER_PSEUDONYM_KEY must be set"),
        ("PASSPORT_SIGNING_KEY", "PASSPORT_SIGNING_KEY must be set"),
    ],
)
def test_production_settings_refuse_the_development_chain_key_and_a_derived_pseudonym_key(
    missing, message
):
    given = {k: v for k, v in PRODUCTION_SECRETS.items() if k != missing}
    result = run_manage("check", "--settings=hub.settings_production", **given)

    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = run_manage("check", "--settings=hub.settings_production")

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr
