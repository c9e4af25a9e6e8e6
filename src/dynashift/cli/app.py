"""The `dynashift` command group: every command registered in one place."""

from __future__ import annotations

import click

from ..errors import DynashiftError
from .common import LOG_OPTIONS, options
from .load import backfill, export
from .ops import doctor, init, report
from .rebuild import rebuild
from .redshift import redshift
from .run import run
from .simulate import simulate
from .status import status
from .verify import verify


def _version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """--version: the package version and the engine that plans batches (native or Python)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from ..planning.engine import engine_description

    try:
        engine = engine_description()
    except DynashiftError as exc:
        engine = str(exc)
    click.echo(f"dynashift, version {version('dynashift')}\nengine: {engine}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Show the version and which engine runs (native or Python), then exit.")
@options(LOG_OPTIONS)
def main() -> None:
    """Keep SQL tables in sync with DynamoDB tables from their change stream."""


for command in (run, status, simulate, backfill, export, rebuild, doctor, init, report, verify, redshift):
    main.add_command(command)
