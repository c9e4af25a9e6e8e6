"""A run that fails or is interrupted while a batch commits on the worker thread must let that
commit end before it records the run as failed: both use the one target connection (DuckDB
connections are not thread-safe; the transaction nesting depth is shared).

The commit is held inside its transaction (in `write_checkpoints`) until released; meanwhile the
source fails on the main thread. `end_run` must only be reached once the commit has ended, and
the target must then hold exactly the committed batch, recorded in a failed run.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from dynashift import Config
from dynashift.errors import SourceError
from dynashift.pipeline import replicate
from dynashift.sources import make_source
from dynashift.targets import make_target
from support.builders import item, rec, write

class _FailsAfterFirstBatch:
    """The file source's first batch, then (once that batch's commit is under way) an error."""

    def __init__(self, inner: Any, committing: threading.Event, release: threading.Event, error: BaseException):
        self.uri = inner.uri
        self._inner, self._committing, self._release, self._error = inner, committing, release, error

    def read(self, checkpoints: dict) -> Iterator[Any]:
        yield next(iter(self._inner.read(checkpoints)))
        assert self._committing.wait(30), "the first batch never started committing"
        threading.Timer(1.0, self._release.set).start()  # the commit ends a second after the error
        raise self._error


@pytest.mark.parametrize("error", [SourceError("the stream broke"), KeyboardInterrupt()], ids=["error", "ctrl-c"])
def test_end_run_waits_for_the_commit_in_flight(tmp_path: Path, error: BaseException) -> None:
    stream = tmp_path / "changes.jsonl"
    write(stream, [rec("INSERT", *item(pk, n={"N": str(t)}), t) for t, pk in enumerate("abcd")])
    config = Config(source=f"file://{stream}", batch_size=2)
    target = make_target(f"duckdb:///{tmp_path / 'r.duckdb'}")
    target.open()
    committing, release = threading.Event(), threading.Event()
    in_flight = threading.Event()  # set while the commit holds its transaction open
    seen_during_commit: list[str] = []
    real_checkpoints, real_end_run = target.write_checkpoints, target.end_run

    def held_checkpoints(*args: Any, **kwargs: Any) -> Any:
        in_flight.set()
        committing.set()
        assert release.wait(30), "the test never released the commit"
        try:
            return real_checkpoints(*args, **kwargs)
        finally:
            in_flight.clear()

    def watched_end_run(*args: Any, **kwargs: Any) -> Any:
        if in_flight.is_set():
            seen_during_commit.append("end_run")
        return real_end_run(*args, **kwargs)

    target.write_checkpoints = held_checkpoints
    target.end_run = watched_end_run
    source = _FailsAfterFirstBatch(make_source(config.source, config), committing, release, error)
    try:
        with pytest.raises(type(error)):
            replicate(config, source, target)
        assert seen_during_commit == [], "end_run ran on the connection while the batch was still committing"
        rows = target.query('SELECT dist_key, "n" FROM main."orders" ORDER BY dist_key')
        assert rows == [('{"pk":{"S":"a"}}', "0"), ('{"pk":{"S":"b"}}', "1")]
        status, records, applied, message = target.query(
            "SELECT status, records_read, changes_applied, error FROM dynashift.runs")[0]
        assert (records, applied) == (2, 2)  # the run counts the batch that did commit
        if isinstance(error, SourceError):
            assert (status, message) == ("failed", "the stream broke")
        else:  # how an interruption is recorded is the CLI half's (issue 14); it is never a success
            assert status in ("failed", "interrupted")
        target.write_checkpoints, target.end_run = real_checkpoints, real_end_run
        replicate(config, make_source(config.source, config), target)  # the next run continues after it
        rows = target.query('SELECT dist_key, "n" FROM main."orders" ORDER BY dist_key')
        assert rows == [(f'{{"pk":{{"S":"{pk}"}}}}', str(t)) for t, pk in enumerate("abcd")]
    finally:
        release.set()
        target.close()
