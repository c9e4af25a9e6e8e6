"""Soak: `dynashift run` in continuous mode following a local Kinesis stream (moto) fed at a steady
rate, for minutes; the dynashift process's memory and its lag are sampled every few seconds.

    .venv/bin/python bench/soak.py                                  # 10 minutes at 2,000 changes/s
    .venv/bin/python bench/soak.py --seconds 40 --rate 500          # what CI runs (tests/integration/test_soak.py)
    .venv/bin/python bench/soak.py --target duckdb                  # the embedded target

Three processes: moto (with tests/support/moto_server.py's AWS-like patches, and records trimmed after
`--retention` seconds as the stream's retention would, so it does not grow without bound), this
one (a producer thread sending PutRecords calls paced to `--rate`, and the sampler), and
`dynashift run` (a subprocess, as users run it).

The workload: items over a bounded key space in three tables (INSERT, MODIFY, REMOVE, re-inserts;
typed values of every kind; new attributes over time; 1% of records sent twice), stamped with the
time they are sent. The producer keeps the expected state (docs/reference.md §4: the newest change per
key) and, per shard, when each record was sent.

Lag, each sample: the age of the oldest record not yet committed (from the checkpoints committed
in the target), in seconds, 0 when all is applied; PostgreSQL only, since a DuckDB file cannot be
read while dynashift holds it. With DuckDB the backlog is measured once, at the end. RSS is the
dynashift process's resident memory (/proc/PID/status).

At the end the producer stops, dynashift catches up, gets SIGTERM (must exit 0), and the replica
is compared with the expected state: every row, every value, every `_dynashift_changed_at`; and the
records counted in `dynashift.runs` must equal the records sent (none lost, none applied twice).
Prints a table of samples and a summary; `--json PATH` writes both for tests.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE.parent / "tests"))  # the test tooling: support.oracle compares the replica

import boto3  # noqa: E402
import orjson  # noqa: E402

from support.simulated import render_item  # noqa: E402
from dynashift.simulate_tables import value  # noqa: E402
from support.oracle import diff_rows  # noqa: E402

_MOTO = """
import logging, sys, threading, time
sys.path.insert(0, {tests!r})
from moto.server import ThreadedMotoServer
from moto.kinesis.models import kinesis_backends
from support.moto_server import ACCOUNT, REGION, aws_like
logging.getLogger("werkzeug").setLevel(logging.ERROR)

def trim(retention):  # records older than the retention period expire, as in Kinesis
    while True:
        time.sleep(2)
        cutoff = time.time() - retention
        for stream in list(kinesis_backends[ACCOUNT][REGION].streams.values()):
            for shard in list(stream.shards.values()):
                old = [seq for seq, r in list(shard.records.items()) if r.created_at < cutoff]
                for seq in old:
                    shard.records.pop(seq, None)

