"""A source batch -> a BatchPlan: newest change per key, rendered, mapped, as Arrow tables.

Pure (no I/O): what the target must do for one batch, computed from the batch and the known
schema, so it can be checked without a database.
"""

from __future__ import annotations

from typing import Callable

import pyarrow as pa

from ..batching import Batch
from ..decode import image_of, render_item
from ..errors import BadRecordError
from ..model import PLAIN, BatchPlan, Modes, TableStage, TypedStage
from ..overflow import overflow_array
from ..records import LAZY, REMOVE, Change, Rejected, SourceBatch
from ..schema import OVERFLOW, Naming, SchemaState, TableModes, mappings, plan_schema
from .blocks import BlockBatch, RenderedBlock, plannable_blocks
from .engine import NativeRows, log_fallback_once, render_rows
from .rows import Values, is_soft, meta_arrays, raw_record, soft_values
from .typed import Extended, render_extended, stage_extended, type_columns
from .typed_native import NativeExtended, native_typed, stage_native_typed

def build_plan(sb: SourceBatch, state: SchemaState, naming: Naming, modes: Modes) -> BatchPlan:
    """The plan of one batch. Images are rendered only for each key's newest change; one that
    cannot be rendered is rejected and the batch planned again without it, so that an older
    change of the same key still applies, as it would had the two come in different batches."""
    skip: set[tuple[str, str, str]] = set()  # (table, key, seq) of each change rejected so far
    carried: list[Rejected] = []
    while True:
        plan = _plan(sb, state, naming, modes, skip, carried)
        bad = {(c.table, c.dist_key, c.seq) for c in plan.unrenderable} - skip
        if not bad:
            return plan
        skip |= bad
        carried = plan.rejected[len(sb.rejected):]


def _plan(sb: SourceBatch, state: SchemaState, naming: Naming, modes: Modes, skip: set[tuple[str, str, str]],
          carried: list[Rejected]) -> BatchPlan:
    plan = BatchPlan(
        rejected=list(sb.rejected) + carried,
        checkpoints=sb.checkpoints,
        records_read=sb.records_read,
        bytes_read=sb.bytes_read,
    )
    if plan.rejected and modes.fail_on_bad_record:
        raise BadRecordError(f"bad record at {plan.rejected[0].position}: {plan.rejected[0].reason}")
    batch = Batch(track_live="soft" in (modes.delete, modes.ttl))
    names: dict[str, dict[str, None]] = {}  # every attribute met, superseded changes included
    extended = _extended_tables(state, modes)
    versions: dict[str, dict[tuple[str, int, str], Change]] = {}  # history mode: each table's changes
    blocks = plannable_blocks(sb, modes, extended)  # winners found and rendered natively (full loads, files)
    for change in () if blocks is not None else sb.changes if modes.router is None else modes.router.apply(sb.changes):
        if skip and (change.table, change.dist_key, change.seq) in skip:
            continue
        if change.ttl and modes.ttl == "ignore":
            plan.ttl_ignored += 1
            continue
        batch.add(change)
        if extended is not None and extended(change.table).history != "off":
            versions.setdefault(change.table, {}).setdefault(
                (change.dist_key, change.version, change.event_id or change.seq), change)
        image = change.new_image if change.new_image is not LAZY else change.names
        if image:
            known = names.get(change.table)
            if known is None:
                names[change.table] = dict.fromkeys(image)
            elif not known.keys() >= set(image):
                known.update(dict.fromkeys(image))
    plan.duplicates, plan.stale, plan.superseded = batch.duplicates, batch.stale, batch.superseded
    by_table: dict[str, list[tuple[Change, Values | None]] | RenderedBlock] = {}
    if blocks is not None:
        assert isinstance(sb, BlockBatch)
        plan.ttl_ignored += sb.ttl_ignored
        for block in blocks:
            plan.duplicates += block.duplicates
            plan.stale += block.stale
            plan.superseded += block.superseded
            if block.names:
                names[block.table] = dict(block.names)
            if block.rows.count:
                by_table[block.table] = block
    for key, change in batch.latest.items():
        values = soft_values(change, batch.live.get(key)) if change.op == REMOVE and is_soft(change, modes) else None
        by_table.setdefault(change.table, []).append((change, values))

    rendered: dict[str, tuple[list[Change], list[dict[str, str | None]]]] = {}
    seen: dict[str, tuple[list[str], list[str]]] = {}
    typed: dict[str, Extended | NativeExtended] = {}  # tables beyond the original design, by DynamoDB table
    for table, changes in by_table.items():
        types: dict[str, set[str]] = {}
        if isinstance(changes, RenderedBlock):
            kept, rows = changes, changes.rows  # type: ignore[assignment]
            types.update((name, set(tags)) for name, tags in rows.types.items())
            if extended is not None and (want := extended(table)) is not PLAIN:  # typed columns (blocks.natively_typed)
                typed[table] = native_typed(want, changes)
        elif extended is not None and (want := extended(table)) is not PLAIN:
            info = state.tables.get(table)
            tagged = want.column_types == "typed" or bool(info and (info.column_types or info.variants))
            log_fallback_once(table, "typed columns, the item column or history")
            ext = typed[table] = render_extended(want, changes, versions.get(table), types, plan, modes, tagged)
            kept, rows = ext.kept, ext.rows  # type: ignore[assignment]
        else:
            native = render_rows(changes, modes, batch.track_live)
            if native is not None:
                kept, rows = changes, native
                for name, tags in native.types.items():
                    types[name] = set(tags)
            else:
                log_fallback_once(table, "a record or value the native engine leaves to the Python code")
                kept, rows = _render(changes, types, plan, modes)
        if not kept:
            continue
        keys = list(kept.key_names if isinstance(kept, RenderedBlock) else kept[0][0].keys)
        attributes = dict.fromkeys(sorted(keys))
        for name in names.get(table, ()):
            attributes.setdefault(name)
        for name in types:
            attributes.setdefault(name)
        rendered[table] = (kept, rows)
        seen[table] = (keys, list(attributes))
        plan.types_seen[table] = types
    if plan.unrenderable:  # build_plan plans the batch again without them: typing a rejected row's
        return plan        # partial types would fail (an attribute counted that no kept row has)

    plan.schema_changes = plan_schema(state, seen, naming, {t: x.modes for t, x in typed.items()} or None, modes.budget,
                                      live="soft" in (modes.delete, modes.ttl))
    layouts = type_columns(state, plan, typed, naming) if typed else {}
    mapped = mappings(state, plan.schema_changes)
    for table, (changes, rows) in rendered.items():
        name, columns = mapped[table]
        if isinstance(changes, RenderedBlock) and table in typed:
            stage_native_typed(plan, typed[table], name, layouts[table], soft=batch.track_live)  # type: ignore[arg-type]
        elif isinstance(changes, RenderedBlock):
            plan.stages.append(_native_stage(name, columns, changes.meta_arrays(batch.track_live), rows, batch.track_live))
        elif table in typed:
            stage_extended(plan, typed[table], name, layouts[table], modes, soft=batch.track_live)
        else:
            plan.stages.append(_stage(name, columns, changes, rows, modes, soft=batch.track_live))
    # types_seen is keyed by target table name from here on
    plan.types_seen = {mapped[t][0]: v for t, v in plan.types_seen.items()}
    return plan


