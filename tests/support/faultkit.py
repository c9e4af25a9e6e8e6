"""What the crash, fault and soak tests share: a Kinesis stream on moto fed with a simulated change
stream, `dynashift run` as a subprocess, a replica (DuckDB file or PostgreSQL database) to read,
and the audits that prove nothing was lost or applied twice.

The audits return the problems they found (empty = proven):

`committed_problems`, on any committed state (after each crash; in PostgreSQL, snapshots taken
while dynashift runs): the state is exactly "the stream up to the checkpoints, applied once".
- The records at or before each shard's checkpoint, counted in the stream itself, equal the sum
  of `records_read` over all runs. Runs rows are written in each batch's transaction, so a batch
  committed twice would count its records twice, a batch whose data committed without its
  checkpoint would be read and counted again, and a lost one would leave a hole.
- `dynashift.versions` equals the fold of docs/reference.md §4 (newest wins; equal time: later in the
  stream, unless the same eventID) over exactly those records, computed independently from the
  stream (StreamModel): no change beyond a checkpoint is visible, none before it missing.
- Data agrees with versions: one versions row per key, one live row per live version, carrying
  that version as `_dynashift_changed_at`.

`audit`, after the last run, adds: the replica equals the simulator's expected state (values and
`_dynashift_changed_at`, i.e. each row's winning version); `records_read` summed over all runs is
the stream's length; the counters account for every record (applied, superseded, duplicate,
stale, rejected or TTL-ignored); each shard's checkpoint is at its last record; and with
`change_log` on, no change (table, key, version, eventID) was logged twice and the log holds as
many changes as `changes_applied` says.
"""

from __future__ import annotations

import base64
import contextlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import boto3
import duckdb
import orjson
import psycopg
from moto.kinesis.models import kinesis_backends
from support.moto_server import ACCOUNT, GET_RECORDS_CALLS, REGION

from dynashift.decode import decode_change
from support.simulated import simulate
from support.oracle import diff_duckdb, diff_rows, expected_tables, load_expected

ROOT = Path(__file__).resolve().parents[2]
# `dynashift` with the crash points of DYNASHIFT_FAULT armed (support/faults.py); the same CLI otherwise
DYNASHIFT = [sys.executable, str(Path(__file__).resolve().parent / "fault_run.py")]


# ---------------------------------------------------------------- the stream


def kinesis(endpoint: str) -> Any:
    return boto3.client("kinesis", endpoint_url=endpoint)


def new_stream(endpoint: str, shards: int = 4) -> str:
    name = f"fault-{uuid.uuid4().hex[:10]}"
    kinesis(endpoint).create_stream(StreamName=name, ShardCount=shards)
    return name


def stream_lines(tmp: Path, changes: int, seed: int, tables: int = 5) -> tuple[list[bytes], Path]:
    summary = simulate(tmp / f"sim-{seed}", changes=changes, tables=tables, seed=seed)
    return [x for f in summary.files for x in f.read_bytes().splitlines() if x.strip()], summary.expected


