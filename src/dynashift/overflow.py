"""The overflow column: attributes past a table's column budget, in one JSON column.

Pure. Each row's value is a JSON object of the overflowed attributes the row holds (NULL values
left out) -> the exact text their column would hold (the rendering of docs/reference.md §3), names sorted;
NULL when the row holds none. Text, not JSON values, so that numbers keep their digits in every
target's JSON type (Redshift's SUPER would not) and `->>'name'` gives back the column text
(docs/decisions.md "Column budget").
"""

from __future__ import annotations

import orjson
import pyarrow as pa


def overflow_array(rows: list[dict[str, str | None]], attributes: list[str]) -> pa.Array:
    """The overflow column's text for each rendered row (attribute -> column text)."""
    wanted = set(attributes)
    out: list[str | None] = []
    for row in rows:  # a row's own attributes, not every overflowed one: wide tables have thousands
        found = {a: v for a, v in row.items() if v is not None and a in wanted}
        out.append(orjson.dumps(found, option=orjson.OPT_SORT_KEYS).decode() if found else None)
    return pa.array(out, pa.string())
