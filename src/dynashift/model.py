"""Plain types shared by planning and targets: what a batch plan holds (no behaviour, no I/O).

planning/ builds these; targets/ apply them. Neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pyarrow as pa

from .records import Change, Checkpoint, Rejected
from .schema import SchemaChange, TableModes

if TYPE_CHECKING:
    from .routing import Router

# Staged ops: upsert; hard delete; soft delete keeping the target row's values; soft delete
# carrying the values of the last live version met in the same batch.
UPSERT, HARD_DELETE, SOFT_DELETE, SOFT_DELETE_WITH_VALUES = "U", "D", "S", "V"


@dataclass(slots=True)
class TableStage:
    """One target table's share of a batch: one row per key, ready to stage."""

    table: str
    columns: list[str]
    data: pa.Table
    soft: bool = False  # soft deletes configured: the stage carries the values-version columns


@dataclass(slots=True)
class TypedStage(TableStage):
    """A stage with typed columns, the item column or both: each column's typing_mode type, for
    the cast from its staged text when merged."""

    types: dict[str, str] | None = None


@dataclass(slots=True)
class WarehouseStage(TableStage):
    """A table's share of a batch staged by SQL in the warehouse (redshift-mv://): `relation`
    names the staged table and replaces `data` (which only carries the row count)."""

    relation: str = ""


@dataclass(slots=True)
class HistoryStage:
    """One table's versions in a batch, ready to stage (the attribute columns as text)."""

    table: str  # the replicated table, as dynashift.tables names it
    history_table: str
    columns: list[str]
    data: pa.Table
    types: dict[str, str] | None = None
    only: bool = False  # history only: these rows are the table's only data (and its counts)


@dataclass(slots=True)
class BatchPlan:
    schema_changes: list[SchemaChange] = field(default_factory=list)
    stages: list[TableStage] = field(default_factory=list)
    history: list[HistoryStage] = field(default_factory=list)  # history mode: every version of the batch
    types_seen: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # table -> attribute -> types
    rejected: list[Rejected] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    records_read: int = 0
    bytes_read: int = 0
    duplicates: int = 0
    stale: int = 0
    superseded: int = 0
    ttl_ignored: int = 0
    unrenderable: list[Change] = field(default_factory=list)  # changes rejected while rendering


@dataclass(slots=True)
class Modes:
    delete: str = "hard"  # hard | soft
    ttl: str = "hard"  # hard | soft | ignore
    fail_on_bad_record: bool = False
    router: Router | None = None  # single-table designs: the target table of each change (routing.py)
    # Typed mode, item column, history (typing_mode.py, history.py): each table's modes; None = text only
    tables: Callable[[str], TableModes] | None = None
    # Each DynamoDB table's column budget (schema.plan_schema); None = schema.DEFAULT_MAX_COLUMNS
    budget: Callable[[str], int] | None = None


PLAIN = TableModes()
