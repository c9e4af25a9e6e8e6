"""`dynashift doctor`: check a setup before it runs, each check one pass/warn/fail line with the
fix. What it checks follows from the configuration: AWS credentials when a source (or the native
Redshift path) needs AWS; the Kinesis stream and DynamoDB's Kinesis destination of each named table,
with its timestamp precision; a DynamoDB stream's view type; the target, reachable and writable;
and the IAM role Redshift's streaming ingestion assumes.

Checks only read (and write one scratch table in the target, rolled back); nothing is changed.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

from . import aws
from .config import Config
from .errors import DynashiftError

PASS, WARN, FAIL, SKIP = "pass", "warn", "fail", "skip"
REDSHIFT_PRINCIPALS = ("redshift.amazonaws.com", "redshift-serverless.amazonaws.com")
_PERMISSION = re.compile(r"permission denied|access denied|not authorized|insufficient privilege|read-only", re.I)
_AWS_SOURCES = ("kinesis://", "dynamodb-streams://", "export://s3://", "redshift-mv://")


@dataclass
class Check:
    name: str
    status: str  # pass | warn | fail | skip
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass
class Options:
    """What doctor needs beyond the Config: tables to check, and the native Redshift path's role."""

    tables: tuple[str, ...] = ()
    role_arn: str | None = None
    stream: str | None = None


def diagnose(config: Config, options: Options) -> Iterator[Check]:
    """All checks that apply to `config`, in order; a check whose prerequisite failed is skipped."""
    source = config.source or ""
    if not source:
        yield Check("source", FAIL, "no source configured", "set `source` in dynashift.toml or pass --source")
    copy_role = _copy_role(config.target)
    needs_aws = source.startswith(_AWS_SOURCES) or bool(options.role_arn) or bool(copy_role)
    identity: dict[str, Any] | None = None
    if needs_aws:
        check, identity = credentials(config)
        yield check
    aws_ok = identity is not None
    if source.startswith("kinesis://"):
        yield from _skip_without(aws_ok, "stream", lambda: kinesis_checks(config, options, identity or {}))
    elif source.startswith("dynamodb-streams://"):
        yield from _skip_without(aws_ok, "stream", lambda: dynamodb_stream_checks(config))
    elif source.startswith("file://"):
        yield file_check(source)
    if options.role_arn or source.startswith("redshift-mv://"):
        yield from _skip_without(aws_ok, "redshift role", lambda: redshift_role_checks(config, options, identity or {}))
    if copy_role:
        yield from _skip_without(aws_ok, "redshift copy role", lambda: copy_role_checks(config, *copy_role))
    yield from target_checks(config, options)
    yield engine_check()


def engine_check() -> Check:
    """Which engine plans batches: native (Rust) or the pure-Python reference; both are sound."""
    from .planning.engine import ENV, engine_description, stale_native

    try:
        return Check("engine", WARN if stale_native() else PASS, engine_description())
    except DynashiftError as exc:
        return Check("engine", FAIL, str(exc), f"set {ENV} to python or native, or unset it")


def _skip_without(ok: bool, name: str, checks: Callable[[], Iterator[Check]]) -> Iterator[Check]:
    if not ok:
        yield Check(name, SKIP, "skipped: needs working AWS credentials")
        return
    try:
        yield from checks()
    except DynashiftError as exc:  # an unexpected answer: report it, keep checking the rest
        yield Check(name, FAIL, str(exc))


# ---------------------------------------------------------------- AWS


def credentials(config: Config) -> tuple[Check, dict[str, Any] | None]:
    """Who the standard credential chain (or --profile) says we are: STS GetCallerIdentity."""
    fix = ("configure credentials: `aws configure` or `aws sso login`, --profile NAME, AWS_ACCESS_KEY_ID/"
           "AWS_SECRET_ACCESS_KEY, or run with a role (instance, container, IRSA)")
    try:
        who = aws.call(aws.client(config, "sts").get_caller_identity, "STS GetCallerIdentity", attempts=2)
    except aws.Unavailable as exc:  # the endpoint did not answer: not a credentials problem
        return Check("aws endpoint", FAIL, str(exc), "check the network, --region and --endpoint-url"), None
    except DynashiftError as exc:
        return Check("credentials", FAIL, str(exc), fix), None
    region = aws.client(config, "sts").meta.region_name
    return Check("credentials", PASS, f"{who['Arn']} (account {who['Account']}, region {region})"), \
        {"account": who["Account"], "region": region}


