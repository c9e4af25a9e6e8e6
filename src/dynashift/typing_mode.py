"""Typed mode: column types inferred from the values seen, widened (never failed) as values come.

Pure functions, no I/O. Staging stays text (Arrow strings); a column's type here decides only how
the target casts the staged text in its INSERT ... SELECT (targets/base.py `cast_sql`). Types are
strings, recorded as such in `dynashift.columns.column_type`:

    text            S, and the original design's every column (no type recorded)
    decimal(P,S)    N: values need P digits, S of them after the point; stored as DECIMAL(38, S)
    boolean         BOOL
    binary          B
    json            M, L, SS, NS, BS: the target's JSON type (JSON, JSONB, SUPER)

A value that does not fit its column's type widens it when that is safe (a DECIMAL's precision
and scale grow while 38 digits hold every value met) and otherwise goes to the attribute's text
variant column `<name>__s`, in SPEC section 2's rendering: no batch fails, no value is lost.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable

import orjson
import pyarrow as pa

from .decode import _bytes_default, render_value
from .errors import BadRecordError
from .schema import AddColumn, AddVariant, Naming, SchemaChange, TableInfo, TableModes, WidenColumn, unique_name

if TYPE_CHECKING:
    from .config import Config

TEXT, BOOLEAN, BINARY, JSON = "text", "boolean", "binary", "json"
DECIMAL = "decimal"
MAX_DIGITS = 38  # DECIMAL(38, s): the widest exact type all three targets share
VARIANT_SUFFIX = "__s"
_FAMILY = {"S": TEXT, "N": DECIMAL, "BOOL": BOOLEAN, "B": BINARY, "M": JSON, "L": JSON, "SS": JSON, "NS": JSON,
           "BS": JSON}
# Among equally frequent types of a new column's values, the first of these wins.
_PREFERENCE = (DECIMAL, BOOLEAN, BINARY, JSON, TEXT)

Tagged = tuple[str, "str | None"]  # (DynamoDB type, SPEC section 2 text)


def table_modes_of(config: Config) -> Callable[[str], TableModes] | None:
    """Each table's modes from the settings; None when every table is text only (the fast path)."""
    if config.column_types == "text" and not config.item_column and config.history == "off" and not config.tables:
        return None
    return lambda table: TableModes(*config.table_modes(table))


# ---------------------------------------------------------------- values


def render_tagged(image: dict[str, Any], types_seen: dict[str, set[str]]) -> dict[str, Tagged]:
    """An item -> {attribute: (type tag, column text)}; like decode.render_item, keeping each tag."""
    if type(image) is not dict:
        raise BadRecordError("image is not an object")
    out: dict[str, Tagged] = {}
    for name, av in image.items():
        tag, text = render_value(av)
        out[name] = (tag, text)
        seen = types_seen.get(name)
        if seen is None:
            types_seen[name] = {tag}
        else:
            seen.add(tag)
    return out


def item_json(image: dict[str, Any]) -> str:
    """The whole item as DynamoDB typed JSON, names sorted: lossless (N keeps its digits as text,
    sets stay sets, B stays binary), so any column can be re-derived from it."""
    return orjson.dumps(image, option=orjson.OPT_SORT_KEYS, default=_bytes_default).decode()


@lru_cache(maxsize=65536)
def number_needs(text: str) -> tuple[int, int, str] | None:
    """(integer digits, scale, plain text) of a number's exact value, trailing zeros dropped; None
    when it needs more than 38 digits (1E+100, 1E-50), which no DECIMAL(38, s) holds."""
    sign, digits, exp = Decimal(text).as_tuple()  # exact: no context rounding (normalize() would)
    assert isinstance(exp, int)
    n = len(digits)
    while n > 1 and digits[n - 1] == 0:
        n, exp = n - 1, exp + 1
    digits = digits[:n]
    if digits == (0,):
        return 0, 0, "0"  # zero fits every DECIMAL(38, s), even DECIMAL(38, 38)
    if exp >= 0:
        ints, scale = n + exp, 0
    else:
        ints, scale = max(n + exp, 0), -exp
    if ints + scale > MAX_DIGITS:
        return None
    return ints, scale, format(Decimal((sign, digits, exp)), "f")


