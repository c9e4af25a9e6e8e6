"""Per batch and per kind of statement, the CPU of the thread that applies batches (throughput.py
--trace-sql): which statements grow with the tables, batch by batch.

Each statement of the target is timed by the CPU time of the calling thread (DuckDB runs a
statement there when it has one worker thread, the default on 2 cores; a loaded machine distorts
that far less than wall seconds), and each batch's whole `apply` too (Python's part included).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from typing import Any, Callable

# Columns of the per-batch table: (heading, kinds of statement whose CPU it adds up)
_COLUMNS = (
    ("commit", ("COMMIT",)),
    ("judge", ("CREATE OR REPLACE TEMP TABLE", "SELECT s._dynashift_row, CASE WHEN")),
    ("ins", ("INSERT INTO TABLE",)),
    ("del", ("DELETE FROM TABLE",)),
    ("vers", ("INSERT INTO dynashift.versions", "DELETE FROM dynashift.versions")),
)


def label(sql: str) -> str:
    """A statement's kind: its first words, user tables and literals folded."""
    s = re.sub(r'"[^"]*"\."[^"]*"', "TABLE", sql)
    s = re.sub(r"'[^']*'", "'x'", s)
    kind = " ".join(s.split()[:5])[:60]
    return kind + (" +JOIN" if kind.startswith("INSERT INTO TABLE") and " JOIN " in s else "")


class SqlTrace:
    """Installed on a target's class: statements and batches timed until the process ends."""

    def __init__(self, cls: type) -> None:
        self.spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
        self.batches: list[dict[str, float]] = []
        self.current: dict[str, float] = defaultdict(float)
        self.closing = 0.0
        self._wrap(cls)

    def note(self, kind: str, cpu: float, wall: float) -> None:
        entry = self.spent[kind]
        entry[0] += cpu
        entry[1] += wall
        entry[2] += 1
        self.current[kind] += cpu

    def _wrap(self, cls: type) -> None:
        trace = self

        def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(self: Any, sql: str, params: Any = ()) -> Any:
                c, w = time.thread_time(), time.perf_counter()
                try:
                    return fn(self, sql, params)
                finally:
                    trace.note(label(sql), time.thread_time() - c, time.perf_counter() - w)
            return wrapper

        def timed_commit(fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(self: Any) -> None:
                # the target sets its vacuum count to 0 when a checkpoint vacuumed (its _vacuuming,
                # read before, is the previous commit's guess: _commit decides again)
                owed = getattr(self, "_unvacuumed", None)
                c, w = time.thread_time(), time.perf_counter()
                try:
                    fn(self)
                finally:
                    trace.note("COMMIT", time.thread_time() - c, time.perf_counter() - w)
                    trace.current["vacuumed"] = float(owed != 0.0 and getattr(self, "_unvacuumed", None) == 0.0)
            return wrapper

        def timed_apply(fn: Callable[..., Any]) -> Callable[..., Any]:
            def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
                trace.current.clear()
                run = args[1] if len(args) > 1 else kwargs.get("run")
                rows = getattr(run, "changes_applied", 0)
                c, w = time.thread_time(), time.perf_counter()
                try:
                    return fn(self, *args, **kwargs)
                finally:
                    batch = dict(trace.current, apply=time.thread_time() - c, wall=time.perf_counter() - w,
                                 rows=getattr(run, "changes_applied", 0) - rows)
                    trace.batches.append(batch)
                    trace.current.clear()
            return wrapper

        cls.execute = timed(cls.execute)
        cls.query = timed(cls.query)
        if hasattr(cls, "query_arrow"):  # DuckDB's batch merge: its verdicts come back as Arrow
            query_arrow = cls.query_arrow
            cls.query_arrow = timed(lambda self, sql, params=(): query_arrow(self, sql))
        cls.apply = timed_apply(cls.apply)
        if hasattr(cls, "_commit"):
            cls._commit = timed_commit(cls._commit)

    def report(self, top: int = 12) -> list[str]:
        """Lines: the statements' totals, then one line per batch."""
        lines = [f"sql trace       CPU-s of the applying thread per kind of statement (wall-s, count); "
                 f"{sum(v[0] for v in self.spent.values()):.2f} CPU-s in statements, "
                 f"{sum(b['apply'] for b in self.batches):.2f} in batches' apply"]
        for kind, (c, w, n) in sorted(self.spent.items(), key=lambda kv: -kv[1][0])[:top]:
            lines.append(f"  {c:6.2f} {w:7.2f} {int(n):5d}  {kind}")
        heads = "".join(f"{h:>7}" for h, _ in _COLUMNS)
        lines.append(f"  batch   rows  apply   wall{heads}  other  (rows written; CPU-s; V: the commit vacuumed)")
        for i, b in enumerate(self.batches, 1):
            parts = [sum(v for k, v in b.items() if k.startswith(kinds)) for _, kinds in _COLUMNS]
            other = b["apply"] - sum(parts)
            cells = "".join(f"{p:7.3f}" for p in parts)
            lines.append(f"  {i:5d} {int(b['rows']):6d} {b['apply']:6.3f} {b['wall']:6.2f}{cells} {other:6.3f}{'  V' if b.get('vacuumed') else ''}")
        full = [b for b in self.batches if b["rows"]]
        if len(full) > 2:  # the second batch and the last but one (the last is often short)
            lines.append("  per statement, batch 2 and the last but one (CPU-s):")
            early, late = full[1], full[-2]
            for kind in sorted({k for k in early if k in self.spent} | {k for k in late if k in self.spent},
                               key=lambda k: -late.get(k, 0.0))[:top]:
                lines.append(f"  {early.get(kind, 0.0):7.3f} {late.get(kind, 0.0):7.3f}  {kind}")
        return lines
