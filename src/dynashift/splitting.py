"""A batch the target refuses for its data is split until the records it refuses are found.

A DataTargetError (a value the target cannot hold, a limit, a user's CHECK constraint) fails the
same records the same way every time: retrying cannot help, and failing the run would fail every
later run the same way, so one odd record would block every table of the stream. Instead the
batch's schema changes are applied on their own, then its changes in halves, each half split
again while it fails, down to single changes, which go to `dynashift.rejected` with the target's
reason (docs/reference.md §7); the rest commits. The checkpoints go with the last part: a crash in
between replays parts already applied, which changes nothing (docs/reference.md §4).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .errors import DataTargetError, TargetError
from .model import BatchPlan, Modes
from .planning import build_plan
from .planning.rows import raw_record
from .records import Change, Rejected, SourceBatch

if TYPE_CHECKING:
    from .targets.base import RunCounters, SqlTarget

log = logging.getLogger("dynashift")


def apply_split(target: SqlTarget, sb: SourceBatch, plan: BatchPlan, run: RunCounters, modes: Modes,
                change_log: bool, error: DataTargetError) -> list[Rejected]:
    """Apply batch `sb` (planned as `plan`, which the target refused with `error`) in parts;
    returns the changes rejected. Raises when the schema changes alone are refused."""
    log.warning("%s; splitting the batch of %d changes to find the records the target refuses", error,
                len(sb.changes))
    if plan.schema_changes:
        try:
            target.apply(BatchPlan(schema_changes=plan.schema_changes), run, change_log)
        except DataTargetError as exc:
            raise TargetError(f"{exc} (while changing the schema: no record can be singled out)") from None
    state = target.load_state()
    found: list[Rejected] = []

    def attempt(changes: list[Change]) -> None:
        part = build_plan(SourceBatch(changes=changes), state, target.naming, modes)
        try:
            target.apply(part, run, change_log)
        except DataTargetError as exc:
            if len(changes) == 1:
                bad = changes[0]
                found.append(Rejected(f"{exc} (refused by the target; found by splitting its batch)", raw_record(bad),
                                      bad.seq.replace("\x1f", ":")))
                return
            half = len(changes) // 2
            attempt(changes[:half])
            attempt(changes[half:])
            return
        state.apply(part.schema_changes)

    half = len(sb.changes) // 2
    for changes in (sb.changes[:half], sb.changes[half:]):
        if changes:
            attempt(changes)
    last = build_plan(SourceBatch(rejected=sb.rejected, checkpoints=sb.checkpoints, records_read=sb.records_read,
                                  bytes_read=sb.bytes_read), state, target.naming, modes)
    last.rejected.extend(found)
    target.apply(last, run, change_log)
    log.warning("the target refused %d of %d changes of the batch: they are in dynashift.rejected", len(found),
                len(sb.changes))
    return found
