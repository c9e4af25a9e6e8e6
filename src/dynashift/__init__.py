"""dynashift: keep SQL tables in sync with DynamoDB tables from their change stream.

    from dynashift import run_once
    run_once("file://changes/", "duckdb:///warehouse.duckdb")
"""

from __future__ import annotations

from typing import Any

from .config import Config, load_config
from .errors import (
    BadRecordError,
    ConfigError,
    DynashiftError,
    GapError,
    RetryableTargetError,
    SourceError,
    TargetError,
)
from .pipeline import replicate
from .targets.base import RunCounters


def run_once(source: str, target: str = "duckdb:///dynashift.duckdb", **settings: Any) -> RunCounters:
    """Apply everything `source` holds now into `target`; settings are Config fields."""
    from .sources import make_source
    from .targets import open_target

    config = Config.model_validate({"source": source, "target": target, **settings})
    with open_target(config) as tgt:
        return replicate(config, make_source(source, config), tgt)


__all__ = [
    "BadRecordError",
    "Config",
    "ConfigError",
    "DynashiftError",
    "GapError",
    "RetryableTargetError",
    "RunCounters",
    "SourceError",
    "TargetError",
    "load_config",
    "replicate",
    "run_once",
]
