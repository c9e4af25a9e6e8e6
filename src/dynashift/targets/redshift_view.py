"""The SQL of Redshift's native path (`redshift-mv://`, redshift_native.py): the streaming view and
each batch's statements, every one set-based, each within the Data API's limits (SQL under 100,000
characters, result rows under 64 KB), no identifier from Redshift's reserved words unquoted, no
`%` but the driver's placeholders (tests/integration/test_redshift_strict.py checks all of it).
ref: https://docs.aws.amazon.com/redshift/latest/dg/materialized-view-streaming-ingestion-getting-started.html
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson

from ..model import HARD_DELETE, SOFT_DELETE, SOFT_DELETE_WITH_VALUES, UPSERT, Modes
from ..schema import (CHANGED_AT, DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VALUES_SEQ,
                      STAGE_VALUES_VERSION, STAGE_VERSION)
from .base import quote

BATCH, CHANGES = "_dynashift_mv_batch", "_dynashift_mv_changes"
_SIMPLE_BYTES = 60_000  # longer values go through decode.py, which rejects what Redshift cannot hold
_SQL_TAGS = ("S", "N", "B")

# ref: https://docs.aws.amazon.com/redshift/latest/dg/r_enable_case_sensitive_identifier.html: a quoted
# mixed-case name (the stream's) folds to lower case unless this is on; AUTO REFRESH reads the view
# again later, in its own session: the parameter group must hold it, not only setup's session.
CASE_SENSITIVE_IDENTIFIER = "SET enable_case_sensitive_identifier TO true"


def setup_statements(view: str, stream: str, role_arn: str, external_schema: str = "dynashift_kinesis") -> list[str]:
    """The external schema over Kinesis and the streaming view. Records that are not JSON (or too
    long for JSON_PARSE) keep their bytes in `unparsed` so that they reach dynashift.rejected.
    ref: https://docs.aws.amazon.com/redshift/latest/dg/materialized-view-streaming-ingestion-getting-started.html"""
    parsable = f"OCTET_LENGTH(kinesis_data) <= {MAX_JSON_BYTES} AND CAN_JSON_PARSE(kinesis_data)"
    statements = [
        f"CREATE EXTERNAL SCHEMA IF NOT EXISTS {quote(external_schema)} FROM KINESIS IAM_ROLE {_literal(role_arn)}",
        f"CREATE MATERIALIZED VIEW {view_ref(view)} AUTO REFRESH YES AS SELECT shard_id, sequence_number,"
        f" approximate_arrival_timestamp, refresh_time, CASE WHEN {parsable} THEN JSON_PARSE(kinesis_data) END AS payload,"
        f" CASE WHEN NOT ({parsable}) THEN kinesis_data END AS unparsed"
        f" FROM {quote(external_schema)}.{quote(stream)}",
    ]
    return ([CASE_SENSITIVE_IDENTIFIER] if needs_case_sensitive_identifier(stream, external_schema) else []) + statements


def needs_case_sensitive_identifier(*names: str) -> bool:
    return any(n != n.lower() for n in names)


def parameter_group_settings(stream: str, external_schema: str = "dynashift_kinesis") -> list[tuple[str, str, str]]:
    """(parameter, value, why) the cluster's or workgroup's parameter group needs for the view."""
    needed = needs_case_sensitive_identifier(stream, external_schema)
    return [
        ("enable_case_sensitive_identifier", "true" if needed else "true or false",
         f"the stream name {stream!r} has upper-case letters: AUTO REFRESH must resolve it as quoted" if needed else
         "the stream name is lower case; decide before the first run: it also decides whether `Name` and `name`"
         " become two columns"),
        ("timezone", "UTC (recommended)", "dynashift sets UTC for its own sessions; readers of TIMESTAMPTZ columns see"
         " them in their session's zone"),
        ("database collation", "case_sensitive (CREATE DATABASE default)", "a COLLATE CASE_INSENSITIVE database has no"
         " SUPER and would merge keys `A` and `a`: dynashift refuses it"),
    ]


def view_ref(view: str) -> str:
    schema, _, name = view.rpartition(".")
    return f"{quote(schema or 'public')}.{quote(name)}"


# ---------------------------------------------------------------- decoding, in SQL
# Paths into the envelope are unquoted: with enable_case_sensitive_super_attribute (set for every
# session, targets/redshift.py) they keep their case; quoted ones would fold to lower case unless
# enable_case_sensitive_identifier is on (ref: r_enable_case_sensitive_super_attribute.html).
# Attribute names, which may hold any character, are never paths: UNPIVOT and string comparisons.

