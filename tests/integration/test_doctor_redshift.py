"""`doctor` on a Redshift target: the settings the streaming view and the tables depend on
(identifier case, time zone, collation) and the COPY role's S3 permissions (moto's IAM)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import pytest

from dynashift import Config
from dynashift.doctor import FAIL, PASS, WARN, Options, redshift_settings_checks
from dynashift.errors import ConfigError
from dynashift.targets.redshift import RedshiftTarget
from support.pg import RedshiftOnPostgres, pg_url  # noqa: F401 - pg_url is a fixture
from support.moto_server import moto_endpoint  # noqa: F401 - a fixture
from test_doctor import aws, by_name, doctor, new_role  # noqa: F401 - aws is a fixture


class Defaults:
    """A new session's answers, as a cluster's parameter group sets them."""

    max_statement_bytes = 8 << 20

    def __init__(self, identifiers: str, zone: str):
        self.shown = {"SHOW enable_case_sensitive_identifier": identifiers, "SHOW timezone": zone}

    def run(self, sql: str, params: Sequence[Any], fetch: bool):
        return [(self.shown[sql],)] if sql in self.shown else ([] if fetch else None)

    def close(self) -> None:
        pass


def checks(source: str, stream: str, identifiers: str, zone: str) -> dict[str, tuple[str, str]]:
    target = RedshiftTarget("redshift://h/dev", connection=Defaults(identifiers, zone))
    target.con = target.connect()
    found = redshift_settings_checks(Config(source=source), Options(stream=stream), target)
    return {c.name: (c.status, c.fix or c.detail) for c in found}


def test_a_mixed_case_stream_needs_case_sensitive_identifiers_in_the_parameter_group():
    got = checks("redshift-mv://public.dynashift_changes", "Orders-Stream", "off", "UTC")
    assert got["redshift identifiers"][0] == FAIL and "parameter group" in got["redshift identifiers"][1]
    assert checks("redshift-mv://public.v", "Orders-Stream", "on", "UTC")["redshift identifiers"][0] == PASS
    assert checks("redshift-mv://public.v", "orders-stream", "off", "UTC")["redshift identifiers"][0] == PASS


def test_a_default_time_zone_other_than_utc_is_a_warning_with_the_fix():
    got = checks("kinesis://s", "", "off", "America/New_York")
    assert got["redshift time zone"] == (WARN, got["redshift time zone"][1]) and "timezone=UTC" in got["redshift time zone"][1]
    assert checks("kinesis://s", "", "off", "UTC")["redshift time zone"][0] == PASS


def test_a_case_insensitive_database_is_refused_on_open(pg_url):
    target = RedshiftTarget("redshift://emulated/dev", connection=RedshiftOnPostgres(pg_url, collation="case_insensitive"))
    with pytest.raises(ConfigError, match="needs a case-sensitive database"):
        target.open()
    target.close()


def copy_policy(actions: list[tuple[str, str]]) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": a, "Resource": r} for a, r in actions]}


@pytest.mark.parametrize("actions, status", [
    ([("s3:GetObject", "arn:aws:s3:::stage/dynashift/*")], FAIL),
    ([("s3:GetObject", "arn:aws:s3:::stage/dynashift/*"), ("s3:ListBucket", "arn:aws:s3:::stage")], PASS),
])
def test_the_copy_role_needs_get_object_and_list_bucket(aws: str, tmp_path: Path, actions, status) -> None:  # noqa: F811
    role = new_role(aws, "redshift.amazonaws.com", copy_policy(actions))
    target = f"redshift://u:p@127.0.0.1:1/dev?s3_staging=s3://stage/dynashift/&iam_role={role}"
    _, doc = doctor(aws, tmp_path, "--source", f"file://{tmp_path}", "--target", target)
    check = by_name(doc)["redshift copy role"]
    assert check["status"] == status, check
    if status == FAIL:
        assert "s3:ListBucket on arn:aws:s3:::stage" in check["detail"] and "put-role-policy" in check["fix"]
        assert json.loads(check["fix"].split("--policy-document ", 1)[1].strip("'"))["Statement"]


def test_a_release_without_database_collation_is_taken_as_case_sensitive():
    from dynashift.errors import TargetError
    from test_redshift_sql import Scripted

    class OldRelease(Scripted):
        def run(self, sql, params, fetch):
            if sql == "SELECT db_collation()":
                raise TargetError("Redshift: ERROR: function db_collation() does not exist")
            return super().run(sql, params, fetch)

    target = RedshiftTarget("redshift://h/dev", connection=OldRelease([]))
    target.open()  # no refusal: collations came with the release that added db_collation()
    target.close()
