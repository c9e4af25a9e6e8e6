"""Planning beyond the original design: typed columns, the item column and history.

planning/core.py calls in here only for tables that have or get one of them (its `_extended_tables`
says which), so the original design's path stays as it was. Pure, like core.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from ..decode import image_of, render_item
from ..errors import BadRecordError
from ..model import BatchPlan, Modes, TypedStage
from ..records import REMOVE, Change, Rejected
from ..schema import ITEM, AddColumn, AddTable, Naming, SchemaChange, SchemaState, TableInfo, TableModes, apply_typed
from ..typing_mode import JSON, Layout, Seen, item_json, plan_columns, render_tagged, stage_columns
from .engine import NativeRows, render_rows
from .history import history_stage, native_history_stage
from .typed_native import native_stage_columns
from .rows import Values, meta_arrays, raw_record


@dataclass(slots=True)
class Extended:
    """A table beyond the original design in this batch: its modes, its winners rendered with
    their types (and items), and every version of the batch for its history."""

    modes: TableModes
    kept: list[tuple[Change, Values | None]] = field(default_factory=list)
    rows: list[dict[str, str | None]] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    items: list[str | None] = field(default_factory=list)
    versions: list[Change] = field(default_factory=list)
    version_rows: list[dict[str, str | None]] = field(default_factory=list)
    version_tags: list[dict[str, str]] = field(default_factory=list)
    version_items: list[str | None] = field(default_factory=list)
    seen: Seen = field(default_factory=Seen)  # what the batch holds of each attribute (typing_mode)
    info: TableInfo | None = None  # the table as this batch leaves it (set by type_columns)
    native: NativeRows | None = None  # the winners rendered natively (render_natively), not in `rows`
    native_versions: NativeRows | None = None  # every version likewise, not in `version_rows`


_NO_TAGS: dict[str, str] = {}


def _image(change: Change, values: Values | None) -> dict:
    if change.op != REMOVE:
        return image_of(change)
    return image_of(values.change, values.which) if values is not None else change.keys


def render_extended(want: TableModes, changes: list[tuple[Change, Values | None]], versions: dict | None,
                     types: dict[str, set[str]], plan: BatchPlan, modes: Modes, tagged: bool) -> Extended:
    """Winners (and, for history, every version) rendered; with each value's type only when the
    table has or gets typed columns (text columns need none: decode.render_item, as the text path)."""
    if not tagged and not want.item_column:
        natively = render_natively(want, changes, versions, types, modes)
        if natively is not None:
            return natively
    ext = Extended(want)

    def render(image: dict) -> tuple[dict[str, str | None], dict[str, str]]:
        return render_tagged(image, ext.seen) if tagged else (render_item(image, types), _NO_TAGS)

    rendered: dict[int, tuple[dict[str, str | None], dict[str, str], str | None]] = {}
    for change, values in changes:
        try:
            image = _image(change, values)
            row, tag = render(image)
            item = item_json(image) if want.item_column else None
        except BadRecordError as exc:
            if modes.fail_on_bad_record:
                raise
            bad = values.change if values is not None else change
            plan.rejected.append(Rejected(exc.reason, raw_record(bad), bad.seq.replace("\x1f", ":")))
            plan.unrenderable.append(bad)
            continue
        ext.kept.append((change, values))
        ext.rows.append(row)
        ext.tags.append(tag)
        ext.items.append(item)
        if change.op != REMOVE:
            rendered[id(change)] = (row, tag, item)
    winners = {id(c) for c, _ in changes}
    for change in (versions or {}).values():
        try:
            if id(change) in rendered:  # a winner's version: rendered above already
                row, tag, item = rendered[id(change)]
            else:
                image = image_of(change) if change.op != REMOVE else change.keys
                row, tag = render(image)
                item = item_json(image) if want.item_column and change.op != REMOVE else None
        except BadRecordError as exc:
            if modes.fail_on_bad_record:
                raise
            if id(change) not in winners:  # a winner's reject is recorded once, above
                plan.rejected.append(Rejected(f"{exc.reason} (history)", raw_record(change), change.seq.replace("\x1f", ":")))
                plan.unrenderable.append(change)
            continue
        ext.versions.append(change)
        ext.version_rows.append(row)
        ext.version_tags.append(tag)
        ext.version_items.append(item)
    types.update(ext.seen.types())
    return ext


def render_natively(want: TableModes, changes: list[tuple[Change, Values | None]], versions: dict | None,
                    types: dict[str, set[str]], modes: Modes) -> Extended | None:
    """render_extended's winners and versions rendered by the native engine, as its text path
    renders them (engine.render_rows: the same text, tags and metadata columns), or None when the
    Python path must render them (Python engine, or a record only it judges). Text columns without
    the item column: history's versions no longer cost a Python dict each."""
    rows = render_rows(changes, modes, "soft" in (modes.delete, modes.ttl))
    if rows is None:
        return None
    listed = list((versions or {}).values())
    version_rows = render_rows([(c, None) for c in listed]) if listed else None
    if listed and version_rows is None:
        return None
    for rendered in (rows, version_rows):
        for name, tags in rendered.types.items() if rendered is not None else ():
            types.setdefault(name, set()).update(tags)
    return Extended(want, kept=changes, versions=listed, native=rows, native_versions=version_rows)


