"""Example tests for dynashift.decode: docs/reference.md §1 (records), §2-3 (rendering), §4 (versions), §7 (bad input)."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import orjson
import pytest

from dynashift.decode import (
    decode_change,
    dist_key,
    expand,
    is_ttl_identity,
    parse_time,
    plain,
    render_item,
    render_value,
    table_from_arn,
)
from dynashift.errors import BadRecordError

UTC = timezone.utc
D38 = "12345678901234567890123456789012345678"  # 38 significant digits: a float keeps ~17


def rv(av):
    return render_value(av)[1]


def loads_exact(text):
    """JSON -> Python with every number kept as its token text (to check digits as written)."""
    return json.loads(text, parse_float=lambda s: ("num", s), parse_int=lambda s: ("num", s))


# ------------------------------------------------------------------ reference §3: scalar rows


@pytest.mark.parametrize(
    "av, tag, text",
    [
        ({"S": "hello"}, "S", "hello"),
        ({"S": ""}, "S", ""),  # the empty string is a value, not NULL
        ({"S": "é ü 漢字 😀"}, "S", "é ü 漢字 😀"),
        ({"S": 'quote " back \\ nl \n tab \t'}, "S", 'quote " back \\ nl \n tab \t'),
        ({"BOOL": True}, "BOOL", "true"),
        ({"BOOL": False}, "BOOL", "false"),
        ({"NULL": True}, "NULL", None),
        ({"B": "AAEqQQ=="}, "B", "AAEqQQ=="),
        ({"B": b"\x00\x01*A"}, "B", "AAEqQQ=="),  # boto3 hands bytes over; the column holds base64
    ],
)
def test_scalar_rows(av, tag, text):
    assert render_value(av) == (tag, text)


@pytest.mark.parametrize(
    "text",
    [
        "0",
        "42",
        "-0.5",
        "1E+2",
        "1e-7",
        ".5",  # not JSON syntax, but as written at top level
        "-.5",
        "5.",
        "+5",
        "3.14159",
        "123.4500",  # trailing zeros are digits as written
        D38,
        "-" + D38,
        "0." + D38,
        "1.2345678901234567890123456789012345678E+125",
        "9.9999999999999999999999999999999999999E+125",
        "1E-130",
        "-1E-130",
    ],
)
def test_number_exactly_as_written(text):
    assert render_value({"N": text}) == ("N", text)


@pytest.mark.parametrize(
    "text, token",
    [
        ("42", "42"),
        ("-0.5", "-0.5"),
        ("1E+2", "1E+2"),
        ("1e-7", "1e-7"),
        ("123.4500", "123.4500"),
        (D38, D38),
        ("0." + D38, "0." + D38),
        ("9.9999999999999999999999999999999999999E+125", "9.9999999999999999999999999999999999999E+125"),
        (".5", "0.5"),  # inside JSON: a valid JSON number with the same digits
        ("-.5", "-0.5"),
        ("5.", "5"),
        ("+5", "5"),
        ("007", "7"),
        ("5.e3", "5e3"),
    ],
)
def test_number_inside_map_is_a_json_number_with_the_same_digits(text, token):
    out = rv({"M": {"n": {"N": text}}})
    assert out == '{"n":' + token + "}"
    assert loads_exact(out) == {"n": ("num", token)}
    parsed = json.loads(out, parse_float=Decimal, parse_int=Decimal)["n"]
    assert parsed == Decimal(text)
    assert parsed.as_tuple() == Decimal(text).as_tuple()  # digits and exponent, not only the value


def test_number_38_digits_in_list_not_through_float():
    out = rv({"L": [{"N": D38}, {"N": "0.1"}, {"N": "1.10"}]})
    assert out == "[" + D38 + ",0.1,1.10]"


# ------------------------------------------------------------------ reference §3: sets


def test_string_set_sorted():
    assert rv({"SS": ["b", "a", "Zebra", "é", "aa"]}) == '["Zebra","a","aa","b","é"]'


def test_string_set_non_ascii_raw_and_escaped_as_json():
    out = rv({"SS": ["😀", 'q"x', "a\\b"]})
    assert "😀" in out and "\\u" not in out
    assert json.loads(out) == sorted(["😀", 'q"x', "a\\b"])


def test_number_set_sorted_numerically_as_json_numbers():
    assert rv({"NS": ["10", "9", "-1.5", "1E+2"]}) == "[-1.5,9,10,1E+2]"


def test_number_set_keeps_digits():
    out = rv({"NS": [D38, "0.10", "-" + D38, ".5"]})
    assert out == "[-" + D38 + ",0.10,0.5," + D38 + "]"


def test_binary_set_sorted_as_strings():
    out = rv({"BS": ["QSoBAA==", "AAEqQQ==", "Qg=="]})
    assert out == '["AAEqQQ==","QSoBAA==","Qg=="]'


def test_binary_set_from_bytes_same_as_from_base64():
    assert rv({"BS": [b"A*\x01\x00", b"\x00\x01*A"]}) == '["AAEqQQ==","QSoBAA=="]'


@pytest.mark.parametrize("tag", ["SS", "NS", "BS"])
def test_empty_sets(tag):
    assert render_value({tag: []}) == (tag, "[]")


def test_empty_map_and_list():
    assert render_value({"M": {}}) == ("M", "{}")
    assert render_value({"L": []}) == ("L", "[]")


# ------------------------------------------------------------------ reference §3: maps and lists


def test_map_compact_sorted_keys_with_every_type_inside():
    av = {
        "M": {
            "z": {"N": "1.50"},
            "a": {
                "L": [
                    {"S": "x"},
                    {"BOOL": True},
                    {"BOOL": False},
                    {"NULL": True},
                    {"B": "AAE="},
                    {"SS": ["b", "a"]},
                    {"NS": ["2", "1E+1", "-3"]},
                    {"BS": ["Qg==", "QQ=="]},
                    {"M": {}},
                    {"L": []},
                    {"SS": []},
                ]
            },
            "B": {"M": {"y": {"S": "é"}, "x": {"N": "-0"}}},
            "m": {"S": ""},
        }
    }
    assert rv(av) == (
        '{"B":{"x":-0,"y":"é"},'
        '"a":["x",true,false,null,"AAE=",["a","b"],[-3,2,1E+1],["QQ==","Qg=="],{},[],[]],'
        '"m":"","z":1.50}'
    )


def test_map_keys_sorted_by_code_point_and_non_ascii_raw():
    out = rv({"M": {"é": {"S": "😀"}, "Z": {"S": "x"}, "a": {"S": "y"}, "": {"S": "e"}}})
    assert out == '{"":"e","Z":"x","a":"y","é":"😀"}'


def test_map_strings_escaped_validly():
    s = 'quote " backslash \\ newline \n ctrl \x01 tab \t'
    out = rv({"M": {'k"\\': {"S": s}}})
    assert json.loads(out) == {'k"\\': s}
    assert "\n" not in out  # compact, one line


def test_list_keeps_order():
    assert rv({"L": [{"S": "b"}, {"N": "2"}, {"S": "a"}, {"N": "1"}]}) == '["b",2,"a",1]'


def test_nested_maps_sorted_at_every_level():
    av = {"M": {"b": {"M": {"d": {"N": "1"}, "c": {"L": [{"M": {"f": {"S": "x"}, "e": {"S": "y"}}}]}}}, "a": {"N": "0"}}}
    assert rv(av) == '{"a":0,"b":{"c":[{"e":"y","f":"x"}],"d":1}}'


def _nest(depth, leaf=None):
    av = leaf or {"N": "1.0"}
    for i in range(depth):
        av = {"M": {"k": av}} if i % 2 else {"L": [av]}
    return av


def _nest_text(depth, leaf="1.0"):
    out = leaf
    for i in range(depth):
        out = '{"k":' + out + "}" if i % 2 else "[" + out + "]"
    return out


def test_nesting_32_levels():
    # DynamoDB allows 32 levels of nested M/L
    assert rv(_nest(32)) == _nest_text(32)


def test_nesting_200_levels_no_recursion_error():
    out = rv(_nest(200))
    assert out == _nest_text(200)


@pytest.mark.parametrize("depth", [254, 255, 300, 510, 3000])
def test_absurd_nesting_renders_or_is_a_bad_record(depth):
    """Beyond DynamoDB's 32 levels: either rendered, or a BadRecordError (a record for `rejected`),
    never RecursionError / orjson's TypeError, which would stop the whole run (reference §7).
    510 levels is what orjson.loads still accepts from a file."""
    try:
        out = rv(_nest(depth))
    except BadRecordError as exc:
        assert exc.reason
    else:
        assert out == _nest_text(depth)


def test_absurd_nesting_from_a_file_parse():
    depth = 510
    text = '{"N":"1"}'
    for _ in range(depth):
        text = '{"M":{"a":' + text + "}}"
    av = orjson.loads(text)  # a file source would accept this document
    try:
        render_value(av)
    except BadRecordError:
        pass


# ------------------------------------------------------------------ render_item / plain


def test_render_item_and_types_seen():
    seen: dict[str, set[str]] = {}
    out = render_item({"pk": {"S": "a"}, "n": {"N": "1"}, "x": {"NULL": True}}, seen)
    assert out == {"pk": "a", "n": "1", "x": None}
    render_item({"pk": {"S": "b"}, "n": {"S": "one"}}, seen)
    assert seen == {"pk": {"S"}, "n": {"N", "S"}, "x": {"NULL"}}


def test_render_item_absent_attribute_is_not_invented():
    assert render_item({"a": {"S": "x"}}) == {"a": "x"}


def test_render_item_not_a_dict():
    with pytest.raises(BadRecordError):
        render_item([{"S": "x"}])


def test_plain_values():
    assert plain({"S": "x"}) == "x"
    assert plain({"BOOL": True}) is True
    assert plain({"NULL": True}) is None
    assert plain({"B": "AAE="}) == "AAE="
    assert plain({"SS": ["b", "a"]}) == ["a", "b"]
    assert orjson.dumps(plain({"M": {"n": {"N": D38}}})) == b'{"n":' + D38.encode() + b"}"


# ------------------------------------------------------------------ bad attribute values (reference §7)


@pytest.mark.parametrize(
    "av, words",
    [
        ({"X": "a"}, ["unknown attribute type", "'X'"]),
        ({"s": "a"}, ["unknown attribute type"]),
        ({"N": "abc"}, ["invalid number", "abc"]),
        ({"N": ""}, ["invalid number"]),
        ({"N": "1e"}, ["invalid number"]),
        ({"N": "."}, ["invalid number"]),
        ({"N": "-"}, ["invalid number"]),
        ({"N": "0x10"}, ["invalid number"]),
        ({"N": "NaN"}, ["invalid number"]),
        ({"N": "Infinity"}, ["invalid number"]),
        ({"N": 5}, ["not a string"]),
        ({"S": "a", "N": "1"}, ["not a DynamoDB attribute value"]),  # two tags
        ({}, ["not a DynamoDB attribute value"]),
        ("a", ["not a DynamoDB attribute value"]),
        (None, ["not a DynamoDB attribute value"]),
        ({"S": 5}, ["S value is not a string"]),
        ({"BOOL": 1}, ["BOOL"]),
        ({"B": 5}, ["B value"]),
        ({"SS": "a"}, ["not a list"]),
        ({"NS": ["1", "abc"]}, ["invalid number"]),
        ({"M": []}, ["not an object"]),
        ({"L": {}}, ["not a list"]),
        ({"M": {"a": {"X": "a"}}}, ["unknown attribute type"]),
        ({"M": {"a": {"N": "abc"}}}, ["invalid number"]),
        ({"L": [{"S": "a", "N": "1"}]}, ["not a DynamoDB attribute value"]),
    ],
)
def test_bad_attribute_values(av, words):
    with pytest.raises(BadRecordError) as ei:
        render_value(av)
    for w in words:
        assert w in ei.value.reason
    with pytest.raises(BadRecordError):
        render_item({"a": av})


# ------------------------------------------------------------------ dist_key


def test_dist_key_canonical_form():
    assert dist_key({"pk": {"S": "a"}, "sk": {"N": "3"}}) == '{"pk":{"S":"a"},"sk":{"N":"3"}}'


def test_dist_key_names_sorted():
    assert dist_key({"sk": {"N": "3"}, "pk": {"S": "a"}}) == '{"pk":{"S":"a"},"sk":{"N":"3"}}'
    assert dist_key({"b": {"S": "1"}, "B": {"S": "2"}, "é": {"S": "3"}}) == '{"B":{"S":"2"},"b":{"S":"1"},"é":{"S":"3"}}'


def test_dist_key_bytes_as_base64():
    assert dist_key({"k": {"B": b"\x00\x01*A"}}) == '{"k":{"B":"AAEqQQ=="}}'
    assert dist_key({"k": {"B": "AAEqQQ=="}}) == '{"k":{"B":"AAEqQQ=="}}'


def test_dist_key_number_digits_and_non_ascii_kept():
    assert dist_key({"n": {"N": D38}}) == '{"n":{"N":"' + D38 + '"}}'
    assert dist_key({"s": {"S": "é😀"}}) == '{"s":{"S":"é😀"}}'


@pytest.mark.parametrize(
    "keys, words",
    [
        ({}, ["missing Keys"]),
        (None, ["missing Keys"]),
        ([{"S": "a"}], ["missing Keys"]),
        ({"k": {"M": {}}}, ["'M'"]),
        ({"k": {"SS": ["a"]}}, ["'SS'"]),
        ({"k": {"X": "a"}}, ["'X'"]),
        ({"k": {"N": "abc"}}, ["invalid number"]),
        ({"k": {"S": 5}}, ["not a string"]),
        ({"k": {"S": "a", "N": "1"}}, ["not a DynamoDB attribute value"]),
        ({"k": "a"}, ["not a DynamoDB attribute value"]),
    ],
)
def test_dist_key_rejects(keys, words):
    with pytest.raises(BadRecordError) as ei:
        dist_key(keys)
    for w in words:
        assert w in ei.value.reason


@pytest.mark.parametrize("value", [5, None, True, ["AAE="], {"x": 1}])
def test_dist_key_rejects_binary_key_that_is_not_base64_text(value):
    """A B key must be base64 text (or bytes); anything else is not a DynamoDB key value."""
    with pytest.raises(BadRecordError):
        dist_key({"k": {"B": value}})


# ------------------------------------------------------------------ times (reference §1, §4)


@pytest.mark.parametrize(
    "value, precision, micros",
    [
        (1480642020, None, 1480642020_000000),  # int seconds
        (1693997155.0, None, 1693997155_000000),  # float seconds
        (1664559083.5, None, 1664559083_500000),
        (1.635734407123456789e9, None, 1635734407_123456),  # exponent, parsed as a float
        ("1.635734407123456789E9", None, 1635734407_123456),  # exponent, as text: floored to µs
        ("1.46480646E9", None, 1464806460_000000),  # a string in exponent form
        ("1480642020", None, 1480642020_000000),
        (" 1480642020 ", None, 1480642020_000000),
        (1731924555370, None, 1731924555370_000),  # milliseconds by magnitude
        (1649809356015, None, 1649809356015_000),
        ("1731924555370", None, 1731924555370_000),
        (1731924555370123, None, 1731924555370123),  # microseconds by magnitude
        (1731924555370123, "MICROSECOND", 1731924555370123),
        (1731924555370, "MILLISECOND", 1731924555370_000),
        (1731924555.370, "SECOND", 1731924555_370000),
        # the precision field overrides the magnitude
        (1_000_000, "MICROSECOND", 1_000_000),
        (1_000_000, "MILLISECOND", 1_000_000_000),
        (1731924555370, "MICROSECOND", 1731924555370),
        (1731924555370, "microsecond", 1731924555370),
        (99_999_999_999, None, 99_999_999_999_000000),  # seconds up to 1e11 (year 5138)
        (100_000_000_000, None, 100_000_000_000_000),  # from there on milliseconds
        (100_000_000_000_000, None, 100_000_000_000_000),  # and from 1e14 microseconds
        (0, None, 0),
    ],
)
def test_parse_time(value, precision, micros):
    assert parse_time(value, precision) == micros


def test_parse_time_none():
    assert parse_time(None) is None
    assert parse_time(None, "MICROSECOND") is None


@pytest.mark.parametrize(
    "dt, micros",
    [
        (datetime(2024, 11, 18, 10, 9, 15, 370123, tzinfo=UTC), 1731924555370123),
        (datetime(2024, 11, 18, 10, 9, 15, 370123), 1731924555370123),  # naive = UTC
        (datetime(2024, 11, 18, 12, 9, 15, 370123, tzinfo=timezone(timedelta(hours=2))), 1731924555370123),
        (datetime(1970, 1, 1, tzinfo=UTC), 0),
    ],
)
def test_parse_time_datetime(dt, micros):
    assert parse_time(dt) == micros


@pytest.mark.parametrize("value", ["abc", "", "NaN", "Infinity", "-inf", True, False, [1], {"s": 1}, "1,5"])
def test_parse_time_rejects(value):
    with pytest.raises(BadRecordError) as ei:
        parse_time(value)
    assert "ApproximateCreationDateTime" in ei.value.reason


@pytest.mark.parametrize(
    "value",
    [
        float("inf"),  # json.loads("Infinity") gives this; today: OverflowError
        float("-inf"),
        float("nan"),  # json.loads("NaN"); today: decimal.InvalidOperation
        "1E999999999",  # today: decimal.Overflow
    ],
)
def test_parse_time_non_finite_or_huge_is_a_bad_record(value):
    """Only BadRecordError may leave parse_time: anything else stops the run (reference §7)."""
    with pytest.raises(BadRecordError):
        parse_time(value)


@pytest.mark.parametrize("value", [10**30, "1E+40", -(10**30), "1E5000"])
def test_parse_time_beyond_any_timestamp_is_a_bad_record(value):
    """A version must fit `_dynashift_changed_at` (a timestamp, years 1..9999): one that does not
    would fail the whole batch in the target instead of going to `rejected`. (Today "1E5000" gives
    a 5000-digit int, and "1E999999" spends ~25 s in int() before a ValueError: kept out of the
    suite for speed.)"""
    with pytest.raises(BadRecordError):
        parse_time(value)


# ------------------------------------------------------------------ TTL identity


@pytest.mark.parametrize(
    "ui, ttl",
    [
        ({"type": "Service", "principalId": "dynamodb.amazonaws.com"}, True),
        ({"principalId": "dynamodb.amazonaws.com", "type": "Service"}, True),
        ({"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}, True),  # Streams API casing
        ({"type": "Service", "principalId": "lambda.amazonaws.com"}, False),
        ({"type": "User", "principalId": "dynamodb.amazonaws.com"}, False),
        ({"type": "Service"}, False),
        ({}, False),
        (None, False),
        ("dynamodb.amazonaws.com", False),
    ],
)
def test_is_ttl_identity(ui, ttl):
    assert is_ttl_identity(ui) is ttl


# ------------------------------------------------------------------ table from ARN


@pytest.mark.parametrize(
    "arn, table",
    [
        ("arn:aws:dynamodb:us-east-1:123456789012:table/Example-Table/stream/2016-12-01T00:00:00.000", "Example-Table"),
        ("arn:aws:dynamodb:eu-west-1:🦊:table/dynamodb-streams-test-KeysOnlyTable-T9GRX95EFTIV/stream/2020-07-16T21:40:16.972",
         "dynamodb-streams-test-KeysOnlyTable-T9GRX95EFTIV"),
        ("arn:aws-us-gov:dynamodb:us-gov-west-1:123456789012:table/my.table_1", "my.table_1"),
        ("arn:{{{partition}}}:dynamodb:{{{region}}}:{{{account_id}}}:table/{{{table}}}/stream/2015-06-27T00:48:05.899", None),
        ("eventsource_arn", None),
        ("eventsourcearn", None),
        ("stream-ARN", None),
        ("arn:aws:kinesis:eu-west-1:1234567789012:stream/PowertoolsEventsStack-KinesisStream46752A3E-u0C9B3ZKjgG0", None),
        ("arn:aws:dynamodb:us-east-1:123456789012:table/", None),
        ("", None),
        (None, None),
        (5, None),
    ],
)
def test_table_from_arn(arn, table):
    assert table_from_arn(arn) == table


# ------------------------------------------------------------------ decode_change


def rec(op="INSERT", *, keys=None, new=None, old=None, when=1480642020, **extra):
    ddb = {"Keys": keys if keys is not None else {"pk": {"S": "a"}}}
    if when is not None:
        ddb["ApproximateCreationDateTime"] = when
    if new is not None:
        ddb["NewImage"] = new
    if old is not None:
        ddb["OldImage"] = old
    ddb.update(extra.pop("ddb", {}))
    out = {"eventID": "e1", "eventName": op, "tableName": "Orders", "dynamodb": ddb}
    out.update(extra)
    return out


def test_decode_insert_fields():
    new = {"pk": {"S": "a"}, "n": {"N": "1"}}
    c = decode_change(rec(new=new), "0001", raw=b"raw")
    assert (c.table, c.op, c.keys, c.new_image) == ("Orders", "INSERT", {"pk": {"S": "a"}}, new)
    assert c.version == 1480642020_000000
    assert c.seq == "0001"
    assert c.dist_key == '{"pk":{"S":"a"}}'
    assert c.event_id == "e1"
    assert c.ttl is False
    assert c.raw == b"raw"


def test_decode_modify_leaves_image_typed():
    new = {"pk": {"S": "a"}, "m": {"M": {"x": {"N": "1.50"}}}}
    c = decode_change(rec("MODIFY", new=new, old={"pk": {"S": "a"}}), "1")
    assert c.op == "MODIFY" and c.new_image == new


def test_decode_remove_needs_only_keys():
    c = decode_change(rec("REMOVE"), "1")
    assert (c.op, c.new_image, c.ttl) == ("REMOVE", None, False)
    c = decode_change(rec("REMOVE", old={"pk": {"S": "a"}}, new={"pk": {"S": "a"}}), "1")
    assert c.new_image is None


def test_decode_ttl_remove():
    ui = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert decode_change(rec("REMOVE", userIdentity=ui), "1").ttl is True
    ui2 = {"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}
    assert decode_change(rec("REMOVE", userIdentity=ui2), "1").ttl is True
    # a TTL identity on an INSERT (a library fixture does this) does not make it a TTL expiry
    assert decode_change(rec(new={"pk": {"S": "a"}}, userIdentity=ui), "1").ttl is False
    assert decode_change(rec("REMOVE", userIdentity=None), "1").ttl is False


def test_decode_table_precedence():
    arn = "arn:aws:dynamodb:us-east-1:123456789012:table/FromArn/stream/2016-12-01T00:00:00.000"
    r = rec("REMOVE", eventSourceARN=arn)
    assert decode_change(r, "1", default_table="Dflt").table == "Orders"
    del r["tableName"]
    assert decode_change(r, "1", default_table="Dflt").table == "FromArn"
    r["eventSourceARN"] = "arn:aws:dynamodb:{{{region}}}:{{{account_id}}}:table/{{{table}}}/stream/x"
    assert decode_change(r, "1", default_table="Dflt").table == "Dflt"
    del r["eventSourceARN"]
    assert decode_change(r, "1", default_table="Dflt").table == "Dflt"


def test_decode_kinesis_payload_with_microsecond_precision():
    r = rec(new={"pk": {"S": "a"}}, when=1731924555370123, ddb={"ApproximateCreationDateTimePrecision": "MICROSECOND"})
    assert decode_change(r, "1").version == 1731924555370123


def test_decode_precision_field_overrides_magnitude():
    r = rec(new={"pk": {"S": "a"}}, when=1_500_000, ddb={"ApproximateCreationDateTimePrecision": "MICROSECOND"})
    assert decode_change(r, "1").version == 1_500_000
    r = rec(new={"pk": {"S": "a"}}, when=1_500_000, ddb={"ApproximateCreationDateTimePrecision": "MILLISECOND"})
    assert decode_change(r, "1").version == 1_500_000_000


def test_decode_time_forms():
    for when, micros in [
        (1731924555370, 1731924555370_000),
        ("1.46480646E9", 1464806460_000000),
        (1.635734407123456789e9, 1635734407_123456),
        (datetime(2016, 12, 2, 1, 27, tzinfo=UTC), 1480642020_000000),
    ]:
        assert decode_change(rec("REMOVE", when=when), "1").version == micros


def test_decode_without_time_takes_fallback_version():
    c = decode_change(rec("REMOVE", when=None), "1", fallback_version=1234567)
    assert c.version == 1234567
    assert decode_change(rec("REMOVE", when=None), "1").version == 0


def test_decode_event_id_not_a_string():
    assert decode_change(rec("REMOVE", eventID=5), "1").event_id == ""


# ---- every rejection reason


def _reason(r, **kw):
    with pytest.raises(BadRecordError) as ei:
        decode_change(r, "1", **kw)
    assert ei.value.reason == str(ei.value)
    return ei.value.reason


@pytest.mark.parametrize("r", [None, [], "INSERT", 5, [rec()]])
def test_reject_not_an_object(r):
    assert "not a JSON object" in _reason(r)


@pytest.mark.parametrize("ddb", ["missing", None, [], "x"])
def test_reject_no_dynamodb_block(ddb):
    r = rec("REMOVE")
    if ddb == "missing":
        del r["dynamodb"]
    else:
        r["dynamodb"] = ddb
    assert "`dynamodb` block" in _reason(r)


@pytest.mark.parametrize("op", ["UPDATE", "insert", "aws:kinesis:record", "", None, 1])
def test_reject_unknown_event_name(op):
    r = rec("REMOVE")
    r["eventName"] = op
    assert "eventName" in _reason(r)


def test_reject_missing_event_name():
    r = rec("REMOVE")
    del r["eventName"]
    assert "eventName" in _reason(r)


@pytest.mark.parametrize("keys", ["missing", {}, None, [], "pk"])
def test_reject_missing_keys(keys):
    r = rec("REMOVE")
    if keys == "missing":
        del r["dynamodb"]["Keys"]
    else:
        r["dynamodb"]["Keys"] = keys
    assert "missing Keys" in _reason(r)


@pytest.mark.parametrize(
    "keys, words",
    [
        ({"pk": {"X": "a"}}, ["'X'"]),
        ({"pk": {"N": "abc"}}, ["invalid number"]),
        ({"pk": {"S": "a", "N": "1"}}, ["not a DynamoDB attribute value"]),
        ({"pk": {"M": {}}}, ["keys are S, N or B"]),
    ],
)
def test_reject_bad_key_values(keys, words):
    reason = _reason(rec("REMOVE", keys=keys))
    for w in words:
        assert w in reason


def test_reject_no_table_name():
    r = rec("REMOVE")
    del r["tableName"]
    reason = _reason(r)
    assert "no table name" in reason and "--table" in reason
    r["eventSourceARN"] = "eventsource_arn"
    assert "no table name" in _reason(r)
    r["tableName"] = ""
    assert "no table name" in _reason(r)
    assert "no table name" in _reason(r, default_table="")


@pytest.mark.parametrize(
    "op, view",
    [("INSERT", "KEYS_ONLY"), ("MODIFY", "KEYS_ONLY"), ("INSERT", "OLD_IMAGE"), ("MODIFY", "OLD_IMAGE")],
)
def test_reject_insert_modify_without_new_image(op, view):
    r = rec(op, old={"pk": {"S": "a"}} if op == "MODIFY" else None, ddb={"StreamViewType": view})
    reason = _reason(r)
    assert view in reason
    assert "stream view type" in reason
    assert "NewImage" in reason


def test_reject_insert_without_new_image_and_no_view_type():
    # a Kinesis payload carries no StreamViewType
    reason = _reason(rec("INSERT"))
    assert "NewImage" in reason and "stream view type" in reason


def test_reject_new_image_not_an_object():
    assert "NewImage" in _reason(rec("INSERT", new=[{"pk": {"S": "a"}}]))


def test_reject_bad_time():
    assert "ApproximateCreationDateTime" in _reason(rec("REMOVE", when="yesterday"))


@pytest.mark.parametrize(
    "bad, words",
    [({"X": "a"}, ["unknown attribute type"]), ({"N": "abc"}, ["invalid number"]), ({"S": "a", "N": "1"}, ["not a DynamoDB attribute value"])],
)
def test_bad_new_image_values_are_rejected_when_rendered(bad, words):
    """decode_change leaves NewImage typed (only the newest change per key is rendered); a bad
    value in it is a BadRecordError when the image is rendered."""
    c = decode_change(rec(new={"pk": {"S": "a"}, "x": bad}), "1")
    with pytest.raises(BadRecordError) as ei:
        render_item(c.new_image)
    for w in words:
        assert w in ei.value.reason


# ------------------------------------------------------------------ expand (envelopes)


def test_expand_records_envelope_with_extra_keys():
    r1, r2 = rec("REMOVE"), rec("REMOVE", eventID="e2")
    doc = {"Records": [r1, r2], "NextShardIterator": "x", "window": {}, "shardId": "s"}
    assert list(expand(doc)) == [(0, r1), (1, r2)]


def test_expand_bare_record():
    r = rec("REMOVE")
    assert list(expand(r)) == [(0, r)]


def test_expand_empty_records():
    assert list(expand({"Records": []})) == []


def test_expand_records_not_a_list_yields_the_document():
    doc = {"Records": None}
    out = list(expand(doc))
    assert out == [(0, doc)]
    assert "dynamodb" in _reason(out[0][1])


def test_expand_lambda_kinesis_records():
    payload = rec(new={"pk": {"S": "a"}}, when=1731924555370)
    data = base64.b64encode(orjson.dumps(payload)).decode()
    doc = {"Records": [{"kinesis": {"data": data, "sequenceNumber": "1"}, "eventSource": "aws:kinesis"}]}
    (i, got), = list(expand(doc))
    assert i == 0 and got == payload
    assert decode_change(got, "1").version == 1731924555370_000


@pytest.mark.parametrize("data", ["***not base64***", base64.b64encode(b"not json").decode(), None, 5])
def test_expand_undecodable_kinesis_data_is_a_bad_record(data):
    good = base64.b64encode(orjson.dumps(rec("REMOVE"))).decode()
    doc = {"Records": [{"kinesis": {"data": data}}, {"kinesis": {"data": good}}]}
    out = list(expand(doc))
    assert [i for i, _ in out] == [0, 1]
    assert isinstance(out[0][1], BadRecordError) and "Kinesis data" in out[0][1].reason
    assert out[1][1] == rec("REMOVE")  # the bad one does not stop the others


def test_expand_non_object_record_passes_through_for_rejection():
    out = list(expand({"Records": [5, "x"]}))
    assert out == [(0, 5), (1, "x")]
    assert "not a JSON object" in _reason(out[0][1])
