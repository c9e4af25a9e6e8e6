"""`dynashift run`: replicate changes from a source into a target."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from ..errors import ConfigError, DynashiftError
from ..redact import mask
from ..sources import InTargetSource, LiveSource, make_source
from ..targets import make_target, opened
from .common import LOG_OPTIONS, Ops, config_from, guarded, options, out, run_with_progress


@click.command()
@click.option("--source", help="file://PATH, … (or `source` in dynashift.toml)")
@click.option("--target", help="duckdb:///PATH (default duckdb:///dynashift.duckdb), postgresql://…")
@click.option("--once", is_flag=True, help="Apply what the source holds now, then exit.")
@click.option("--dry-run", is_flag=True, help="Plan the next batch: print its schema changes and counts; commit nothing.")
@click.option("--pipeline", help="This pipeline's name (default: derived from the source, schema and table filters); "
              "several runs with one name share its shards.")
@click.option("--accept-filter-change", is_flag=True, default=None,
              help="Run a named pipeline whose --include/--exclude now let through tables its checkpoints passed.")
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
@options(LOG_OPTIONS)
@guarded
def run(once: bool, dry_run: bool, config_path: str | None, quiet: bool, metrics_port: int | None, metrics_host: str,
        log_format: str, **flags: Any) -> None:
    """Replicate changes from SOURCE into TARGET.

    Without --once a live source (kinesis://, dynamodb-streams://) is followed until SIGINT or
    SIGTERM, which finish the current batch, commit it and exit 0; --interval runs on a schedule."""
    from .. import logs

    ops = Ops(json=log_format == "json")
    logs.setup(log_format)
    try:
        config = config_from(flags, config_path)
        if not config.source:
            raise ConfigError("no source: pass --source (e.g. file://changes/) or set `source` in dynashift.toml")
        source = make_source(config.source, config)
        target = make_target(config.target, config.schema_name)
        if dry_run:
            from ..dryrun import plan_next_batch

            for line in plan_next_batch(config, source, target).lines():
                out.print(line, highlight=False, markup=False)
            return
        if metrics_port is not None:
            ops.serve_metrics(metrics_port, metrics_host)
        with opened(target):
            mode = "once" if once else "interval" if config.interval else "follow"
            if mode == "follow" and not isinstance(source, (LiveSource, InTargetSource)):
                ops.say(f"note: {config.source} is read to its end and the run exits (a file source has no tail)")
                mode = "once"
            run_with_progress(config, source, target, quiet or ops.json, mode, ops)
    except (SystemExit, click.exceptions.Exit, click.ClickException):
        raise
    except BaseException as exc:  # noqa: BLE001 - JSON mode reports every error as one JSON line
        if not ops.json:
            raise
        code = exc.exit_code if isinstance(exc, DynashiftError) else 130 if isinstance(exc, KeyboardInterrupt) else 1
        text = mask(str(exc)) if isinstance(exc, DynashiftError) else f"internal: {type(exc).__name__}: {exc}"
        logs.event(text, logging.ERROR, exit_code=code)
        sys.exit(code)
    finally:
        ops.close()
