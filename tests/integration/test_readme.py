"""A new user following only the README reaches a replicated table: the README's walkthrough
blocks (those after a `<!-- walkthrough` marker) are run in order, as written, in a fresh empty
folder, with this checkout's `dynashift` and `python` first on PATH (the README's install step)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCK = re.compile(r"<!-- walkthrough[^>]*-->\s*\n```bash\n(.*?)```", re.S)


def walkthrough() -> list[str]:
    return BLOCK.findall(README.read_text("utf-8"))


def test_the_quick_start_is_the_two_commands_ci_relies_on() -> None:
    text = README.read_text("utf-8")
    quick = text[text.index("## Quick start"):text.index("## From zero")]
    assert "./scripts/demo.sh      # set up, simulate a stream, replicate it into demo/demo.duckdb" in quick
    assert "./scripts/test.sh      # set up and run the whole test suite" in quick


def test_following_the_readme_in_a_fresh_folder_gives_a_replicated_table(tmp_path: Path) -> None:
    blocks = walkthrough()
    assert len(blocks) >= 4, "the README lost its walkthrough markers"
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    folder = tmp_path / "dynashift-try"
    assert (folder / "dynashift.toml").exists() and (folder / "report.html").exists()
    assert "all checks passed" in done.stdout and "● healthy" in done.stdout
    assert "orders" in done.stdout and "cust#" in done.stdout  # the rows the README prints
    con = duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True)
    try:
        tables = {t for (t,) in con.execute("SELECT table_name FROM dynashift.tables").fetchall()}
        assert "orders" in tables
        (rows,) = con.execute('SELECT count(*) FROM main."orders"').fetchone()
        runs = con.execute("SELECT status, records_read FROM dynashift.runs ORDER BY run_id").fetchall()
    finally:
        con.close()
    assert rows > 0
    assert runs == [("ok", 5000), ("ok", 0)]  # the second run found nothing new
