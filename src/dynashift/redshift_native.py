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

import hashlib
import threading
from typing import Any, Callable

import orjson
import pyarrow as pa

from .config import Config
from .decode import render_item
from .errors import BadRecordError, ConfigError, SourceError
from .model import BatchPlan, Modes, WarehouseStage
from .records import Checkpoint, Rejected
from .run_lifecycle import apply_in_target
from .schema import OVERFLOW, SchemaState, mappings, plan_schema
from .targets.base import RunCounters, quote
from .targets.redshift_view import (BATCH, CHANGES, attributes_sql, batch_sql, cells_sql, changes_sql,  # noqa: F401
                                    checkpoints_sql, complex_sql, counts_sql, keys_sql, needs_case_sensitive_identifier,
                                    parameter_group_settings,
                                    pivot_sql, rejected_sql, row_count_sql, setup_statements, shares, stage_sql, view_ref,
                                    watermark, winners_by_hash_sql, winners_sql)


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
    if not _is_redshift(target):
        raise ConfigError("`dynashift redshift setup` needs a redshift:// target")
    statements = setup_statements(view, stream, role_arn, external_schema)
    for sql in statements:
        target.execute(sql)
    return statements


def _is_redshift(target: Any) -> bool:
    from .targets.redshift import RedshiftTarget

    return isinstance(target, RedshiftTarget)


# ---------------------------------------------------------------- the source and its batches


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

    def check_target(self, target: Any) -> None:
        if not _is_redshift(target):
            raise ConfigError("redshift-mv:// is applied inside Redshift: use a redshift:// target")

    def apply_next(self, config: Config, target: Any, state: SchemaState, run: RunCounters) -> list | None:
        # The session already navigates SUPER with case-sensitive attribute names (RedshiftTarget.open).
        return apply_batch(target, self, state, Modes(delete=config.delete_mode, ttl=config.ttl_mode()), run, config)

    def replicate(self, config: Config, target: Any, *, on_batch: Callable[[RunCounters], None] | None = None,
                  stop: threading.Event | None = None, follow: bool = False) -> RunCounters:
        """What `pipeline.replicate` does with this source: the run's lifecycle around `apply_next`;
        with `follow`, an empty view is polled every `max_wait` seconds until `stop` is set."""
        return apply_in_target(config, self, target, on_batch=on_batch, stop=stop, follow=follow)


def apply_batch(target: Any, source: ViewSource, state: SchemaState, modes: Modes, run: RunCounters,
                config: Config) -> list | None:
    """One batch in one transaction: select it, decode it, evolve the schema, stage and merge
    each table, write rejects, checkpoints and the run. None when the view holds nothing new."""
    with target.transaction():
        since = max((cp.size or 0 for cp in target.read_checkpoints(source.uri).values()), default=0)
        target.execute(batch_sql(source.view, source.batch_size, since), [source.uri])
        try:
            target.execute(changes_sql())
            read, size, dups, stale, superseded, ttl_ignored = target.query(counts_sql(modes.ttl == "ignore"))[0]
            if not read:
                return None
            plan = BatchPlan(records_read=int(read), bytes_read=int(size), duplicates=int(dups), stale=int(stale),
                             superseded=int(superseded), ttl_ignored=int(ttl_ignored))
            plan.rejected = [Rejected(reason, raw, position) for (position, reason), raw
                             in _assembled(target.query(rejected_sql())).items()]
            shards = [(shard, seq, int(n), None if t is None else int(t)) for shard, seq, n, t
                      in target.query(checkpoints_sql())]
            mark = watermark(shards, source.batch_size)
            plan.checkpoints = [Checkpoint(source.uri, shard, seq, mark) for shard, seq, _, _ in shards]
            seen, types = _seen(target, modes)
            plan.schema_changes = plan_schema(state, seen, target.naming, budget=config.column_budget)
            mapped = _mapped(state, plan.schema_changes)
            for n, (source_table, (keys, _)) in enumerate(seen.items()):
                name, columns = mapped[source_table]
                plan.types_seen[name] = types[source_table]
                stage = _stage(target, f"_dynashift_mv_stage_{n}", name, source_table, keys, columns, modes, plan)
                if stage is not None:
                    plan.stages.append(stage)
            target.apply(plan, run, config.change_log)
        finally:
            target.drop_stage(CHANGES)
            target.drop_stage(BATCH)
    return plan.schema_changes


