"""The original design's native path: Redshift reads Kinesis itself, dynashift applies in SQL.

`dynashift redshift setup` creates an external schema over Kinesis and an auto-refreshed streaming
materialized view holding each record's shard, sequence number and parsed JSON. `--source
redshift-mv://[SCHEMA.]VIEW` then applies the view's new rows batch by batch inside the warehouse:
decode, newest change per key, render, and the shared merge, each one set-based statement (no
per-key loop), checkpointed by shard and sequence number in the batch's transaction. Values
plain SQL cannot render exactly (sets, maps, lists, values near 64 KB) are fetched for the few
winning rows that hold them and rendered by decode.py, so the tables match the other paths'.
ref: https://docs.aws.amazon.com/redshift/latest/dg/materialized-view-streaming-ingestion-getting-started.html
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import orjson
import pyarrow as pa

from .config import Config
from .decode import render_item
from .errors import BadRecordError, ConfigError, DynashiftError, SourceError
from .planning import HARD_DELETE, SOFT_DELETE, SOFT_DELETE_WITH_VALUES, UPSERT, BatchPlan, TableStage
from .records import Checkpoint, Rejected
from .schema import (CHANGED_AT, DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VALUES_SEQ,
                     STAGE_VALUES_VERSION, STAGE_VERSION, SchemaState, plan_schema)
from .targets.base import RunCounters, quote

BATCH, CHANGES = "_dynashift_mv_batch", "_dynashift_mv_changes"
_SIMPLE_BYTES = 60_000  # longer values go through decode.py, which rejects what Redshift cannot hold
_SQL_TAGS = ("S", "N", "B")


def setup_statements(view: str, stream: str, role_arn: str, external_schema: str = "dynashift_kinesis") -> list[str]:
    """The external schema over Kinesis and the streaming view. Records that are not JSON keep
    their bytes in `raw` so that they reach dynashift.rejected, never vanish.
    ref: https://docs.aws.amazon.com/redshift/latest/dg/materialized-view-streaming-ingestion-getting-started.html"""
    return [
        f"CREATE EXTERNAL SCHEMA IF NOT EXISTS {quote(external_schema)} FROM KINESIS IAM_ROLE {_literal(role_arn)}",
        f"CREATE MATERIALIZED VIEW {view_ref(view)} AUTO REFRESH YES AS SELECT shard_id, sequence_number,"
        " approximate_arrival_timestamp, refresh_time,"
        " CASE WHEN CAN_JSON_PARSE(kinesis_data) THEN JSON_PARSE(kinesis_data) END AS payload,"
        " CASE WHEN NOT CAN_JSON_PARSE(kinesis_data) THEN kinesis_data END AS raw"
        f" FROM {quote(external_schema)}.{quote(stream)}",
    ]


def iam_policy(stream: str, region: str = "*", account: str = "*") -> str:
    """What the role given to CREATE EXTERNAL SCHEMA needs (attach it; Redshift must be trusted to assume it)."""
    arn = f"arn:aws:kinesis:{region}:{account}:stream/{stream}"
    return orjson.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadStream", "Effect": "Allow", "Resource": arn, "Action": [
            "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:GetRecords", "kinesis:DescribeStream"]},
        {"Sid": "ListStream", "Effect": "Allow", "Resource": "*", "Action": ["kinesis:ListStreams", "kinesis:ListShards"]},
    ]}, option=orjson.OPT_INDENT_2).decode()


def setup(target: Any, view: str, stream: str, role_arn: str, external_schema: str = "dynashift_kinesis") -> list[str]:
    """Run `setup_statements` on an open Redshift target, each in its own transaction (Redshift
    runs CREATE EXTERNAL SCHEMA outside transaction blocks). Returns what it ran."""
    if getattr(target, "engine", "") != "Redshift":
        raise ConfigError("`dynashift redshift setup` needs a redshift:// target")
    statements = setup_statements(view, stream, role_arn, external_schema)
    for sql in statements:
        target.execute(sql)
    return statements


def view_ref(view: str) -> str:
    schema, _, name = view.rpartition(".")
    return f"{quote(schema or 'public')}.{quote(name)}"


# ---------------------------------------------------------------- decoding, in SQL