MAX_JSON_BYTES = 65535  # ref: JSON_PARSE.html: a VARCHAR of at most 65,535 bytes
_P = "b.payload.dynamodb"
_OP = "b.payload.eventName::VARCHAR(16)"
_REASON = (
    f"CASE WHEN b.payload IS NULL AND OCTET_LENGTH(b.unparsed) > {MAX_JSON_BYTES} THEN 'a change record of '"
    " || CAST(OCTET_LENGTH(b.unparsed) AS VARCHAR(20)) || ' bytes: Redshift parses JSON of at most 65,535 bytes"
    " (JSON_PARSE); replicate this table through kinesis:// instead'"
    " WHEN b.payload IS NULL THEN 'not JSON'"
    f" WHEN NOT IS_OBJECT({_P}) THEN 'not a DynamoDB change record: no `dynamodb` block'"
    f" WHEN NVL({_OP}, '') NOT IN ('INSERT', 'MODIFY', 'REMOVE')"
    " THEN 'not a DynamoDB change record: eventName ' || NVL(LEFT(b.payload.eventName::VARCHAR(200), 100), 'missing')"
    f" WHEN NOT IS_OBJECT({_P}.Keys) THEN 'missing Keys'"
    " WHEN b.payload.tableName IS NULL THEN 'no table name: the record carries none'"
    f" WHEN {_OP} <> 'REMOVE' AND NOT IS_OBJECT({_P}.NewImage)"
    f" THEN {_OP} || ' without NewImage (KEYS_ONLY or OLD_IMAGE stream view type) cannot be"
    " replicated: use NEW_IMAGE or NEW_AND_OLD_IMAGES' END"
)
_TIME = f"{_P}.ApproximateCreationDateTime"
_NUMBER = f"CASE WHEN IS_VARCHAR({_TIME}) THEN {_TIME}::VARCHAR(64)::DECIMAL(38,6) ELSE {_TIME}::DECIMAL(38,6) END"
# Seconds, milliseconds or microseconds: by the precision field, else by magnitude (as decode.parse_time).
_FACTOR = ("CASE WHEN prec LIKE 'MICRO%' THEN 1 WHEN prec LIKE 'MILLI%' THEN 1000 WHEN prec LIKE 'SEC%' THEN 1000000"
           " WHEN ABS(t) < 100000000000 THEN 1000000 WHEN ABS(t) < 100000000000000 THEN 1000 ELSE 1 END")
# Watermark slack: refreshes are serial and refresh_time grows with them; ten minutes guard a clock step.
_SLACK_MINUTES = 10


def batch_sql(view: str, limit: int, watermark_us: int | None) -> str:
    """The view's rows after each shard's checkpoint, at most `limit` per shard. Sequence numbers
    are decimal strings of varying length: padded, they compare as numbers. With a watermark
    (the refresh time every unread row is known to have reached), the scan skips older blocks."""
    since = ""
    if watermark_us:
        at = datetime.fromtimestamp(watermark_us / 1e6, timezone.utc) - timedelta(minutes=_SLACK_MINUTES)
        since = f" AND v.refresh_time >= TIMESTAMP '{at:%Y-%m-%d %H:%M:%S}'"
    return (
        f"CREATE TEMP TABLE {BATCH} AS SELECT shard_id, sequence_number, refresh_time, payload, unparsed FROM"
        " (SELECT v.shard_id, v.sequence_number, v.refresh_time, v.payload, v.unparsed, ROW_NUMBER() OVER"
        " (PARTITION BY v.shard_id ORDER BY LPAD(v.sequence_number, 64, '0')) AS n"
        f" FROM {view_ref(view)} v LEFT JOIN dynashift.checkpoints c ON c.source = %s AND c.shard = v.shard_id"
        f" WHERE (c.position IS NULL OR LPAD(v.sequence_number, 64, '0') > LPAD(c.position, 64, '0')){since}) x"
        f" WHERE n <= {int(limit)}"
    )


def timestamp_sql(micros: str) -> str:
    """A TIMESTAMPTZ from BIGINT microseconds since the epoch, in SQL (session time zone: UTC)."""
    return (f"(TIMESTAMP 'epoch' + ({micros} / 1000000) * INTERVAL '1 second'"
            f" + MOD({micros}, 1000000) * INTERVAL '1 microsecond')::TIMESTAMPTZ")


