#!/usr/bin/env bash
# The long variants of the proof under faults, bad input and load (docs/testing.md). CI runs the
# short ones with the normal test command; this runs, in order:
#   1. the crash harness with 100 SIGKILLs per target (DuckDB and PostgreSQL)
#   2. the fault tests with a 45 s outage (longer than one call's whole retry budget)
#   3. the fuzz test with 2,000 hypothesis examples
#   4. the soak: 10 minutes at 2,000 changes/s into PostgreSQL, then 10 minutes into DuckDB
# Needs PostgreSQL at 127.0.0.1:5432 (or DYNASHIFT_PG_URL). About an hour on two cores.
# Reports go to ${LONG_TESTS_OUT:-long-tests-out}/; the exit status is non-zero if any part failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
OUT=${LONG_TESTS_OUT:-long-tests-out}
mkdir -p "$OUT"
export CI=${CI:-true}  # a missing PostgreSQL fails here rather than skipping
failed=()

step() {
  local name=$1; shift
  echo "== $name: $*"
  local started=$SECONDS
  if "$@" 2>&1 | tee "$OUT/$name.log"; then
    echo "== $name: passed in $((SECONDS - started)) s"
  else
    echo "== $name: FAILED after $((SECONDS - started)) s (see $OUT/$name.log)"
    failed+=("$name")
  fi
}

step crash env DYNASHIFT_CRASH_KILLS=${CRASH_KILLS:-100} timeout 3600 $PY -m pytest -s -q -p no:cacheprovider --timeout=0 tests/integration/test_crash.py
step faults env DYNASHIFT_OUTAGE_SECONDS=${OUTAGE_SECONDS:-45} timeout 1800 $PY -m pytest -s -q -p no:cacheprovider --timeout=0 tests/integration/test_faults.py
step fuzz env DYNASHIFT_FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-2000} timeout 7200 $PY -m pytest -q -p no:cacheprovider --timeout=0 tests/integration/test_fuzz.py
step soak-postgres timeout 1800 $PY bench/soak.py --seconds ${SOAK_SECONDS:-600} --rate ${SOAK_RATE:-2000} --target postgres --json "$OUT/soak-postgres.json"
step soak-duckdb timeout 1800 $PY bench/soak.py --seconds ${SOAK_SECONDS:-600} --rate ${SOAK_RATE:-2000} --target duckdb --json "$OUT/soak-duckdb.json"

if [ ${#failed[@]} -gt 0 ]; then
  echo "long tests FAILED: ${failed[*]}"
  exit 1
fi
echo "long tests passed"
