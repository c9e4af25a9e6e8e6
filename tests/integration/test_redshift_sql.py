"""Every statement the Redshift target can emit, checked without a cluster.

The target runs with its connection seam played by PostgreSQL (tests/support/pg.py: what the two share
is executed there for real) or by a scripted fake (the materialized-view path, which only Redshift
can run). Every recorded statement must parse with sqlglot's Redshift dialect and equal the
reviewed SQL in tests/conformance/redshift_*.sql. When the shared SQL changes on purpose, rewrite
those files with DYNASHIFT_UPDATE_EXPECTED_SQL=1, then review the diff like code.
"""

from __future__ import annotations

import io
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pyarrow.parquet as pq
import pytest
import sqlglot
from sqlglot import exp

from dynashift import Config
from dynashift.errors import ConfigError, RetryableTargetError, TargetError
from dynashift.pipeline import replicate
from dynashift import redshift_native as native
from dynashift.schema import AddTable
from dynashift.sources import make_source
from dynashift.targets.redshift import (SESSION_SETTINGS, DataApiConnection, RedshiftOptions, RedshiftTarget,
                                       named_parameters)
from support.builders import rec as change
from support.pg import RedshiftOnPostgres, pg_rows, pg_url  # noqa: F401 - pg_url is a fixture
from test_conformance import differences

HERE = Path(__file__).resolve().parents[1] / "conformance"
LONG = "x" * 70_000  # longer than a Redshift VARCHAR
# Statements sqlglot cannot model and keeps as text (exp.Command): they must still be these.
COMMANDS = ("CREATE EXTERNAL SCHEMA", "SHOW ", "LOCK ")


def rec(op: str, pk: str, t: int, image: dict | None = None, table: str = "Orders", ttl: bool = False) -> bytes:
    keys = {"pk": {"S": pk}}
    return orjson.dumps(change(op, keys, None if image is None else {**keys, **image}, t, table=table,
                               eid=f"{pk}{t}", ttl=ttl, millis=True))


def parse(sql: str) -> exp.Expression:
    tree = sqlglot.parse_one(sql, read="redshift")
    if isinstance(tree, exp.Command):
        assert sql.startswith(COMMANDS), f"sqlglot cannot parse this as Redshift SQL: {sql[:200]}"
    return tree


def normalized(sql: str) -> str:
    return parse(sql).sql(dialect="redshift")


def compare_with_reviewed(statements: list[str], name: str) -> None:
    """Parse each statement, then compare them all with the reviewed file (one per paragraph)."""
    got = [normalized(s) for s in statements]
    path = HERE / name
    if os.environ.get("DYNASHIFT_UPDATE_EXPECTED_SQL") == "1":
        path.write_text("".join(f"{s};\n\n" for s in statements), "utf-8")
    want = [normalized(s) for s in path.read_text("utf-8").split(";\n\n") if s.strip()] if path.exists() else []
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"statement {i} differs from {name}:\n got: {g[:400]}\nwant: {w[:400]}"
    assert len(got) == len(want), f"{len(got)} statements, {name} has {len(want)}"


def emulated(url: str, uri: str = "redshift://emulated:5439/dev", **kw: Any) -> tuple[RedshiftTarget, RedshiftOnPostgres]:
    con = RedshiftOnPostgres(url, **kw)
    return RedshiftTarget(uri, connection=con), con


def run(target: RedshiftTarget, src: Path, **settings: Any):
    config = Config(source=f"file://{src}", target="duckdb:///unused.duckdb", **settings)
    return replicate(config, make_source(config.source, config), target)


# ---------------------------------------------------------------- the statements of a whole run


