#!/usr/bin/env python
"""Start and stop the real services the test suite talks to, on free loopback ports.

    python tests/services.py start   # prints `export NAME=value` lines for the shell
    python tests/services.py stop

Always throwaway instances (a PostgreSQL cluster, a Redis server, the OpenID
Connect provider), so a run never touches a developer's own databases and works
on machines where nothing is running. State lives in var/test-services/.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / "var" / "test-services"
PIDS = STATE / "pids.json"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not answer on port {port} within {timeout} s")


def as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        raise SystemExit("PostgreSQL server binaries not found; run `make test` (it installs them)")
    return str(found[-1])


def start_cluster(data: Path) -> int:
    """A new PostgreSQL cluster in `data` on a free loopback port, tuned for throwaway use."""
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    subprocess.run(
        as_postgres(
            [pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8"]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = (
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off "
        "-c synchronous_commit=off -c full_page_writes=off"
    )
    subprocess.run(
        as_postgres(
            [
                pg_bin("pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(data / "log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return port


def stop_cluster(data: Path) -> None:
    if (data / "postmaster.pid").exists():
        subprocess.run(
            as_postgres([pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def start_postgres() -> dict:
    port = start_cluster(STATE / "pg")
    return {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{port}/agora"}


def start_redis() -> tuple[dict, int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(STATE),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_port(port, "Redis")
    url = f"redis://127.0.0.1:{port}/0"
    return {"CELERY_BROKER_URL": url, "REDIS_URL": url}, proc.pid


def start_idp(live_port: int) -> tuple[dict, int]:
    port = free_port()
    client_id, secret = "agora-hub", "agora-test-secret"
    env = os.environ | {
        "IDP_PORT": str(port),
        "IDP_CLIENT_ID": client_id,
        "IDP_CLIENT_SECRET": secret,
        "IDP_REDIRECT_URIS": f"http://127.0.0.1:{live_port}/oidc/callback/",
        "IDP_POST_LOGOUT_REDIRECT_URIS": f"http://127.0.0.1:{live_port}/",
    }
    log = open(STATE / "idp.log", "w")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        ["node", str(ROOT / "tests" / "oidc" / "idp.mjs")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port, "OIDC provider")
    issuer = f"http://127.0.0.1:{port}"
    return {
        "OIDC_RP_CLIENT_ID": client_id,
        "OIDC_RP_CLIENT_SECRET": secret,
        "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{issuer}/auth",
        "OIDC_OP_TOKEN_ENDPOINT": f"{issuer}/token",
        "OIDC_OP_USER_ENDPOINT": f"{issuer}/me",
        "OIDC_OP_JWKS_ENDPOINT": f"{issuer}/jwks",
        "OIDC_OP_LOGOUT_ENDPOINT": f"{issuer}/session/end",
        "OIDC_TEST_ISSUER": issuer,
    }, proc.pid


def start() -> None:
    stop(quiet=True)
    STATE.mkdir(parents=True, exist_ok=True)
    live_port = free_port()
    env = {"AGORA_TEST_LIVESERVER": f"127.0.0.1:{live_port}", "CELERY_TASK_ALWAYS_EAGER": "0"}
    env |= start_postgres()
    redis_env, redis_pid = start_redis()
    env |= redis_env
    idp_env, idp_pid = start_idp(live_port)
    env |= idp_env
    PIDS.write_text(json.dumps({"redis": redis_pid, "idp": idp_pid}))
    for name, value in env.items():
        print(f"export {name}='{value}'")


def stop(quiet: bool = False) -> None:
    if PIDS.exists():
        for pid in json.loads(PIDS.read_text()).values():
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        PIDS.unlink()
    stop_cluster(STATE / "pg")
    if not quiet:
        print("test services stopped", file=sys.stderr)


if __name__ == "__main__":
    {"start": start, "stop": stop}[sys.argv[1] if len(sys.argv) > 1 else "start"]()
