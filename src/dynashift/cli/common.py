"""What every command shares: the consoles, `guarded` (one line and an exit status per error, never
a traceback), the config flags, and running a source into a target with a progress display.
Commands import from here; nothing here imports a command, so there is no import cycle."""

from __future__ import annotations

import functools
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

from ..config import Config, load_config
from ..errors import DynashiftError
from ..pipeline import replicate
from ..targets.base import RunCounters

err = Console(stderr=True)
out = Console()


def fail(exc: BaseException) -> None:
    """Print `exc` as one line and exit with its status (1 for an unexpected error)."""
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
            fail(exc)

    return wrapper


def config_from(flags: dict[str, Any], config_path: str | None) -> Config:
    """The configuration from dynashift.toml (or `config_path`) and command-line flags: click's
    `schema_name` becomes `schema`, repeated options become lists (None when not given)."""
    flags = {("schema" if k == "schema_name" else k): (list(v) or None) if isinstance(v, tuple) else v
             for k, v in flags.items()}
    return load_config(flags, config_path)


AWS_OPTIONS = [
    click.option("--endpoint-url", help="AWS endpoint, e.g. a local one (http://127.0.0.1:5000)."),
    click.option("--region", help="AWS region (default: the AWS settings)."),
    click.option("--profile", help="AWS profile (default: the standard credential chain)."),
]
TARGET_OPTIONS = [
    click.option("--target", help="duckdb:///PATH (default duckdb:///dynashift.duckdb), postgresql://…"),
    click.option("--schema", "schema_name", help="Schema for replicated tables."),
    click.option("--batch-size", type=int, help="Items per batch (one transaction)."),
    click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (default ./dynashift.toml)."),
    click.option("--quiet", "-q", is_flag=True, help="No progress display."),
]


def options(opts: list[Any]) -> Any:
    """Apply a list of click options to a command, in order."""
    def wrap(fn: Any) -> Any:
        for option in reversed(opts):
            fn = option(fn)
        return fn

    return wrap


class Ops:
    """What `run` reports besides its tables: the summary lines (text or JSON), batch observers
    (metrics, JSON logs) and the metrics server."""

    def __init__(self, json: bool):
        from ..logs import batch_logger

        self.json = json
        self.observers: list[Callable[[Any], None]] = [batch_logger] if json else []
        self.server: Any = None

    def serve_metrics(self, port: int, host: str) -> None:
        from ..metrics import Metrics, serve

        metrics = Metrics()
        self.server = serve(metrics, port, host)
        self.observers.append(metrics.observe)
        self.say(f"metrics at {self.server.url}", url=self.server.url)

    def observe(self, stats: Any) -> None:
        for fn in self.observers:
            fn(stats)

    def say(self, text: str, quiet_in_text: bool = False, level: int = logging.INFO, **fields: Any) -> None:
        """A line for the person running it (text) or a JSON log line with `fields`."""
        from .. import logs

        if self.json:
            logs.event(text, level, **fields)
        elif not quiet_in_text:
            err.print(text, highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def run_with_progress(config: Config, source: Any, target: Any, quiet: bool, mode: str = "once",
                      ops: Ops | None = None) -> RunCounters:
    """Apply `source` into `target` with a progress bar; SIGTERM (and SIGINT when following)
    finishes the batch in hand, commits and stops. Prints the summary line."""
    ops = ops or Ops(json=False)
    stop = threading.Event()

    def finish_batch(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (the open batch is rolled back)
        stop.set()  # finish the current batch, commit, exit 0 (docs/reference.md §8)

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
    return run


def _scheduled(config: Config, source: Any, target: Any, stop: threading.Event, on_batch: Any, ops: Ops) -> Any:
    """`--interval`: one run per wake; returns the counters summed over the wakes."""
    from ..pipeline import replicate_every

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
