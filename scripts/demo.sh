#!/usr/bin/env bash
# Quick start, part 1: set up, simulate a change stream, replicate it into DuckDB, show the result.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
# The native engine (Rust, native/): built where cargo exists; otherwise the pure-Python engine runs.
if command -v cargo >/dev/null 2>&1; then
  echo "building the native engine (native/, Rust; the first build takes a few minutes)" >&2
  .venv/bin/python -m pip install --quiet ./native \
    || echo "note: the native engine did not build; the pure-Python engine runs (tests/unit/test_engine_equivalence.py fails in CI)" >&2
else
  echo "note: no Rust toolchain (cargo) found: the pure-Python engine runs; install Rust (https://rustup.rs) for the native one" >&2
fi
rm -rf demo && mkdir -p demo
.venv/bin/dynashift --version
say() { printf '\n== %s\n' "$*"; }
say "simulate: 20,000 DynamoDB change records in two files (dated up to now), with the duplicates and late deliveries a real stream has"
.venv/bin/dynashift simulate --out demo/stream --changes 20000 --tables 5 --files 2 --seed 7
say "replicate the first file into demo/demo.duckdb"
.venv/bin/dynashift run --once --source file://demo/stream/changes-0001.jsonl --target duckdb:///demo/demo.duckdb
say "replay: now the whole folder, so file 1 again (its changes are already applied: each is recognised by its"
say "version and skipped as a duplicate, so a replay never changes the result) and then file 2, which is new"
.venv/bin/dynashift run --once --source file://demo/stream/ --target duckdb:///demo/demo.duckdb
say "status: health, tables, checkpoints and runs"
.venv/bin/dynashift status --target duckdb:///demo/demo.duckdb
say "the first rows of the replicated orders table"
.venv/bin/python - <<'PY'
import duckdb
con = duckdb.connect("demo/demo.duckdb", read_only=True)
print(con.sql('SELECT * FROM main."orders" ORDER BY dist_key LIMIT 5'))
PY
