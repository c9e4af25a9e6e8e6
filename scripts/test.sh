#!/usr/bin/env bash
# Quick start, part 2: set up and run the whole test suite (PostgreSQL tests need 127.0.0.1:5432;
# without it they skip with a message, except in CI, where they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
exec .venv/bin/python -m pytest "$@"
