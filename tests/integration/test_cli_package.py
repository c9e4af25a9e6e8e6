"""The command line is one package: `common.py` is shared and imports no command module (so
there is no import cycle), and both ways of starting it work."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import dynashift.cli

CLI = Path(dynashift.cli.__file__).parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names.add(node.module or "")
    return names


def test_common_imports_no_command_and_commands_import_no_each_other() -> None:
    assert _imports(CLI / "common.py") == set()
    for path in CLI.glob("*.py"):
        if path.name not in ("app.py", "__init__.py", "__main__.py"):
            assert _imports(path) <= {"common"}, path.name


def test_one_guarded() -> None:
    defined = [p.name for p in CLI.glob("*.py") if "def guarded(" in p.read_text()]
    assert defined == ["common.py"]
    assert not list(CLI.parent.glob("cli_*.py"))


def test_module_and_each_command_module_start_alone() -> None:
    for mod in ("dynashift.cli.load", "dynashift.cli.ops", "dynashift.cli.status", "dynashift.cli.verify"):
        done = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([sys.executable, "-m", "dynashift.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0 and "Commands:" in done.stdout, done.stderr