def kinesis_checks(config: Config, options: Options, identity: dict[str, Any]) -> Iterator[Check]:
    from .sources.kinesis import stream_from_uri

    stream = stream_from_uri(config.source or "")
    name = next(iter(stream.values())).rsplit("/", 1)[-1]
    client = aws.client(config, "kinesis")
    try:
        summary = aws.call(client.describe_stream_summary, f"Kinesis DescribeStreamSummary {name}", attempts=2,
                           **stream)["StreamDescriptionSummary"]
    except aws.NotFound:
        yield Check("stream", FAIL, f"Kinesis stream {name} does not exist in {identity.get('region')}",
                    f"create it (aws kinesis create-stream --stream-name {name} --stream-mode-details "
                    "StreamMode=ON_DEMAND) or correct the source / --region")
        return
    arn, state = summary["StreamARN"], summary.get("StreamStatus", "")
    detail = (f"{name}: {state.lower()}, {summary.get('OpenShardCount', '?')} open shards, "
              f"{summary.get('RetentionPeriodHours', 24)}h retention")
    yield Check("stream", PASS if state == "ACTIVE" else WARN, detail,
                "" if state == "ACTIVE" else "wait until the stream is ACTIVE")
    yield from destination_checks(config, arn, options.tables or _named_tables(config))


def _named_tables(config: Config) -> tuple[str, ...]:
    names = [*config.include, *([config.table] if config.table else [])]
    return tuple(n for n in names if not re.search(r"[*?\[]", n))


def destination_checks(config: Config, stream_arn: str, tables: tuple[str, ...]) -> Iterator[Check]:
    """DynamoDB's Kinesis streaming destination of each table: on, into this stream, in microseconds."""
    client = aws.client(config, "dynamodb")
    found = tables or _tables_streaming_into(client, stream_arn)
    if not found:
        yield Check("destination", FAIL, f"no DynamoDB table streams into {stream_arn.rsplit('/', 1)[-1]}",
                    _enable_fix("TABLE", stream_arn) + " (or name the tables: doctor --table T)")
        return
    for table in found:
        try:
            out = aws.call(client.describe_kinesis_streaming_destination, f"DynamoDB "
                           f"DescribeKinesisStreamingDestination {table}", attempts=2, TableName=table)
        except aws.NotFound:
            yield Check(f"table {table}", FAIL, f"DynamoDB table {table} does not exist",
                        "correct the table name (--table, `include`) or the region")
            continue
        dests = [d for d in out.get("KinesisDataStreamDestinations", []) if d.get("StreamArn") == stream_arn]
        live = [d for d in dests if d.get("DestinationStatus") in ("ACTIVE", "ENABLING", "UPDATING")]
        if not live:
            now = f" (it is {dests[0].get('DestinationStatus', '').lower()})" if dests else ""
            yield Check(f"destination {table}", FAIL, f"{table} does not stream into this Kinesis stream{now}",
                        _enable_fix(table, stream_arn))
            continue
        d = live[0]
        status = d["DestinationStatus"]
        yield Check(f"destination {table}", PASS if status == "ACTIVE" else WARN,
                    f"{table} → Kinesis: {status.lower()}", "" if status == "ACTIVE" else "wait until it is ACTIVE")
        yield precision_check(table, stream_arn, d.get("ApproximateCreationDateTimePrecision"))


def precision_check(table: str, stream_arn: str, precision: str | None) -> Check:
    if precision == "MICROSECOND":
        return Check(f"precision {table}", PASS, f"{table}: change times in microseconds")
    return Check(
        f"precision {table}", WARN,
        f"{table}: change times in {(precision or 'MILLISECOND').lower()}s: two changes of one item within the "
        "same millisecond tie, and are then ordered by sequence number only",
        f"aws dynamodb update-kinesis-streaming-destination --table-name {table} --stream-arn {stream_arn} "
        "--update-kinesis-streaming-configuration ApproximateCreationDateTimePrecision=MICROSECOND")


