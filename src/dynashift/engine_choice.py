"""Which engine this process runs: the optional native one (Rust, `native/`, the `dynashift_native`
module) or the pure-Python reference. A leaf module: planning (decoding, rendering) and the targets
that use the native engine's writers (PostgreSQL's binary COPY) both ask it, so neither imports the other.
`DYNASHIFT_ENGINE=python|native` forces one; unset, the native engine runs when installed.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import ConfigError

ENV = "DYNASHIFT_ENGINE"

# The native engine's interface this code speaks: native/src/lib.rs exports the same number as
# API. A build from another version of dynashift (pulled, not rebuilt) is not used: it would lack
# or misread functions. Raise both together whenever their interface changes.
NATIVE_API = 8

try:  # the optional native engine
    import dynashift_native as _native
except ImportError:  # not built here: the Python engine runs
    _native = None
_stale: str | None = None  # why an installed native engine is not used
if _native is not None and getattr(_native, "API", 0) != NATIVE_API:
    _stale = (f"the installed native engine (dynashift_native {_native.VERSION}) was built from another version of "
              "dynashift: rebuild it with pip install ./native")
    _native = None


def native_available() -> bool:
    return _native is not None


def native_engine() -> Any:
    """The native module when this process runs the native engine (installed, of this version,
    not forced off), else None: what other native readers (export_native.py) call into."""
    return _native if engine_name() == "native" else None


def stale_native() -> str | None:
    """Why the installed native engine is not used (built from another version), or None."""
    return _stale


def engine_name() -> str:
    """"native" or "python": the engine this process runs, as DYNASHIFT_ENGINE and the install say."""
    want = os.environ.get(ENV, "").strip().lower()
    if want in ("", "auto"):
        return "native" if _native is not None else "python"
    if want == "python":
        return "python"
    if want == "native":
        if _native is None:
            raise ConfigError(f"{ENV}=native but {_stale or 'the native engine is not installed: pip install ./native'}"
                              " (needs a Rust toolchain), or unset it to use the Python engine")
        return "native"
    raise ConfigError(f"{ENV}={want!r}: use python or native")


def engine_description() -> str:
    """One line for `--version` and `doctor`."""
    name = engine_name()
    if name == "native":
        return f"native (dynashift_native {_native.VERSION}, Rust)"
    if _native is None:
        return f"python ({_stale or 'the native engine is not installed: pip install ./native'}, with a Rust toolchain)"
    return f"python (forced by {ENV}; the native engine is installed)"
