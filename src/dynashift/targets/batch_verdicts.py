"""What the batch merges (duckdb_merge.py, duckdb_soft_merge.py, postgres_merge.py) share: the names
of a batch's temp tables, a table's staged rows counted by verdict, and the change log of the winners."""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from ..schema import DIST_KEY, STAGE_EVENT, STAGE_OP, STAGE_SEQ, STAGE_VERSION
from .metadata import META
from .quoting import quote

VERDICTS = "_dynashift_verdicts"  # each staged row of the batch with its verdict: 'W' wins, 'D' duplicate, 'S' stale
TABLE = "_dynashift_table"  # the column naming the table a staged row of the batch is for

Counts = dict[tuple[str, bool], int]  # (verdict, key never seen before) -> rows


class Executes(Protocol):
    NOW: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...


def table_counts(counts: Counts, total: int) -> tuple[int, int, int]:
    """(applied, duplicates, stale) of a table's `total` staged rows, from its verdict counts."""
    applied = counts.get(("W", True), 0) + counts.get(("W", False), 0)
    dups = counts.get(("D", False), 0)  # a duplicate is of a change applied before: its key was seen
    return applied, dups, total - applied - dups


def log_winners(target: Executes, rows: str = f"{VERDICTS} s") -> None:
    """Every winner of the batch (VERDICTS) into dynashift.change_log, in one statement. `rows`:
    the staged rows as `s` with their `_verdict` (DuckDB's batch merge joins its verdicts to the
    staged batch, which alone keeps the seq and event id)."""
    target.execute(
        f"INSERT INTO {META}.change_log SELECT s.{TABLE}, s.{quote(DIST_KEY)}, s.{quote(STAGE_OP)},"
        f" s.{quote(STAGE_VERSION)}, s.{quote(STAGE_SEQ)}, s.{quote(STAGE_EVENT)}, {target.NOW}"
        f" FROM {rows} WHERE _verdict = 'W'"
    )
