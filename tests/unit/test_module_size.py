"""No module of the package is over 500 lines: small modules with one job (docs/architecture.md).
A module that grows past it is split by what it does, not trimmed to fit."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "dynashift"
MAX_LINES = 500


def test_no_module_over_500_lines() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text("utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    assert len(sizes) > 40 and sum(sizes.values()) > 10_000  # the whole package was read
    over = {name: n for name, n in sorted(sizes.items()) if n > MAX_LINES}
    assert over == {}, f"modules over {MAX_LINES} lines: {over}"