_P = 'b.payload."dynamodb"'
_REASON = (
    "CASE WHEN b.payload IS NULL THEN 'not JSON'"
    " WHEN NOT IS_OBJECT(b.payload.\"dynamodb\") THEN 'not a DynamoDB change record: no `dynamodb` block'"
    " WHEN NVL(b.payload.\"eventName\"::VARCHAR(16), '') NOT IN ('INSERT', 'MODIFY', 'REMOVE')"
    " THEN 'not a DynamoDB change record: eventName ' || NVL(LEFT(b.payload.\"eventName\"::VARCHAR(200), 100), 'missing')"
    f" WHEN NOT IS_OBJECT({_P}.\"Keys\") THEN 'missing Keys'"
    " WHEN b.payload.\"tableName\" IS NULL THEN 'no table name: the record carries none'"
    f" WHEN b.payload.\"eventName\"::VARCHAR(16) <> 'REMOVE' AND NOT IS_OBJECT({_P}.\"NewImage\")"
    " THEN b.payload.\"eventName\"::VARCHAR(16) || ' without NewImage (KEYS_ONLY or OLD_IMAGE stream view type) cannot be"
    " replicated: use NEW_IMAGE or NEW_AND_OLD_IMAGES' END"
)
_TIME = f'{_P}."ApproximateCreationDateTime"'
_NUMBER = f"CASE WHEN IS_VARCHAR({_TIME}) THEN {_TIME}::VARCHAR(64)::DECIMAL(38,6) ELSE {_TIME}::DECIMAL(38,6) END"
# Seconds, milliseconds or microseconds: by the precision field, else by magnitude (as decode.parse_time).
_FACTOR = ("CASE WHEN prec LIKE 'MICRO%' THEN 1 WHEN prec LIKE 'MILLI%' THEN 1000 WHEN prec LIKE 'SEC%' THEN 1000000"
           " WHEN ABS(t) < 100000000000 THEN 1000000 WHEN ABS(t) < 100000000000000 THEN 1000 ELSE 1 END")


def batch_sql(view: str, limit: int) -> str:
    """The view's rows after each shard's checkpoint, at most `limit` per shard. Sequence numbers
    are decimal strings of varying length: padded, they compare as numbers."""
    return (
        f"CREATE TEMP TABLE {BATCH} AS SELECT shard_id, sequence_number, payload, raw FROM"
        " (SELECT v.shard_id, v.sequence_number, v.payload, v.raw, ROW_NUMBER() OVER"
        " (PARTITION BY v.shard_id ORDER BY LPAD(v.sequence_number, 64, '0')) AS n"
        f" FROM {view_ref(view)} v LEFT JOIN dynashift.checkpoints c ON c.source = %s AND c.shard = v.shard_id"
        " WHERE c.position IS NULL OR LPAD(v.sequence_number, 64, '0') > LPAD(c.position, 64, '0')) x"
        f" WHERE n <= {int(limit)}"
    )


def changes_sql() -> str:
    """One row per record: table, op, keys, images, version (µs), seq (shard, padded sequence
    number: source order) and, for a record that cannot be replicated, the reason."""
    return (
        f"CREATE TEMP TABLE {CHANGES} AS SELECT shard_id, sequence_number, shard_id || ':' || sequence_number AS position,"
        " shard_id || CHR(31) || LPAD(sequence_number, 64, '0') AS seq, source_table, op, event_id, ttl, keys, image,"
        f" old_image, reason, payload, raw, CASE WHEN t IS NULL THEN 0 ELSE CAST(FLOOR(t * {_FACTOR}) AS BIGINT) END AS version_us"
        " FROM (SELECT b.shard_id, b.sequence_number, b.payload, b.raw, b.payload.\"tableName\"::VARCHAR(255) AS source_table,"
        " b.payload.\"eventName\"::VARCHAR(16) AS op, NVL(b.payload.\"eventID\"::VARCHAR(128), '') AS event_id,"
        " NVL(b.payload.\"userIdentity\".\"type\"::VARCHAR(32) = 'Service'"
        " AND b.payload.\"userIdentity\".\"principalId\"::VARCHAR(64) = 'dynamodb.amazonaws.com', false) AS ttl,"
        f" {_P}.\"Keys\" AS keys, {_P}.\"NewImage\" AS image, {_P}.\"OldImage\" AS old_image, {_NUMBER} AS t,"
        f" UPPER({_P}.\"ApproximateCreationDateTimePrecision\"::VARCHAR(16)) AS prec, {_REASON} AS reason"
        f" FROM {BATCH} b) x"
    )


