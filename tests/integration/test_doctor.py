"""`dynashift doctor` against moto: a sound setup passes, and each misconfiguration it names is
caught with a fix: credentials, the stream, DynamoDB's Kinesis destination per table and its
timestamp precision, a DynamoDB stream's view type, the target, and the Redshift role and policy.

moto has no Kinesis streaming destinations for DynamoDB; `kinesis_destinations` adds the four
calls to the moto server (in this process), keeping the shape of the real answers.
ref: https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeKinesisStreamingDestination.html
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import boto3
import orjson
import pytest
from click.testing import CliRunner
from moto.core.responses import ActionResult
from moto.dynamodb.responses import DynamoHandler
from support.moto_server import moto_endpoint  # noqa: F401 - the fixture
from support.pg import pg_url  # noqa: F401 - the fixture

from dynashift.cli import main
from dynashift.redshift_native import iam_policy

DESTINATIONS: dict[str, list[dict[str, Any]]] = {}  # table -> its Kinesis destinations
_names = iter(range(1_000_000))


def _table_or_404(handler: DynamoHandler) -> str:
    name = handler.body["TableName"]
    handler.dynamodb_backend.describe_table(name)  # ResourceNotFoundException when absent
    return name


def _enable(self: DynamoHandler) -> ActionResult:
    name = _table_or_404(self)
    precision = (self.body.get("EnableKinesisStreamingConfiguration") or {}).get(
        "ApproximateCreationDateTimePrecision", "MILLISECOND")
    dest = {"StreamArn": self.body["StreamArn"], "DestinationStatus": "ACTIVE",
            "ApproximateCreationDateTimePrecision": precision}
    DESTINATIONS.setdefault(name, []).append(dest)
    return ActionResult({"TableName": name, "StreamArn": dest["StreamArn"], "DestinationStatus": "ENABLING",
                         "EnableKinesisStreamingConfiguration": {"ApproximateCreationDateTimePrecision": precision}})


def _describe(self: DynamoHandler) -> ActionResult:
    name = _table_or_404(self)
    return ActionResult({"TableName": name, "KinesisDataStreamDestinations": DESTINATIONS.get(name, [])})


def _disable(self: DynamoHandler) -> ActionResult:
    name = _table_or_404(self)
    for d in DESTINATIONS.get(name, []):
        if d["StreamArn"] == self.body["StreamArn"]:
            d["DestinationStatus"] = "DISABLED"
    return ActionResult({"TableName": name, "StreamArn": self.body["StreamArn"], "DestinationStatus": "DISABLING"})


def _update(self: DynamoHandler) -> ActionResult:
    name = _table_or_404(self)
    precision = self.body["UpdateKinesisStreamingConfiguration"]["ApproximateCreationDateTimePrecision"]
    for d in DESTINATIONS.get(name, []):
        if d["StreamArn"] == self.body["StreamArn"]:
            d["ApproximateCreationDateTimePrecision"] = precision
    return ActionResult({"TableName": name, "StreamArn": self.body["StreamArn"], "DestinationStatus": "UPDATING"})


@pytest.fixture(scope="module")
def aws(moto_endpoint: str) -> Iterator[str]:
    """moto, with DynamoDB's Kinesis streaming destination calls added."""
    calls = {"enable_kinesis_streaming_destination": _enable, "describe_kinesis_streaming_destination": _describe,
             "disable_kinesis_streaming_destination": _disable, "update_kinesis_streaming_destination": _update}
    for name, fn in calls.items():
        setattr(DynamoHandler, name, fn)
    try:
        yield moto_endpoint
    finally:
        for name in calls:
            delattr(DynamoHandler, name)


def client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint)