def _enable_fix(table: str, stream_arn: str) -> str:
    return (f"aws dynamodb enable-kinesis-streaming-destination --table-name {table} --stream-arn {stream_arn} "
            "--enable-kinesis-streaming-configuration ApproximateCreationDateTimePrecision=MICROSECOND")


def _tables_streaming_into(client: Any, stream_arn: str, limit: int = 100) -> tuple[str, ...]:
    """Tables (the first `limit`) whose Kinesis destination is this stream."""
    names = aws.call(client.list_tables, "DynamoDB ListTables", attempts=2, Limit=limit).get("TableNames", [])
    found = []
    for name in names:
        out = aws.call(client.describe_kinesis_streaming_destination, "DynamoDB DescribeKinesisStreamingDestination",
                       attempts=2, TableName=name)
        if any(d.get("StreamArn") == stream_arn for d in out.get("KinesisDataStreamDestinations", [])):
            found.append(name)
    return tuple(found)


def dynamodb_stream_checks(config: Config) -> Iterator[Check]:
    """The table's own stream: enabled, with new images (docs/reference.md §4 refuses the others)."""
    from .sources.dynamodb_streams import target_from_uri

    name = target_from_uri(config.source or "")
    if name.startswith("arn:"):
        desc = aws.call(aws.client(config, "dynamodbstreams").describe_stream, "DynamoDB Streams DescribeStream",
                        attempts=2, StreamArn=name)["StreamDescription"]
        table, enabled, view = desc.get("TableName", name), True, desc.get("StreamViewType", "")
    else:
        try:
            desc = aws.call(aws.client(config, "dynamodb").describe_table, f"DynamoDB DescribeTable {name}",
                            attempts=2, TableName=name)["Table"]
        except aws.NotFound:
            yield Check("stream", FAIL, f"DynamoDB table {name} does not exist", "correct the source or the region")
            return
        spec = desc.get("StreamSpecification") or {}
        table, enabled, view = name, bool(spec.get("StreamEnabled")), spec.get("StreamViewType", "")
    fix = (f"aws dynamodb update-table --table-name {table} --stream-specification "
           "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES")
    if not enabled:
        yield Check("stream", FAIL, f"table {table} has no DynamoDB stream", fix + ", then run a full load")
    elif view not in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        yield Check("view type", FAIL, f"the stream of {table} is {view}: its records carry no new item image",
                    f"disable the stream, then {fix} (a new stream: run a full load after)")
    elif view == "NEW_IMAGE":
        yield Check("view type", PASS, f"{table}: NEW_IMAGE (NEW_AND_OLD_IMAGES also keeps the values of soft-deleted "
                    "rows exact)")
    else:
        yield Check("view type", PASS, f"{table}: {view}")


def file_check(source: str) -> Check:
    from glob import glob
    from pathlib import Path

    path = source[len("file://"):]
    if Path(path).exists() or glob(path):
        return Check("source", PASS, f"{path} exists")
    return Check("source", FAIL, f"{path} does not exist", "correct `source` (a file, a folder or a glob)")


# ---------------------------------------------------------------- Redshift's streaming ingestion role


