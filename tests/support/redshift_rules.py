"""Redshift's own rules for the SQL dynashift sends, checked offline (tests/integration/test_redshift_strict.py).

Each rule is taken from the Redshift Database Developer Guide or from the driver itself, never from
what PostgreSQL happens to accept:

- `RESERVED`: the guide's "Reserved words" page (r_pg_keywords.html), copied word for word. A
  reserved word used as an unquoted identifier is a syntax error on a cluster.
- `paramstyle_problems`: redshift_connector's own `convert_paramstyle('format', ...)`, the function
  its cursor calls for every statement with parameters.
- `data_api_problems`: the Data API's request shape (ExecuteStatement: Sql of at most 100,000
  characters; SqlParameter values non-empty strings; GetStatementResult: at most 64 KB per row).
- `DENIED`: PostgreSQL syntax and functions Redshift does not have (guide: "Unsupported PostgreSQL
  features", "Unsupported PostgreSQL functions", "Unsupported PostgreSQL data types").
- `LEADER_ONLY`: the guide's "Leader node-only functions" (c_SQL_functions_leader_node_only.html):
  such a function, or a catalog relation (pg_*, information_schema), must never share a statement
  with a table's data.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Iterable, Sequence

import sqlglot
from sqlglot import exp

from dynashift.targets.redshift import named_parameters

# ref: https://docs.aws.amazon.com/redshift/latest/dg/r_pg_keywords.html ("Reserved words"), complete.
# (START and CONNECT are not reserved, but the page asks for quotes or AS when they alias a table.)
RESERVED = frozenset("""
AES128 AES256 ALL ALLOWOVERWRITE ANALYSE ANALYZE AND ANY ARRAY AS ASC AUTHORIZATION AZ64 BACKUP
BETWEEN BINARY BLANKSASNULL BOTH BYTEDICT BZIP2 CASE CAST CHECK COLLATE COLUMN CONSTRAINT CREATE
CREDENTIALS CROSS CURRENT_DATE CURRENT_TIME CURRENT_TIMESTAMP CURRENT_USER CURRENT_USER_ID DEFAULT
DEFERRABLE DEFLATE DEFRAG DELTA DELTA32K DESC DISABLE DISTINCT DO ELSE EMPTYASNULL ENABLE ENCODE
ENCRYPT ENCRYPTION END EXCEPT EXPLICIT FALSE FOR FOREIGN FREEZE FROM FULL GLOBALDICT256 GLOBALDICT64K
GRANT GROUP GZIP HAVING IDENTITY IGNORE ILIKE IN INITIALLY INNER INTERSECT INTERVAL INTO IS ISNULL
JOIN LEADING LEFT LIKE LIMIT LOCALTIME LOCALTIMESTAMP LUN LUNS LZO LZOP MINUS MOSTLY16 MOSTLY32
MOSTLY8 NATURAL NEW NOT NOTNULL NULL NULLS OFF OFFLINE OFFSET OID OLD ON ONLY OPEN OR ORDER OUTER
OVERLAPS PARALLEL PARTITION PERCENT PERMISSIONS PIVOT PLACING PRIMARY RAW READRATIO RECOVER
REFERENCES REJECTLOG RESORT RESPECT RESTORE RIGHT SELECT SESSION_USER SIMILAR SNAPSHOT SOME SYSDATE
SYSTEM TABLE TAG TDES TEXT255 TEXT32K THEN TIMESTAMP TO TOP TRAILING TRUE TRUNCATECOLUMNS UNION
UNIQUE UNNEST UNPIVOT USER USING VERBOSE WALLET WHEN WHERE WITH WITHOUT
""".split())
TABLE_ALIAS_QUOTED = frozenset({"START", "CONNECT"})

# ref: https://docs.aws.amazon.com/redshift/latest/dg/c_SQL_functions_leader_node_only.html
LEADER_ONLY = frozenset({
    "CURRENT_SCHEMA", "CURRENT_SCHEMAS", "HAS_DATABASE_PRIVILEGE", "HAS_SCHEMA_PRIVILEGE", "HAS_TABLE_PRIVILEGE",
    "SUBSTR", "FACTORIAL", "LOG",
    # deprecated leader-node-only date and string functions
    "AGE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "LOCALTIME", "ISFINITE", "NOW", "GETBIT", "GET_BYTE", "SET_BIT",
    "SET_BYTE", "TO_ASCII",
    # the catalog's set-returning helpers run on the leader node only, too
    "GENERATE_SERIES",
})

# PostgreSQL-only syntax, functions and types. ref: c_unsupported-postgresql-features.html,
# c_unsupported-postgresql-functions.html, c_unsupported-postgresql-datatypes.html, r_ALTER_TABLE.html
DENIED: dict[str, str] = {
    r"\bON\s+CONFLICT\b": "ON CONFLICT (upsert)",
    r"\bRETURNING\b": "RETURNING",
    r"\bFILTER\s*\(": "aggregate FILTER clause",
    r"\bLATERAL\b": "LATERAL",
    r"\bJSONB?\b(?!_)": "the json/jsonb types (Redshift has SUPER)",
    r"\bJSONB_\w+|\bTO_JSONB?\b|\bJSON_BUILD_\w+|\bJSON_AGG\b|\bROW_TO_JSON\b": "PostgreSQL JSON functions",
    r"::\s*REG\w+": "reg* casts (::regclass)",
    r"\bNOW\s*\(": "NOW() (leader-node only, deprecated: GETDATE or SYSDATE)",
    r"\bDISTINCT\s+ON\b": "DISTINCT ON",
    r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b|\bFOR\s+SHARE\b|\bSKIP\s+LOCKED\b": "row locks",
    r"\bCREATE\s+(?:UNIQUE\s+)?INDEX\b": "indexes",
    r"\bFROM\s+STDIN\b|\bTO\s+STDOUT\b": "COPY from the client",
    r"\bADD\s+COLUMN\s+IF\s+NOT\s+EXISTS\b|\bDROP\s+COLUMN\s+IF\s+EXISTS\b": "IF [NOT] EXISTS on columns",
    r"\bSTRING_AGG\b|\bARRAY_AGG\b|\bARRAY_TO_STRING\b|\bUNNEST\s*\(": "PostgreSQL array/aggregate functions",
    r"\bBYTEA\b|\bSERIAL\b|\bBIGSERIAL\b|\bUUID\b(?!\w)": "PostgreSQL-only types",
    r"(?<![\w\"])TEXT(?![\w(\"])": "TEXT (means VARCHAR(256) on Redshift)",
    r"\bCOLLATE\s+\"": "PostgreSQL collations",
    r"\bTRUNCATE\b": "TRUNCATE (commits the transaction on Redshift)",
    r"\bON\s+COMMIT\b|\bUNLOGGED\b": "PostgreSQL table options",
    r"\bpg_advisory\w*|\bpg_try_advisory\w*": "advisory locks",
    r"\bDECODE\s*\([^)]*'base64'": "decode(..., 'base64') (TO_VARBYTE on Redshift)",
    r"\bIS\s+(?:NOT\s+)?DISTINCT\s+FROM\b": "IS [NOT] DISTINCT FROM",
    r"\bWITH\s+RECURSIVE\b": "WITH RECURSIVE",
    r"\bGREATEST\s*\(\s*\)|\bILIKE\s+ANY\b": "PostgreSQL forms",
}
_DENIED = [(re.compile(p, re.I), why) for p, why in DENIED.items()]

# Quoted names, string literals (Redshift has no E'' strings in what we send) and comments.
_QUOTED = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'')
_CATALOG = re.compile(r"^(?:pg_\w+|information_schema|pg_catalog)$", re.I)
DATA_API_MAX_SQL = 100_000  # ref: API_ExecuteStatement.html, Sql: length constraint 100,000
DATA_API_MAX_ROW = 64 * 1024  # ref: API_GetStatementResult.html: a row of at most 64 KB


def outside_quotes(sql: str) -> str:
    """The statement with every quoted name and literal blanked (same length)."""
    return _QUOTED.sub(lambda m: m.group(0)[0] + " " * (len(m.group(0)) - 2) + m.group(0)[-1], sql)


@functools.lru_cache(maxsize=8)
def parse(sql: str) -> exp.Expression | None:
    """sqlglot's tree of the statement (None when it cannot parse). Each rule of `all_problems`
    reads the tree of the same statement and none changes it: one parse serves them all."""
    try:
        return sqlglot.parse_one(sql, read="redshift")
    except sqlglot.errors.ParseError:
        return None


def reserved_problems(sql: str) -> list[str]:
    """Unquoted identifiers that are Redshift reserved words: from sqlglot's tree, and from the
    alias positions sqlglot may model as keywords (`AS word`, PartiQL's `AT word`)."""
    found: set[str] = set()
    tree = parse(sql)
    if tree is not None and not isinstance(tree, exp.Command):
        for ident in tree.find_all(exp.Identifier):
            if not ident.quoted and ident.name.upper() in RESERVED:
                found.add(ident.name)
    bare = outside_quotes(sql)
    for m in re.finditer(r"\b(?:AS|AT)\s+([A-Za-z_][A-Za-z0-9_$]*)\b(?!\s*[(\[])", bare, re.I):
        word = m.group(1).upper()
        cast_type = word == "TIMESTAMP" and re.match(r"\s*(?:\)|WITH)", bare[m.end():], re.I)
        if word in RESERVED and not cast_type and word not in ("SELECT", "WITH"):
            found.add(m.group(1))
    for m in re.finditer(r"(?<![\w\"'])(\w+)\.(\w+)", bare):  # SUPER paths and qualified names
        for part in m.groups():
            if part.upper() in RESERVED:
                found.add(part)
    return [f"reserved word {w!r} used as an unquoted identifier" for w in sorted(found)]


def paramstyle_problems(sql: str, params: Sequence[Any]) -> list[str]:
    """What redshift_connector would do with the statement: with parameters, its own conversion
    must succeed and bind exactly as many values as given; without, no placeholder may be left
    (the driver then sends the text as it is)."""
    from redshift_connector.core import convert_paramstyle

    if not params:
        bare = outside_quotes(sql)
        return ["placeholder or %% left in a statement sent without parameters"] if re.search(r"%[s%]", bare) else []
    try:
        converted, make_args = convert_paramstyle("format", sql)
    except Exception as exc:  # noqa: BLE001 - the driver's own InterfaceError
        return [f"redshift_connector refuses it: {exc}"]
    marks = len(set(re.findall(r"\$(\d+)", outside_quotes(converted))))
    if marks != len(params) or len(make_args(list(params))) != len(params):
        return [f"{marks} placeholders for {len(params)} parameters"]
    return []


def data_api_problems(sql: str, params: Sequence[Any]) -> list[str]:
    """The request dynashift's Data API connection would send for this statement."""
    text, parameters = named_parameters(sql, params)
    problems = []
    if len(text) > DATA_API_MAX_SQL or len(text.encode()) > DATA_API_MAX_SQL:
        problems.append(f"SQL of {len(text.encode()):,} bytes: the Data API takes at most {DATA_API_MAX_SQL:,}")
    if any(not isinstance(p["value"], str) or p["value"] == "" for p in parameters):
        problems.append("a Data API parameter that is not a non-empty string")
    return problems


def row_problems(rows: Iterable[Sequence[Any]]) -> list[str]:
    """Result rows as the Data API would carry them (each value as its text)."""
    worst = max((sum(len(_text(v)) for v in row) for row in rows), default=0)
    return [f"a result row of {worst:,} bytes: the Data API returns at most {DATA_API_MAX_ROW:,}"] \
        if worst > DATA_API_MAX_ROW else []


def _text(v: Any) -> bytes:
    if v is None:
        return b""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex().encode()
    return str(v).encode()


def denied_problems(sql: str) -> list[str]:
    bare = outside_quotes(sql)
    return [f"PostgreSQL-only: {why}" for rx, why in _DENIED if rx.search(bare)]


def leader_problems(sql: str) -> list[str]:
    """A leader-node-only function or catalog relation next to a table's data."""
    bare = outside_quotes(sql)
    functions = {m.group(1).upper() for m in re.finditer(r"\b(\w+)\s*\(", bare)} & LEADER_ONLY
    functions |= {w for w in ("CURRENT_TIME", "CURRENT_TIMESTAMP", "LOCALTIME")
                  if re.search(rf"\b{w}\b", bare, re.I)}
    tree = parse(sql)
    tables = [] if tree is None else [t for t in tree.find_all(exp.Table) if t.name]
    catalog = [t for t in tables if _CATALOG.match(t.db or "") or _CATALOG.match(t.name)]
    data = [t for t in tables if t not in catalog]
    if functions and data:
        return [f"leader-node-only {sorted(functions)} in a statement reading {data[0].sql('redshift')}"]
    if catalog and data:
        return [f"catalog relation {catalog[0].sql('redshift')} joined with {data[0].sql('redshift')}"]
    return []


def all_problems(sql: str, params: Sequence[Any]) -> list[str]:
    return (reserved_problems(sql) + paramstyle_problems(sql, params) + data_api_problems(sql, params)
            + denied_problems(sql) + leader_problems(sql))


# The widest each column of the materialized-view path's relations can be, in bytes, from the
# documented limits: Kinesis ShardId (128) and SequenceNumber (129 digits), DynamoDB table names
# (255), key attribute names (255), keys (partition key 2,048 + sort key 1,024 bytes, JSON-escaped
# at most six-fold), and what dynashift itself builds (seq, position, reason, MD5 hex).
# ref: Kinesis API_Shard.html / API_Record.html, DynamoDB ServiceQuotas.html ("Attributes")
COLUMN_BOUNDS = {
    "shard_id": 128, "sequence_number": 129, "position": 128 + 1 + 129, "seq": 128 + 1 + 64,
    "reason": 600, "source_table": 255, "k": 255, "i": 20, "rows_read": 20, "dkh": 32, "ah": 32,
    "dist_key": 2 + 2 * (255 + 12) + 6 * (2048 + 1024),
}
# Attribute names may be up to 64 KB in DynamoDB (ServiceQuotas.html): the one column left unbounded,
# read by the attributes query only (docs/redshift.md says so).
UNBOUNDED_NAMES = {"a"}
NUMERIC = (exp.Count, exp.Sum, exp.Avg, exp.Coalesce, exp.Subquery, exp.Cast)


def row_bound(sql: str) -> tuple[int, list[str]]:
    """An upper bound of a result row's bytes for a SELECT, from its projections; and the
    projections it cannot bound."""
    tree = parse(sql)
    total, unknown = 0, []
    for e in tree.expressions if isinstance(tree, exp.Select) else []:
        e = e.this if isinstance(e, exp.Alias) else e
        if isinstance(e, (exp.Min, exp.Max)):
            e = e.this
        if isinstance(e, exp.Column) and e.name in COLUMN_BOUNDS:
            total += COLUMN_BOUNDS[e.name]
        elif isinstance(e, exp.Column) and e.name in UNBOUNDED_NAMES:
            total += 0
        elif isinstance(e, exp.Anonymous) and e.name.upper() == "FROM_VARBYTE" and "'hex'" in e.sql("redshift"):
            sub = e.expressions[0]
            length = sub.args.get("length") if isinstance(sub, exp.Substring) else None
            if isinstance(length, exp.Literal):
                total += 2 * int(length.this)
            else:
                unknown.append(e.sql("redshift")[:80])
        elif isinstance(e, exp.WithinGroup) and "DISTINCT type_tag" in e.sql("redshift"):
            total += 10 * 5  # DynamoDB's ten type tags, comma-separated
        elif (isinstance(e, NUMERIC) and not (isinstance(e, exp.Cast) and e.to.is_type("varchar", "text"))) or (
                isinstance(e, exp.Literal) and e.is_number):
            total += 40
        else:
            unknown.append(e.sql("redshift")[:80])
    return total, unknown


def row_bound_problems(sql: str) -> list[str]:
    total, unknown = row_bound(sql)
    problems = [f"result column {u!r} has no known bound" for u in unknown]
    if total > DATA_API_MAX_ROW:
        problems.append(f"result rows of up to {total:,} bytes: the Data API returns at most {DATA_API_MAX_ROW:,}")
    return problems
