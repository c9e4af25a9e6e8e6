"""What `status` and `report` show, as plain data: the target's tables, checkpoints with their lag,
recent runs, a one-word health verdict with the reasons, and the batch history behind the report's
charts. Read from the `dynashift` metadata schema only (docs/reference.md §5), so any target serves it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import orjson

from .redact import mask
from .targets.base import SqlTarget

LAG_WARNING_MS = 60_000  # a shard this far behind its tip is worth a look
HEALTH_STATES = ("healthy", "warning", "failing", "idle")


def gather(target: SqlTarget, recent_runs: int = 10) -> dict[str, Any]:
    """`target.status()` plus each checkpoint's lag and the health verdict (the `status --json` document)."""
    info = target.status(recent_runs)
    lag = target.read_lag()
    for cp in info["checkpoints"]:
        seen = lag.get((cp.get("pipeline") or cp["source"], cp["shard"]), {})
        cp["lag_ms"] = seen.get("millis_behind")
        cp["lag_updated_at"] = seen.get("updated_at")
    for pipeline in info.get("pipelines", []):  # each shard's owner and lag, for several workers
        names = {w["owner"]: f"{w['host']}:{w['pid']}" for w in pipeline["workers"]}
        for lease in pipeline["leases"]:
            lease["worker"] = names.get(lease["owner"]) if lease["owner"] else None
            lease["lag_ms"] = lag.get((pipeline["pipeline"], lease["shard"]), {}).get("millis_behind")
    info["health"] = health(info)
    info["target"] = mask(info["target"])  # never a password on screen, in JSON or in the report
    for row in (*info["runs"], *info["checkpoints"]):
        row["source"] = mask(row["source"])
    for run in info["runs"]:  # rows written before masking existed may still hold one
        run["error"] = mask(run["error"]) if run.get("error") else run.get("error")
    return info


def health(info: dict[str, Any]) -> dict[str, Any]:
    """healthy | warning | failing | idle, with one reason per finding, judged from the latest run
    of each source, the shards' lag and recent rejects."""
    notes: list[str] = []
    state = "healthy"

    def worse(new: str, note: str) -> None:
        nonlocal state
        notes.append(note)
        if HEALTH_STATES.index(new) > HEALTH_STATES.index(state) and new != "idle":
            state = new

    latest: dict[str, dict[str, Any]] = {}
    for run in info["runs"]:  # newest first
        latest.setdefault(run["source"], run)
    if not latest:
        return {"state": "idle", "notes": ["no runs yet: start one with `dynashift run`"]}
    for source, run in sorted(latest.items()):
        if run["status"] == "failed":
            worse("failing", f"the last run of {source} (run {run['run_id']}) failed: {run['error'] or 'no message'}")
        elif run["status"] == "interrupted":
            worse("warning", f"run {run['run_id']} of {source} was interrupted; the next run resumes at its checkpoint")
        elif run["status"] == "lost":
            worse("warning", f"run {run['run_id']} of {source} is marked running but its process is gone (killed?);"
                             " the next run resumes at its checkpoint")
    recent_rejects = sum(r["rejected"] or 0 for r in info["runs"])
    if recent_rejects:
        noun = "record" if recent_rejects == 1 else "records"
        worse("warning", f"{recent_rejects:,} {noun} rejected in recent runs (see dynashift.rejected)")
    for cp in info["checkpoints"]:
        if (cp.get("lag_ms") or 0) > LAG_WARNING_MS:
            worse("warning", f"{cp['source']} shard {cp['shard']} is {cp['lag_ms'] / 1000:,.0f}s behind the stream")
    return {"state": state, "notes": notes}


def history(target: SqlTarget, runs: int = 50) -> dict[str, Any]:
    """The report's series: the last `runs` runs, their batches (oldest first), changes applied
    per table per batch, and when each table and column first appeared (the schema's growth)."""
    run_rows = target.status(recent_runs=runs)["runs"][::-1]
    first = run_rows[0]["run_id"] if run_rows else 0
    batches = [
        {"run_id": r, "batch": b, "applied_at": _iso(at), "records": n, "applied": a, "skipped": s, "rejected": j,
         "bytes": by, "seconds": sec, "lag_ms": lag, "tables": orjson.loads(t) if t else {}}
        for r, b, at, n, a, s, j, by, sec, lag, t in target.batch_rows(first)
    ]
    growth: dict[str, list[str]] = {}
    for table, seen in target.columns_first_seen():
        growth.setdefault(table, []).append(_iso(seen) or "")
    created = {t: _iso(at) for t, at in target.tables_created_at()}
    return {"runs": run_rows, "batches": batches, "columns_first_seen": growth, "tables_created_at": created,
            "generated_at": datetime.now(timezone.utc).isoformat()}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None
