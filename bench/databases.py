"""What the benchmarks share: a throwaway database (PostgreSQL on the server of a given
URL, or the hub's SQLite default), the hub set up on it, and a clean exit on SIGTERM."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit


def with_database(url: str, name: str) -> str:
    """The same server and credentials, another database."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


@contextmanager
def throwaway_database(
    url: str, name: str, *, keep: bool = False, log: Callable[[str], None] = print
) -> Iterator[str]:
    """Create `name` afresh on the server of `url` (never touching `url`'s own database),
    yield its URL, and drop it at the end unless `keep`."""
    import psycopg

    admin = with_database(url, "postgres")

    def execute(sql: str) -> None:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql)

    execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    execute(f"CREATE DATABASE {name}")
    try:
        yield with_database(url, name)
    finally:
        from django.db import connections

        connections.close_all()
        if keep:
            log(f"kept database {name}")
        else:
            execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def bench_database(
    name: str, given: str, *, keep: bool = False, log: Callable[[str], None] = print
) -> Iterator[str]:
    """A throwaway PostgreSQL database `name` on `given`'s server, or "" (the hub's SQLite
    default) when `given` is not a PostgreSQL URL. `keep` leaves the database behind."""
    if not given.startswith(("postgres://", "postgresql://")):
        yield ""
        return
    with throwaway_database(given, name, keep=keep, log=log) as db_url:
        yield db_url


def setup_django(url: str, var_dir: Path) -> None:
    """The hub's settings on the bench's own files: its SQLite file (without a PostgreSQL
    URL) and its Celery broker live in var_dir, so the tasks a run queues (anchoring
    traces, harvests) sit in a throwaway broker no worker reads; DEBUG off (it would keep
    every query in memory)."""
    os.environ["AGORA_VAR_DIR"] = str(var_dir)
    if url:
        os.environ["DATABASE_URL"] = url
    else:
        os.environ.pop("DATABASE_URL", None)
    for name in ("CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "DJANGO_DEBUG"):
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "hub.settings"
    import django
    from django.conf import settings
    from django.core.management import call_command

    django.setup()
    assert not settings.DEBUG and not settings.CELERY_TASK_ALWAYS_EAGER
    assert settings.CELERY_BROKER_URL.startswith("sqla+sqlite:///" + str(var_dir))
    call_command("migrate", verbosity=0)


def database_line() -> str:
    """The database the run used, with what decides its write speed."""
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT version(), current_setting('synchronous_commit'), current_setting('fsync')"
            )
            version, sync, fsync = cursor.fetchone()
            return f"{version.split(',')[0]}, synchronous_commit {sync}, fsync {fsync}"
        cursor.execute("SELECT sqlite_version()")
        version = cursor.fetchone()[0]
        cursor.execute("PRAGMA journal_mode")
        journal = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous")
        sync = cursor.fetchone()[0]
        return f"SQLite {version} in var/bench/, journal_mode {journal}, synchronous {sync}"


@contextmanager
def terminated_cleanly() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so servers, nodes and files are still cleaned up."""

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc), for CPU and memory totals."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(c) for c in task.read_text().split()]
            except OSError:
                continue
    return pids
