"""Freed memory given back to the system between batches (issue 12: a run's peak RSS).

glibc keeps what Python and the native engine free (a batch's lines, its decoded changes, its
Arrow stages) in its heap for reuse; the pages stay resident. DuckDB allocates with its own
allocator (jemalloc), so it cannot reuse them: its memory during a merge, a commit or a checkpoint
is stacked on top of the heap's, and the run's peak is the sum. `malloc_trim` returns the free
pages of every glibc arena to the system (madvise), a few milliseconds per call.
ref: https://man7.org/linux/man-pages/man3/malloc_trim.3.html
"""

from __future__ import annotations

import ctypes
import sys
from typing import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (macOS, musl, Windows)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _malloc_trim()


def give_back_freed() -> bool:
    """Return the C heap's free pages to the system; False where that cannot be done."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True
