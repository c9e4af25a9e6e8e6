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
from collections import Counter
from typing import Any, Callable

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
                           TransferSpeedColumn)

from ..config import Config, load_config
from ..errors import DynashiftError, SourceError
from ..identity import pipeline_name
from ..pipeline import BatchStats, replicate
from ..targets import open_target
from ..redact import mask
from ..sources import ProgressSource
from ..targets.base import RunCounters

err = Console(stderr=True, soft_wrap=True)  # piped: no line broken mid-sentence
out = Console(soft_wrap=True)


def fail(exc: BaseException) -> None:
    """Print `exc` as one line and exit with its status (1 for an unexpected error)."""
    if isinstance(exc, DynashiftError):
        err.print("[bold red]error:[/] " + escape(mask(str(exc))), highlight=False, markup=True, soft_wrap=True)
        sys.exit(exc.exit_code)
    if isinstance(exc, OSError) and exc.filename and not os.environ.get("DYNASHIFT_DEBUG"):
        # a file the user named cannot be read or written: their fix, not an internal error
        err.print(f"[bold red]error:[/] {escape(str(exc.filename))}: {escape(exc.strerror or str(exc))}",
                  highlight=False, soft_wrap=True)
        sys.exit(1)
    if os.environ.get("DYNASHIFT_DEBUG"):
        raise exc
    err.print(
        "[bold red]error:[/] internal: " + escape(mask(f"{type(exc).__name__}: {exc}"))
        + " (set DYNASHIFT_DEBUG=1 for the traceback)",
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


def _set_log_level(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    from .. import logs

    if param.name == "verbose" and value:
        logs.choose_level("debug" if value > 1 else "info")
    elif param.name == "log_level" and value:
        logs.choose_level(value)


LOG_OPTIONS = [
    click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), expose_value=False,
                 callback=_set_log_level, help="How much to log (default: warning; json logs: info)."),
    click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_log_level,
                 help="Log more: -v a line per batch (info), -vv debug."),
]


def config_from(flags: dict[str, Any], config_path: str | None, missing_env: list[str] | None = None) -> Config:
    """The configuration from dynashift.toml (or `config_path`) and command-line flags: click's
    `schema_name` becomes `schema`, repeated options become lists (None when not given)."""
    flags = {("schema" if k == "schema_name" else k): (list(v) or None) if isinstance(v, tuple) else v
             for k, v in flags.items()}
    return load_config(flags, config_path, missing_env)


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
        from ..logs import batch_logger, chosen_level

        self.json = json
        verbose = chosen_level() <= logging.INFO  # -v in the text format: a line per batch too
        self.observers: list[Callable[[Any], None]] = [batch_logger] if json or verbose else []
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
            err.print(mask(text), highlight=False, soft_wrap=True, markup=False)

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


class RejectTally:
    """The run's rejected records by reason and by file, for the summary (an observer of batches)."""

    def __init__(self, files: bool):
        self.reasons: Counter[str] = Counter()
        self.files: Counter[str] = Counter()
        self.by_file = files

    def observe(self, stats: BatchStats) -> None:
        for r in stats.rejects:
            self.reasons[_reason_kind(r.reason)] += 1
            if self.by_file and r.position:
                self.files[r.position.rsplit(":", 1)[0]] += 1

    def lines(self, top: int = 3) -> list[str]:
        """`rejected: 80 × "not JSON: …"`, and the files most of them came from."""
        out = [f"  rejected {n:,} × {reason}" for reason, n in self.reasons.most_common(top)]
        if len(self.reasons) > top:
            out.append(f"  … and {sum(self.reasons.values()) - sum(n for _, n in self.reasons.most_common(top)):,}"
                       f" more for {len(self.reasons) - top} other reasons (dynashift.rejected holds them all)")
        if self.files:
            listed = ", ".join(f"{name} ({n:,})" for name, n in self.files.most_common(5))
            more = f" and {len(self.files) - 5} more" if len(self.files) > 5 else ""
            out.append(f"  rejected records came from: {listed}{more}")
        return out


