"""One conformance suite, every target: recorded stream files in, expected tables out.

Each folder of tests/conformance/ holds `stream/` (JSON Lines, read in name order), `case.json`
(settings and how many records must be rejected) and `expected.json` (per table, per dist_key,
attribute -> text; the format dynashift.simulate writes). A simulated stream with its own oracle
is a further case. The same test body runs against:

- duckdb                  always
- postgresql              the server at 127.0.0.1:5432 (skipped when absent, failing in CI)
- redshift-on-postgresql  the Redshift target's own SQL, run on PostgreSQL (tests/support/pg.py)
- redshift                a real cluster, when DYNASHIFT_REDSHIFT_URL is set (docs/redshift.md)
- redshift-s3-copy        the same, staging through S3 and COPY, when DYNASHIFT_REDSHIFT_S3_STAGING
                          and DYNASHIFT_REDSHIFT_IAM_ROLE are set too

Columns are compared by attribute, through dynashift.columns: their names differ per target.
Every case runs twice: with text columns (the original design) and in typed mode, where values are
compared by type (tests/support/typed_support.py) and the same expected.json holds.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Callable
from urllib.parse import urlencode

import orjson
import pytest

from dynashift import Config
from dynashift.pipeline import replicate
from dynashift.schema import CHANGED_AT, DELETED, DIST_KEY
from dynashift.sources import make_source
from dynashift.targets import make_target
from dynashift.targets.base import SqlTarget, quote
from dynashift.targets.redshift import RedshiftTarget
from support.oracle import diff_rows, expected_tables
from support.pg import pg_url  # noqa: F401 - pg_url is a fixture
from support.typed_support import TypedRedshiftOnPostgres
from support.typed_support import replica as typed_replica

CASES = Path(__file__).resolve().parents[1] / "conformance"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "expected.json").exists())
TARGETS = ["duckdb", "postgresql", "redshift-on-postgresql", "redshift", "redshift-s3-copy"]


@pytest.fixture(params=["text", "typed"])
def column_types(request) -> str:
    return request.param


@pytest.fixture(params=TARGETS)
def target_factory(request, tmp_path) -> Callable[[], SqlTarget]:
    """A function that makes a new, unopened target on this test's own, empty database."""
    kind = request.param
    if kind == "duckdb":
        uri = f"duckdb:///{tmp_path / 'conformance.duckdb'}"
        return lambda: make_target(uri)
    if kind == "postgresql":
        url = request.getfixturevalue("pg_url")
        return lambda: make_target(url)
    if kind == "redshift-on-postgresql":
        url = request.getfixturevalue("pg_url")
        return lambda: RedshiftTarget("redshift://emulated:5439/dev", connection=TypedRedshiftOnPostgres(url))
    return live_redshift(request, copy=kind == "redshift-s3-copy")


def live_redshift(request, copy: bool) -> Callable[[], SqlTarget]:
    url = os.environ.get("DYNASHIFT_REDSHIFT_URL")
    if not url:
        pytest.skip("set DYNASHIFT_REDSHIFT_URL (a scratch database) to run the suite against Redshift")
    if copy:
        stage, role = os.environ.get("DYNASHIFT_REDSHIFT_S3_STAGING"), os.environ.get("DYNASHIFT_REDSHIFT_IAM_ROLE")
        if not (stage and role):
            pytest.skip("set DYNASHIFT_REDSHIFT_S3_STAGING and DYNASHIFT_REDSHIFT_IAM_ROLE to run it with S3 staging")
        url += ("&" if "?" in url else "?") + urlencode({"s3_staging": stage, "iam_role": role})
    if os.environ.get("DYNASHIFT_REDSHIFT_SCRATCH") != "1":
        pytest.fail("the live suite drops schema dynashift in DYNASHIFT_REDSHIFT_URL's database: "
                    "set DYNASHIFT_REDSHIFT_SCRATCH=1 to confirm it is a scratch database", pytrace=False)
    schema = f"dynashift_test_{uuid.uuid4().hex[:8]}"

    def reset() -> None:
        t = make_target(url, schema)
        t.con = t.connect()
        for s in ("dynashift", schema):
            t.execute(f"DROP SCHEMA IF EXISTS {quote(s)} CASCADE")
        t.close()

    reset()
    request.addfinalizer(reset)
    return lambda: make_target(url, schema)


