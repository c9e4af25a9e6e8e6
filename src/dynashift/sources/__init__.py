"""Sources by URI scheme: one line each (STYLE pattern 3)."""

from __future__ import annotations

from typing import Any, Iterator, Protocol

from ..config import Config
from ..errors import ConfigError
from ..records import Checkpoint, SourceBatch


class Source(Protocol):
    """What the pipeline needs of a source: its URI (the checkpoints' `source`) and batches
    read from the committed checkpoints on. A batch's checkpoints are written by the target in
    the batch's transaction; a source keeps no other state."""

    uri: str

    def read(self, checkpoints: dict[str, Checkpoint]) -> Iterator[SourceBatch]: ...


def _file(uri: str, config: Config, **options: Any) -> Source:
    from .files import FileSource

    return FileSource(uri, default_table=config.table, batch_size=config.batch_size, batch_bytes=config.batch_bytes)


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
