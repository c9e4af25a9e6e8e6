#!/usr/bin/env bash
# Quick start, part 2: set up and run the whole test suite (PostgreSQL tests need 127.0.0.1:5432;
# without it they skip with a message, except in CI, where they fail).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then "$PY" -m venv .venv; fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
# The native engine (Rust, native/): built where cargo exists; otherwise the pure-Python engine runs.
if command -v cargo >/dev/null 2>&1; then
  echo "building the native engine (native/, Rust; the first build takes a few minutes)" >&2
  .venv/bin/python -m pip install --quiet ./native \
    || echo "note: the native engine did not build; the pure-Python engine runs (tests/unit/test_engine_equivalence.py fails in CI)" >&2
else
  echo "note: no Rust toolchain (cargo) found: the pure-Python engine runs; install Rust (https://rustup.rs) for the native one" >&2
fi
# The report test renders the page in headless Chromium: install it when missing and possible
# (root with apt); otherwise that test skips with a message (and fails in CI, CI=true).
if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
   && ! command -v google-chrome >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null \
      || echo "note: could not install chromium; tests/integration/test_report.py will skip (fail in CI)" >&2
  else
    echo "note: chromium is not installed (not root, or no apt); tests/integration/test_report.py will skip (fail in CI)" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