def type_columns(state: SchemaState, plan: BatchPlan, extended: dict[str, Extended], naming: Naming
                  ) -> dict[str, dict[str, Layout]]:
    """Typed mode's pass over plan_schema's changes, per extended table: types for new columns,
    widenings and variant columns (typing_mode.plan_columns); returns each table's layouts."""
    names = {info.name: src for src, info in state.tables.items()}
    names.update({ch.table: ch.source_table for ch in plan.schema_changes if isinstance(ch, AddTable)})
    groups: dict[str, list[SchemaChange]] = {src: [] for src in extended}
    kept: list[SchemaChange] = []
    for ch in plan.schema_changes:
        src = names.get(ch.table)
        (groups[src] if src in groups else kept).append(ch)
    layouts: dict[str, dict[str, Layout]] = {}
    for src, ext in extended.items():
        info = _effective(state.tables.get(src), groups[src])
        if info is None:
            continue  # every change of the table was rejected
        changes, layouts[src] = plan_columns(info, groups[src], ext.seen, ext.modes.column_types == "typed", naming)
        kept.extend(changes)
        ext.info = info
    plan.schema_changes = kept
    return layouts


def _effective(info: TableInfo | None, changes: list[SchemaChange]) -> TableInfo | None:
    """A copy of the table's state with this batch's table-level changes (not its columns)."""
    out = None
    if info is not None:
        out = TableInfo(info.name, info.source_table, info.key_attributes, dict(info.columns), info.types,
                        dict(info.column_types), dict(info.variants), info.item_column, info.history,
                        info.history_table, info.overflow, info.live_view)
    for ch in changes:
        if isinstance(ch, AddTable):
            out = TableInfo(ch.table, ch.source_table, list(ch.key_attributes), item_column=ch.item_column,
                            history=ch.history, history_table=ch.history_table)
        elif not isinstance(ch, AddColumn) and out is not None:
            apply_typed(out, ch)
    return out


def stage_extended(plan: BatchPlan, ext: Extended, name: str, layouts: dict[str, Layout], modes: Modes,
                    soft: bool) -> None:
    info = ext.info
    assert info is not None
    if ext.native is not None:  # rendered natively (render_natively)
        if info.history != "only":
            arrays = dict(ext.native.meta or meta_arrays(ext.kept, modes, soft))
            columns, types = native_stage_columns(layouts, ext.native)
            arrays.update(columns)
            plan.stages.append(TypedStage(name, list(columns), pa.table(arrays), soft, types or None))
        if ext.versions and info.history_table and ext.native_versions is not None:
            plan.history.append(native_history_stage(info, layouts, ext.versions, ext.native_versions))
        return
    if info.history != "only":
        arrays = meta_arrays(ext.kept, modes, soft)
        present = list(dict.fromkeys(a for row in ext.rows for a in row))
        columns, types = stage_columns(layouts, ext.rows, ext.tags, present)
        if info.item_column:
            columns[ITEM] = pa.array(ext.items, pa.string())
            types[ITEM] = JSON
        arrays.update(columns)
        plan.stages.append(TypedStage(name, list(columns), pa.table(arrays), soft, types or None))
    if ext.versions and info.history_table:
        plan.history.append(history_stage(info, layouts, ext.versions, ext.version_rows, ext.version_tags,
                                          ext.version_items if info.item_column else None))
