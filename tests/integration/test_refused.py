"""One table or one record never blocks the stream (issue 14): a batch the target refuses for its
data is split until the refused records are found and rejected, the rest commits, and later runs
go on; driver errors are classified once, at the boundary, and a deterministic one is never
retried as a lost connection. Real DuckDB and PostgreSQL; whole tables compared."""

from __future__ import annotations

from pathlib import Path

import duckdb
import orjson
import psycopg
import pytest

from dynashift import run_once
from dynashift.errors import DataTargetError, RetryableTargetError, TargetError
from dynashift.targets.postgres import map_error
from support.builders import item, write, rec as change
from support.pg import pg_rows, pg_url  # noqa: F401 - pg_url is a fixture



def rec(pk: str, t: int, table: str = "Orders", **attrs: dict) -> dict:
    return change("INSERT", *item(pk, **attrs), t, table=table)


def stream(tmp_path: Path, name: str) -> Path:
    """Orders a..f (status text, e and c longer than 8 characters) interleaved with Customers x, y."""
    return write(tmp_path / name, [
        rec("a", 1, status={"S": "new"}), rec("x", 2, "Customers", n={"S": "ann"}),
        rec("b", 3, status={"S": "paid"}), rec("c", 4, status={"S": "cancelled"}),
        rec("d", 5, status={"S": "new"}), rec("y", 6, "Customers", n={"S": "bob"}),
        rec("e", 7, status={"S": "refunded!"}), rec("f", 8, status={"S": "sent"}),
    ])


def rows(con, table: str) -> list[tuple]:
    return con.execute(f'SELECT dist_key, status FROM "{table}" ORDER BY dist_key').fetchall() if table == "orders" \
        else con.execute(f'SELECT dist_key, n FROM "{table}" ORDER BY dist_key').fetchall()


EXPECTED_ORDERS = [('{"pk":{"S":"a"}}', "new"), ('{"pk":{"S":"b"}}', "paid"), ('{"pk":{"S":"d"}}', "new"),
                   ('{"pk":{"S":"f"}}', "sent")]
EXPECTED_CUSTOMERS = [('{"pk":{"S":"x"}}', "ann"), ('{"pk":{"S":"y"}}', "bob")]


def test_postgres_refusal_is_split_and_the_rest_commits(tmp_path, pg_url):
    """A user's CHECK constraint refuses two rows of one table: they are rejected with the server's
    reason, every other row of that table and of the other table commits, and the next run goes on.
    (Before: the run failed, and every later run failed the same way.)"""
    run_once(f"file://{write(tmp_path / '0.jsonl', [rec('z', 0, status={'S': 'ok'})])}", pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("DELETE FROM public.orders")
        con.execute("DELETE FROM dynashift.versions")
        con.execute("ALTER TABLE public.orders ADD CONSTRAINT short CHECK (length(status) <= 8)")
    counters = run_once(f"file://{stream(tmp_path, '1.jsonl')}", pg_url)
    assert (counters.records_read, counters.changes_applied, counters.rejected) == (8, 6, 2)
    assert pg_rows(pg_url, "SELECT dist_key, status FROM public.orders ORDER BY 1") == EXPECTED_ORDERS
    assert pg_rows(pg_url, "SELECT dist_key, n FROM public.customers ORDER BY 1") == EXPECTED_CUSTOMERS
    rejected = pg_rows(pg_url, 'SELECT reason, "raw" FROM dynashift.rejected')
    assert all('violates check constraint "short"' in reason for reason, _ in rejected)
    assert sorted(orjson.loads(raw)["dynamodb"]["Keys"]["pk"]["S"] for _, raw in rejected) == ["c", "e"]
    assert pg_rows(pg_url, "SELECT count(*) FROM dynashift.checkpoints WHERE shard LIKE %s", ("%1.jsonl",)) == [(1,)]
    # the next run reads on: nothing is left blocked
    counters = run_once(f"file://{write(tmp_path / '2.jsonl', [rec('g', 9, status={'S': 'new'})])}", pg_url)
    assert (counters.changes_applied, counters.rejected) == (1, 0)


def test_postgres_refusal_fails_the_run_with_on_bad_record_fail(tmp_path, pg_url):
    run_once(f"file://{write(tmp_path / '0.jsonl', [rec('z', 0, status={'S': 'ok'})])}", pg_url)
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute("ALTER TABLE public.orders ADD CONSTRAINT short CHECK (length(status) <= 8)")
    with pytest.raises(DataTargetError, match='violates check constraint "short"'):
        run_once(f"file://{stream(tmp_path, '1.jsonl')}", pg_url, on_bad_record="fail")
    assert pg_rows(pg_url, "SELECT dist_key, status FROM public.orders") == [('{"pk":{"S":"z"}}', "ok")]
    assert pg_rows(pg_url, "SELECT status, error FROM dynashift.runs ORDER BY run_id")[-1][0] == "failed"


def test_duckdb_refusal_is_split_and_the_rest_commits(tmp_path):
    """In DuckDB: a column a user made INTEGER refuses text (a conversion error)."""
    db = tmp_path / "w.duckdb"
    run_once(f"file://{write(tmp_path / '0.jsonl', [rec('z', 0, status={'S': '1'}, qty={'N': '1'})])}",
             f"duckdb:///{db}")
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM orders")
        con.execute("DELETE FROM dynashift.versions")
        con.execute("ALTER TABLE orders ALTER COLUMN qty TYPE INTEGER")
    records = [rec("a", 1, status={"S": "new"}, qty={"N": "1"}), rec("x", 2, "Customers", n={"S": "ann"}),
               rec("b", 3, status={"S": "paid"}, qty={"N": "1.5e400"}), rec("c", 4, status={"S": "x"}, qty={"N": "2"}),
               rec("y", 6, "Customers", n={"S": "bob"})]
    counters = run_once(f"file://{write(tmp_path / '1.jsonl', records)}", f"duckdb:///{db}")
    assert (counters.records_read, counters.changes_applied, counters.rejected) == (5, 4, 1)
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT dist_key, status, qty FROM orders ORDER BY 1").fetchall() == [
            ('{"pk":{"S":"a"}}', "new", 1), ('{"pk":{"S":"c"}}', "x", 2)]
        assert rows(con, "customers") == EXPECTED_CUSTOMERS
        (reason, raw), = con.execute('SELECT reason, "raw" FROM dynashift.rejected').fetchall()
    assert "Conversion Error" in reason and orjson.loads(raw)["dynamodb"]["Keys"] == {"pk": {"S": "b"}}