with aws_like():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port={port}, verbose=False)
    server.start()
    threading.Thread(target=trim, args=({retention},), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()
"""

TABLES = ("SoakOrders", "SoakEvents", "SoakUsers")
ATTRIBUTES = [f"attr{i:02d}" for i in range(30)] + ["status", "payload", "Name"]


# ---------------------------------------------------------------- moto, in its own process


def start_moto(retention: float) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = _MOTO.format(tests=str(HERE.parent / "tests"), port=port, retention=retention)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "moto did not start"
    return proc, f"http://127.0.0.1:{port}"


# ---------------------------------------------------------------- the workload and its oracle


class Workload:
    """Change records over a bounded key space, and the state they leave (the oracle)."""

    def __init__(self, seed: int, keys: int):
        self.r = random.Random(seed)
        self.keys = keys
        self.last_us = 0
        self.live: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}  # (table, dist_key) -> (version, image)
        self.seen: dict[str, set[str]] = {t: set() for t in TABLES}
        self.made = 0

    def record(self) -> bytes:
        r = self.r
        table = r.choice(TABLES)
        n = r.randrange(self.keys)
        keys = {"pk": {"S": f"item-{n:07d}"}} if table != "SoakOrders" else {"pk": {"S": f"c{n % 997}"},
                                                                                "sk": {"N": str(n)}}
        dk = orjson.dumps(keys, option=orjson.OPT_SORT_KEYS).decode()
        now_us = max(int(time.time() * 1_000_000), self.last_us + 1)  # one clock, never equal
        self.last_us = now_us
        current = self.live.get((table, dk))
        wide = min(len(ATTRIBUTES), 8 + self.made // 20_000)  # new attributes appear over time
        if current is not None and r.random() < 0.2:
            op, image, old = "REMOVE", None, current[1]
            del self.live[(table, dk)]
        else:
            op = "INSERT" if current is None else "MODIFY"
            image = {**keys, **{a: value(r, 2) for a in r.sample(ATTRIBUTES[:wide], r.randint(1, 6))}}
            old = current[1] if current else None
            self.live[(table, dk)] = (now_us, image)
            self.seen[table].update(image)
        ddb: dict[str, Any] = {"ApproximateCreationDateTime": now_us, "ApproximateCreationDateTimePrecision":
                               "MICROSECOND", "Keys": keys, "SizeBytes": 100}
        if image is not None:
            ddb["NewImage"] = image
        if old is not None:
            ddb["OldImage"] = old
        self.made += 1
        return orjson.dumps({"awsRegion": "us-east-1", "eventID": uuid.UUID(int=r.getrandbits(128)).hex,
                             "eventName": op, "userIdentity": None, "recordFormat": "application/json",
                             "tableName": table, "dynamodb": ddb, "eventSource": "aws:dynamodb"})

    def expected(self) -> dict[str, dict[str, Any]]:
        """expected.json's `tables`, as support.oracle.diff_rows (tests/support) reads it."""
        out = {t.lower(): {"table": t.lower(), "source_table": t, "attributes": sorted(self.seen[t]), "rows": {}}
               for t in TABLES}
        for (table, dk), (version, image) in self.live.items():
            out[table.lower()]["rows"][dk] = {"changed_at_us": version, "values": render_item(image)}
        return out


class Producer(threading.Thread):
    """Sends the workload at `rate` records/s (PutRecords, up to 500 per call) until `total`."""

    def __init__(self, client: Any, stream: str, workload: Workload, rate: float, total: int):
        super().__init__(name="producer", daemon=True)
        self.client, self.stream, self.workload, self.rate, self.total = client, stream, workload, rate, total
        self.sent = 0  # changes sent
        self.put_total = 0  # records the stream accepted, redeliveries included
        self.sent_at: dict[str, collections.deque[tuple[int, float]]] = collections.defaultdict(collections.deque)
        self.lock = threading.Lock()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.error = exc

    def _run(self) -> None:
        per_call = max(1, min(480, int(self.rate / 4)))
        started = time.monotonic()
        while self.sent < self.total:
            due = started + self.sent / self.rate
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            count = min(per_call, self.total - self.sent)
            lines = [self.workload.record() for _ in range(count)]
            lines += [line for line in lines if self.workload.r.random() < 0.01][:500 - count]  # redelivered
            self._put(lines)
            self.sent += count

    def _put(self, lines: list[bytes]) -> None:
        entries = [{"Data": line, "PartitionKey": _partition(line)} for line in lines]
        for attempt in range(20):
            out = self.client.put_records(StreamName=self.stream, Records=entries)
            now = time.monotonic()
            failed = []
            with self.lock:
                for entry, result in zip(entries, out["Records"]):
                    if result.get("ErrorCode"):
                        failed.append(entry)
                    else:
                        self.sent_at[result["ShardId"]].append((int(result["SequenceNumber"]), now))
                        self.put_total += 1
            if not failed:
                return
            entries = failed
            time.sleep(0.05 * 2 ** attempt)
        raise RuntimeError(f"PutRecords kept failing for {len(entries)} records")

    def lag(self, checkpoints: dict[str, str]) -> float:
        """Seconds since the oldest record not yet committed was sent (0: all committed)."""
        now, oldest = time.monotonic(), None
        with self.lock:
            for shard, sent in self.sent_at.items():
                seq = checkpoints.get(shard, "").partition("@")[0]
                done = int(seq) if seq else 0
                while sent and sent[0][0] <= done:
                    sent.popleft()
                if sent and (oldest is None or sent[0][1] < oldest):
                    oldest = sent[0][1]
        return 0.0 if oldest is None else now - oldest


def _partition(line: bytes) -> str:
    record = orjson.loads(line)
    return record["tableName"] + orjson.dumps(record["dynamodb"]["Keys"], option=orjson.OPT_SORT_KEYS).decode()


# ---------------------------------------------------------------- the target


class Target:
    def __init__(self, kind: str, folder: Path, admin_url: str):
        self.kind, self.admin_url = kind, admin_url
        if kind == "duckdb":
            self.uri = f"duckdb:///{folder / 'soak.duckdb'}"
            return
        import psycopg

        self.database = f"dynashift_soak_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(admin_url, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{self.database}"')
        self.uri = admin_url.rsplit("/", 1)[0] + "/" + self.database

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        if self.kind == "duckdb":
            import duckdb

            con = duckdb.connect(self.uri.removeprefix("duckdb:///"), read_only=True)
            try:
                return con.execute(sql, params or []).fetchall()
            finally:
                con.close()
        import psycopg

        with psycopg.connect(self.uri, autocommit=True) as con:
            return con.execute(sql.replace("?", "%s"), params or None).fetchall()

    def live(self) -> bool:
        return self.kind != "duckdb"

    def checkpoints(self, source: str) -> dict[str, str]:
        try:
            return dict(self.rows("SELECT shard, position FROM dynashift.checkpoints WHERE source = ?", [source]))
        except Exception:  # noqa: BLE001 - before dynashift made its tables
            return {}

    def drop(self) -> None:
        if self.kind == "duckdb":
            return
        import psycopg

        with psycopg.connect(self.admin_url, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def diff(self, expected: dict[str, dict[str, Any]]) -> list[str]:
        diffs = []
        schema = "main" if self.kind == "duckdb" else "public"
        known = {t for (t,) in self.rows("SELECT table_name FROM dynashift.tables")}
        for name, table in expected.items():
            if name not in known:
                diffs.append(f"{name}: missing table")
                continue
            column_map = dict(self.rows("SELECT attribute_name, column_name FROM dynashift.columns WHERE table_name = ?",
                                        [name]))
            columns = [c for (c,) in self.rows("SELECT column_name FROM information_schema.columns WHERE table_schema = ?"
                                               " AND table_name = ? ORDER BY ordinal_position", [schema, name])]
            select = ", ".join(f'"{c}"' for c in columns)
            rows = [dict(zip(columns, r)) for r in self.rows(f'SELECT {select} FROM "{schema}"."{name}"')]
            diffs += diff_rows(table, column_map, rows)
        return diffs


# ---------------------------------------------------------------- sampling


def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process in MiB."""
    fields = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(rest.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def committed(target: Target, source: str) -> int | None:
    if not target.live():
        return None
    try:
        return int(target.rows("SELECT coalesce(sum(records_read), 0) FROM dynashift.runs WHERE source = ?",
                               [source])[0][0])
    except Exception:  # noqa: BLE001 - before dynashift made its tables
        return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600, help="how long the producer sends (default 600)")
    ap.add_argument("--rate", type=float, default=2000, help="changes per second (default 2000)")
    ap.add_argument("--target", choices=("postgres", "duckdb"), default="postgres")
    ap.add_argument("--pg-url", default=os.environ.get("DYNASHIFT_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                    help="admin URL; a database is created for the soak and dropped after")
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--keys", type=int, default=20_000, help="items per table")
    ap.add_argument("--sample", type=float, default=5, help="seconds between samples")
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--max-wait", default="1s")
    ap.add_argument("--retention", type=float, default=120, help="seconds a record stays in the stream")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, help="write the samples and the summary here")
    args = ap.parse_args()
    for k, v in {"AWS_ACCESS_KEY_ID": "soak", "AWS_SECRET_ACCESS_KEY": "soak", "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        os.environ.setdefault(k, v)

    tmp = Path(tempfile.mkdtemp(prefix="dynashift-soak-"))
    moto, endpoint = start_moto(args.retention)
    target = Target(args.target, tmp, args.pg_url)
    proc: subprocess.Popen | None = None
    try:
        client = boto3.client("kinesis", endpoint_url=endpoint)
        stream = f"soak-{os.getpid()}"
        source = f"kinesis://{stream}"
        client.create_stream(StreamName=stream, ShardCount=args.shards)
        total = int(args.seconds * args.rate)
        workload = Workload(args.seed, args.keys)
        producer = Producer(client, stream, workload, args.rate, total)
        (tmp / "dynashift.toml").write_text('poll_interval = "0.5s"\n')
        cmd = [sys.executable, "-m", "dynashift.cli", "run", "-q", "--source", source, "--target", target.uri,
               "--endpoint-url", endpoint, "--batch-size", str(args.batch_size), "--max-wait", args.max_wait,
               "--config", str(tmp / "dynashift.toml")]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env=_child_env())
        samples = run_soak(args, producer, target, source, proc)
        summary = finish(args, producer, workload, target, source, proc, samples)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(30)
        moto.communicate("", timeout=30)
        target.drop()
    if args.json:
        args.json.write_bytes(orjson.dumps({"samples": samples, "summary": summary}, option=orjson.OPT_INDENT_2))
    return 0 if summary["ok"] else 1


def run_soak(args: Any, producer: Producer, target: Target, source: str, proc: subprocess.Popen) -> list[dict]:
    started = time.monotonic()
    producer.start()
    samples: list[dict] = []
    print(f"{'time s':>7} {'sent':>10} {'committed':>10} {'rate/s':>8} {'lag s':>7} {'RSS MiB':>8}", flush=True)
    last_t, last_c = 0.0, 0
    while producer.is_alive():
        time.sleep(args.sample - (time.monotonic() - started) % args.sample)
        if proc.poll() is not None:
            raise SystemExit(f"dynashift exited ({proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")
        t = time.monotonic() - started
        done = committed(target, source)
        lag = producer.lag(target.checkpoints(source)) if target.live() else None
        rss, _ = rss_mb(proc.pid)
        rate = None if done is None else (done - last_c) / (t - last_t)
        samples.append({"t": round(t, 1), "sent": producer.put_total, "committed": done, "rate": rate, "lag_s": lag,
                        "rss_mib": round(rss, 1)})
        print(f"{t:7.0f} {producer.put_total:10,} {_fmt(done, ',')} {_fmt(rate, ',.0f', 8)} {_fmt(lag, '.1f', 7)}"
              f" {rss:8.1f}", flush=True)
        if done is not None:
            last_t, last_c = t, done
    if producer.error is not None:
        raise producer.error
    return samples


def finish(args: Any, producer: Producer, workload: Workload, target: Target, source: str, proc: subprocess.Popen,
           samples: list[dict]) -> dict[str, Any]:
    """Let dynashift catch up, stop it with SIGTERM, and check the replica."""
    caught_up = time.monotonic()
    deadline = caught_up + max(60.0, args.seconds / 2)
    if target.live():
        while producer.lag(target.checkpoints(source)) > 0 and time.monotonic() < deadline:
            time.sleep(0.5)
    else:
        time.sleep(5)
    catch_up = time.monotonic() - caught_up
    rss_end, hwm = rss_mb(proc.pid)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    exit_code = proc.returncode
    backlog = None
    if not target.live():  # what the continuous run had not applied when it was stopped
        after = subprocess.run([*proc.args[:-2], "--once", "--config", proc.args[-1]], capture_output=True, text=True,
                               timeout=600, env=_child_env())
        backlog = int(target.rows("SELECT records_read FROM dynashift.runs ORDER BY run_id DESC LIMIT 1")[0][0])
        if after.returncode != 0:
            err += after.stderr
    records = int(target.rows("SELECT coalesce(sum(records_read), 0) FROM dynashift.runs WHERE source = ?",
                              [source])[0][0])
    produced = producer.put_total
    diffs = target.diff(workload.expected())
    lags = [s["lag_s"] for s in samples if s["lag_s"] is not None]
    rss = [s["rss_mib"] for s in samples]
    summary = {
        "target": args.target, "seconds": args.seconds, "rate": args.rate, "changes": producer.sent,
        "records_sent": produced, "records_committed": records, "lost_or_duplicated": produced - records,
        "differences": len(diffs), "first_differences": diffs[:10], "exit_code": exit_code, "stderr": err[-2000:],
        "rss_start_mib": rss[0] if rss else None, "rss_end_mib": round(rss_end, 1), "rss_peak_mib": round(hwm, 1),
        "max_lag_s": round(max(lags), 2) if lags else None, "catch_up_s": round(catch_up, 1),
        "backlog_at_stop": backlog,
        "mean_rate": round(records / max(samples[-1]["t"], 1e-9)) if samples else None,
    }
    summary["ok"] = (exit_code == 0 and not diffs and summary["lost_or_duplicated"] == 0)
    print()
    for k, v in summary.items():
        if k not in ("stderr", "first_differences") or v:
            print(f"{k:20} {v}")
    return summary


def _child_env() -> dict[str, str]:
    """dynashift from this checkout, unless PYTHONPATH already says which."""
    return {"PYTHONPATH": str(HERE.parent / "src"), **os.environ}


def _fmt(v: Any, spec: str, width: int = 10) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}{spec}}"


if __name__ == "__main__":
    sys.exit(main())
