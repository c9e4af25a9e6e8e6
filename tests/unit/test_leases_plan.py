"""The pure parts of pipelines and leases: names, filter changes, which shards are leaseable, and
how workers split them (fair shares that settle, with no lease moving back and forth)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dynashift.config import Config
from dynashift.identity import pipeline_name, widened
from dynashift.leases import WHOLE, leaseable, plan_takes
from dynashift.sources.shards import ShardInfo
from dynashift.targets.leasing import LeaseRow


def test_the_default_name_is_the_source_then_schema_and_filters():
    assert pipeline_name(Config(), "kinesis://s") == "kinesis://s"  # what checkpoints were keyed by before
    assert pipeline_name(Config(schema="x", include=["B", "A"]), "kinesis://s") == "kinesis://s schema=x include=A,B"
    assert pipeline_name(Config(pipeline="orders"), "kinesis://s") == "orders"


def test_filters_widened_or_not():
    inc = lambda *t: {"include": list(t), "exclude": []}  # noqa: E731
    exc = lambda *t: {"include": [], "exclude": list(t)}  # noqa: E731
    assert widened(inc("A"), inc("A", "B")) and widened(inc("A"), inc()) and widened(exc("A"), exc())
    assert not widened(inc("A", "B"), inc("A")) and not widened(exc(), exc("A")) and not widened(inc("A"), inc("A"))


def test_children_are_leaseable_only_after_their_parents_finished():
    shards = {"p": ShardInfo("p"), "c1": ShardInfo("c1", ("p",)), "c2": ShardInfo("c2", ("p", "gone"))}
    assert leaseable(shards, set(), set()) == {"p"}
    assert leaseable(shards, {"p"}, {"p"}) == {"c1", "c2"}  # "gone" expired before it was ever read
    assert leaseable(None, set(), set()) == {WHOLE}


def settle(workers: list[str], shards: list[str], rounds: int = 60) -> tuple[dict[str, str | None], int]:
    """Let workers take turns; returns the owners and how many leases moved in the last rounds."""
    owner: dict[str, str | None] = dict.fromkeys(shards)
    counter = dict.fromkeys(shards, 0)
    moves_late = 0
    for r in range(rounds):
        for w in workers:
            rows = [LeaseRow(s, owner[s], counter[s], owner[s] is not None) for s in shards]
            for s, c, _ in plan_takes(rows, set(shards), w, set(workers), steal=True):
                if counter[s] == c:
                    owner[s], counter[s] = w, c + 1
                    moves_late += r >= rounds - 10
    return owner, moves_late


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 20))
def test_fair_shares_settle(n_workers, n_shards):
    workers = [f"w{i}" for i in range(n_workers)]
    owner, moves_late = settle(workers, [f"s{i}" for i in range(n_shards)])
    counts = [sum(1 for o in owner.values() if o == w) for w in workers]
    assert all(o is not None for o in owner.values())
    assert max(counts) - min(counts) <= 1
    assert moves_late == 0
