"""Sources by URI scheme: one line each (STYLE pattern 3)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Protocol, runtime_checkable

from ..config import Config
from ..errors import ConfigError
from ..records import Checkpoint, SourceBatch

if TYPE_CHECKING:
    from ..schema import SchemaChange, SchemaState
    from ..targets.base import RunCounters, SqlTarget


class Source(Protocol):
    """What the pipeline needs of a source: its URI (the checkpoints' `source`) and batches
    read from the committed checkpoints on. A batch's checkpoints are written by the target in
    the batch's transaction; a source keeps no other state. What else a source can do, it
    declares by the Protocols below (checked with isinstance, never by probing for names)."""

    uri: str

    def read(self, checkpoints: dict[str, Checkpoint]) -> Iterator[SourceBatch]: ...


@runtime_checkable
class LiveSource(Source, Protocol):
    """A source with a tail (kinesis://, dynamodb-streams://): `follow` yields batches as changes
    arrive until `stop` is set; each batch carries how far behind the tip it is (`SourceBatch.lag`)."""

    def follow(self, checkpoints: dict[str, Checkpoint], stop: threading.Event) -> Iterator[SourceBatch]: ...


@runtime_checkable
class ProgressSource(Source, Protocol):
    """A source that knows how much it still holds, for a progress bar: `pending` counts what is
    left from the checkpoints on, in `progress_unit` ("bytes", as runs count bytes read, or
    "items", as loads count records read)."""

    progress_unit: ClassVar[str]

    def pending(self, checkpoints: dict[str, Checkpoint]) -> int: ...


@runtime_checkable
class RereadableSource(Source, Protocol):
    """A source whose records can be read again where they lie (files). The pipeline keeps none of
    a planned batch while it commits: a batch the target refuses is read again from the checkpoints
    committed before it (pipeline._reread) and split, by a new reader of the same records."""

    def reader(self) -> RereadableSource:
        """A new reader of the same records sharing no state with this one, which may be suspended
        mid-batch meanwhile: the refused batch is read again as a new run would read it."""
        ...


@runtime_checkable
class InTargetSource(Protocol):
    """A source the target applies itself (redshift-mv://: Redshift reads Kinesis): no rows pass
    through dynashift. The run around it (its row, polling when following, its end, its errors)
    is the pipeline's (run_lifecycle.apply_in_target); the source applies one batch at a time."""

    uri: str

    def check_target(self, target: SqlTarget) -> None:
        """Raise ConfigError when `target` cannot apply this source (before any run is recorded)."""

    def apply_next(self, config: Config, target: SqlTarget, state: SchemaState,
                   run: RunCounters) -> list[SchemaChange] | None:
        """Apply the next batch in one transaction, counted in `run`; its schema changes, or
        None when the source holds nothing new."""


def _file(uri: str, config: Config, **options: Any) -> Source:
    from .files import FileSource

    size = config.batch_size if "batch_size" in config.model_fields_set else None  # None: FileSource's default
    size = size or (HISTORY_BATCH_SIZE if config.history != "off" else None)
    return FileSource(uri, default_table=config.table, batch_size=size, batch_bytes=config.batch_bytes,
                      ttl_ignore=config.ttl_mode() == "ignore", soft=_python_planned(config),
                      typed="typed" in (config.column_types, *(t.column_types for t in config.tables.values())))


# History stages every version of a batch, each about as large as its record, beside its winners:
# a batch's plan is as large as its input, held while the next is read and planned (history 300k
# narrow, native: 50k batches peak 592 MiB, 25k 4xx MiB, CPU-s per record alike).
HISTORY_BATCH_SIZE = 25_000


def _python_planned(config: Config) -> bool:
    """Whether every batch is planned from Python changes (planning.blocks.plannable_blocks takes
    no native block): soft deletes, history, the item column or routes. The file source then reads
    with the Python decoder at once, in 50k batches: read natively first, each 75k batch was read
    again (typed 300k narrow: 14.0 -> 11.6 CPU-s, peak 625 -> 509 MiB). Typed columns alone are
    planned from native blocks (planning/typed_native.py)."""
    return ("soft" in (config.delete_mode, config.ttl_mode()) or config.history != "off" or config.item_column
            or bool(config.routes))


def _kinesis(uri: str, config: Config, **options: Any) -> Source:
    from .kinesis import make

    return make(uri, config)


def _dynamodb_streams(uri: str, config: Config, **options: Any) -> Source:
    from .dynamodb_streams import make

    return make(uri, config)


def _export(uri: str, config: Config, **options: Any) -> Source:
    from .export import make

    return make(uri, config)


def _redshift_view(uri: str, config: Config, **options: Any) -> Source:
    from ..redshift_native import ViewSource

    return ViewSource(uri, config)


SOURCES = {
    "file": _file,
    "redshift-mv": _redshift_view,
    "kinesis": _kinesis,
    "dynamodb-streams": _dynamodb_streams,
    "export": _export,
}


def make_source(uri: str, config: Config, **options: Any) -> Source:
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme not in SOURCES:
        known = ", ".join(f"{s}://" for s in SOURCES)
        raise ConfigError(f"unknown source {uri!r}: use one of {known}")
    return SOURCES[scheme](uri, config, **options)
