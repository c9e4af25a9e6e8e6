"""Shared by both halves of the suite:

    unit/         pure code, no I/O beyond temporary files; the whole folder runs in about a minute
    integration/  DuckDB files, PostgreSQL, moto, subprocesses, the CLI, the benchmarks' scripts
    support/      test tooling (builders, oracles, fixtures' servers), imported as `support.…`
    fixtures/, conformance/  recorded input and expected state that both halves read
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures" / "real"  # real-world samples; origins in SOURCES.md there
if str(TESTS) not in sys.path:  # `support` imports from every test folder (pytest adds only the test's own)
    sys.path.insert(0, str(TESTS))


@pytest.fixture
def fixtures_dir() -> Path:
    if not FIXTURES.is_dir():
        pytest.fail(f"the real-world sample records are missing: expected them at {FIXTURES}")
    return FIXTURES
