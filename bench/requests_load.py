#!/usr/bin/env python
"""Access requests under load: the hub under gunicorn on PostgreSQL, 50 clients at once.

    python bench/requests_load.py            # 1 client for 15 s, then 50 clients for 60 s
    python bench/requests_load.py --quick    # 1 client for 5 s, then 50 clients for 10 s
    python bench/requests_load.py --keep     # keep the database afterwards

It makes its own database `agora_bench_requests` on the PostgreSQL server DATABASE_URL
names (else postgres://postgres@127.0.0.1:5432), builds a small world through the hub's
own services (four organisations with committees of three, one deciding by majority with a
chair and a quorum of two, the others by one approver; released and published datasets;
38 researchers with a project each; an API token for everyone), starts the hub under
gunicorn on a free loopback port and drives it over HTTP with the API tokens:

- researchers draft a request, complete it (purpose, DUO terms, terms accepted), submit it,
  read their requests, entitlements, notices and visas, and close decided requests;
- committee members read their organisation's queue, read a request, vote and decide;
  the three members of a one-approver committee go for the same (oldest) part, so some
  decisions and votes answer 409: counted as conflicts, not errors.

First the same clients take turns on one connection (the baseline: the same operations,
one request at a time), then 50 threads, one client each. Every 2xx body is checked
against the OpenAPI schema the hub generates. An error is a 5xx, a connection failure, a
timeout, any other unexpected status, or a body that breaks the schema.

It prints a table per phase and ends with one `TARGET ...` line per figure. See
bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.databases import (  # noqa: E402
    bench_database,
    database_line,
    process_tree,
    setup_django,
    terminated_cleanly,
)

BENCH_DATABASE = "agora_bench_requests"
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379"
WORK_DIR = ROOT / "var" / "bench"
SERVER_LOG = WORK_DIR / "requests_load-gunicorn.log"  # kept only when something failed

CLIENTS = 50
ORGANISATIONS = (  # slug, name, country, rule; each committee has three members
    ("bench-valencia", "Bench Hospital Valencia", "ES", "majority"),
    ("bench-milano", "Bench Cancer Institute Milano", "IT", "one_approver"),
    ("bench-lisboa", "Bench Oncology Centre Lisboa", "PT", "one_approver"),
    ("bench-leuven", "Bench University Hospital Leuven", "BE", "one_approver"),
)
MEMBERS_PER_COMMITTEE = 3
QUORUM = 2
DATASETS_PER_ORGANISATION = 6  # 4 released, 2 published
TIMEOUT_SECONDS = 10
NEW_REQUEST_SHARE = 0.5  # of a researcher's rounds: draft, complete and submit a request
READS_PER_ROUND = 2

ERRORS_GOAL = 0  # p95 and throughput are reported, with no goal (see bench/README.md)

STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:4.0f} s] {message}", file=sys.stderr, flush=True)


# --- the operations --------------------------------------------------------------------

PART_ACTION = "/api/v1/access-requests/{id}/parts/{organisation}/{action}/"


@dataclass(frozen=True)
class Op:
    method: str
    path: str  # as in the OpenAPI schema
    expected: int
    conflicts: bool = False  # 409 is an expected answer (concurrent committee members)


OPS = {
    "create": Op("post", "/api/v1/access-requests/", 201),
    "edit": Op("patch", "/api/v1/access-requests/{id}/", 200),
    "submit": Op("post", "/api/v1/access-requests/{id}/submit/", 200),
    "list (project)": Op("get", "/api/v1/access-requests/", 200),
    "read request": Op("get", "/api/v1/access-requests/{id}/", 200),
    "entitlements": Op("get", "/api/v1/entitlements/", 200),
    "visa": Op("get", "/api/v1/entitlements/{id}/visa/", 200),
    "notices": Op("get", "/api/v1/notices/", 200),
    "close": Op("post", "/api/v1/access-requests/{id}/close/", 200),
    "list (committee)": Op("get", "/api/v1/access-requests/", 200),
    "vote": Op("post", PART_ACTION, 200, conflicts=True),
    "decide": Op("post", PART_ACTION, 200, conflicts=True),
}
OPEN_PART = {"pending", "under_review"}
FINAL = {"approved", "partially_approved", "rejected"}


# --- what each call left ---------------------------------------------------------------


@dataclass
class Sample:
    op: str
    status: int  # 0: no answer (connection failure, timeout)
    ms: float
    outcome: str  # ok | conflict | error
    end: float = field(default_factory=time.perf_counter)


@dataclass
class Recorder:
    """One thread's samples, the bodies to check against the schema, the errors seen."""

    samples: list[Sample] = field(default_factory=list)
    bodies: list[tuple[str, int, bytes]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def merge(self, other: Recorder) -> None:
        self.samples += other.samples
        self.bodies += other.bodies
        self.errors += other.errors


# --- the clients -----------------------------------------------------------------------


class Client:
    """One person with an API token. A round is a few requests planned together; step()
    sends the next one (planning a new round when the last one is done)."""

    def __init__(self, username: str, token: str, base: str, seed: int) -> None:
        import requests

        self.username = username
        self.base = base
        self.rng = random.Random(seed)
        self.plan: deque[Callable[[], None]] = deque()
        self.recorder = Recorder()
        self.session = requests.Session()
        self.session.headers.update(
            {"Authorization": f"Token {token}", "Accept": "application/json"}
        )

    def step(self) -> None:
        if not self.plan:
            self.plan_round()
        self.plan.popleft()()

    def plan_round(self) -> None:
        raise NotImplementedError

    def call(self, op: str, path: str, body: dict | None = None) -> dict | None:
        """Send one request; record its time and outcome; the parsed body when it answered
        as expected (None otherwise)."""
        import requests

        spec = OPS[op]
        start = time.perf_counter()
        try:
            response = self.session.request(
                spec.method.upper(), self.base + path, json=body, timeout=TIMEOUT_SECONDS
            )
        except requests.Timeout:
            self._error(op, 0, start, f"{op} {path}: no answer in {TIMEOUT_SECONDS} s")
            return None
        except requests.RequestException as exc:
            self._error(op, 0, start, f"{op} {path}: {type(exc).__name__}: {exc}")
            return None
        ms = (time.perf_counter() - start) * 1000
        status = response.status_code
        if status == spec.expected:
            try:
                parsed = response.json()
            except ValueError:
                self._error(op, status, start, f"{op} {path}: {status} but not JSON", ms)
                return None
            self.recorder.samples.append(Sample(op, status, ms, "ok"))
            self.recorder.bodies.append((op, status, response.content))
            return parsed
        if status == 409 and spec.conflicts and _error_envelope(response):
            self.recorder.samples.append(Sample(op, status, ms, "conflict"))
            return None
        sent = f" {json.dumps(body)[:300]}" if body is not None else ""
        detail = f"{spec.method.upper()} {path}{sent} -> {status}: {response.text[:500]}"
        self._error(op, status, start, f"{op} ({self.username}): {detail}", ms)
        return None

    def _error(self, op: str, status: int, start: float, detail: str, ms: float = 0) -> None:
        ms = ms or (time.perf_counter() - start) * 1000
        self.recorder.samples.append(Sample(op, status, ms, "error"))
        self.recorder.errors.append(detail)


def _error_envelope(response) -> bool:
    """A 409 in the hub's error envelope ({"error": ..., "detail": ...})."""
    try:
        answer = response.json()
    except ValueError:
        return False
    return isinstance(answer, dict) and "error" in answer and "detail" in answer


class Researcher(Client):
    """The principal investigator of one project: drafts, completes and submits requests,
    reads what happens to them, asks for visas, closes decided requests."""

    def __init__(self, *args, project: str, datasets: dict[str, list[str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.project = project
        self.datasets = datasets  # organisation slug -> dataset ids
        self.draft: tuple[int, list[str]] | None = None
        self.known: dict[int, str] = {}  # request id -> state last seen
        self.active: list[int] = []  # active entitlement ids last seen

    def plan_round(self) -> None:
        if self.rng.random() < NEW_REQUEST_SHARE:
            self.plan += [self.create, self.edit, self.submit]
        reads = [self.list, self.read, self.entitlements, self.notices, self.visa, self.close]
        self.plan += self.rng.choices(reads, weights=[3, 3, 2, 2, 1, 1], k=READS_PER_ROUND)

    def create(self) -> None:
        organisations = self.rng.sample(sorted(self.datasets), self.rng.choice([1, 1, 2]))
        wanted = [d for o in organisations for d in self.rng.sample(self.datasets[o], 2)]
        wanted = wanted[: self.rng.choice([1, 2, 3])] if len(organisations) == 1 else wanted
        answer = self.call(
            "create",
            "/api/v1/access-requests/",
            {
                "project": self.project,
                "datasets": wanted,
                "purpose": "Train a nodule detector.",
            },
        )
        self.draft = (answer["id"], wanted) if answer else None

    def edit(self) -> None:
        if self.draft is None:
            return
        pk, wanted = self.draft
        answer = self.call(
            "edit",
            f"/api/v1/access-requests/{pk}/",
            {
                "purpose": "Train and externally validate a lung nodule detector on CT.",
                "purpose_duo": ["DUO:0000042"],
                "duration_days": 365,
                "ethics_reference": f"CEIm-{pk}",
                "terms_accepted": wanted,
            },
        )
        if answer is None:
            self.draft = None

    def submit(self) -> None:
        if self.draft is None:
            return
        pk, _ = self.draft
        self.draft = None
        answer = self.call("submit", f"/api/v1/access-requests/{pk}/submit/")
        if answer:
            self.known[pk] = answer["state"]

    def list(self) -> None:
        answer = self.call("list (project)", "/api/v1/access-requests/")
        for request in answer["results"] if answer else []:
            self.known[request["id"]] = request["state"]

    def read(self) -> None:
        if not self.known:
            return self.list()
        pk = self.rng.choice(sorted(self.known))
        answer = self.call("read request", f"/api/v1/access-requests/{pk}/")
        if answer:
            self.known[pk] = answer["state"]

    def entitlements(self) -> None:
        answer = self.call("entitlements", "/api/v1/entitlements/")
        if answer:
            self.active = [e["id"] for e in answer["results"] if e["state"] == "active"]

    def notices(self) -> None:
        unread = self.rng.random() < 0.5
        self.call("notices", "/api/v1/notices/" + ("?unread=1" if unread else ""))

    def visa(self) -> None:
        if not self.active:
            return self.entitlements()
        self.call("visa", f"/api/v1/entitlements/{self.rng.choice(self.active)}/visa/")

    def close(self) -> None:
        decided = sorted(pk for pk, state in self.known.items() if state in FINAL)
        if not decided:
            return self.read()
        pk = decided[0]
        answer = self.call("close", f"/api/v1/access-requests/{pk}/close/")
        if answer:
            self.known[pk] = answer["state"]


class Member(Client):
    """A committee member: reads their organisation's queue (oldest first), reads the
    request, votes, decides. Under the majority rule the others vote and the chair
    decides once the quorum has voted yes; under the one-approver rule anyone decides
    (after voting, now and then)."""

    def __init__(self, *args, organisation: str, rule: str, chair: bool, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        self.rule = rule
        self.chair = chair
        self.queues = deque(["submitted", "under_review"])
        self.last_page = {"submitted": 1, "under_review": 1}

    def plan_round(self) -> None:
        self.plan.append(self.find)
        if self.rng.random() < 0.3:
            self.plan.append(self.rng.choice([self.entitlements, self.notices]))

    def find(self) -> None:
        """The queue's last page (its oldest requests); the oldest part of ours still open
        there that we can act on is read next, then acted on."""
        self.queues.rotate()
        state = self.queues[0]
        answer = self.call(
            "list (committee)",
            f"/api/v1/access-requests/?state={state}&page={self.last_page[state]}",
        )
        if not answer:
            return
        self.last_page[state] = answer["pages"] or 1
        candidates = sorted(
            (request["id"], part)
            for request in answer["results"]
            for part in request["parts"]
            if part["organisation"] == self.organisation
            and part["state"] in OPEN_PART
            and self._next_action(part)
        )
        if candidates:
            pk = candidates[0][0]
            self.plan.appendleft(lambda: self.read(pk))

    def _next_action(self, part: dict) -> str | None:
        voted = any(v["voter"] == self.username for v in part["votes"])
        if self.rule == "one_approver":
            return "decide"
        if self.chair and sum(v["choice"] == "yes" for v in part["votes"]) >= QUORUM:
            return "decide"
        return None if voted else "vote"

    def read(self, pk: int) -> None:
        """Read the request; if our part is still open, plan what to do with it."""
        answer = self.call("read request", f"/api/v1/access-requests/{pk}/")
        parts = [
            p for p in (answer or {}).get("parts", []) if p["organisation"] == self.organisation
        ]
        if not parts or parts[0]["state"] not in OPEN_PART:
            return  # decided meanwhile
        part = parts[0]
        action = self._next_action(part)
        if action is None:
            return
        datasets = [item["dataset"] for item in part["items"]]
        steps = [action]
        voted = any(v["voter"] == self.username for v in part["votes"])
        if action == "decide" and not voted and self.rng.random() < 0.3:
            steps = ["vote", "decide"]  # a one-approver member votes first, now and then
        for name in reversed(steps):
            self.plan.appendleft(lambda name=name: self.act(pk, name, datasets))

    def act(self, pk: int, action: str, datasets: list[str]) -> None:
        path = f"/api/v1/access-requests/{pk}/parts/{self.organisation}/{action}/"
        if action == "vote":
            self.call("vote", path, {"choice": "yes", "comment": "Consent covers it."})
        else:
            self.call("decide", path, {"decisions": self._decisions(datasets)})

    def _decisions(self, datasets: list[str]) -> list[dict]:
        end = (date.today() + timedelta(days=365)).isoformat()
        reject_first = self.rule == "one_approver" and self.rng.random() < 0.15
        decisions = []
        for n, dataset in enumerate(datasets):
            if reject_first and n == 0:
                decisions.append(
                    {"dataset": dataset, "approve": False, "reason": "Consent excludes this."}
                )
            else:
                decisions.append(
                    {
                        "dataset": dataset,
                        "approve": True,
                        "conditions": "Sandbox only; cite the dataset.",
                        "end_date": end,
                    }
                )
        return decisions

    def entitlements(self) -> None:
        self.call("entitlements", "/api/v1/entitlements/")

    def notices(self) -> None:
        self.call("notices", "/api/v1/notices/?unread=1")


# --- the world, built through the hub's own services ------------------------------------


@dataclass
class World:
    researchers: list[dict]  # username, token, project
    members: list[dict]  # username, token, organisation, rule, chair
    datasets: dict[str, list[str]]  # organisation slug -> released or published dataset ids


def build_world(researchers: int) -> World:
    """Organisations with committees, providers and their datasets (catalogue services),
    researchers with a project each (access_requests services), an API token each."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from access_requests import services as requests_services
    from access_requests.models import Committee
    from catalogue import services as catalogue
    from hub.models import Organisation, Role, RoleAssignment
    from hub.services import create_api_token

    User = get_user_model()

    def person(username: str, role: str, organisation=None):
        user = User.objects.create_user(
            username=username, email=f"{username}@bench.agora.example", password=None
        )
        RoleAssignment.objects.create(user=user, role=role, organisation=organisation)
        return user

    def token(user) -> str:
        return create_api_token(username=user.username, name="bench requests_load")

    members, datasets = [], {}
    with transaction.atomic():
        for n, (slug, name, country, rule) in enumerate(ORGANISATIONS):
            organisation = Organisation.objects.create(slug=slug, name=name, country=country)
            provider = person(f"provider-{slug}", Role.PROVIDER, organisation)
            people = [
                person(f"committee-{slug}-{k + 1}", Role.COMMITTEE_MEMBER, organisation)
                for k in range(MEMBERS_PER_COMMITTEE)
            ]
            Committee.objects.create(
                organisation=organisation,
                rule=rule,
                quorum=QUORUM if rule == "majority" else 1,
                chair=people[0] if rule == "majority" else None,
            )
            members += [
                {
                    "username": user.username,
                    "token": token(user),
                    "organisation": slug,
                    "rule": rule,
                    "chair": rule == "majority" and k == 0,
                }
                for k, user in enumerate(people)
            ]
            datasets[slug] = []
            for k in range(DATASETS_PER_ORGANISATION):
                dataset = catalogue.create_dataset(
                    organisation=organisation, by=provider, **dataset_fields(n, k, name)
                )
                dataset = catalogue.release_dataset(dataset=dataset, by=provider)
                if k >= 4:
                    dataset = catalogue.publish_dataset(dataset=dataset, by=provider)
                datasets[slug].append(str(dataset.pk))
        people = []
        for k in range(researchers):
            user = person(f"researcher-{k + 1:02d}", Role.RESEARCHER)
            project = requests_services.create_project(
                by=user,
                code=f"LOAD-{k + 1:02d}",
                title=f"Load project {k + 1}",
                purpose="Lung nodule detection on screening CT.",
            )
            people.append(
                {"username": user.username, "token": token(user), "project": project.code}
            )
    return World(researchers=people, members=members, datasets=datasets)


def dataset_fields(n: int, k: int, organisation: str) -> dict:
    """A plausible lung-CT collection (no real patients)."""
    return {
        "title": f"Lung cancer screening CT, cohort {n + 1}.{k + 1}",
        "description": f"Low-dose chest CT with nodule annotations from {organisation}.",
        "keywords": ["lung", "screening", "nodule"],
        "modalities": ["CT"],
        "body_parts": ["CHEST"],
        "diagnoses": ["C34.1"],
        "sex_counts": {"female": 120 + k, "male": 180 + n},
        "age_min": 50,
        "age_max": 80,
        "number_of_subjects": 300 + 10 * k,
        "number_of_studies": 420 + 10 * k,
        "access_rights": "RESTRICTED",
        "duo_terms": ["DUO:0000007"] if k % 2 else ["DUO:0000042"],
        "license": "https://creativecommons.org/licenses/by-nc/4.0/",
        "contact_name": "Imaging data desk",
        "contact_email": "imaging@bench.agora.example",
        "authors": [{"name": "A. Radiologist", "affiliation": organisation}],
        "studies": [{"id": f"study-{n}-{k}", "sha3_256": "ab" * 32}],
    }


def make_clients(world: World, base: str) -> list[Client]:
    clients: list[Client] = []
    for n, r in enumerate(world.researchers):
        clients.append(
            Researcher(
                r["username"],
                r["token"],
                base,
                seed=n,
                project=r["project"],
                datasets=world.datasets,
            )
        )
    for n, m in enumerate(world.members):
        clients.append(
            Member(
                m["username"],
                m["token"],
                base,
                seed=1000 + n,
                organisation=m["organisation"],
                rule=m["rule"],
                chair=m["chair"],
            )
        )
    return clients


# --- the schema check ------------------------------------------------------------------


def openapi_schema() -> dict:
    """The schema the hub serves (drf-spectacular), as JSON."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(OpenApiJsonRenderer().render(schema, renderer_context={}))


def _nullable(node):
    """OpenAPI 3.0's `nullable: true` in JSON Schema terms (null is allowed too)."""
    if isinstance(node, list):
        return [_nullable(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable(v) for k, v in node.items()}
    if node.get("nullable") is True:
        del node["nullable"]
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


class SchemaCheck:
    """A JSON Schema validator per (operation, status), from the response schema of the
    operation's path and method; $refs resolve against the schema's components."""

    def __init__(self, schema: dict) -> None:
        from jsonschema import Draft202012Validator

        self.components = _nullable(schema.get("components", {}))
        self.validators = {}
        missing = []
        for name, op in OPS.items():
            operation = schema["paths"].get(op.path, {}).get(op.method)
            if operation is None:
                missing.append(f"{op.method.upper()} {op.path}")
                continue
            for status, response in operation.get("responses", {}).items():
                body = (response.get("content") or {}).get("application/json", {}).get("schema")
                if body is not None and status.isdigit():
                    root = dict(_nullable(body), components=self.components)
                    self.validators[(name, int(status))] = Draft202012Validator(
                        root, format_checker=Draft202012Validator.FORMAT_CHECKER
                    )
        if missing:
            raise SystemExit(f"the hub's OpenAPI schema has no {', '.join(missing)}")

    def violations(self, op: str, status: int, content: bytes) -> list[str]:
        validator = self.validators.get((op, status))
        if validator is None:
            return [f"{op}: status {status} is not in the schema"]
        found = []
        for error in validator.iter_errors(json.loads(content)):
            where = "/".join(str(p) for p in error.absolute_path) or "(body)"
            found.append(f"{op} {status}: at {where}: {error.message[:200]}")
        return found


# --- the server ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def scratch_redis(url: str) -> Iterator[str]:
    """An empty Redis database (15 down to 1) for the server's Celery broker, emptied at
    the end: the e-mail tasks each step queues sit there, no worker reads them. "" when
    no Redis answers at `url`."""
    import redis

    try:
        for db in range(15, 0, -1):
            client = redis.Redis.from_url(f"{url}/{db}", socket_timeout=2)
            if client.dbsize() == 0:
                break
        else:
            raise RuntimeError(f"no empty database on {url}")
    except (redis.RedisError, RuntimeError) as exc:
        log(f"no Redis broker ({exc}); the broker is a SQLite file in the work directory")
        yield ""
        return
    try:
        yield f"{url}/{db}"
    finally:
        queued = client.llen("celery")
        client.flushdb()
        log(f"Redis database {db}: {queued} queued tasks dropped")


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_path: Path
    description: str


@contextmanager
def gunicorn(db_url: str, work: Path, broker: str, workers: int, threads: int) -> Iterator[Server]:
    """The hub under gunicorn (gthread workers) on a free loopback port, its log in a file;
    stopped with SIGTERM (gunicorn's graceful stop) at the end."""
    port = free_port()
    env = dict(os.environ, DATABASE_URL=db_url, AGORA_VAR_DIR=str(work))
    env["DJANGO_SETTINGS_MODULE"] = "hub.settings"
    for name in ("DJANGO_DEBUG", "CELERY_TASK_ALWAYS_EAGER", "CELERY_BROKER_URL"):
        env.pop(name, None)
    if broker:
        env["CELERY_BROKER_URL"] = broker
    executable = Path(sys.executable).with_name("gunicorn")
    command = [
        str(executable if executable.exists() else shutil.which("gunicorn") or "gunicorn"),
        "hub.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--worker-class=gthread",
        "--timeout=60",
        "--graceful-timeout=10",
        # As behind a proxy: idle keep-alive connections stay open between the phases, so
        # no client loses a request to a connection the server closed a moment before.
        "--keep-alive=75",
        f"--chdir={ROOT}",
    ]
    if _gunicorn_has("--no-control-socket"):  # gunicorn 24+: no socket in ~/.gunicorn
        command.append("--no-control-socket")
    log_path = work / "gunicorn.log"
    with log_path.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(
        f"http://127.0.0.1:{port}",
        process,
        log_path,
        f"gunicorn {workers} workers x {threads} threads (gthread)",
    )
    try:
        wait_healthy(server)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _gunicorn_has(option: str) -> bool:
    from gunicorn.config import KNOWN_SETTINGS

    return any(option in (setting.cli or ()) for setting in KNOWN_SETTINGS)


def wait_healthy(server: Server, seconds: float = 60) -> dict:
    import requests

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(
                f"gunicorn exited ({server.process.returncode}); its log:\n"
                + server.log_path.read_text()[-3000:]
            )
        try:
            answer = requests.get(server.url + "/healthz", timeout=5)
            if answer.status_code == 200:
                return answer.json()
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SystemExit(f"gunicorn at {server.url} not healthy after {seconds:.0f} s")


# --- a phase ---------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    threads: int
    seconds: float  # as asked: no request starts after that
    wall: float  # until the last request in flight ended
    deadline: float  # perf_counter
    recorder: Recorder
    cpu: dict[str, float]  # share of the machine's CPU time during the phase

    @property
    def answered(self) -> int:
        return sum(1 for s in self.recorder.samples if s.status)

    @property
    def throughput(self) -> float:
        """Answers (any status) completed within the phase's time, per second."""
        done = sum(1 for s in self.recorder.samples if s.status and s.end <= self.deadline)
        return done / self.seconds


class CpuClock:
    """CPU time of the whole machine (/proc/stat), of this process (the clients) and of
    the server's process tree, to tell a saturated server from a saturated machine."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start = self._read()

    def _read(self) -> tuple[float, float, float, float]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        total = sum(fields[:8])
        server = sum(_cpu_ticks(pid) for pid in process_tree(self.server_pid))
        return (
            total / self.tick,
            (total - idle) / self.tick,
            time.process_time(),
            server / self.tick,
        )

    def shares(self) -> dict[str, float]:
        total, busy, clients, server = (
            b - a for a, b in zip(self.start, self._read(), strict=True)
        )
        total = total or 1.0
        return {
            "busy": busy / total,
            "clients": clients / total,
            "server": server / total,
            "rest": max(0.0, busy - clients - server) / total,
        }


def _cpu_ticks(pid: int) -> int:
    """utime + stime of a process and its waited-for children (fields 14 to 17)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields = stat.rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15])


def run_phase(name: str, groups: list[list[Client]], seconds: float, server_pid: int) -> Phase:
    """One thread per group; each takes steps of its clients in turn (a client finishes
    its round before the next one starts) until the time is up."""
    recorders = [Recorder() for _ in groups]
    start_line = threading.Barrier(len(groups) + 1)
    deadline = [0.0]

    def work(group: list[Client], recorder: Recorder) -> None:
        for client in group:
            client.recorder = recorder
        start_line.wait()
        turn = 0
        while time.monotonic() < deadline[0]:
            client = group[turn % len(group)]
            client.step()
            if not client.plan:
                turn += 1

    threads = [
        threading.Thread(target=work, args=(g, r), daemon=True, name=f"client-{n}")
        for n, (g, r) in enumerate(zip(groups, recorders, strict=True))
    ]
    for thread in threads:
        thread.start()
    clock = CpuClock(server_pid)
    deadline[0] = time.monotonic() + seconds
    started = time.perf_counter()
    start_line.wait()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    merged = Recorder()
    for recorder in recorders:
        merged.merge(recorder)
    phase = Phase(name, len(groups), seconds, wall, started + seconds, merged, clock.shares())
    log(
        f"{name}: {phase.answered:,} answers in {wall:.1f} s ({phase.throughput:.1f}/s), "
        f"{len(merged.errors)} errors"
    )
    return phase


# --- the report ------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def answered_ms(phase: Phase, op: str | None = None) -> list[float]:
    return [s.ms for s in phase.recorder.samples if s.status and (op is None or s.op == op)]


def table(phase: Phase, baseline: Phase | None = None) -> None:
    header = f"{'operation':<18}{'count':>7}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
    if baseline is not None:
        header += f"{'p95 vs 1':>10}"
    header += "  statuses"
    print(header)
    print("-" * (len(header) + 14))
    for op in [*OPS, None]:
        samples = [s for s in phase.recorder.samples if op is None or s.op == op]
        if not samples:
            continue
        ms = answered_ms(phase, op)
        statuses = Counter(str(s.status) if s.status else "none" for s in samples)
        shown = " ".join(f"{k}:{v}" for k, v in sorted(statuses.items()))
        row = f"{op or 'all':<18}{len(samples):>7,}"
        if ms:
            row += f"{percentile(ms, 50):>9.1f}{percentile(ms, 95):>9.1f}{max(ms):>9.1f}"
        else:
            row += f"{'':>27}"
        if baseline is not None:
            base = answered_ms(baseline, op)
            ratio = percentile(ms, 95) / percentile(base, 95) if ms and base else None
            row += f"{ratio:>10.1f}" if ratio else f"{'':>10}"
        print(f"{row}  {shown}")


@dataclass
class Results:
    database: str
    server: str
    broker: str
    phases: list[Phase]  # warm-up, 1 client, 50 clients
    checked: int
    check_seconds: float
    violations: list[str]  # one line per body that breaks the schema
    world: str
    kept_log: Path | None


def world_counts() -> str:
    """What the run left in the database."""
    from django.db.models import Count

    from access_requests.models import AccessRequest, Entitlement, Notice, Vote

    states = dict(
        AccessRequest.objects.values_list("state").annotate(n=Count("id")).order_by("state")
    )
    shown = ", ".join(f"{state} {n:,}" for state, n in sorted(states.items()))
    return (
        f"requests by state: {shown}; votes {Vote.objects.count():,}; entitlements "
        f"{Entitlement.objects.count():,}; notices {Notice.objects.count():,}"
    )


def cpu(phase: Phase) -> str:
    c = phase.cpu
    return (
        f"CPU of the machine ({os.cpu_count()} CPUs) busy {c['busy']:.0%}: clients "
        f"{c['clients']:.0%}, gunicorn {c['server']:.0%}, the rest (PostgreSQL, other "
        f"processes) {c['rest']:.0%}"
    )


def report(r: Results, quick: bool) -> bool:
    """Print the report; True when every goal is met."""
    warm, single, load = r.phases
    print()
    print(f"{r.database}; whole run {time.monotonic() - STARTED:.0f} s")
    print(
        f"The hub under {r.server} on loopback; Celery broker "
        f"{r.broker or 'a SQLite file'} (no worker: the e-mail tasks only queue). "
        f"{load.threads} clients with API tokens: {CLIENTS - len(ORGANISATIONS) * MEMBERS_PER_COMMITTEE} "
        f"researchers (a project each) and {len(ORGANISATIONS)} committees of "
        f"{MEMBERS_PER_COMMITTEE} (one majority rule, quorum {QUORUM}, with a chair; the "
        "others one approver), no think time; timeout "
        f"{TIMEOUT_SECONDS} s. Before: {warm.answered:,} warm-up requests, not counted below."
    )
    print()
    print(
        f"1 client (the baseline: the same clients taking turns, one request at a time), "
        f"{single.seconds:.0f} s, {single.throughput:.1f} requests/s; {cpu(single)}"
    )
    table(single)
    print()
    print(
        f"{load.threads} clients at once, {load.seconds:.0f} s (the last answer "
        f"{load.wall - load.seconds:.1f} s later), {load.throughput:.1f} requests/s; {cpu(load)}; "
        "p95 vs 1 is this p95 over the 1-client p95"
    )
    table(load, baseline=single)
    print()
    p95 = percentile(answered_ms(load), 95)
    base_p95 = percentile(answered_ms(single), 95)
    conflicts = sum(s.outcome == "conflict" for s in load.recorder.samples)
    failures = [s for p in r.phases for s in p.recorder.samples if s.outcome == "error"]
    errors = len(failures) + len(r.violations)
    kinds = Counter(
        "no answer" if not s.status else ("5xx" if s.status >= 500 else f"{s.status}")
        for s in failures
    )
    print(
        f"p95 {p95:.1f} ms under load, {base_p95:.1f} ms for 1 client "
        f"({p95 / base_p95:.1f}x); throughput {load.throughput:.1f} requests/s under load, "
        f"{single.throughput:.1f} for 1 client ({load.throughput / single.throughput:.1f}x)"
    )
    print(f"conflicts (409 to a vote or a decision on a part decided meanwhile): {conflicts:,}")
    print(
        f"schema: {r.checked:,} 2xx bodies checked against the hub's OpenAPI schema in "
        f"{r.check_seconds:.1f} s, {len(r.violations)} broke it"
    )
    print(
        f"errors (every phase): {errors} ("
        + ", ".join(
            [f"{kind} {n}" for kind, n in sorted(kinds.items())] + [f"schema {len(r.violations)}"]
        )
        + ")"
    )
    for detail in [e for p in r.phases for e in p.recorder.errors][:5] + r.violations[:5]:
        print(f"  {detail}")
    if r.kept_log:
        print(f"  the server's log (tracebacks of 5xx answers): {r.kept_log}")
    print(f"database after the run: {r.world}")
    if quick:
        print(f"# --quick: {load.seconds:.0f} s under load, not the full run's 60 s")
    print(f"TARGET name=requests_load_errors measured={errors} goal==={ERRORS_GOAL} unit=errors")
    print(f"TARGET name=requests_load_conflicts measured={conflicts} goal=>=0 unit=responses")
    print(f"TARGET name=requests_load_p95_ms measured={p95:.1f} goal=>0 unit=ms")
    print(
        f"TARGET name=requests_load_throughput_rps measured={load.throughput:.1f} goal=>0 unit=rps"
    )
    return errors == ERRORS_GOAL


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 s then 10 s (50 clients still)")
    parser.add_argument("--seconds", type=float, help="the 50 clients' time (default 60, quick 10)")
    parser.add_argument("--baseline-seconds", type=float, help="1 client (default 15, quick 5)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (default 4)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help=f"broker server ({DEFAULT_REDIS})")
    parser.add_argument("--keep", action="store_true", help=f"keep the {BENCH_DATABASE} database")
    args = parser.parse_args()
    seconds = args.seconds or (10 if args.quick else 60)
    baseline_seconds = args.baseline_seconds or (5 if args.quick else 15)
    warmup_seconds = 2 if args.quick else 3

    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql://")):
        given = DEFAULT_SERVER
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="requests-load-", dir=WORK_DIR))
    try:
        with (
            terminated_cleanly(),
            bench_database(BENCH_DATABASE, given, keep=args.keep, log=log) as db_url,
            scratch_redis(args.redis) as broker,
        ):
            setup_django(db_url, work)
            database = database_line()
            log(f"{database}; migrated")
            world = build_world(CLIENTS - len(ORGANISATIONS) * MEMBERS_PER_COMMITTEE)
            count = sum(len(d) for d in world.datasets.values())
            log(
                f"world: {len(ORGANISATIONS)} organisations, {len(world.members)} committee "
                f"members, {len(world.researchers)} researchers with a project each, "
                f"{count} datasets"
            )
            check = SchemaCheck(openapi_schema())
            from django.db import connections

            connections.close_all()
            with gunicorn(db_url, work, broker, args.workers, args.threads) as server:
                log(f"{server.description} at {server.url}; broker {broker or 'SQLite file'}")
                clients = make_clients(world, server.url)
                pid = server.process.pid
                warm = run_phase(
                    "warm-up", [clients[n::10] for n in range(10)], warmup_seconds, pid
                )
                single = run_phase("1 client", [clients], baseline_seconds, pid)
                load = run_phase(f"{len(clients)} clients", [[c] for c in clients], seconds, pid)
                for client in clients:
                    client.session.close()
            log("checking every 2xx body against the OpenAPI schema")
            phases = [warm, single, load]
            started = time.perf_counter()
            violations, checked = [], 0
            for phase in phases:
                for op, status, content in phase.recorder.bodies:
                    found = check.violations(op, status, content)
                    checked += 1
                    if found:
                        violations.append(f"{phase.name}: " + "; ".join(found[:3]))
            check_seconds = time.perf_counter() - started
            kept_log = None
            if violations or any(p.recorder.errors for p in phases):
                shutil.copy(server.log_path, SERVER_LOG)
                kept_log = SERVER_LOG
            ok = report(
                Results(
                    database=database,
                    server=server.description,
                    broker=broker,
                    phases=phases,
                    checked=checked,
                    check_seconds=check_seconds,
                    violations=violations,
                    world=world_counts(),
                    kept_log=kept_log,
                ),
                quick=args.quick,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log("done")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
