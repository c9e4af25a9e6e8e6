"""Both Redshift paths against a real cluster, end to end (skipped unless DYNASHIFT_REDSHIFT_URL is set).

    DYNASHIFT_REDSHIFT_URL=redshift://… DYNASHIFT_REDSHIFT_SCRATCH=1 scripts/redshift-live.sh

`redshift://` runs the whole conformance suite there (tests/integration/test_conformance.py, variants
`redshift` and `redshift-s3-copy`). `redshift-mv://` is proved here: every conformance case's
records are loaded into a table shaped like the streaming view (shard, sequence number, refresh
time, `payload` parsed by Redshift's own JSON_PARSE, `unparsed` bytes), applied by the view path
inside the warehouse, and compared with the same expected tables. With DYNASHIFT_REDSHIFT_KINESIS_STREAM
and DYNASHIFT_REDSHIFT_KINESIS_ROLE, `dynashift redshift setup` also creates the real external
schema and streaming view, and one batch is applied from it. Each test prints what it ran and found.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import orjson
import pytest

from dynashift import Config
from dynashift import redshift_native as native
from dynashift.targets import make_target
from dynashift.targets.base import quote
from dynashift.targets.redshift import RedshiftTarget
from test_conformance import CASE_NAMES, CASES, differences

URL = os.environ.get("DYNASHIFT_REDSHIFT_URL", "")
live = pytest.mark.skipif(not URL, reason="set DYNASHIFT_REDSHIFT_URL (a scratch database) to run against Redshift")


@pytest.fixture
def scratch():
    """A fresh target schema and a view-shaped table; schema dynashift is dropped before and after."""
    if os.environ.get("DYNASHIFT_REDSHIFT_SCRATCH") != "1":
        pytest.fail("the live suite drops schema dynashift in DYNASHIFT_REDSHIFT_URL's database: "
                    "set DYNASHIFT_REDSHIFT_SCRATCH=1 to confirm it is a scratch database", pytrace=False)
    schema = f"dynashift_live_{uuid.uuid4().hex[:8]}"

    def reset() -> None:
        t = make_target(URL, schema)
        t.con = t.connect()
        for s in ("dynashift", schema):
            t.execute(f"DROP SCHEMA IF EXISTS {quote(s)} CASCADE")
        t.close()

    reset()
    yield schema
    reset()


def load_view_shaped(target: RedshiftTarget, view: str, lines: list[bytes]) -> None:
    """The records as the streaming view holds them: parsed by JSON_PARSE when they are JSON of at
    most 65,535 bytes, their bytes otherwise; one shard, increasing sequence numbers."""
    target.execute(f"CREATE TABLE {native.view_ref(view)} (shard_id VARCHAR(128), sequence_number VARCHAR(128),"
                   " refresh_time TIMESTAMP, payload SUPER, unparsed VARBYTE(1024000))")
    for n, line in enumerate(lines, 1):
        try:
            orjson.loads(line)
            parsed = len(line) <= 65535
        except orjson.JSONDecodeError:
            parsed = False
        value = "JSON_PARSE(%s), NULL" if parsed else "NULL, FROM_HEX(%s)"
        target.execute(f"INSERT INTO {native.view_ref(view)} VALUES (%s, %s, SYSDATE, {value})",
                       ["shardId-000000000000", str(1000 + n), line.decode() if parsed else line.hex()])


@live
@pytest.mark.parametrize("case", CASE_NAMES)
def test_the_view_path_gives_the_expected_tables(scratch, case, capsys):
    spec = orjson.loads((CASES / case / "case.json").read_bytes())
    expected = orjson.loads((CASES / case / "expected.json").read_bytes())
    lines = [line for f in sorted((CASES / case / "stream").glob("*.jsonl")) for line in f.read_bytes().splitlines()
             if line.strip()]
    view = f"{scratch}.changes"
    target = make_target(URL, scratch)
    target.open()
    try:
        with target.transaction():
            load_view_shaped(target, view, lines)
        source = native.ViewSource(f"redshift-mv://{view}", Config(batch_size=1000))
        counters = source.replicate(Config(source=source.uri, **spec["settings"]), target)
        found = differences(target, expected)
        rejected = target.query("SELECT count(*) FROM dynashift.rejected")[0][0]
    finally:
        target.close()
    with capsys.disabled():
        print(f"\n[redshift-mv] case {case}: {len(lines)} records in {view}; read {counters.records_read},"
              f" applied {counters.changes_applied}, rejected {rejected} (expected {spec['rejected']});"
              f" differences from expected.json: {found or 'none'}")
    assert found == []
    assert rejected == spec["rejected"]


@live
def test_setup_creates_the_streaming_view_on_a_real_stream(scratch, capsys):
    stream, role = os.environ.get("DYNASHIFT_REDSHIFT_KINESIS_STREAM"), os.environ.get("DYNASHIFT_REDSHIFT_KINESIS_ROLE")
    if not (stream and role):
        pytest.skip("set DYNASHIFT_REDSHIFT_KINESIS_STREAM and DYNASHIFT_REDSHIFT_KINESIS_ROLE to create a real view")
    target = make_target(URL, scratch)
    target.open()
    view = f"{scratch}.changes"
    try:
        ran = native.setup(target, view, stream, role, external_schema=f"{scratch}_kinesis")
        target.execute(f"REFRESH MATERIALIZED VIEW {native.view_ref(view)}")
        (rows,) = target.query(f"SELECT count(*) FROM {native.view_ref(view)}")[0]
        counters = native.ViewSource(f"redshift-mv://{view}", Config(batch_size=1000)).replicate(Config(), target)
    finally:
        target.execute(f"DROP MATERIALIZED VIEW IF EXISTS {native.view_ref(view)}")
        target.execute(f"DROP SCHEMA IF EXISTS {quote(scratch + '_kinesis')}")
        target.close()
    with capsys.disabled():
        print(f"\n[redshift setup] ran {len(ran)} statements; the view holds {rows} records; one run read"
              f" {counters.records_read}, applied {counters.changes_applied}, rejected {counters.rejected}")


@live
def test_the_cluster_settings_doctor_reads(capsys):
    target = make_target(URL)
    target.open()
    try:
        defaults = target.cluster_defaults()
        (collation,) = target.query("SELECT db_collation()")[0]
    finally:
        target.close()
    with capsys.disabled():
        print(f"\n[redshift settings] {defaults}, database collation {collation}")
    assert collation == "case_sensitive"


def test_the_one_command_is_documented_and_runs_both_paths():
    root = Path(__file__).resolve().parents[2]
    script = (root / "scripts" / "redshift-live.sh").read_text()
    assert "tests/integration/test_redshift_live.py" in script and "tests/integration/test_conformance.py" in script
    assert "scripts/redshift-live.sh" in (root / "docs" / "redshift.md").read_text()
