"""`dynashift redshift setup` and the pipeline's hand-over to sources applied inside the target."""

from __future__ import annotations

import json

import sqlglot
from click.testing import CliRunner

from dynashift import Config
from dynashift.cli import main
from dynashift.pipeline import replicate


def test_setup_prints_parseable_redshift_sql_and_the_iam_policy():
    result = CliRunner().invoke(main, ["redshift", "setup", "--print-only", "--stream", "ddb-changes",
                                       "--role-arn", "arn:aws:iam::123456789012:role/kinesis-reader"])
    assert result.exit_code == 0, result.output
    statements = [line for line in result.stdout.splitlines() if line.startswith("CREATE ")]
    assert [s.split()[1] for s in statements] == ["EXTERNAL", "MATERIALIZED"]
    assert "FROM KINESIS IAM_ROLE 'arn:aws:iam::123456789012:role/kinesis-reader'" in statements[0]
    sqlglot.parse_one(statements[1].rstrip(";"), read="redshift")
    policy = json.loads(result.stdout[result.stdout.index("{"):])
    assert any("arn:aws:kinesis:*:*:stream/ddb-changes" in str(s["Resource"]) for s in policy["Statement"])
    assert "--   enable_case_sensitive_identifier = true or false" in result.stdout
    assert "--   timezone = UTC" in result.stdout


def test_setup_of_a_mixed_case_stream_sets_case_sensitive_identifiers_and_says_so():
    result = CliRunner().invoke(main, ["redshift", "setup", "--print-only", "--stream", "Orders-Changes",
                                       "--role-arn", "arn:aws:iam::123456789012:role/kinesis-reader"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if not line.startswith("--")]
    assert lines[0] == "SET enable_case_sensitive_identifier TO true;"
    assert 'FROM "dynashift_kinesis"."Orders-Changes"' in result.stdout
    assert "--   enable_case_sensitive_identifier = true: the stream name 'Orders-Changes'" in result.stdout
    assert "set it in the parameter group" in result.stderr


def test_a_source_applied_inside_the_target_gets_the_run(monkeypatch):
    """An InTargetSource (redshift-mv://) is handed to the run lifecycle of sources the target
    applies itself, with the run's hooks; no pipeline of rows, leases or reading starts."""
    import dynashift.pipeline as pipeline

    calls = []

    class InWarehouse:
        uri = "redshift-mv://v"

        def check_target(self, target):
            pass

        def apply_next(self, config, target, state, run):
            return None

    def apply_in_target(config, source, target, **kwargs):
        calls.append((config, source, target, sorted(kwargs)))
        return "counters"

    monkeypatch.setattr(pipeline, "apply_in_target", apply_in_target)
    config = Config(source="redshift-mv://v")
    source = InWarehouse()
    assert replicate(config, source, "the target") == "counters"
    assert calls == [(config, source, "the target", ["follow", "on_batch", "stop"])]
