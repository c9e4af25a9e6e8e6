"""A typed table whose only winner in a batch is rejected (a value that cannot be rendered after
one that was typed) plans the batch without it: before, the rejected row's first attribute was
counted among the batch's types, and typing looked for a column no kept row had (KeyError)."""

from __future__ import annotations

import orjson

from dynashift.config import Config
from dynashift.planning import Modes, build_plan
from dynashift.records import SourceBatch
from dynashift.schema import Naming, SchemaState
from dynashift.sources.files import FileSource
from dynashift.typing_mode import table_modes_of


def _line(pk: str, image: dict, ts: int) -> bytes:
    ddb = {"Keys": {"pk": {"S": pk}}, "ApproximateCreationDateTime": ts, "NewImage": {**image, "pk": {"S": pk}}}
    return orjson.dumps({"eventName": "INSERT", "tableName": "Orders", "dynamodb": ddb})


def test_a_rejected_typed_winner_leaves_the_older_change_and_no_column(tmp_path) -> None:
    path = tmp_path / "changes.jsonl"
    path.write_bytes(_line("k1", {"q": {"N": "1.50"}}, 1_700_000_000) + b"\n"
                     + _line("k1", {"a": {"NULL": True}, "b": {"N": "1e"}}, 1_700_000_001) + b"\n")
    modes = Modes(tables=table_modes_of(Config(source="file:///x", column_types="typed")))
    (sb,) = FileSource(f"file://{path}", batch_size=10).read({})
    assert isinstance(sb, SourceBatch)
    plan = build_plan(sb, SchemaState(), Naming(max_bytes=63, case_insensitive=False), modes)
    assert [r.reason for r in plan.rejected] == ["invalid number '1e'"]
    assert [(c.attribute, c.type) for c in plan.schema_changes if hasattr(c, "attribute")] == [
        ("pk", None), ("q", "decimal(2,1)")]
    (stage,) = plan.stages
    assert {n: stage.data.column(n).to_pylist() for n in ("pk", "q")} == {"pk": ["k1"], "q": ["1.5"]}