def _assembled(rows: list[tuple]) -> dict[tuple, bytes]:
    """Rows of (*key, piece number, hex piece), ordered by key then piece -> key: bytes."""
    out: dict[tuple, bytearray] = {}
    for *key, _piece, text in rows:
        out.setdefault(tuple(key), bytearray()).extend(bytes.fromhex(text or ""))
    return {k: bytes(v) for k, v in out.items()}


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
    out = mappings(state, changes)
    for name, columns in out.values():
        if OVERFLOW in columns.values():
            # Never lose the attributes past the budget silently: this path does not fill the overflow column yet.
            raise ConfigError(f"table {name} has more attributes than its column budget (max_columns): redshift-mv://"
                              " cannot put the rest into _dynashift_overflow yet; raise max_columns for it (Redshift"
                              " holds 1,600 columns) or replicate it through kinesis://")
    return out


def _stage(target: Any, relation: str, name: str, source_table: str, keys: list[str], columns: dict[str, str],
           modes: Modes, plan: BatchPlan) -> WarehouseStage | None:
    """Stage one table in SQL: the winners; the values SQL leaves alone rendered by decode.py
    (rejecting what Redshift cannot hold); one row per winner and attribute; those pivoted
    back to columns in shares small enough for the Data API; joined into the stage."""
    columns = {a: c for a, c in columns.items() if c}
    winners, cells = f"{relation}_w", f"{relation}_cells"
    target.execute(winners_sql(winners, keys, modes), [source_table, source_table])
    rendered = _render_in_python(target, winners, name, columns, plan)
    target.execute(cells_sql(cells, winners, rendered))
    target.drop_stage(rendered)
    parts = [f"{relation}_p{i}" for i, _ in enumerate(shares(columns))]
    for i, (part, share) in enumerate(zip(parts, shares(columns))):
        target.execute(pivot_sql(part, cells, share, f"_dk_{i}"))
    target.execute(stage_sql(relation, winners, parts))
    for table in [winners, cells, *parts]:
        target.drop_stage(quote(table))
    (total,) = target.query(row_count_sql(relation))[0]
    if not total:
        target.drop_stage(quote(relation))
        return None
    soft = "soft" in (modes.delete, modes.ttl)
    return WarehouseStage(name, list(columns.values()), pa.table({"_": pa.nulls(int(total))}), soft, quote(relation))


def _render_in_python(target: Any, winners: str, name: str, columns: dict[str, str], plan: BatchPlan) -> str:
    """The values SQL leaves alone (sets, maps, lists, long values), rendered by decode.py and
    staged as (MD5 of dist_key, MD5 of attribute, text); winners holding one Redshift cannot
    store go to rejected."""
    names = {hashlib.md5(a.encode()).hexdigest(): a for a in columns}
    texts: dict[str, list] = {"dkh": [], "ah": [], "txt": []}
    bad: dict[str, tuple[str, str]] = {}
    for (dkh, seq, ah), blob in _assembled(target.query(complex_sql(winners))).items():
        attribute = names.get(ah)
        if attribute is None or dkh in bad:
            continue  # an attribute without a column of its own (beyond the column budget)
        try:
            text = render_item({attribute: orjson.loads(blob)})[attribute]
            if text is not None and len(text.encode()) > 65535:
                raise BadRecordError(f"value of attribute {attribute!r} is longer than the 65,535 bytes a Redshift"
                                     " VARCHAR holds")
        except BadRecordError as exc:
            bad[dkh] = (exc.reason, seq)
            continue
        texts["dkh"].append(dkh)
        texts["ah"].append(ah)
        texts["txt"].append(text)
    hashes = sorted(bad)
    for i in range(0, len(hashes), 1000):  # IN lists of bound values, a thousand at a time
        share = hashes[i:i + 1000]
        marks = ", ".join([target.param] * len(share))
        for dist_key, in target.query(winners_by_hash_sql("SELECT", winners, marks), share):
            reason, seq = bad[hashlib.md5(dist_key.encode()).hexdigest()]
            plan.rejected.append(Rejected(reason, orjson.dumps({"table": name, "dist_key": dist_key}),
                                          seq.replace("\x1f", ":")))
        target.execute(winners_by_hash_sql("DELETE", winners, marks), share)
    return target.stage_rows(f"{winners}_rendered", pa.table({k: pa.array(v, pa.string()) for k, v in texts.items()}))
