"""planning/ is the engine boundary: it depends on model, schema, records and the pure decoding
modules only, and targets/ never import planning (they read model.py's plain types)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "dynashift"
ALLOWED = {"model", "schema", "records", "decode", "errors", "batching", "typing_mode", "overflow", "planning", "engine_choice"}


def _imports(path: Path, package: list[str]) -> set[str]:
    """Top-level dynashift modules a file imports (relative imports resolved)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                parts = base + (node.module.split(".") if node.module else [])
            elif node.module and node.module.startswith("dynashift"):
                parts = node.module.split(".")
            else:
                continue
            names = parts[1:] or [a.name for a in node.names]
            found.add(names[0] if parts[1:] else names[0])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("dynashift."))
    return found


def test_planning_depends_only_on_the_model_and_pure_modules() -> None:
    files = sorted((SRC / "planning").glob("*.py"))
    assert len(files) >= 6
    for path in files:
        outside = _imports(path, ["dynashift", "planning"]) - ALLOWED
        assert not outside, f"{path.name} imports {sorted(outside)}"


def test_targets_do_not_import_planning() -> None:
    for path in sorted((SRC / "targets").glob("*.py")):
        assert "planning" not in _imports(path, ["dynashift", "targets"]), path.name
