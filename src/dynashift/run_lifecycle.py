"""A run's lifecycle, one copy for every way of applying a source: its `runs` row begun, batches,
then the row ended "ok", "failed" (with the error's one line, any password masked) or
"interrupted" (Ctrl-C). `pipeline.replicate` drives it for sources read row by row; a source the
target applies itself (`sources.InTargetSource`, redshift-mv://) runs through `apply_in_target`.
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Callable, Iterator

from .config import Config
from .errors import DynashiftError
from .redact import mask
from .targets.base import RunCounters, SqlTarget

if TYPE_CHECKING:
    from .sources import InTargetSource


def end_failed(target: SqlTarget, run: RunCounters, exc: BaseException) -> None:
    """Mark `run` failed by `exc` (interrupted for a Ctrl-C); a target that cannot say so any
    more (its connection is gone) leaves the row to the next run, which marks it interrupted."""
    message = mask(str(exc) if isinstance(exc, DynashiftError) else f"{type(exc).__name__}: {exc}")
    interrupted = isinstance(exc, KeyboardInterrupt)
    with contextlib.suppress(DynashiftError):
        target.end_run(run, "interrupted" if interrupted else "failed", None if interrupted else message[:2000])


@contextlib.contextmanager
def recorded_run(target: SqlTarget, source_uri: str, pipeline: str = "", worker: str = "") -> Iterator[RunCounters]:
    """The run's counters, its row begun before the block and ended after it, as the block ended."""
    run = target.begin_run(mask(source_uri), pipeline, worker)  # runs.source never holds a password
    try:
        yield run
    except BaseException as exc:
        end_failed(target, run, exc)
        raise
    target.end_run(run, "ok")


def apply_in_target(config: Config, source: InTargetSource, target: SqlTarget, *,
                    on_batch: Callable[[RunCounters], None] | None = None, stop: threading.Event | None = None,
                    follow: bool = False) -> RunCounters:
    """Apply `source` batch by batch inside the target until it holds nothing new; with `follow`,
    poll it every `max_wait` seconds (at least 0.1) until `stop` is set."""
    source.check_target(target)
    state = target.load_state()
    with recorded_run(target, source.uri) as run:
        target.expire_tombstones(config.tombstone_retention)
        while stop is None or not stop.is_set():
            changes = source.apply_next(config, target, state, run)
            if changes is None:
                if not follow or stop is None or stop.wait(max(config.max_wait, 0.1)):
                    break
                continue
            state.apply(changes)
            if on_batch is not None:
                on_batch(run)
    return run
