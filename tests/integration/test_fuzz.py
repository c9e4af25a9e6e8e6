"""Ordering under random delivery: hypothesis builds a true history of changes (inserts, modifies,
removes, TTL removes, re-inserts; equal timestamps included), delivers it late, duplicated and cut
into files and batches, and the replica must equal a reference model of docs/reference.md §4.

The reference model folds deliveries in delivery order with the rule of docs/reference.md §4: a change wins if it is
newer, or equal in time and later in source order (a redelivered event, same eventID, never wins).
Longer run: `DYNASHIFT_FUZZ_EXAMPLES=2000 ./scripts/test.sh tests/integration/test_fuzz.py`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import duckdb
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynashift import run_once

EXAMPLES = int(os.environ.get("DYNASHIFT_FUZZ_EXAMPLES", "60"))
T0 = 1_700_000_000_000_000


@dataclass
class Event:
    table: str
    key: int
    op: str
    version: int
    event_id: str
    image: dict | None  # NewImage (typed)
    old: dict | None  # OldImage (typed): the item before this change
    ttl: bool = False

    def record(self) -> bytes:
        keys = {"id": {"N": str(self.key)}}
        ddb = {"ApproximateCreationDateTime": self.version, "ApproximateCreationDateTimePrecision": "MICROSECOND",
               "Keys": keys}
        if self.image is not None:
            ddb["NewImage"] = self.image
        if self.old is not None:
            ddb["OldImage"] = self.old
        ui = {"type": "Service", "principalId": "dynamodb.amazonaws.com"} if self.ttl else None
        return orjson.dumps({"eventID": self.event_id, "eventName": self.op, "tableName": self.table,
                             "userIdentity": ui, "dynamodb": ddb})


@st.composite
def histories(draw) -> list[Event]:
    """A true history: per key, ops consistent with existence; time never goes back, and a step
    of 0 makes equal timestamps (ordered by the true order)."""
    n = draw(st.integers(1, 40))
    events: list[Event] = []
    items: dict[tuple[str, int], dict] = {}
    now = T0
    for i in range(n):
        tie = draw(st.integers(0, 2)) == 0 and events
        now += 0 if tie else draw(st.sampled_from([1, 5, 1000]))
        table = events[-1].table if tie else draw(st.sampled_from(["Alpha", "Beta"]))
        key = events[-1].key if tie else draw(st.integers(1, 4))
        current = items.get((table, key))
        ident = {"id": {"N": str(key)}}
        if current is None or draw(st.booleans()):
            image = {**ident, "v": {"N": str(i)}}
            if draw(st.booleans()):
                image["s"] = {"S": draw(st.sampled_from(["a", "b", "", "é"]))}
            op = "INSERT" if current is None else "MODIFY"
            events.append(Event(table, key, op, now, f"e{i}", image, current))
            items[(table, key)] = image
        else:
            ttl = draw(st.integers(0, 4)) == 0
            events.append(Event(table, key, "REMOVE", now, f"e{i}", None, current, ttl))
            del items[(table, key)]
    return events


@st.composite
def deliveries(draw, events: list[Event]) -> list[Event]:
    """The history as a stream delivers it: some events late, some more than once."""
    order = list(range(len(events)))
    for _ in range(draw(st.integers(0, len(events)))):  # move some events later
        i = draw(st.integers(0, len(order) - 1))
        j = draw(st.integers(i, len(order) - 1))
        order.insert(j, order.pop(i))
    out = [events[i] for i in order]
    for _ in range(draw(st.integers(0, 5))):  # redeliveries, anywhere after the first
        i = draw(st.integers(0, len(out) - 1))
        out.insert(draw(st.integers(i, len(out))), out[i])
    return out


def reference(delivered: list[Event], mode: str) -> dict[str, dict[str, tuple]]:
    """table -> dist_key -> (values, deleted, version) per docs/reference.md §4."""
    if mode == "ttl_ignore":
        delivered, mode = [ev for ev in delivered if not ev.ttl], "hard"
    state: dict[tuple[str, int], Event] = {}
    for ev in delivered:
        cur = state.get((ev.table, ev.key))
        if cur is None or ev.version > cur.version or (ev.version == cur.version and ev.event_id != cur.event_id):
            state[(ev.table, ev.key)] = ev
    out: dict[str, dict[str, tuple]] = {"alpha": {}, "beta": {}}
    for (table, key), ev in state.items():
        dk = f'{{"id":{{"N":"{key}"}}}}'
        if ev.op != "REMOVE":
            out[table.lower()][dk] = (_render(ev.image), False, ev.version)
        elif mode == "soft":  # the row stays, marked, with its last live values (the OldImage)
            out[table.lower()][dk] = (_render(ev.old), True, ev.version)
    return out


def _render(image: dict) -> dict[str, str]:
    return {k: next(iter(v.values())) for k, v in image.items()}


def replica(db: Path) -> dict[str, dict[str, tuple]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        out: dict[str, dict[str, tuple]] = {"alpha": {}, "beta": {}}
        mapping: dict[str, dict[str, str]] = {}
        for table, attr, col in con.execute("SELECT table_name, attribute_name, column_name FROM dynashift.columns").fetchall():
            mapping.setdefault(table, {})[col] = attr
        for (table,) in con.execute("SELECT table_name FROM dynashift.tables").fetchall():
            cur = con.execute(f'SELECT *, epoch_us(_dynashift_changed_at) AS _us FROM main."{table}"')
            names = [d[0] for d in cur.description]
            for row in cur.fetchall():
                r = dict(zip(names, row))
                values = {mapping[table][c]: r[c] for c in mapping[table] if r[c] is not None}
                out[table][r["dist_key"]] = (values, bool(r["_dynashift_deleted"]), r["_us"])
        return out
    finally:
        con.close()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_replica_equals_the_reference_model_whatever_the_delivery(data):
    events = data.draw(histories())
    delivered = data.draw(deliveries(events))
    mode = data.draw(st.sampled_from(["hard", "soft", "ttl_ignore"]))
    settings_for = {"hard": {}, "soft": {"delete_mode": "soft"}, "ttl_ignore": {"ttl_deletes": "ignore"}}[mode]
    files = data.draw(st.integers(1, 3))
    batch_size = data.draw(st.integers(1, 12))
    with tempfile.TemporaryDirectory() as tmp:
        folder, db = Path(tmp) / "in", Path(tmp) / "w.duckdb"
        folder.mkdir()
        cut = sorted(data.draw(st.lists(st.integers(0, len(delivered)), min_size=files - 1, max_size=files - 1)))
        bounds = [0, *cut, len(delivered)]
        for n in range(files):  # each file is applied by its own run, as files arrive
            part = folder / f"part-{n:03d}.jsonl"
            part.write_bytes(b"".join(ev.record() + b"\n" for ev in delivered[bounds[n]:bounds[n + 1]]))
            run_once(f"file://{folder}", f"duckdb:///{db}", batch_size=batch_size, **settings_for)
        assert replica(db) == reference(delivered, mode)
        # replaying everything under another source name changes nothing
        again = run_once(f"file://{folder}/part-*", f"duckdb:///{db}", batch_size=batch_size, **settings_for)
        assert again.changes_applied == 0
        assert replica(db) == reference(delivered, mode)


def test_a_redelivery_that_wins_its_batch_moves_the_kept_position_so_a_replay_changes_nothing(tmp_path):
    """Found by the property above. e5 (REMOVE) is applied; then, in the next batch, e10 (INSERT,
    same time, later) loses to a redelivery of e5 further on. The kept position must be that of
    the redelivery, or e10 wins when the stream is replayed and the deleted item comes back."""
    t = T0 + 2
    events = [Event("Alpha", 1, "INSERT", T0 + 1, "e1", {"id": {"N": "1"}, "v": {"N": "1"}}, None),
              Event("Alpha", 1, "REMOVE", t, "e5", None, {"id": {"N": "1"}, "v": {"N": "1"}}),
              Event("Alpha", 1, "INSERT", t, "e10", {"id": {"N": "1"}, "v": {"N": "10"}}, None),
              Event("Alpha", 1, "REMOVE", t, "e5", None, {"id": {"N": "1"}, "v": {"N": "1"}})]
    folder, db = tmp_path / "in", tmp_path / "w.duckdb"
    folder.mkdir()
    (folder / "part-000.jsonl").write_bytes(b"".join(ev.record() + b"\n" for ev in events))
    run_once(f"file://{folder}", f"duckdb:///{db}", batch_size=2)
    assert replica(db) == reference(events, "hard") == {"alpha": {}, "beta": {}}
    for batch_size in (1, 3):
        again = run_once(f"file://{folder}/part-*", f"duckdb:///{db}", batch_size=batch_size)
        assert again.changes_applied == 0 and replica(db) == {"alpha": {}, "beta": {}}
