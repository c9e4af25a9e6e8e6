"""The oracle of a simulated stream: `expected.json`, the end state DynamoDB holds after
`dynashift.simulate`'s changes (test and demo tooling; the package writes only the stream).

`Truth` watches the simulator's changes as they are made, in true time order, before they are
delivered twice or late, and keeps what DynamoDB itself would hold: the current item per key, and
per removed key its last image, removal time and whether it was a TTL expiry. So the oracle is that
truth, not a replay of the output: a replica that gets the ordering rules wrong cannot agree with it
by accident. Values are rendered by `render_value`, written from docs/reference.md §3 and
independent of dynashift.decode.

`simulate(out_dir, **kw)` is dynashift's `simulate` plus `OUT/expected.json` (unless
`expected=False`); its summary's `expected` is that path. expected.json holds, per table (keyed by
its replica name): `tables` (live rows), `soft_delete` (deleted rows kept, flagged) and `ttl_ignored`
(TTL expiries not applied); support.oracle compares a replica with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from dynashift import simulate as _simulate
from dynashift.simulate_tables import Table

REMOVE = b"REMOVE"


# ---------------------------------------------------------------- the oracle's own renderer (docs/reference.md §3)


def render_value(av: dict[str, Any]) -> str | None:
    """Column text of one typed value, written from docs/reference.md §3 (independent of decode.py)."""
    ((tag, v),) = av.items()
    if tag in ("S", "N", "B"):
        return v
    if tag == "BOOL":
        return "true" if v else "false"
    if tag == "NULL":
        return None
    return _plain(av)


def _jstr(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def _plain(av: dict[str, Any]) -> str:
    ((tag, v),) = av.items()
    if tag in ("S", "B"):
        return _jstr(v)
    if tag == "N":
        return v
    if tag == "BOOL":
        return "true" if v else "false"
    if tag == "NULL":
        return "null"
    if tag in ("SS", "BS"):
        return "[" + ",".join(_jstr(s) for s in sorted(set(v))) + "]"
    if tag == "NS":
        return "[" + ",".join(sorted(set(v), key=Decimal)) + "]"
    if tag == "L":
        return "[" + ",".join(_plain(x) for x in v) + "]"
    if tag == "M":
        return "{" + ",".join(_jstr(k) + ":" + _plain(v[k]) for k in sorted(v)) + "}"
    raise ValueError(f"unknown type {tag!r}")


def render_item(image: dict[str, Any]) -> dict[str, str | None]:
    return {name: render_value(av) for name, av in image.items()}


# ---------------------------------------------------------------- the truth, as the changes are made


@dataclass
class _Held:
    """One table as DynamoDB holds it: images as JSON bytes, so memory follows the live keys."""

    name: str
    key_names: tuple[str, ...]
    live: dict[bytes, tuple[bytes, int]] = field(default_factory=dict)  # key -> image, version
    dead: dict[bytes, tuple[bytes, int, bool, int]] = field(default_factory=dict)  # key -> image, removed, ttl, last
    attributes: set[str] = field(default_factory=set)


class Truth:
    """A `dynashift.simulate.Observer`: every change, in true time order -> the end state."""

    def __init__(self) -> None:
        self.tables: dict[str, _Held] = {}

    def change(self, table: Table, op: bytes, key: bytes, version: int, image: bytes | None, ttl: bool) -> None:
        held = self.tables.get(table.name)
        if held is None:
            held = self.tables[table.name] = _Held(table.name, tuple(table.key_names))
        if op == REMOVE:
            old, last = held.live.pop(key)
            held.dead[key] = (old, version, ttl, last)
            return
        assert image is not None, f"{op!r} without an image"
        held.dead.pop(key, None)
        held.live[key] = (image, version)
        held.attributes.update(orjson.loads(image))

    def expected(self, stats: dict[str, int]) -> dict[str, Any]:
        """expected.json: the end state in each delete mode, and the simulator's `stats`."""
        out: dict[str, Any] = {"tables": {}, "soft_delete": {}, "ttl_ignored": {}, "stats": stats}
        for t in self.tables.values():
            name = t.name.lower()
            live = {k.decode(): (v, render_item(orjson.loads(img))) for k, (img, v) in t.live.items()}
            dead = {k.decode(): (rm, ttl, last, render_item(orjson.loads(img)))
                    for k, (img, rm, ttl, last) in t.dead.items()}
            rows = {k: {"changed_at_us": v, "values": vals} for k, (v, vals) in live.items()}
            out["tables"][name] = {"source_table": t.name, "key_attributes": list(t.key_names),
                                   "attributes": sorted(t.attributes), "rows": rows}
            soft = {k: {"changed_at_us": v, "deleted": False, "values": vals} for k, (v, vals) in live.items()}
            soft.update({k: {"changed_at_us": rm, "deleted": True, "values": vals}
                         for k, (rm, _, _, vals) in dead.items()})
            out["soft_delete"][name] = soft
            kept = {k: {"changed_at_us": v, "values": vals} for k, (v, vals) in live.items()}
            kept.update({k: {"changed_at_us": last, "values": vals}
                         for k, (_, ttl, last, vals) in dead.items() if ttl})
            out["ttl_ignored"][name] = kept
        return out


# ---------------------------------------------------------------- simulate, with its oracle


@dataclass(frozen=True)
class Simulated(_simulate.SimulateSummary):
    """dynashift's SimulateSummary, plus where expected.json was written (None without it)."""

    expected: Path | None = None


def simulate(out_dir: str | Path, *, expected: bool = True, **kwargs: Any) -> Simulated:
    """`dynashift.simulate.simulate(out_dir, **kwargs)`, and with `expected` its end state in
    `out_dir/expected.json`."""
    truth = Truth() if expected else None
    summary = _simulate.simulate(out_dir, observer=truth, **kwargs)
    path = None
    if truth is not None:
        path = Path(out_dir) / "expected.json"
        path.write_bytes(orjson.dumps(truth.expected(summary.stats), option=orjson.OPT_INDENT_2))
    return Simulated(**{f.name: getattr(summary, f.name) for f in fields(summary)}, expected=path)
