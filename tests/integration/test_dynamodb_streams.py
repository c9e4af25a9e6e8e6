"""dynamodb-streams:// against moto: items are written with real DynamoDB calls, DynamoDB makes the
stream records, and the oracle is a Scan of the table rendered per docs/reference.md §3 by the
simulator's own renderer (independent of decode.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.moto_server import moto_endpoint  # noqa: F401 - the fixture

from dynashift import Config, run_once
from dynashift.simulate_live import item_operations, simulate_live
from support.dynamo import dynamodb, scan_as_expected
from support.oracle import diff_duckdb

_names = iter(range(1_000_000))


def new_table(endpoint: str, view: str = "NEW_AND_OLD_IMAGES") -> str:
    name = f"Items-{next(_names)}"
    dynamodb(endpoint).create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": view},
    )
    return name


def test_replica_equals_a_scan_of_the_table(moto_endpoint: str, tmp_path: Path) -> None:
    table = new_table(moto_endpoint)
    config = Config(endpoint_url=moto_endpoint)
    simulate_live(f"dynamodb://{table}", config, changes=900, tables=1, seed=1, profile="mixed")
    db = tmp_path / "r.duckdb"
    uri = f"dynamodb-streams://{table}"
    first = run_once(uri, f"duckdb:///{db}", endpoint_url=moto_endpoint, batch_size=400)
    assert first.records_read >= 600 and first.rejected == 0  # DynamoDB decides how many records
    oracle = scan_as_expected(moto_endpoint, table, tmp_path / "scan.json")
    assert diff_duckdb(db, oracle, check_changed_at=False) == []
    # more writes, a second run from the checkpoint
    simulate_live(f"dynamodb://{table}", config, changes=400, tables=1, seed=2, profile="mixed")
    second = run_once(uri, f"duckdb:///{db}", endpoint_url=moto_endpoint)
    assert 0 < second.records_read < first.records_read
    assert diff_duckdb(db, scan_as_expected(moto_endpoint, table, tmp_path / "scan2.json"), check_changed_at=False) == []


def test_same_second_changes_are_ordered_by_sequence_number(moto_endpoint: str, tmp_path: Path) -> None:
    """The stream's time is rounded to the second: the sequence number breaks the tie."""
    table = new_table(moto_endpoint)
    client = dynamodb(moto_endpoint)
    for v in range(30):
        client.put_item(TableName=table, Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "v": {"N": str(v)}})
    client.delete_item(TableName=table, Key={"pk": {"S": "b"}, "sk": {"N": "1"}})
    client.put_item(TableName=table, Item={"pk": {"S": "b"}, "sk": {"N": "1"}, "v": {"S": "x"}})
    client.delete_item(TableName=table, Key={"pk": {"S": "b"}, "sk": {"N": "1"}})
    db = tmp_path / "r.duckdb"
    run_once(f"dynamodb-streams://{table}", f"duckdb:///{db}", endpoint_url=moto_endpoint, batch_size=7)
    assert diff_duckdb(db, scan_as_expected(moto_endpoint, table, tmp_path / "s.json"), check_changed_at=False) == []


def test_stream_arn_works_as_the_source(moto_endpoint: str, tmp_path: Path) -> None:
    table = new_table(moto_endpoint)
    arn = dynamodb(moto_endpoint).describe_table(TableName=table)["Table"]["LatestStreamArn"]
    simulate_live(f"dynamodb://{table}", Config(endpoint_url=moto_endpoint), changes=200, tables=1, seed=3,
                  profile="mixed")
    db = tmp_path / "r.duckdb"
    run_once(f"dynamodb-streams://{arn}", f"duckdb:///{db}", endpoint_url=moto_endpoint)
    assert diff_duckdb(db, scan_as_expected(moto_endpoint, table, tmp_path / "s.json"), check_changed_at=False) == []


def test_keys_only_and_old_image_streams_are_refused(moto_endpoint: str, tmp_path: Path) -> None:
    for view in ("KEYS_ONLY", "OLD_IMAGE"):
        table = new_table(moto_endpoint, view)
        out = subprocess.run([sys.executable, "-m", "dynashift.cli", "run", "--once", "--source",
                              f"dynamodb-streams://{table}", "--target", f"duckdb:///{tmp_path / 'r.duckdb'}",
                              "--endpoint-url", moto_endpoint], capture_output=True, text=True, timeout=60)
        message = " ".join(out.stderr.split())
        assert out.returncode == 1, out.stderr
        assert view in message and "NEW_AND_OLD_IMAGES" in message and "Traceback" not in message


def test_table_without_a_stream_is_one_clear_line(moto_endpoint: str, tmp_path: Path) -> None:
    dynamodb(moto_endpoint).create_table(
        TableName="NoStreamHere", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    out = subprocess.run([sys.executable, "-m", "dynashift.cli", "run", "--once", "--source",
                          "dynamodb-streams://NoStreamHere", "--target", f"duckdb:///{tmp_path / 'r.duckdb'}",
                          "--endpoint-url", moto_endpoint], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "no DynamoDB stream" in out.stderr, out.stderr


def test_simulated_workload_touches_every_operation() -> None:
    ops = [op for op, _ in item_operations([("pk", "S"), ("sk", "N")], 500, seed=0)]
    assert {"put", "update", "delete"} <= set(ops)
