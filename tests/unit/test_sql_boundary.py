"""All SQL lives in `src/dynashift/targets/` (docs/architecture.md): no other module of the
package holds an SQL statement in a string literal. Docstrings and comments may talk about SQL;
f-strings are read with each `{...}` standing for a name, so a statement built from parts is seen."""

from __future__ import annotations

import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "dynashift"
# Upper-case keywords in a statement's shape: prose ("create it", "a SELECT") does not match.
STATEMENT = re.compile(
    r"\bSELECT\b.*\bFROM\b|\bINSERT\s+INTO\b|\bUPDATE\s+\S+\s+SET\b|\bDELETE\s+FROM\b|\bMERGE\s+INTO\b"
    r"|\bCREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP(?:ORARY)?\s+|EXTERNAL\s+|MATERIALIZED\s+|UNIQUE\s+)?"
    r"(?:TABLE|SCHEMA|VIEW|INDEX)\b|\bALTER\s+(?:TABLE|SCHEMA|VIEW)\b|\bDROP\s+(?:TABLE|SCHEMA|VIEW|INDEX)\b"
    r"|\bCOPY\s+\S+\s+(?:FROM|TO)\b|\bTRUNCATE\s+(?:TABLE\s+)?\S+|\bLOCK\s+(?:TABLE\s+)?[\w.\"]+$",
    re.S,
)
# Literals that look like SQL and are data: an attribute name of `dynashift simulate` that tries
# SQL injection (quoting must hold it).
NOT_SQL = {'a"; DROP TABLE x; --'}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _literals(tree: ast.AST) -> list[tuple[int, str]]:
    """Every string literal outside docstrings, f-strings with their holes as `x`."""
    skip = _docstrings(tree)
    inner = {id(v) for node in ast.walk(tree) if isinstance(node, ast.JoinedStr) for v in node.values}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            out.append((node.lineno, text))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip | inner:
            out.append((node.lineno, node.value))
    return out


def sql_outside_targets(package: Path = PACKAGE) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        if "targets" in path.relative_to(package).parts:
            continue
        for line, text in _literals(ast.parse(path.read_text("utf-8"))):
            if STATEMENT.search(text) and text not in NOT_SQL:
                found.append(f"{path.relative_to(package)}:{line}: {text[:80]!r}")
    return found


def test_no_sql_statement_outside_targets() -> None:
    assert sum(1 for _ in PACKAGE.rglob("*.py")) > 40  # the whole package was read
    assert sql_outside_targets() == []


def test_the_check_finds_statements_and_passes_prose(tmp_path: Path) -> None:
    module = tmp_path / "pkg" / "mod.py"
    (tmp_path / "pkg" / "targets").mkdir(parents=True)
    module.write_text(
        '"""Reads SELECT x FROM t in its docstring: allowed."""\n'
        "# DROP TABLE t in a comment: allowed\n"
        'FIX = "create it, or DROP it with care"\n'
        'def f(t, q):\n'
        '    """DELETE FROM t: a docstring."""\n'
        '    q(f"SELECT count(*) FROM {t}")\n'
        '    q(f"DROP TABLE IF EXISTS {t}")\n'
        '    q("INSERT INTO " + t + " VALUES (1)")\n'
    )
    (tmp_path / "pkg" / "targets" / "ok.py").write_text('SQL = "DELETE FROM t"\n')
    assert [hit.split(":")[1] for hit in sql_outside_targets(tmp_path / "pkg")] == ["6", "7", "8"]
    assert not STATEMENT.search("ALTER USER … SET timezone TO 'UTC'")
    assert STATEMENT.search("CREATE TEMP TABLE x AS SELECT 1") and STATEMENT.search('UPDATE "t" SET a = 1')