def redshift_role_checks(config: Config, options: Options, identity: dict[str, Any]) -> Iterator[Check]:
    """The role Redshift assumes to read Kinesis: it exists, trusts Redshift, allows what the
    streaming view needs on the stream, and (provisioned clusters) is associated with the cluster."""
    from .redshift_native import iam_policy

    if not options.role_arn:
        yield Check("redshift role", SKIP, "pass --role-arn ARN (and --stream NAME) to check the role Redshift "
                    "assumes to read Kinesis")
        return
    role = options.role_arn.rsplit("/", 1)[-1]
    iam = aws.client(config, "iam")
    try:
        got = aws.call(iam.get_role, f"IAM GetRole {role}", attempts=2, RoleName=role)["Role"]
    except aws.NotFound:
        yield Check("redshift role", FAIL, f"role {role} does not exist", "create it (docs/redshift.md), or "
                    "correct --role-arn")
        return
    trust = _document(got.get("AssumeRolePolicyDocument"))
    trusted = [p for p in REDSHIFT_PRINCIPALS if _allows(trust, "sts:AssumeRole", "*", principal=p)]
    yield Check("redshift trust", PASS if trusted else FAIL,
                f"{role} may be assumed by {', '.join(trusted)}" if trusted else f"{role} does not trust Redshift",
                "" if trusted else "add a trust statement: Principal {\"Service\": [\"redshift.amazonaws.com\", "
                "\"redshift-serverless.amazonaws.com\"]}, Action sts:AssumeRole")
    stream = options.stream or (config.source or "").removeprefix("kinesis://") or None
    if not stream or stream.startswith("redshift-mv://"):
        yield Check("redshift policy", SKIP, "pass --stream NAME to check the role's Kinesis permissions")
        return
    stream = stream.rsplit("/", 1)[-1]
    region, account = identity.get("region") or "*", identity.get("account") or "*"
    wanted = json.loads(iam_policy(stream, region, account))
    documents = list(_role_policies(iam, role))
    missing = [f"{action} on {res}" for s in wanted["Statement"] for action in s["Action"]
               for res in [s["Resource"]] if not any(_allows(d, action, res) for d in documents)
               or any(_denies(d, action, res) for d in documents)]
    policy = json.dumps(wanted, separators=(",", ":"))
    yield Check("redshift policy", FAIL if missing else PASS,
                f"{role} lacks {', '.join(missing)}" if missing else f"{role} may read Kinesis stream {stream}",
                f"aws iam put-role-policy --role-name {role} --policy-name dynashift-kinesis --policy-document "
                f"'{policy}'" if missing else "")
    yield from _cluster_association(config, options.role_arn)


def _role_policies(iam: Any, role: str) -> Iterator[dict[str, Any]]:
    for name in aws.call(iam.list_role_policies, "IAM ListRolePolicies", attempts=2, RoleName=role)["PolicyNames"]:
        yield _document(aws.call(iam.get_role_policy, "IAM GetRolePolicy", attempts=2, RoleName=role,
                                 PolicyName=name)["PolicyDocument"])
    attached = aws.call(iam.list_attached_role_policies, "IAM ListAttachedRolePolicies", attempts=2, RoleName=role)
    for p in attached["AttachedPolicies"]:
        version = aws.call(iam.get_policy, "IAM GetPolicy", attempts=2, PolicyArn=p["PolicyArn"])["Policy"]
        doc = aws.call(iam.get_policy_version, "IAM GetPolicyVersion", attempts=2, PolicyArn=p["PolicyArn"],
                       VersionId=version["DefaultVersionId"])["PolicyVersion"]["Document"]
        yield _document(doc)


def _cluster_association(config: Config, role_arn: str) -> Iterator[Check]:
    query = parse_qs(urlsplit(config.target).query)
    cluster = (query.get("cluster_identifier") or [None])[0]
    if not config.target.startswith("redshift://") or not cluster:
        return
    clusters = aws.call(aws.client(config, "redshift").describe_clusters, f"Redshift DescribeClusters {cluster}",
                        attempts=2, ClusterIdentifier=cluster)["Clusters"]
    roles = [r.get("IamRoleArn") for c in clusters for r in c.get("IamRoles", [])]
    ok = role_arn in roles
    yield Check("redshift cluster", PASS if ok else FAIL,
                f"{role_arn.rsplit('/', 1)[-1]} is {'' if ok else 'not '}associated with cluster {cluster}",
                "" if ok else f"aws redshift modify-cluster-iam-roles --cluster-identifier {cluster} "
                f"--add-iam-roles {role_arn}")


