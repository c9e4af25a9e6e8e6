"""Full loads from DynamoDB exports, handed over to the stream without a gap (docs/reference.md §1, §4).

A table's history is simulated in true time (µs): its items when the export was taken are written
as an export with the real layout (manifests + gzip DynamoDB JSON), and its stream as DynamoDB
Streams would time it (whole seconds) from a minute before the export to a minute after, with many
changes in the export's own second. The replica after export + stream must equal the table's final
state (rendered by the simulator's own renderer), in either order, interrupted or not.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import Any

import duckdb
import orjson
import pytest

from dynashift import Config, replicate, run_once
from dynashift.decode import dist_key
from support.simulated import render_item
from dynashift.simulate_tables import value
from dynashift.sources.export import DONE, ExportSource, read_export, write_export
from dynashift.targets import make_target
from support.oracle import diff_duckdb
from support.moto_server import moto_endpoint  # noqa: F401 - the fixture

TABLE = "Things"
TABLE_ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}"
EXPORT_AT = datetime(2024, 5, 1, 12, 0, 0, 400_000, tzinfo=timezone.utc)
E_US = int(EXPORT_AT.timestamp()) * 1_000_000 + EXPORT_AT.microsecond


@dataclass
class History:
    folder: Path  # holds AWSDynamoDB/<id>/ (the export) and nothing else
    stream: Path  # JSON Lines of stream records
    expected: Path  # the final state, in simulate's expected.json shape
    items: int  # in the export


def _item(r: Random, i: int, rich: bool) -> dict[str, Any]:
    item = {"pk": {"S": f"item-{i:07d}"}, "sk": {"N": str(i % 7)}, "n": {"N": str(r.randint(0, 10**6))},
            "state": {"S": r.choice(("new", "paid", "gone"))}}
    if r.random() < 0.5:
        item["note"] = {"S": "x" * r.randint(0, 40)}
    if rich:
        item[r.choice(("extra", "Extra", "more"))] = value(r)
    return item


def make_history(out: Path, items: int, changes: int, seed: int = 1, files: int = 4,
                 incremental_at: datetime | None = None) -> History:
    """Items live long before; `changes` changes at true times within a minute either side of the
    export (a fifth of them within 1.5 s of it), keys old and new, some deleted and re-created."""
    r = Random(seed)
    state: dict[str, dict[str, Any]] = {}
    for i in range(items):
        it = _item(r, i, rich=i % 10 == 0)
        state[dist_key({"pk": it["pk"], "sk": it["sk"]})] = it
    times = sorted(E_US + (r.randint(-1_500_000, 1_500_000) if r.random() < 0.2 else r.randint(-60_000_000, 60_000_000))
                   for _ in range(changes))
    out.mkdir(parents=True)
    stream_lines, snapshot, attributes, ids = [], None, set(), itertools.count()
    inc = int(incremental_at.timestamp() * 1e6) if incremental_at else None
    at_inc, written = None, {}
    for t in times:
        if snapshot is None and t >= E_US:
            snapshot = list(state.values())
        if inc is not None and at_inc is None and t >= inc:
            at_inc = dict(state)
        i = r.randrange(items + items // 20)
        keys = {"pk": {"S": f"item-{i:07d}"}, "sk": {"N": str(i % 7)}}
        dk = dist_key(keys)
        ddb: dict[str, Any] = {"ApproximateCreationDateTime": t // 1_000_000, "Keys": keys}  # seconds, as Streams
        if dk in state and r.random() < 0.3:
            op = "REMOVE"
            del state[dk]
        else:
            op = "MODIFY" if dk in state else "INSERT"
            state[dk] = ddb["NewImage"] = _item(r, i, rich=r.random() < 0.1)
            attributes.update(state[dk])
        written[dk] = t
        stream_lines.append(orjson.dumps({"eventID": f"e{next(ids)}", "eventName": op, "tableName": TABLE,
                                          "dynamodb": ddb}))
    snapshot = snapshot if snapshot is not None else list(state.values())
    for it in snapshot:
        attributes.update(it)
    chunks = [snapshot[k::files] for k in range(files)]
    write_export(out / "export", table_arn=TABLE_ARN, export_time=EXPORT_AT,
                 files=([{"Item": it} for it in chunk] for chunk in chunks))
    stream = out / "stream.jsonl"
    stream.write_bytes(b"\n".join(stream_lines) + b"\n")
    rows = {dk: {"changed_at_us": 0, "values": render_item(it)} for dk, it in state.items()}
    expected = {"tables": {TABLE.lower(): {"source_table": TABLE, "key_attributes": ["pk", "sk"],
                                           "attributes": sorted(attributes), "rows": rows}}}
    (out / "expected.json").write_bytes(orjson.dumps(expected))
    return History(out / "export", stream, out / "expected.json", len(snapshot))


def export_uri(h: History) -> str:
    return f"export://{h.folder}?keys=pk,sk"


def load(uri: str, db: Path, **settings: Any):
    return run_once(uri, f"duckdb:///{db}", **settings)


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> History:
    return make_history(tmp_path_factory.mktemp("big") / "h", items=104_000, changes=30_000, seed=5)


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> History:
    return make_history(tmp_path_factory.mktemp("small") / "h", items=3000, changes=3000, seed=9, files=3)


# ---------------------------------------------------------------- the done criteria


def test_export_of_100k_items_then_the_stream_equals_the_table(big: History, tmp_path: Path) -> None:
    db = tmp_path / "r.duckdb"
    loaded = load(export_uri(big), db, load_batch_size=50_000)
    assert loaded.records_read == loaded.changes_applied == big.items >= 100_000
    assert loaded.rejected == 0 and loaded.batches >= 2
    stream = load(f"file://{big.stream}", db)
    assert stream.stale_skipped > 1000  # changes before the export, already in it
    assert stream.changes_applied > 1000  # changes after it
    assert diff_duckdb(db, big.expected, check_changed_at=False) == []
    versions = _sql(db, "SELECT DISTINCT version_us FROM dynashift.versions WHERE seq = ''")
    assert versions == [(E_US - E_US % 1_000_000,)]  # the export's time, floored to the second
    again = load(export_uri(big), db)
    assert again.records_read == 0  # every data file is done


@pytest.mark.parametrize("batch_size", [50_000, 377])
def test_stream_first_then_export_gives_the_same_table(small: History, tmp_path: Path, batch_size: int) -> None:
    db = tmp_path / "r.duckdb"
    load(f"file://{small.stream}", db, batch_size=batch_size)
    load(export_uri(small), db, load_batch_size=batch_size)
    assert diff_duckdb(db, small.expected, check_changed_at=False) == []


@pytest.mark.parametrize("stream_first", [False, True])
def test_an_interrupted_load_resumes_with_the_same_result(small: History, tmp_path: Path, stream_first: bool) -> None:
    db = tmp_path / "r.duckdb"
    if stream_first:  # the load must never overwrite these newer changes, before or after resuming
        load(f"file://{small.stream}", db)
    config = Config(target=f"duckdb:///{db}", load_batch_size=700)  # files of ~970 lines: cut mid-file
    crashes = {"after": 2}

    def crash(run: Any) -> None:
        crashes["after"] -= 1
        if crashes["after"] == 0:
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        _replicate(config, ExportSource(export_uri(small), config), on_batch=crash)
    positions = {p for (p,) in _sql(db, "SELECT position FROM dynashift.checkpoints WHERE source LIKE 'export:%'")}
    first = ExportSource(export_uri(small), config).exports()[0].files[0].items
    assert positions == {DONE, str(1400 - first)}  # 2 x 700 lines committed: file 1 done, file 2 part-way
    resumed = _replicate(config, ExportSource(export_uri(small), config))
    assert resumed.records_read == small.items - 1400
    if not stream_first:
        load(f"file://{small.stream}", db)
    assert diff_duckdb(db, small.expected, check_changed_at=False) == []


# ---------------------------------------------------------------- formats


def test_the_real_manifests_and_item_from_the_aws_docs(fixtures_dir: Path, tmp_path: Path) -> None:
    """The developer guide's manifests and Book 103 item, laid out as DynamoDB writes them."""
    root = tmp_path / "2020-Nov" / "AWSDynamoDB" / "01234567890123-a1b2c3d4"
    (root / "data").mkdir(parents=True)
    (root / "manifest-summary.json").write_bytes((fixtures_dir / "export-manifest-summary_ddb-dev-guide.json").read_bytes())
    (root / "manifest-files.json").write_bytes((fixtures_dir / "export-manifest-files_ddb-dev-guide.jsonl").read_bytes())
    import gzip

    line = (fixtures_dir / "export-ddb-json_ddb-dev-guide_book-item.jsonl").read_bytes()
    (root / "data" / "33334444EXAMPLE.json.gz").write_bytes(gzip.compress(line))
    export = read_export(ExportSource(f"export://{tmp_path}?keys=Id", Config()).store,
                         "2020-Nov/AWSDynamoDB/01234567890123-a1b2c3d4/manifest-summary.json")
    assert (export.table, export.incremental, export.items) == ("ProductCatalog", False, 8)
    assert export.version == int(datetime(2020, 11, 4, 7, 28, 34, tzinfo=timezone.utc).timestamp()) * 1_000_000
    db = tmp_path / "r.duckdb"
    run = load(f"export://{tmp_path}/2020-Nov?keys=Id", db)
    assert (run.records_read, run.changes_applied) == (1, 1)
    row = _rows(db, "productcatalog")[0]
    assert row["Authors"] == '["Author1","Author2"]' and row["Price"] == "2000" and row["InPublication"] == "false"
    assert row["dist_key"] == '{"Id":{"N":"103"}}'
    assert row["_dynashift_changed_at"] == datetime(2020, 11, 4, 7, 28, 34, tzinfo=timezone.utc)