def _render(changes: list[tuple[Change, Values | None]], types: dict[str, set[str]], plan: BatchPlan, modes: Modes):
    kept: list[tuple[Change, Values | None]] = []
    rows: list[dict[str, str | None]] = []
    for change, values in changes:
        try:
            if change.op != REMOVE:
                image = image_of(change)
            elif values is not None:
                image = image_of(values.change, values.which)
            else:
                image = change.keys
            rows.append(render_item(image, types))
        except BadRecordError as exc:
            if modes.fail_on_bad_record:
                raise
            bad = values.change if values is not None else change
            plan.rejected.append(Rejected(exc.reason, raw_record(bad), bad.seq.replace("\x1f", ":")))
            plan.unrenderable.append(bad)
            continue
        kept.append((change, values))
    return kept, rows


def _stage(table: str, columns: dict[str, str], pairs: list[tuple[Change, Values | None]],
           rows: list[dict] | NativeRows, modes: Modes, soft: bool) -> TableStage:
    if isinstance(rows, NativeRows):  # its metadata columns usually made natively too
        return _native_stage(table, columns, rows.meta if rows.meta is not None else meta_arrays(pairs, modes, soft),
                             rows, soft)
    arrays = meta_arrays(pairs, modes, soft)
    present = {name for row in rows for name in row} if len(columns) > 64 else columns.keys()
    used: list[str] = []
    overflowed: list[str] = []
    for attr in present:
        column = columns[attr]
        if column == OVERFLOW:
            overflowed.append(attr)
            continue
        arrays[column] = pa.array([row.get(attr) for row in rows], pa.string())
        used.append(column)
    if not overflowed:
        return TableStage(table, used, pa.table(arrays), soft)
    arrays[OVERFLOW] = overflow_array(rows, overflowed)
    return TypedStage(table, [*used, OVERFLOW], pa.table(arrays), soft, {OVERFLOW: "json"})


def _native_stage(table: str, columns: dict[str, str], arrays: dict[str, pa.Array], rows: NativeRows,
                  soft: bool) -> TableStage:
    """_stage over natively rendered columns: the same columns, as the Python path stages them."""
    used: list[str] = []
    overflowed: list[str] = []
    present = rows.columns.keys() if len(columns) > 64 else columns.keys()
    for attr in present:
        column = columns[attr]
        if column == OVERFLOW:
            overflowed.append(attr)
            continue
        found = rows.columns.get(attr)
        arrays[column] = found if found is not None else pa.nulls(rows.count, pa.string())
        used.append(column)
    if not overflowed:
        return TableStage(table, used, pa.table(arrays), soft)
    # the overflowed attributes' rows, as the Python path holds them (absent = None)
    met = [a for a in overflowed if a in rows.columns]
    values = [rows.columns[a].to_pylist() for a in met]
    dicts = [dict(zip(met, row)) for row in zip(*values)] if met else [{} for _ in range(rows.count)]
    arrays[OVERFLOW] = overflow_array(dicts, overflowed)
    return TypedStage(table, [*used, OVERFLOW], pa.table(arrays), soft, {OVERFLOW: "json"})


def _extended_tables(state: SchemaState, modes: Modes) -> Callable[[str], TableModes] | None:
    """Each table's modes, or None when no table goes beyond text columns (the original design's
    path, untouched). Typed columns, the item column and history stay once a table has them."""
    sticky = {t: i for t, i in state.tables.items()
              if i.column_types or i.variants or i.item_column or i.history != "off"}
    if modes.tables is None and not sticky:
        return None
    cache: dict[str, TableModes] = {}

    def modes_of(table: str) -> TableModes:
        found = cache.get(table)
        if found is None:
            want = modes.tables(table) if modes.tables is not None else PLAIN
            info = sticky.get(table)
            if info is not None:
                want = TableModes(want.column_types, want.item_column or info.item_column,
                                  info.history if info.history != "off" else want.history)
            found = cache[table] = PLAIN if want == PLAIN and info is None else want
        return found

    return modes_of
