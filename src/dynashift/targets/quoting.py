"""Identifier quoting, shared by every module that writes SQL."""

from __future__ import annotations

from typing import Sequence


def quote(name: str) -> str:
    """Quote an identifier: every name is quoted, a `"` inside is doubled; nothing is spliced raw."""
    return '"' + name.replace('"', '""') + '"'


def select_list(columns: Sequence[str], casts: dict[str, str] | None) -> str:
    """`, s."a", s."b"` for the SELECT side of an INSERT from the staged rows (aliased `s`); typed
    columns cast from their staged text."""
    if not casts:
        return "".join(f", s.{quote(c)}" for c in columns)
    return "".join(f", {casts.get(c) or f's.{quote(c)}'}" for c in columns)
