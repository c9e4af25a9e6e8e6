"""`dynashift rebuild --table T`: start one table over — after a gap with deletes, or to change its
settings — and load it again from a full load (Scan) or from the stream's start."""

from __future__ import annotations

from typing import Any

import click

from ..errors import ConfigError
from ..identity import pipeline_name
from ..sources import make_source
from ..targets import open_target
from .common import AWS_OPTIONS, TARGET_OPTIONS, config_from, err, guarded, load_items, options, run_with_progress


@click.command()
@click.option("--table", required=True, help="The replicated table (its name in the warehouse or the DynamoDB table's).")
@click.option("--from", "load_from", required=True, type=click.Choice(["scan", "stream", "none"]),
              help="scan: load the DynamoDB table again by Scan now; stream: forget the source's checkpoints and "
                   "replay it from its start now (files, an archive, or what a stream still holds); none: only drop "
                   "(then load it yourself, e.g. `dynashift export start`).")
@click.option("--source", help="With --from stream: the source to replay (default: `source` in dynashift.toml).")
@click.option("--pipeline", help="With --from stream: the pipeline to replay (default: the one `run` derives from the "
                                 "source, schema and table filters); the source's other pipelines keep their checkpoints.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@options(TARGET_OPTIONS + AWS_OPTIONS)
@guarded
def rebuild(table: str, load_from: str, yes: bool, config_path: str | None, quiet: bool, **flags: Any) -> None:
    """Drop TABLE and what dynashift remembers of it (columns, versions, tombstones; with
    --from stream the source's checkpoints too), then load it again. Stop `run` first."""
    config = config_from(flags, config_path)
    source = None
    if load_from == "stream":
        if not config.source:
            raise ConfigError("--from stream needs the source: pass --source or set `source` in dynashift.toml")
        source = make_source(config.source, config)
    if not yes:
        click.confirm(f"drop {table} in {config.target.split('@')[-1]} and load it again from {load_from}?",
                      abort=True, err=True)
    with open_target(config, mode="probe") as target:
        target.require_metadata()  # nothing to rebuild where nothing was replicated
        target.ensure_metadata()
        pipeline = pipeline_name(config, source.uri) if source is not None else None
        name, source_table = target.forget_table(table, source.uri if source is not None else None, pipeline)
        err.print(f"dropped {name} (DynamoDB table {source_table}) and what dynashift remembered of it"
                  + (f"; pipeline {pipeline}'s checkpoints are forgotten" if source is not None else ""), highlight=False)
        if source is not None:
            run_with_progress(config, source, target, quiet or not err.is_terminal, "once")
    if load_from == "scan":
        from ..sources.scan import ScanSource

        load_items(config, ScanSource(source_table, config, restart=True), f"scanning {source_table}", quiet)
    elif load_from == "none":
        err.print(f"now load it again: `dynashift export start --table {source_table} --s3 s3://…` or "
                  f"`dynashift backfill --table {source_table} --scan --restart`, then `dynashift run`",
                  highlight=False)
