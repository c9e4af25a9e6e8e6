"""A batch keeps the newest change per key (docs/reference.md §4), and counts what it skipped.

The same precedence rule is written once more in SQL (targets/base.py, `_BEATS`) to compare a
batch with what earlier batches left in the target; the two must agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .records import REMOVE, Change


def beats(new: Change, old: Change) -> bool:
    """Newer version wins; at equal versions the later one in source order wins, unless it is the
    same event delivered twice (same eventID)."""
    if new.version != old.version:
        return new.version > old.version
    if new.event_id and new.event_id == old.event_id:
        return False
    return new.seq > old.seq


def is_duplicate(new: Change, old: Change) -> bool:
    return new.version == old.version and (
        new.seq == old.seq or bool(new.event_id and new.event_id == old.event_id)
    )


@dataclass(slots=True)
class Batch:
    """`live` (kept only when soft deletes are on) holds the newest INSERT/MODIFY per key, so a
    soft-deleted row keeps the values of its last live version even when that version and the
    REMOVE arrive in the same batch."""

    track_live: bool = False
    latest: dict[tuple[str, str], Change] = field(default_factory=dict)
    live: dict[tuple[str, str], Change] = field(default_factory=dict)
    duplicates: int = 0
    stale: int = 0
    superseded: int = 0  # replaced by a newer change of the same key within the batch

    def add(self, change: Change) -> None:
        key = (change.table, change.dist_key)
        current = self.latest.get(key)
        if current is None:
            self.latest[key] = change
        elif beats(change, current):
            self.latest[key] = change
            self.superseded += 1
        elif is_duplicate(change, current):
            self.duplicates += 1
            if change.seq > current.seq:
                self.latest[key] = change  # the same change met again later: keep the newest (version, seq)
        else:
            self.stale += 1
        if self.track_live and change.op != REMOVE:
            last = self.live.get(key)
            if last is None or beats(change, last):
                self.live[key] = change

    def __len__(self) -> int:
        return len(self.latest)
