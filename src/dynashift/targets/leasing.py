"""The SQL of pipelines, workers and shard leases (`dynashift.pipelines`, `.workers`, `.leases`).

A lease row says which worker of a pipeline reads a shard (or `*`, the whole of a source that
cannot be split), under which counter. The counter grows by one at every change of owner, so a
worker that lost a lease while frozen cannot commit under the counter it read (metadata.fence).
All times are the database's own clock, so workers on hosts with skewed clocks agree on expiry.
The decisions (which leases to take) are made in Python, in leases.py; only statements live here.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import orjson

from ..schema import AddColumn, AddTable, SchemaChange

META = "dynashift"


@dataclass(frozen=True, slots=True)
class LeaseRow:
    shard: str
    owner: str | None
    counter: int
    live: bool  # not expired (by the database clock)


@dataclass(frozen=True, slots=True)
class WorkerRow:
    owner: str
    host: str
    pid: int
    live: bool


class LeaseTables:
    """Mixed into every SQL target beside MetadataTables."""

    param: ClassVar[str]
    NOW: ClassVar[str]
    # One writing process at most (DuckDB): no leases; a reader that could open it sees no live run.
    ONE_WRITER: ClassVar[bool] = False

    if TYPE_CHECKING:
        def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

        def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

        def transaction(self) -> contextlib.AbstractContextManager[None]: ...

        def seconds_ago(self) -> str: ...

        def ddl_lock(self, creating: bool = False) -> None: ...

    def sibling(self) -> Any:
        """A second connection to the same database (a target), for the lease keeper's thread:
        leases are renewed while a batch commits on the first. None: one writer at most (DuckDB
        allows one writing process per file), so no leases."""
        return None

    def unapplied(self, changes: Sequence[SchemaChange]) -> Sequence[SchemaChange]:
        """Under the DDL lock, the schema changes no other worker has made since this one planned
        its batch: two workers meeting the same new table or attribute both succeed."""
        if not changes:
            return changes
        self.ddl_lock()
        p = self.param
        names = sorted({ch.table for ch in changes if isinstance(ch, (AddTable, AddColumn))})
        if not names:
            return changes
        marks = ", ".join([p] * len(names))
        tables = {r[0] for r in self.query(f"SELECT table_name FROM {META}.tables WHERE table_name IN ({marks})", names)}
        columns = set(self.query(f"SELECT table_name, attribute_name FROM {META}.columns WHERE table_name IN ({marks})",
                                 names))
        return [ch for ch in changes
                if not (isinstance(ch, AddTable) and ch.table in tables)
                and not (isinstance(ch, AddColumn) and (ch.table, ch.attribute) in columns)]

    # ------------------------------------------------------------ pipelines

    def read_pipeline(self, name: str) -> dict[str, Any] | None:
        rows = self.query(f"SELECT source, schema_name, filters FROM {META}.pipelines WHERE pipeline = {self.param}", [name])
        if not rows:
            return None
        source, schema, filters = rows[0]
        return {"source": source, "schema": schema, "filters": orjson.loads(filters or "{}")}

    def save_pipeline(self, name: str, source: str, schema: str, filters: dict[str, Any]) -> None:
        p = self.param
        with self.transaction():
            self.ddl_lock()
            self.execute(f"DELETE FROM {META}.pipelines WHERE pipeline = {p}", [name])
            self.execute(f"INSERT INTO {META}.pipelines VALUES ({p}, {p}, {p}, {p}, {self.NOW}, {self.NOW})",
                         [name, source, schema, orjson.dumps(filters, option=orjson.OPT_SORT_KEYS).decode()])

    def has_checkpoints(self, pipeline: str) -> bool:
        (n,) = self.query(f"SELECT count(*) FROM {META}.checkpoints WHERE pipeline = {self.param}", [pipeline])[0]
        return bool(n)

    # ------------------------------------------------------------ workers

    def heartbeat_worker(self, pipeline: str, owner: str, host: str, pid: int, duration: float, shards: int) -> None:
        p = self.param
        (n,) = self.query(f"SELECT count(*) FROM {META}.workers WHERE pipeline = {p} AND owner = {p}", [pipeline, owner])[0]
        if n:
            self.execute(f"UPDATE {META}.workers SET heartbeat = {self.NOW}, expires_at = {self.seconds_ago()}, shards = {p}"
                         f" WHERE pipeline = {p} AND owner = {p}", [-duration, shards, pipeline, owner])
        else:
            self.execute(f"INSERT INTO {META}.workers VALUES ({p}, {p}, {p}, {p}, {self.NOW}, {self.NOW},"
                         f" {self.seconds_ago()}, {p})", [pipeline, owner, host, pid, -duration, shards])

    def workers(self, pipeline: str) -> list[WorkerRow]:
        rows = self.query(f"SELECT owner, host, pid, expires_at > {self.NOW} FROM {META}.workers WHERE pipeline = {self.param}",
                          [pipeline])
        return [WorkerRow(o, h or "", int(pid or 0), bool(live)) for o, h, pid, live in rows]

    def drop_worker(self, pipeline: str, owner: str) -> None:
        """A worker leaving: its leases are free at once, its row goes."""
        p = self.param
        with self.transaction():
            self.execute(f"UPDATE {META}.leases SET owner = NULL, expires_at = {self.NOW} WHERE pipeline = {p} AND owner = {p}",
                         [pipeline, owner])
            self.execute(f"DELETE FROM {META}.workers WHERE pipeline = {p} AND owner = {p}", [pipeline, owner])

    def forget_workers(self, pipeline: str, owners: Sequence[str]) -> None:
        """Rows of workers known dead (their process is gone), so status does not show them."""
        p = self.param
        for owner in owners:
            self.execute(f"DELETE FROM {META}.workers WHERE pipeline = {p} AND owner = {p}", [pipeline, owner])

    # ------------------------------------------------------------ leases

    def leases(self, pipeline: str) -> list[LeaseRow]:
        rows = self.query(f"SELECT shard, owner, counter, expires_at > {self.NOW} FROM {META}.leases"
                          f" WHERE pipeline = {self.param}", [pipeline])
        return [LeaseRow(s, o, int(c or 0), bool(live)) for s, o, c, live in rows]

    def add_leases(self, pipeline: str, shards: Sequence[str]) -> None:
        """Lease rows for shards new to the pipeline (free, counter 0); under the lock, so two
        workers meeting a new shard together make one row."""
        p = self.param
        self.ddl_lock()
        for shard in shards:
            self.execute(f"INSERT INTO {META}.leases (pipeline, shard, owner, counter) SELECT {p}, {p}, NULL, 0"
                         f" WHERE NOT EXISTS (SELECT 1 FROM {META}.leases WHERE pipeline = {p} AND shard = {p})",
                         [pipeline, shard, pipeline, shard])

    def renew_leases(self, pipeline: str, owner: str, duration: float) -> None:
        p = self.param
        self.execute(f"UPDATE {META}.leases SET heartbeat = {self.NOW}, expires_at = {self.seconds_ago()}"
                     f" WHERE pipeline = {p} AND owner = {p}", [-duration, pipeline, owner])

    def take_lease(self, pipeline: str, shard: str, counter: int, owner: str, duration: float) -> None:
        """Compare-and-set on the counter read: of two workers taking one lease, one wins."""
        p = self.param
        self.execute(f"UPDATE {META}.leases SET owner = {p}, counter = counter + 1, heartbeat = {self.NOW},"
                     f" expires_at = {self.seconds_ago()}, taken_at = {self.NOW}"
                     f" WHERE pipeline = {p} AND shard = {p} AND counter = {p}",
                     [owner, -duration, pipeline, shard, counter])

    def held_leases(self, pipeline: str, owner: str) -> dict[str, int]:
        rows = self.query(f"SELECT shard, counter FROM {META}.leases WHERE pipeline = {self.param} AND owner = {self.param}",
                          [pipeline, owner])
        return {s: int(c) for s, c in rows}

    def release_leases(self, pipeline: str, owner: str, shards: Sequence[str]) -> None:
        p = self.param
        for shard in shards:
            self.execute(f"UPDATE {META}.leases SET owner = NULL, expires_at = {self.NOW}"
                         f" WHERE pipeline = {p} AND owner = {p} AND shard = {p}", [pipeline, owner, shard])

    def finished_shards(self, pipeline: str) -> tuple[set[str], set[str]]:
        """(every shard with a checkpoint, those read to their end)."""
        rows = self.query(f"SELECT shard, size FROM {META}.checkpoints WHERE pipeline = {self.param}", [pipeline])
        return {s for s, _ in rows}, {s for s, size in rows if size is not None}

    # ------------------------------------------------------------ status

    def pipelines_status(self) -> list[dict[str, Any]]:
        """Per pipeline: its definition, its workers (host, pid, since, shards held, last
        heartbeat) and its leases (shard, owner, counter, live)."""
        now = self.NOW
        out: dict[str, dict[str, Any]] = {}
        (n,) = self.query("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'dynashift'"
                          " AND table_name IN ('pipelines', 'workers', 'leases')")[0]
        if n < 3:  # a database no run of this version has opened yet
            return []
        for name, source, schema, filters in self.query(f"SELECT pipeline, source, schema_name, filters FROM {META}.pipelines"
                                                        " ORDER BY pipeline"):
            out[name] = {"pipeline": name, "source": source, "schema": schema, "filters": orjson.loads(filters or "{}"),
                         "workers": [], "leases": []}
        for name, owner, host, pid, since, beat, live, shards in self.query(
                f"SELECT pipeline, owner, host, pid, started_at, heartbeat, expires_at > {now}, shards FROM {META}.workers"
                " ORDER BY pipeline, started_at, owner"):
            entry = out.setdefault(name, {"pipeline": name, "workers": [], "leases": []})
            entry["workers"].append({"owner": owner, "host": host, "pid": pid, "since": _iso(since),
                                     "heartbeat": _iso(beat), "alive": bool(live), "shards": shards})
        for name, shard, owner, counter, beat, live in self.query(
                f"SELECT pipeline, shard, owner, counter, heartbeat, expires_at > {now} FROM {META}.leases"
                " ORDER BY pipeline, shard"):
            entry = out.setdefault(name, {"pipeline": name, "workers": [], "leases": []})
            entry["leases"].append({"shard": shard, "owner": owner if live else None, "counter": counter,
                                    "heartbeat": _iso(beat)})
        return list(out.values())


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
