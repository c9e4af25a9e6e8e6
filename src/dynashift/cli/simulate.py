"""`dynashift simulate`: write a realistic change stream to files, or send one to Kinesis or
DynamoDB. (The end state it should leave, for tests and demos, is tests/support/simulated.py's.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..config import Config
from ..errors import ConfigError
from .common import err, guarded


@click.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder to write the stream into.")
@click.option("--to", "to", help="Send it live instead: kinesis://STREAM (PutRecords) or dynamodb://TABLE (item writes).")
@click.option("--endpoint-url", help="With --to: AWS endpoint, e.g. http://127.0.0.1:5000.")
@click.option("--region", help="With --to: AWS region.")
@click.option("--profile", "aws_profile", help="With --to: AWS profile (default: the standard credential chain).")
@click.option("--changes", default=50_000, show_default=True, type=click.IntRange(min=0), help="Number of change records.")
@click.option("--tables", default=5, show_default=True, type=click.IntRange(min=1), help="Number of DynamoDB tables.")
@click.option("--files", default=1, show_default=True, type=click.IntRange(min=1),
              help="Split the stream into this many files.")
@click.option("--seed", default=0, show_default=True)
@click.option("--kind", "profile", type=click.Choice(["mixed", "bench", "wide"]), default="mixed", show_default=True,
              help="mixed: awkward names, keys and values (correctness); bench: ~2 KB records (speed);"
                   " wide: many distinct attributes (the column budget).")
@click.option("--force", is_flag=True, help="With --out: replace a stream written there before.")
@click.option("--gzip", "use_gzip", is_flag=True, help="Write .jsonl.gz files.")
@guarded
def simulate(out_dir: str | None, changes: int, tables: int, files: int, seed: int, profile: str, use_gzip: bool,
             force: bool, to: str | None, endpoint_url: str | None, region: str | None,
             aws_profile: str | None) -> None:
    """Write a realistic change stream for tests and demos, or send one to a Kinesis stream or a
    DynamoDB table (--to)."""
    from ..simulate import simulate as write_stream


    if to:
        _simulate_live(to, changes, tables, seed, profile,
                       {"endpoint_url": endpoint_url, "region": region, "profile": aws_profile})
        return
    if not out_dir:
        raise ConfigError("simulate needs --out DIR (files) or --to kinesis://STREAM | dynamodb://TABLE")

    _make_room(Path(out_dir), force)
    summary = write_stream(out_dir, changes=changes, tables=tables, files=files, seed=seed, profile=profile,
                           gzip=use_gzip, start_us=_recent_start(changes))
    err.print(f"wrote {summary.changes:,} changes in {len(summary.files)} file(s) to {out_dir}", highlight=False)


def _simulate_live(to: str, changes: int, tables: int, seed: int, profile: str, aws_flags: dict[str, Any]) -> None:

    from ..simulate_live import simulate_live

    config = Config.model_validate({k: v for k, v in aws_flags.items() if v is not None})
    summary = simulate_live(to, config, changes=changes, tables=tables, seed=seed, profile=profile)
    err.print(f"sent {summary.records:,} changes to {summary.target} in {summary.seconds:.1f}s "
              f"({summary.records / max(summary.seconds, 1e-6):,.0f}/s)", highlight=False)


def _make_room(out: Path, force: bool) -> None:
    """Refuse to write over an earlier stream (a run would read both) unless --force, which
    removes the earlier stream's files first; other files are never touched."""
    old = sorted(out.glob("changes-*.jsonl*")) if out.is_dir() else []
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file of that name exists (simulate writes a folder)")
    if not old and not (out.is_dir() and any(out.iterdir())):
        return
    if not force:
        raise ConfigError(f"--out {out} already holds files: pass --force to replace the stream written there,"
                          " or choose another folder")
    for path in old:
        path.unlink()


def _recent_start(changes: int) -> int:
    """A start time for the stream's clock such that its last change is about now (the clock moves
    about a millisecond per change), so `status` shows a lag of seconds, not years. Whole minutes,
    so the same --seed run within a minute writes the same files."""
    import time

    now_us = int(time.time()) // 60 * 60 * 1_000_000
    return now_us - changes * 1_000 - 60_000_000
