"""The lazy line decoder must give exactly what the general decoder gives, record for record."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from dynashift.decode import decode_change, expand, image_of
from dynashift.errors import BadRecordError
from dynashift.planning.lines import LineDecoder
from dynashift.records import LAZY

scalar = st.one_of(
    st.builds(lambda s: {"S": s}, st.text(max_size=8)),
    st.builds(lambda n: {"N": str(n)}, st.integers(-10**20, 10**20)),
    st.builds(lambda b: {"BOOL": b}, st.booleans()),
    st.just({"NULL": True}),
)
value = st.recursive(scalar, lambda kids: st.one_of(
    st.builds(lambda d: {"M": d}, st.dictionaries(st.text(max_size=5), kids, max_size=3)),
    st.builds(lambda xs: {"L": xs}, st.lists(kids, max_size=3))), max_leaves=8)

record = st.fixed_dictionaries(
    {
        "eventName": st.sampled_from(["INSERT", "MODIFY", "REMOVE", "BOGUS"]),
        "tableName": st.one_of(st.none(), st.sampled_from(["Orders", "t.x-y"])),
        "eventID": st.one_of(st.none(), st.text(max_size=6)),
        "userIdentity": st.one_of(st.none(), st.just({"type": "Service", "principalId": "dynamodb.amazonaws.com"})),
        "dynamodb": st.fixed_dictionaries(
            {"Keys": st.one_of(st.just({}), st.dictionaries(st.sampled_from(["pk", "sk"]), scalar, min_size=1))},
            optional={
                "ApproximateCreationDateTime": st.one_of(
                    st.integers(0, 2 * 10**15), st.floats(0, 2e9, allow_nan=False), st.text(max_size=5)),
                "ApproximateCreationDateTimePrecision": st.sampled_from(["MILLISECOND", "MICROSECOND"]),
                "NewImage": st.one_of(st.none(), st.dictionaries(st.text(max_size=6), value, max_size=4)),
                "OldImage": st.one_of(st.none(), st.dictionaries(st.text(max_size=6), value, max_size=4)),
                "StreamViewType": st.sampled_from(["KEYS_ONLY", "NEW_IMAGE"]),
            },
        ),
    },
    optional={"eventSourceARN": st.just("arn:aws:dynamodb:us-east-1:1:table/FromArn/stream/x")},
)


def general(line: bytes, default_table: str | None):
    out = []
    for i, rec in expand(orjson.loads(line)):
        try:
            out.append(decode_change(rec, f"s{i:06d}", default_table=default_table, raw=line))
        except BadRecordError as exc:
            out.append(exc.reason)
    return out


def fast(line: bytes, default_table: str | None):
    out = []
    for item in LineDecoder(default_table).decode(line, "s"):
        out.append(item.reason if isinstance(item, BadRecordError) else item)
    return out


def comparable(item):
    if isinstance(item, str):
        return item
    try:
        image = image_of(item)
    except BadRecordError as exc:
        image = exc.reason
    old = image_of(item, "OldImage") if item.op == "REMOVE" else None
    return (item.table, item.op, item.keys, image, old, item.version, item.seq, item.dist_key, item.event_id, item.ttl)


@settings(max_examples=400, deadline=None)
@given(record, st.sampled_from([None, "Default"]))
def test_lazy_decoding_equals_general_decoding(rec, default_table):
    line = orjson.dumps(rec)
    expected = [comparable(x) for x in general(line, default_table)]
    got = fast(line, default_table)
    assert [comparable(x) for x in got] == expected


def test_lazy_path_is_taken_for_plain_kinesis_records_and_reports_new_names_once():
    decoder = LineDecoder()
    rec = {"eventName": "INSERT", "tableName": "T", "dynamodb": {"ApproximateCreationDateTime": 1700000000000,
           "Keys": {"k": {"S": "a"}}, "NewImage": {"k": {"S": "a"}, "x": {"N": "1"}}}}
    (first,) = decoder.decode(orjson.dumps(rec), "s")
    (second,) = decoder.decode(orjson.dumps(rec), "s")
    assert first.new_image is LAZY and first.names == ["k", "x"] and second.names is None
    assert image_of(first) == rec["dynamodb"]["NewImage"]
