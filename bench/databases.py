"""A throwaway PostgreSQL database for a benchmark, on the server of a given URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
