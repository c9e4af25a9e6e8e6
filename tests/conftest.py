"""Shared by both halves of the suite:

    unit/         pure code, no I/O beyond temporary files; the whole folder runs in about a minute
    integration/  DuckDB files, PostgreSQL, moto, subprocesses, the CLI, the benchmarks' scripts
    support/      test tooling (builders, oracles, fixtures' servers), imported as `support.…`
    fixtures/, conformance/  recorded input and expected state that both halves read
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures" / "real"  # real-world samples; origins in SOURCES.md there
if str(TESTS) not in sys.path:  # `support` imports from every test folder (pytest adds only the test's own)
    sys.path.insert(0, str(TESTS))

# Ctrl-C reaches the dynashift processes the tests start (test_operator, test_ops, test_continuous
# send SIGINT and expect an interrupted run or a watch that ends). A shell without job control starts
# a background job with SIGINT ignored, and an ignored signal stays ignored through exec: such a
# suite waited forever for `status --watch` to stop. A handler of our own resets to the default in
# every child, which then takes Ctrl-C as a user's terminal would deliver it.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"the real-world sample records are missing: expected them at {FIXTURES}")
    return FIXTURES
