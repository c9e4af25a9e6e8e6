"""Which engine runs: a native build from another version of dynashift (pulled, not rebuilt) is
never used; the Python engine runs and `--version`/`doctor` say why, in one line."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import sys, types
fake = types.ModuleType("dynashift_native")
fake.VERSION = "0.0.1"
{api}
sys.modules["dynashift_native"] = fake
from dynashift.planning import engine
from dynashift.doctor import engine_check
print(engine.engine_name())
print(engine.engine_description())
print(engine_check().status)
try:
    import os
    os.environ["DYNASHIFT_ENGINE"] = "native"
    engine.engine_name()
except Exception as exc:
    print(type(exc).__name__, exc)
"""


def _probe(api: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(api=api)], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


@pytest.mark.parametrize("api", ["", "fake.API = 999"])
def test_a_native_build_of_another_version_is_not_used(api: str) -> None:
    name, description, doctor, forced = _probe(api)
    assert name == "python"
    assert "built from another version of dynashift: rebuild it with pip install ./native" in description
    assert doctor == "warn"
    assert forced.startswith("ConfigError DYNASHIFT_ENGINE=native but the installed native engine (dynashift_native 0.0.1)")


def test_the_build_in_this_tree_speaks_this_interface() -> None:
    from dynashift.planning import engine

    if engine.native_available():
        import dynashift_native

        assert dynashift_native.API == engine.NATIVE_API
    else:  # not built here: nothing stale is installed either (or the check above would say so)
        assert engine.stale_native() is None or "rebuild it" in engine.stale_native()
