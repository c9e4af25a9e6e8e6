"""Operating dynashift from the command line: `init` (a commented dynashift.toml), `doctor`
(checks with fixes), `report` (an HTML page of charts). Parsing, output and exit codes only; the
logic is in doctor.py, status_info.py, report.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import orjson

from ..config import CONFIG_FILE, Config
from ..errors import ConfigError
from .common import config_from, err, guarded, out


# ---------------------------------------------------------------- init


@click.command()
@click.option("--source", "source", default="file", show_default=True,
              help="file, kinesis, dynamodb-streams, export or redshift-mv — or a full URI (kinesis://orders-changes).")
@click.option("--target", "target", default="duckdb", show_default=True,
              help="duckdb, postgresql or redshift — or a full URI.")
@click.option("--out", "out_path", default=CONFIG_FILE, show_default=True, type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@guarded
def init(source: str, target: str, out_path: str, force: bool) -> None:
    """Write a commented dynashift.toml for SOURCE and TARGET."""
    from ..config_text import config_text

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
@click.option("--schema", "schema_name", help="Schema for replicated tables (checked for CREATE).")
@click.option("--table", "tables", multiple=True, help="DynamoDB table whose Kinesis destination to check "
              "(repeatable; default: `include`, else every table streaming into the stream).")
@click.option("--role-arn", help="The IAM role Redshift assumes to read Kinesis (native path).")
@click.option("--stream", help="With --role-arn: the Kinesis stream the role must read (default: from --source).")
@click.option("--endpoint-url", help="AWS endpoint, e.g. a local one.")
@click.option("--region", help="AWS region.")
@click.option("--profile", help="AWS profile.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (default ./dynashift.toml).")
@click.option("--json", "as_json", is_flag=True, help="One JSON document: the checks and whether all passed.")
@guarded
def doctor(tables: tuple[str, ...], role_arn: str | None, stream: str | None, config_path: str | None,
           as_json: bool, **flags: Any) -> None:
    """Check the setup: credentials, the stream and DynamoDB's side of it, the target, the Redshift
    role. One line per check with the fix; exit 1 when any check fails."""
    from ..doctor import FAIL, Check, Options, diagnose

    missing: list[str] = []  # unset ${VAR}s: a failed check each, not the end of the checks
    config = config_from(flags, config_path, missing)
    file = config_path or CONFIG_FILE
    unset = [Check("config", FAIL, f"{file} refers to ${{{var}}}, which is not set in the environment",
                   f"export {var}=… before running dynashift (or edit {file})") for var in dict.fromkeys(missing)]
    checks = []
    marks = {"pass": "[green]✔[/]", "warn": "[yellow]![/]", "fail": "[red]✘[/]", "skip": "[dim]-[/]"}
    for check in [*unset, *diagnose(config, Options(tables, role_arn, stream))]:
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
@guarded
def report(target: str | None, schema_name: str | None, out_path: str, runs: int, config_path: str | None) -> None:
    """Write a self-contained HTML page: health, throughput, lag and batch sizes over recent runs,
    tables and their growth."""
    from ..status_info import gather, history
    from ..report import render_html
    from ..targets import open_target

    folder = Path(out_path).expanduser().resolve().parent
    if not folder.is_dir():
        raise ConfigError(f"--out {out_path}: folder {folder} does not exist")
    config: Config = config_from({"target": target, "schema": schema_name}, config_path)
    with open_target(config, mode="read") as tgt:
        info, past = gather(tgt), history(tgt, runs)
    Path(out_path).write_text(render_html(info, past), "utf-8")
    n, r = len(past["batches"]), len(past["runs"])
    err.print(f"wrote {out_path} ({n:,} batch{'es' if n != 1 else ''} of {r} run{'s' if r != 1 else ''})",
              highlight=False)


__all__ = ["doctor", "init", "report"]
