"""History mode: `<table>__history` holds exactly each key's timeline — one row per distinct
version, in (version, source order), each valid until the next — whatever the delivery: late
records land in their place, redelivered ones are skipped, replays change nothing. Checked
version by version against a model, on DuckDB and PostgreSQL, with text and typed columns."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import orjson
import pytest

from dynashift import Config
from dynashift.decode import render_item
from dynashift.pipeline import replicate
from dynashift.sources import make_source
from dynashift.targets import make_target
from dynashift.targets.base import SqlTarget, quote
from dynashift.typing_mode import JSON, family
from support.builders import T0, rec as change
from support.pg import pg_url  # noqa: F401 - the fixture
from support.typed_support import Typed



def record(ev: dict) -> bytes:
    image = None if ev["op"] == "REMOVE" else ev["image"]
    return orjson.dumps(change(ev["op"], {"pk": {"S": ev["key"]}}, image, ev["version"] - T0, eid=ev["id"],
                               ttl=ev["ttl"]))


def history_of_keys(seed: int, keys: int = 12, changes: int = 160) -> list[dict]:
    """Changes in the order DynamoDB made them: per key, times that grow (some equal: two changes
    in one microsecond), items whose attributes come and go and change type."""
    r = random.Random(seed)
    events, clock, alive = [], {k: T0 + r.randint(0, 1000) for k in range(keys)}, set()
    for i in range(changes):
        k = r.randrange(keys)
        clock[k] += 0 if r.random() < 0.1 else r.randint(1, 5_000)
        key = f"k{k:02d}"
        if key in alive and r.random() < 0.2:
            op, image, ttl = "REMOVE", None, r.random() < 0.4
            alive.discard(key)
        else:
            op, ttl = ("MODIFY" if key in alive else "INSERT"), False
            image = {"pk": {"S": key}, "n": {"N": str(r.randint(0, 999))} if r.random() < 0.8 else {"S": "many"}}
            if r.random() < 0.5:
                image["note"] = r.choice([{"S": f"note {i}"}, {"BOOL": True}, {"M": {"a": {"N": "1.5"}}}])
            alive.add(key)
        events.append({"id": f"e{i}", "key": key, "op": op, "version": clock[k], "image": image, "ttl": ttl})
    return events


def delivered(events: list[dict], seed: int) -> list[dict]:
    """Late records (each may slip up to 25 places back) and duplicates (same eventID, later)."""
    r = random.Random(seed)
    order = sorted(range(len(events)), key=lambda i: i + r.uniform(0, 25))
    out = [events[i] for i in order]
    for ev in r.sample(events, len(events) // 4):
        out.insert(r.randint(out.index(ev) + 1, len(out)), ev)
    return out


def expected_timelines(deliveries: list[dict]) -> dict[str, list[tuple]]:
    """Per key: (valid_from, valid_to, op, ttl, values) for every distinct event, ordered by
    (version, first delivery) as the file source's seq orders them."""
    first: dict[str, int] = {}
    for pos, ev in enumerate(deliveries):
        first.setdefault(ev["id"], pos)
    by_key: dict[str, list[dict]] = {}
    for ev in sorted({ev["id"]: ev for ev in deliveries}.values(), key=lambda e: (e["version"], first[e["id"]])):
        by_key.setdefault(ev["key"], []).append(ev)
    out = {}
    for key, evs in by_key.items():
        line = []
        for i, ev in enumerate(evs):
            valid_to = evs[i + 1]["version"] if i + 1 < len(evs) else None
            image = ev["image"] if ev["op"] != "REMOVE" else {"pk": {"S": key}}
            line.append((ev["version"], valid_to, ev["op"], ev["ttl"], render_item(image)))
        out[orjson.dumps({"pk": {"S": key}}).decode()] = line
    return out


def history(target: SqlTarget) -> dict[str, list[tuple]]:
    """Per key, the history table's rows in timeline order, values by attribute."""
    p = target.param
    (table, options), = target.query("SELECT table_name, options FROM dynashift.tables")
    hist = orjson.loads(options)["history_table"]
    meta = target.query("SELECT attribute_name, column_name, column_type, variant_column FROM dynashift.columns"
                        f" WHERE table_name = {p}", [table])
    select = ['"dist_key"', '"_dynashift_valid_from"', '"_dynashift_valid_to"', '"_dynashift_op"', '"_dynashift_ttl"']
    for _, column, ctype, variant in meta:
        select.append(target.JSON_TO_TEXT.format(quote(column)) if family(ctype) == JSON else quote(column))
        select.append(quote(variant) if variant else "NULL")
    out: dict[str, list[tuple]] = {}
    for row in target.query(f"SELECT {', '.join(select)} FROM {target.table_ref(hist)}"
                            ' ORDER BY "dist_key", "_dynashift_version", "_dynashift_seq"'):
        values, rest = {}, iter(row[5:])
        for attr, _, ctype, variant in meta:
            value, var = next(rest), next(rest)
            if value is not None or var is not None:
                values[attr] = Typed(ctype, value, var) if (ctype or variant) else value
        out.setdefault(row[0], []).append((_us(row[1]), _us(row[2]), row[3], bool(row[4]), values))
    return out


def _us(value: Any) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


@pytest.fixture(params=["duckdb", "postgresql"])
def factory(request, tmp_path) -> Callable[[], SqlTarget]:
    if request.param == "duckdb":
        uri = f"duckdb:///{tmp_path / 'h.duckdb'}"
    else:
        uri = request.getfixturevalue("pg_url")
    return lambda: make_target(uri)


def run(factory: Callable[[], SqlTarget], source: Path, **settings: Any):
    config = Config(source=f"file://{source}", **settings)
    target = factory()
    target.open()
    try:
        return replicate(config, make_source(config.source, config), target)
    finally:
        target.close()