def rejected_sql() -> str:
    raw = ("FROM_VARBYTE(SUBSTRING(NVL(JSON_SERIALIZE_TO_VARBYTE(payload), raw), 1, 60000), 'utf8')")
    return f"SELECT position, reason, {raw} FROM {CHANGES} WHERE reason IS NOT NULL ORDER BY seq"


def attributes_sql(soft: bool) -> str:
    """Attribute names and the types seen, per table, with where each was first met (so new
    columns are mapped in arrival order, as the other sources do). With soft deletes, a REMOVE's
    OldImage supplies values too."""
    images = ["keys", "image"] + (["old_image"] if soft else [])
    parts = [
        f"SELECT c.source_table, a, tag, c.seq FROM {CHANGES} c, UNPIVOT c.{img} AS v AT a, UNPIVOT v AS x AT tag"
        " WHERE c.reason IS NULL" for img in images
    ]
    return (f"SELECT source_table, a, LISTAGG(DISTINCT tag, ',') WITHIN GROUP (ORDER BY tag), MIN(seq) FROM"
            f" ({' UNION ALL '.join(parts)}) u GROUP BY source_table, a ORDER BY source_table, MIN(seq), a")


def keys_sql() -> str:
    return (f"SELECT DISTINCT c.source_table, k FROM {CHANGES} c, UNPIVOT c.keys AS kv AT k"
            " WHERE c.reason IS NULL ORDER BY 1, 2")


def dist_key_sql(keys: list[str]) -> str:
    """The dist_key of docs/reference.md §2, `{"pk":{"S":"a"}}` with names sorted, assembled from each key value's JSON."""
    parts = [f"{_literal(orjson.dumps(k).decode() + ':')} || JSON_SERIALIZE(c.keys.{quote(k)})" for k in sorted(keys)]
    return "'{' || " + " || ',' || ".join(parts) + " || '}'"


def render_sql(attribute: str) -> str:
    """S, N and B are their text, BOOL true/false, NULL or absent SQL NULL. Other types (and long
    values) are left NULL here and rendered by decode.py (see `complex_sql`)."""
    v = f"s._src.{quote(attribute)}"
    whens = "".join(f" WHEN {v}.{quote(t)} IS NOT NULL AND JSON_SIZE({v}) <= {_SIMPLE_BYTES}"
                    f" THEN {v}.{quote(t)}::VARCHAR(65535)" for t in _SQL_TAGS)
    return f"CASE{whens} WHEN {v}.\"BOOL\" IS NOT NULL THEN CASE WHEN {v}.\"BOOL\"::BOOLEAN THEN 'true' ELSE 'false' END END"


@dataclass(slots=True)
class Modes:
    delete: str = "hard"
    ttl: str = "hard"  # hard | soft | ignore


