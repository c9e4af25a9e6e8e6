"""Issue 14: the commands that only look (status, report, verify, doctor) create nothing: no
DuckDB file, no schema, no table; without dynashift metadata they say so (exit 1). The metadata
records each table's schema, so status finds tables wherever they were replicated; and no error
is the echo "current transaction is aborted" instead of the statement that failed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import pytest

from dynashift.errors import TargetError
from support.simulated import simulate
from dynashift.targets import make_target
from support.pg import pg_url  # noqa: F401 - fixture


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynashift.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=120, env={**os.environ, **(env or {})})


def schemas(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as con:
        return {s for (s,) in con.execute("SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg_%'"
                                          " AND nspname <> 'information_schema'").fetchall()}


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["report", "--out", "r.html"],
                                     ["verify", "--table", "orders", "--endpoint-url", "http://127.0.0.1:9"]])
def test_a_missing_duckdb_file_is_an_error_and_is_not_created(tmp_path: Path, command: list[str]) -> None:
    done = cli(*command, "--target", "duckdb:///typo.duckdb", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("error: no dynashift metadata in duckdb:///typo.duckdb")
    assert len(done.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_a_duckdb_file_without_metadata_is_left_as_it_was(tmp_path: Path) -> None:
    import duckdb

    duckdb.connect(str(tmp_path / "other.duckdb")).close()
    before = (tmp_path / "other.duckdb").read_bytes()
    done = cli("status", "--target", "duckdb:///other.duckdb", cwd=tmp_path)
    assert done.returncode == 1 and "no dynashift metadata in duckdb:///other.duckdb" in done.stderr
    assert (tmp_path / "other.duckdb").read_bytes() == before


def test_doctor_creates_no_duckdb_file(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text("")
    done = cli("doctor", "--json", "--source", "file://in.jsonl", "--target", "duckdb:///new.duckdb", cwd=tmp_path)
    checks = {c["name"]: c for c in orjson.loads(done.stdout)["checks"]}
    assert done.returncode == 0, done.stdout
    assert checks["target"]["status"] == "pass" and checks["writable"]["status"] == "pass"
    assert not (tmp_path / "new.duckdb").exists()


def test_status_report_doctor_create_nothing_in_a_postgres_database(tmp_path: Path, pg_url: str) -> None:
    before = schemas(pg_url)
    for command in (["status"], ["report", "--out", "r.html"]):
        done = cli(*command, "--target", pg_url, cwd=tmp_path)
        assert done.returncode == 1 and "no dynashift metadata in postgresql://" in done.stderr, done.stderr
    doctor = cli("doctor", "--json", "--source", "file://.", "--target", pg_url, "--schema", "analytics", cwd=tmp_path)
    checks = {c["name"]: c["status"] for c in orjson.loads(doctor.stdout)["checks"]}
    assert checks["target"] == "pass" and checks["writable"] == "pass", doctor.stdout
    assert schemas(pg_url) == before


def test_status_finds_tables_in_the_schema_they_were_replicated_into(tmp_path: Path, pg_url: str) -> None:
    simulate(tmp_path / "sim", changes=500, tables=2, seed=3, expected=False)
    done = cli("run", "--once", "-q", "--source", "file://sim", "--target", pg_url, "--schema", "analytics", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    status = cli("status", "--json", "--target", pg_url, cwd=tmp_path)  # no --schema
    assert status.returncode == 0, status.stderr
    tables = {t["table"]: t["rows"] for t in orjson.loads(status.stdout)["tables"]}
    with psycopg.connect(pg_url, autocommit=True) as con:
        expected = {name: con.execute(f'SELECT count(*) FROM analytics."{name}"').fetchone()[0]
                    for (name,) in con.execute("SELECT table_name FROM dynashift.tables").fetchall()}
        stored = dict(con.execute("SELECT table_name, schema_name FROM dynashift.tables").fetchall())
    assert tables == expected and "audit.log" in tables
    assert set(stored.values()) == {"analytics"}
    # a later run naming another schema still writes each table where it lives
    again = cli("run", "--once", "-q", "--source", "file://sim", "--target", pg_url, "--schema", "typed", cwd=tmp_path)
    assert again.returncode == 0 and "transaction is aborted" not in again.stderr, again.stderr


def test_the_failing_statement_is_reported_not_the_aborted_transaction(pg_url: str) -> None:
    target = make_target(pg_url)
    target.open()
    try:
        with pytest.raises(TargetError) as caught:
            with target.transaction():
                try:
                    target.execute('SELECT * FROM typed."sessions"')
                except TargetError:
                    pass  # a cleanup follows, as merge's finally does
                target.execute("DROP TABLE IF EXISTS _dynashift_stage")
        assert 'relation "typed.sessions" does not exist' in str(caught.value)
        assert "aborted" not in str(caught.value)
    finally:
        target.close()
