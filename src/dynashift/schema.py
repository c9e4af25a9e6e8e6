"""Table and column naming, and schema changes computed as values (AddTable, AddColumn, and for
typed mode, the item column and history: WidenColumn, AddVariant, AddItemColumn, AddHistory).

Pure: given what the target already has (SchemaState) and what a batch carries, `plan_schema`
returns the changes; the target applies them inside the batch's transaction, and the state is
updated only after the commit. A mapping, once made, never changes (docs/reference.md §2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable

import orjson

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
# The lossless item column, and the history table's own columns (docs/decisions.md, typed mode).
ITEM = "_dynashift_item"
VALID_FROM = "_dynashift_valid_from"
VALID_TO = "_dynashift_valid_to"
TTL = "_dynashift_ttl"
WIDENING = "_dynashift_widening"  # Redshift: the new column while a column's type is widened
# Attributes past a table's column budget: one JSON object of attribute -> its column text
# (docs/decisions.md "Column budget"). In dynashift.columns their column_name is this name.
OVERFLOW = "_dynashift_overflow"
DEFAULT_MAX_COLUMNS = 1000  # safely under PostgreSQL's and Redshift's 1,600 columns per table
RESERVED = frozenset(
    META_COLUMNS + (STAGE_OP, STAGE_VERSION, STAGE_SEQ, STAGE_EVENT, STAGE_VALUES_VERSION, STAGE_VALUES_SEQ)
    + (ITEM, VALID_FROM, VALID_TO, TTL, WIDENING, OVERFLOW)
)
HISTORY_SUFFIX = "__history"
LIVE_SUFFIX = "_live"  # soft deletes: the view of a table's live rows


@dataclass(frozen=True, slots=True)
class Naming:
    """What a target allows in identifiers: its byte limit and whether it folds case."""

    max_bytes: int
    case_insensitive: bool
    max_columns: int = 0  # columns a table may have (0: no limit); the column budget never goes past it
    unbounded_numeric: bool = False  # typed mode: an unconstrained NUMERIC holds numbers past 38 digits

    def fold(self, name: str) -> str:
        return name.lower() if self.case_insensitive else name


@dataclass(slots=True)
class TableInfo:
    name: str
    source_table: str
    key_attributes: list[str]
    # attribute -> column; OVERFLOW past the column budget; "" (older versions) in the item column only
    columns: dict[str, str] = field(default_factory=dict)
    types: dict[str, set[str]] = field(default_factory=dict)  # attribute -> DynamoDB types seen
    # Typed mode: attribute -> column type (typing_mode; absent = text) and -> its text variant column.
    column_types: dict[str, str] = field(default_factory=dict)
    variants: dict[str, str] = field(default_factory=dict)
    item_column: bool = False
    history: str = "off"  # off | beside | only
    history_table: str | None = None
    overflow: bool = False  # the table has its OVERFLOW column
    live_view: str | None = None  # soft deletes: the view of its live rows (AddLiveView)

    def taken(self, naming: Naming) -> set[str]:
        names = [*self.columns.values(), *self.variants.values(), *RESERVED]
        return {naming.fold(c) for c in names if c}

    def physical(self) -> tuple[str, ...]:
        """The tables a column of this table lives in: () for the table alone (the original design)."""
        if self.history == "off" or not self.history_table:
            return ()
        return (self.history_table,) if self.history == "only" else (self.name, self.history_table)

    def width(self) -> int:
        """Columns of the widest physical table (the history table has five more of its own)."""
        meta = len(META_COLUMNS) + (5 if self.history != "off" else 0) + self.item_column + self.overflow
        return meta + sum(1 for c in self.columns.values() if c and c != OVERFLOW) + len(self.variants)


@dataclass(frozen=True, slots=True)
class AddTable:
    table: str
    source_table: str
    key_attributes: tuple[str, ...]
    item_column: bool = False
    history: str = "off"
    history_table: str | None = None


@dataclass(frozen=True, slots=True)
class AddColumn:
    """`column` is OVERFLOW for an attribute past the table's column budget: it is recorded in
    dynashift.columns, and its values live in the overflow column (no column is added).
    `type` is a typing_mode type; None is text (the original design)."""

    table: str
    attribute: str
    column: str
    is_key: bool
    type: str | None = None
    tables: tuple[str, ...] = ()  # the physical tables (history mode); () = `table` alone


@dataclass(frozen=True, slots=True)
class WidenColumn:
    """Typed mode: a column's type grows to hold a value that did not fit (e.g. a larger scale)."""

    table: str
    attribute: str
    column: str
    old: str
    new: str
    tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddVariant:
    """Typed mode: a text column beside a typed one, for the attribute's values of other types."""

    table: str
    attribute: str
    column: str
    tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddOverflow:
    """The table's first attribute past its column budget: the OVERFLOW column (the target's JSON
    type) is added; AddColumn(column=OVERFLOW) changes follow for each such attribute."""

    table: str
    tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddItemColumn:
    table: str
    tables: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AddHistory:
    """History turned on for a table that exists: its history table, with the table's columns
    as (column, type) pairs (variants included, type None = text)."""

    table: str
    history_table: str
    columns: tuple[tuple[str, str | None], ...] = ()
    item_column: bool = False


