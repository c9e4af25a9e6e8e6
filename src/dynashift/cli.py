"""Command line: parsing, output and exit codes (0 done, 1 failed at run time, 2 bad usage or
configuration). No replication logic lives here."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from typing import Any, Callable

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TransferSpeedColumn

from .config import Config, load_config
from .errors import ConfigError, DynashiftError
from .pipeline import replicate
from .sources import make_source
from .targets import make_target
from .targets.base import RunCounters

err = Console(stderr=True)
out = Console()


def _fail(exc: BaseException) -> None:
    if isinstance(exc, DynashiftError):
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    if os.environ.get("DYNASHIFT_DEBUG"):
        raise exc
    err.print(
        f"[bold red]error:[/] internal: {type(exc).__name__}: {exc} (set DYNASHIFT_DEBUG=1 for the traceback)",
        highlight=False, soft_wrap=True,
    )
    sys.exit(1)


def guarded(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn dynashift errors into one line and an exit status; never a bare traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort):
            raise
        except SystemExit:
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            sys.exit(130)
        except BaseException as exc:  # noqa: BLE001 - the one place every error is reported
            _fail(exc)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dynashift")
def main() -> None:
    """Keep SQL tables in sync with DynamoDB tables from their change stream."""


def _config(ctx_flags: dict[str, Any], config_path: str | None) -> Config:
    return load_config(ctx_flags, config_path)


@main.command()
@click.option("--source", help="file://PATH, … (or `source` in dynashift.toml)")
@click.option("--target", help="duckdb:///PATH (default duckdb:///dynashift.duckdb), postgresql://…")
@click.option("--once", is_flag=True, help="Apply what the source holds now, then exit.")
@click.option("--batch-size", type=int, help="Records per batch (one transaction).")
@click.option("--table", help="DynamoDB table for records that carry no table name.")
@click.option("--schema", "schema_name", help="Schema for replicated tables.")
@click.option("--delete-mode", type=click.Choice(["hard", "soft"]))
@click.option("--ttl-deletes", type=click.Choice(["follow", "hard", "soft", "ignore"]))
@click.option("--on-bad-record", type=click.Choice(["reject", "fail"]))
@click.option("--endpoint-url", help="AWS endpoint, e.g. a local one (http://127.0.0.1:5000).")
@click.option("--region", help="AWS region (default: the AWS settings).")
@click.option("--profile", help="AWS profile (default: the standard credential chain).")
@click.option("--max-wait", help="Continuous mode: a batch closes after this long (e.g. 5s) if not full.")
@click.option("--interval", help="Scheduled mode: apply what the stream holds, sleep this long (e.g. 5m), repeat.")
@click.option("--include", multiple=True, help="Replicate only this DynamoDB table (repeatable; glob patterns).")
@click.option("--exclude", multiple=True, help="Skip this DynamoDB table (repeatable; glob patterns).")
@click.option("--accept-gap", is_flag=True, default=None, help="Continue past changes that expired unread.")
@click.option("--start-position", help="Where a live source starts on its first run: TRIM_HORIZON (default), LATEST "
              "or AT_TIMESTAMP.")
@click.option("--start-timestamp", help="With --start-position AT_TIMESTAMP: ISO 8601 time or epoch.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (default ./dynashift.toml).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--metrics-port", type=click.IntRange(0, 65535),
              help="Serve Prometheus metrics at http://127.0.0.1:PORT/metrics while running (0: any free port).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True,
              help="Address for --metrics-port (0.0.0.0 to let other machines scrape it).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one JSON object per line on stderr (a line per batch), no progress bar.")
@guarded
def run(once: bool, config_path: str | None, quiet: bool, metrics_port: int | None, metrics_host: str,
        log_format: str, **flags: Any) -> None:
    """Replicate changes from SOURCE into TARGET.

    Without --once a live source (kinesis://, dynamodb-streams://) is followed until SIGINT or
    SIGTERM, which finish the current batch, commit it and exit 0; --interval runs on a schedule."""
    from . import logs

    flags = {k if k != "schema_name" else "schema": (list(v) or None) if isinstance(v, tuple) else v
             for k, v in flags.items()}
    ops = _Ops(json=log_format == "json")
    logs.setup(log_format)
    try:
        config = _config(flags, config_path)
        if not config.source:
            raise ConfigError("no source: pass --source (e.g. file://changes/) or set `source` in dynashift.toml")
        source = make_source(config.source, config)
        target = make_target(config.target, config.schema_name)
        if metrics_port is not None:
            ops.serve_metrics(metrics_port, metrics_host)
        target.open()
        try:
            mode = "once" if once else "interval" if config.interval else "follow"
            if mode == "follow" and not hasattr(source, "follow"):
                ops.say(f"note: {config.source} is read to its end and the run exits (a file source has no tail)")
                mode = "once"
            _run_with_progress(config, source, target, quiet or ops.json, mode, ops)
        finally:
            target.close()
    except (SystemExit, click.exceptions.Exit, click.ClickException):
        raise
    except BaseException as exc:  # noqa: BLE001 - JSON mode reports every error as one JSON line
        if not ops.json:
            raise
        code = exc.exit_code if isinstance(exc, DynashiftError) else 130 if isinstance(exc, KeyboardInterrupt) else 1
        text = str(exc) if isinstance(exc, DynashiftError) else f"internal: {type(exc).__name__}: {exc}"
        logs.event(text, logging.ERROR, exit_code=code)
        sys.exit(code)
    finally:
        ops.close()


class _Ops:
    """What `run` reports besides its tables: the summary lines (text or JSON), batch observers
    (metrics, JSON logs) and the metrics server."""

    def __init__(self, json: bool):
        from .logs import batch_logger

        self.json = json
        self.observers: list[Callable[[Any], None]] = [batch_logger] if json else []
        self.server: Any = None

    def serve_metrics(self, port: int, host: str) -> None:
        from .metrics import Metrics, serve

        metrics = Metrics()
        self.server = serve(metrics, port, host)
        self.observers.append(metrics.observe)
        self.say(f"metrics at {self.server.url}", url=self.server.url)

    def observe(self, stats: Any) -> None:
        for fn in self.observers:
            fn(stats)

    def say(self, text: str, quiet_in_text: bool = False, **fields: Any) -> None:
        """A line for the person running it (text) or a JSON log line with `fields`."""
        from . import logs

        if self.json:
            logs.event(text, **fields)
        elif not quiet_in_text:
            err.print(text, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _run_with_progress(config: Config, source: Any, target: Any, quiet: bool, mode: str = "once",
                       ops: _Ops | None = None) -> None:
    ops = ops or _Ops(json=False)
    stop = threading.Event()

    def finish_batch(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (the open batch is rolled back)
        stop.set()  # finish the current batch, commit, exit 0 (SPEC section 7)

    signals = (signal.SIGTERM,) if mode == "once" else (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, finish_batch) for s in signals}
    started = time.monotonic()
    total = None
    if hasattr(source, "pending_bytes"):
        total = source.pending_bytes(target.read_checkpoints(source.uri)) or None
    columns = [TextColumn("[bold]applying"), BarColumn(), TaskProgressColumn(), TransferSpeedColumn(),
               TextColumn("{task.fields[records]:,} records · {task.fields[rate]:,.0f}/s"), TimeElapsedColumn()]
    try:
        with Progress(*columns, console=err, disable=quiet or not err.is_terminal, transient=False) as bar:
            task = bar.add_task("apply", total=total, records=0, rate=0.0)

            def on_batch(run: Any) -> None:
                rate = run.records_read / max(time.monotonic() - started, 1e-6)
                bar.update(task, completed=run.bytes_read, records=run.records_read, rate=rate)

            ops.say("run started", quiet_in_text=True, source=config.source, target=target.uri, mode=mode)
            if mode == "interval":
                run = _scheduled(config, source, target, stop, on_batch, ops)
            else:
                run = replicate(config, source, target, on_batch=on_batch, stop=stop, follow=mode == "follow",
                                observer=ops.observe)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    seconds = time.monotonic() - started
    ops.say(
        f"applied {run.changes_applied:,} changes from {run.records_read:,} records in {seconds:.1f}s "
        f"({run.records_read / max(seconds, 1e-6):,.0f} records/s); skipped {run.duplicates_skipped:,} duplicates, "
        f"{run.stale_skipped:,} stale; {run.rejected:,} rejected; {run.tables_created} tables and "
        f"{run.columns_added} columns created",
        event="run finished", run_id=run.run_id, seconds=round(seconds, 3), records=run.records_read,
        applied=run.changes_applied, duplicates=run.duplicates_skipped, stale=run.stale_skipped, rejected=run.rejected,
        tables_created=run.tables_created, columns_added=run.columns_added,
    )


def _scheduled(config: Config, source: Any, target: Any, stop: threading.Event, on_batch: Any, ops: _Ops) -> Any:
    """`--interval`: one run per wake; returns the counters summed over the wakes."""
    from .pipeline import replicate_every

    def woke(run: Any) -> None:
        ops.say(f"applied {run.changes_applied:,} changes from {run.records_read:,} records; "
                f"next in {config.interval:g}s", event="woke", run_id=run.run_id, records=run.records_read,
                applied=run.changes_applied)

    runs = replicate_every(config, source, target, config.interval, stop=stop, on_batch=on_batch, on_run=woke,
                           observer=ops.observe)
    if not runs:
        return RunCounters(0, source.uri)
    total = runs[-1]
    for r in runs[:-1]:
        for f in ("records_read", "changes_applied", "duplicates_skipped", "stale_skipped", "rejected",
                  "tables_created", "columns_added"):
            setattr(total, f, getattr(total, f) + getattr(r, f))
    return total


@main.command()
@click.option("--target", help="duckdb:///PATH, postgresql://…")
@click.option("--schema", "schema_name", help="Schema for replicated tables.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (with --watch: one line per refresh).")
@click.option("--watch", type=float, is_flag=False, flag_value=2.0, default=None, metavar="[SECONDS]",
              help="Refresh every SECONDS (default 2) until Ctrl-C.")
@click.option("--runs", "recent_runs", default=10, show_default=True, type=click.IntRange(1, 1000),
              help="How many recent runs to show.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@guarded
def status(target: str | None, schema_name: str | None, as_json: bool, watch: float | None, recent_runs: int,
           config_path: str | None) -> None:
    """Health, tables (rows, columns, last change and sync, lag), checkpoints with their lag per
    shard, and recent runs with their throughput."""
    from .cli_ops import show_status
    from .overview import gather

    config = _config({"target": target, "schema": schema_name}, config_path)

    def read() -> dict[str, Any]:
        tgt = make_target(config.target, config.schema_name)
        tgt.open()  # again on every refresh: DuckDB allows one writer, so `run` must be able to take it
        try:
            return gather(tgt, recent_runs)
        finally:
            tgt.close()

    if watch is not None and watch <= 0:
        raise ConfigError("--watch needs a positive number of seconds")
    show_status(read, as_json, watch)


@main.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder to write the stream into.")
@click.option("--to", "to", help="Send it live instead: kinesis://STREAM (PutRecords) or dynamodb://TABLE (item writes).")
@click.option("--expected", "expected_file", type=click.Path(dir_okay=False),
              help="With --to kinesis://: write the expected final state to this file.")
@click.option("--endpoint-url", help="With --to: AWS endpoint, e.g. http://127.0.0.1:5000.")
@click.option("--region", help="With --to: AWS region.")
@click.option("--aws-profile", help="With --to: AWS profile (default: the standard credential chain).")
@click.option("--changes", default=50_000, show_default=True, help="Number of change records.")
@click.option("--tables", default=5, show_default=True, help="Number of DynamoDB tables.")
@click.option("--files", default=1, show_default=True, help="Split the stream into this many files.")
@click.option("--seed", default=0, show_default=True)
@click.option("--profile", type=click.Choice(["mixed", "bench"]), default="mixed", show_default=True)
@click.option("--gzip", "use_gzip", is_flag=True, help="Write .jsonl.gz files.")
@click.option("--no-expected", is_flag=True, help="Do not write the expected final state.")
@guarded
def simulate(out_dir: str | None, changes: int, tables: int, files: int, seed: int, profile: str, use_gzip: bool,
             no_expected: bool, to: str | None, expected_file: str | None, endpoint_url: str | None,
             region: str | None, aws_profile: str | None) -> None:
    """Write a realistic change stream (and its expected final state) for tests and demos, or
    send one to a Kinesis stream or a DynamoDB table (--to)."""
    from .simulate import simulate as write_stream

    from pathlib import Path

    if to:
        _simulate_live(to, changes, tables, seed, profile, expected_file,
                       {"endpoint_url": endpoint_url, "region": region, "profile": aws_profile})
        return
    if not out_dir:
        raise ConfigError("simulate needs --out DIR (files) or --to kinesis://STREAM | dynamodb://TABLE")

    summary = write_stream(out_dir, changes=changes, tables=tables, files=files, seed=seed, profile=profile,
                           gzip=use_gzip, expected=not no_expected)
    written = Path(out_dir) / "expected.json"
    if written.exists():  # next to the stream folder, not in it, so `file://OUT/` reads only changes
        written.replace(expected_path_for(out_dir))
    err.print(f"wrote {summary.changes:,} changes in {len(summary.files)} file(s) to {out_dir}"
              + ("" if no_expected else f"; expected state in {expected_path_for(out_dir)}"), highlight=False)


def _simulate_live(to: str, changes: int, tables: int, seed: int, profile: str, expected_file: str | None,
                   aws_flags: dict[str, Any]) -> None:
    from pathlib import Path

    from .simulate_live import simulate_live

    config = Config.model_validate({k: v for k, v in aws_flags.items() if v is not None})
    summary = simulate_live(to, config, changes=changes, tables=tables, seed=seed, profile=profile,
                            expected_path=Path(expected_file) if expected_file else None)
    err.print(f"sent {summary.records:,} changes to {summary.target} in {summary.seconds:.1f}s "
              f"({summary.records / max(summary.seconds, 1e-6):,.0f}/s)"
              + (f"; expected state in {summary.expected}" if summary.expected else ""), highlight=False)


def expected_path_for(out_dir: str) -> str:
    """Where `simulate --out DIR` puts the expected final state: DIR.expected.json."""
    return str(out_dir).rstrip("/") + ".expected.json"


from .cli_load import backfill, export; main.add_command(backfill); main.add_command(export)  # noqa: E402,E702
from .cli_ops import doctor, init, report; main.add_command(doctor); main.add_command(init); main.add_command(report)  # noqa: E402,E702

from .cli_verify import verify; main.add_command(verify)  # noqa: E402,E702
from .cli_redshift import redshift; main.add_command(redshift)  # noqa: E402,E702


if __name__ == "__main__":  # pragma: no cover
    main()
