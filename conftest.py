"""Fixtures shared by every app's tests: organisations, people in each role,
an API client that acts as someone, datasets built through the services, and
a real Celery worker on the test Redis for tests that need one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from hub.models import Organisation, Role, RoleAssignment

ROOT = Path(__file__).resolve().parent
WORKER_MAIL = ROOT / "var" / "test-worker-mail"


def pytest_configure(config):
    from django.conf import settings

    # Real password checks, without PBKDF2's deliberate slowness on every test user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    live = os.environ.get("AGORA_TEST_LIVESERVER")
    if live and not config.getoption("liveserver", default=None):
        config.option.liveserver = live


def make_user(django_user_model, username, *roles, password="pw-" + "x" * 12):
    """roles: (role, organisation or None, project_code) tuples, or a bare role name."""
    user = django_user_model.objects.create_user(
        username=username, password=password, email=f"{username}@example.org"
    )
    for spec in roles:
        role, org, code = (spec, None, "") if isinstance(spec, str) else spec
        RoleAssignment.objects.create(user=user, role=role, organisation=org, project_code=code)
    return user


@pytest.fixture
def org_a(db):
    return Organisation.objects.create(slug="hospital-a", name="Hospital A", country="ES")


@pytest.fixture
def org_b(db):
    return Organisation.objects.create(slug="hospital-b", name="Hospital B", country="IT")


@pytest.fixture
def provider_a(django_user_model, org_a):
    return make_user(django_user_model, "provider_a", (Role.PROVIDER, org_a, ""))


@pytest.fixture
def provider_b(django_user_model, org_b):
    return make_user(django_user_model, "provider_b", (Role.PROVIDER, org_b, ""))


@pytest.fixture
def researcher(django_user_model):
    return make_user(django_user_model, "researcher", Role.RESEARCHER)


@pytest.fixture
def committee_a(django_user_model, org_a):
    return make_user(django_user_model, "committee_a", (Role.COMMITTEE_MEMBER, org_a, ""))


@pytest.fixture
def hub_admin(django_user_model):
    return make_user(django_user_model, "hub_admin", Role.HUB_ADMIN)


class ActingClient(APIClient):
    def as_(self, user):
        self.credentials()
        self.force_authenticate(user=user)
        return self

    def anonymous(self):
        self.credentials()
        self.force_authenticate(user=None)
        return self

    def with_token(self, user):
        """As `user`, authenticated the way machines are: a real API token in the header."""
        from hub.services import create_api_token

        self.force_authenticate(user=None)
        self.credentials(HTTP_AUTHORIZATION="Token " + create_api_token(username=user.username))
        return self


@pytest.fixture
def api():
    return ActingClient()


LUNG_CT = {
    "title": "Lung cancer screening CT",
    "description": "Low-dose chest CT from a lung cancer screening programme with nodule annotations.",
    "keywords": ["lung", "screening", "nodule"],
    "modalities": ["CT"],
    "body_parts": ["CHEST"],
    "diagnoses": ["C34.1"],
    "sex_counts": {"female": 120, "male": 180},
    "age_min": 50,
    "age_max": 80,
    "number_of_subjects": 300,
    "number_of_studies": 420,
    "access_rights": "RESTRICTED",
    "duo_terms": ["DUO:0000007"],
    "license": "https://creativecommons.org/licenses/by-nc/4.0/",
    "contact_name": "Imaging data desk",
    "contact_email": "imaging@hospital-a.example",
    "authors": [{"name": "A. Radiologist", "affiliation": "Hospital A"}],
    "studies": [{"id": "study-1", "sha3_256": "ab" * 32}],
}


@pytest.fixture
def make_dataset(org_a, provider_a):
    """Build a dataset through the services and move it to `state`."""
    from catalogue import services

    def build(state="draft", organisation=None, by=None, **overrides):
        organisation = organisation or org_a
        by = by or provider_a
        dataset = services.create_dataset(organisation=organisation, by=by, **(LUNG_CT | overrides))
        steps = {
            "draft": [],
            "released": [services.release_dataset],
            "published": [services.release_dataset, services.publish_dataset],
        }
        for step in steps.get(state, []):
            dataset = step(dataset=dataset, by=by)
        if state == "invalidated":
            dataset = services.release_dataset(dataset=dataset, by=by)
            dataset = services.invalidate_dataset(
                dataset=dataset, by=by, reason="Consent withdrawn"
            )
        return dataset

    return build


@pytest.fixture(scope="session")
def zenodo_service():
    """The local Zenodo stand-in, for the whole session (the worker is told its address)."""
    from tests.fakes.zenodo_server import FakeZenodo

    with FakeZenodo(tokens=["worker-token"], communities=["eucaim"]) as server:
        yield server


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, zenodo_service, ganache):
    """A real `celery worker` process on the test Redis, using the test database.

    Tests using it need `transactional_db` so the worker sees their rows.
    """
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        pytest.fail(
            "CELERY_BROKER_URL must point at the test Redis; run the suite with `make test`"
        )
    name = connection.settings_dict["NAME"]
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    env = os.environ | {
        "DATABASE_URL": url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "ZENODO_API_URL": zenodo_service.base_url,
        "CHAIN_RPC_URL": ganache.url,
        # The worker's e-mails land in files the tests read.
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(WORKER_MAIL),
    }
    shutil.rmtree(WORKER_MAIL, ignore_errors=True)
    log = open(ROOT / "var" / "test-celery-worker.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "hub",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--without-gossip",
            "--without-mingle",
            "--loglevel=INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from hub.celery import app

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if app.control.ping(timeout=0.5):
            break
        if proc.poll() is not None:
            pytest.fail("celery worker exited; see var/test-celery-worker.log")
    else:
        proc.kill()
        pytest.fail("celery worker did not answer within 60 s")
    yield proc
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Each test starts with an empty cache (the tracer caches chain checks briefly)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def in_process_chain(settings):
    """The tracer on a fresh in-process EVM (eth-tester): fast, and gone after the test."""
    from tracer import chain

    chain.reset_in_process()
    settings.CHAIN_RPC_URL = chain.IN_PROCESS
    settings.CHAIN_PRIVATE_KEY = ""
    settings.TRACER_CONTRACT_ADDRESS = ""
    yield chain
    chain.reset_in_process()


@pytest.fixture(scope="session")
def ganache(tmp_path_factory):
    """A real ganache node for the session (tests that stop it use their own)."""
    from tests.chain import GanacheNode

    with GanacheNode(tmp_path_factory.mktemp("ganache") / "chain") as node:
        yield node


def signed_in(user) -> Client:
    """A browser session of `user` (anonymous for None), for page tests."""
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def page_text(response) -> str:
    return response.content.decode()


def wait_until(predicate, timeout=20.0, interval=0.1):
    """Poll until predicate() is truthy (for work done by the real worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


# -- a real Chromium, for the browser tests of every app ------------------------------

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "var" / "screenshots"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs it (Debian package chromium)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls made by
    # fixtures between page actions are still plain synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