def stage_sql(name: str, keys: list[str], columns: dict[str, str], modes: Modes) -> str:
    """The newest change per key of one table, in the staging layout the shared merge reads.
    A soft REMOVE shows its OldImage, else the batch's newest INSERT/MODIFY of the key (as planning.py)."""
    soft = "soft" in (modes.delete, modes.ttl)
    is_soft = f"(CASE WHEN w.ttl THEN '{modes.ttl}' ELSE '{modes.delete}' END = 'soft')"
    values = (f"CASE WHEN w.op <> 'REMOVE' THEN w.image WHEN {is_soft} AND w.old_image IS NOT NULL THEN w.old_image"
              f" WHEN {is_soft} AND l.dk IS NOT NULL THEN l.image ELSE w.keys END")
    op = (f"CASE WHEN w.op <> 'REMOVE' THEN '{UPSERT}' WHEN NOT {is_soft} THEN '{HARD_DELETE}'"
          f" WHEN w.old_image IS NULL AND l.dk IS NULL THEN '{SOFT_DELETE}' ELSE '{SOFT_DELETE_WITH_VALUES}' END")
    shown = ""
    if soft:
        shown = (f", CASE WHEN {op} = '{SOFT_DELETE_WITH_VALUES}' THEN CASE WHEN w.old_image IS NOT NULL THEN w.version_us"
                 f" ELSE l.version_us END END AS {quote(STAGE_VALUES_VERSION)}, CASE WHEN {op} = '{SOFT_DELETE_WITH_VALUES}'"
                 f" THEN CASE WHEN w.old_image IS NOT NULL THEN w.seq ELSE l.seq END END AS {quote(STAGE_VALUES_SEQ)}")
    ignore = " AND NOT c.ttl" if modes.ttl == "ignore" else ""
    ranked = (f"SELECT k.*, ROW_NUMBER() OVER (PARTITION BY dk ORDER BY version_us DESC, seq DESC) AS n,"
              " ROW_NUMBER() OVER (PARTITION BY dk, CASE WHEN op = 'REMOVE' THEN 1 ELSE 0 END"
              " ORDER BY version_us DESC, seq DESC) AS live_n"
              f" FROM (SELECT c.*, {dist_key_sql(keys)} AS dk FROM {CHANGES} c WHERE c.reason IS NULL"
              f" AND c.source_table = %s{ignore}) k")
    inner = (f"SELECT w.dk AS {quote(DIST_KEY)}, {op} AS {quote(STAGE_OP)}, w.version_us AS {quote(STAGE_VERSION)},"
             f" w.seq AS {quote(STAGE_SEQ)}, w.event_id AS {quote(STAGE_EVENT)}, (TIMESTAMP 'epoch'"
             " + (w.version_us / 1000000) * INTERVAL '1 second' + (w.version_us % 1000000) * INTERVAL '1 microsecond')"
             f"::TIMESTAMPTZ AS {quote(CHANGED_AT)}{shown}, {values} AS _src FROM r w LEFT JOIN r l ON l.dk = w.dk"
             " AND l.op <> 'REMOVE' AND l.live_n = 1 WHERE w.n = 1")
    rendered = "".join(f", {render_sql(a)} AS {quote(c)}" for a, c in columns.items())
    return f"CREATE TEMP TABLE {quote(name)} AS WITH r AS ({ranked}) SELECT s.*{rendered} FROM ({inner}) s"


def complex_sql(name: str) -> str:
    """The winners holding a value `render_sql` left to decode.py, with their whole image."""
    return (f"SELECT s.{quote(DIST_KEY)}, s.{quote(STAGE_SEQ)}, JSON_SERIALIZE_TO_VARBYTE(s._src) FROM {quote(name)} s"
            f" WHERE s.{quote(DIST_KEY)} IN (SELECT t.{quote(DIST_KEY)} FROM {quote(name)} t, UNPIVOT t._src AS v AT a"
            " WHERE (v.\"S\" IS NULL AND v.\"N\" IS NULL AND v.\"B\" IS NULL AND v.\"BOOL\" IS NULL AND v.\"NULL\" IS NULL)"
            f" OR JSON_SIZE(v) > {_SIMPLE_BYTES})")


def counts_sql(ignore_ttl: bool) -> str:
    """Records read and bytes; among the replicable records, those a newer change of their key
    replaced within the batch: duplicates (the same change again), stale (older than one read
    before it) and superseded (the rest); and TTL removes ignored."""
    key = "PARTITION BY source_table, JSON_SERIALIZE(keys)"
    first = f"OVER ({key} ORDER BY version_us DESC, seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    skip = " AND NOT ttl" if ignore_ttl else ""
    ttl = f"(SELECT count(*) FROM {CHANGES} WHERE reason IS NULL AND ttl)" if ignore_ttl else "0"
    return (
        f"SELECT (SELECT count(*) FROM {BATCH}), (SELECT NVL(SUM(OCTET_LENGTH(JSON_SERIALIZE_TO_VARBYTE(payload))), 0)"
        f" FROM {CHANGES}), NVL(SUM(CASE WHEN n > 1 AND dup THEN 1 ELSE 0 END), 0),"
        " NVL(SUM(CASE WHEN n > 1 AND NOT dup AND older THEN 1 ELSE 0 END), 0),"
        f" NVL(SUM(CASE WHEN n > 1 AND NOT dup AND NOT older THEN 1 ELSE 0 END), 0), {ttl} FROM"
        f" (SELECT ROW_NUMBER() OVER ({key} ORDER BY version_us DESC, seq DESC) AS n,"
        f" version_us = FIRST_VALUE(version_us) {first} AND (seq = FIRST_VALUE(seq) {first}"
        f" OR (event_id <> '' AND event_id = FIRST_VALUE(event_id) {first})) AS dup,"
        f" NVL(version_us < MAX(version_us) OVER ({key} ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),"
        f" false) AS older FROM {CHANGES} WHERE reason IS NULL{skip}) x"
    )