@dataclass(frozen=True, slots=True)
class AddLiveView:
    """Soft deletes: `<table>_live`, the view of the table's rows not marked deleted (named and
    collision-checked like a table, recorded in dynashift.tables.options)."""

    table: str
    view: str


SchemaChange = AddTable | AddColumn | WidenColumn | AddVariant | AddItemColumn | AddHistory | AddOverflow | AddLiveView


@dataclass(slots=True)
class SchemaState:
    """The tables and column mappings a target holds, keyed by DynamoDB table name."""

    tables: dict[str, TableInfo] = field(default_factory=dict)

    def names_taken(self) -> set[str]:
        return {n for t in self.tables.values() for n in (t.name, t.history_table, t.live_view) if n}

    def apply(self, changes: list[SchemaChange]) -> None:
        """Record committed changes (call after the transaction commits)."""
        by_name = {t.name: t for t in self.tables.values()}
        for ch in changes:
            if isinstance(ch, AddTable):
                info = TableInfo(ch.table, ch.source_table, list(ch.key_attributes), item_column=ch.item_column,
                                 history=ch.history, history_table=ch.history_table)
                self.tables[ch.source_table] = info
                by_name[ch.table] = info
            elif isinstance(ch, AddColumn):
                by_name[ch.table].columns[ch.attribute] = ch.column
                if ch.type is not None:
                    by_name[ch.table].column_types[ch.attribute] = ch.type
            else:
                apply_typed(by_name[ch.table], ch)


def mappings(state: SchemaState, changes: list[SchemaChange]) -> dict[str, tuple[str, dict[str, str]]]:
    """DynamoDB table -> (target table, attribute -> column), including this batch's additions."""
    out = {src: (info.name, dict(info.columns)) for src, info in state.tables.items()}
    by_name = {name: src for src, (name, _) in out.items()}
    for ch in changes:
        if isinstance(ch, AddTable):
            out[ch.source_table] = (ch.table, {})
            by_name[ch.table] = ch.source_table
        elif isinstance(ch, AddColumn):
            out[by_name[ch.table]][1][ch.attribute] = ch.column
    return out


def has_own_column(ch: AddColumn) -> bool:
    """Whether an attribute's mapping adds a column of its own (not past the budget, not item-only)."""
    return bool(ch.column) and ch.column != OVERFLOW


def apply_typed(info: TableInfo, ch: SchemaChange) -> None:
    """The changes beyond the original design, on one table's state."""
    if isinstance(ch, WidenColumn):
        info.column_types[ch.attribute] = ch.new
    elif isinstance(ch, AddVariant):
        info.variants[ch.attribute] = ch.column
    elif isinstance(ch, AddItemColumn):
        info.item_column = True
    elif isinstance(ch, AddOverflow):
        info.overflow = True
    elif isinstance(ch, AddLiveView):
        info.live_view = ch.view
    elif isinstance(ch, AddHistory):
        info.history, info.history_table = "beside", ch.history_table


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


def stored_name(attribute: str) -> str:
    """An attribute name as dynashift.columns.attribute_name holds it. No target's text holds NUL
    (DynamoDB names may): such a name, and one that would read as such, is stored as its JSON
    string literal, `"a\\u0000b"` with the quotes, so the mapping keeps the real name."""
    if "\x00" in attribute or attribute.startswith('"'):
        return orjson.dumps(attribute).decode()
    return attribute


def name_from_stored(stored: str) -> str:
    """The inverse of `stored_name`."""
    if stored.startswith('"'):
        try:
            name = orjson.loads(stored)
        except orjson.JSONDecodeError:
            return stored
        return name if isinstance(name, str) else stored
    return stored


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
    """DynamoDB table name lower-cased (docs/reference.md §2); `Orders` and `orders` get `__2`."""
    return unique_name(source_table.lower(), {t.lower() for t in taken}, Naming(naming.max_bytes, True))


