"""`dynashift status`: health, tables, checkpoints and recent runs, once or every few seconds
(`--watch`). Parsing and rendering only; the numbers come from status_info.py."""

from __future__ import annotations

import signal
import sys
import time
from datetime import datetime, timezone
from typing import Any, Callable

import click
import orjson
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..errors import ConfigError, DynashiftError
from ..redact import mask
from ..targets import open_target
from .common import config_from, guarded, out


@click.command()
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
    from ..status_info import gather

    config = config_from({"target": target, "schema": schema_name}, config_path)

    def read() -> dict[str, Any]:
        # opened again on every refresh: DuckDB allows one writer, so `run` must be able to take it
        with open_target(config, mode="read") as tgt:
            return gather(tgt, recent_runs)

    if watch is not None and watch <= 0:
        raise ConfigError("--watch needs a positive number of seconds")
    show_status(read, as_json, watch)




def render_status(info: dict[str, Any]) -> RenderableType:
    """The `status` screen: a health line, tables, shards, recent runs. Fits 80 columns: whole
    numbers, times to the minute, and a column that is empty in every row is left out (such as
    lag for a file source)."""
    state = info["health"]["state"]
    color = {"healthy": "green", "warning": "yellow", "failing": "red", "idle": "cyan"}[state]
    head = Text.assemble((f"● {state}", f"bold {color}"), f"  {info['target']}")
    parts: list[RenderableType] = [head, Text(f"  {_last_batch(info)}", style="dim")]
    parts += [Text(f"  · {note}", style=color) for note in info["health"]["notes"]]
    tables = [(_cut(t["table"], 28), f"{t['rows']:,}", str(t["columns"]), _short(t["last_change"]),
               _short(t["last_sync"]), _duration(t.get("lag_s"))) for t in info["tables"]]
    shards = [(_cut(c["source"], 24), _cut(c["shard"], 24), _cut(c["position"], 14),
               "yes" if c["size"] is not None else "",
               "" if c.get("lag_ms") is None else _duration(c["lag_ms"] / 1000),
               _short(c.get("lag_updated_at"))[11:]) for c in info["checkpoints"]]
    runs = []
    workers = [(_cut(p["pipeline"], 40), f"{w['host']}:{w['pid']}", _short(w["since"]), str(w["shards"] or 0),
                _short(w["heartbeat"])[11:]) for p in info.get("pipelines", []) for w in p["workers"] if w["alive"]]
    leases = [(_cut(p["pipeline"], 40), lease["shard"], lease.get("worker") or "(free)",
               "" if lease.get("lag_ms") is None else _duration(lease["lag_ms"] / 1000))
              for p in info.get("pipelines", []) if p["workers"] for lease in p["leases"]]
    for r in info["runs"]:
        skipped = sum(r[k] or 0 for k in ("superseded", "duplicates_skipped", "stale_skipped", "ttl_ignored"))
        runs.append((str(r["run_id"]), _short(r["started_at"])[5:], _duration(r.get("seconds")), r["status"],
                     f"{r['records_read']:,}", f"{r['changes_applied']:,}", f"{skipped:,}",
                     f"{r['rejected']:,}" if r["rejected"] else "",
                     "" if r.get("records_per_s") is None else f"{r['records_per_s']:,.0f}"))
    for title, table in (
        ("tables", _table("tables", ("table", "rows>", "columns>", "last change", "last sync", "lag>"), tables)),
        ("checkpoints", _table("checkpoints", ("source", "shard", "position", "file done", "lag>", "lag as of"),
                               shards)),
        ("runs", _table("recent runs", ("run>", "started", "took>", "status", "read>", "applied>", "skipped>",
                                        "rejected>", "records/s>"), runs)),
    ):
        parts.append(table if table.row_count else Text(f"no {title} yet", style="dim"))
    if workers:  # several workers of a pipeline (leases.py): who holds which shard
        parts.append(_table("workers", ("pipeline", "worker", "since", "shards>", "heartbeat"), workers))
        parts.append(_table("shard leases", ("pipeline", "shard", "owner", "lag>"), leases))
    errors = [f"run {r['run_id']}: {r['error']}" for r in info["runs"] if r["error"]][:3]
    parts += [Text(f"  {e}", style="red") for e in errors]
    if info["rejected"]:
        parts.append(Text(f"{info['rejected']:,} rejected records in dynashift.rejected", style="yellow"))
    return Group(*parts)


def _table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    """A borderless table of the columns that hold something in at least one row."""
    keep = [i for i in range(len(columns)) if any(row[i] for row in rows)] if rows else range(len(columns))
    table = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False, header_style="dim",
                  padding=(0, 2, 0, 0))
    for i in keep:
        col = columns[i]
        table.add_column(col.rstrip(">"), justify="right" if col.endswith(">") else "left", no_wrap=True)
    for row in rows:
        table.add_row(*[_status(row[i]) if columns[i] == "status" else row[i] for i in keep])
    return table


def _last_batch(info: dict[str, Any]) -> str:
    b = info.get("last_batch")
    if not b or not b.get("applied_at"):
        return "no batch applied yet"
    ago = (datetime.now(timezone.utc) - datetime.fromisoformat(b["applied_at"])).total_seconds()
    lag = "" if b.get("lag_ms") is None else f", {_duration(b['lag_ms'] / 1000)} behind"
    return f"last batch {_duration(max(ago, 0))} ago: {b['records']:,} records in {_duration(b['seconds'])}{lag}"


def _status(status: str) -> Text:
    color = {"ok": "green", "running": "cyan", "failed": "red", "interrupted": "yellow", "lost": "yellow"}.get(status, "white")
    return Text(status, style=color)


def _duration(seconds: float | None) -> str:
    """A whole number in the largest unit that keeps it readable: 850 ms, 45 s, 12 min, 5 h, 3 d, 2 y."""
    if seconds is None:
        return ""
    for limit, unit, div in ((1, "ms", 0.001), (120, "s", 1), (7200, "min", 60), (172800, "h", 3600),
                             (63072000, "d", 86400)):
        if abs(seconds) < limit:
            return f"{seconds / div:,.0f} {unit}"
    return f"{seconds / 31557600:,.0f} y"


def _short(ts: str | None) -> str:
    """An ISO time to the minute: 2026-11-29 20:10."""
    return ts.replace("T", " ")[:16] if ts else ""


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def show_status(read: Callable[[], dict[str, Any]], as_json: bool, watch: float | None) -> None:
    """Print the status once, or every `watch` seconds until Ctrl-C / SIGTERM (exit 0). In a
    terminal the screen is redrawn in place; otherwise each refresh is printed after the last."""
    if not watch:
        info = read()
        if as_json:
            sys.stdout.write(orjson.dumps(info, option=orjson.OPT_INDENT_2).decode() + "\n")
        else:
            out.print(render_status(info))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    def frame() -> RenderableType:
        try:
            return render_status(read())
        except DynashiftError as exc:  # e.g. DuckDB locked by a running `run`: keep watching
            return Text(f"cannot read the target: {mask(str(exc))}", style="red")

    try:
        if as_json:
            while True:
                sys.stdout.write(orjson.dumps(read()).decode() + "\n")
                sys.stdout.flush()
                time.sleep(watch)
        elif out.is_terminal:
            from rich.live import Live

            with Live(frame(), console=out, auto_refresh=False, screen=False) as live:
                while True:
                    time.sleep(watch)
                    live.update(frame(), refresh=True)
        else:
            while True:
                out.rule(datetime.now().strftime("%H:%M:%S"), style="dim")
                out.print(frame())
                out.file.flush()
                time.sleep(watch)
    except KeyboardInterrupt:
        return


