"""`run --dry-run`: plan the source's next batch against what the target holds, and describe it
(schema changes, counts per table, rejects) without committing anything. The target is read
only (or not opened at all when it does not exist yet)."""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .errors import TargetError
from .pipeline import modes_of
from .planning import build_plan
from .schema import AddColumn, AddTable, SchemaState
from .targets import opened


@dataclass
class DryRun:
    """What the next batch would do."""

    records: int = 0
    new_tables: list[str] = field(default_factory=list)
    new_columns: dict[str, list[str]] = field(default_factory=dict)  # table -> "column (type)"
    other_changes: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # table -> changes to apply (before the target's checks)
    superseded: int = 0
    duplicates: int = 0
    stale: int = 0
    ttl_ignored: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    existing_target: bool = True

    def lines(self) -> list[str]:
        if not self.records:
            return ["dry run: nothing is committed; the source holds nothing new to read"]
        out = [f"dry run: nothing is committed; the next batch reads {self.records:,} records"]
        if not self.existing_target:
            out.append("  the target holds no dynashift metadata yet: the first run creates it")
        for table in self.new_tables:
            cols = self.new_columns.get(table, [])
            out.append(f"  create table {table} ({len(cols)} columns: {_few(cols)})")
        for table, cols in sorted(self.new_columns.items()):
            if table not in self.new_tables:
                out.append(f"  add to {table}: {_few(cols, 8)}")
        out += [f"  {change}" for change in self.other_changes]
        for table, n in sorted(self.rows.items()):
            out.append(f"  {n:,} changes for {table}")
        out.append(f"  skipped in the batch: {self.superseded:,} superseded, {self.duplicates:,} duplicates,"
                   f" {self.stale:,} stale" + (f", {self.ttl_ignored:,} TTL expiries ignored" if self.ttl_ignored else "")
                   + "; rows the target already holds newer are skipped when applied")
        if self.rejected:
            out.append(f"  {sum(self.rejected.values()):,} records would be rejected:")
            out += [f"    {n:,} × {why}" for why, n in self.rejected.most_common(3)]
        return out


def _few(items: list[str], limit: int = 6) -> str:
    return ", ".join(items[:limit]) + (f", … {len(items) - limit} more" if len(items) > limit else "")


def plan_next_batch(config: Config, source: Any, target: Any) -> DryRun:
    """Read one batch from `source` (from the target's checkpoints) and plan it on the target's
    schema. `target` is made but not opened; it is opened read-only when it exists."""
    state, checkpoints, existing = SchemaState(), {}, True
    target.mode = "read"
    try:
        with opened(target):
            state, checkpoints = target.load_state(), target.read_checkpoints(source.uri)
    except TargetError as exc:  # opening it: a target nothing was replicated to yet plans from nothing
        if "no dynashift metadata" not in str(exc):
            raise
        existing = False
    report = DryRun(existing_target=existing)
    with contextlib.closing(source.read(checkpoints)) as batches:  # as the pipeline reads: closed after use
        sb = next(iter(batches), None)
    if sb is None:
        return report
    if config.include or config.exclude:
        sb.changes = [c for c in sb.changes if config.wants_table(c.table)]
    plan = build_plan(sb, state, target.naming, modes_of(config))
    report.records = plan.records_read
    for ch in plan.schema_changes:
        if isinstance(ch, AddTable):
            report.new_tables.append(ch.table)
        elif isinstance(ch, AddColumn):
            where = f"{ch.column} ({ch.type or 'text'})" if ch.column else f"{ch.attribute} (in the item column)"
            report.new_columns.setdefault(ch.table, []).append(where)
        else:
            report.other_changes.append(f"{type(ch).__name__} {ch.table}")
    for stage in plan.stages:
        report.rows[stage.table] = report.rows.get(stage.table, 0) + stage.data.num_rows
    report.superseded, report.duplicates, report.stale = plan.superseded, plan.duplicates, plan.stale
    report.ttl_ignored = plan.ttl_ignored
    report.rejected.update(r.reason for r in plan.rejected)
    return report
