"""A pipeline's identity: its name, and what its checkpoints mean.

Checkpoints, runs, leases and status are kept per pipeline, so two pipelines may read one stream
into one target (other tables, another schema) without touching each other's positions. A
pipeline's checkpoints are only true for the tables its filters let through: a filter widened
later would silently skip what the checkpoints already passed, so that is refused (pure checks
here; the pipeline calls them with what the target remembers of the pipeline).
"""

from __future__ import annotations

from typing import Any

from .config import Config
from .errors import ConfigError
from .redact import mask


def pipeline_name(config: Config, source_uri: str) -> str:
    """`pipeline` when set; otherwise derived from the source, the target schema and the table
    filters. With neither schema nor filters it is the source URI itself, the key checkpoints
    had before pipelines existed, so an existing replica resumes where it was."""
    if config.pipeline:
        return config.pipeline
    parts = [mask(source_uri)]  # a name is shown and stored: never a password
    if config.schema_name:
        parts.append(f"schema={config.schema_name}")
    if config.include:
        parts.append(f"include={','.join(sorted(config.include))}")
    if config.exclude:
        parts.append(f"exclude={','.join(sorted(config.exclude))}")
    return " ".join(parts)


def filters_of(config: Config) -> dict[str, Any]:
    return {"include": sorted(config.include), "exclude": sorted(config.exclude)}


def widened(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether the new filters may let through a table the old ones kept out (judged on the
    patterns as written: narrower only when provably so)."""
    old_inc, new_inc = set(old.get("include") or []), set(new.get("include") or [])
    old_exc, new_exc = set(old.get("exclude") or []), set(new.get("exclude") or [])
    if old_inc and (not new_inc or not new_inc <= old_inc):
        return True  # more (or all) tables included than before
    return not old_exc <= new_exc  # something excluded before is no longer


def check_definition(name: str, stored: dict[str, Any] | None, source_uri: str, schema: str,
                     filters: dict[str, Any], has_checkpoints: bool, accept_filter_change: bool) -> None:
    """Refuse a run whose pipeline was defined otherwise: another source or schema under the
    same name, or filters widened past what the checkpoints cover."""
    if stored is None or not has_checkpoints:
        return
    if stored["source"] != source_uri:
        raise ConfigError(f"pipeline {name!r} reads {stored['source']}, not {source_uri}: choose another name"
                          " with --pipeline")
    if (stored.get("schema") or schema) != schema:
        raise ConfigError(f"pipeline {name!r} writes to schema {stored['schema']}, not {schema}: choose another name"
                          " with --pipeline")
    if widened(stored["filters"], filters) and not accept_filter_change:
        raise ConfigError(
            f"pipeline {name!r} was run with {_describe(stored['filters'])}; with {_describe(filters)} tables it left out"
            " would be read only from its checkpoints on, skipping their earlier changes. Run a full load of those"
            " tables (export://…) and pass --accept-filter-change, or use a new --pipeline name")


def _describe(filters: dict[str, Any]) -> str:
    parts = [f"--include {','.join(filters['include'])}" if filters.get("include") else "",
             f"--exclude {','.join(filters['exclude'])}" if filters.get("exclude") else ""]
    return " ".join(p for p in parts if p) or "no table filter"