def changes_sql() -> str:
    """One row per record: table, op, keys, images, version (µs), seq (shard, padded sequence
    number: source order) and, for a record that cannot be replicated, the reason."""
    return (
        f"CREATE TEMP TABLE {CHANGES} AS SELECT shard_id, sequence_number, shard_id || ':' || sequence_number AS position,"
        " shard_id || CHR(31) || LPAD(sequence_number, 64, '0') AS seq, source_table, op, event_id, ttl, keys, image,"
        f" old_image, reason, payload, unparsed, CASE WHEN t IS NULL THEN 0 ELSE CAST(FLOOR(t * {_FACTOR}) AS BIGINT) END"
        " AS version_us FROM (SELECT b.shard_id, b.sequence_number, b.payload, b.unparsed,"
        f" b.payload.tableName::VARCHAR(255) AS source_table, {_OP} AS op,"
        " NVL(b.payload.eventID::VARCHAR(128), '') AS event_id,"
        " NVL(b.payload.userIdentity.type::VARCHAR(32) = 'Service'"
        " AND b.payload.userIdentity.principalId::VARCHAR(64) = 'dynamodb.amazonaws.com', false) AS ttl,"
        f" {_P}.Keys AS keys, {_P}.NewImage AS image, {_P}.OldImage AS old_image, {_NUMBER} AS t,"
        f" UPPER({_P}.ApproximateCreationDateTimePrecision::VARCHAR(16)) AS prec, {_REASON} AS reason"
        f" FROM {BATCH} b) x"
    )


# Result rows of the Data API hold at most 64 KB: record bytes come back in hex pieces of 15,000
# bytes (30,000 characters), numbered by a constant relation (no table, no leader-node function).
PIECE = 15_000
REJECT_PIECES = 4  # rejected records are kept up to 60,000 bytes
_DIGITS = " UNION ALL ".join(f"SELECT {i} AS i" for i in range(10))
_PIECES = f"(SELECT d1.i + 10 * d2.i + 100 * d3.i AS i FROM ({_DIGITS}) d1, ({_DIGITS}) d2, ({_DIGITS}) d3)"


def pieces_sql(select: str, blob: str, source: str, where: str, order: str, most: int = 1000) -> str:
    """`select` and the hex pieces of the VARBYTE `blob` of each row of `source` (rows with
    `where`), at most `most` pieces each: one result row per piece."""
    return (f"SELECT {select}, p.i, FROM_VARBYTE(SUBSTRING(u.blob, p.i * {PIECE} + 1, {PIECE}), 'hex')"
            f" FROM (SELECT *, {blob} AS blob FROM {source} WHERE {where}) u, {_PIECES} p"
            f" WHERE p.i < {int(most)} AND p.i * {PIECE} < OCTET_LENGTH(u.blob) ORDER BY {order}, p.i")


def rejected_sql() -> str:
    """Records that cannot be replicated: position, reason, and their bytes in hex pieces
    (decoded in Python: bytes that are not UTF-8, or a character cut at the end, never fail SQL)."""
    return pieces_sql("u.position, u.reason", "NVL(JSON_SERIALIZE_TO_VARBYTE(payload), unparsed)", CHANGES,
                      "reason IS NOT NULL", "u.seq", REJECT_PIECES)


def attributes_sql(soft: bool) -> str:
    """Attribute names and the types seen, per table, with where each was first met (so new
    columns are mapped in arrival order, as the other sources do). With soft deletes, a REMOVE's
    OldImage supplies values too."""
    images = ["keys", "image"] + (["old_image"] if soft else [])
    parts = [
        f"SELECT c.source_table, a, type_tag, c.seq FROM {CHANGES} c, UNPIVOT c.{img} AS v AT a, UNPIVOT v AS x AT type_tag"
        " WHERE c.reason IS NULL" for img in images
    ]
    return (f"SELECT source_table, a, LISTAGG(DISTINCT type_tag, ',') WITHIN GROUP (ORDER BY type_tag), MIN(seq) FROM"
            f" ({' UNION ALL '.join(parts)}) u GROUP BY source_table, a ORDER BY source_table, MIN(seq), a")


def keys_sql() -> str:
    return (f"SELECT DISTINCT c.source_table, k FROM {CHANGES} c, UNPIVOT c.keys AS kv AT k"
            " WHERE c.reason IS NULL ORDER BY 1, 2")


def dist_key_sql(keys: list[str]) -> str:
    """The dist_key of docs/reference.md §2, `{"pk":{"S":"a"}}` with names sorted, assembled per change (its seq) from
    each key value's JSON, found by name with string comparisons (never a quoted path)."""
    parts = [f"MAX(CASE WHEN kn = {_literal(k)} THEN {_literal(orjson.dumps(k).decode() + ':')} || JSON_SERIALIZE(kv) END)"
             for k in sorted(keys)]
    dk = "'{' || " + " || ',' || ".join(parts) + " || '}'"
    return (f"SELECT c.seq, {dk} AS dk FROM {CHANGES} c, UNPIVOT c.keys AS kv AT kn"
            " WHERE c.reason IS NULL AND c.source_table = %s GROUP BY c.seq")