def new_table(endpoint: str, stream_view: str | None = None) -> str:
    name = f"DoctorOrders{next(_names)}"
    spec = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": stream_view}} if stream_view else {}
    client(endpoint, "dynamodb").create_table(
        TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST", **spec)
    return name


def new_stream(endpoint: str) -> tuple[str, str]:
    name = f"doctor-changes-{next(_names)}"
    k = client(endpoint, "kinesis")
    k.create_stream(StreamName=name, ShardCount=1)
    return name, k.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]


def doctor(endpoint: str, tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    """Run `dynashift doctor --json` in this process (the moto server's); (exit code, its document)."""
    target = ["--target", f"duckdb:///{tmp_path / 'r.duckdb'}"] if "--target" not in args else []
    result = CliRunner().invoke(main, ["doctor", "--json", "--endpoint-url", endpoint, *target, *args], env=env,
                                catch_exceptions=False)
    return result.exit_code, orjson.loads(result.stdout)


def by_name(doc: dict) -> dict[str, dict[str, str]]:
    return {c["name"]: c for c in doc["checks"]}


# ---------------------------------------------------------------- Kinesis


def test_a_sound_kinesis_setup_passes_every_check(aws: str, tmp_path: Path) -> None:
    stream, arn = new_stream(aws)
    table = new_table(aws)
    client(aws, "dynamodb").enable_kinesis_streaming_destination(
        TableName=table, StreamArn=arn,
        EnableKinesisStreamingConfiguration={"ApproximateCreationDateTimePrecision": "MICROSECOND"})
    code, doc = doctor(aws, tmp_path, "--source", f"kinesis://{stream}", "--table", table)
    assert code == 0 and doc["ok"], doc
    checks = by_name(doc)
    assert [c["status"] for c in doc["checks"]] == ["pass"] * len(doc["checks"])
    assert {"credentials", "stream", f"destination {table}", f"precision {table}", "target", "writable"} <= set(checks)
    assert "123456789012" in checks["credentials"]["detail"]


def test_without_credentials_it_says_how_to_configure_them(aws: str, tmp_path: Path, monkeypatch) -> None:
    stream, _ = new_stream(aws)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    code, doc = doctor(aws, tmp_path, "--source", f"kinesis://{stream}")
    checks = by_name(doc)
    assert code == 1 and checks["credentials"]["status"] == "fail"
    assert "no AWS credentials" in checks["credentials"]["detail"] and "--profile" in checks["credentials"]["fix"]
    assert checks["stream"]["status"] == "skip"
    assert checks["target"]["status"] == "pass"  # the rest is still checked


def test_a_missing_stream_is_named_with_how_to_create_it(aws: str, tmp_path: Path) -> None:
    code, doc = doctor(aws, tmp_path, "--source", "kinesis://no-such-stream")
    check = by_name(doc)["stream"]
    assert code == 1 and check["status"] == "fail"
    assert "no-such-stream does not exist" in check["detail"] and "aws kinesis create-stream" in check["fix"]


def test_a_table_without_the_kinesis_destination_fails_with_the_command_that_enables_it(aws: str, tmp_path: Path) -> None:
    stream, arn = new_stream(aws)
    table = new_table(aws)
    code, doc = doctor(aws, tmp_path, "--source", f"kinesis://{stream}", "--table", table)
    check = by_name(doc)[f"destination {table}"]
    assert code == 1 and check["status"] == "fail"
    assert f"aws dynamodb enable-kinesis-streaming-destination --table-name {table} --stream-arn {arn}" in check["fix"]
    assert "ApproximateCreationDateTimePrecision=MICROSECOND" in check["fix"]


def test_a_disabled_destination_or_one_into_another_stream_fails(aws: str, tmp_path: Path) -> None:
    stream, arn = new_stream(aws)
    _, other = new_stream(aws)
    off, elsewhere = new_table(aws), new_table(aws)
    ddb = client(aws, "dynamodb")
    ddb.enable_kinesis_streaming_destination(TableName=off, StreamArn=arn)
    ddb.disable_kinesis_streaming_destination(TableName=off, StreamArn=arn)
    ddb.enable_kinesis_streaming_destination(TableName=elsewhere, StreamArn=other)
    code, doc = doctor(aws, tmp_path, "--source", f"kinesis://{stream}", "--table", off, "--table", elsewhere)
    checks = by_name(doc)
    assert code == 1
    assert checks[f"destination {off}"]["status"] == "fail" and "it is disabled" in checks[f"destination {off}"]["detail"]
    assert checks[f"destination {elsewhere}"]["status"] == "fail"


def test_millisecond_timestamps_are_a_warning_with_the_update_command(aws: str, tmp_path: Path) -> None:
    stream, arn = new_stream(aws)
    table = new_table(aws)
    client(aws, "dynamodb").enable_kinesis_streaming_destination(TableName=table, StreamArn=arn)  # default: ms
    code, doc = doctor(aws, tmp_path, "--source", f"kinesis://{stream}", "--table", table)
    check = by_name(doc)[f"precision {table}"]
    assert code == 0 and check["status"] == "warn"  # a warning does not fail the doctor
    assert "tie" in check["detail"] and "update-kinesis-streaming-destination" in check["fix"]
    client(aws, "dynamodb").update_kinesis_streaming_destination(
        TableName=table, StreamArn=arn,
        UpdateKinesisStreamingConfiguration={"ApproximateCreationDateTimePrecision": "MICROSECOND"})
    assert by_name(doctor(aws, tmp_path, "--source", f"kinesis://{stream}", "--table", table)[1])[
        f"precision {table}"]["status"] == "pass"


def test_a_missing_table_is_named(aws: str, tmp_path: Path) -> None:
    stream, _ = new_stream(aws)
    code, doc = doctor(aws, tmp_path, "--source", f"kinesis://{stream}", "--table", "NoSuchTable")
    check = by_name(doc)["table NoSuchTable"]
    assert code == 1 and check["status"] == "fail" and "does not exist" in check["detail"]


def test_without_named_tables_it_finds_those_streaming_into_the_stream(aws: str, tmp_path: Path) -> None:
    stream, arn = new_stream(aws)
    code, doc = doctor(aws, tmp_path, "--source", f"kinesis://{stream}")
    assert code == 1 and by_name(doc)["destination"]["status"] == "fail"
    assert "no DynamoDB table streams into" in by_name(doc)["destination"]["detail"]
    table = new_table(aws)
    client(aws, "dynamodb").enable_kinesis_streaming_destination(
        TableName=table, StreamArn=arn,
        EnableKinesisStreamingConfiguration={"ApproximateCreationDateTimePrecision": "MICROSECOND"})
    code, doc = doctor(aws, tmp_path, "--source", f"kinesis://{stream}")
    assert code == 0 and by_name(doc)[f"destination {table}"]["status"] == "pass"


# ---------------------------------------------------------------- DynamoDB Streams


@pytest.mark.parametrize("view, status", [("NEW_AND_OLD_IMAGES", "pass"), ("NEW_IMAGE", "pass"),
                                          ("KEYS_ONLY", "fail"), ("OLD_IMAGE", "fail")])
def test_a_dynamodb_streams_view_type_without_new_images_fails(aws: str, tmp_path: Path, view: str, status: str) -> None:
    table = new_table(aws, view)
    code, doc = doctor(aws, tmp_path, "--source", f"dynamodb-streams://{table}")
    check = by_name(doc)["view type"]
    assert check["status"] == status and code == (1 if status == "fail" else 0)
    if status == "fail":
        assert view in check["detail"] and "StreamViewType=NEW_AND_OLD_IMAGES" in check["fix"]


def test_a_table_without_a_stream_fails(aws: str, tmp_path: Path) -> None:
    table = new_table(aws)
    code, doc = doctor(aws, tmp_path, "--source", f"dynamodb-streams://{table}")
    check = by_name(doc)["stream"]
    assert code == 1 and check["status"] == "fail" and "StreamEnabled=true" in check["fix"]


# ---------------------------------------------------------------- the target


def test_an_unreachable_target_fails_and_a_missing_folder_too(aws: str, tmp_path: Path) -> None:
    code, doc = doctor(aws, tmp_path, "--source", f"file://{tmp_path}", "--target",
                       "postgresql://someone:secret@127.0.0.1:9/nowhere")
    check = by_name(doc)["target"]
    assert code == 1 and check["status"] == "fail"
    assert "secret" not in json.dumps(doc)  # the password is never printed
    code, doc = doctor(aws, tmp_path, "--source", f"file://{tmp_path}", "--target",
                       f"duckdb:///{tmp_path}/missing/r.duckdb")
    assert code == 1 and "does not exist" in by_name(doc)["target"]["detail"]


def test_a_target_user_who_cannot_create_tables_fails_writable(aws: str, tmp_path: Path, pg_url: str) -> None:
    import psycopg

    from dynashift.targets import make_target

    setup = make_target(pg_url)
    setup.open()  # the metadata schema exists; the user below may use it but not create in it
    setup.close()
    user = f"reader_{os.getpid()}"
    with psycopg.connect(pg_url, autocommit=True) as con:
        con.execute(f"DROP ROLE IF EXISTS {user}")
        con.execute(f"CREATE ROLE {user} LOGIN PASSWORD 'pw'")
        con.execute(f"GRANT USAGE ON SCHEMA dynashift TO {user}")
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA dynashift TO {user}")
        con.execute(f"REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    try:
        url = pg_url.replace("postgres@", f"{user}:pw@", 1)
        code, doc = doctor(aws, tmp_path, "--source", f"file://{tmp_path}", "--target", url)
        checks = by_name(doc)
        assert code == 1 and checks["target"]["status"] == "pass" and checks["writable"]["status"] == "fail"
        assert "grant the user CREATE" in checks["writable"]["fix"]
    finally:
        with psycopg.connect(pg_url, autocommit=True) as con:
            con.execute(f"DROP OWNED BY {user}")
            con.execute(f"DROP ROLE IF EXISTS {user}")


# ---------------------------------------------------------------- the Redshift role (native path)


def new_role(endpoint: str, trust_service: str, policy: dict | None, managed: bool = False) -> str:
    iam = client(endpoint, "iam")
    name = f"doctor-redshift-kinesis-{next(_names)}"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": trust_service},
                                                     "Action": "sts:AssumeRole"}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    if policy and managed:
        p = iam.create_policy(PolicyName=f"{name}-policy", PolicyDocument=json.dumps(policy))["Policy"]["Arn"]
        iam.attach_role_policy(RoleName=name, PolicyArn=p)
    elif policy:
        iam.put_role_policy(RoleName=name, PolicyName="kinesis", PolicyDocument=json.dumps(policy))
    return arn


def native(aws: str, tmp_path: Path, role: str, stream: str, target: str | None = None) -> tuple[int, dict]:
    return doctor(aws, tmp_path, "--source", "redshift-mv://public.dynashift_changes", "--role-arn", role,
                  "--stream", stream, *(["--target", target] if target else []))


def test_the_redshift_role_with_the_policy_setup_prints_passes(aws: str, tmp_path: Path) -> None:
    stream, _ = new_stream(aws)
    role = new_role(aws, "redshift.amazonaws.com", json.loads(iam_policy(stream)), managed=True)
    code, doc = native(aws, tmp_path, role, stream)
    checks = by_name(doc)
    assert checks["redshift trust"]["status"] == "pass" and checks["redshift policy"]["status"] == "pass", doc


def test_a_missing_role_a_role_redshift_cannot_assume_and_a_missing_permission_fail(aws: str, tmp_path: Path) -> None:
    stream, _ = new_stream(aws)
    code, doc = native(aws, tmp_path, "arn:aws:iam::123456789012:role/no-such-role", stream)
    assert code == 1 and by_name(doc)["redshift role"]["status"] == "fail"

    role = new_role(aws, "ec2.amazonaws.com", json.loads(iam_policy(stream)))
    code, doc = native(aws, tmp_path, role, stream)
    trust = by_name(doc)["redshift trust"]
    assert code == 1 and trust["status"] == "fail" and "redshift.amazonaws.com" in trust["fix"]

    policy = json.loads(iam_policy(stream))
    policy["Statement"][0]["Action"].remove("kinesis:GetRecords")
    role = new_role(aws, "redshift-serverless.amazonaws.com", policy)
    code, doc = native(aws, tmp_path, role, stream)
    check = by_name(doc)["redshift policy"]
    assert code == 1 and check["status"] == "fail"
    assert "kinesis:GetRecords" in check["detail"] and "aws iam put-role-policy" in check["fix"]
    assert by_name(doc)["redshift trust"]["status"] == "pass"


def test_a_policy_for_another_stream_or_a_deny_does_not_count(aws: str, tmp_path: Path) -> None:
    stream, _ = new_stream(aws)
    role = new_role(aws, "redshift.amazonaws.com", json.loads(iam_policy("some-other-stream")))
    assert by_name(native(aws, tmp_path, role, stream)[1])["redshift policy"]["status"] == "fail"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kinesis:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "kinesis:GetRecords", "Resource": "*"}]}
    role = new_role(aws, "redshift.amazonaws.com", policy)
    check = by_name(native(aws, tmp_path, role, stream)[1])["redshift policy"]
    assert check["status"] == "fail" and "kinesis:GetRecords" in check["detail"]
    role = new_role(aws, "redshift.amazonaws.com", {"Version": "2012-10-17", "Statement": policy["Statement"][:1]})
    assert by_name(native(aws, tmp_path, role, stream)[1])["redshift policy"]["status"] == "pass"


