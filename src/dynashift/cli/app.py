"""The `dynashift` command group: every command registered in one place."""

from __future__ import annotations

import click

from .load import backfill, export
from .ops import doctor, init, report
from .redshift import redshift
from .run import run
from .simulate import simulate
from .status import status
from .verify import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dynashift")
def main() -> None:
    """Keep SQL tables in sync with DynamoDB tables from their change stream."""


for command in (run, status, simulate, backfill, export, doctor, init, report, verify, redshift):
    main.add_command(command)