def test_bad_lines_are_rejected_not_dropped(tmp_path: Path) -> None:
    lines = [{"Item": {"pk": {"S": "a"}, "v": {"N": "1"}}}, {"Item": {"v": {"S": "no key"}}}, {"Nope": 1},
             {"Item": {"pk": {"S": "b"}, "bad": {"N": "one"}}}, {"Item": {"pk": {"S": "c"}}, "extra": True}]
    write_export(tmp_path, table_arn=TABLE_ARN, export_time=EXPORT_AT, files=[lines])
    data = next(tmp_path.rglob("*.json.gz"))
    import gzip

    data.write_bytes(gzip.compress(gzip.decompress(data.read_bytes()) + b"not json\n\n"))
    db = tmp_path / "r.duckdb"
    run = load(f"export://{tmp_path}?keys=pk", db)
    assert (run.records_read, run.changes_applied, run.rejected) == (6, 2, 4)
    reasons = sorted(r for (r,) in _sql(db, "SELECT reason FROM dynashift.rejected"))
    assert any("no key attribute 'pk'" in r for r in reasons) and any("not JSON" in r for r in reasons)
    assert any("no `Item`" in r for r in reasons) and any("invalid number" in r for r in reasons)
    assert sorted(r["pk"] for r in _rows(db, "things")) == ["a", "c"]


