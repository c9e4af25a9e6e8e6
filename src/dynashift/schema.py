"""Table and column naming, and schema changes computed as values (AddTable, AddColumn).

Pure: given what the target already has (SchemaState) and what a batch carries, `plan_schema`
returns the changes; the target applies them inside the batch's transaction, and the state is
updated only after the commit. A mapping, once made, never changes (SPEC section 2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

DIST_KEY = "dist_key"
CHANGED_AT = "_dynashift_changed_at"
SYNCED_AT = "_dynashift_synced_at"
DELETED = "_dynashift_deleted"
META_COLUMNS = (DIST_KEY, CHANGED_AT, SYNCED_AT, DELETED)
# Names the staging tables use beside the mapped columns; attributes never map onto them.
STAGE_OP = "_dynashift_op"
STAGE_VERSION = "_dynashift_version"
STAGE_SEQ = "_dynashift_seq"
STAGE_EVENT = "_dynashift_event_id"
# Soft deletes only: the version of the change whose values a soft-deleted row shows.
STAGE_VALUES_VERSION = "_dynashift_values_version"
STAGE_VALUES_SEQ = "_dynashift_values_seq"
RESERVED = frozenset(
    META_COLUMNS + (STAGE_OP, STAGE_VERSION, STAGE_SEQ, STAGE_EVENT, STAGE_VALUES_VERSION, STAGE_VALUES_SEQ)
)


@dataclass(frozen=True, slots=True)
class Naming:
    """What a target allows in identifiers: its byte limit and whether it folds case."""

    max_bytes: int
    case_insensitive: bool

    def fold(self, name: str) -> str:
        return name.lower() if self.case_insensitive else name


@dataclass(slots=True)
class TableInfo:
    name: str
    source_table: str
    key_attributes: list[str]
    columns: dict[str, str] = field(default_factory=dict)  # attribute -> column
    types: dict[str, set[str]] = field(default_factory=dict)  # attribute -> DynamoDB types seen

    def taken(self, naming: Naming) -> set[str]:
        return {naming.fold(c) for c in self.columns.values()} | {naming.fold(c) for c in RESERVED}


@dataclass(frozen=True, slots=True)
class AddTable:
    table: str
    source_table: str
    key_attributes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AddColumn:
    table: str
    attribute: str
    column: str
    is_key: bool


@dataclass(slots=True)
class SchemaState:
    """The tables and column mappings a target holds, keyed by DynamoDB table name."""

    tables: dict[str, TableInfo] = field(default_factory=dict)

    def names_taken(self) -> set[str]:
        return {t.name for t in self.tables.values()}

    def apply(self, changes: list[AddTable | AddColumn]) -> None:
        """Record committed changes (call after the transaction commits)."""
        by_name = {t.name: t for t in self.tables.values()}
        for ch in changes:
            if isinstance(ch, AddTable):
                info = TableInfo(ch.table, ch.source_table, list(ch.key_attributes))
                self.tables[ch.source_table] = info
                by_name[ch.table] = info
            else:
                by_name[ch.table].columns[ch.attribute] = ch.column


def fit(name: str, max_bytes: int) -> str:
    """Cut a name to the byte limit at a character boundary, with a short hash of the whole name
    so that two long names sharing a prefix stay apart."""
    raw = name.encode("utf-8")
    if len(raw) <= max_bytes:
        return name
    digest = hashlib.sha1(raw).hexdigest()[:8]
    head = raw[: max_bytes - 9].decode("utf-8", errors="ignore")
    return f"{head}_{digest}"


def _clean(name: str) -> str:
    # NUL cannot live in any target's identifiers; everything else is kept and quoted.
    return name.replace("\x00", "_") or "_"


def unique_name(wanted: str, taken: set[str], naming: Naming) -> str:
    """The first of wanted, wanted__2, wanted__3, … (each fitted) free under the target's folding."""
    base = _clean(wanted)
    candidate = fit(base, naming.max_bytes)
    n = 1
    while naming.fold(candidate) in taken:
        n += 1
        suffix = f"__{n}"
        candidate = fit(base, naming.max_bytes - len(suffix)) + suffix
    return candidate


def table_name_for(source_table: str, taken: set[str], naming: Naming) -> str:
    """DynamoDB table name lower-cased (SPEC section 2); `Orders` and `orders` get `__2`."""
    return unique_name(source_table.lower(), {t.lower() for t in taken}, Naming(naming.max_bytes, True))


def plan_schema(
    state: SchemaState,
    seen: dict[str, tuple[list[str], list[str]]],
    naming: Naming,
) -> list[AddTable | AddColumn]:
    """Changes needed for a batch. `seen` maps DynamoDB table -> (key attributes, attributes in
    the order first met). New attributes are mapped in that order, so the result is stable."""
    changes: list[AddTable | AddColumn] = []
    taken_tables = state.names_taken()
    for source_table, (keys, attributes) in seen.items():
        info = state.tables.get(source_table)
        if info is None:
            name = table_name_for(source_table, taken_tables, naming)
            taken_tables.add(name)
            changes.append(AddTable(name, source_table, tuple(sorted(keys))))
            info = TableInfo(name, source_table, sorted(keys))
        taken = info.taken(naming)
        for attr in attributes:
            if attr in info.columns:
                continue
            column = unique_name(attr, taken, naming)
            taken.add(naming.fold(column))
            changes.append(AddColumn(info.name, attr, column, attr in keys))
    return changes
