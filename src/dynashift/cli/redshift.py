"""`dynashift redshift setup`: Redshift's native path, where Redshift reads Kinesis itself."""

from __future__ import annotations


import click

from ..targets import open_target

from .common import config_from, err, guarded, out


@click.group()
def redshift() -> None:
    """Redshift's native path: Redshift reads Kinesis itself (docs/redshift.md)."""


@redshift.command("setup")
@click.option("--target", help="redshift://… (or `target` in dynashift.toml)")
@click.option("--stream", required=True, help="The Kinesis data stream DynamoDB writes to.")
@click.option("--role-arn", required=True, help="IAM role Redshift assumes to read the stream.")
@click.option("--view", default="public.dynashift_changes", show_default=True, help="[SCHEMA.]VIEW to create.")
@click.option("--external-schema", default="dynashift_kinesis", show_default=True)
@click.option("--print-only", is_flag=True, help="Print the SQL and the IAM policy; change nothing.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False))
@guarded
def setup(target: str | None, stream: str, role_arn: str, view: str, external_schema: str,
          print_only: bool, config_path: str | None) -> None:
    """Create the external schema over Kinesis and the auto-refreshed streaming materialized view,
    and print the IAM policy the role needs. Then: dynashift run --source redshift-mv://VIEW."""
    from .. import redshift_native

    config = config_from({"target": target}, config_path)
    statements = redshift_native.setup_statements(view, stream, role_arn, external_schema)
    if not print_only:
        with open_target(config) as tgt:
            redshift_native.setup(tgt, view, stream, role_arn, external_schema)
    out.print("-- parameter group of the cluster or workgroup (AUTO REFRESH runs in sessions of its own):",
              highlight=False, soft_wrap=True)
    for name, value, why in redshift_native.parameter_group_settings(stream, external_schema):
        out.print(f"--   {name} = {value}: {why}", highlight=False, soft_wrap=True)
    if redshift_native.needs_case_sensitive_identifier(stream, external_schema):
        err.print("setup turns enable_case_sensitive_identifier on for its own session; set it in the parameter group"
                  " too, or AUTO REFRESH cannot find the stream", highlight=False, soft_wrap=True)
    for sql in statements:
        out.print(sql + ";", highlight=False, soft_wrap=True)
    err.print(f"IAM policy for {role_arn} (Redshift must be trusted to assume it):", highlight=False)
    out.print(redshift_native.iam_policy(stream), highlight=False, soft_wrap=True)
    if not print_only:
        err.print(f"created; now run: dynashift run --source redshift-mv://{view} --target {config.target}",
                  highlight=False)
