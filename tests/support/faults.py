"""Test-only crash injection: `DYNASHIFT_FAULT=POINT:N[,POINT:N…]` makes the process SIGKILL itself
the N-th time it reaches POINT (counted from 1 in this process). For the crash tests
(tests/integration/test_crash.py, docs/testing.md).

    mid_merge      inside a batch transaction, right after the first table of the batch was merged
                   (batches with nothing to merge do not count; DuckDB: after the first table's rows
                   were written, its batch's versions already written, duckdb_merge.py)
    before_commit  inside it, data, versions and checkpoints written, the transaction not committed
    after_commit   the batch committed, before anything after it (schema state, the lag gauge,
                   the next read from the source)

The crash tests run `tests/support/fault_run.py` instead of `python -m dynashift.cli`: it calls
`install`, which puts a wrapper around each entry of the targets registry (`dynashift.targets.TARGETS`,
a plain dict) so that every target the command makes is armed, then runs the CLI. The three points
are hooked by wrapping the target's `apply`, `merge` and `write_checkpoints` on that one object:
neither the pipeline nor target code carries a test hook. A line naming the point goes to stderr
before the kill, so a test can tell where it died.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any, Callable

POINTS = ("mid_merge", "before_commit", "after_commit")
_PLAN = os.environ.get("DYNASHIFT_FAULT", "")


def parse(spec: str) -> dict[str, int]:
    """"after_commit:3,mid_merge:1" -> {"after_commit": 3, "mid_merge": 1}."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        point, _, n = part.partition(":")
        if point not in POINTS or not n.isdigit() or int(n) < 1:
            raise ValueError(f"DYNASHIFT_FAULT: {part!r} is not POINT:N with POINT one of {', '.join(POINTS)}")
        out[point] = int(n)
    return out


def install(spec: str | None = None) -> None:
    """Arm every target made through the registry from now on (nothing when no point is set)."""
    from dynashift import targets

    if not parse(_PLAN if spec is None else spec):
        return
    for scheme, factory in list(targets.TARGETS.items()):
        targets.TARGETS[scheme] = _armed(factory, spec)


def _armed(factory: Callable[[], Any], spec: str | None) -> Callable[[], Any]:
    def make_class() -> Callable[..., Any]:
        cls = factory()

        def make(*args: Any, **kwargs: Any) -> Any:
            target = cls(*args, **kwargs)
            arm(target, spec)
            return target

        return make

    return make_class


def arm(target: Any, spec: str | None = None) -> None:
    """Hook the configured points into `target` (once per target object)."""
    faults = parse(_PLAN if spec is None else spec)
    if not faults or getattr(target, "_faults_armed", False):
        return
    target._faults_armed = True
    reached = dict.fromkeys(POINTS, 0)
    merges = [0]  # merges in the batch being applied

    def at(point: str) -> None:
        reached[point] += 1
        if faults.get(point) == reached[point]:
            sys.stderr.write(f"DYNASHIFT_FAULT: SIGKILL at {point} #{reached[point]}\n")
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    def first_merge() -> None:
        merges[0] += 1
        if merges[0] == 1:
            at("mid_merge")

    _wrap(target, "apply", before=lambda: merges.__setitem__(0, 0), after=lambda: at("after_commit"))
    for name in ("merge", "_merge_winners"):  # per table: base.py's merge, or DuckDB's batch merge's writes
        if hasattr(target, name):
            _wrap(target, name, after=first_merge)
    _wrap(target, "write_checkpoints", after=lambda: at("before_commit"))


def _wrap(target: Any, name: str, before: Callable[[], None] | None = None,
          after: Callable[[], None] | None = None) -> None:
    real = getattr(target, name)

    def hooked(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before()
        result = real(*args, **kwargs)
        if after is not None:
            after()
        return result

    setattr(target, name, hooked)
