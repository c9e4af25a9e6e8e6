"""Planning: a source batch -> a BatchPlan (model.py), pure, no I/O.

core.py (newest change per key, render, map, stage), typed.py (typed columns, item column),
history.py (history mode's staging), rows.py (shared per-winner helpers), lines.py (the Python
line decoder) and engine.py (the Python or the native engine behind one interface). Depends only
on model, schema, records and the pure decoding modules; targets/ never import planning.
"""

from ..model import (
    HARD_DELETE,
    PLAIN,
    SOFT_DELETE,
    SOFT_DELETE_WITH_VALUES,
    UPSERT,
    BatchPlan,
    HistoryStage,
    Modes,
    TableStage,
    TypedStage,
)
from .core import build_plan

__all__ = ["HARD_DELETE", "PLAIN", "SOFT_DELETE", "SOFT_DELETE_WITH_VALUES", "UPSERT", "BatchPlan", "HistoryStage",
           "Modes", "TableStage", "TypedStage", "build_plan"]
