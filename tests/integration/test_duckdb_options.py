"""The DuckDB target's one option: `?memory_limit=` in its URI (default 128MB, so a long run's
memory does not grow with the file; a large table's merges may want more)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynashift.errors import ConfigError
from dynashift.targets import make_target


def _limit(uri: str) -> str:
    target = make_target(uri)
    target.open()
    try:
        return target.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    finally:
        target.close()


def test_memory_limit_defaults_to_128mb_and_the_uri_can_raise_it(tmp_path: Path) -> None:
    default = _limit(f"duckdb:///{tmp_path / 'a.duckdb'}")
    raised = _limit(f"duckdb:///{tmp_path / 'b.duckdb'}?memory_limit=1GB")
    assert default.replace(" ", "") in ("122.0MiB", "128.0MB", "122MiB")  # DuckDB shows it in binary units
    assert raised.replace(" ", "") in ("953.6MiB", "1.0GB", "953MiB")
    assert (tmp_path / "b.duckdb").exists() and not list(tmp_path.glob("*memory_limit*"))  # the option is not the path


@pytest.mark.parametrize("query, says", [("memory_limit=lots", "give a size such as 512MB"),
                                         ("memory_limit=1GB';DROP", "give a size such as 512MB"),
                                         ("threads=4", "only memory_limit")])
def test_a_wrong_option_is_one_clear_line(tmp_path: Path, query: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        make_target(f"duckdb:///{tmp_path / 'c.duckdb'}?{query}")