def _reason_kind(reason: str) -> str:
    """A reason without the parts that differ per record (offsets, quoted values), so like reasons count together."""
    import re

    text = re.sub(r"'[^']*'|\"[^\"]*\"", "…", reason)
    text = re.sub(r"(?<=[\s(#:])\d+", "N", text)
    return text if len(text) <= 160 else text[:159] + "…"


def summary_line(run: RunCounters, seconds: float) -> str:
    """The run's one-line summary; its parts add up to the records read."""
    skipped = (f"{run.superseded:,} superseded by a later change in the batch, {run.duplicates_skipped:,} duplicates,"
               f" {run.stale_skipped:,} stale" + (f", {run.ttl_ignored:,} TTL expiries ignored" if run.ttl_ignored else ""))
    other = run.records_read - (run.changes_applied + run.superseded + run.duplicates_skipped + run.stale_skipped
                                + run.ttl_ignored + run.rejected)
    filtered = f"; {other:,} of tables not included" if other > 0 else ""
    return (f"read {run.records_read:,} records in {seconds:.1f}s ({run.records_read / max(seconds, 1e-6):,.0f} records/s):"
            f" applied {run.changes_applied:,} changes; skipped {skipped}; rejected {run.rejected:,}{filtered};"
            f" created {run.tables_created} tables and {run.columns_added} columns")