def _document(doc: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict (boto3 decodes it) or URL-encoded JSON text."""
    if isinstance(doc, dict):
        return doc
    return json.loads(unquote(doc or "{}"))


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(statement: dict[str, Any], action: str, resource: str, principal: str | None) -> bool:
    def any_match(patterns: list[str], value: str, fold: bool) -> bool:
        return any(fnmatchcase(value.lower() if fold else value, p.lower() if fold else p) for p in patterns)

    if "Action" in statement and not any_match(_listed(statement["Action"]), action, True):
        return False
    if "NotAction" in statement and any_match(_listed(statement["NotAction"]), action, True):
        return False
    if principal is not None:
        who = statement.get("Principal") or {}
        services = _listed(who.get("Service")) if isinstance(who, dict) else _listed(who)
        return principal in services or "*" in services
    if "Resource" in statement:
        return any_match(_listed(statement["Resource"]), resource, False) or \
            any(fnmatchcase(p, resource) for p in _listed(statement["Resource"]))
    return "NotResource" in statement and not any_match(_listed(statement["NotResource"]), resource, False)


def _allows(doc: dict[str, Any], action: str, resource: str, principal: str | None = None) -> bool:
    """Whether an Allow statement covers (action, resource). Conditions are not evaluated."""
    return any(s.get("Effect") == "Allow" and _matches(s, action, resource, principal)
               for s in _listed_statements(doc))


def _denies(doc: dict[str, Any], action: str, resource: str) -> bool:
    return any(s.get("Effect") == "Deny" and _matches(s, action, resource, None) for s in _listed_statements(doc))


def _listed_statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    statements = doc.get("Statement") or []
    return [statements] if isinstance(statements, dict) else list(statements)


# ---------------------------------------------------------------- the target


def target_checks(config: Config, options: Options | None = None) -> Iterator[Check]:
    """Reachable (open, which also creates the metadata schema) and writable (a scratch table in
    schema dynashift, created and dropped inside a transaction that is rolled back)."""
    from .targets import open_target
    from .targets.base import META
    from .targets.redshift import RedshiftTarget

    where = _safe(config.target)
    grant = (f"grant the user CREATE on the database (for schema {META}) and on the target schema, or choose "
             "another --schema")
    if config.target.startswith("duckdb://"):
        fresh = _new_duckdb_file(config.target)
        if fresh is not None:  # nothing to open: doctor creates no file; the first run does
            yield from fresh
            return
    with contextlib.ExitStack() as stack:
        try:  # mode probe: connects only; doctor creates nothing that outlives its rolled-back probe
            target = stack.enter_context(open_target(config, mode="probe"))
        except DynashiftError as exc:
            if _PERMISSION.search(str(exc)):
                yield Check("target", PASS, f"{where} is reachable")
                yield Check("writable", FAIL, f"{where}: {exc}", grant)
            else:
                yield Check("target", FAIL, f"{where}: {exc}", "check the target URI, the network and the credentials")
            return
        yield Check("target", PASS, f"{where} is reachable")
        try:
            target.probe_writes()
        except DynashiftError as exc:
            yield Check("writable", FAIL, f"{where}: {exc}", grant)
        else:
            yield Check("writable", PASS, f"may create tables in schemas {META} and {target.schema}")
        if isinstance(target, RedshiftTarget):
            yield from redshift_settings_checks(config, options or Options(), target)


# ---------------------------------------------------------------- Redshift's settings


def redshift_settings_checks(config: Config, options: Options, target: Any) -> Iterator[Check]:
    """What the cluster's parameter group and database decide: identifier case (and whether the
    streaming view's stream name needs it), the default time zone, the collation (open() refuses
    a case-insensitive database, so reaching here means it is case-sensitive)."""
    from .redshift_native import needs_case_sensitive_identifier

    defaults = target.cluster_defaults()
    on, zone = defaults["enable_case_sensitive_identifier"] in ("on", "true", "1"), defaults["timezone"]
    stream = options.stream or ""
    if config.source and config.source.startswith("redshift-mv://") and needs_case_sensitive_identifier(stream) and not on:
        yield Check("redshift identifiers", FAIL, f"enable_case_sensitive_identifier is off: the streaming view cannot"
                    f" find stream {stream!r} on AUTO REFRESH", "set enable_case_sensitive_identifier=true in the"
                    " cluster's or workgroup's parameter group (before the first run: it also keeps `Name` and `name`"
                    " apart)")
    else:
        yield Check("redshift identifiers", PASS, f"enable_case_sensitive_identifier is {'on' if on else 'off'}:"
                    f" {'`Name` and `name` are two columns' if on else 'attribute names differing in case only get a suffix'}")
    utc = zone.upper() in ("UTC", "GMT", "ETC/UTC", "Z")
    yield Check("redshift time zone", PASS if utc else WARN, f"default time zone {zone}; dynashift's sessions use UTC",
                "" if utc else "set timezone=UTC in the parameter group (or ALTER USER … SET timezone TO 'UTC') so"
                " that readers see TIMESTAMPTZ columns as dynashift writes them")
    yield Check("redshift collation", PASS, "the database is case-sensitive (keys `A` and `a` stay apart)")


def _copy_role(target_uri: str) -> tuple[str, str] | None:
    """(role ARN, s3 staging URL) of a redshift:// target that loads through S3, else None."""
    if not target_uri.startswith("redshift://"):
        return None
    query = parse_qs(urlsplit(target_uri).query)
    role, stage = (query.get("iam_role") or [""])[0], (query.get("s3_staging") or [""])[0]
    return (role, stage) if role and stage else None


