"""Screening's first look (targets/pg_copy.may_contain): one scan of each chunk's data buffer says
whether any value may hold a pattern. It must never miss one (a NUL would reach the COPY and fail
the batch); on plain arrays it is exact, on sliced ones it may say True for bytes outside the rows."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given, settings
from hypothesis import strategies as st

from dynashift.targets.pg_copy import may_contain

texts = st.one_of(st.none(), st.text(alphabet=st.sampled_from(["a", "\x00", "\\", "u", "0", "é"]), max_size=8))


@st.composite
def chunked(draw: st.DrawFn) -> pa.ChunkedArray:
    values = draw(st.lists(texts, max_size=30))
    array = pa.array(values, draw(st.sampled_from([pa.string(), pa.large_string()])))
    cut = draw(st.integers(0, len(values)))
    start, stop = draw(st.integers(0, cut)), draw(st.integers(cut, len(values)))
    return pa.chunked_array([array.slice(start, cut - start), array.slice(cut, stop - cut)], array.type)


@settings(max_examples=400, deadline=None)
@given(chunked(), st.sampled_from(["\x00", "\\u0000"]))
def test_never_misses_a_value_that_holds_the_pattern(values: pa.ChunkedArray, pattern: str) -> None:
    held = pc.any(pc.match_substring(values, pattern)).as_py() or False
    assert may_contain(values, pattern.encode()) or not held


def test_exact_on_whole_arrays_and_true_for_other_types() -> None:
    assert not may_contain(pa.chunked_array([pa.array(["a", None, ""])]), b"\x00")
    assert may_contain(pa.chunked_array([pa.array(["a", "b\x00"])]), b"\x00")
    assert not may_contain(pa.chunked_array([], pa.string()), b"\x00")
    assert may_contain(pa.chunked_array([pa.array(["a"]).dictionary_encode()]), b"\x00")  # not scanned: matched per value
