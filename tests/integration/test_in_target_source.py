"""A source the target applies itself (`sources.InTargetSource`, like redshift-mv://) gets the
pipeline's run lifecycle (run_lifecycle.py): its `runs` row begun and ended "ok", "failed" with
the error's line (password masked) or "interrupted", and followed by polling until stopped."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from dynashift.config import Config
from dynashift.errors import ConfigError, TargetError
from dynashift.pipeline import replicate
from dynashift.sources import InTargetSource
from dynashift.targets import open_target


class Applied:
    """Applies the next count of `steps` as one batch of that many records; an exception in
    `steps` is raised instead; None when the steps are used up."""

    uri = "applied://user:hunter2@host/view"

    def __init__(self, steps: list, target_ok: bool = True):
        self.steps, self.target_ok, self.seen = list(steps), target_ok, 0

    def check_target(self, target) -> None:
        if not self.target_ok:
            raise ConfigError("applied:// needs another target")

    def apply_next(self, config, target, state, run):
        self.seen += 1
        if not self.steps:
            return None
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        run.records_read += step
        run.batches += 1
        return []


def runs(config: Config) -> list[tuple]:
    with open_target(config, mode="read") as target:
        return target.query("SELECT source, status, error, records_read, batches FROM dynashift.runs ORDER BY run_id")


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(target=f"duckdb:///{tmp_path / 'db.duckdb'}", max_wait=0.01)


def test_a_source_the_target_applies_runs_through_the_run_lifecycle(config):
    source = Applied([3, 4])
    assert isinstance(source, InTargetSource)
    heard = []
    with open_target(config) as target:
        run = replicate(config, source, target, on_batch=lambda r: heard.append(r.records_read))
    assert (run.records_read, run.batches, heard) == (7, 2, [3, 7])
    assert runs(config) == [("applied://user:***@host/view", "ok", None, 7, 2)]


def test_its_errors_end_the_run_failed_or_interrupted(config):
    with open_target(config) as target:
        with pytest.raises(TargetError):
            replicate(config, Applied([2, TargetError("lost applied://user:hunter2@host/view")]), target)
        with pytest.raises(KeyboardInterrupt):
            replicate(config, Applied([KeyboardInterrupt()]), target)
        with pytest.raises(ConfigError, match="another target"):  # refused before a run is recorded
            replicate(config, Applied([1], target_ok=False), target)
    (_, failed, error, read, _), (_, interrupted, none, _, _) = runs(config)
    assert (failed, read, interrupted, none) == ("failed", 2, "interrupted", None)
    assert "hunter2" not in error and error.startswith("lost applied://user:")


def test_following_it_polls_until_stopped(config):
    stop = threading.Event()

    class StopsOnTheFourthLook(Applied):
        def apply_next(self, *args):
            if self.seen == 3:
                stop.set()  # as SIGTERM would, while the view is polled
            return super().apply_next(*args)

    source = StopsOnTheFourthLook([5])
    with open_target(config) as target:
        run = replicate(config, source, target, stop=stop, follow=True)
    assert (run.records_read, source.seen) == (5, 4)  # one batch, then the empty view polled until stopped
    assert runs(config)[0][1] == "ok"