def test_incremental_export_after_a_full_one(tmp_path: Path) -> None:
    """Full export at E, an incremental one for (E, E+20s], the stream from E+15s: all three meet."""
    h = make_history(tmp_path / "h", items=2000, changes=4000, seed=3, files=2)
    end = EXPORT_AT + timedelta(seconds=20)
    full_at, inc_at = E_US, int(end.timestamp() * 1e6)
    before, last, lines = {}, {}, []
    records = [orjson.loads(x) for x in h.stream.read_bytes().splitlines()]
    # True times are lost in the stream's whole seconds; rebuild the incremental export from the
    # stream's order instead: the last change per key in (E, E+20s], with the key's image at E.
    for rec in records:
        ddb = rec["dynamodb"]
        dk = dist_key(ddb["Keys"])
        t = ddb["ApproximateCreationDateTime"] * 1_000_000
        if t < full_at - full_at % 1_000_000:  # the window may start before the full export: harmless
            before[dk] = ddb.get("NewImage")
        elif t < inc_at:
            last[dk] = (t + 999_999, ddb)
    for dk, (t, ddb) in last.items():
        row: dict[str, Any] = {"Metadata": {"WriteTimestampMicros": {"N": str(t)}}, "Keys": ddb["Keys"]}
        if ddb.get("NewImage"):
            row["NewImage"] = ddb["NewImage"]
        if before.get(dk):
            row["OldImage"] = before[dk]
        lines.append(row)
    write_export(h.folder, table_arn=TABLE_ARN, export_time=end, export_from=EXPORT_AT, files=[lines[::2], lines[1::2]])
    late = [x for x in h.stream.read_bytes().splitlines() if orjson.loads(x)["dynamodb"]["ApproximateCreationDateTime"]
            * 1_000_000 >= inc_at - 5_000_000]
    (tmp_path / "late.jsonl").write_bytes(b"\n".join(late) + b"\n")
    db = tmp_path / "r.duckdb"
    loaded = load(export_uri(h), db)  # the folder holds both exports: full first, then incremental
    assert loaded.records_read == h.items + len(lines)
    load(f"file://{tmp_path / 'late.jsonl'}", db)
    assert diff_duckdb(db, h.expected, check_changed_at=False) == []


# ---------------------------------------------------------------- helpers


def _replicate(config: Config, source: Any, **kwargs: Any):
    target = make_target(config.target)
    target.open()
    try:
        return replicate(config, source, target, **kwargs)
    finally:
        target.close()


