"""How a committed batch moves its run's counters (`dynashift.runs`): pure arithmetic over the
batch's plan and what the merge counted."""

from __future__ import annotations

from ..model import BatchPlan
from ..schema import AddColumn, AddOverflow, AddTable, has_own_column
from .metadata import RunCounters


def advanced(run: RunCounters, plan: BatchPlan, counts: dict[str, int]) -> RunCounters:
    """The run's counters once this batch commits (a copy: `run` changes only after the commit)."""
    new = RunCounters(**{f: getattr(run, f) for f in run.__dataclass_fields__})
    new.records_read += plan.records_read
    new.bytes_read += plan.bytes_read
    new.changes_applied += counts["applied"]
    new.superseded += plan.superseded
    new.duplicates_skipped += plan.duplicates + counts["duplicates"]
    new.stale_skipped += plan.stale + counts["stale"]
    new.ttl_ignored += plan.ttl_ignored
    new.rejected += len(plan.rejected)
    new.tables_created += sum(isinstance(c, AddTable) for c in plan.schema_changes)
    new.columns_added += sum(isinstance(c, AddColumn) and has_own_column(c) or isinstance(c, AddOverflow)
                             for c in plan.schema_changes)
    new.batches += 1
    return new


def copy_counters(src: RunCounters, dst: RunCounters) -> None:
    """Make `dst` hold `src`'s counts (after the commit succeeded)."""
    for f in src.__dataclass_fields__:
        setattr(dst, f, getattr(src, f))
