"""PostgreSQL test databases: `pg_url` gives each test a database of its own, dropped after.

The server is the one at 127.0.0.1:5432 (or DYNASHIFT_PG_URL, an admin connection URL). When it
cannot be reached the tests are skipped with a message, except in CI (CI=true), where they fail:
a missing server must never pass silently there.
"""

from __future__ import annotations

import os
import uuid
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

ADMIN_URL = os.environ.get("DYNASHIFT_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
UNREACHABLE = ("PostgreSQL not reachable at 127.0.0.1:5432: start it (or set DYNASHIFT_PG_URL) to run these tests")


def admin() -> psycopg.Connection:
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        message = f"{UNREACHABLE} ({str(exc).strip().splitlines()[0]})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"dynashift_test_{uuid.uuid4().hex[:12]}"
    with admin() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(ADMIN_URL, name)
    finally:
        with admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_rows(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as con:
        return con.execute(sql, params or None).fetchall()