def split(lines: list[bytes], parts: int) -> list[list[bytes]]:
    return [lines[i * len(lines) // parts:(i + 1) * len(lines) // parts] for i in range(parts)]


# ---------------------------------------------------------------- dynashift as a user runs it


def write_config(folder: Path, **settings: Any) -> Path:
    """A dynashift.toml: change_log on (for the audit), quick polling."""
    values = {"change_log": True, "poll_interval": "0.2s", **settings}
    text = "".join(f"{k} = {_toml(v)}\n" for k, v in values.items())
    path = folder / "dynashift.toml"
    path.write_text(text)
    return path


def _toml(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def command(endpoint: str, stream: str, target: str, config: Path, *extra: str) -> list[str]:
    return [*DYNASHIFT, "run", "-q", "--source", f"kinesis://{stream}",
            "--target", target, "--endpoint-url", endpoint, "--config", str(config), *extra]


def start(cmd: list[str], **env: str) -> subprocess.Popen:
    environ = {k: v for k, v in os.environ.items() if k != "DYNASHIFT_FAULT"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**environ, **env})


def stop(proc: subprocess.Popen) -> None:
    """Teardown: make sure a process this test started is gone."""
    if proc.poll() is None:
        proc.kill()
    try:
        proc.communicate(timeout=30)
    except (subprocess.TimeoutExpired, ValueError):
        pass


def reading(stream: str, proc: subprocess.Popen, since: int, timeout: float = 60) -> bool:
    """Wait until the process has asked the stream for records (its run has begun); False if it
    ended first."""
    deadline = time.monotonic() + timeout
    while GET_RECORDS_CALLS.get(stream, 0) == since:
        if proc.poll() is not None:
            return False
        assert time.monotonic() < deadline, "dynashift never started reading"
        time.sleep(0.02)
    return True


# ---------------------------------------------------------------- the replica


Rows = Callable[..., list[tuple]]


class Replica:
    """A target as the tests read it: `snapshot()` gives a query function over one consistent
    committed state (PostgreSQL: a REPEATABLE READ transaction; DuckDB: one read-only connection,
    only while no dynashift process holds the file); `diff(expected)` compares with the oracle."""

    def __init__(self, uri: str):
        self.uri = uri
        self.pg = uri.startswith("postgresql://")
        self.p = "%s" if self.pg else "?"
        self.schema = "public" if self.pg else "main"
        self.changed_us = ("(extract(epoch FROM {0}) * 1000000)::bigint" if self.pg else "epoch_us({0})")

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Rows]:
        if self.pg:
            with psycopg.connect(self.uri, autocommit=True) as con, con.transaction():
                con.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                yield lambda sql, params=(): con.execute(sql.replace("?", "%s"), list(params) or None).fetchall()
            return
        con = duckdb.connect(self.uri.removeprefix("duckdb:///"), read_only=True)
        try:
            yield lambda sql, params=(): con.execute(sql, list(params)).fetchall()
        finally:
            con.close()

    def rows(self, sql: str, params: Iterable[Any] = ()) -> list[tuple]:
        with self.snapshot() as rows:
            return rows(sql, params)

    def diff(self, expected: Path) -> list[str]:
        if not self.pg:
            return diff_duckdb(self.uri.removeprefix("duckdb:///"), expected)
        return diff_postgres(self.uri, expected)


def diff_postgres(url: str, expected: Path, schema: str = "public") -> list[str]:
    """diff_duckdb's twin for a PostgreSQL replica."""
    tables = expected_tables(load_expected(expected))
    diffs: list[str] = []
    with psycopg.connect(url, autocommit=True) as con:
        known = {t for (t,) in con.execute("SELECT table_name FROM dynashift.tables").fetchall()}
        for name, table in tables.items():
            if name not in known:
                diffs.append(f"{name}: table {schema}.{name} does not exist")
                continue
            column_map = dict(con.execute("SELECT attribute_name, column_name FROM dynashift.columns "
                                          "WHERE table_name = %s", [name]).fetchall())
            cur = con.execute(f'SELECT * FROM "{schema}"."{name}"')
            names = [d.name for d in cur.description]
            rows = [dict(zip(names, r)) for r in cur.fetchall()]
            diffs += diff_rows(table, column_map, rows)
    return diffs


# ---------------------------------------------------------------- the oracle of a stream prefix


class Model:
    """A source's records as (source table, dist_key, version, eventID, removed), each group in its
    source order, and the fold of docs/reference.md §4 over the prefix a set of checkpoints covers."""

    uri: str

    def committed(self, checkpoints: dict[str, str]) -> Iterator[tuple[str, str, int, str, bool]]:
        raise NotImplementedError

    def covered(self, checkpoints: dict[str, str]) -> int:
        """How many records the checkpoints say were applied."""
        return sum(1 for _ in self.committed(checkpoints))

    def fold(self, checkpoints: dict[str, str]) -> dict[tuple[str, str], tuple[int, bool]]:
        """(source table, dist_key) -> (version, deleted) after the committed records: the newest
        wins; at equal times the later one, unless it is the same event again."""
        state: dict[tuple[str, str], tuple[int, str, bool]] = {}
        for table, dk, version, event, removed in self.committed(checkpoints):
            cur = state.get((table, dk))
            if cur is None or version > cur[0] or (version == cur[0] and event != cur[1]):
                state[(table, dk)] = (version, event, removed)
        return {k: (v, removed) for k, (v, _, removed) in state.items()}


def _decoded(record: bytes) -> tuple[str, str, int, str, bool]:
    c = decode_change(orjson.loads(record), "")
    return c.table, c.dist_key, c.version, c.event_id, c.op == "REMOVE"


def _snapshot(records: Any) -> list[Any]:
    """The items of a moto shard's OrderedDict, copied while moto's server threads append to it:
    a copy that a garbage collection let another thread interleave with raises RuntimeError
    ("OrderedDict mutated during iteration", or a dict's "changed size"), and is simply taken again."""
    for _ in range(100):
        try:
            return list(records.items())
        except RuntimeError:
            time.sleep(0.01)
    return list(records.items())


class StreamModel(Model):
    """A Kinesis stream, read from the moto backend itself. One item always lands in one shard,
    so shard by shard is each key's order."""

    def __init__(self, stream: str):
        self.stream, self.uri = stream, f"kinesis://{stream}"
        self.decoded: dict[int, tuple[str, str, int, str, bool]] = {}

    def shards(self) -> dict[str, list[int]]:
        shards = kinesis_backends[ACCOUNT][REGION].streams[self.stream].shards
        out = {}
        for sid, shard in _snapshot(shards):
            records = _snapshot(shard.records)
            for seq, record in records:
                if seq not in self.decoded:
                    self.decoded[seq] = _decoded(base64.b64decode(record.data))
            out[sid] = sorted(seq for seq, _ in records)
        return out

    def committed(self, checkpoints: dict[str, str]) -> Iterator[tuple[str, str, int, str, bool]]:
        for shard, seqs in self.shards().items():
            last = _last(checkpoints, shard)
            yield from (self.decoded[seq] for seq in seqs if seq <= last)


class FileModel(Model):
    """A folder of JSON Lines files, read in name order; a file's checkpoint is the offset past
    the last line applied."""

    def __init__(self, uri: str, files: Iterable[Path]):
        self.uri = uri
        self.lines: dict[str, list[tuple[int, tuple[str, str, int, str, bool]]]] = {}
        for path in sorted(files, key=lambda p: p.name):
            offset, lines = 0, []
            for line in path.read_bytes().splitlines(keepends=True):
                if line.strip():
                    lines.append((offset, _decoded(line)))
                offset += len(line)
            self.lines[path.name] = lines

    def committed(self, checkpoints: dict[str, str]) -> Iterator[tuple[str, str, int, str, bool]]:
        for name, lines in self.lines.items():
            done = int(checkpoints.get(name, "0") or 0)
            yield from (record for offset, record in lines if offset < done)


def _last(checkpoints: dict[str, str], shard: str) -> int:
    """The sequence number of a shard's checkpoint ("SEQ" or "SEQ@TIP"); 0 when none."""
    seq = checkpoints.get(shard, "").partition("@")[0]
    return int(seq) if seq else 0


# ---------------------------------------------------------------- the audits


def committed_problems(replica: Replica, model: Model) -> list[str]:
    """In one committed state: the runs counters, the checkpoints, the versions and the data all
    describe the same prefix of the stream (no partial batch, no batch without its checkpoint)."""
    uri = model.uri
    with replica.snapshot() as rows:
        try:
            (read,) = rows("SELECT coalesce(sum(records_read), 0) FROM dynashift.runs WHERE source = ?", [uri])[0]
        except (duckdb.CatalogException, psycopg.errors.UndefinedTable):
            return []  # before dynashift made its tables
        cps = dict(rows("SELECT shard, position FROM dynashift.checkpoints WHERE source = ?", [uri]))
        names = dict(rows("SELECT table_name, source_table FROM dynashift.tables"))
        versions = {(names.get(t, "?" + t), dk): (int(v), bool(d))
                    for t, dk, v, d in rows("SELECT table_name, dist_key, version_us, deleted FROM dynashift.versions")}
        problems = versions_problems(replica, rows)
    want, covered = model.fold(cps), model.covered(cps)
    if covered != read:
        problems.append(f"checkpoints cover {covered} records, the runs counters say {read} were read")
    if versions != want:
        wrong = sorted(k for k in want.keys() | versions.keys() if want.get(k) != versions.get(k))
        problems.append(f"versions differ from the stream up to the checkpoints for {len(wrong)} keys, e.g. "
                        + ", ".join(f"{k}: {versions.get(k)} instead of {want.get(k)}" for k in wrong[:3]))
    return problems


def audit(replica: Replica, model: StreamModel, expected: Path) -> tuple[list[str], dict[str, int]]:
    """After the last run: every check of the module docstring. Returns (problems, totals)."""
    uri = f"kinesis://{model.stream}"
    fields = ("records_read", "changes_applied", "superseded", "duplicates_skipped", "stale_skipped", "ttl_ignored",
              "rejected")
    sums = replica.rows(f"SELECT {', '.join(f'coalesce(sum({f}), 0)' for f in fields)}, count(*) "
                        "FROM dynashift.runs WHERE source = ?", [uri])[0]
    totals = dict(zip((*fields, "runs"), map(int, sums)))
    problems = [f"replica: {d}" for d in replica.diff(expected)[:20]]
    seqs = model.shards()
    records = sum(map(len, seqs.values()))
    if totals["records_read"] != records:
        problems.append(f"runs: {totals['records_read']} records committed, the stream holds {records}")
    accounted = sum(totals[f] for f in fields[1:])
    if accounted != totals["records_read"]:
        problems.append(f"runs: {accounted} records accounted for, {totals['records_read']} read")
    cps = dict(replica.rows("SELECT shard, position FROM dynashift.checkpoints WHERE source = ?", [uri]))
    for shard, s in seqs.items():
        if s and _last(cps, shard) != s[-1]:
            problems.append(f"checkpoint of {shard} is {cps.get(shard)!r}, its last record is {s[-1]}")
    problems += committed_problems(replica, model)
    logged = replica.rows("SELECT count(*), count(DISTINCT table_name || '|' || dist_key || '|' || version_us || '|'"
                          " || event_id) FROM dynashift.change_log")[0]
    if logged[0] != logged[1]:
        problems.append(f"change_log: {logged[0] - logged[1]} changes applied more than once")
    if logged[0] != totals["changes_applied"]:
        problems.append(f"change_log holds {logged[0]} changes, runs say {totals['changes_applied']} applied")
    return problems, totals


def versions_problems(replica: Replica, rows: Rows) -> list[str]:
    """Data and versions agree: one versions row per key, one live row per live version, same time."""
    problems = []
    (dup,) = rows("SELECT count(*) FROM (SELECT table_name, dist_key FROM dynashift.versions"
                  " GROUP BY table_name, dist_key HAVING count(*) > 1) d")[0]
    if dup:
        problems.append(f"versions: {dup} keys have more than one row")
    changed = replica.changed_us.format("t._dynashift_changed_at")
    for (table,) in rows("SELECT table_name FROM dynashift.tables"):
        ref = f'"{replica.schema}"."{table}"'
        (n_rows, n_live, n_match) = rows(
            f"SELECT (SELECT count(*) FROM {ref}),"
            " (SELECT count(*) FROM dynashift.versions WHERE table_name = ? AND NOT deleted),"
            f" (SELECT count(*) FROM {ref} t JOIN dynashift.versions v ON v.table_name = ?"
            f"  AND v.dist_key = t.dist_key AND NOT v.deleted AND v.version_us = {changed})", [table, table])[0]
        if not (n_rows == n_live == n_match):
            problems.append(f"{table}: {n_rows} rows, {n_live} live versions, {n_match} rows matching their version")
    return problems
