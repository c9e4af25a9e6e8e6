"""PostgreSQL test databases: `pg_url` gives each test a database of its own, dropped after;
`RedshiftOnPostgres` runs the Redshift target's SQL on one of them.

The server is the one at 127.0.0.1:5432 (or DYNASHIFT_PG_URL, an admin connection URL). When it
cannot be reached the tests are skipped with a message, except in CI (CI=true), where they fail:
a missing server must never pass silently there.
"""

from __future__ import annotations

import os
import re
import uuid
from typing import Any, Iterator, Sequence
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from dynashift.errors import TargetError
from dynashift.schema import fit
from dynashift.targets.base import quote
from dynashift.targets.postgres import _escape_percent

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


# ---------------------------------------------------------------- Redshift's SQL, run on PostgreSQL

_TOKENS = re.compile(
    r"""\s(?:DISTKEY|SORTKEY)\((?:"(?:[^"]|"")*"(?:,\s*)?)+\)"""  # table attributes PostgreSQL lacks
    r"""|\sWITH NO SCHEMA BINDING\b"""  # a late-binding view: PostgreSQL's views bind when made
    r"""|DATEADD\(second,\s*(-CAST\(%s AS INTEGER\)),\s*SYSDATE\)"""  # seconds_ago()
    r"""|"(?:[^"]|"")*"|'(?:[^']|'')*'|\bSYSDATE\b"""
)


def redshift_to_postgres(sql: str) -> str:
    """The few spellings in which the Redshift target's SQL differs from PostgreSQL's, rewritten;
    quoted names longer than PostgreSQL's 63 bytes are cut and hashed consistently."""

    def sub(m: re.Match[str]) -> str:
        text = m.group(0)
        if text.startswith(("'",)):
            return text
        if text.startswith('"'):
            name = text[1:-1].replace('""', '"')
            return text if len(name.encode()) <= 63 else quote(fit(name, 63))
        if text == "SYSDATE":
            return "now()"
        if text.startswith("DATEADD"):
            return f"(now() + ({m.group(1)}) * INTERVAL '1 second')"
        return ""  # DISTKEY(...), SORTKEY(...), WITH NO SCHEMA BINDING

    return _TOKENS.sub(sub, sql)


class RedshiftOnPostgres:
    """The Redshift target's connection seam played by a PostgreSQL database: it records every
    statement (for the SQL tests) and runs it there (so the target's behaviour is checked, not
    mocked). It answers SHOW enable_case_sensitive_identifier and db_collation() itself, like a
    default cluster."""

    max_statement_bytes = 8 << 20

    def __init__(self, url: str, case_sensitive: bool = False, collation: str = "case_sensitive"):
        self.con = psycopg.connect(url, autocommit=True, prepare_threshold=None)
        self.case_sensitive, self.collation = case_sensitive, collation
        self.statements: list[tuple[str, list[Any]]] = []

    def run(self, sql: str, params: Sequence[Any], fetch: bool) -> list[tuple] | None:
        self.statements.append((sql, list(params)))
        cur = self.cursor(sql, params)
        if cur is None:
            return self.answer(sql)
        return cur.fetchall() if fetch else None

    def answer(self, sql: str) -> list[tuple] | None:
        """What a default cluster answers to the statements only a cluster understands."""
        if sql == "SHOW enable_case_sensitive_identifier":
            return [("on" if self.case_sensitive else "off",)]
        if sql == "SELECT db_collation()":
            return [(self.collation,)]
        return None

    def cursor(self, sql: str, params: Sequence[Any]) -> psycopg.Cursor | None:
        """Run one statement on PostgreSQL; None for the settings only a cluster has."""
        if self.answer(sql) is not None or sql.startswith("SET enable_case_sensitive_"):
            return None
        pg = redshift_to_postgres(sql)
        try:
            return self.con.execute(_escape_percent(pg) if params else pg, list(params) if params else None)
        except psycopg.Error as exc:
            raise TargetError(f"Redshift (played by PostgreSQL): {str(exc).strip().splitlines()[0]}") from None

    def close(self) -> None:
        self.con.close()
