"""A run whose process was killed stays `running` in dynashift.runs until the next run marks it
interrupted; meanwhile `status` calls it `lost` (its process is gone), never `running`."""

from __future__ import annotations

from pathlib import Path

from support.pg import pg_url  # noqa: F401 - a fixture

from dynashift.status_info import health
from dynashift.targets import make_target


def _status(uri: str) -> dict:
    reader = make_target(uri)
    reader.mode = "read"
    reader.open()
    try:
        return reader.status()
    finally:
        reader.close()


def test_a_run_left_running_in_duckdb_reads_as_lost(tmp_path: Path) -> None:
    uri = f"duckdb:///{tmp_path / 'w.duckdb'}"
    writer = make_target(uri)
    writer.open()
    writer.begin_run("file:///in/*.jsonl", "p", "")  # and then the process dies: no end_run
    writer.close()
    info = _status(uri)
    assert [(r["run_id"], r["status"]) for r in info["runs"]] == [(1, "lost")]
    verdict = health(info)
    assert verdict["state"] == "warning" and any("process is gone" in n for n in verdict["notes"])


def test_in_postgres_a_run_is_lost_only_when_its_worker_is_no_longer_alive(pg_url: str) -> None:
    writer = make_target(pg_url)
    writer.open()
    try:
        writer.heartbeat_worker("p", "alive-worker", "host-a", 1, 60.0, 1)
        writer.heartbeat_worker("q", "dead-worker", "host-b", 2, -5.0, 1)  # expired 5 s ago
        # one pipeline each: a run's start marks its own pipeline's dead runs interrupted
        writer.begin_run("kinesis://s", "p", "alive-worker")
        writer.begin_run("kinesis://s", "q", "dead-worker")
        writer.begin_run("kinesis://s", "r", "never-registered")
    finally:
        writer.close()
    info = _status(pg_url)
    assert sorted((r["worker"], r["status"]) for r in info["runs"]) == [
        ("alive-worker", "running"), ("dead-worker", "lost"), ("never-registered", "lost")]