def apply_stream(factory: Callable[[], SqlTarget], stream: Path, settings: dict) -> tuple[SqlTarget, object]:
    """Replicate `stream` into a new target; returns it open, with the run's counters."""
    config = Config(source=f"file://{stream}", target="duckdb:///unused.duckdb", **settings)
    target = factory()
    target.open()
    counters = replicate(config, make_source(config.source, config), target)
    return target, counters


def replica(target: SqlTarget) -> dict[str, tuple[dict[str, str], list[dict]]]:
    """Each replicated table: (attribute -> column, rows as column -> value), read through the
    target's own connection and mapped by dynashift.columns (typed columns compared by type)."""
    return typed_replica(target)


def differences(target: SqlTarget, expected: dict, mode: str = "tables") -> list[str]:
    want = expected_tables(expected, mode)
    have = replica(target)
    diffs = [f"unexpected table {name}" for name in sorted(set(have) - set(want))]
    diffs += [f"missing table {name}" for name in sorted(set(want) - set(have))]
    for name in sorted(set(want) & set(have)):
        mapping, rows = have[name]
        diffs += diff_rows(want[name], mapping, rows)
    return diffs


def check_names(target: SqlTarget) -> None:
    """Every column name fits the target and is unique as the target compares names."""
    for (name,) in target.query("SELECT table_name FROM dynashift.tables"):
        columns = [c for (c,) in target.query(f"SELECT column_name FROM dynashift.columns WHERE table_name = {target.param}",
                                             [name])]
        folded = [target.naming.fold(c) for c in columns + [DIST_KEY, CHANGED_AT, DELETED]]
        assert len(set(folded)) == len(folded), f"{name}: colliding column names {columns}"
        assert all(len(c.encode()) <= target.naming.max_bytes for c in columns)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_recorded_streams_give_the_expected_tables(target_factory, column_types, case, tmp_path):
    spec = orjson.loads((CASES / case / "case.json").read_bytes())
    spec["settings"]["column_types"] = column_types
    expected = orjson.loads((CASES / case / "expected.json").read_bytes())
    target, counters = apply_stream(target_factory, CASES / case / "stream", spec["settings"])
    try:
        assert differences(target, expected) == []
        assert counters.rejected == spec["rejected"]
        assert target.query("SELECT count(*) FROM dynashift.rejected")[0][0] == spec["rejected"]
        check_names(target)
    finally:
        target.close()
    # Replaying the whole stream (a copy under another name, so no checkpoint matches) changes nothing.
    copy = tmp_path / "replay"
    shutil.copytree(CASES / case / "stream", copy)
    target, counters = apply_stream(target_factory, copy, spec["settings"])
    try:
        assert counters.changes_applied == 0
        assert differences(target, expected) == []
    finally:
        target.close()


@pytest.mark.parametrize("mode, settings", [("tables", {}), ("ttl_ignored", {"ttl_deletes": "ignore"}),
                                           ("soft_delete", {"delete_mode": "soft"})])
def test_a_simulated_stream_gives_its_oracle(target_factory, column_types, tmp_path, mode, settings):
    """dynashift.simulate writes a stream with duplicates and late records, support.simulated the end state
    DynamoDB itself holds; every target must agree with it, row for row."""
    from support.simulated import simulate

    simulate(tmp_path / "sim", changes=1500, tables=5, seed=11)
    expected = orjson.loads((tmp_path / "sim" / "expected.json").read_bytes())
    (tmp_path / "sim" / "expected.json").unlink()
    settings = {"batch_size": 400, "column_types": column_types, **settings}
    target, _ = apply_stream(target_factory, tmp_path / "sim", settings)
    try:
        assert differences(target, expected, mode) == []
    finally:
        target.close()