def read(factory: Callable[[], SqlTarget], fn: Callable[[SqlTarget], Any]) -> Any:
    target = factory()
    target.open()
    try:
        return fn(target)
    finally:
        target.close()


@pytest.mark.parametrize("column_types", ["text", "typed"])
@pytest.mark.parametrize("seed", [1, 2])
def test_the_history_holds_every_version_in_its_place(factory, tmp_path, column_types, seed):
    deliveries = delivered(history_of_keys(seed), seed)
    folder = tmp_path / "in"
    folder.mkdir()
    cuts = [0, len(deliveries) // 3, 2 * len(deliveries) // 3, len(deliveries)]
    settings = {"history": "beside", "column_types": column_types, "batch_size": 7}
    for n in range(3):  # three runs over files that arrive one by one, batches of seven records
        (folder / f"part-{n}.jsonl").write_bytes(b"".join(record(ev) + b"\n" for ev in deliveries[cuts[n]:cuts[n + 1]]))
        run(factory, folder, **settings)
    want = expected_timelines(deliveries)
    have = read(factory, history)
    assert have.keys() == want.keys()
    for key in want:
        assert have[key] == want[key], key
    # Replaying every record (another source name: no checkpoint matches) adds and changes nothing.
    again = run(factory, tmp_path / "in" / "part-*", **settings)
    assert again.records_read == len(deliveries)
    assert read(factory, history) == have


def test_history_only_keeps_the_current_state_as_a_view(factory, tmp_path):
    deliveries = delivered(history_of_keys(3), 3)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "all.jsonl").write_bytes(b"".join(record(ev) + b"\n" for ev in deliveries))
    run(factory, tmp_path / "in", history="only", batch_size=9)
    want = expected_timelines(deliveries)
    assert read(factory, history) == want
    current = read(factory, lambda t: t.query('SELECT dist_key, "n", "_dynashift_changed_at" FROM ' + t.table_ref("orders")))
    live = {k: line[-1] for k, line in want.items() if line[-1][2] != "REMOVE"}
    assert {dk: (n, _us(at)) for dk, n, at in current} == {k: (v[4].get("n"), v[0]) for k, v in live.items()}
    status = read(factory, lambda t: t.status())
    assert status["tables"][0]["rows"] == len(live)


def test_history_turned_on_later_starts_beside_the_existing_table(factory, tmp_path):
    events = history_of_keys(4)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "1.jsonl").write_bytes(b"".join(record(ev) + b"\n" for ev in events[:80]))
    (tmp_path / "b" / "2.jsonl").write_bytes(b"".join(record(ev) + b"\n" for ev in events[80:]))
    run(factory, tmp_path / "a")
    run(factory, tmp_path / "b", history="beside", item_column=True)
    have = read(factory, history)
    want = expected_timelines(events[80:])
    assert have == want  # the versions applied since it was turned on
    items = read(factory, lambda t: t.query(f'SELECT count(*) FROM {t.table_ref("orders__history")}'
                                            ' WHERE "_dynashift_item" IS NOT NULL OR "_dynashift_op" = \'REMOVE\''))
    assert items[0][0] == sum(len(v) for v in want.values())


def test_the_valid_to_window_is_one_statement_per_batch(tmp_path):
    """Set-based: the statements per batch do not grow with the number of keys or versions."""
    counts = []
    for n in (10, 200):
        events = [{"id": f"e{i}", "key": f"k{i % n}", "op": "INSERT" if i < n else "MODIFY", "version": T0 + i,
                   "image": {"pk": {"S": f"k{i % n}"}, "v": {"N": str(i)}}, "ttl": False} for i in range(2 * n)]
        folder = tmp_path / f"n{n}"
        folder.mkdir()
        (folder / "1.jsonl").write_bytes(b"".join(record(ev) + b"\n" for ev in events))
        target = make_target(f"duckdb:///{tmp_path / f'{n}.duckdb'}")
        target.open()
        seen: list[str] = []
        original = target.execute
        target.execute = lambda sql, params=(): (seen.append(sql), original(sql, params))[1]  # type: ignore[method-assign]
        replicate(Config(source=f"file://{folder}", history="beside"), make_source(f"file://{folder}", Config()), target)
        target.close()
        counts.append(sum("orders__history" in s for s in seen))
    assert counts[0] == counts[1]


def test_history_only_survives_a_widening(factory, tmp_path):
    """A column of the view's history table widened (PostgreSQL refuses while a view depends on
    it): the view is dropped first and made again after."""
    def rec(pk: str, t: int, n: str) -> bytes:
        return record({"id": f"{pk}{t}", "key": pk, "op": "INSERT", "version": T0 + t, "ttl": False,
                       "image": {"pk": {"S": pk}, "n": {"N": n}}})

    for i, (pk, n) in enumerate([("a", "1"), ("b", "2.5"), ("c", "x")]):
        folder = tmp_path / f"in{i}"
        folder.mkdir()
        (folder / "1.jsonl").write_bytes(rec(pk, i, n) if n != "x" else record(
            {"id": "c", "key": "c", "op": "INSERT", "version": T0 + 9, "ttl": False,
             "image": {"pk": {"S": "c"}, "n": {"S": "x"}}}) + b"\n")
        run(factory, folder, history="only", column_types="typed")
    rows = read(factory, lambda t: t.query(f'SELECT pk, n, n__s FROM {t.table_ref("orders")} ORDER BY pk'))
    assert [(pk, None if n is None else float(n), s) for pk, n, s in rows] == [("a", 1.0, None), ("b", 2.5, None),
                                                                              ("c", None, "x")]
