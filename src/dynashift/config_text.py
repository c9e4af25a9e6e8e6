"""The configuration as text, from the Config model itself (so neither can drift from the code):
`dynashift init`'s commented dynashift.toml, and the rows of docs/configuration.md
(scripts/gen_config_doc.py). Field descriptions in config.py are the single source.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from .config import Config

DURATIONS = {"tombstone_retention", "max_wait", "interval", "poll_interval"}

SOURCES = {  # kind -> (example URI, note)
    "file": ("file://changes/", "a file, a folder (files in name order) or a glob of change records"),
    "kinesis": ("kinesis://orders-changes", "EDIT: the Kinesis stream DynamoDB's Kinesis destination writes into"),
    "dynamodb-streams": ("dynamodb-streams://Orders", "EDIT: the DynamoDB table whose stream (NEW_AND_OLD_IMAGES) "
                         "is read"),
    "export": ("export://s3://my-bucket/exports/", "EDIT: a DynamoDB export to S3 (DynamoDB JSON), or a local copy"),
    "redshift-mv": ("redshift-mv://public.dynashift_changes", "the streaming view `dynashift redshift setup` made"),
}
TARGETS = {  # kind -> (example URI, comment lines)
    "duckdb": ("duckdb:///warehouse.duckdb", ["an embedded DuckDB file, created on the first run"]),
    "postgresql": ("postgresql://dynashift:${PGPASSWORD}@localhost:5432/analytics",
                   ["EDIT: user, host and database; the password comes from the environment (${PGPASSWORD})"]),
    "redshift": ("redshift://dynashift:${REDSHIFT_PASSWORD}@my-cluster.abc123.us-east-1.redshift.amazonaws.com:5439/dev",
                 ["EDIT: the cluster endpoint and database; other forms (docs/redshift.md):",
                  "  IAM:      redshift://USER@HOST:5439/DB?iam=true&cluster_identifier=C&region=R",
                  "  Data API: redshift:///DB?workgroup=WG&region=R   (Serverless; no host, no password)",
                  "  fast loads: append ?s3_staging=s3://BUCKET/PREFIX/&iam_role=arn:aws:iam::ACCOUNT:role/ROLE"]),
}
_LIVE = ("kinesis", "dynamodb-streams")
# Settings shown (commented out, with their defaults) per kind of source; the rest go at the end.
GROUPS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("AWS access (default: the standard AWS credential chain and settings)", ("region", "profile", "endpoint_url"),
     ("kinesis", "dynamodb-streams", "export")),
    ("Reading the stream", ("start_position", "start_timestamp", "max_wait", "interval", "poll_interval",
                            "accept_gap"), _LIVE),
    ("Reading files", ("table",), ("file",)),
    ("Which DynamoDB tables", ("include", "exclude"), ()),
    ("Full loads", ("load_batch_size",), ("export",)),
    ("How changes are applied", ("schema", "batch_size", "batch_bytes", "delete_mode", "ttl_deletes",
                                 "tombstone_retention", "on_bad_record", "change_log"), ()),
]
EXAMPLES = {"region": "us-east-1", "profile": "default", "endpoint_url": "http://localhost:4566",
            "interval": "5m", "table": "Orders", "start_timestamp": "2024-05-01T00:00:00Z", "schema": "analytics",
            "scan_rate": 200, "include": ["Orders", "Customers"], "exclude": ["*-staging"]}


def fields() -> dict[str, FieldInfo]:
    """Config's fields by the name used in dynashift.toml (the alias when there is one)."""
    return {(info.alias or name): info for name, info in Config.model_fields.items()}


def toml_value(value: Any, duration: bool = False) -> str:
    """A Python value as a TOML literal (durations as `7d`, `5s`)."""
    if duration and isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'"{seconds_text(float(value))}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return f"{value:_}" if isinstance(value, int) and value >= 10_000 else repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    return f'"{value}"'


def seconds_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds * 1000)}ms" if seconds < 1 else f"{seconds:g}s"


def default_of(name: str, info: FieldInfo) -> Any:
    return info.get_default(call_default_factory=True)


