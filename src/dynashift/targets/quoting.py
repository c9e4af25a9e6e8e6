"""Identifier quoting, shared by every module that writes SQL."""

from __future__ import annotations


def quote(name: str) -> str:
    """Quote an identifier: every name is quoted, a `"` inside is doubled; nothing is spliced raw."""
    return '"' + name.replace('"', '""') + '"'