def copy_role_checks(config: Config, role_arn: str, stage: str) -> Iterator[Check]:
    """The role COPY assumes reads the staging prefix: s3:GetObject on its objects and
    s3:ListBucket on the bucket. ref: https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-access-permissions.html"""
    role = role_arn.rsplit("/", 1)[-1]
    parts = urlsplit(stage)
    bucket, prefix = parts.netloc, parts.path.lstrip("/")
    iam = aws.client(config, "iam")
    try:
        aws.call(iam.get_role, f"IAM GetRole {role}", attempts=2, RoleName=role)
    except aws.NotFound:
        yield Check("redshift copy role", FAIL, f"role {role} (iam_role of the target) does not exist",
                    "create it, associate it with the cluster or workgroup, or correct iam_role")
        return
    documents = list(_role_policies(iam, role))
    wanted = [("s3:GetObject", f"arn:aws:s3:::{bucket}/{prefix}x.parquet"), ("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    missing = [f"{a} on {r}" for a, r in wanted
               if not any(_allows(d, a, r) for d in documents) or any(_denies(d, a, r) for d in documents)]
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{bucket}"}]}, separators=(",", ":"))
    yield Check("redshift copy role", FAIL if missing else PASS,
                f"{role} lacks {', '.join(missing)}" if missing else f"{role} may read {stage} for COPY",
                f"aws iam put-role-policy --role-name {role} --policy-name dynashift-copy --policy-document '{policy}'"
                if missing else "")


def _new_duckdb_file(uri: str) -> list[Check] | None:
    """The checks for a DuckDB file that does not exist yet (None when it exists): its folder
    must exist and be writable; the file itself is left for the first run to create."""
    import os
    from pathlib import Path

    from .targets.duckdb import path_from_uri

    try:
        path = Path(path_from_uri(uri)).expanduser()
    except DynashiftError as exc:
        return [Check("target", FAIL, str(exc), "use duckdb:///relative/path or duckdb:////absolute/path")]
    if str(path) == ":memory:" or path.exists():
        return None
    folder = path.resolve().parent
    if not folder.is_dir():
        return [Check("target", FAIL, f"{uri}: folder {folder} does not exist", f"create {folder} or correct the target")]
    if not os.access(folder, os.W_OK):
        return [Check("target", PASS, f"{uri}: {path} will be created by the first run"),
                Check("writable", FAIL, f"{folder} is not writable", "choose a folder you may write to")]
    return [Check("target", PASS, f"{uri}: {path} does not exist yet; the first run creates it"),
            Check("writable", PASS, f"{folder} is writable")]


def _safe(uri: str) -> str:
    """A URI without its password, for messages."""
    from .redact import mask

    return mask(uri)