@pytest.mark.parametrize(("sqlstate", "cls", "expected"), [
    ("54011", psycopg.errors.ProgramLimitExceeded, DataTargetError),  # too many columns: an OperationalError
    ("22021", psycopg.errors.CharacterNotInRepertoire, DataTargetError),  # invalid byte sequence
    ("23514", psycopg.errors.CheckViolation, DataTargetError),
    ("40001", psycopg.errors.SerializationFailure, RetryableTargetError),
    ("40P01", psycopg.errors.DeadlockDetected, RetryableTargetError),
    ("57P01", psycopg.errors.AdminShutdown, RetryableTargetError),
    ("08006", psycopg.errors.ConnectionFailure, RetryableTargetError),
    ("42501", psycopg.errors.InsufficientPrivilege, TargetError),
    ("53100", psycopg.errors.DiskFull, TargetError),
])
def test_postgres_errors_are_classified_by_sqlstate(sqlstate, cls, expected):
    mapped = map_error(cls("boom"))
    assert type(mapped) is expected, sqlstate


def test_postgres_client_side_errors_are_classified():
    assert type(map_error(psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"))) is DataTargetError
    assert type(map_error(psycopg.OperationalError("server closed the connection unexpectedly"))) is RetryableTargetError


def test_too_many_columns_is_not_retried_as_a_lost_connection(pg_url):
    """The issue's finding: 1,601 columns was 'connection failed' and tried 5 more times."""
    from dynashift.targets import make_target

    t = make_target(pg_url)
    t.open()
    try:
        cols = ", ".join(f"c{i} int" for i in range(1601))
        with pytest.raises(DataTargetError, match="at most 1600 columns"):
            t.execute(f"CREATE TABLE public.wide ({cols})")
    finally:
        t.close()


def test_an_attribute_name_holding_nul_maps_like_any_unstorable_name_in_postgres(tmp_path, pg_url):
    """The issue's finding: PostgreSQL refused the batch ("text fields cannot contain NUL"), and every
    later run failed the same way. The column is `x_y`; dynashift.columns keeps the real name (as
    its JSON string literal), and a later run maps it to the same column."""
    records = [rec("a", 1, **{"x\x00y": {"S": "v"}}), rec("b", 2, z={"S": "w"})]
    counters = run_once(f"file://{write(tmp_path / '1.jsonl', records)}", pg_url)
    assert (counters.changes_applied, counters.rejected) == (2, 0)
    again = write(tmp_path / "2.jsonl", [rec("c", 3, **{"x\x00y": {"S": "u"}})])
    counters = run_once(f"file://{again}", pg_url)
    assert (counters.changes_applied, counters.columns_added) == (1, 0)
    assert pg_rows(pg_url, 'SELECT dist_key, pk, "x_y", z FROM public.orders ORDER BY 1') == [
        ('{"pk":{"S":"a"}}', "a", "v", None), ('{"pk":{"S":"b"}}', "b", None, "w"), ('{"pk":{"S":"c"}}', "c", "u", None)]
    assert pg_rows(pg_url, "SELECT attribute_name, column_name, types_seen FROM dynashift.columns ORDER BY 2") == [
        ("pk", "pk", '["S"]'), ('"x\\u0000y"', "x_y", '["S"]'), ("z", "z", '["S"]')]
