"""Full loads from the command line: `dynashift backfill --table T --scan` and
`dynashift export start|load`. Parsing, progress and exit codes only; the loading itself is the
sources' (sources/scan.py, sources/export.py) and the pipeline's.

Both end in the same place as `run`: items applied in one transaction per batch with their
checkpoints, so Ctrl-C (or SIGTERM) finishes the batch in hand, commits and exits 0, and running
the same command again continues where it stopped.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import aws
from ..config import Config, parse_duration
from ..decode import parse_time, table_from_arn
from ..errors import BadRecordError, ConfigError, SourceError

from .common import AWS_OPTIONS, TARGET_OPTIONS, config_from, err, guarded, load_items, options







# ---------------------------------------------------------------- backfill


@click.command()
@click.option("--table", required=True, help="The DynamoDB table to load.")
@click.option("--scan", "use_scan", is_flag=True, help="Read the table by parallel Scan.")
@click.option("--segments", "scan_segments", type=int, help="Parallel Scan segments (default 4).")
@click.option("--rate", "scan_rate", type=float, help="Read capacity units per second, all segments together "
              "(default: unlimited). Keep it well under the table's spare capacity.")
@click.option("--consistent-read", is_flag=True, help="Strongly consistent reads (twice the capacity).")
@click.option("--restart", is_flag=True, help="Begin a new scan instead of continuing an interrupted one.")
@options(TARGET_OPTIONS + AWS_OPTIONS)
@guarded
def backfill(table: str, use_scan: bool, consistent_read: bool, restart: bool, config_path: str | None,
             quiet: bool, **flags: Any) -> None:
    """Load a table's existing items by parallel Scan, rate-limited, at the scan's start time:
    stream changes newer than the scan then win, older ones are skipped."""
    from ..sources.scan import ScanSource

    if not use_scan:
        raise ConfigError("backfill reads the table by Scan: add --scan (to load an export instead: "
                          "`dynashift export start`, or `dynashift run --once --source export://…`)")
    config = config_from(flags, config_path)
    source = ScanSource(table, config, consistent=consistent_read, restart=restart)
    load_items(config, source, f"scanning {table}", quiet)


# ---------------------------------------------------------------- export start | load


@click.group()
def export() -> None:
    """DynamoDB exports to S3: ask for a point-in-time export, wait for it, load it."""


@export.command("start")
@click.option("--table", required=True, help="The DynamoDB table to export (point-in-time recovery must be on).")
@click.option("--s3", "s3_url", required=True, help="s3://BUCKET/PREFIX where DynamoDB writes the export.")
@click.option("--export-time", help="The point in time (ISO 8601 or epoch; default: now).")
@click.option("--incremental-from", help="An incremental export of the changes since this time, up to "
              "--export-time (or now).")
@click.option("--s3-owner", help="Account that owns the bucket, when not yours.")
@click.option("--kms-key", help="KMS key for the export's objects (default: SSE-S3).")
@click.option("--no-wait", is_flag=True, help="Start the export and exit; load it later with `export load ARN`.")
@click.option("--poll", default="10s", show_default=True, help="How often to ask whether the export is done.")
@options(TARGET_OPTIONS + AWS_OPTIONS)
@guarded
def start(table: str, s3_url: str, export_time: str | None, incremental_from: str | None, s3_owner: str | None,
          kms_key: str | None, no_wait: bool, poll: str, config_path: str | None, quiet: bool, **flags: Any) -> None:
    """Ask DynamoDB for an export of TABLE to S3 (ExportTableToPointInTime), wait, then load it."""
    config = config_from(flags, config_path)
    client = aws.client(config, "dynamodb")
    bucket, prefix = _s3(s3_url)
    desc = aws.call(client.describe_table, f"DynamoDB DescribeTable {table}", TableName=table)["Table"]
    params: dict[str, Any] = {"TableArn": desc["TableArn"], "S3Bucket": bucket, "ExportFormat": "DYNAMODB_JSON"}
    params.update({k: v for k, v in (("S3Prefix", prefix), ("S3BucketOwner", s3_owner)) if v})
    if kms_key:
        params.update(S3SseAlgorithm="KMS", S3SseKmsKeyId=kms_key)
    at = _time(export_time) if export_time else None
    if incremental_from:
        params.update(ExportType="INCREMENTAL_EXPORT", IncrementalExportSpecification={
            "ExportFromTime": _time(incremental_from), "ExportToTime": at or datetime.now(timezone.utc),
            "ExportViewType": "NEW_AND_OLD_IMAGES"})
    elif at:
        params["ExportTime"] = at
    try:
        out = aws.call(client.export_table_to_point_in_time, f"DynamoDB ExportTableToPointInTime {table}", **params)
    except aws.AwsError as exc:
        if exc.code == "PointInTimeRecoveryUnavailableException":
            raise ConfigError(f"point-in-time recovery is off on table {table}: turn it on (aws dynamodb "
                              f"update-continuous-backups --table-name {table} --point-in-time-recovery-specification "
                              "PointInTimeRecoveryEnabled=true) and start again") from None
        raise
    arn = out["ExportDescription"]["ExportArn"]
    err.print(f"export started: {arn}\n(if interrupted: dynashift export load {arn})", highlight=False)
    if not no_wait:
        _wait_and_load(client, arn, config, parse_duration(poll), quiet)


@export.command("load")
@click.argument("export_arn")
@click.option("--poll", default="10s", show_default=True, help="How often to ask whether the export is done.")
@options(TARGET_OPTIONS + AWS_OPTIONS)
@guarded
def load(export_arn: str, poll: str, config_path: str | None, quiet: bool, **flags: Any) -> None:
    """Wait for an export started earlier (by ARN) and load it; continues an interrupted load."""
    config = config_from(flags, config_path)
    _wait_and_load(aws.client(config, "dynamodb"), export_arn, config, parse_duration(poll), quiet)


def wait_for_export(client: Any, arn: str, poll: float, quiet: bool) -> dict[str, Any]:
    """DescribeExport every `poll` seconds until the export is COMPLETED; FAILED ends the command."""
    columns = [SpinnerColumn(), TextColumn("export {task.fields[status]}"), TimeElapsedColumn()]
    with Progress(*columns, console=err, disable=quiet or not err.is_terminal, transient=True) as bar:
        task = bar.add_task("export", status="…")
        while True:
            desc = aws.call(client.describe_export, "DynamoDB DescribeExport", ExportArn=arn)["ExportDescription"]
            status = desc.get("ExportStatus")
            bar.update(task, status=str(status).lower().replace("_", " "))
            if status == "COMPLETED":
                return desc
            if status == "FAILED":
                raise SourceError(f"export {arn} failed: {desc.get('FailureCode')}: {desc.get('FailureMessage')}")
            time.sleep(poll)


def _wait_and_load(client: Any, arn: str, config: Config, poll: float, quiet: bool) -> None:
    from ..sources.export import ExportSource, describe_keys

    desc = wait_for_export(client, arn, poll, quiet)
    manifest = desc.get("ExportManifest") or ""
    folder = manifest.rsplit("/", 1)[0] if "/" in manifest else "/".join(
        p for p in (desc.get("S3Prefix"), "AWSDynamoDB", arn.rsplit("/", 1)[-1]) if p)
    table = table_from_arn(desc.get("TableArn")) or ""
    keys = describe_keys(config, table) if table else None
    source = ExportSource(f"export://s3://{desc['S3Bucket']}/{folder}", config, keys=keys)
    err.print(f"export complete ({desc.get('ItemCount', '?')} items): loading {source.uri}", highlight=False)
    load_items(config, source, f"loading {table or 'export'}", quiet)


# ---------------------------------------------------------------- shared


def _s3(url: str) -> tuple[str, str]:
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise ConfigError(f"--s3 {url!r}: use s3://BUCKET/PREFIX")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix.strip("/")


def _time(text: str) -> datetime:
    try:
        micros = parse_time(datetime.fromisoformat(text.replace("Z", "+00:00"))) if not _is_number(text) \
            else parse_time(text)
    except (ValueError, BadRecordError):
        raise ConfigError(f"{text!r} is not a time: use ISO 8601 (2024-05-01T12:00:00Z) or epoch seconds") from None
    return datetime.fromtimestamp(micros / 1e6, timezone.utc)


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


__all__ = ["backfill", "export"]
