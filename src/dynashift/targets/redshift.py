"""Amazon Redshift, as PostgreSQL's kin: only what differs is written here.

    redshift://USER:PASSWORD@HOST:5439/DB                         redshift_connector, password
    redshift://USER@HOST:5439/DB?iam=true&cluster_identifier=C     redshift_connector, IAM
    redshift:///DB?workgroup=WG                                    Data API: Serverless, IAM only
    redshift:///DB?cluster_identifier=C&db_user=U   (or &secret_arn=ARN)   Data API: provisioned

Options: `region`, `profile`, `endpoint_url`; `s3_staging=s3://BUCKET/PREFIX/` with
`iam_role=ARN` (stage batches as Parquet and COPY them; otherwise multi-row INSERTs);
`distkey`, `sortkey` (default `dist_key`; `auto` or `none`); `case_sensitive=auto|true|false`.
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Iterator, Protocol, Sequence
from urllib.parse import parse_qsl, unquote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import ConfigError, DataTargetError, RetryableTargetError, TargetError, first_line
from ..model import BatchPlan, TableStage, WarehouseStage
from ..schema import WIDENING, AddTable, Naming
from .base import SqlTarget, quote
from .postgres import PostgresTarget
from .redshift_view import timestamp_sql

# ref: https://docs.aws.amazon.com/redshift/latest/dg/r_Character_types.html (VARCHAR: at most 65,535 bytes)
MAX_VARCHAR_BYTES = 65535
# Every session: TIMESTAMP <-> TIMESTAMPTZ conversions in UTC whatever the user's default
# (ref: r_timezone_config.html), and SUPER navigation with case-sensitive unquoted attribute names,
# which the materialized-view path's envelope paths rely on (ref: r_enable_case_sensitive_super_attribute.html).
SESSION_SETTINGS = ("SET timezone TO 'UTC'", "SET enable_case_sensitive_super_attribute TO true")
_RETRYABLE = re.compile(r"serializable isolation|1023|connection|timed? ?out|throttl", re.I)
# Refusals caused by the batch's data (the batch is split to find its records): ref: r_ALTER_TABLE.html
# (1,600 columns), the SQLSTATE classes 22 and 23 of PostgreSQL that Redshift shares.
_DATA = re.compile(r"too many columns|at most 1600 columns|invalid (input syntax|byte sequence)|value too long"
                   r"|out of range|overflow|violates|cannot contain NUL|'C': '2[23]", re.I)
_PLACEHOLDER = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|%s')


@dataclass(slots=True)
class RedshiftOptions:
    host: str = ""
    port: int = 5439
    database: str = "dev"
    user: str | None = None
    password: str | None = None
    iam: bool = False
    workgroup: str | None = None
    cluster_identifier: str | None = None
    db_user: str | None = None
    secret_arn: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None
    s3_staging: str | None = None
    iam_role: str | None = None
    distkey: str = "dist_key"
    sortkey: str = "dist_key"
    case_sensitive: str = "auto"

    @property
    def data_api(self) -> bool:
        return not self.host

    @classmethod
    def from_uri(cls, uri: str) -> RedshiftOptions:
        parts = urlsplit(uri)
        known = {f.name for f in fields(cls)} - {"host", "port", "database", "user", "password"}
        query = dict(parse_qsl(parts.query))
        unknown = sorted(set(query) - known)
        if unknown:
            raise ConfigError(f"unknown Redshift option {unknown[0]!r} in the target URI (known: {', '.join(sorted(known))})")
        opts = cls(host=parts.hostname or "", port=parts.port or 5439, database=unquote(parts.path.lstrip("/")) or "dev",
                   user=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password else None)
        for key, value in query.items():
            setattr(opts, key, value.lower() in ("1", "true", "yes") if key == "iam" else value)
        if opts.data_api and not (opts.workgroup or opts.cluster_identifier):
            raise ConfigError("redshift:///DB needs ?workgroup=NAME (Serverless) or ?cluster_identifier=ID for the Data API,"
                              " or a host: redshift://USER:PASSWORD@HOST:5439/DB")
        if bool(opts.s3_staging) != bool(opts.iam_role):
            raise ConfigError("S3 staging needs both s3_staging=s3://BUCKET/PREFIX/ and iam_role=ARN in the Redshift URI")
        if opts.s3_staging and not opts.s3_staging.startswith("s3://"):
            raise ConfigError(f"s3_staging must be an s3:// URL, not {opts.s3_staging!r}")
        if opts.s3_staging and not opts.s3_staging.endswith("/"):
            opts.s3_staging += "/"
        return opts


class RedshiftTarget(PostgresTarget):
    # ref: https://docs.aws.amazon.com/redshift/latest/dg/r_names.html (127 bytes; ASCII folded to
    # lower case unless enable_case_sensitive_identifier is on)
    # ref: https://docs.aws.amazon.com/redshift/latest/dg/amazon-redshift-limits.html (1,600 columns per table)
    naming = Naming(max_bytes=127, case_insensitive=True, max_columns=1600)
    TEXT = f"VARCHAR({MAX_VARCHAR_BYTES})"  # ref: r_Character_types.html: TEXT would mean VARCHAR(256)
    SEQ_TYPE = f"VARCHAR({MAX_VARCHAR_BYTES})"  # Redshift compares strings bytewise (no locales)
    # ref: https://docs.aws.amazon.com/redshift/latest/dg/r_SYSDATE.html (transaction start; now() is leader-only)
    NOW = "SYSDATE"
    # Typed mode. ref: r_VARBYTE_type.html (at most 1,024,000 bytes), r_TO_VARBYTE.html, JSON_PARSE.html,
    # JSON_SERIALIZE.html: SUPER is Redshift's JSON.
    BINARY = "VARBYTE(1024000)"
    JSON = "SUPER"
    BINARY_FROM_TEXT = "TO_VARBYTE({}, 'base64')"
    JSON_FROM_TEXT = "JSON_PARSE({})"
    JSON_TO_TEXT = "JSON_SERIALIZE({})"
    # ref: r_CREATE_VIEW.html: a late-binding view reads its table's columns when queried, so that a
    # user's query never fails on it; dynashift still drops and makes its views again around column
    # changes, as in PostgreSQL (Redshift's widening drops a column).
    VIEW_OPTIONS = " WITH NO SCHEMA BINDING"
    MULTI_ADD_COLUMN = False  # ref: r_ALTER_TABLE.html: ADD COLUMN adds one column per statement
    COPIES_WINNERS = False  # no COPY from the client: the per-table merge, from a stage (postgres_merge.py)
    engine = "Redshift"

    def __init__(self, uri: str, schema: str | None = None, connection: RedshiftConnection | None = None):
        super().__init__(uri, schema)
        self.options = RedshiftOptions.from_uri(uri)
        self._connection = connection  # the test seam: any RedshiftConnection
        self.session = uuid.uuid4().hex[:12]
        self.application_name = "dynashift"  # the lease keeper's connection says "dynashift-leases"
        self._staged = 0

    def connect(self) -> RedshiftConnection:  # type: ignore[override]
        if self._connection is not None:
            return self._connection
        return DataApiConnection(self.options) if self.options.data_api else ConnectorConnection(self.options, self.application_name)

    def open(self) -> None:
        self.con = self.connect()
        for sql in SESSION_SETTINGS:
            self.execute(sql)
        if self.options.case_sensitive == "true":
            self.execute("SET enable_case_sensitive_identifier TO true")
        self.naming = Naming(self.naming.max_bytes, not self._case_sensitive(), self.naming.max_columns)
        self.refuse_case_insensitive_collation()
        self.prepare_metadata()

    def refuse_case_insensitive_collation(self) -> None:
        """A COLLATE CASE_INSENSITIVE database compares `dist_key` and `seq` without case (keys `A`
        and `a` would merge) and has no SUPER. ref: https://docs.aws.amazon.com/redshift/latest/dg/r_DB_COLLATION.html"""
        try:
            rows = self.query("SELECT db_collation()")
        except TargetError as exc:  # a release before database collation: every database is case-sensitive
            if "db_collation" not in str(exc):
                raise
            rows = []
        if rows and str(rows[0][0]).lower() != "case_sensitive":
            raise ConfigError(f"Redshift database {self.options.database!r} is {rows[0][0]}: dynashift needs a"
                              " case-sensitive database (keys `A` and `a` would merge): CREATE DATABASE … COLLATE"
                              " CASE_SENSITIVE, the default")

    def cluster_defaults(self) -> dict[str, str]:
        """enable_case_sensitive_identifier and timezone as a new session gets them (the parameter
        group's or the user's), before dynashift's own SETs: for `doctor`."""
        con = self.connect()
        try:
            shown = {name: (con.run(f"SHOW {name}", [], True) or [("",)])[0][0]
                     for name in ("enable_case_sensitive_identifier", "timezone")}
            return {name: str(value).lower() if name.startswith("enable") else str(value) for name, value in shown.items()}
        finally:
            if con is not self.con:
                con.close()

    def _case_sensitive(self) -> bool:
        if self.options.case_sensitive in ("true", "false"):
            return self.options.case_sensitive == "true"
        # ref: https://docs.aws.amazon.com/redshift/latest/dg/r_enable_case_sensitive_identifier.html
        rows = self.query("SHOW enable_case_sensitive_identifier")
        return bool(rows) and str(rows[0][0]).lower() in ("on", "true", "1")

    def run_sql(self, sql: str, params: Sequence[Any], fetch: bool) -> list[tuple] | None:
        return self.con.run(sql, params, fetch)

    def sibling(self) -> RedshiftTarget | None:
        if self._connection is not None:
            return None  # a connection handed in (tests): one worker
        other = type(self)(self.uri, self.schema)
        other.application_name = "dynashift-leases"
        other.con = other.connect()
        return other

    def ddl_lock(self, creating: bool = False) -> None:
        """Redshift has no advisory locks: LOCK on a metadata table serializes schema changes
        until the transaction ends. ref: https://docs.aws.amazon.com/redshift/latest/dg/r_LOCK.html"""
        if not creating:  # before the first CREATE there is no table to lock
            self.execute("LOCK dynashift.tables")

    # ------------------------------------------------------------ DDL differences

    def index_ddl(self) -> list[str]:
        return []  # no indexes in Redshift: distribution and sort keys do that job

    def seconds_ago(self) -> str:
        # ref: https://docs.aws.amazon.com/redshift/latest/dg/r_DATEADD_function.html (the interval is an INTEGER)
        return f"DATEADD(second, -CAST({self.param} AS INTEGER), {self.NOW})"

    def expire_tombstones(self, retention_seconds: float) -> int:
        # Whole seconds within DATEADD's INTEGER; "0.0" would not even cast (the Data API sends text).
        return super().expire_tombstones(min(int(retention_seconds), 2**31 - 1))  # type: ignore[arg-type]

    def create_table_sql(self, ch: AddTable, columns_sql: str = "") -> str:
        # ref: https://docs.aws.amazon.com/redshift/latest/dg/r_CREATE_TABLE_NEW.html
        # `auto` (or `none`) leaves the clause out: Redshift then chooses (DISTSTYLE AUTO, SORTKEY AUTO).
        return self._with_keys(SqlTarget.create_table_sql(self, ch, columns_sql))

    def history_table_sql(self, table: str, columns_sql: str) -> str:
        return self._with_keys(SqlTarget.history_table_sql(self, table, columns_sql))

    def widen_column(self, ref: str, column: str, sql_type: str) -> None:
        """Only a VARCHAR's size can change in place (ref: r_ALTER_TABLE.html): a new column takes
        the values, the old one goes, the new one takes its name; all in the batch's transaction."""
        new = quote(WIDENING)
        self.execute(f"ALTER TABLE {ref} ADD COLUMN {new} {sql_type}")
        self.execute(f"UPDATE {ref} SET {new} = CAST({quote(column)} AS {sql_type})")
        try:  # never CASCADE: a user's view on the column must not vanish
            self.execute(f"ALTER TABLE {ref} DROP COLUMN {quote(column)}")
        except TargetError as exc:
            raise TargetError(f"cannot widen column {column!r} of {ref} to {sql_type}: Redshift cannot drop the old"
                              " column while a view (or automatic table optimisation: a sort or distribution key)"
                              " uses it; drop or change that view or key first (dynashift never drops with CASCADE)"
                              f" ({exc})") from None
        self.execute(f"ALTER TABLE {ref} RENAME COLUMN {new} TO {quote(column)}")

    def _with_keys(self, sql: str) -> str:
        dist, sort = self.options.distkey, self.options.sortkey
        if dist not in ("auto", "none", ""):
            sql += f" DISTKEY({quote(dist)})"
        if sort not in ("auto", "none", ""):
            sql += " SORTKEY(" + ", ".join(quote(c.strip()) for c in sort.split(",")) + ")"
        return sql

    # ------------------------------------------------------------ staging

    def stage(self, stage: TableStage) -> str:
        # The materialized-view path stages in SQL (model.WarehouseStage): nothing to load.
        return stage.relation if isinstance(stage, WarehouseStage) else super().stage(stage)

    def stage_rows(self, name: str, data: pa.Table) -> str:
        """With S3 staging, timestamps travel as BIGINT microseconds (`<name>_us`) and become
        TIMESTAMPTZ in SQL: COPY from Parquet runs through Spectrum, which has no TIMESTAMPTZ
        (and has misread INT64 timestamps). Each statement stays small, however wide the table."""
        times = [f.name for f in data.schema if pa.types.is_timestamp(f.type)] if self.options.s3_staging else []
        if not times:
            return super().stage_rows(name, data)
        carried = pa.table({f"{n}_us" if n in times else n: _micros(data.column(n)) if n in times else data.column(n)
                            for n in data.column_names})
        ref = super().stage_rows(name, carried)
        for n in times:
            self.execute(f"ALTER TABLE {ref} ADD COLUMN {quote(n)} {self.TIMESTAMP}")
        self.execute(f"UPDATE {ref} SET " + ", ".join(f"{quote(n)} = {timestamp_sql(quote(n + '_us'))}" for n in times))
        return ref

    def load_stage(self, ref: str, data: pa.Table) -> None:
        if self.options.s3_staging:
            self._copy_from_s3(ref, data)
        else:
            self._insert_rows(ref, data)

    def _insert_rows(self, ref: str, data: pa.Table) -> None:
        """Multi-row INSERTs, each within the driver's bind-parameter and statement-size limits."""
        names = ", ".join(quote(n) for n in data.column_names)
        width = max(1, len(data.column_names))
        budget = self.con.max_statement_bytes
        columns = [c.to_pylist() for c in data.columns]
        rows, params, size = 0, [], 0
        for row in zip(*columns):
            params.extend(row)
            rows += 1
            # values, plus each placeholder's text (`:p12345, ` once the Data API has named it)
            size += sum(len(v.encode()) if isinstance(v, str) else 8 for v in row) + 10 * width
            # ref: 32,767 bind parameters per statement (a 16-bit count in the wire protocol)
            if size >= budget or (rows + 1) * width > 32767:
                self._insert(ref, names, width, rows, params)
                rows, params, size = 0, [], 0
        if rows:
            self._insert(ref, names, width, rows, params)

    def _insert(self, ref: str, names: str, width: int, rows: int, params: list) -> None:
        one = "(" + ", ".join([self.param] * width) + ")"
        self.execute(f"INSERT INTO {ref} ({names}) VALUES " + ", ".join([one] * rows), params)

    def _copy_from_s3(self, ref: str, data: pa.Table) -> None:
        """Parquet keeps NULL apart from '' and maps columns by position; the object is removed
        once COPY has read it. ref: https://docs.aws.amazon.com/redshift/latest/dg/copy-usage_notes-copy-from-columnar.html"""
        self._staged += 1
        sink = pa.BufferOutputStream()
        pq.write_table(data, sink)
        with S3Stage(self.options, f"{self.session}/{self._staged:06d}.parquet", sink.getvalue().to_pybytes()) as url:
            self.execute(f"COPY {ref} FROM {_literal(url)} IAM_ROLE {_literal(self.options.iam_role or '')} FORMAT AS PARQUET")

    # ------------------------------------------------------------ values Redshift cannot hold

    def unstorable(self, values: pa.ChunkedArray) -> list[tuple[pa.ChunkedArray, str]]:
        found = super().unstorable(values)
        too_long = pc.greater(pc.binary_length(values), MAX_VARCHAR_BYTES)
        if pc.any(too_long).as_py():
            found.append((too_long, f"is longer than the {MAX_VARCHAR_BYTES:,} bytes a Redshift VARCHAR holds"))
        return found

    def screen(self, plan: BatchPlan) -> None:
        super().screen(plan)
        for r in plan.rejected:  # the rejected record itself must fit dynashift.rejected."raw"
            raw = r.raw if isinstance(r.raw, bytes) else str(r.raw or "").encode()
            if len(raw) > MAX_VARCHAR_BYTES:
                r.raw = raw[: MAX_VARCHAR_BYTES - 16].decode("utf-8", errors="ignore").encode() + b" [cut]"
                r.reason += f" (record of {len(raw):,} bytes cut to fit Redshift)"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _micros(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """A timestamp column as BIGINT microseconds since the epoch (UTC)."""
    return pc.cast(pc.cast(values, pa.timestamp("us", values.type.tz)), pa.int64())


def named_parameters(sql: str, params: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    """`%s` -> `:pN` for the Data API, whose parameters are non-empty strings: NULL and '' are
    written into the statement instead. ref: https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_SqlParameter.html"""
    values = iter(params)
    out: list[dict[str, str]] = []

    def sub(m: re.Match[str]) -> str:
        if m.group(0) != "%s":
            return m.group(0)
        v = next(values)
        if v is None:
            return "NULL"
        text = ("true" if v else "false") if isinstance(v, bool) else v.isoformat() if isinstance(v, datetime) else str(v)
        if text == "":
            return "''"
        out.append({"name": f"p{len(out) + 1}", "value": text})
        return f":p{len(out)}"

    return _PLACEHOLDER.sub(sub, sql), out


def map_message(message: str) -> TargetError:
    """A Redshift error text -> retryable (serialization conflicts, lost connections) or fatal."""
    line = message.strip().splitlines()[0] if message.strip() else "unknown error"
    cls = RetryableTargetError if _RETRYABLE.search(line) else DataTargetError if _DATA.search(line) else TargetError
    return cls(f"Redshift: {line}")


# ---------------------------------------------------------------- connections (the driver boundary)


class RedshiftConnection(Protocol):
    """What RedshiftTarget needs of a connection: the driver's, the Data API's, or a test's."""

    max_statement_bytes: int  # the longest statement it takes: multi-row INSERTs are cut to fit

    def run(self, sql: str, params: Sequence[Any], fetch: bool) -> list[tuple] | None: ...

    def close(self) -> None: ...


class ConnectorConnection:
    """redshift_connector, with a password or IAM (temporary credentials from the AWS profile)."""

    max_statement_bytes = 8 << 20  # ref: r_INSERT_30.html: statements up to 16 MB

    def __init__(self, opts: RedshiftOptions, application_name: str = "dynashift"):
        import redshift_connector  # noqa: PLC0415 - an optional dependency, loaded only when used

        self.errors = redshift_connector.Error
        args = dict(host=opts.host, port=opts.port, database=opts.database, user=opts.user or "",
                    password=opts.password or "", application_name=application_name)
        if opts.iam:
            args.update(iam=True, db_user=opts.db_user or opts.user, cluster_identifier=opts.cluster_identifier,
                        region=opts.region, profile=opts.profile, password="")
        try:
            self.con = redshift_connector.connect(**{k: v for k, v in args.items() if v is not None})
        except Exception as exc:  # noqa: BLE001 - network, auth and AWS errors all end the same way
            raise TargetError(f"cannot connect to Redshift at {opts.host}:{opts.port}: {first_line(exc)}") from None
        self.con.autocommit = True  # transactions are explicit BEGIN/COMMIT (base.Nesting)

    def run(self, sql: str, params: Sequence[Any], fetch: bool) -> list[tuple] | None:
        cur = self.con.cursor()
        try:
            cur.execute(sql, list(params) if params else None)
            return [tuple(r) for r in cur.fetchall()] if fetch else None
        except self.errors as exc:
            raise map_message(str(exc)) from None
        finally:
            cur.close()

    def close(self) -> None:
        self.con.close()


class DataApiConnection:
    """The Redshift Data API (boto3 `redshift-data`): Serverless and IAM-only setups. One session
    is kept alive so that temporary tables and BEGIN ... COMMIT span calls.
    ref: https://docs.aws.amazon.com/redshift-data/latest/APIReference/API_ExecuteStatement.html"""

    max_statement_bytes = 60_000  # ref: ExecuteStatement: Sql is at most 100,000 characters

    def __init__(self, opts: RedshiftOptions, client: Any = None):
        self.client = client or _aws(opts).client("redshift-data", endpoint_url=opts.endpoint_url)
        where = dict(Database=opts.database, WorkgroupName=opts.workgroup, ClusterIdentifier=opts.cluster_identifier,
                     DbUser=opts.db_user, SecretArn=opts.secret_arn)
        self.where = {k: v for k, v in where.items() if v}
        self.session: str | None = None

    def run(self, sql: str, params: Sequence[Any], fetch: bool) -> list[tuple] | None:
        text, parameters = named_parameters(sql, params)
        args: dict[str, Any] = {"Sql": text, **({"SessionId": self.session} if self.session else
                                                {**self.where, "SessionKeepAliveSeconds": 3600})}
        if parameters:
            args["Parameters"] = parameters
        with _aws_errors():
            sid = self.client.execute_statement(**args)
            self.session = sid.get("SessionId") or self.session
            delay = 0.02
            while (desc := self.client.describe_statement(Id=sid["Id"]))["Status"] not in ("FINISHED", "FAILED", "ABORTED"):
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
            if desc["Status"] != "FINISHED":
                raise map_message(desc.get("Error") or f"statement {desc['Status'].lower()}")
            if not fetch:
                return None
            return self._rows(sid["Id"]) if desc.get("HasResultSet") else []

    def _rows(self, statement: str) -> list[tuple]:
        rows, token = [], None
        while True:
            page = self.client.get_statement_result(Id=statement, **({"NextToken": token} if token else {}))
            types = [c.get("typeName", "") for c in page.get("ColumnMetadata", [])]
            rows += [tuple(_value(f, t) for f, t in zip(record, types)) for record in page["Records"]]
            if not (token := page.get("NextToken")):
                return rows

    def close(self) -> None:
        self.session = None


class S3Stage:
    """Puts one staging object in S3 for COPY, and deletes it when COPY is done with it."""

    def __init__(self, opts: RedshiftOptions, name: str, body: bytes):
        parts = urlsplit(opts.s3_staging or "")
        self.bucket, self.key = parts.netloc, parts.path.lstrip("/") + name
        self.body, self.s3 = body, _aws(opts).client("s3", endpoint_url=opts.endpoint_url)

    def __enter__(self) -> str:
        with _aws_errors(f"cannot write the staging object s3://{self.bucket}/{self.key}"):
            self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=self.body)
        return f"s3://{self.bucket}/{self.key}"

    def __exit__(self, *exc: Any) -> None:
        with _aws_errors(f"cannot delete the staging object s3://{self.bucket}/{self.key}"):
            self.s3.delete_object(Bucket=self.bucket, Key=self.key)


def _aws(opts: RedshiftOptions) -> Any:
    import boto3  # noqa: PLC0415

    return boto3.Session(profile_name=opts.profile, region_name=opts.region)


@contextlib.contextmanager
def _aws_errors(what: str = "Redshift Data API") -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError  # noqa: PLC0415

    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        code = err.get("Code", "")
        cls = RetryableTargetError if re.search(r"Throttl|Exceeded|Internal|Unavailable", code) else TargetError
        raise cls(f"{what}: {code}: {err.get('Message', '')}".rstrip(": ")) from None
    except EndpointConnectionError as exc:
        raise RetryableTargetError(f"{what}: {exc}") from None
    except BotoCoreError as exc:  # no credentials, no region, bad profile: fix the configuration
        raise TargetError(f"{what}: {exc}") from None


def _value(field: dict[str, Any], type_name: str) -> Any:
    if field.get("isNull"):
        return None
    value = next(iter(field.values()))
    if type_name.startswith("timestamp") and isinstance(value, str):
        return datetime.fromisoformat(value)
    return value