def test_every_statement_of_two_runs_parses_and_matches_the_reviewed_sql(tmp_path, pg_url):
    """Two runs touching every statement kind: metadata, tables and columns, staging (multi-row
    INSERT), the merge (hard and soft), duplicates and stale changes, tombstone expiry, the change
    log, rejects (a bad line and a value over 64 KB), checkpoints, runs, status."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "1.jsonl").write_bytes(b"\n".join([
        rec("INSERT", "a", 1, {"n": {"N": "1"}, "Name": {"S": "x"}, "name": {"S": "y"}}),
        rec("INSERT", "b", 2, {"n": {"N": "2"}, "s": {"SS": ["q", "p"]}}),
        rec("INSERT", "big", 3, {"n": {"S": LONG}}),
        b"{not json",
        rec("REMOVE", "c", 4),
        rec("INSERT", "k", 5, {"v": {"S": "1"}}, table="Customers"),
    ]) + b"\n")
    (tmp_path / "b" / "2.jsonl").write_bytes(b"\n".join([
        rec("MODIFY", "a", 0, {"n": {"N": "0"}}),  # stale
        rec("INSERT", "b", 2, {"n": {"N": "2"}, "s": {"SS": ["q", "p"]}}),  # the same again
        rec("MODIFY", "b", 6, {"n": {"N": "3"}, "new": {"BOOL": True}}),
        rec("REMOVE", "a", 7),
        rec("REMOVE", "k", 8, table="Customers", ttl=True),
    ]) + b"\n")
    target, con = emulated(pg_url)
    target.open()
    first = run(target, tmp_path / "a", change_log=True)
    second = run(target, tmp_path / "b", delete_mode="soft", tombstone_retention=0, batch_size=1)
    target.status()
    target.close()
    assert (first.changes_applied, first.rejected) == (4, 2)
    assert (second.stale_skipped, second.duplicates_skipped, second.changes_applied) == (1, 1, 3)
    reasons = pg_rows(pg_url, 'SELECT reason, "raw" FROM dynashift.rejected ORDER BY reason')
    assert reasons[1][0] == "value of column 'n' is longer than the 65,535 bytes a Redshift VARCHAR holds"
    assert orjson.loads(reasons[1][1])["dist_key"] == '{"pk":{"S":"big"}}'
    rows = pg_rows(pg_url, 'SELECT pk, n, "Name", name__2, s, new, _dynashift_deleted FROM public.orders ORDER BY pk')
    assert rows == [("a", "1", "x", "y", None, None, True), ("b", "3", None, None, None, "true", False)]
    compare_with_reviewed([sql for sql, _ in con.statements], "redshift_expected.sql")


def test_a_value_over_64kb_never_reaches_redshift_cut(tmp_path, pg_url):
    (tmp_path / "1.jsonl").write_bytes(rec("INSERT", "a", 1, {"n": {"S": "é" * 40_000}}) + b"\n")
    target, con = emulated(pg_url)
    target.open()
    counters = run(target, tmp_path)
    target.close()
    assert (counters.rejected, counters.changes_applied) == (1, 0)  # 80,000 bytes, though 40,000 characters
    assert not any("é" * 100 in str(p) for _, params in con.statements for p in params)


def test_a_rejected_record_too_long_for_redshift_is_cut_with_a_note(tmp_path, pg_url):
    (tmp_path / "1.jsonl").write_bytes(b'{"junk": "' + b"z" * 70_000 + b'"}\n')
    target, _ = emulated(pg_url)
    target.open()
    run(target, tmp_path)
    target.close()
    ((reason, raw),) = pg_rows(pg_url, 'SELECT reason, "raw" FROM dynashift.rejected')
    assert "cut to fit Redshift" in reason and len(raw.encode()) <= 65535 and raw.endswith("[cut]")


def test_case_sensitive_clusters_keep_name_and_Name_apart(tmp_path, pg_url):
    (tmp_path / "1.jsonl").write_bytes(rec("INSERT", "a", 1, {"Name": {"S": "x"}, "name": {"S": "y"}}) + b"\n")
    target, _ = emulated(pg_url, case_sensitive=True)
    target.open()
    run(target, tmp_path)
    target.close()
    assert dict(pg_rows(pg_url, "SELECT attribute_name, column_name FROM dynashift.columns")) == {
        "pk": "pk", "Name": "Name", "name": "name"}


def test_case_sensitive_option_sets_it_for_the_session(pg_url):
    target, con = emulated(pg_url, uri="redshift://emulated/dev?case_sensitive=true")
    target.open()
    target.close()
    assert [sql for sql, _ in con.statements[:3]] == [*SESSION_SETTINGS, "SET enable_case_sensitive_identifier TO true"]
    assert target.naming.case_insensitive is False


# ---------------------------------------------------------------- DDL options


@pytest.mark.parametrize("options, tail", [
    ("", ' DISTKEY("dist_key") SORTKEY("dist_key")'),
    ("?distkey=auto&sortkey=auto", ""),
    ("?distkey=none&sortkey=_dynashift_changed_at,dist_key", ' SORTKEY("_dynashift_changed_at", "dist_key")'),
])
def test_distribution_and_sort_keys_are_configurable(options, tail):
    target = RedshiftTarget(f"redshift://h/dev{options}", connection=object())
    sql = target.create_table_sql(AddTable("orders", "Orders", ("pk",)))
    assert sql == ('CREATE TABLE "public"."orders" ("dist_key" VARCHAR(65535), "_dynashift_changed_at" TIMESTAMPTZ,'
                   ' "_dynashift_synced_at" TIMESTAMPTZ, "_dynashift_deleted" BOOLEAN)' + tail)
    parse(sql)


def test_uri_options():
    o = RedshiftOptions.from_uri("redshift://me:p%40ss@cluster.example:5439/analytics?iam=true&region=eu-west-1")
    assert (o.host, o.port, o.database, o.user, o.password, o.iam, o.region, o.data_api) == (
        "cluster.example", 5439, "analytics", "me", "p@ss", True, "eu-west-1", False)
    o = RedshiftOptions.from_uri("redshift:///dev?workgroup=wg&s3_staging=s3://b/p&iam_role=arn:aws:iam::1:role/r")
    assert (o.data_api, o.workgroup, o.s3_staging) == (True, "wg", "s3://b/p/")
    with pytest.raises(ConfigError, match="unknown Redshift option 'bogus'"):
        RedshiftOptions.from_uri("redshift://h/dev?bogus=1")
    with pytest.raises(ConfigError, match=r"needs \?workgroup=NAME"):
        RedshiftOptions.from_uri("redshift:///dev")
    with pytest.raises(ConfigError, match="needs both s3_staging"):
        RedshiftOptions.from_uri("redshift://h/dev?s3_staging=s3://b/p")


def test_an_unreachable_cluster_is_one_clear_line():
    target = RedshiftTarget("redshift://me:pw@127.0.0.1:1/dev")
    with pytest.raises(TargetError, match=r"^cannot connect to Redshift at 127\.0\.0\.1:1: ") as info:
        target.open()
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------- S3 staging and COPY


class CopyFromMotoS3(RedshiftOnPostgres):
    """Plays Redshift's COPY ... FORMAT AS PARQUET: reads the object from (moto's) S3 and loads it."""

    def run(self, sql: str, params, fetch: bool):
        m = re.fullmatch(r'COPY ("[^"]+") FROM \'s3://([^/]+)/(.+)\' IAM_ROLE \'[^\']+\' FORMAT AS PARQUET', sql)
        if m is None:
            return super().run(sql, params, fetch)
        self.statements.append((sql, list(params)))
        import boto3

        body = boto3.client("s3", region_name="us-east-1").get_object(Bucket=m.group(2), Key=m.group(3))["Body"].read()
        table = pq.read_table(io.BytesIO(body))
        with self.con.cursor().copy(f"COPY {m.group(1)} FROM STDIN") as copy:
            for row in table.to_pylist():
                copy.write_row(list(row.values()))
        return None


def test_s3_staging_copies_parquet_and_removes_the_object(tmp_path, pg_url, monkeypatch):
    from moto import mock_aws

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        import boto3

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="stage")
        con = CopyFromMotoS3(pg_url)
        uri = "redshift://emulated/dev?region=us-east-1&s3_staging=s3://stage/dynashift/&iam_role=arn:aws:iam::1:role/copy"
        target = RedshiftTarget(uri, connection=con)
        target.session = "test"
        target.open()
        run(target, HERE / "types" / "stream")
        assert differences(target, orjson.loads((HERE / "types" / "expected.json").read_bytes())) == []
        target.close()
        assert s3.list_objects_v2(Bucket="stage").get("KeyCount") == 0
    copies = [sql for sql, _ in con.statements if sql.startswith("COPY")]
    assert copies[0] == ("COPY \"_dynashift_stage\" FROM 's3://stage/dynashift/test/000001.parquet'"
                         " IAM_ROLE 'arn:aws:iam::1:role/copy' FORMAT AS PARQUET")
    # the change time travels as BIGINT microseconds and becomes TIMESTAMPTZ in SQL, never in Parquet
    created = [sql for sql, _ in con.statements if sql.startswith('CREATE TEMP TABLE "_dynashift_stage"')][0]
    assert '"_dynashift_changed_at_us" BIGINT' in created and "TIMESTAMPTZ" not in created
    assert any(sql.startswith('UPDATE "_dynashift_stage" SET "_dynashift_changed_at" = ')
               and 'MOD("_dynashift_changed_at_us", 1000000)' in sql for sql, _ in con.statements)
    assert not any(sql.startswith('INSERT INTO "_dynashift_stage"') for sql, _ in con.statements)
    for sql in copies:
        parse(sql)


# ---------------------------------------------------------------- the Data API


class RedshiftDataOnPostgres:
    """boto3's `redshift-data` client played by PostgreSQL: named string parameters in, Data API
    records out (two per page, so paging is exercised)."""

    def __init__(self, url: str, pg: RedshiftOnPostgres | None = None):
        self.pg = pg or RedshiftOnPostgres(url)
        self.calls: list[dict] = []
        self.results: dict[str, tuple[list, list]] = {}

    def execute_statement(self, **kw: Any) -> dict:
        self.calls.append(kw)
        values = [p["value"] for p in kw.get("Parameters", [])]
        sql = re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|:p\d+", lambda m: "%s" if m.group(0).startswith(":") else m.group(0),
                     kw["Sql"])
        self.pg.statements.append((kw["Sql"], values))
        cur = self.pg.cursor(sql, values)
        sid = f"s{len(self.calls)}"
        if cur is None:
            rows = self.pg.answer(kw["Sql"])
            self.results[sid] = (["varchar"], [list(r) for r in rows]) if rows else ([], [])
        elif cur.description:
            types = [self.pg.con.adapters.types.get(d.type_code).name for d in cur.description]
            self.results[sid] = (types, [list(r) for r in cur.fetchall()])
        return {"Id": sid, "SessionId": "session-1"}

    def describe_statement(self, Id: str) -> dict:
        return {"Id": Id, "Status": "FINISHED", "HasResultSet": bool(self.results.get(Id, ([], []))[0])}

    def get_statement_result(self, Id: str, NextToken: str | None = None) -> dict:
        types, rows = self.results[Id]
        start = int(NextToken or 0)
        page = {"ColumnMetadata": [{"typeName": t} for t in types],
                "Records": [[_field(v) for v in row] for row in rows[start:start + 2]]}
        if start + 2 < len(rows):
            page["NextToken"] = str(start + 2)
        return page


def _field(v: Any) -> dict:
    if v is None:
        return {"isNull": True}
    if isinstance(v, bool):
        return {"booleanValue": v}
    if isinstance(v, int):
        return {"longValue": v}
    if isinstance(v, datetime):
        return {"stringValue": v.astimezone(timezone.utc).isoformat(sep=" ")}
    return {"stringValue": str(v)}


def test_the_data_api_path_replicates_a_stream(tmp_path, pg_url):
    client = RedshiftDataOnPostgres(pg_url)
    uri = "redshift:///dev?workgroup=analytics"
    target = RedshiftTarget(uri, connection=DataApiConnection(RedshiftOptions.from_uri(uri), client=client))
    target.open()
    run(target, HERE / "types" / "stream")
    assert differences(target, orjson.loads((HERE / "types" / "expected.json").read_bytes())) == []
    assert target.status()["tables"][0]["last_change"].startswith("2023-11-14T22:13:20")
    target.close()
    first, later = client.calls[0], client.calls[1:]
    assert first["WorkgroupName"] == "analytics" and first["SessionKeepAliveSeconds"] == 3600
    assert all(c["SessionId"] == "session-1" and "WorkgroupName" not in c for c in later)
    for call in client.calls:
        assert all(p["value"] != "" for p in call.get("Parameters", []))
        parse(call["Sql"])


def test_data_api_parameters_and_errors():
    sql, params = named_parameters("SELECT %s, '%s', \"a%s\", %s, %s, %s", ["x", None, "", True])
    assert sql == "SELECT :p1, '%s', \"a%s\", NULL, '', :p2"
    assert params == [{"name": "p1", "value": "x"}, {"name": "p2", "value": "true"}]

    class Failing:
        def __init__(self, error: str):
            self.error = error

        def execute_statement(self, **kw):
            return {"Id": "1"}

        def describe_statement(self, Id):
            return {"Status": "FAILED", "Error": self.error}

    opts = RedshiftOptions.from_uri("redshift:///dev?workgroup=w")
    with pytest.raises(RetryableTargetError, match="Serializable isolation violation"):
        DataApiConnection(opts, client=Failing("ERROR: 1023 DETAIL: Serializable isolation violation on table")).run(
            "SELECT 1", [], True)
    with pytest.raises(TargetError, match='^Redshift: ERROR: relation "x" does not exist$'):
        DataApiConnection(opts, client=Failing('ERROR: relation "x" does not exist')).run("SELECT 1", [], True)


# ---------------------------------------------------------------- the materialized-view path


class Answers:
    """Successive answers to one query; the last one repeats."""

    def __init__(self, *answers: list[tuple]):
        self.answers = list(answers)

    def next(self) -> list[tuple]:
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class Scripted:
    """A connection that records every statement and answers queries from a script: the first
    (pattern, rows) whose pattern is found in the SQL. Statements run on Redshift only."""

    max_statement_bytes = 8 << 20

    def __init__(self, script: list[tuple[str, list[tuple]]]):
        self.script = script
        self.statements: list[tuple[str, list]] = []

    def run(self, sql: str, params, fetch: bool):
        self.statements.append((sql, list(params)))
        if not fetch:
            return None
        for pattern, rows in self.script:
            if pattern in sql:
                if isinstance(rows, Answers):
                    return rows.next()
                return rows
        return [(0,)] if sql.startswith("SELECT count(*)") or "coalesce(" in sql else []

    def close(self) -> None:
        pass


def test_setup_creates_the_external_schema_and_the_streaming_view():
    target = RedshiftTarget("redshift://h/dev", connection=Scripted([]))
    target.open()
    ran = native.setup(target, "streams.ddb_changes", "orders-stream", "arn:aws:iam::123:role/kinesis")
    assert ran[0] == ("CREATE EXTERNAL SCHEMA IF NOT EXISTS \"dynashift_kinesis\" FROM KINESIS"
                      " IAM_ROLE 'arn:aws:iam::123:role/kinesis'")
    assert ran[1].startswith('CREATE MATERIALIZED VIEW "streams"."ddb_changes" AUTO REFRESH YES AS SELECT')
    for sql in ran:
        parse(sql)
    policy = orjson.loads(native.iam_policy("orders-stream"))
    assert "kinesis:GetRecords" in policy["Statement"][0]["Action"]
    assert policy["Statement"][0]["Resource"] == "arn:aws:kinesis:*:*:stream/orders-stream"
    with pytest.raises(ConfigError):
        native.setup(object(), "v", "s", "arn")


def md5(text: str) -> str:
    import hashlib

    return hashlib.md5(text.encode()).hexdigest()


def mv_script() -> list[tuple[str, list[tuple]]]:
    """What Redshift would answer for a batch of five records in two shards of two tables."""
    return [
        ("SELECT (SELECT count(*) FROM _dynashift_mv_batch)", Answers([(5, 900, 1, 0, 0, 0)], [(0, 0, 0, 0, 0, 0)])),
        ("WHERE reason IS NOT NULL", [("shard-1:49", "not JSON", 0, b"{oops".hex())]),
        ("PARTITION BY shard_id ORDER BY LPAD(sequence_number, 64, '0') DESC",
         [("shard-0", "12", 3, 1_700_000_000_000_000), ("shard-1", "49", 2, 1_700_000_001_000_000)]),
        ("UNPIVOT c.keys AS kv AT k", [("Orders", "pk"), ("Users", "id")]),
        ("LISTAGG(DISTINCT type_tag", [("Orders", "pk", "S", "a"), ("Orders", "tags", "SS", "b"), ("Orders", "qty", "N", "c"),
                                  ("Users", "id", "N", "d"), ("Users", "Name", "S", "e")]),
        ('FROM "_dynashift_mv_stage_0_w" w, UNPIVOT w._src AS v AT a) c', [
            (md5('{"pk":{"S":"o1"}}'), "shard-0\x1f0012", md5("tags"), 0, b'{"SS":["b",'.hex()),
            (md5('{"pk":{"S":"o1"}}'), "shard-0\x1f0012", md5("tags"), 1, b'"a"]}'.hex())]),
        ('SELECT count(*) FROM "_dynashift_mv_stage_0"', [(2,)]),
        ('SELECT count(*) FROM "_dynashift_mv_stage_1"', [(1,)]),
        ("SELECT _verdict, _vrow IS NULL, count(*) FROM _dynashift_winners", [("W", True, 1)]),
    ]


def test_the_view_is_applied_in_the_warehouse_with_set_based_sql(tmp_path):
    con = Scripted(mv_script())
    target = RedshiftTarget("redshift://h/dev", connection=con)
    target.open()
    source = native.ViewSource("redshift-mv://streams.ddb_changes", Config(batch_size=1000))
    run_counters = source.replicate(Config(source=source.uri, delete_mode="soft"), target)
    target.close()
    assert (run_counters.records_read, run_counters.rejected, run_counters.tables_created) == (5, 1, 2)
    statements = [sql for sql, _ in con.statements]
    rendered = [params for sql, params in con.statements if sql.startswith('INSERT INTO "_dynashift_mv_stage_0_w_rendered"')]
    assert rendered and '["a","b"]' in rendered[0]  # the SS value, rendered by decode.py
    checkpoints = [p for sql, p in con.statements if sql.startswith("INSERT INTO dynashift.checkpoints")]
    assert [p[:3] for p in checkpoints] == [["redshift-mv://streams.ddb_changes", "shard-0", "12"],
                                            ["redshift-mv://streams.ddb_changes", "shard-1", "49"]]
    # set-based: the number of statements does not depend on the number of keys
    assert not any("WHERE dist_key = " in s for s in statements)
    assert any(s.startswith('INSERT INTO "public"."orders"') for s in statements)  # the merge ran
    compare_with_reviewed(statements, "redshift_mv_expected.sql")


def test_the_view_source_needs_a_redshift_target_and_the_pipeline_hook():
    source = native.ViewSource("redshift-mv://v", Config(batch_size=10))
    with pytest.raises(ConfigError, match="redshift:// target"):
        source.replicate(Config(), object())
    with pytest.raises(Exception, match="applied inside Redshift"):
        next(iter(source.read({})))
    with pytest.raises(ConfigError, match="needs the view"):
        native.ViewSource("redshift-mv://", Config())


def test_following_the_view_polls_until_stopped():
    import threading

    con = Scripted(mv_script())
    target = RedshiftTarget("redshift://h/dev", connection=con)
    target.open()
    stop = threading.Event()
    source = native.ViewSource("redshift-mv://streams.ddb_changes", Config(batch_size=1000))
    timer = threading.Timer(0.3, stop.set)
    timer.start()
    counters = source.replicate(Config(max_wait=0.05), target, stop=stop, follow=True)
    target.close()
    assert counters.records_read == 5 and stop.is_set()
    polls = [sql for sql, _ in con.statements if sql.startswith("CREATE TEMP TABLE _dynashift_mv_batch")]
    assert len(polls) > 2  # kept polling the empty view until stopped


def test_multi_row_inserts_stay_within_the_statement_budget(pg_url):
    import pyarrow as pa

    target, con = emulated(pg_url)
    target.open()
    con.max_statement_bytes = 2_000  # like the Data API's, only smaller
    data = pa.table({"a": pa.array([f"value {i}" for i in range(500)]), "b": pa.array(["é" * 20] * 500)})
    with target.transaction():
        staged = target.stage_rows("_dynashift_probe", data)
        assert target.query(f"SELECT count(*), count(DISTINCT a) FROM {staged}") == [(500, 500)]
    inserts = [(sql, params) for sql, params in con.statements if sql.startswith('INSERT INTO "_dynashift_probe"')]
    assert len(inserts) > 10
    for sql, params in inserts:
        assert len(sql) + sum(len(str(p).encode()) for p in params) <= 2_000 + 200
    target.close()


# ---------------------------------------------------------------- typed mode, item column, history, verify


def test_typed_history_and_verify_statements_parse_and_match_the_reviewed_sql(tmp_path, pg_url):
    """Every statement typed mode, the item column, history and verify add: SUPER, VARBYTE and
    DECIMAL columns cast from staged text (JSON_PARSE, TO_VARBYTE), a DECIMAL widened the Redshift
    way (add, copy, drop, rename), a text variant, soft deletes with casts, a history table (its
    insert and valid-to window), history only (the view, made again as columns come), the item
    column and history turned on for an existing table; then `verify` reading it all back."""
    from support.typed_support import TypedRedshiftOnPostgres, replica

    from dynashift.verify import verify

    def typed(pk: str, t: int, image: dict, table: str = "Orders", op: str = "INSERT") -> bytes:
        return rec(op, pk, t, image, table=table)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "c").mkdir()
    (tmp_path / "a" / "1.jsonl").write_bytes(b"\n".join([
        typed("a", 1, {"n": {"N": "1"}, "ok": {"BOOL": True}, "b": {"B": "AAE="}, "m": {"M": {"k": {"N": "1.5"}}}}),
        typed("h", 2, {"v": {"N": "5"}}, table="Ledger"),
        typed("k", 3, {"v": {"S": "x"}}, table="Events"),
        rec("REMOVE", "a", 4),
    ]) + b"\n")
    (tmp_path / "b" / "2.jsonl").write_bytes(b"\n".join([
        typed("b", 5, {"n": {"N": "2.25"}, "ok": {"S": "yes"}, "b": {"B": "AQI="}, "m": {"L": []}}),
        typed("a", 3, {"n": {"N": "0.5"}}),  # late: older than the REMOVE, newer than the values shown
        typed("h", 6, {"v": {"N": "6.5"}}, table="Ledger", op="MODIFY"),
        typed("k", 7, {"v": {"N": "2"}, "w": {"BOOL": False}}, table="Events", op="MODIFY"),
    ]) + b"\n")
    (tmp_path / "c" / "3.jsonl").write_bytes(typed("c", 8, {"n": {"N": "3"}}) + b"\n")
    con = TypedRedshiftOnPostgres(pg_url)
    target = RedshiftTarget("redshift://emulated:5439/dev", connection=con)
    target.open()
    tables = {"Ledger": {"history": "beside"}, "Events": {"history": "only"}}
    run(target, tmp_path / "a", column_types="typed", item_column=True, delete_mode="soft", tables=tables)
    run(target, tmp_path / "b", column_types="typed", item_column=True, delete_mode="soft", tables=tables)
    run(target, tmp_path / "c", column_types="typed", tables={"Orders": {"history": "beside", "item_column": True}})

    class Items:  # DynamoDB as verify reads it, holding what the replica holds
        items = [{"pk": {"S": "h"}, "v": {"N": "6.5"}}]

        def describe_table(self, **kw: Any) -> dict:
            return {"Table": {"ItemCount": 1}}

        def scan(self, **kw: Any) -> dict:
            return {"Items": self.items}

        def batch_get_item(self, RequestItems: dict) -> dict:
            return {"Responses": {"Ledger": self.items}}

    assert verify(target, Items(), "ledger", settle=0).differences == []
    assert verify(target, Items(), "Ledger", sample=2, settle=0).differences == []
    statements = [sql for sql, _ in con.statements]
    rows = {name: sorted((r["dist_key"], r.get("n")) for r in rs) for name, (_, rs) in replica(target).items()}
    target.close()
    assert rows["orders"] == [('{"pk":{"S":"a"}}', "0.5"), ('{"pk":{"S":"b"}}', "2.25"), ('{"pk":{"S":"c"}}', "3")]
    assert any(s.startswith('ALTER TABLE "public"."orders" RENAME COLUMN "_dynashift_widening" TO "n"') for s in statements)
    assert any("LEAD(" in s for s in statements) and any(s.startswith("CREATE VIEW") for s in statements)
    compare_with_reviewed(statements, "redshift_typed_expected.sql")
