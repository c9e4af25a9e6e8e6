"""`--log-format json`: one JSON object per line on stderr, for log shippers (CloudWatch, Loki,
Datadog). Every record of the `dynashift` logger becomes {"ts", "level", "logger", "msg", ...}
plus the fields passed in `extra={"fields": {...}}`.

The text format (the default) keeps the human output of the CLI: a progress bar and one summary
line; the library's warnings still reach stderr through logging's last-resort handler.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

import orjson

from .pipeline import BatchStats
from .redact import mask

LOGGER = "dynashift"
log = logging.getLogger(LOGGER)


class JsonFormatter(logging.Formatter):
    """A log record -> one line of JSON; `extra={"fields": {...}}` adds fields at the top level."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info and record.exc_info[1] is not None:
            entry["error"] = f"{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        return mask(orjson.dumps(entry, default=str).decode())  # no password in any log line


class TextFormatter(logging.Formatter):
    """`--log-level`/`-v` in the text format: `info: batch records=5000 applied=4100 …`."""

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(f"{k}={v}" for k, v in (getattr(record, "fields", None) or {}).items() if v is not None)
        return mask(f"{record.levelname.lower()}: {record.getMessage()}" + (f" {fields}" if fields else ""))


LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_chosen: list[int] = []  # the level from --log-level / -v, when one was given


def choose_level(name: str) -> None:
    """`--log-level NAME` (or -v = info, -vv = debug): how much the `dynashift` logger shows."""
    _chosen[:] = [LEVELS[name]]
    log.setLevel(LEVELS[name])
    if not log.handlers:  # text format: lines on stderr instead of logging's warnings-only last resort
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(TextFormatter())
        log.handlers[:] = [handler]
        log.propagate = False


def chosen_level() -> int:
    """The level chosen on the command line, else WARNING (the text format's default)."""
    return _chosen[0] if _chosen else logging.WARNING


def setup(fmt: str, stream: TextIO | None = None) -> None:
    """Route the `dynashift` logger to stderr as JSON lines (`json`), or leave logging as it is (`text`)."""
    if fmt != "json":
        return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    log.handlers[:] = [handler]
    log.setLevel(_chosen[0] if _chosen else logging.INFO)
    log.propagate = False


def event(msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log `msg` with structured fields (JSON mode shows them; text mode shows only warnings)."""
    log.log(level, msg, extra={"fields": fields})


def batch_logger(b: BatchStats) -> None:
    """An observer of pipeline.replicate: one `batch` line per committed batch."""
    if b.refused:  # refused by the lease fence (another worker took a shard): nothing was applied
        event("batch refused", source=b.source, run_id=b.run_id, **(b.leases or {}))
        return
    event("batch", source=b.source, run_id=b.run_id, batch=b.batch, records=b.records, applied=b.applied,
          duplicates=b.duplicates, stale=b.stale, superseded=b.superseded, ttl_ignored=b.ttl_ignored,
          rejected=b.rejected, bytes=b.bytes, seconds=round(b.seconds, 4),
          lag_ms=max(b.lag.values()) if b.lag else None)