def run_with_progress(config: Config, source: Any, target: Any, quiet: bool, mode: str = "once",
                      ops: Ops | None = None) -> RunCounters:
    """Apply `source` into `target` with a progress bar; SIGTERM (and SIGINT when following)
    finishes the batch in hand, commits and stops. Prints the summary line, the top reasons for
    rejected records and the files they came from; Ctrl-C says what was committed."""
    ops = ops or Ops(json=False)
    tally = RejectTally(files=str(source.uri).startswith(("file://", "export://")))
    committed = Counter()  # of the batches committed so far (heard of before any other observer)
    ops.observers[:0] = [lambda b: committed.update(run_id=b.run_id - committed["run_id"], batches=1,
                                                    records=b.records, applied=b.applied)]
    ops.observers.append(tally.observe)
    stop = threading.Event()

    def finish_batch(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now (the open batch is rolled back)
        stop.set()  # finish the current batch, commit, exit 0 (docs/reference.md §8)

    signals = (signal.SIGTERM,) if mode == "once" else (signal.SIGTERM, signal.SIGINT)
    previous = {s: signal.signal(s, finish_batch) for s in signals}
    started = time.monotonic()
    total = None
    if isinstance(source, ProgressSource) and source.progress_unit == "bytes":  # the bar counts bytes read
        total = source.pending(target.read_checkpoints(pipeline_name(config, source.uri))) or None
    columns = [TextColumn("[bold]applying"), BarColumn(), TaskProgressColumn(), TransferSpeedColumn(),
               TextColumn("{task.fields[records]:,} records · {task.fields[rate]:,.0f}/s"), TimeElapsedColumn()]
    try:
        with Progress(*columns, console=err, disable=quiet or not err.is_terminal, transient=False) as bar:
            task = bar.add_task("apply", total=total, records=0, rate=0.0)

            def on_batch(run: Any) -> None:
                rate = run.records_read / max(time.monotonic() - started, 1e-6)
                bar.update(task, completed=run.bytes_read, records=run.records_read, rate=rate)

            ops.say("run started", quiet_in_text=True, source=mask(config.source or ""),
                    target=mask(target.uri), mode=mode)
            if mode == "interval":
                run = _scheduled(config, source, target, stop, on_batch, ops)
            else:
                run = replicate(config, source, target, on_batch=on_batch, stop=stop, follow=mode == "follow",
                                observer=ops.observe)
    except KeyboardInterrupt:
        what = (f"run {committed['run_id']} committed {committed['batches']:,} batches ({committed['records']:,} records,"
                f" {committed['applied']:,} changes applied) before it was stopped" if committed["batches"]
                else "nothing was committed")
        ops.say(f"interrupted: {what}; the batch in hand was rolled back and the next run resumes from the last"
                " checkpoint", level=logging.WARNING, event="run interrupted", run_id=committed["run_id"] or None,
                batches=committed["batches"], records=committed["records"], applied=committed["applied"])
        raise
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    seconds = time.monotonic() - started
    ops.say(summary_line(run, seconds), event="run finished", run_id=run.run_id, seconds=round(seconds, 3),
            records=run.records_read, applied=run.changes_applied, superseded=run.superseded,
            duplicates=run.duplicates_skipped, stale=run.stale_skipped, ttl_ignored=run.ttl_ignored,
            rejected=run.rejected, tables_created=run.tables_created, columns_added=run.columns_added,
            top_rejects=dict(tally.reasons.most_common(3)), rejected_files=dict(tally.files.most_common(10)))
    for line in tally.lines():
        ops.say(line, level=logging.WARNING)
    if mode == "once" and run.records_read and run.rejected == run.records_read:
        raise SourceError(f"every one of the {run.records_read:,} records read was rejected: is the source in"
                          " DynamoDB Streams JSON (see the reasons above and dynashift.rejected)?")
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
        for f in ("records_read", "changes_applied", "superseded", "duplicates_skipped", "stale_skipped", "ttl_ignored",
                  "rejected", "tables_created", "columns_added"):
            setattr(total, f, getattr(total, f) + getattr(r, f))
    return total


def load_items(config: Config, source: Any, label: str, quiet: bool) -> RunCounters:
    """Apply the source with a progress bar (items, items/s, MB, ETA); SIGINT/SIGTERM finish the
    batch in hand, commit and stop; a second Ctrl-C stops at once (that batch rolls back)."""
    with open_target(config) as target:
        stop = threading.Event()

        def finish_batch(signum: int, frame: Any) -> None:
            if stop.is_set() and signum == signal.SIGINT:
                raise KeyboardInterrupt
            stop.set()

        previous = {s: signal.signal(s, finish_batch) for s in (signal.SIGINT, signal.SIGTERM)}
        started = time.monotonic()
        columns = [TextColumn(f"[bold]{label}"), BarColumn(), TextColumn("{task.completed:,.0f}/{task.fields[of]} items"),
                   TextColumn("{task.fields[rate]:,.0f} items/s · {task.fields[mb]:,.1f} MB"), TimeRemainingColumn(),
                   TimeElapsedColumn()]
        try:
            total = None
            if isinstance(source, ProgressSource) and source.progress_unit == "items":  # the bar counts items
                total = source.pending(target.read_checkpoints(pipeline_name(config, source.uri))) or None
            with Progress(*columns, console=err, disable=quiet or not err.is_terminal) as bar:
                task = bar.add_task(label, total=total, of=f"{total:,}" if total else "?", rate=0.0, mb=0.0)

                def on_batch(run: RunCounters) -> None:
                    rate = run.records_read / max(time.monotonic() - started, 1e-6)
                    bar.update(task, completed=run.records_read, rate=rate, mb=run.bytes_read / 1e6)

                run = replicate(config, source, target, on_batch=on_batch, stop=stop)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    seconds = time.monotonic() - started
    err.print(f"loaded {run.records_read:,} items in {seconds:.1f}s ({run.records_read / max(seconds, 1e-6):,.0f} items/s): "
              f"{run.changes_applied:,} applied, {run.stale_skipped:,} older than what the target holds, "
              f"{run.rejected:,} rejected; {run.tables_created} tables and {run.columns_added} columns created"
              + ("; stopped: run the same command again to continue" if stop.is_set() else ""), highlight=False)
    return run
