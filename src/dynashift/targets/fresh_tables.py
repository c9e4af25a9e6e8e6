"""The merge of a batch of new keys into a table this target created itself (a full load).

Such a table holds a row only for a key with a row in dynashift.versions: each merge writes
both in one transaction, and only `expire_tombstones` deletes versions rows (after which the
target forgets the tables it created). When every staged row of a batch wins and is a key never
seen, none can have a row there: no DELETE is needed, and the rows go in straight from the stage,
without a join with the winners. The target must be its file's one writer (DuckDB): another
process could expire the tombstones of a table this one created, leaving rows without versions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from ..model import SOFT_DELETE_WITH_VALUES, UPSERT
from ..schema import CHANGED_AT, DELETED, DIST_KEY, STAGE_OP, SYNCED_AT
from .quoting import quote, select_list

if TYPE_CHECKING:
    from .base import SqlTarget


def insert_new_keys(t: SqlTarget, target: str, staged: str, columns: Sequence[str],
                    casts: dict[str, str] | None) -> None:
    """The staged rows that hold values, inserted as they are (each a winner, of a key the table
    never held): the INSERT of the merge (base.py) without its join."""
    dk, op, cols = quote(DIST_KEY), quote(STAGE_OP), "".join(f", {quote(c)}" for c in columns)
    t.execute(
        f"INSERT INTO {target} ({dk}, {quote(CHANGED_AT)}, {quote(SYNCED_AT)}, {quote(DELETED)}{cols})"
        f" SELECT s.{dk}, s.{quote(CHANGED_AT)}, {t.NOW}, s.{op} = '{SOFT_DELETE_WITH_VALUES}'{select_list(columns, casts)}"
        f" FROM {staged} s WHERE s.{op} IN ('{UPSERT}', '{SOFT_DELETE_WITH_VALUES}')"
    )
