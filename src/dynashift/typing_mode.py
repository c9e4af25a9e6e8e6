"""Typed mode: column types inferred from the values seen, widened (never failed) as values come.

Pure functions, no I/O. Staging stays text (Arrow strings); a column's type here decides only how
the target casts the staged text in its INSERT ... SELECT (targets/base.py `cast_sql`). Types are
strings, recorded as such in `dynashift.columns.column_type`:

    text            S, and the original design's every column (no type recorded)
    decimal(P,S)    N: values need P digits, S of them after the point; stored as DECIMAL(38, S)
    numeric         N past 38 digits, where the target has an unconstrained NUMERIC (PostgreSQL)
    boolean         BOOL
    binary          B
    json            M, L, SS, NS, BS: the target's JSON type (JSON, JSONB, SUPER)

A number that does not fit its column widens it: a DECIMAL's precision and scale grow while 38
digits hold every value met, then the column becomes an unconstrained NUMERIC where the target has
one (PostgreSQL) and text elsewhere, so that a SUM never silently misses a number. A value of
another type goes to the attribute's text variant column `<name>__s`, in the rendering of
docs/reference.md §3: no batch fails, no value is lost.
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
from .overflow import overflow_array
from .schema import OVERFLOW, AddColumn, AddVariant, Naming, SchemaChange, TableInfo, TableModes, WidenColumn, unique_name

if TYPE_CHECKING:
    from .config import Config

TEXT, BOOLEAN, BINARY, JSON = "text", "boolean", "binary", "json"
DECIMAL = "decimal"
NUMERIC = "numeric"
MAX_DIGITS = 38  # DECIMAL(38, s): the widest exact type all three targets share
VARIANT_SUFFIX = "__s"
_FAMILY = {"S": TEXT, "N": DECIMAL, "BOOL": BOOLEAN, "B": BINARY, "M": JSON, "L": JSON, "SS": JSON, "NS": JSON,
           "BS": JSON}
# Among equally frequent types of a new column's values, the first of these wins.
_PREFERENCE = (DECIMAL, BOOLEAN, BINARY, JSON, TEXT)



def table_modes_of(config: Config) -> Callable[[str], TableModes] | None:
    """Each table's modes from the settings; None when every table is text only (the fast path)."""
    modal = [o for o in config.tables.values() if (o.column_types, o.item_column, o.history) != (None, None, None)]
    if config.column_types == "text" and not config.item_column and config.history == "off" and not modal:
        return None  # ([tables.X] entries setting only max_columns are no reason to leave the fast path)
    return lambda table: TableModes(*config.table_modes(table))


# ---------------------------------------------------------------- values


class Seen:
    """What a batch holds of each attribute, gathered while rendering (so typing never walks the
    rows again): how many values of each DynamoDB type, and the (integer digits, scale) each
    number needs (None: more than 38 digits)."""

    __slots__ = ("counts", "needs")

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self.needs: dict[str, set[tuple[int, int] | None]] = {}

    def types(self) -> dict[str, set[str]]:
        return {attr: set(c) for attr, c in self.counts.items()}


def render_tagged(image: dict[str, Any], seen: Seen) -> tuple[dict[str, str | None], dict[str, str]]:
    """An item -> ({attribute: column text}, {attribute: type tag}); like decode.render_item,
    keeping each value's type and noting it in `seen`."""
    if type(image) is not dict:
        raise BadRecordError("image is not an object")
    texts: dict[str, str | None] = {}
    tags: dict[str, str] = {}
    counts = seen.counts
    for name, av in image.items():
        tag, text = render_value(av)
        texts[name] = text
        tags[name] = tag
        c = counts.get(name)
        if c is None:
            counts[name] = c = {}
        c[tag] = c.get(tag, 0) + 1
        if tag == "N":
            n = number_needs(text)  # type: ignore[arg-type]
            seen.needs.setdefault(name, set()).add(n[:2] if n else None)  # type: ignore[index]
    return texts, tags


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


def _numbers_fit(column_type: str, needs: set[tuple[int, int] | None]) -> bool:
    """Whether every number met fits a decimal column of this type."""
    ints, scale = decimal_parts(column_type)
    return all(n is not None and n[0] <= ints and n[1] <= scale for n in needs)


