"""Continuous and scheduled `dynashift run` as a user runs it: a subprocess following a Kinesis
stream on moto, stopped with SIGTERM/SIGINT (finish the batch, commit, exit 0) or killed with
SIGKILL at random moments and restarted — the replica must end equal to the expected state."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import duckdb
from support.moto_server import GET_RECORDS_CALLS, moto_endpoint, served_to_end  # noqa: F401 - the fixture

from support.simulated import simulate
from dynashift.simulate_live import put_records
from support.oracle import diff_duckdb

_names = iter(range(1_000_000))


def new_stream(endpoint: str, shards: int = 4) -> tuple[Any, str]:
    client = boto3.client("kinesis", endpoint_url=endpoint)
    name = f"live-{next(_names)}"
    client.create_stream(StreamName=name, ShardCount=shards)
    return client, name


def stream_lines(tmp: Path, changes: int, seed: int) -> tuple[list[bytes], Path]:
    summary = simulate(tmp / "sim", changes=changes, tables=5, seed=seed)
    return [x for f in summary.files for x in f.read_bytes().splitlines() if x.strip()], summary.expected


def start(endpoint: str, stream: str, db: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "dynashift.cli", "run", "-q", "--source", f"kinesis://{stream}",
           "--target", f"duckdb:///{db}", "--endpoint-url", endpoint, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def reading(stream: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until the process asks the stream for records (its run has begun)."""
    before = GET_RECORDS_CALLS.get(stream, 0)
    deadline = time.monotonic() + timeout
    while GET_RECORDS_CALLS.get(stream, 0) == before:
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr and proc.stderr.read()
        time.sleep(0.02)


def settle(stream: str, proc: subprocess.Popen, quiet: float = 1.5, timeout: float = 60) -> None:
    """Wait until the process has been handed every record, then a little longer to apply them."""
    deadline = time.monotonic() + timeout
    while not served_to_end(stream):
        assert proc.poll() is None and time.monotonic() < deadline, "the stream was not read to its end"
        time.sleep(0.05)
    time.sleep(quiet)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def committed(port: int, records: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Wait until the process's metrics count `records` records read in committed batches."""
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None and time.monotonic() < deadline, "the records were not committed in time"
        with contextlib.suppress(OSError):
            text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            read = sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                       if line.startswith("dynashift_records_read_total{"))
            if read >= records:
                return
        time.sleep(0.1)


def finish(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def run_once(endpoint: str, stream: str, db: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynashift.cli", "run", "--once", "-q", "--source",
                           f"kinesis://{stream}", "--target", f"duckdb:///{db}", "--endpoint-url", endpoint],
                          capture_output=True, text=True, timeout=120)


def runs(db: Path) -> list[tuple[str, int]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT status, records_read FROM dynashift.runs ORDER BY run_id").fetchall()
    finally:
        con.close()


def test_sigkill_at_random_moments_then_restart(moto_endpoint: str, tmp_path: Path) -> None:
    client, stream = new_stream(moto_endpoint)
    lines, expected = stream_lines(tmp_path, 12_000, seed=11)
    db = tmp_path / "r.duckdb"
    rng = random.Random(7)
    parts = [lines[i * len(lines) // 4:(i + 1) * len(lines) // 4] for i in range(4)]  # deliveries between kills
    for part in parts:
        put_records(client, stream, part)
        proc = start(moto_endpoint, stream, db, "--batch-size", "150", "--max-wait", "0.1s")
        reading(stream, proc)
        time.sleep(rng.uniform(0.0, 1.0))  # somewhere in reading, planning, applying or committing
        proc.kill()  # SIGKILL: no chance to finish anything
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL
    done = run_once(moto_endpoint, stream, db)
    assert done.returncode == 0, done.stderr
    assert diff_duckdb(db, expected) == []
    statuses = [s for s, _ in runs(db)]
    assert statuses.count("interrupted") == 4 and statuses[-1] == "ok"
    assert sum(n for _, n in runs(db)) >= len(lines)  # some records were read twice, none applied twice


def test_sigterm_finishes_the_batch_and_exits_0(moto_endpoint: str, tmp_path: Path) -> None:
    client, stream = new_stream(moto_endpoint)
    lines, expected = stream_lines(tmp_path, 3000, seed=12)
    db = tmp_path / "r.duckdb"
    port = free_port()
    proc = start(moto_endpoint, stream, db, "--batch-size", "500", "--max-wait", "0.2s", "--metrics-port", str(port))
    put_records(client, stream, lines)
    settle(stream, proc, quiet=0)
    committed(port, len(lines), proc)  # a loaded machine may take longer than any fixed pause
    code, err = finish(proc, signal.SIGTERM)
    assert code == 0, err
    assert runs(db)[-1][0] == "ok"
    after = run_once(moto_endpoint, stream, db)
    assert after.returncode == 0, after.stderr
    assert runs(db)[-1][1] == 0, "the continuous run had not applied everything"
    assert diff_duckdb(db, expected) == []


def test_sigint_is_a_clean_stop_too(moto_endpoint: str, tmp_path: Path) -> None:
    client, stream = new_stream(moto_endpoint, 2)
    lines, expected = stream_lines(tmp_path, 500, seed=13)
    put_records(client, stream, lines)
    db = tmp_path / "r.duckdb"
    proc = start(moto_endpoint, stream, db)
    settle(stream, proc)
    code, err = finish(proc, signal.SIGINT)
    assert code == 0, err
    assert diff_duckdb(db, expected) == []


class Wakes:
    """The records each finished wake of a scheduled run read, from its "applied N changes from M
    records; next in ..." lines on stderr (read as they come, so a test can wait for a wake to end)."""

    LINE = re.compile(r"applied [\d,]+ changes from ([\d,]+) records; next in")

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc, self.records, self.lines = proc, [], []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            if m := self.LINE.search(line):
                self.records.append(int(m.group(1).replace(",", "")))

    def wait(self, records: int, timeout: float = 120) -> None:
        """Until the wakes that ended have read `records` records in all."""
        deadline = time.monotonic() + timeout
        while sum(self.records) < records:
            assert self.proc.poll() is None and time.monotonic() < deadline, "".join(self.lines)
            time.sleep(0.05)

    def finish(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self._reader.join(10)
        return self.proc.returncode, "".join(self.lines)


def test_scheduled_mode_wakes_applies_and_sleeps(moto_endpoint: str, tmp_path: Path) -> None:
    client, stream = new_stream(moto_endpoint, 2)
    lines, expected = stream_lines(tmp_path, 1000, seed=14)
    db = tmp_path / "r.duckdb"
    put_records(client, stream, lines[:500])
    proc = start(moto_endpoint, stream, db, "--interval", "1s")
    wakes = Wakes(proc)
    # Each half is put once the wakes before it have ended, not after a fixed pause: on a loaded
    # machine the first wake was still reading when the second half came, read it too, and the
    # SIGTERM came before a second wake (one run, not two).
    wakes.wait(500)
    put_records(client, stream, lines[500:])
    wakes.wait(len(lines))
    code, err = wakes.finish()
    assert code == 0, err
    history = runs(db)
    assert len(history) >= 2 and all(s == "ok" for s, _ in history)  # one run per wake
    assert len([n for _, n in history if n]) >= 2, history  # the second half came after a wake had ended
    assert sum(n for _, n in history) == len(lines)
    assert diff_duckdb(db, expected) == []