def checkpoints_sql() -> str:
    return (f"SELECT shard_id, sequence_number FROM (SELECT shard_id, sequence_number, ROW_NUMBER() OVER"
            f" (PARTITION BY shard_id ORDER BY LPAD(sequence_number, 64, '0') DESC) AS n FROM {BATCH}) x"
            " WHERE n = 1 ORDER BY shard_id")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# ---------------------------------------------------------------- the source and its batches


@dataclass(slots=True)
class WarehouseStage(TableStage):
    """A table's share of a batch staged by SQL in the warehouse: `relation` replaces `data`
    (which only carries the row count)."""

    relation: str = ""


class ViewSource:
    """`redshift-mv://[SCHEMA.]VIEW`: applied inside Redshift by `replicate`, never read row by row."""

    def __init__(self, uri: str, config: Config):
        self.uri = uri
        self.view = uri.split("://", 1)[1].strip("/")
        if not self.view:
            raise ConfigError("redshift-mv:// needs the view: redshift-mv://SCHEMA.VIEW (see `dynashift redshift setup`)")
        self.batch_size = config.batch_size

    def read(self, checkpoints: dict[str, Checkpoint]):
        raise SourceError("redshift-mv:// is applied inside Redshift and cannot be read row by row:"
                          " this pipeline must hand it the target (source.replicate)")

    follow = read  # a live source: `dynashift run` without --once keeps applying (see `replicate`)

    def replicate(self, config: Config, target: Any, *, on_batch: Callable[[RunCounters], None] | None = None,
                  stop: threading.Event | None = None, follow: bool = False) -> RunCounters:
        """pipeline.replicate's loop, with each batch applied by `apply_batch`. With `follow`, an
        empty view is polled every `max_wait` seconds until `stop` is set."""
        if getattr(target, "engine", "") != "Redshift":
            raise ConfigError("redshift-mv:// is applied inside Redshift: use a redshift:// target")
        state = target.load_state()
        run = target.begin_run(self.uri)
        modes = Modes(config.delete_mode, config.ttl_mode())
        try:
            target.expire_tombstones(config.tombstone_retention)
            # ref: https://docs.aws.amazon.com/redshift/latest/dg/super-configurations.html (attribute names keep their case)
            target.execute("SET enable_case_sensitive_super_attribute TO true")
            while stop is None or not stop.is_set():
                changes = apply_batch(target, self, state, modes, run, config.change_log)
                if changes is None:
                    if not follow or stop is None or stop.wait(max(config.max_wait, 0.1)):
                        break
                    continue
                state.apply(changes)
                if on_batch is not None:
                    on_batch(run)
        except BaseException as exc:
            message = str(exc) if isinstance(exc, DynashiftError) else f"{type(exc).__name__}: {exc}"
            try:
                target.end_run(run, "failed", message[:2000])
            except DynashiftError:
                pass
            raise
        target.end_run(run, "ok")
        return run


def apply_batch(target: Any, source: ViewSource, state: SchemaState, modes: Modes, run: RunCounters,
                change_log: bool) -> list | None:
    """One batch in one transaction: select it, decode it, evolve the schema, stage and merge
    each table, write rejects, checkpoints and the run. None when the view holds nothing new."""
    with target.transaction():
        target.execute(batch_sql(source.view, source.batch_size), [source.uri])
        try:
            target.execute(changes_sql())
            read, size, dups, stale, superseded, ttl_ignored = target.query(counts_sql(modes.ttl == "ignore"))[0]
            if not read:
                return None
            plan = BatchPlan(records_read=int(read), bytes_read=int(size), duplicates=int(dups), stale=int(stale),
                             superseded=int(superseded), ttl_ignored=int(ttl_ignored))
            plan.rejected = [Rejected(reason, (raw or "").encode(), position)
                             for position, reason, raw in target.query(rejected_sql())]
            plan.checkpoints = [Checkpoint(source.uri, shard, seq) for shard, seq in target.query(checkpoints_sql())]
            seen, types = _seen(target, modes)
            plan.schema_changes = plan_schema(state, seen, target.naming)
            mapped = _mapped(state, plan.schema_changes)
            for n, (source_table, (keys, _)) in enumerate(seen.items()):
                name, columns = mapped[source_table]
                plan.types_seen[name] = types[source_table]
                stage = _stage(target, f"_dynashift_mv_stage_{n}", name, source_table, keys, columns, modes, plan)
                if stage is not None:
                    plan.stages.append(stage)
            target.apply(plan, run, change_log)
        finally:
            target.execute(f"DROP TABLE IF EXISTS {CHANGES}")
            target.execute(f"DROP TABLE IF EXISTS {BATCH}")
    return plan.schema_changes


