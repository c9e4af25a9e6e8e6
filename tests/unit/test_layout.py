"""The suite's layout (tests/conftest.py): every test file is in unit/ or integration/, since
pytest's testpaths collect only those two (a test file anywhere else would silently never run in
CI), and unit/ stays pure: no database driver, AWS server, socket or subprocess."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
IMPURE = {"duckdb", "psycopg", "moto", "subprocess", "socket", "http", "urllib.request", "support.pg",
          "support.moto_server", "support.faultkit", "support.faultproxy", "support.fault_run"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_every_test_file_is_in_unit_or_integration() -> None:
    stray = sorted(str(p.relative_to(TESTS)) for p in TESTS.rglob("test_*.py")
                   if p.parent.name not in ("unit", "integration"))
    assert stray == [], f"move these into tests/unit (pure) or tests/integration: {stray}"


def test_unit_tests_import_no_driver_server_or_subprocess() -> None:
    found = {}
    for path in sorted((TESTS / "unit").glob("test_*.py")):
        impure = sorted(n for n in _imports(path) if n in IMPURE or n.split(".")[0] in IMPURE)
        if impure:
            found[path.name] = impure
    assert found == {}, f"these belong in tests/integration: {found}"
