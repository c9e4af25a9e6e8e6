#!/usr/bin/env bash
# Quick start, part 1: set up, simulate a change stream, replicate it into DuckDB, show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
rm -rf demo && mkdir -p demo
.venv/bin/dynashift simulate --out demo/stream --changes 20000 --tables 5 --files 2 --seed 7
.venv/bin/dynashift run --once --source file://demo/stream/changes-0001.jsonl --target duckdb:///demo/demo.duckdb
.venv/bin/dynashift run --once --source file://demo/stream/ --target duckdb:///demo/demo.duckdb
.venv/bin/dynashift status --target duckdb:///demo/demo.duckdb
.venv/bin/python - <<'PY'
import duckdb
con = duckdb.connect("demo/demo.duckdb", read_only=True)
print(con.sql('SELECT * FROM main."orders" ORDER BY dist_key LIMIT 5'))
PY