def type_text(annotation: Any) -> str:
    """A field's type for people: `"hard" | "soft"`, `list of text`, `duration`, …"""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(f'"{a}"' for a in args)
    if origin in (typing.Union, types.UnionType):
        kinds = [type_text(a) for a in args if a is not type(None)]
        return " | ".join(kinds)
    if origin in (list, tuple):
        return f"list of {type_text(args[0])}" if args else "list"
    if origin is dict:
        return f"table of {type_text(args[1])}" if len(args) == 2 else "table"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation.__name__
    return {str: "text", int: "integer", float: "number", bool: "boolean"}.get(annotation, str(annotation))


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """Models inside a field's type (`list[Route]`, `dict[str, TableOptions]`), documented as sub-tables."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for a in typing.get_args(annotation) for m in nested_models(a)]


# ---------------------------------------------------------------- dynashift init


def _kind(value: str, known: dict[str, Any], what: str) -> tuple[str, str]:
    """`kinesis` or `kinesis://stream` -> (kind, URI)."""
    kind = value.split("://", 1)[0] if "://" in value else value
    kind = {"postgres": "postgresql", "dynamodb": "dynamodb-streams", "ddb-streams": "dynamodb-streams",
            "streams": "dynamodb-streams"}.get(kind, kind)
    if kind not in known:
        from .errors import ConfigError

        raise ConfigError(f"unknown {what} {value!r}: use one of {', '.join(known)} (or a full URI)")
    return kind, value if "://" in value else known[kind][0]


# What `run` refuses, refused by `init` already: source kind -> the only target kinds it works with.
ONLY_TARGETS = {"redshift-mv": ("redshift",)}


def config_text(source: str, target: str) -> str:
    """A dynashift.toml for `init`: the source and target set, every other setting that matters
    for that source commented out at its default, with its description."""
    from .errors import ConfigError

    skind, suri = _kind(source, SOURCES, "source")
    tkind, turi = _kind(target, TARGETS, "target")
    if skind in ONLY_TARGETS and tkind not in ONLY_TARGETS[skind]:
        raise ConfigError(f"a {skind} source works only with a {' or '.join(ONLY_TARGETS[skind])} target"
                          f" (it is applied inside the warehouse): use --target {ONLY_TARGETS[skind][0]}")
    all_fields = fields()
    lines = [f"# dynashift.toml: written by `dynashift init --source {skind} --target {tkind}`.",
             "# Flags given to a command win over these settings; ${NAME} is replaced by the environment",
             "# variable NAME. Lines starting with # are defaults or examples: remove the # to set them.",
             "# Check the setup with `dynashift doctor`; every setting: docs/configuration.md", ""]
    lines += _comment(all_fields["source"].description or "")
    lines += [f"# {SOURCES[skind][1]}", f"source = {toml_value(suri)}", ""]
    lines += _comment(all_fields["target"].description or "")
    lines += [f"# {line}" for line in TARGETS[tkind][1]] + [f"target = {toml_value(turi)}", ""]
    shown = {"source", "target", "routes", "tables"}
    for title, names, kinds in GROUPS:
        if kinds and skind not in kinds:
            shown.update(names)
            continue
        lines += [f"# ---- {title}", ""]
        for name in names:
            if name in all_fields:
                lines += _setting(name, all_fields[name])
                shown.add(name)
    rest = [n for n in all_fields if n not in shown and not n.startswith("scan_")]
    if rest:
        lines += ["# ---- Other settings", ""]
        for name in rest:
            lines += _setting(name, all_fields[name])
    lines += ["# ---- Single-table designs: send items to target tables by key prefix or type attribute",
              "# [[routes]]", '# table = "App"', '# attribute = "pk"', '# prefix = "ORDER#"', '# to = "orders"', ""]
    lines += ["# ---- Per DynamoDB table (its name or a glob pattern): column_types, item_column and history",
              "# overriding the settings above for that table",
              "# [tables.Orders]", '# column_types = "typed"', "# item_column = true", '# history = "beside"',
              '# [tables."*-audit"]', '# history = "only"', ""]
    return "\n".join(lines)



def _setting(name: str, info: FieldInfo) -> list[str]:
    default = default_of(name, info)
    lines = _comment(info.description or "")
    if default is None or default == [] or default == {}:
        example = EXAMPLES.get(name)
        if isinstance(example, (list, str, int)) and not isinstance(example, bool) and nested_models(info.annotation) == []:
            lines.append(f"# {name} = {toml_value(example)}")
        return lines + [""]
    return lines + [f"# {name} = {toml_value(default, name in DURATIONS)}", ""]


def _comment(text: str, width: int = 96) -> list[str]:
    words, lines, line = text.split(), [], "#"
    for word in words:
        if len(line) + 1 + len(word) > width:
            lines.append(line)
            line = "#"
        line += " " + word
    return lines + ([line] if line != "#" else [])
