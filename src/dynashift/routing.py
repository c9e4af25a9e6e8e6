"""Routing rules for single-table designs: one DynamoDB table -> several target tables.

A rule sends the items of a DynamoDB table whose attribute starts with a prefix (or equals a
value) to a named target table, e.g. `pk` starting `ORDER#` -> `orders`. The first matching rule
wins; an item no rule matches stays in the table named after its DynamoDB table. Rules are applied
in planning to every change whatever its source (stream, file, export, scan), so a full load and
the stream always agree on where a key lives.

A rule on a key attribute decides every change, REMOVEs included (they carry `Keys`). A rule on
another attribute (a type attribute) needs the item: a REMOVE is routed by its OldImage when the
stream carries one, otherwise it is sent to every table the source table routes to (a delete of
a key a table never held changes nothing there but a tombstone). An item is expected to keep its
type: if the attribute changes so that it moves to another table, the old row stays behind.
"""

from __future__ import annotations

import base64
import dataclasses
from fnmatch import fnmatchcase
from typing import Any, Iterable, Iterator

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .decode import image_of
from .errors import BadRecordError
from .records import LAZY, REMOVE, Change


class Route(BaseModel):
    """One rule, as written in dynashift.toml under `[[routes]]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    to: str = Field(..., min_length=1, description="Target table the matching items go to (lower-cased like a table name)")
    table: str = Field("*", description="DynamoDB table(s) the rule applies to: a name or glob pattern")
    attribute: str = Field(..., min_length=1, description="Attribute whose value decides (a key or a type attribute)")
    prefix: str | None = Field(None, description="Match when the value starts with this text")
    equals: str | None = Field(None, description="Match when the value is exactly this text")

    @model_validator(mode="after")
    def _one_test(self) -> "Route":
        if self.prefix is not None and self.equals is not None:
            raise ValueError("a route takes `prefix` or `equals`, not both")
        return self

    def matches(self, value: str | None) -> bool:
        """`value` is the attribute's text (S, N or B as base64); None when absent or not scalar."""
        if value is None:
            return False
        if self.prefix is not None:
            return value.startswith(self.prefix)
        if self.equals is not None:
            return value == self.equals
        return True  # neither given: the attribute being present is enough


def _text(av: Any) -> str | None:
    """A typed scalar value -> the text a rule compares (S, N, B); anything else does not match."""
    if type(av) is not dict or len(av) != 1:
        return None
    ((tag, v),) = av.items()
    if tag in ("S", "N") and type(v) is str:
        return v
    if tag == "B":
        return v if type(v) is str else base64.b64encode(bytes(v)).decode("ascii")
    return None


class Router:
    """The rules compiled per DynamoDB table (cached), applied to a batch of changes."""

    def __init__(self, routes: Iterable[Route]):
        self.routes = tuple(routes)
        self._by_table: dict[str, tuple[Route, ...]] = {}

    def rules_for(self, table: str) -> tuple[Route, ...]:
        rules = self._by_table.get(table)
        if rules is None:
            rules = self._by_table[table] = tuple(r for r in self.routes if fnmatchcase(table, r.table))
        return rules

    def destinations(self, table: str) -> list[str]:
        """Every table items of `table` may be routed to, its own name (the unmatched) included."""
        return list(dict.fromkeys([r.to for r in self.rules_for(table)] + [table]))

    def route(self, change: Change) -> str | None:
        """The target table of one change; None when it cannot be decided (a REMOVE without an
        image under a rule on a non-key attribute)."""
        rules = self.rules_for(change.table)
        if not rules:
            return change.table
        image: dict[str, Any] | None = None
        for rule in rules:
            av = change.keys.get(rule.attribute)
            if av is None:
                if image is None:
                    image = _image(change)
                    if image is None:
                        return None
                av = image.get(rule.attribute)
            if rule.matches(_text(av)):
                return rule.to
        return change.table

    def apply(self, changes: Iterable[Change]) -> Iterator[Change]:
        """Each change with its table replaced by its route; undecidable REMOVEs fanned out."""
        for change in changes:
            if not self.rules_for(change.table):
                yield change
                continue
            try:
                to = self.route(change)
            except BadRecordError:
                yield change  # an unreadable image: planning rejects it with its reason
                continue
            if to is not None:
                change.table = to
                yield change
                continue
            for table in self.destinations(change.table):
                yield dataclasses.replace(change, table=table)


def _image(change: Change) -> dict[str, Any] | None:
    """The item as the change shows it: NewImage, or a REMOVE's OldImage; parsed if left lazy."""
    if change.op != REMOVE:
        if change.new_image is LAZY:
            change.new_image = image_of(change)
            change.names = None
        return change.new_image
    if change.old_image is None:
        return None
    if change.old_image is LAZY:
        change.old_image = image_of(change, "OldImage")
    return change.old_image


def make_router(routes: Iterable[Route]) -> Router | None:
    routes = tuple(routes)
    return Router(routes) if routes else None


__all__ = ["Route", "Router", "make_router"]
