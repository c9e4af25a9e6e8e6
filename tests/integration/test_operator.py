"""Issue 14, the operator's side: no password shown, logged or stored; config typos suggest the
key; user mistakes are one line, never "internal"; unusable input is loud (files, top reasons, a
warning naming a truncated .gz, exit 1 when every record was rejected); the summary adds up;
--log-level / -v; simulate's flags; Ctrl-C marks the run interrupted."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import orjson
import psycopg

from support.simulated import simulate
from support.pg import pg_url  # noqa: F401 - fixture

SECRET = "s3cr3t-Pa55"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dynashift.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env={**os.environ, **(env or {})})


def with_password(url: str) -> str:
    parts = urlsplit(url)  # trust authentication: any password is accepted, so it is only a secret to keep
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{SECRET}@{parts.hostname}:{parts.port or 5432}"))


def json_lines(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines() if line.startswith("{")]


# ---------------------------------------------------------------- secrets


def test_no_password_in_status_report_json_logs_runs_or_rejected(tmp_path: Path, pg_url: str) -> None:
    simulate(tmp_path / "sim", changes=300, tables=2, seed=4, expected=False)
    (tmp_path / "sim" / "bad.jsonl").write_text("not json\n")
    (tmp_path / "dynashift.toml").write_text('target = "${DS_TARGET}"\n')
    env = {"DS_TARGET": with_password(pg_url)}
    run = cli("run", "--once", "-q", "--source", "file://sim", "--log-format", "json", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    status = cli("status", cwd=tmp_path, env=env)
    status_json = cli("status", "--json", cwd=tmp_path, env=env)
    report = cli("report", "--out", "r.html", cwd=tmp_path, env=env)
    doctor = cli("doctor", "--source", "file://sim", cwd=tmp_path, env=env)
    assert status.returncode == status_json.returncode == report.returncode == 0, status.stderr + report.stderr
    shown = "".join(p.stdout + p.stderr for p in (run, status, status_json, report, doctor))
    shown += (tmp_path / "r.html").read_text()
    assert orjson.loads(status_json.stdout)["target"] == with_password(pg_url).replace(SECRET, "***")
    assert "***@" in shown and SECRET not in shown
    stored = psycopg.connect(pg_url, autocommit=True)
    try:
        rows = stored.execute("SELECT source FROM dynashift.runs UNION ALL SELECT source FROM dynashift.rejected"
                              " UNION ALL SELECT coalesce(error, '') FROM dynashift.runs").fetchall()
    finally:
        stored.close()
    assert rows and not any(SECRET in r[0] for r in rows)


def test_an_error_line_never_shows_the_password(tmp_path: Path) -> None:
    done = cli("status", "--target", f"mysql://me:{SECRET}@db/x", cwd=tmp_path)
    assert done.returncode == 2 and SECRET not in done.stderr and "me:***@db" in done.stderr


# ---------------------------------------------------------------- mistakes are one line


def test_a_config_typo_suggests_the_key(tmp_path: Path) -> None:
    (tmp_path / "dynashift.toml").write_text("batchsize = 10\n[tables.orders]\nhistroy = 'beside'\n")
    done = cli("status", cwd=tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "unknown setting batchsize: did you mean batch_size?" in done.stderr
    assert "unknown setting tables.orders.histroy: did you mean history?" in done.stderr


def test_report_into_a_missing_folder_is_the_users_mistake(tmp_path: Path) -> None:
    done = cli("report", "--out", "/no/such/dir/r.html", "--target", "duckdb:///x.duckdb", cwd=tmp_path)
    assert done.returncode == 2 and "internal" not in done.stderr
    assert done.stderr.strip() == "error: --out /no/such/dir/r.html: folder /no/such/dir does not exist"


def test_simulate_refuses_to_overwrite_and_checks_its_numbers(tmp_path: Path) -> None:
    first = cli("simulate", "--out", "s", "--changes", "20", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "s" / "changes-0001.jsonl").read_bytes()
    again = cli("simulate", "--out", "s", "--changes", "30", "--seed", "2", cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr
    assert (tmp_path / "s" / "changes-0001.jsonl").read_bytes() == before
    forced = cli("simulate", "--out", "s", "--changes", "30", "--seed", "2", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and (tmp_path / "s" / "changes-0001.jsonl").read_bytes() != before
    assert cli("simulate", "--out", "t", "--tables", "0", cwd=tmp_path).returncode == 2
    helps = cli("simulate", "--help", cwd=tmp_path).stdout
    assert "--profile" in helps and "--aws-profile" not in helps and "--kind" in helps


# ---------------------------------------------------------------- unusable input


def test_an_empty_file_uri_and_a_glob_matching_nothing_are_usage_errors(tmp_path: Path) -> None:
    for uri in ("file://", "file://nothing/*.jsonl"):
        done = cli("run", "--once", "--source", uri, "--target", "duckdb:///x.duckdb", cwd=tmp_path)
        assert done.returncode == 2, (uri, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("error:")


def test_unusable_files_are_named_with_their_reasons_and_a_truncated_gz_warns(tmp_path: Path) -> None:
    summary = simulate(tmp_path / "sim", changes=400, tables=2, seed=5, gzip=True, expected=False)
    src = tmp_path / "in"
    src.mkdir()
    (src / "a-good.jsonl.gz").write_bytes(summary.files[0].read_bytes())
    (src / "b-cut.jsonl.gz").write_bytes(summary.files[0].read_bytes()[:3000])
    (src / "c-random.jsonl").write_bytes(bytes(range(256)) * 8)
    (src / "d-text.jsonl").write_text("hello\nworld\n")
    done = cli("run", "--once", "-q", "--source", "file://in", "--target", "duckdb:///x.duckdb", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert any("b-cut.jsonl.gz is truncated or corrupt" in line for line in lines), done.stderr
    came_from = next(line for line in lines if "rejected records came from:" in line)
    assert "c-random.jsonl" in came_from and "d-text.jsonl (2)" in came_from and "b-cut.jsonl.gz (1)" in came_from
    assert any(re.search(r"rejected \d+ × not JSON", line) for line in lines)


def test_once_exits_1_when_every_record_was_rejected(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.jsonl").write_text("one\ntwo\nthree\n")
    done = cli("run", "--once", "-q", "--source", "file://in", "--target", "duckdb:///x.duckdb", cwd=tmp_path)
    assert done.returncode == 1
    assert "x.jsonl (3)" in done.stderr and "every one of the 3 records read was rejected" in done.stderr


def test_the_summary_adds_up_in_text_and_json(tmp_path: Path) -> None:
    simulate(tmp_path / "sim", changes=2000, tables=3, seed=6, expected=False)
    (tmp_path / "sim" / "zz-bad.jsonl").write_text("nope\n")
    done = cli("run", "--once", "--source", "file://sim", "--target", "duckdb:///x.duckdb", "--log-format", "json",
               "--batch-size", "500", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    end = next(e for e in json_lines(done.stderr) if e.get("event") == "run finished")
    parts = ("applied", "superseded", "duplicates", "stale", "ttl_ignored", "rejected")
    assert end["superseded"] > 0 and end["records"] == sum(end[p] for p in parts) == 2001
    text = cli("run", "--once", "--source", "file://sim", "--target", "duckdb:///y.duckdb", "--batch-size", "500",
               cwd=tmp_path)
    line = next(x for x in text.stderr.splitlines() if x.startswith("read "))
    found = re.findall(r"(?:applied ([\d,]+) changes|([\d,]+) superseded|([\d,]+) duplicates|([\d,]+) stale|"
                       r"([\d,]+) TTL|rejected ([\d,]+))", line)
    numbers = [int("".join(groups).replace(",", "")) for groups in found]
    read = int(re.match(r"read ([\d,]+) records", line).group(1).replace(",", ""))
    assert f"{end['superseded']:,} superseded" in line and read == 2001 and sum(numbers) == read, line


def test_log_level_and_verbose(tmp_path: Path) -> None:
    simulate(tmp_path / "sim", changes=300, tables=2, seed=7, expected=False)
    verbose = cli("run", "--once", "-q", "-v", "--source", "file://sim", "--target", "duckdb:///x.duckdb",
                  "--batch-size", "100", cwd=tmp_path)
    assert verbose.returncode == 0, verbose.stderr
    assert sum(line.startswith("info: batch ") for line in verbose.stderr.splitlines()) == 3
    quiet = cli("--log-level", "error", "run", "--once", "--source", "file://sim", "--target", "duckdb:///y.duckdb",
                "--log-format", "json", cwd=tmp_path)
    assert quiet.returncode == 0 and json_lines(quiet.stderr) == []


# ---------------------------------------------------------------- Ctrl-C


def test_ctrl_c_during_run_once_marks_the_run_interrupted(tmp_path: Path) -> None:
    simulate(tmp_path / "sim", changes=40_000, tables=3, seed=8, expected=False)
    proc = subprocess.Popen([sys.executable, "-m", "dynashift.cli", "run", "--once", "-v", "--source", "file://sim",
                             "--target", "duckdb:///x.duckdb", "--batch-size", "200"], cwd=tmp_path,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait for a committed batch, then Ctrl-C
        if proc.stderr.readline().startswith("info: batch "):
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 130, rest
    assert "interrupted: run 1 committed" in rest and "next run resumes from the last checkpoint" in rest
    con = duckdb.connect(str(tmp_path / "x.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT status FROM dynashift.runs").fetchall() == [("interrupted",)]
    finally:
        con.close()
    status = cli("status", "--target", "duckdb:///x.duckdb", cwd=tmp_path)
    assert "● warning" in status.stdout and "interrupted" in status.stdout




# ---------------------------------------------------------------- completion, dry run, demo dates


def test_shell_completion_is_documented_and_works(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert 'eval "$(_DYNASHIFT_COMPLETE=bash_source dynashift)"' in readme
    script = subprocess.run(["dynashift"], capture_output=True, text=True, cwd=tmp_path,
                            env={**os.environ, "_DYNASHIFT_COMPLETE": "bash_source",
                                 "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert script.returncode == 0 and "_dynashift_completion" in script.stdout
    words = subprocess.run(["dynashift"], capture_output=True, text=True, cwd=tmp_path,
                           env={**os.environ, "_DYNASHIFT_COMPLETE": "bash_complete", "COMP_WORDS": "dynashift re",
                                "COMP_CWORD": "1",
                                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    assert "rebuild" in words.stdout and "report" in words.stdout


def test_dry_run_plans_a_batch_and_commits_nothing(tmp_path: Path) -> None:
    simulate(tmp_path / "sim", changes=600, tables=2, seed=9, expected=False)
    done = cli("run", "--dry-run", "--source", "file://sim", "--target", "duckdb:///x.duckdb", "--batch-size", "400",
               cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("dry run: nothing is committed; the next batch reads 400 records")
    assert "create table orders (" in done.stdout and "superseded" in done.stdout
    assert not (tmp_path / "x.duckdb").exists()
    assert cli("run", "--once", "-q", "--source", "file://sim", "--target", "duckdb:///y.duckdb", "--batch-size", "400",
               cwd=tmp_path).returncode == 0
    before = (tmp_path / "y.duckdb").read_bytes()
    again = cli("run", "--dry-run", "--source", "file://sim", "--target", "duckdb:///y.duckdb", cwd=tmp_path)
    assert again.returncode == 0 and "holds nothing new" in again.stdout
    assert (tmp_path / "y.duckdb").read_bytes() == before


def test_simulated_stream_is_dated_up_to_now(tmp_path: Path) -> None:
    done = cli("simulate", "--out", "s", "--changes", "500", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = (tmp_path / "s" / "changes-0001.jsonl").read_text().splitlines()
    stamps = [orjson.loads(line)["dynamodb"]["ApproximateCreationDateTime"] for line in lines]
    times = [t / 1e6 if t > 1e14 else t / 1e3 for t in stamps]  # microseconds or milliseconds
    assert time.time() - 600 < max(times) <= time.time()


# ---------------------------------------------------------------- doctor


def doctor_checks(done: subprocess.CompletedProcess) -> dict[str, dict]:
    return {c["name"]: c for c in orjson.loads(done.stdout)["checks"]}


def test_doctor_an_unset_variable_is_one_failed_check_and_the_rest_still_run(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text("")
    (tmp_path / "my.toml").write_text('source = "file://in.jsonl"\ntarget = "duckdb:///${DS_UNSET_DIR}w.duckdb"\n')
    env = {k: v for k, v in os.environ.items() if k != "DS_UNSET_DIR"}
    done = subprocess.run([sys.executable, "-m", "dynashift.cli", "doctor", "--json", "--config", "my.toml"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    checks = doctor_checks(done)
    assert done.returncode == 1 and checks["config"]["status"] == "fail"
    assert checks["config"]["detail"] == "my.toml refers to ${DS_UNSET_DIR}, which is not set in the environment"
    assert checks["source"]["status"] == "pass" and "target" in checks


def test_doctor_without_a_source_fails(tmp_path: Path) -> None:
    done = cli("doctor", "--json", "--target", "duckdb:///w.duckdb", cwd=tmp_path)
    assert done.returncode == 1 and doctor_checks(done)["source"]["status"] == "fail"


def test_doctor_an_unreachable_endpoint_is_not_a_credentials_problem(tmp_path: Path) -> None:
    done = cli("doctor", "--json", "--source", "kinesis://s", "--target", "duckdb:///w.duckdb", "--endpoint-url",
               "http://127.0.0.1:9", "--region", "us-east-1", cwd=tmp_path,
               env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"})
    checks = doctor_checks(done)
    assert done.returncode == 1 and "credentials" not in checks
    assert checks["aws endpoint"]["status"] == "fail" and "cannot reach" in checks["aws endpoint"]["detail"]
    assert "--endpoint-url" in checks["aws endpoint"]["fix"]
