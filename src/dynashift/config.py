"""One Config, from dynashift.toml + command-line flags + ${ENV} references; passed explicitly."""

from __future__ import annotations

import os
import re
import tomllib
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError
from .routing import Route
from .schema import DEFAULT_MAX_COLUMNS

CONFIG_FILE = "dynashift.toml"
MIN_COLUMNS = 8  # dynashift's own columns, two keys and the overflow column
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*")
_UNITS = {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: Any) -> float:
    """`7d`, `5m`, `30s`, `250ms` or a number of seconds -> seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _DURATION.fullmatch(str(value))
    if not m:
        raise ValueError(f"not a duration: {value!r} (use e.g. 30s, 5m, 7d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


class TableOptions(BaseModel):
    """Per-table overrides of the typed-mode settings (`[tables.NAME]` in dynashift.toml)."""

    model_config = ConfigDict(extra="forbid")

    column_types: Literal["text", "typed"] | None = None
    item_column: bool | None = None
    history: Literal["off", "beside", "only"] | None = None
    max_columns: int | None = Field(None, ge=MIN_COLUMNS, description="Column budget of this table (see max_columns)")


class Config(BaseModel):
    """Everything a run needs. Field descriptions are the configuration reference."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    source: str | None = Field(None, description="Where changes come from: file://PATH, kinesis://STREAM, …")
    pipeline: str | None = Field(None, description="This pipeline's name: checkpoints, runs, leases and status are kept "
                                 "per pipeline (default: derived from the source, the schema and the table filters)")
    target: str = Field("duckdb:///dynashift.duckdb", description="Where tables are kept: duckdb:///PATH, postgresql://…, redshift://…")
    schema_name: str | None = Field(None, alias="schema", description="Schema for replicated tables (default: main in DuckDB, public elsewhere)")
    table: str | None = Field(None, description="DynamoDB table name for records that carry none (a saved GetRecords response)")
    batch_size: int = Field(50_000, ge=1, description="Records per batch (one target transaction). When not set: 75,000 "
                            "for a file source whose files are all plain JSON Lines read by the native engine (its "
                            "batches are Arrow columns, not Python objects: fewer statements and commits per record "
                            "for a little more memory), else 50,000")
    batch_bytes: int = Field(256 * 1024 * 1024, ge=1024, description="Input bytes per batch")
    load_batch_size: int = Field(65_536, ge=1, description="Items per batch (one target transaction) of a full load "
                                 "from an export: by default eight of the 8,192-row groups dynashift writes a DuckDB file "
                                 "in; DuckDB writes a transaction's full row groups straight to its file, compressed, rather "
                                 "than to its WAL and again at a checkpoint. A larger one needs more memory (about 3 KB an "
                                 "item) for no more speed; a smaller one scans dynashift.versions more often")
    max_wait: float = Field(5.0, ge=0, description="How long a batch may wait for more records in continuous mode (e.g. 5s)")
    interval: float | None = Field(None, gt=0, description="Scheduled mode: apply what the stream holds, sleep this long (e.g. 5m), repeat")
    include: list[str] = Field(default_factory=list, description="Replicate only these DynamoDB tables (names or glob patterns)")
    exclude: list[str] = Field(default_factory=list, description="Skip these DynamoDB tables (names or glob patterns)")
    accept_filter_change: bool = Field(False, description="Run a named pipeline whose table filters now let through "
                                       "tables its checkpoints already passed (after a full load of those tables)")
    lease_duration: float = Field(8.0, gt=0, description="Several workers of one pipeline: a shard whose worker has "
                                  "not renewed its lease for this long moves to another worker (e.g. 8s)")
    lease_renewal: float = Field(2.0, gt=0, description="How often a worker renews its leases and takes its share "
                                 "of free shards (e.g. 2s)")
    accept_gap: bool = Field(False, description="Continue past changes that expired unread from the stream (the replica stays incomplete)")
    start_position: Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"] = Field(
        "TRIM_HORIZON", description="Where a live source starts reading a shard it has no checkpoint for:"
        " TRIM_HORIZON (the oldest record the stream still holds), LATEST (only records written from now on)"
        " or AT_TIMESTAMP (from start_timestamp)"
    )
    start_timestamp: str | None = Field(None, description="For start_position = AT_TIMESTAMP: ISO 8601 time or epoch seconds/ms")
    poll_interval: float = Field(1.0, gt=0, description="How often a live source asks a shard at its tip for new records (e.g. 1s)")
    delete_mode: Literal["hard", "soft"] = Field("hard", description="REMOVE deletes the row (hard) or sets _dynashift_deleted (soft)")
    ttl_deletes: Literal["follow", "hard", "soft", "ignore"] = Field(
        "follow", description="TTL expiries: follow delete_mode, or hard, soft, or ignore (expired items stay)"
    )
    tombstone_retention: float = Field(7 * 86400, description="How long a delete is remembered (e.g. 7d), by the apply-time clock")
    on_bad_record: Literal["reject", "fail"] = Field("reject", description="reject: keep bad records in dynashift.rejected; fail: stop the run")
    change_log: bool = Field(False, description="Keep every raw record in dynashift.change_log")
    endpoint_url: str | None = Field(None, description="AWS endpoint (e.g. a local one)")
    region: str | None = Field(None, description="AWS region")
    profile: str | None = Field(None, description="AWS profile")
    # Full loads and single-table designs (docs/full-load.md)
    routes: list[Route] = Field(default_factory=list, description="Single-table designs: [[routes]] sending items to target "
                                "tables by key prefix or type attribute (first match wins)")
    scan_segments: int = Field(4, ge=1, le=10_000, description="Scan backfill: parallel segments (one reader each)")
    scan_rate: float | None = Field(None, gt=0, description="Scan backfill: read capacity units per second, all segments "
                                    "together (unset: as fast as the table allows)")
    # Typed columns, the item column and history (docs/decisions.md "Typed mode, item column, history, verify")
    column_types: Literal["text", "typed"] = Field("text", description="text: every column text (the original "
                                                   "design); typed: DECIMAL, BOOLEAN, binary and JSON columns from the values")
    item_column: bool = Field(False, description="Keep the whole item, lossless, as JSON in _dynashift_item")
    history: Literal["off", "beside", "only"] = Field("off", description="Keep every version in <table>__history: "
                                                      "beside the current-state table, or only (the table is then a view)")
    max_columns: int = Field(DEFAULT_MAX_COLUMNS, ge=MIN_COLUMNS, description="Column budget: a table never has "
                             "more columns (dynashift's own included; capped at the target's limit, 1,600 in PostgreSQL and "
                             "Redshift); further attributes go, as their column text, into one JSON column _dynashift_overflow")
    tables: dict[str, TableOptions] = Field(default_factory=dict, description="Per DynamoDB table (name or glob "
                                            "pattern): column_types, item_column, history, max_columns overriding the "
                                            "settings above")

    @field_validator("tombstone_retention", "max_wait", "interval", "poll_interval", "lease_duration", "lease_renewal",
                     mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float | None:
        return None if v is None else parse_duration(v)

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _names(cls, v: Any) -> list[str]:
        """A list, or one comma-separated string (`--include Orders,Customers`)."""
        items = v.split(",") if isinstance(v, str) else list(v or [])
        return [str(x).strip() for x in items if str(x).strip()]

    @field_validator("start_position", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper().replace("-", "_") if isinstance(v, str) else v

    def wants_table(self, table: str) -> bool:
        """Whether changes of DynamoDB table `table` are replicated (`include`/`exclude`, by exact
        name or glob pattern, case-sensitive as DynamoDB names are)."""
        if self.include and not any(fnmatchcase(table, p) for p in self.include):
            return False
        return not any(fnmatchcase(table, p) for p in self.exclude)

    def table_modes(self, table: str) -> tuple[str, bool, str]:
        """(column_types, item_column, history) for one table: its `[tables.X]` entry (exact name
        first, then the first matching pattern) over the global settings."""
        entry = self.tables.get(table) or next((o for p, o in self.tables.items() if fnmatchcase(table, p)), None)
        values = (self.column_types, self.item_column, self.history)
        if entry is None:
            return values
        return (entry.column_types or values[0], values[1] if entry.item_column is None else entry.item_column,
                entry.history or values[2])

    def column_budget(self, table: str) -> int:
        """A table's column budget: its `[tables.X]` max_columns, else the global one."""
        entry = self.tables.get(table) or next((o for p, o in self.tables.items() if fnmatchcase(table, p)), None)
        return entry.max_columns if entry is not None and entry.max_columns is not None else self.max_columns

    def ttl_mode(self) -> str:
        """What a TTL expiry does: hard, soft or ignore."""
        return self.delete_mode if self.ttl_deletes == "follow" else self.ttl_deletes


def _expand_env(value: Any, file: Path, missing: list[str] | None) -> Any:
    """${VAR} -> its value. An unset one is an error naming `file`, or, when `missing` is a list
    (doctor), is noted there and left empty so the other checks can still run."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in os.environ:
                if missing is None:
                    raise ConfigError(f"{file} refers to ${{{m.group(1)}}}, which is not set in the environment")
                missing.append(m.group(1))
                return ""
            return os.environ[m.group(1)]
        return _ENV.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand_env(v, file, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand_env(v, file, missing) for v in value]
    return value


def load_config(flags: dict[str, Any], path: str | Path | None = None, missing_env: list[str] | None = None) -> Config:
    """dynashift.toml (from `path` or the working folder) overlaid with the flags that were given.
    `missing_env`: collect unset ${VAR}s there instead of failing (doctor reports them as a check)."""
    values: dict[str, Any] = {}
    file = Path(path) if path else Path.cwd() / CONFIG_FILE
    if path and not file.exists():
        raise ConfigError(f"config file {file} does not exist")
    if file.exists():
        try:
            values = _expand_env(tomllib.loads(file.read_text("utf-8")), file, missing_env)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file}: {exc}") from None
        values = values.get("dynashift", values)
    values.update({k: v for k, v in flags.items() if v is not None})
    try:
        return Config.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"]) or "config"
        unknown = [e for e in exc.errors() if e["type"] == "extra_forbidden"]
        if unknown:  # every misspelt key at once, each with the key it probably meant
            raise ConfigError("; ".join(f"unknown setting {'.'.join(str(x) for x in e['loc'])}{_suggest(e['loc'])}"
                                        for e in unknown)) from None
        raise ConfigError(f"bad setting {where}: {err['msg']}") from None


def _suggest(loc: tuple[Any, ...]) -> str:
    """`: did you mean batch_size?` for a misspelt key (top level or in `[tables.NAME]`)."""
    import difflib

    model: type[BaseModel] = TableOptions if len(loc) > 1 and loc[0] == "tables" else Config
    known = [f.alias or name for name, f in model.model_fields.items()]
    typed = str(loc[-1])
    close = difflib.get_close_matches(typed.lower().replace("-", "_"), known, n=1, cutoff=0.6)
    if not close:
        close = [k for k in known if k.replace("_", "") == typed.lower().replace("-", "").replace("_", "")]
    return f": did you mean {close[0]}?" if close else f" (known settings: {', '.join(sorted(known))})"