def _seen(target: Any, modes: Modes) -> tuple[dict[str, tuple[list[str], list[str]]], dict[str, dict[str, set[str]]]]:
    """Per DynamoDB table: (key attributes, attributes in arrival order), and the types seen."""
    keys: dict[str, list[str]] = {}
    for table, k in target.query(keys_sql()):
        keys.setdefault(table, []).append(k)
    seen: dict[str, tuple[list[str], list[str]]] = {t: (k, list(k)) for t, k in keys.items()}
    types: dict[str, dict[str, set[str]]] = {t: {} for t in keys}
    for table, attribute, tags, _first in target.query(attributes_sql("soft" in (modes.delete, modes.ttl))):
        if table in seen:
            if attribute not in seen[table][1]:
                seen[table][1].append(attribute)
            types[table][attribute] = set(tags.split(","))
    return seen, types


def _mapped(state: SchemaState, changes: list) -> dict[str, tuple[str, dict[str, str]]]:
    out = {src: (info.name, dict(info.columns)) for src, info in state.tables.items()}
    by_name = {name: src for src, (name, _) in out.items()}
    for ch in changes:
        if hasattr(ch, "source_table"):
            out[ch.source_table] = (ch.table, {})
            by_name[ch.table] = ch.source_table
        else:
            out[by_name[ch.table]][1][ch.attribute] = ch.column
    return out


def _stage(target: Any, relation: str, name: str, source_table: str, keys: list[str], columns: dict[str, str],
           modes: Modes, plan: BatchPlan) -> WarehouseStage | None:
    """Stage one table in SQL; render what SQL left to decode.py; reject what Redshift cannot hold."""
    target.execute(stage_sql(relation, keys, columns, modes), [source_table])
    fixed = target.query(complex_sql(relation))
    if fixed:
        _render_in_python(target, relation, name, columns, fixed, plan)
    (total,) = target.query(f"SELECT count(*) FROM {quote(relation)}")[0]
    if not total:
        target.execute(f"DROP TABLE IF EXISTS {quote(relation)}")
        return None
    soft = "soft" in (modes.delete, modes.ttl)
    return WarehouseStage(name, list(columns.values()), pa.table({"_": pa.nulls(int(total))}), soft, quote(relation))


def _render_in_python(target: Any, relation: str, name: str, columns: dict[str, str], rows: list[tuple],
                      plan: BatchPlan) -> None:
    """The winners holding sets, maps, lists or long values: rendered by decode.py, staged, and
    written over the stage in one UPDATE; those that cannot be stored go to rejected."""
    good: dict[str, list] = {DIST_KEY: [], **{c: [] for c in columns.values()}}
    bad: list[str] = []
    for dist_key, seq, blob in rows:
        try:
            image = render_item(orjson.loads(bytes(blob) if not isinstance(blob, str) else blob))
            too_long = [a for a, v in image.items() if v is not None and len(v.encode()) > 65535]
            if too_long:
                raise BadRecordError(f"value of attribute {too_long[0]!r} is longer than the 65,535 bytes a Redshift VARCHAR holds")
        except BadRecordError as exc:
            bad.append(dist_key)
            plan.rejected.append(Rejected(exc.reason, orjson.dumps({"table": name, "dist_key": dist_key}),
                                          seq.replace("\x1f", ":")))
            continue
        good[DIST_KEY].append(dist_key)
        for attribute, column in columns.items():
            good[column].append(image.get(attribute))
    if bad:
        marks = ", ".join([target.param] * len(bad))
        target.execute(f"DELETE FROM {quote(relation)} WHERE {quote(DIST_KEY)} IN ({marks})", bad)
    if good[DIST_KEY]:
        staged = target.stage_rows("_dynashift_mv_rendered", pa.table({k: pa.array(v, pa.string()) for k, v in good.items()}))
        sets = ", ".join(f"{quote(c)} = r.{quote(c)}" for c in columns.values())
        target.execute(f"UPDATE {quote(relation)} SET {sets} FROM {staged} r"
                       f" WHERE {quote(relation)}.{quote(DIST_KEY)} = r.{quote(DIST_KEY)}")
        target.drop_stage(staged)