@dataclass(frozen=True, slots=True)
class TableModes:
    """What a table is configured to be beyond the original design (config.py's per-table block)."""

    column_types: str = "text"  # text | typed
    item_column: bool = False
    history: str = "off"  # off | beside | only


def column_limit(budget: int, naming: Naming) -> int:
    """A table's column budget, never past what the target allows (0: no limit)."""
    limits = [n for n in (budget, naming.max_columns) if n > 0]
    return min(limits) if limits else 0


def plan_schema(
    state: SchemaState,
    seen: dict[str, tuple[list[str], list[str]]],
    naming: Naming,
    modes: dict[str, TableModes] | None = None,
    budget: Callable[[str], int] | None = None,
    live: bool = False,
) -> list[SchemaChange]:
    """Changes needed for a batch. `seen` maps DynamoDB table -> (key attributes, attributes in
    the order first met). New attributes are mapped in that order, so the result is stable.
    `modes` (only when some table wants more than text columns) adds the item column and history.
    `budget` gives each DynamoDB table's column budget (default DEFAULT_MAX_COLUMNS): attributes
    past it map to the overflow column, one slot of the budget being kept for that column.
    `live` (soft deletes): each table gets a view of its live rows."""
    changes: list[SchemaChange] = []
    taken_tables = state.names_taken()
    for source_table, (keys, attributes) in seen.items():
        want = modes.get(source_table) if modes else None
        info = state.tables.get(source_table)
        if info is None:
            name = table_name_for(source_table, taken_tables, naming)
            taken_tables.add(name)
            info = TableInfo(name, source_table, sorted(keys))
            if want is not None:
                info = _with_modes(info, want, taken_tables, naming, None)
            changes.append(AddTable(name, source_table, tuple(sorted(keys)), info.item_column, info.history,
                                    info.history_table))
        elif want is not None:
            info = _with_modes(info, want, taken_tables, naming, changes)
        if live and info.live_view is None and info.history != "only":  # (history only: the table is such a view)
            view = table_name_for(info.name + LIVE_SUFFIX, taken_tables, naming)
            taken_tables.add(view)
            changes.append(AddLiveView(info.name, view))
        taken = info.taken(naming)
        width = info.width()
        limit = column_limit(budget(source_table) if budget else DEFAULT_MAX_COLUMNS, naming)
        overflow = info.overflow
        for attr in attributes:
            if attr in info.columns:
                continue
            if limit and width + (0 if overflow else 1) >= limit:  # no room: a slot is kept for the overflow column
                if not overflow:
                    overflow, width = True, width + 1
                    changes.append(AddOverflow(info.name, info.physical()))
                changes.append(AddColumn(info.name, attr, OVERFLOW, attr in keys, tables=info.physical()))
                continue
            column = unique_name(attr, taken, naming)
            taken.add(naming.fold(column))
            width += 1
            changes.append(AddColumn(info.name, attr, column, attr in keys, tables=info.physical()))
    return changes


def history_name_for(table: str, taken: set[str], naming: Naming) -> str:
    """`<table>__history`, kept apart from every replicated table's name as table names are."""
    return table_name_for(table + HISTORY_SUFFIX, taken, naming)


def _with_modes(info: TableInfo, want: TableModes, taken_tables: set[str], naming: Naming,
                changes: list[SchemaChange] | None) -> TableInfo:
    """A copy of `info` with the item column and history the table is configured to have. For an
    existing table (`changes` given) what it lacked is appended there; history added later is
    "beside" the rows it already has. Both, once on, stay on (turning them off keeps what exists)."""
    if (info.item_column or not want.item_column) and (info.history != "off" or want.history == "off"):
        return info
    out = TableInfo(info.name, info.source_table, info.key_attributes, dict(info.columns), info.types,
                    dict(info.column_types), dict(info.variants), info.item_column, info.history, info.history_table,
                    info.overflow, info.live_view)
    if want.history != "off" and out.history == "off":
        out.history_table = history_name_for(info.name, taken_tables, naming)
        taken_tables.add(out.history_table)
        out.history = want.history if changes is None else "beside"
        if changes is not None:
            columns = [(c, info.column_types.get(a)) for a, c in info.columns.items() if c and c != OVERFLOW]
            columns += [(c, None) for c in info.variants.values()]
            columns += [(OVERFLOW, "json")] if info.overflow else []  # typing_mode.JSON
            changes.append(AddHistory(info.name, out.history_table, tuple(columns), info.item_column))
    if want.item_column and not out.item_column:
        out.item_column = True
        if changes is not None:
            changes.append(AddItemColumn(info.name, out.physical()))
    return out
