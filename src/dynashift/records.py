"""The value types that flow from sources through decoding into a batch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

INSERT = "INSERT"
MODIFY = "MODIFY"
REMOVE = "REMOVE"
OPS = (INSERT, MODIFY, REMOVE)


@dataclass(slots=True)
class Change:
    """One decoded DynamoDB change.

    `version` is the change time in microseconds; `seq` breaks ties between equal versions and is
    ordered as a plain string (each source makes it fixed-width so string order is source order).
    `keys` and `new_image` stay in DynamoDB typed JSON: only the newest change per key is rendered.
    """

    table: str
    op: str
    keys: dict[str, Any]
    new_image: dict[str, Any] | None
    version: int
    seq: str
    dist_key: str
    event_id: str = ""
    ttl: bool = False
    raw: bytes | None = None
    # A REMOVE's OldImage (dict or LAZY), kept for soft deletes: the row's last live values.
    old_image: Any = None
    # Set when new_image is LAZY: the image's attribute names, only if some were new to the reader.
    names: list[str] | None = None


class _Lazy:
    """Marks a NewImage left unparsed in `Change.raw`: parsed only if the change wins its key."""

    def __repr__(self) -> str:
        return "LAZY"


LAZY: Any = _Lazy()


@dataclass(slots=True)
class Rejected:
    """A record that could not be replicated, kept with its reason (docs/reference.md §7)."""

    reason: str
    raw: bytes
    position: str = ""


@dataclass(slots=True)
class Checkpoint:
    """How far a source has been applied: one row of dynashift.checkpoints."""

    source: str
    shard: str
    position: str
    size: int | None = None
    pipeline: str = ""  # the pipeline it belongs to ("" before the pipeline stamps it: the source URI)
    # (owner, lease counter, leased shard) the position was read under, checked at commit; the
    # leased shard is the shard itself, or `*` for a source that cannot be split
    lease: tuple[str, int, str] | None = None


@dataclass(slots=True)
class SourceBatch:
    """What a source hands the pipeline: decoded changes, rejects, and where it now stands."""

    changes: list[Change] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    records_read: int = 0
    bytes_read: int = 0
    lag: dict[str, int] = field(default_factory=dict)  # live sources: shard -> milliseconds behind the tip