def fits(column_type: str | None, tag: str, text: str) -> bool:
    """Whether a (non-NULL) value can be stored in a column of this type without loss."""
    return fitter(column_type)(tag, text)


def fitter(column_type: str | None) -> Callable[[str, str], bool]:
    """`fits` for one column type, its parts parsed once (staging calls it for every value)."""
    kind = family(column_type)
    if kind == TEXT:
        return lambda tag, text: True
    if kind == NUMERIC:
        return lambda tag, text: tag == "N"
    if kind == DECIMAL:
        ints, scale = decimal_parts(column_type)  # type: ignore[arg-type]

        def decimal_fits(tag: str, text: str) -> bool:
            needs = number_needs(text) if tag == "N" else None
            return needs is not None and needs[0] <= ints and needs[1] <= scale

        return decimal_fits
    return lambda tag, text: _FAMILY.get(tag) == kind


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


def new_column_type(counts: dict[str, int], needs: set[tuple[int, int] | None], unbounded: bool = False) -> str | None:
    """The type of a new column from its first values: the most frequent type (ties by
    `_PREFERENCE`), widened to hold them; None (text) when there are none. Numbers no DECIMAL(38, s)
    holds make it NUMERIC where the target has one (`unbounded`), else text."""
    families: dict[str, int] = {}
    for tag, n in counts.items():
        if tag != "NULL":
            families[_FAMILY.get(tag, TEXT)] = families.get(_FAMILY.get(tag, TEXT), 0) + n
    if not families:
        return None
    best = max(_PREFERENCE, key=lambda k: (families.get(k, 0), -_PREFERENCE.index(k)))
    if best == TEXT:
        return None
    if best != DECIMAL:
        return best
    return widened(decimal_type(0, 0), needs, unbounded)


def widened(column_type: str, needs: set[tuple[int, int] | None], unbounded: bool = False) -> str | None:
    """A decimal column's type after this batch's numbers: a wider DECIMAL while 38 digits hold
    them all, else NUMERIC (`unbounded`: the target has an unconstrained one) or text (None).
    Other types never widen in place."""
    if family(column_type) != DECIMAL:
        return column_type
    fitting = [n for n in needs if n is not None]
    wider = decimal_type(*widen_decimal(*decimal_parts(column_type), fitting)) if fitting else column_type
    if _numbers_fit(wider, needs):
        return wider
    return NUMERIC if unbounded else None


def _all_fit(column_type: str, counts: dict[str, int], needs: set[tuple[int, int] | None]) -> bool:
    kind = family(column_type)
    if kind == NUMERIC:
        return all(tag in ("N", "NULL") for tag in counts)
    if kind != DECIMAL:
        return all(tag == "NULL" or _FAMILY.get(tag) == kind for tag in counts)
    ints, scale = decimal_parts(column_type)
    return all(tag in ("N", "NULL") for tag in counts) and all(
        n is not None and n[0] <= ints and n[1] <= scale for n in needs)


@dataclass(slots=True)
class Layout:
    """Where an attribute's values go: its column (typed or text) and its text variant, if any."""

    column: str
    type: str | None
    variant: str | None