_SIMPLE = ("(v.S IS NOT NULL OR v.N IS NOT NULL OR v.B IS NOT NULL OR v.BOOL IS NOT NULL"
           " OR JSON_SERIALIZE(v) = '{\"NULL\":true}')")


def render_sql() -> str:
    """One attribute value `v` as text: S, N and B are their text, BOOL true/false, NULL SQL NULL.
    Other types (and long values) are left NULL here and rendered by decode.py (`complex_sql`).
    Type tags are unquoted paths (case kept by enable_case_sensitive_super_attribute)."""
    whens = "".join(f" WHEN v.{t} IS NOT NULL AND JSON_SIZE(v) <= {_SIMPLE_BYTES} THEN v.{t}::VARCHAR(65535)"
                    for t in _SQL_TAGS)
    return f"CASE{whens} WHEN v.BOOL IS NOT NULL THEN CASE WHEN v.BOOL::BOOLEAN THEN 'true' ELSE 'false' END END"


def winners_sql(name: str, keys: list[str], modes: Modes) -> str:
    """The newest change per key of one table, in the staging layout the shared merge reads, with
    the image to show in `_src`. A soft REMOVE shows its OldImage, else the batch's newest
    INSERT/MODIFY of the key (as planning.py). Parameters: the source table, twice."""
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
              f" FROM (SELECT c.*, d.dk FROM {CHANGES} c JOIN ({dist_key_sql(keys)}) d ON d.seq = c.seq"
              f" WHERE c.reason IS NULL AND c.source_table = %s{ignore}) k")
    return (f"CREATE TEMP TABLE {quote(name)} AS WITH r AS ({ranked}) SELECT w.dk AS {quote(DIST_KEY)}, {op} AS"
            f" {quote(STAGE_OP)}, w.version_us AS {quote(STAGE_VERSION)}, w.seq AS {quote(STAGE_SEQ)}, w.event_id AS"
            f" {quote(STAGE_EVENT)}, {timestamp_sql('w.version_us')} AS {quote(CHANGED_AT)}{shown}, {values} AS _src"
            " FROM r w LEFT JOIN r l ON l.dk = w.dk AND l.op <> 'REMOVE' AND l.live_n = 1 WHERE w.n = 1")


def complex_sql(winners: str) -> str:
    """The attribute values `render_sql` leaves to decode.py, per winner, in hex pieces. Key and
    attribute name come back as MD5 hashes: a result row stays within 64 KB however long they are."""
    source = (f"(SELECT MD5(w.{quote(DIST_KEY)}) AS dkh, w.{quote(STAGE_SEQ)} AS seq, MD5(a) AS ah, v"
              f" FROM {quote(winners)} w, UNPIVOT w._src AS v AT a) c")
    return pieces_sql("u.dkh, u.seq, u.ah", "JSON_SERIALIZE_TO_VARBYTE(v)", source,
                      f"NOT {_SIMPLE} OR JSON_SIZE(v) > {_SIMPLE_BYTES}", "u.dkh, u.ah")


def cells_sql(name: str, winners: str, rendered: str) -> str:
    """One row per winner and attribute with its text: SQL's rendering, or decode.py's (staged
    in `rendered`) for the values SQL leaves alone."""
    return (f"CREATE TEMP TABLE {quote(name)} AS SELECT u.dk, u.a, NVL(r.txt, u.txt) AS txt FROM"
            f" (SELECT w.{quote(DIST_KEY)} AS dk, a, {render_sql()} AS txt FROM {quote(winners)} w, UNPIVOT w._src AS v AT a) u"
            f" LEFT JOIN {rendered} r ON r.dkh = MD5(u.dk) AND r.ah = MD5(u.a)")


def pivot_sql(name: str, cells: str, columns: list[tuple[str, str]], key: str) -> str:
    """Cells back to columns, for one share of a table's columns: (attribute, column) pairs."""
    picks = "".join(f", MAX(CASE WHEN a = {_literal(a)} THEN txt END) AS {quote(c)}" for a, c in columns)
    return f"CREATE TEMP TABLE {quote(name)} AS SELECT dk AS {quote(key)}{picks} FROM {quote(cells)} GROUP BY dk"


