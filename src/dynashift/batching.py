"""A batch keeps the newest change per key (SPEC section 3), and counts what it skipped.

The same precedence rule is written once more in SQL (targets/base.py, `_BEATS`) to compare a
batch with what earlier batches left in the target; the two must agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .records import Change


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
    latest: dict[tuple[str, str], Change] = field(default_factory=dict)
    duplicates: int = 0
    stale: int = 0
    ttl_ignored: int = 0

    def add(self, change: Change) -> None:
        key = (change.table, change.dist_key)
        current = self.latest.get(key)
        if current is None or beats(change, current):
            self.latest[key] = change
        elif is_duplicate(change, current):
            self.duplicates += 1
        else:
            self.stale += 1

    def __len__(self) -> int:
        return len(self.latest)
