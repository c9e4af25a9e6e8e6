"""Targets by URI scheme: one line each (STYLE pattern 3)."""

from __future__ import annotations

import contextlib
from typing import Iterator

from ..config import Config
from ..errors import ConfigError
from ..redact import mask
from .base import SqlTarget


def _duckdb():
    from .duckdb import DuckDBTarget

    return DuckDBTarget


def _postgres():
    from .postgres import PostgresTarget

    return PostgresTarget


def _redshift():
    from .redshift import RedshiftTarget

    return RedshiftTarget


TARGETS = {
    "duckdb": _duckdb,
    "postgresql": _postgres,
    "postgres": _postgres,
    "redshift": _redshift,
}


def make_target(uri: str, schema: str | None = None, mode: str = "write") -> SqlTarget:
    """The target for `uri`. `mode`: "write" (run), "read" (status, report, verify: opened
    read-only, creates nothing, fails with "no dynashift metadata" when there is none) or "probe"
    (doctor: creates nothing)."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme not in TARGETS:
        known = ", ".join(f"{s}://" for s in TARGETS)
        raise ConfigError(f"unknown target {mask(uri)!r}: use one of {known}")
    target = TARGETS[scheme]()(uri, schema)
    target.mode = mode
    return target


def open_target(config: Config, mode: str = "write") -> contextlib.AbstractContextManager[SqlTarget]:
    """`with open_target(config) as target:` the configured target (`mode` as in make_target),
    open for the block and closed after it however the block ends. Opening fails before it."""
    return opened(make_target(config.target, config.schema_name, mode))


@contextlib.contextmanager
def opened(target: SqlTarget) -> Iterator[SqlTarget]:
    """A target made already, open for the block and closed after it."""
    target.open()
    try:
        yield target
    finally:
        target.close()