def test_the_role_must_be_associated_with_the_cluster(aws: str, tmp_path: Path) -> None:
    stream, _ = new_stream(aws)
    role = new_role(aws, "redshift.amazonaws.com", json.loads(iam_policy(stream)))
    redshift = client(aws, "redshift")
    for name, roles in (("doctor-with-role", [role]), ("doctor-without-role", [])):
        redshift.create_cluster(ClusterIdentifier=name, NodeType="ra3.xlplus", MasterUsername="admin",
                                MasterUserPassword="Password1", IamRoles=roles)
    target = "redshift://admin@{}:5439/dev?iam=true&cluster_identifier={}&region=us-east-1"
    checks = by_name(native(aws, tmp_path, role, stream, target.format("h", "doctor-with-role"))[1])
    assert checks["redshift cluster"]["status"] == "pass"
    checks = by_name(native(aws, tmp_path, role, stream, target.format("h", "doctor-without-role"))[1])
    assert checks["redshift cluster"]["status"] == "fail"
    assert "modify-cluster-iam-roles --cluster-identifier doctor-without-role" in checks["redshift cluster"]["fix"]


# ---------------------------------------------------------------- output


def test_the_text_output_has_one_line_per_check_and_a_fix_under_each_failure(aws: str, tmp_path: Path) -> None:
    table = new_table(aws, "KEYS_ONLY")
    result = CliRunner().invoke(main, ["doctor", "--endpoint-url", aws, "--source", f"dynamodb-streams://{table}",
                                       "--target", f"duckdb:///{tmp_path / 'r.duckdb'}"])
    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    assert any(line.startswith("✘ view type") for line in lines)
    fail_at = next(i for i, line in enumerate(lines) if line.startswith("✘"))
    assert lines[fail_at + 1].strip().startswith("fix: ")
    assert any(line.startswith("✔ credentials") for line in lines) and lines[-1] == "1 failed"
