"""`dynashift verify`: compare a replicated table with its DynamoDB table (verify.py).
Parsing, output and exit status only: 0 when they match, 1 when differences remain, 2 for bad
usage or configuration."""

from __future__ import annotations

import sys
from typing import Any

import click
import orjson

from .. import aws
from ..targets import open_target
from ..verify import verify as run_verify

from .common import config_from, err, guarded, out



@click.command()
@click.option("--table", required=True, help="The replicated table (its name in the warehouse, or the DynamoDB table's).")
@click.option("--sample", type=click.IntRange(min=1), help="Check about N keys (half drawn from the warehouse, read "
              "with BatchGetItem; half from a random Scan segment) instead of scanning the whole table.")
@click.option("--settle", default=5.0, show_default=True, type=float,
              help="Seconds to wait before reading a difference again (changes in flight are not differences).")
@click.option("--target", help="duckdb:///PATH (default duckdb:///dynashift.duckdb), postgresql://…, redshift://…")
@click.option("--schema", "schema_name", help="Schema of the replicated tables.")
@click.option("--endpoint-url", help="AWS endpoint, e.g. a local one (http://127.0.0.1:5000).")
@click.option("--region", help="AWS region (default: the AWS settings).")
@click.option("--profile", help="AWS profile (default: the standard credential chain).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (default ./dynashift.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@guarded
def verify(table: str, sample: int | None, settle: float, config_path: str | None, as_json: bool, **flags: Any) -> None:
    """Compare TABLE in the warehouse with DynamoDB: missing, extra and different rows, by key
    and rendered value. Exit status 1 when differences remain after reading them again."""
    config = config_from(flags, config_path)
    # the target first: a target with nothing replicated is the first thing to say
    with open_target(config, mode="read") as target:
        client = aws.client(config, "dynamodb")
        report = run_verify(target, client, table, sample=sample, settle=settle)
    if as_json:
        sys.stdout.write(orjson.dumps(report.as_dict(), default=str).decode() + "\n")
    else:
        _print(report)
    if report.differences:
        sys.exit(1)


def _print(report: Any) -> None:
    what = "a sample of" if report.mode == "sample" else "all of"
    out.print(f"{report.table} (DynamoDB {report.source_table}): checked {report.checked:,} keys, {what} the table",
              highlight=False)
    for d in report.differences[:100]:
        out.print(f"  {d.line()}", highlight=False, markup=False)
    if len(report.differences) > 100:
        out.print(f"  … and {len(report.differences) - 100:,} more (use --json for all)", highlight=False)
    summary = (f"{report.count('missing')} missing, {report.count('extra')} extra, {report.count('different')} different"
               + (f"; {report.in_flight} changed while checked, matched when read again" if report.in_flight else ""))
    (err if report.differences else out).print(("differences: " if report.differences else "match: ") + summary,
                                               highlight=False)
