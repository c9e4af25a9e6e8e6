"""Operating it: `init` writes a dynashift.toml that loads; `status` (text, --json, --watch) shows
health, tables, shards and runs with throughput; dynashift.batches agrees with dynashift.runs;
the health verdict; docs/configuration.md is what scripts/gen_config_doc.py writes."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import duckdb
import orjson
import pytest

from dynashift.config import load_config
from dynashift.status_info import health
from dynashift.config_text import ONLY_TARGETS, SOURCES, TARGETS
from support.simulated import simulate

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynashift.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def replica(tmp_path_factory) -> Path:
    """Two runs of a simulated stream (batches of 400, then the rest) into a DuckDB file."""
    tmp = tmp_path_factory.mktemp("ops")
    summary = simulate(tmp / "sim", changes=3000, tables=3, files=2, seed=9)
    for f in summary.files:
        done = cli("run", "--once", "-q", "--source", f"file://{f}", "--target", "duckdb:///r.duckdb",
                   "--batch-size", "400", cwd=tmp)
        assert done.returncode == 0, done.stderr
    return tmp


# ---------------------------------------------------------------- init


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_init_writes_a_commented_config_that_loads(tmp_path: Path, source: str, target: str) -> None:
    done = cli("init", "--source", source, "--target", target, cwd=tmp_path)
    if source in ONLY_TARGETS and target not in ONLY_TARGETS[source]:  # what `run` would refuse too
        assert done.returncode == 2 and "works only with a redshift target" in done.stderr
        assert not (tmp_path / "dynashift.toml").exists()
        return
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "dynashift.toml").read_text()
    flat = " ".join(line.lstrip("# ") for line in text.splitlines())
    assert "# [tables.Orders]" in text
    assert ("TRIM_HORIZON (the oldest record" in flat) == (source in ("kinesis", "dynamodb-streams"))
    assert tomllib.loads(text)["source"].startswith(f"{source}://")
    os.environ.setdefault("PGPASSWORD", "x")
    os.environ.setdefault("REDSHIFT_PASSWORD", "x")
    config = load_config({}, tmp_path / "dynashift.toml")
    assert config.source and config.source.startswith(f"{source}://") and config.target.startswith(target)
    assert "# delete_mode = \"hard\"" in text and "# tombstone_retention = \"7d\"" in text  # defaults, commented
    live = source in ("kinesis", "dynamodb-streams")
    assert ("# start_position" in text) == live and ("# region" in text) == (live or source == "export")


def test_init_takes_full_uris_refuses_to_overwrite_and_names_what_it_knows(tmp_path: Path) -> None:
    done = cli("init", "--source", "kinesis://orders", "--target", "postgresql://u@db/x", cwd=tmp_path)
    assert done.returncode == 0
    config = load_config({}, tmp_path / "dynashift.toml")
    assert (config.source, config.target) == ("kinesis://orders", "postgresql://u@db/x")
    again = cli("init", cwd=tmp_path)
    assert again.returncode == 2 and "exists: pass --force" in again.stderr
    assert cli("init", "--force", cwd=tmp_path).returncode == 0
    bad = cli("init", "--source", "mysql", "--force", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown source 'mysql'" in bad.stderr


def test_init_then_run_replicates_with_no_flags(tmp_path: Path) -> None:
    simulate(tmp_path / "changes", changes=500, tables=2, seed=1)
    (tmp_path / "changes" / "expected.json").unlink()
    assert cli("init", "--source", "file", "--target", "duckdb", cwd=tmp_path).returncode == 0
    done = cli("run", "--once", "-q", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT sum(records_read) FROM dynashift.runs").fetchone()[0] == 500
    con.close()


# ---------------------------------------------------------------- status


def test_status_json_has_health_tables_lag_shards_runs_and_throughput(replica: Path) -> None:
    done = cli("status", "--json", "--target", "duckdb:///r.duckdb", cwd=replica)
    assert done.returncode == 0, done.stderr
    info = orjson.loads(done.stdout)
    assert info["health"] == {"state": "healthy", "notes": []}
    assert len(info["tables"]) >= 3
    for t in info["tables"]:
        assert t["rows"] > 0 and t["columns"] > 2 and t["last_change"] and t["last_sync"] and t["lag_s"] > 0
    assert len(info["checkpoints"]) == 2 and all("lag_ms" in c for c in info["checkpoints"])
    assert [r["run_id"] for r in info["runs"]] == [2, 1]
    for r in info["runs"]:
        assert r["status"] == "ok" and r["seconds"] > 0 and r["records_per_s"] == pytest.approx(
            r["records_read"] / r["seconds"], rel=0.01)
    assert info["last_batch"]["run_id"] == 2 and info["last_batch"]["records"] > 0


def test_status_text_is_a_glance(replica: Path) -> None:
    done = cli("status", "--target", "duckdb:///r.duckdb", cwd=replica)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "● healthy  duckdb:///r.duckdb" and lines[1].startswith("  last batch ")
    assert all(len(line) <= 80 for line in lines), "does not fit an 80-column terminal"
    for word in ("tables", "orders", "checkpoints", "recent runs", "records/s", "columns"):
        assert word in done.stdout
    # whole numbers and readable headers; a file source has no lag: its columns are left out
    assert not re.search(r"\d\.\d", done.stdout) and "lag as of" not in done.stdout and "cols" not in done.stdout


def test_batches_add_up_to_their_runs(replica: Path) -> None:
    con = duckdb.connect(str(replica / "r.duckdb"), read_only=True)
    try:
        runs = con.execute("SELECT run_id, records_read, changes_applied, rejected, batches,"
                           " superseded + duplicates_skipped + stale_skipped + ttl_ignored FROM dynashift.runs").fetchall()
        for run_id, read, applied, rejected, batches, skipped in runs:
            got = con.execute("SELECT count(*), sum(records), sum(applied), sum(rejected), sum(skipped),"
                              " min(batch), max(batch) FROM dynashift.batches WHERE run_id = ?", [run_id]).fetchone()
            assert got == (batches, read, applied, rejected, skipped, 1, batches)
        tables = con.execute("SELECT tables FROM dynashift.batches").fetchall()
        per_table = sum(sum(orjson.loads(t).values()) for (t,) in tables)
        assert per_table == sum(r[2] for r in runs)
    finally:
        con.close()


def watch_frames(proc_out: str) -> int:
    return proc_out.count("● healthy")


def read_until(fd: int, done, timeout: float = 30) -> bytes:
    """Read from `fd` until `done(output so far)` or the timeout (slow machines start slowly)."""
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done(output):
        if select.select([fd], [], [], 0.1)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    return output


def test_status_watch_refreshes_until_stopped(replica: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "dynashift.cli", "status", "--watch", "0.3", "--target",
                             "duckdb:///r.duckdb"], cwd=replica, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    early = read_until(proc.stdout.fileno(), lambda out: watch_frames(out.decode()) >= 3)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert watch_frames((early + out).decode()) >= 3  # not a terminal: each refresh printed after the last


def test_status_watch_redraws_in_place_in_a_terminal(replica: Path) -> None:
    pid, fd = pty.fork()
    if pid == 0:  # the child: a terminal of 100 columns
        os.chdir(replica)
        os.environ.update(COLUMNS="100", LINES="40", TERM="xterm")
        os.execv(sys.executable, [sys.executable, "-m", "dynashift.cli", "status", "--watch", "0.3", "--target",
                                  "duckdb:///r.duckdb"])
    output = read_until(fd, lambda out: out.decode(errors="replace").count("● healthy") >= 3)
    os.kill(pid, signal.SIGINT)  # Ctrl-C
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    text = output.decode(errors="replace")
    assert text.count("● healthy") >= 3 and "\x1b[" in text  # redrawn with cursor movements, in colour


def test_status_watch_needs_a_positive_interval(replica: Path) -> None:
    done = cli("status", "--watch", "0", "--target", "duckdb:///r.duckdb", cwd=replica)
    assert done.returncode == 2 and "positive" in done.stderr


# ---------------------------------------------------------------- health


def run_row(run_id: int, status: str, source: str = "kinesis://s", rejected: int = 0, error: str | None = None) -> dict:
    return {"run_id": run_id, "source": source, "status": status, "rejected": rejected, "error": error}


def test_health_follows_the_latest_run_of_each_source_lag_and_rejects() -> None:
    def verdict(runs: list[dict], lag: list[int | None] = ()) -> dict:
        cps = [{"source": "kinesis://s", "shard": f"shard-{i}", "lag_ms": ms} for i, ms in enumerate(lag)]
        return health({"runs": runs, "checkpoints": cps})

    assert verdict([])["state"] == "idle"
    assert verdict([run_row(2, "ok"), run_row(1, "failed", error="boom")]) == {"state": "healthy", "notes": []}
    failing = verdict([run_row(2, "failed", error="cannot reach the stream"), run_row(1, "ok")])
    assert failing["state"] == "failing" and "cannot reach the stream" in failing["notes"][0]
    assert verdict([run_row(3, "ok", source="file://a"), run_row(2, "failed", source="file://b")])["state"] == "failing"
    assert verdict([run_row(1, "interrupted")])["state"] == "warning"
    assert verdict([run_row(1, "running", rejected=3)])["notes"] == ["3 records rejected in recent runs (see "
                                                                     "dynashift.rejected)"]
    slow = verdict([run_row(1, "running")], lag=[10, 120_000])
    assert slow["state"] == "warning" and "shard-1 is 120s behind" in slow["notes"][0]
    assert verdict([run_row(1, "running")], lag=[None, 500])["state"] == "healthy"


# ---------------------------------------------------------------- the configuration reference


def test_the_configuration_reference_is_up_to_date() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_config_doc.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert "| `tombstone_retention` | duration | `\"7d\"` |" in text and "`--batch-size`" in text


# ---------------------------------------------------------------- docs/operations.md procedures


def test_rebuild_replays_one_table_from_the_streams_start(tmp_path: Path) -> None:
    """`dynashift rebuild --table orders --from stream` (docs/operations.md): the table, its
    versions and tombstones dropped, the source replayed; the table is rebuilt exactly and the
    other tables are untouched."""
    from support.oracle import diff_duckdb

    summary = simulate(tmp_path / "changes", changes=3000, tables=3, seed=4)
    (tmp_path / "changes" / "expected.json").replace(tmp_path / "expected.json")
    target = ("--target", "duckdb:///r.duckdb")
    assert cli("run", "--once", "-q", "--source", "file://changes/", *target, cwd=tmp_path).returncode == 0
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    con.execute('DELETE FROM main."orders" WHERE dist_key IN (SELECT dist_key FROM main."orders" LIMIT 5)')
    con.execute('UPDATE main."inventory" SET "_dynashift_synced_at" = NULL')  # to see it untouched
    con.close()
    assert diff_duckdb(tmp_path / "r.duckdb", tmp_path / "expected.json") != []
    doc = (ROOT / "docs" / "operations.md").read_text()
    assert "dynashift rebuild --table orders --from stream" in doc
    done = cli("rebuild", "--table", "orders", "--from", "stream", "--yes", "--source", "file://changes/", *target,
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "dropped orders" in done.stderr
    con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
    try:
        untouched = con.execute('SELECT count(*) FROM main."inventory" WHERE "_dynashift_synced_at" IS NULL').fetchone()
        runs = con.execute("SELECT status FROM dynashift.runs ORDER BY run_id").fetchall()
    finally:
        con.close()
    assert untouched[0] > 0 and runs == [("ok",), ("ok",)]
    con = duckdb.connect(str(tmp_path / "r.duckdb"))
    con.execute('UPDATE main."inventory" SET "_dynashift_synced_at" = now()')  # the diff compares values only
    con.close()
    assert diff_duckdb(tmp_path / "r.duckdb", tmp_path / "expected.json") == []
    missing = cli("rebuild", "--table", "nope", "--from", "none", "--yes", *target, cwd=tmp_path)
    assert missing.returncode == 2 and "no replicated table 'nope'" in missing.stderr
    assert summary.changes == 3000



def test_rebuild_from_stream_replays_only_its_own_pipeline(tmp_path: Path) -> None:
    """Two pipelines read one source into one target; rebuilding a table of one replays that
    pipeline only: the other keeps its checkpoints (it would otherwise read everything again)."""
    simulate(tmp_path / "changes", changes=600, tables=2, seed=5)
    (tmp_path / "changes" / "expected.json").unlink()
    for name, rule in (("a", 'include = ["Orders"]'), ("b", 'exclude = ["Orders"]')):
        (tmp_path / f"{name}.toml").write_text(f'source = "file://changes/"\ntarget = "duckdb:///r.duckdb"\n'
                                               f'pipeline = "{name}"\n{rule}\n')
        done = cli("run", "--once", "-q", "--config", f"{name}.toml", cwd=tmp_path)
        assert done.returncode == 0, done.stderr

    def state() -> tuple[list[tuple], list[tuple]]:
        con = duckdb.connect(str(tmp_path / "r.duckdb"), read_only=True)
        try:
            return (con.execute("SELECT pipeline, shard, position FROM dynashift.checkpoints ORDER BY 1, 2").fetchall(),
                    con.execute("SELECT pipeline, records_read FROM dynashift.runs ORDER BY run_id").fetchall())
        finally:
            con.close()

    checkpoints, runs = state()
    assert {row[0] for row in checkpoints} == {"a", "b"} and len(runs) == 2
    done = cli("rebuild", "--table", "orders", "--from", "stream", "--yes", "--config", "a.toml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "pipeline a's checkpoints are forgotten" in done.stderr
    after, runs_after = state()
    assert after == checkpoints  # pipeline a read the source to its end again; b was not touched
    assert runs_after[2] == ("a", runs[0][1])  # the replay read everything again, as a's first run did
    done = cli("run", "--once", "-q", "--config", "b.toml", cwd=tmp_path)
    assert done.returncode == 0 and state()[1][-1] == ("b", 0)  # b has nothing left to read
