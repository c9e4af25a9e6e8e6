"""Operating dynashift from the command line: `init` (a commented dynashift.toml), `doctor`
(checks with fixes), `report` (an HTML page of charts), and the rendering of `status` (also
`--watch`). Parsing, output and exit codes only; the logic is in doctor.py, overview.py, report.py.
"""

from __future__ import annotations

import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import click
import orjson
from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from .config import CONFIG_FILE, Config, load_config
from .errors import ConfigError, DynashiftError

err = Console(stderr=True)
out = Console()


def _guarded(fn: Any) -> Any:
    """cli.guarded, looked up when called (cli.py imports this module at its end)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .cli import guarded

        return guarded(fn)(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------- status


def render_status(info: dict[str, Any]) -> RenderableType:
    """The `status` screen: a health line, tables, shards, recent runs."""
    state = info["health"]["state"]
    color = {"healthy": "green", "warning": "yellow", "failing": "red", "idle": "cyan"}[state]
    head = Text.assemble((f"● {state}", f"bold {color}"), f"  {info['target']}")
    parts: list[RenderableType] = [head, Text(f"  {_last_batch(info)}", style="dim")]
    parts += [Text(f"  · {note}", style=color) for note in info["health"]["notes"]]
    tables = _table("tables", "table", "rows>", "cols>", "last change", "last sync", "lag>")
    for t in info["tables"]:
        tables.add_row(t["table"], f"{t['rows']:,}", str(t["columns"]), _short(t["last_change"]),
                       _short(t["last_sync"]), _duration(t.get("lag_s")))
    shards = _table("checkpoints", "source", "shard", "position", "done", "lag>", "lag as of")
    for c in info["checkpoints"]:
        lag = c.get("lag_ms")
        shards.add_row(c["source"], c["shard"], _cut(c["position"], 24), "yes" if c["size"] is not None else "",
                       "" if lag is None else _duration(lag / 1000), _short(c.get("lag_updated_at"))[11:])
    runs = _table("recent runs", "run>", "started", "took>", "status", "read>", "applied>", "skipped>", "rejected>",
                  "records/s>")
    for r in info["runs"]:
        skipped = sum(r[k] or 0 for k in ("superseded", "duplicates_skipped", "stale_skipped", "ttl_ignored"))
        runs.add_row(str(r["run_id"]), _short(r["started_at"])[5:16], _duration(r.get("seconds")), _status(r["status"]),
                     f"{r['records_read']:,}", f"{r['changes_applied']:,}", f"{skipped:,}", f"{r['rejected']:,}",
                     "" if r.get("records_per_s") is None else f"{r['records_per_s']:,.0f}")
    for title, table in (("tables", tables), ("checkpoints", shards), ("runs", runs)):
        parts.append(table if table.row_count else Text(f"no {title} yet", style="dim"))
    errors = [f"run {r['run_id']}: {r['error']}" for r in info["runs"] if r["error"]][:3]
    parts += [Text(f"  {e}", style="red") for e in errors]
    if info["rejected"]:
        parts.append(Text(f"{info['rejected']:,} rejected records in dynashift.rejected", style="yellow"))
    return Group(*parts)


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", box=None, pad_edge=False, header_style="dim",
                  padding=(0, 2, 0, 0))
    for col in columns:
        table.add_column(col.rstrip(">"), justify="right" if col.endswith(">") else "left", no_wrap=True)
    return table


def _last_batch(info: dict[str, Any]) -> str:
    b = info.get("last_batch")
    if not b or not b.get("applied_at"):
        return "no batch applied yet"
    ago = (datetime.now(timezone.utc) - datetime.fromisoformat(b["applied_at"])).total_seconds()
    lag = "" if b.get("lag_ms") is None else f", {_duration(b['lag_ms'] / 1000)} behind"
    return f"last batch {_duration(max(ago, 0))} ago: {b['records']:,} records in {_duration(b['seconds'])}{lag}"


def _status(status: str) -> Text:
    color = {"ok": "green", "running": "cyan", "failed": "red", "interrupted": "yellow"}.get(status, "white")
    return Text(status, style=color)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for limit, unit, div in ((1, "ms", 0.001), (120, "s", 1), (7200, "m", 60), (172800, "h", 3600),
                             (63072000, "d", 86400)):
        if abs(seconds) < limit:
            return f"{seconds / div:,.0f} {unit}" if unit == "ms" else f"{seconds / div:,.1f} {unit}"
    return f"{seconds / 31557600:,.1f} y"


def _short(ts: str | None) -> str:
    return ts.replace("T", " ")[:19] if ts else ""


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
            return Text(f"cannot read the target: {exc}", style="red")

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


# ---------------------------------------------------------------- init


@click.command()
@click.option("--source", "source", default="file", show_default=True,
              help="file, kinesis, dynamodb-streams, export or redshift-mv — or a full URI (kinesis://orders-changes).")
@click.option("--target", "target", default="duckdb", show_default=True,
              help="duckdb, postgresql or redshift — or a full URI.")
@click.option("--out", "out_path", default=CONFIG_FILE, show_default=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@_guarded
def init(source: str, target: str, out_path: str, force: bool) -> None:
    """Write a commented dynashift.toml for SOURCE and TARGET."""
    from .scaffold import config_text

    path = Path(out_path)
    if path.exists() and not force:
        raise ConfigError(f"{path} exists: pass --force to overwrite it")
    text = config_text(source, target)
    path.write_text(text, "utf-8")
    edit = "edit the lines marked EDIT, then " if "EDIT:" in text else ""
    err.print(f"wrote {path}. Next: {edit}`dynashift doctor`, then `dynashift run`", highlight=False)


# ---------------------------------------------------------------- doctor


@click.command()
@click.option("--source", help="Source URI (default: `source` in dynashift.toml).")
@click.option("--target", help="Target URI (default: `target` in dynashift.toml).")
@click.option("--table", "tables", multiple=True, help="DynamoDB table whose Kinesis destination to check "
              "(repeatable; default: `include`, else every table streaming into the stream).")
@click.option("--role-arn", help="The IAM role Redshift assumes to read Kinesis (native path).")
@click.option("--stream", help="With --role-arn: the Kinesis stream the role must read (default: from --source).")
@click.option("--endpoint-url", help="AWS endpoint, e.g. a local one.")
@click.option("--region", help="AWS region.")
@click.option("--profile", help="AWS profile.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (default ./dynashift.toml).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: the checks and whether all passed.")
@_guarded
def doctor(tables: tuple[str, ...], role_arn: str | None, stream: str | None, config_path: str | None,
           as_json: bool, **flags: Any) -> None:
    """Check the setup: credentials, the stream and DynamoDB's side of it, the target, the Redshift
    role. One line per check with the fix; exit 1 when any check fails."""
    from .doctor import FAIL, Options, diagnose

    config = load_config(flags, config_path)
    checks = []
    marks = {"pass": "[green]✔[/]", "warn": "[yellow]![/]", "fail": "[red]✘[/]", "skip": "[dim]-[/]"}
    for check in diagnose(config, Options(tables, role_arn, stream)):
        checks.append(check)
        if not as_json:
            out.print(f"{marks[check.status]} {check.name:<22} {check.detail}", highlight=False, soft_wrap=True)
            if check.fix and check.status != "pass":
                out.print(f"  [bold]fix:[/] {check.fix}", highlight=False, soft_wrap=True)
    failed = [c for c in checks if c.status == FAIL]
    if as_json:
        doc = {"ok": not failed, "checks": [c.as_dict() for c in checks]}
        sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        warned = sum(c.status == "warn" for c in checks)
        summary = f"{len(failed)} failed" if failed else "all checks passed"
        out.print(f"\n{summary}" + (f", {warned} warning(s)" if warned else ""), highlight=False)
    if failed:
        sys.exit(1)


# ---------------------------------------------------------------- report


@click.command()
@click.option("--target", help="Target URI (default: `target` in dynashift.toml).")
@click.option("--schema", "schema_name", help="Schema of the replicated tables.")
@click.option("--out", "out_path", default="report.html", show_default=True, type=click.Path(dir_okay=False))
@click.option("--runs", default=50, show_default=True, type=click.IntRange(1, 10_000), help="How many recent runs.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@_guarded
def report(target: str | None, schema_name: str | None, out_path: str, runs: int, config_path: str | None) -> None:
    """Write a self-contained HTML page: health, throughput, lag and batch sizes over recent runs,
    tables and their growth."""
    from .overview import gather, history
    from .report import render_html
    from .targets import make_target

    config: Config = load_config({"target": target, "schema": schema_name}, config_path)
    tgt = make_target(config.target, config.schema_name)
    tgt.open()
    try:
        info, past = gather(tgt), history(tgt, runs)
    finally:
        tgt.close()
    Path(out_path).write_text(render_html(info, past), "utf-8")
    n, r = len(past["batches"]), len(past["runs"])
    err.print(f"wrote {out_path} ({n:,} batch{'es' if n != 1 else ''} of {r} run{'s' if r != 1 else ''})",
              highlight=False)


__all__ = ["doctor", "init", "report", "render_status", "show_status"]