def shares(columns: dict[str, str], budget: int = 60_000) -> list[list[tuple[str, str]]]:
    """The columns in shares whose pivot statement stays within `budget` bytes (the Data API takes
    at most 100,000 characters of SQL)."""
    out: list[list[tuple[str, str]]] = [[]]
    size = 0
    for a, c in columns.items():
        cost = 48 + 2 * len(_literal(a).encode()) + len(quote(c).encode())
        if out[-1] and size + cost > budget:
            out.append([])
            size = 0
        out[-1].append((a, c))
        size += cost
    return [s for s in out if s]


def stage_sql(name: str, winners: str, parts: list[str]) -> str:
    """The stage the shared merge reads: the winners and their columns, pivoted in parts."""
    joins = "".join(f" JOIN {quote(p)} p{i} ON p{i}.{quote(f'_dk_{i}')} = w.{quote(DIST_KEY)}" for i, p in enumerate(parts))
    picks = "".join(f", p{i}.*" for i in range(len(parts)))
    return f"CREATE TEMP TABLE {quote(name)} AS SELECT w.*{picks} FROM {quote(winners)} w{joins}"


def row_count_sql(relation: str) -> str:
    return f"SELECT count(*) FROM {quote(relation)}"


def winners_by_hash_sql(verb: str, winners: str, marks: str) -> str:
    """SELECT the dist keys of (or DELETE) the winners whose MD5(dist_key) is among the bound `marks`."""
    what = f"SELECT {quote(DIST_KEY)} FROM" if verb == "SELECT" else "DELETE FROM"
    return f"{what} {quote(winners)} WHERE MD5({quote(DIST_KEY)}) IN ({marks})"


def counts_sql(ignore_ttl: bool) -> str:
    """Records read and bytes; among the replicable records, those a newer change of their key
    replaced within the batch: duplicates (the same change again), stale (older than one read
    before it) and superseded (the rest); and TTL removes ignored."""
    key = "PARTITION BY source_table, JSON_SERIALIZE(keys)"
    first = f"OVER ({key} ORDER BY version_us DESC, seq DESC ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    skip = " AND NOT ttl" if ignore_ttl else ""
    ttl = f"(SELECT count(*) FROM {CHANGES} WHERE reason IS NULL AND ttl)" if ignore_ttl else "0"
    return (
        f"SELECT (SELECT count(*) FROM {BATCH}), (SELECT NVL(SUM(OCTET_LENGTH(NVL(JSON_SERIALIZE_TO_VARBYTE(payload),"
        f" unparsed))), 0) FROM {CHANGES}), NVL(SUM(CASE WHEN n > 1 AND dup THEN 1 ELSE 0 END), 0),"
        " NVL(SUM(CASE WHEN n > 1 AND NOT dup AND older THEN 1 ELSE 0 END), 0),"
        f" NVL(SUM(CASE WHEN n > 1 AND NOT dup AND NOT older THEN 1 ELSE 0 END), 0), {ttl} FROM"
        f" (SELECT ROW_NUMBER() OVER ({key} ORDER BY version_us DESC, seq DESC) AS n,"
        f" version_us = FIRST_VALUE(version_us) {first} AND (seq = FIRST_VALUE(seq) {first}"
        f" OR (event_id <> '' AND event_id = FIRST_VALUE(event_id) {first})) AS dup,"
        f" NVL(version_us < MAX(version_us) OVER ({key} ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING),"
        f" false) AS older FROM {CHANGES} WHERE reason IS NULL{skip}) x"
    )


def checkpoints_sql() -> str:
    """Per shard: the last row read, how many were read, and its refresh time (µs since the epoch)."""
    return ("SELECT shard_id, sequence_number, rows_read, CAST(DATEDIFF(microsecond, TIMESTAMP 'epoch', refresh_time)"
            " AS BIGINT) FROM (SELECT shard_id, sequence_number, refresh_time, ROW_NUMBER() OVER (PARTITION BY shard_id"
            " ORDER BY LPAD(sequence_number, 64, '0') DESC) AS n, count(*) OVER (PARTITION BY shard_id) AS rows_read"
            f" FROM {BATCH}) x WHERE n = 1 ORDER BY shard_id")


def watermark(shards: list[tuple[str, str, int, int | None]], limit: int) -> int | None:
    """The refresh time (µs) every row not read yet has reached: the last row read of each shard
    the limit cut off (its next rows come after it); with none cut off, the newest row read
    (rows not visible yet come with a later refresh). Refreshes are serial, so it only grows."""
    times = [t for _, _, n, t in shards if t is not None and n >= limit] or \
        [max((t for *_, t in shards if t is not None), default=0)]
    return min(times) or None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