def plan_columns(info: TableInfo, changes: list[SchemaChange], seen: Seen, typed: bool,
                 naming: Naming) -> tuple[list[SchemaChange], dict[str, Layout]]:
    """This batch's schema changes for one table made typed (new columns get a type when `typed`),
    plus widenings and variant columns; and each attribute's layout for staging.

    `info` is the table as the target holds it (without this batch's changes); `changes` are
    plan_schema's for this table; `seen` what the batch holds of each attribute."""
    out: list[SchemaChange] = []
    layouts: dict[str, Layout] = {}
    taken = info.taken(naming) | {naming.fold(c.column) for c in changes if isinstance(c, AddColumn) and c.column}
    for ch in changes:
        if isinstance(ch, AddColumn) and typed and ch.column and ch.column != OVERFLOW:
            ch = replace(ch, type=new_column_type(seen.counts.get(ch.attribute, {}), seen.needs.get(ch.attribute, set()),
                                                  naming.unbounded_numeric))
        out.append(ch)
        if isinstance(ch, AddColumn):
            layouts[ch.attribute] = Layout(ch.column, ch.type, None)
    for attr, column in info.columns.items():
        if attr not in layouts:
            layouts[attr] = Layout(column, info.column_types.get(attr), info.variants.get(attr))
    for attr, counts in seen.counts.items():
        lay = layouts[attr]
        if not lay.column or family(lay.type) == TEXT:
            continue
        needs = seen.needs.get(attr, set())
        new = widened(lay.type, needs, naming.unbounded_numeric) or TEXT  # type: ignore[arg-type]
        if new != lay.type:
            out.append(WidenColumn(info.name, attr, lay.column, lay.type, new, info.physical()))  # type: ignore[arg-type]
            lay.type = new
        if family(lay.type) == TEXT:
            continue  # widened to text: it holds every value
        if lay.variant is None and not _all_fit(lay.type, counts, needs):  # type: ignore[arg-type]
            lay.variant = unique_name(attr + VARIANT_SUFFIX, taken, naming)
            taken.add(naming.fold(lay.variant))
            out.append(AddVariant(info.name, attr, lay.variant, info.physical()))
    return out, layouts


def stage_columns(layouts: dict[str, Layout], rows: list[dict[str, str | None]], tags: list[dict[str, str]],
                  present: list[str]) -> tuple[dict[str, pa.Array], dict[str, str]]:
    """Text arrays for each attribute's column and variant, and the type of each typed column."""
    arrays: dict[str, pa.Array] = {}
    types: dict[str, str] = {}
    overflowed: list[str] = []
    for attr in present:
        lay = layouts[attr]
        if not lay.column:
            continue  # past the column limit (older versions): in the item column only
        if lay.column == OVERFLOW:  # past the column budget: text in the overflow column
            overflowed.append(attr)
            continue
        if family(lay.type) == TEXT:  # text columns take every value as rendered (as the text path)
            arrays[lay.column] = pa.array([row.get(attr) for row in rows], pa.string())
            continue
        ok, decimal = fitter(lay.type), family(lay.type) == DECIMAL
        main: list[str | None] = []
        variant: list[str | None] = []
        for row, tag in zip(rows, tags):
            text = row.get(attr)
            if text is None:
                main.append(None)
                variant.append(None)
            elif ok(tag[attr], text):
                main.append(number_needs(text)[2] if decimal else text)  # type: ignore[index]
                variant.append(None)
            else:
                main.append(None)
                variant.append(text)
        arrays[lay.column] = pa.array(main, pa.string())
        types[lay.column] = lay.type  # type: ignore[assignment]
        if lay.variant is not None:
            arrays[lay.variant] = pa.array(variant, pa.string())
    if overflowed:
        arrays[OVERFLOW] = overflow_array(rows, overflowed)
        types[OVERFLOW] = JSON
    return arrays, types


# ---------------------------------------------------------------- comparing values by type


def comparable(column_type: str | None, value: Any) -> Any:
    """A column's value (as a target returns it, or as the text of docs/reference.md §3) in a form equal for equal values:
    numbers as Decimal, JSON parsed with exact numbers, binary as base64, booleans as bool; in a
    column widened to text (recorded as "text"), what reads as a number as Decimal."""
    if value is None:
        return None
    kind = family(column_type)
    if kind in (DECIMAL, NUMERIC):
        return Decimal(value) if not isinstance(value, Decimal) else value
    if kind == BOOLEAN:
        return value if isinstance(value, bool) else str(value) == "true"
    if kind == BINARY:
        return value if isinstance(value, str) else base64.b64encode(bytes(value)).decode("ascii")
    if kind == JSON:
        return json.loads(value, parse_float=Decimal, parse_int=Decimal) if isinstance(value, str) else value
    if column_type == TEXT:  # a number column widened to text: the numbers it held keep their value, not spelling
        try:
            number = Decimal(value)
        except ArithmeticError:
            return value
        return number if number.is_finite() else value
    return value