def decimal_type(ints: int, scale: int) -> str:
    return f"{DECIMAL}({max(ints + scale, 1)},{scale})"


def decimal_parts(column_type: str) -> tuple[int, int]:
    """`decimal(P,S)` -> (integer digits, scale)."""
    p, s = column_type[len(DECIMAL) + 1:-1].split(",")
    return int(p) - int(s), int(s)


def family(column_type: str | None) -> str:
    if column_type is None or column_type == TEXT:
        return TEXT
    return DECIMAL if column_type.startswith(DECIMAL) else column_type


def fits(column_type: str | None, tag: str, text: str) -> bool:
    """Whether a (non-NULL) value can be stored in a column of this type without loss."""
    kind = family(column_type)
    if kind == TEXT:
        return True
    if kind == DECIMAL:
        if tag != "N":
            return False
        needs = number_needs(text)
        if needs is None:
            return False
        ints, scale = decimal_parts(column_type)  # type: ignore[arg-type]
        return needs[0] <= ints and needs[1] <= scale
    return _FAMILY.get(tag) == kind


def staged_text(column_type: str | None, text: str) -> str:
    """What the stage holds for a fitting value: numbers in plain notation (no exponent, so every
    target's CAST reads them), everything else its SPEC rendering."""
    if family(column_type) == DECIMAL:
        return number_needs(text)[2]  # type: ignore[index]
    return text


# ---------------------------------------------------------------- types of columns


def widen_decimal(ints: int, scale: int, needs: list[tuple[int, int]]) -> tuple[int, int]:
    """The narrowest DECIMAL holding the column's values and as many new ones as 38 digits allow:
    values no DECIMAL(38, s) of at least this scale holds are left out (they go to the variant);
    when the rest need more than 38 digits together, magnitudes (integer digits) come first."""
    ok = [(i, s) for i, s in needs if max(i, ints) + max(s, scale) <= MAX_DIGITS]
    want_ints = max([ints] + [i for i, _ in ok])
    want_scale = max([scale] + [s for _, s in ok])
    if want_ints + want_scale > MAX_DIGITS:
        want_scale = MAX_DIGITS - want_ints  # >= scale: every kept need has i <= 38 - scale
    return want_ints, want_scale


def new_column_type(values: list[Tagged]) -> str | None:
    """The type of a new column from its first values: the most frequent type (ties by
    `_PREFERENCE`), widened to hold them; None (text) when there are none or none fit a decimal."""
    counts: dict[str, int] = {}
    for tag, text in values:
        if text is not None:
            counts[_FAMILY.get(tag, TEXT)] = counts.get(_FAMILY.get(tag, TEXT), 0) + 1
    if not counts:
        return None
    best = max(_PREFERENCE, key=lambda k: (counts.get(k, 0), -_PREFERENCE.index(k)))
    if best == TEXT:
        return None
    if best != DECIMAL:
        return best
    needs = [n[:2] for tag, text in values if tag == "N" and text is not None and (n := number_needs(text))]
    if not needs:
        return None
    return decimal_type(*widen_decimal(0, 0, needs))


def widened(column_type: str, values: list[Tagged]) -> str:
    """A decimal column's type after this batch's numbers (other types never widen in place)."""
    if family(column_type) != DECIMAL:
        return column_type
    needs = [n[:2] for tag, text in values if tag == "N" and text is not None and (n := number_needs(text))]
    return decimal_type(*widen_decimal(*decimal_parts(column_type), needs)) if needs else column_type


