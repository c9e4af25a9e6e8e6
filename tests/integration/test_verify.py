"""`dynashift verify` against moto: a replica loaded by Scan matches its table (whole and sampled,
text and typed columns with the item column); each injected difference (a deleted row, a changed
value, an extra row; an item deleted or changed in DynamoDB) is found, and a change in flight is not
one."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import duckdb
import orjson
import pytest
from support.moto_server import moto_endpoint  # noqa: F401 - the fixture
from support.pg import pg_url  # noqa: F401 - the fixture

from dynashift import Config, replicate
from dynashift.sources.scan import ScanSource
from dynashift.targets import make_target
from dynashift.verify import verify

_names = iter(range(1_000_000))
ITEMS = 60
# narrow: a column budget of 10 puts blob, ok, doc and odd in the overflow column (issue 14)
MODES = {"text": {}, "typed": {"column_types": "typed", "item_column": True}, "narrow": {"max_columns": 10}}


def populated_table(endpoint: str) -> str:
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    name = f"Verify-{next(_names)}"
    client.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
    )
    table = boto3.resource("dynamodb", endpoint_url=endpoint).Table(name)
    with table.batch_writer() as writer:
        for i in range(ITEMS):
            item = {"pk": f"item-{i:04d}", "sk": i % 3, "n": Decimal(i) / 4, "name": f"first {i}",
                    "tags": {"a", f"t{i % 5}"}, "blob": bytes([i % 256]) * 3, "ok": i % 2 == 0,
                    "doc": {"k": [1, "x", {"deep": Decimal("1.5")}], "empty": None}}
            if i % 10 == 0:
                item["odd"] = "a string" if i % 20 else Decimal(7)  # one attribute, two types
            writer.put_item(Item=item)
    return name


def replica(endpoint: str, table: str, db: Path | str, **settings: Any) -> str:
    uri = db if isinstance(db, str) else f"duckdb:///{db}"
    config = Config(target=uri, endpoint_url=endpoint, region="us-east-1", batch_size=25, **settings)
    target = make_target(config.target)
    target.open()
    try:
        replicate(config, ScanSource(table, config, segments=1), target)
    finally:
        target.close()
    return config.target


def check(uri: str, endpoint: str, table: str, **kw: Any):
    target = make_target(uri)
    target.open()
    try:
        return verify(target, boto3.client("dynamodb", endpoint_url=endpoint), table, settle=0, **kw)
    finally:
        target.close()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["duckdb", "postgresql"])
def test_a_correct_replica_has_no_differences(moto_endpoint: str, tmp_path: Path, mode: str, kind: str, request) -> None:
    table = populated_table(moto_endpoint)
    where = tmp_path / "r.duckdb" if kind == "duckdb" else request.getfixturevalue("pg_url")
    uri = replica(moto_endpoint, table, where, **MODES[mode])
    whole = check(uri, moto_endpoint, table)
    assert (whole.mode, whole.checked, whole.differences) == ("scan", ITEMS, [])
    sampled = check(uri, moto_endpoint, table, sample=10)
    assert sampled.mode == "sample" and 5 <= sampled.checked <= 10 and sampled.differences == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sample", [None, 2 * ITEMS])
def test_every_injected_difference_is_found(moto_endpoint: str, tmp_path: Path, mode: str, sample: int | None) -> None:
    table = populated_table(moto_endpoint)
    db = tmp_path / "r.duckdb"
    uri = replica(moto_endpoint, table, db, **MODES[mode])
    name = table.lower()
    con = duckdb.connect(str(db))
    con.execute(f'DELETE FROM main."{name}" WHERE pk = \'item-0001\'')  # a deleted row
    con.execute(f'UPDATE main."{name}" SET "name" = \'tampered\' WHERE pk = \'item-0002\'')  # a changed value
    con.execute(f'INSERT INTO main."{name}" (dist_key, pk, _dynashift_deleted) VALUES '
                '(\'{"pk":{"S":"ghost"},"sk":{"N":"0"}}\', \'ghost\', false)')  # an extra row
    con.close()
    dynamo = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    dynamo.delete_item(TableName=table, Key={"pk": {"S": "item-0003"}, "sk": {"N": "0"}})  # extra: gone at the source
    dynamo.update_item(TableName=table, Key={"pk": {"S": "item-0004"}, "sk": {"N": "1"}},  # a value changed at the source
                       UpdateExpression="SET n = :v", ExpressionAttributeValues={":v": {"N": "99.5"}})
    report = check(uri, moto_endpoint, table, sample=sample)
    found = {(d.kind, d.dist_key): d for d in report.differences}
    key = lambda pk, sk: orjson.dumps({"pk": {"S": pk}, "sk": {"N": str(sk)}}).decode()  # noqa: E731
    assert set(found) == {("missing", key("item-0001", 1)), ("different", key("item-0002", 2)),
                          ("extra", key("ghost", 0)), ("extra", key("item-0003", 0)),
                          ("different", key("item-0004", 1))}
    assert found[("different", key("item-0002", 2))].attributes["name"] == ("first 2", "tampered")
    assert set(found[("different", key("item-0004", 1))].attributes) >= {"n"}


def test_a_change_in_flight_is_read_again_not_reported(moto_endpoint: str, tmp_path: Path) -> None:
    """The replica applied a change the Scan had not seen yet: the row is newer than the read, so
    the item is read again and matches."""
    table = populated_table(moto_endpoint)
    db = tmp_path / "r.duckdb"
    uri = replica(moto_endpoint, table, db)
    real = boto3.client("dynamodb", endpoint_url=moto_endpoint)

    class ScanBeforeTheWrite:
        def __init__(self) -> None:
            self.scanned = False

        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def scan(self, **params: Any) -> dict:
            page = real.scan(**params)
            if not self.scanned:  # the write lands (and is replicated) just after the Scan read the item
                self.scanned = True
                real.update_item(TableName=table, Key={"pk": {"S": "item-0005"}, "sk": {"N": "2"}},
                                 UpdateExpression="SET #n = :v", ExpressionAttributeNames={"#n": "name"},
                                 ExpressionAttributeValues={":v": {"S": "renamed"}})
                # through the open target: DuckDB refuses a second attach of its file in this process
                target.execute(f'UPDATE main."{table.lower()}" SET "name" = \'renamed\', _dynashift_changed_at = now()'
                               " WHERE pk = 'item-0005'")
            return page

    target = make_target(uri)
    target.open()
    report = verify(target, ScanBeforeTheWrite(), table, settle=0)
    target.close()
    assert report.differences == [] and report.in_flight == 1


def test_the_command_line(moto_endpoint: str, tmp_path: Path) -> None:
    table = populated_table(moto_endpoint)
    db = tmp_path / "r.duckdb"
    uri = replica(moto_endpoint, table, db)
    cli = [sys.executable, "-m", "dynashift.cli", "verify", "--table", table, "--target", uri, "--endpoint-url",
           moto_endpoint, "--region", "us-east-1", "--settle", "0"]
    ok = subprocess.run(cli, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert f"checked {ITEMS} keys" in ok.stdout and "match: 0 missing, 0 extra, 0 different" in ok.stdout
    con = duckdb.connect(str(db))
    con.execute(f'DELETE FROM main."{table.lower()}" WHERE pk = \'item-0007\'')
    con.close()
    bad = subprocess.run([*cli, "--json"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert bad.returncode == 1
    report = orjson.loads(bad.stdout)
    assert (report["missing"], report["extra"], report["different"]) == (1, 0, 0)
    unknown = subprocess.run([*cli[:5], "NoSuchTable", *cli[6:]], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert unknown.returncode == 2 and "no replicated table 'NoSuchTable'" in unknown.stderr