def _sql(db: Path, query: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


def _rows(db: Path, table: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(f'SELECT * FROM main."{table}" ORDER BY dist_key')
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]
    finally:
        con.close()


# ---------------------------------------------------------------- from S3 (moto)


def moto_exports_like_aws():
    """moto writes one data file and no manifests; AWS writes the layout this module reads. For the
    `export start` test, moto's export thread is made to write that layout (tests only)."""
    import contextlib
    import gzip
    import hashlib

    from moto.dynamodb.models.table_export import TableExport
    from moto.dynamodb.models.utilities import dynamo_json_dump

    def backup(self: Any, s3_backend: Any) -> None:
        self.export_time = datetime.now(timezone.utc)
        base = f"{self.s3_prefix}/AWSDynamoDB/{int(self.export_time.timestamp() * 1000):014d}-abcd1234".lstrip("/")
        items = [dynamo_json_dump(item.to_json(root_attr_name="Item")) for item in self.table.all_items()]
        files = []
        for n in range(2):
            body = gzip.compress("".join(line + "\n" for line in items[n::2]).encode())
            key = f"{base}/data/file{n}.json.gz"
            s3_backend.put_object(self.s3_bucket, key, body)
            files.append({"itemCount": len(items[n::2]), "md5Checksum": "", "etag": hashlib.md5(body).hexdigest(),
                          "dataFileS3Key": key})
        s3_backend.put_object(self.s3_bucket, f"{base}/manifest-files.json",
                              b"".join(orjson.dumps(f) + b"\n" for f in files))
        stamp = self.export_time.strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.export_time.microsecond // 1000:03d}Z"
        s3_backend.put_object(self.s3_bucket, f"{base}/manifest-summary.json", orjson.dumps({
            "exportArn": self.arn, "exportTime": stamp, "startTime": stamp, "tableArn": self.table.table_arn,
            "itemCount": len(items), "outputFormat": "DYNAMODB_JSON", "exportType": "FULL_EXPORT",
            "manifestFilesS3Key": f"{base}/manifest-files.json"}))
        self.item_count, self.manifest = len(items), f"{base}/manifest-summary.json"
        self.status = "COMPLETED"

    original = TableExport.response

    def response(self: Any) -> dict[str, Any]:
        out = original(self)
        if getattr(self, "manifest", None):
            out.update(ExportManifest=self.manifest, ExportTime=self.export_time.timestamp())
        return out

    @contextlib.contextmanager
    def patched():
        saved = TableExport._backup_to_s3_file, TableExport.response
        TableExport._backup_to_s3_file, TableExport.response = backup, response
        try:
            yield
        finally:
            TableExport._backup_to_s3_file, TableExport.response = saved

    return patched()


def test_export_served_from_s3(small: History, moto_endpoint: str, tmp_path: Path) -> None:
    """The export in a bucket under a prefix; key attributes read from the table (DescribeTable)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket="exports")
    for path in small.folder.rglob("*"):
        if path.is_file():
            s3.put_object(Bucket="exports", Key=f"nightly/{path.relative_to(small.folder).as_posix()}", Body=path.read_bytes())
    boto3.client("dynamodb", endpoint_url=moto_endpoint).create_table(
        TableName=TABLE, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}])
    db = tmp_path / "r.duckdb"
    loaded = load("export://s3://exports/nightly", db, endpoint_url=moto_endpoint, load_batch_size=1000)
    assert loaded.records_read == small.items and loaded.batches >= 3
    load(f"file://{small.stream}", db)
    assert diff_duckdb(db, small.expected, check_changed_at=False) == []


def test_export_start_then_the_stream(moto_endpoint: str, tmp_path: Path) -> None:
    """`dynashift export start` against moto: writes before and after the export, all in the
    table's stream; export + stream equal a final Scan of the table."""
    import time

    import boto3
    from click.testing import CliRunner
    from test_scan import scan_as_expected

    from dynashift.cli import main
    from dynashift.simulate_live import simulate_dynamodb

    config = Config(endpoint_url=moto_endpoint)
    table = "Exported"
    simulate_dynamodb(config, table, changes=600, seed=1)  # creates it with a NEW_AND_OLD_IMAGES stream
    ddb = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket="pitr")
    db = tmp_path / "r.duckdb"
    args = ["export", "start", "--table", table, "--s3", "s3://pitr/daily", "--target", f"duckdb:///{db}",
            "--endpoint-url", moto_endpoint, "--poll", "0.1s", "-q"]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 2 and "point-in-time recovery is off" in refused.output
    ddb.update_continuous_backups(TableName=table, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    simulate_dynamodb(config, table, changes=300, seed=2)
    with moto_exports_like_aws():
        done = CliRunner().invoke(main, args)
    assert done.exit_code == 0, done.output
    assert "loaded" in done.output and "items" in done.output
    time.sleep(1.1)
    simulate_dynamodb(config, table, changes=300, seed=3)  # after the export
    stream = run_once(f"dynamodb-streams://{table}", f"duckdb:///{db}", endpoint_url=moto_endpoint)
    assert stream.changes_applied > 0 and stream.stale_skipped > 0
    assert diff_duckdb(db, scan_as_expected(moto_endpoint, table, tmp_path / "scan.json"), check_changed_at=False) == []
