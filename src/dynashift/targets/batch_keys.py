"""A batch's staged keys as Arrow, for the joins that judge a whole batch at once against
dynashift.versions (duckdb_merge.py) or check that a full load's keys are new (full_load.py)."""

from __future__ import annotations

from typing import Sequence

import pyarrow as pa

from ..model import TableStage
from ..schema import DIST_KEY


def table_names(stages: Sequence[TableStage]) -> pa.ChunkedArray:
    """Each staged row's table name, the stages one after another (`pa.repeat`: no Python list)."""
    return pa.chunked_array([pa.repeat(pa.scalar(s.table, pa.string()), s.data.num_rows) for s in stages], pa.string())


def batch_keys(stages: Sequence[TableStage]) -> pa.Table:
    """(table_name, dist_key) of every staged row of a batch: what is joined with dynashift.versions."""
    return pa.table({
        "table_name": table_names(stages),
        "dist_key": pa.chunked_array([c.cast(pa.string()) for s in stages for c in s.data.column(DIST_KEY).chunks],
                                     pa.string()),
    })