@dataclass(slots=True)
class Layout:
    """Where an attribute's values go: its column (typed or text) and its text variant, if any."""

    column: str
    type: str | None
    variant: str | None


def plan_columns(info: TableInfo, changes: list[SchemaChange], values: dict[str, list[Tagged]], typed: bool,
                 naming: Naming) -> tuple[list[SchemaChange], dict[str, Layout]]:
    """This batch's schema changes for one table made typed (new columns get a type when `typed`),
    plus widenings and variant columns; and each attribute's layout for staging.

    `info` is the table as the target holds it (without this batch's changes); `changes` are
    plan_schema's for this table; `values` every value of each attribute in the batch."""
    out: list[SchemaChange] = []
    layouts: dict[str, Layout] = {}
    taken = info.taken(naming) | {naming.fold(c.column) for c in changes if isinstance(c, AddColumn) and c.column}
    for ch in changes:
        if isinstance(ch, AddColumn) and typed and ch.column:
            ch = replace(ch, type=new_column_type(values.get(ch.attribute, [])))
        out.append(ch)
        if isinstance(ch, AddColumn):
            layouts[ch.attribute] = Layout(ch.column, ch.type, None)
    for attr, column in info.columns.items():
        if attr not in layouts:
            layouts[attr] = Layout(column, info.column_types.get(attr), info.variants.get(attr))
    for attr, vals in values.items():
        lay = layouts[attr]
        if not lay.column or family(lay.type) == TEXT:
            continue
        new = widened(lay.type, vals)  # type: ignore[arg-type]
        if new != lay.type:
            out.append(WidenColumn(info.name, attr, lay.column, lay.type, new, info.physical()))  # type: ignore[arg-type]
            lay.type = new
        if lay.variant is None and any(t is not None and not fits(lay.type, tag, t) for tag, t in vals):
            lay.variant = unique_name(attr + VARIANT_SUFFIX, taken, naming)
            taken.add(naming.fold(lay.variant))
            out.append(AddVariant(info.name, attr, lay.variant, info.physical()))
    return out, layouts


def stage_columns(layouts: dict[str, Layout], rows: list[dict[str, Tagged]], present: list[str]
                  ) -> tuple[dict[str, pa.Array], dict[str, str]]:
    """Text arrays for each attribute's column and variant, and the type of each typed column."""
    arrays: dict[str, pa.Array] = {}
    types: dict[str, str] = {}
    for attr in present:
        lay = layouts[attr]
        if not lay.column:
            continue  # past the column limit: in the item column only
        main: list[str | None] = []
        variant: list[str | None] = []
        for row in rows:
            tag, text = row.get(attr, ("NULL", None))
            if text is None:
                main.append(None)
                variant.append(None)
            elif fits(lay.type, tag, text):
                main.append(staged_text(lay.type, text))
                variant.append(None)
            else:
                main.append(None)
                variant.append(text)
        arrays[lay.column] = pa.array(main, pa.string())
        if family(lay.type) != TEXT:
            types[lay.column] = lay.type  # type: ignore[assignment]
        if lay.variant is not None:
            arrays[lay.variant] = pa.array(variant, pa.string())
    return arrays, types


# ---------------------------------------------------------------- comparing values by type


def comparable(column_type: str | None, value: Any) -> Any:
    """A column's value (as a target returns it, or as SPEC text) in a form equal for equal values:
    numbers as Decimal, JSON parsed with exact numbers, binary as base64, booleans as bool."""
    if value is None:
        return None
    kind = family(column_type)
    if kind == DECIMAL:
        return Decimal(value) if not isinstance(value, Decimal) else value
    if kind == BOOLEAN:
        return value if isinstance(value, bool) else str(value) == "true"
    if kind == BINARY:
        return value if isinstance(value, str) else base64.b64encode(bytes(value)).decode("ascii")
    if kind == JSON:
        return json.loads(value, parse_float=Decimal, parse_int=Decimal) if isinstance(value, str) else value
    return value
