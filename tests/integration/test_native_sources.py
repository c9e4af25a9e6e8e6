"""Every source the native engine can serve is served by it (issue 12): kinesis://,
dynamodb-streams://, a Scan backfill and export:// (full and incremental), read with real boto3
from the local moto server or a local export, into DuckDB with each engine. Each test fails if the
native engine hands a winner to the Python renderer (planning.core._render) or a Kinesis record to
the Python line decoder, and compares the two engines' replicas whole. The records hold what
made sources fall back before: binary attributes (boto3's bytes) and deletes."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
from support.moto_server import moto_endpoint  # noqa: F401 - the fixture

from dynashift import Config, run_once
from dynashift.engine_choice import ENV, native_available
from dynashift.pipeline import replicate
from dynashift.planning import core, lines
from dynashift.simulate_live import put_records, simulate_live
from dynashift.sources.export import write_export
from dynashift.sources.scan import ScanSource
from dynashift.targets import make_target
from support.dynamo import dynamodb, scan_as_expected
from support.oracle import diff_duckdb
from support.simulated import simulate
from support.snapshots import duckdb_snapshot

pytestmark = pytest.mark.skipif(not native_available(), reason="the native engine is not installed")

_names = iter(range(1_000_000))
RUNS = "records_read, changes_applied, duplicates_skipped, stale_skipped, superseded, rejected"
ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/Orders"


class Taken:
    """What the Python code took while the native engine ran: winners rendered, lines decoded."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.rendered = self.decoded = 0
        render, decode = core._render, lines.LineDecoder.decode

        def counted_render(changes: list, *args: Any) -> Any:
            self.rendered += len(changes)
            return render(changes, *args)

        def counted_decode(decoder: Any, line: bytes, seq_base: str) -> Any:
            self.decoded += 1
            return decode(decoder, line, seq_base)

        monkeypatch.setattr(core, "_render", counted_render)
        monkeypatch.setattr(lines.LineDecoder, "decode", counted_decode)


def both_engines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, apply: Callable[[str], None]) -> tuple[Taken, Taken]:
    """`apply(duckdb url)` once per engine; asserts the replicas are equal; what Python took in each."""
    taken = []
    for engine in ("python", "native"):
        monkeypatch.setenv(ENV, engine)
        with monkeypatch.context() as m:
            taken.append(Taken(m))
            apply(f"duckdb:///{tmp_path / engine}.duckdb")
    assert duckdb_snapshot(tmp_path / "native.duckdb", RUNS) == duckdb_snapshot(tmp_path / "python.duckdb", RUNS)
    python, native = taken
    assert python.rendered > 0  # the count sees the Python renderer at work
    return python, native


def test_kinesis_is_decoded_and_rendered_natively(moto_endpoint, monkeypatch, tmp_path):
    client = boto3.client("kinesis", endpoint_url=moto_endpoint)
    stream = f"native-{next(_names)}"
    client.create_stream(StreamName=stream, ShardCount=1)  # one order of records: the same batches in both runs
    summary = simulate(tmp_path / "sim", changes=800, tables=3, seed=5)
    for f in summary.files:
        put_records(client, stream, [x for x in f.read_bytes().splitlines() if x.strip()])

    def apply(url: str) -> None:
        run_once(f"kinesis://{stream}", url, endpoint_url=moto_endpoint, batch_size=300, change_log=True)

    python, native = both_engines(monkeypatch, tmp_path, apply)
    assert python.decoded > 0 and (native.rendered, native.decoded) == (0, 0)
    assert diff_duckdb(tmp_path / "native.duckdb", summary.expected) == []


def test_dynamodb_streams_are_rendered_natively(moto_endpoint, monkeypatch, tmp_path):
    """Binary attributes (simulate_live writes B and BS values), puts, updates and deletes: each
    batch has deletes among its winners. (A binary key is left to the unit tests: moto's stream
    records carry it base64-encoded twice in Keys.)"""
    from test_dynamodb_streams import new_table

    table = new_table(moto_endpoint)
    simulate_live(f"dynamodb://{table}", Config(endpoint_url=moto_endpoint), changes=700, tables=1, seed=11,
                  profile="mixed")

    def apply(url: str) -> None:
        run_once(f"dynamodb-streams://{table}", url, endpoint_url=moto_endpoint, batch_size=250, change_log=True)

    python, native = both_engines(monkeypatch, tmp_path, apply)
    assert native.rendered == 0
    oracle = scan_as_expected(moto_endpoint, table, tmp_path / "scan.json")
    assert diff_duckdb(tmp_path / "native.duckdb", oracle, check_changed_at=False) == []


def test_a_scan_backfill_is_rendered_natively(moto_endpoint, monkeypatch, tmp_path):
    from test_scan import populated_table  # binary ("blob") and string set ("tags") attributes

    table = populated_table(moto_endpoint, items=600)
    monkeypatch.setattr(ScanSource, "scan_start", lambda self: 1_700_000_000_000_000)  # one version for both

    def apply(url: str) -> None:
        config = Config(target=url, endpoint_url=moto_endpoint, batch_size=250, change_log=True)
        target = make_target(url)
        target.open()
        try:
            replicate(config, ScanSource(table, config, segments=2), target)
        finally:
            target.close()

    python, native = both_engines(monkeypatch, tmp_path, apply)
    assert native.rendered == 0
    oracle = scan_as_expected(moto_endpoint, table, tmp_path / "scan.json")
    assert diff_duckdb(tmp_path / "native.duckdb", oracle, check_changed_at=False) == []


def _item(i: int, status: str) -> dict:
    return {"pk": {"S": f"o{i}"}, "sk": {"N": str(i % 3)}, "status": {"S": status},
            "sig": {"B": base64.b64encode(bytes([i % 256, 7])).decode()}, "tags": {"SS": ["a", f"t{i % 4}"]}}


def test_full_and_incremental_exports_are_rendered_natively(monkeypatch, tmp_path):
    """The incremental export's rows (updates and deletes) after the full one's items."""
    at = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
    later = datetime(2024, 5, 1, 12, 30, 0, tzinfo=timezone.utc)
    write_export(tmp_path / "exports", table_arn=ARN, export_time=at,
                 files=[[{"Item": _item(i, "new")} for i in range(400)]])
    stamp = {"WriteTimestampMicros": {"N": str(int(datetime(2024, 5, 1, 12, 10, tzinfo=timezone.utc).timestamp() * 1e6))}}
    rows = [{"Metadata": stamp, "Keys": {"pk": item["pk"], "sk": item["sk"]}, "OldImage": _item(i, "new"),
             **({} if i % 5 == 0 else {"NewImage": _item(i, "paid")})} for i in range(0, 400, 2)
            for item in [_item(i, "")]]
    write_export(tmp_path / "exports", table_arn=ARN, export_time=later, export_from=at, files=[rows])

    def apply(url: str) -> None:
        run_once(f"export://{tmp_path / 'exports'}?keys=pk,sk", url, load_batch_size=150, change_log=True)

    python, native = both_engines(monkeypatch, tmp_path, apply)
    assert native.rendered == 0
    with_engine = duckdb_snapshot(tmp_path / "native.duckdb", RUNS)
    (table,) = [k for k in with_engine if k not in ("versions", "change_log", "runs")]
    assert len(with_engine[table]) == 400 - 40  # every fifth of the even items deleted
