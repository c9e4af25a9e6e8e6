"""The error tree. Everything dynashift raises on purpose derives from DynashiftError.

    DynashiftError                 one clear line for the user; exit status from `exit_code`
    ├── ConfigError (exit 2)       bad flags, bad dynashift.toml, unknown URI scheme
    ├── SourceError (exit 1)       a source cannot be read (missing file, refused stream view type)
    │   └── GapError               changes expired unread between checkpoint and trim horizon
    ├── TargetError (exit 1)       the target refused something; fatal
    │   ├── RetryableTargetError   connection dropped, serialization failure: retry the batch
    │   ├── DataTargetError        the target refused this batch's data (a value it cannot hold, a
    │   │                          limit, a constraint): retrying cannot help; the batch is split
    │   │                          until the records it refuses are found and rejected
    │   └── LeaseLost              a batch refused at commit: another worker took one of its shards
    └── BadRecordError             one record cannot be replicated; goes to `rejected`, never raised
                                   out of the pipeline unless on_bad_record = "fail"

Driver exceptions are mapped into this tree once, at the boundary (each target / source module);
nothing above that boundary catches a driver's exception type.
"""

from __future__ import annotations


class DynashiftError(Exception):
    exit_code = 1


def first_line(exc: BaseException) -> str:
    """A driver's error as the one line a message carries: its first, or its type's name when it
    says nothing (errors are mapped at the boundary into this tree with it)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class ConfigError(DynashiftError):
    exit_code = 2


class SourceError(DynashiftError):
    pass


class GapError(SourceError):
    pass


class TargetError(DynashiftError):
    pass


class RetryableTargetError(TargetError):
    pass


class DataTargetError(TargetError):
    """Deterministic and caused by the batch's records: the same records fail the same way every
    time, so the pipeline splits the batch to find them (splitting.py) instead of retrying."""


class LeaseLost(TargetError):
    """A batch's shard lease was taken over by another worker (this one was frozen or cut off
    past its lease): the batch is refused whole; the worker drops those shards and goes on."""

    def __init__(self, pipeline: str, shards: list[str]):
        super().__init__(f"pipeline {pipeline}: the lease on {', '.join(shards)} was taken over by another worker;"
                         " the batch was not applied (the new owner applies it)")
        self.shards = shards


class BadRecordError(DynashiftError):
    """A record that cannot be replicated. `reason` is stored in dynashift.rejected; `record`, when
    set, is the one record of a line holding several (its raw text in the rejected row)."""

    def __init__(self, reason: str, record: object = None):
        super().__init__(reason)
        self.reason = reason
        self.record = record
