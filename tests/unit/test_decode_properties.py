"""Property tests for dynashift.decode, checked against boto3's own TypeDeserializer.

The generated values are DynamoDB typed JSON as a stream carries it (B/BS as base64 text). For boto3
they are first turned into what botocore hands over (B/BS as bytes), deserialized, and the Python
value is rendered by a small independent reference renderer that follows docs/reference.md §3.
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from boto3.dynamodb.types import Binary, TypeDeserializer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dynashift.decode import dist_key, parse_time, render_item, render_value

UTC = timezone.utc
DESER = TypeDeserializer()
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MAIN = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ------------------------------------------------------------------ strategies


@st.composite
def number_texts(draw):
    """A DynamoDB number as text: up to 38 significant digits, magnitude within 1E-130 ..
    9.99..9E+125, written in one of the forms seen in the wild (or that a tool could write)."""
    ndigits = draw(st.integers(1, 38))
    digits = draw(st.text("0123456789", min_size=ndigits, max_size=ndigits))
    digits = digits.lstrip("0") or "0"
    sign = draw(st.sampled_from(["", "", "-"]))
    if digits == "0":
        exp = draw(st.integers(-10, 0))
    else:
        # adjusted exponent (position of the first digit) within DynamoDB's range, and no digit
        # below 1E-165: DynamoDB's number context (boto3's DYNAMODB_CONTEXT: 38 digits, Emin -128)
        # cannot hold 1.0000000000000000000000000000000000001E-129, so no real item has it
        lowest = max(-130, -165 + len(digits) - 1)
        adjusted = draw(st.one_of(st.integers(lowest, 125), st.integers(-8, 12)))
        exp = adjusted - (len(digits) - 1)
    value = Decimal(f"{sign}{digits}E{exp}")
    forms = [str(value), format(value, "E"), format(value, "e")]
    fixed = format(value, "f")
    if len(fixed) <= 60:  # plain positional form (trailing zeros of an integer are digits: keep <= 38)
        if len(Decimal(fixed).as_tuple().digits) <= 38:
            forms.append(fixed)
            if fixed.lstrip("-").startswith("0.") and draw(st.booleans()):
                forms.append(fixed.replace("0.", ".", 1))  # ".5"
            if "." not in fixed and draw(st.booleans()):
                forms.append(fixed + ".")  # "5."
            if not fixed.startswith("-") and draw(st.booleans()):
                forms.append("+" + fixed)  # "+5"
    return draw(st.sampled_from(forms))


def unique_numbers(max_size=5):
    return st.lists(number_texts(), max_size=max_size, unique_by=lambda t: Decimal(t))


texts = st.text(max_size=12)  # hypothesis leaves out surrogates: DynamoDB strings are UTF-8
names = st.text(max_size=8)
b64 = st.binary(max_size=12).map(lambda b: base64.b64encode(b).decode("ascii"))

scalars = st.one_of(
    texts.map(lambda s: {"S": s}),
    number_texts().map(lambda n: {"N": n}),
    b64.map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(texts, max_size=5, unique=True).map(lambda v: {"SS": v}),
    unique_numbers().map(lambda v: {"NS": v}),
    st.lists(st.binary(max_size=8), max_size=5, unique=True).map(
        lambda v: {"BS": [base64.b64encode(b).decode("ascii") for b in v]}
    ),
)

values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda v: {"L": v}),
        st.dictionaries(names, inner, max_size=4).map(lambda v: {"M": v}),
    ),
    max_leaves=16,
)

key_values = st.one_of(
    st.text(min_size=1, max_size=10).map(lambda s: {"S": s}),
    number_texts().map(lambda n: {"N": n}),
    st.binary(min_size=1, max_size=10).map(lambda b: {"B": base64.b64encode(b).decode("ascii")}),
)


# ------------------------------------------------------------------ reference renderer


def to_botocore(av):
    """Typed JSON with base64 text -> what botocore gives TypeDeserializer (binary as bytes)."""
    (tag, v), = av.items()
    if tag == "B":
        return {"B": base64.b64decode(v)}
    if tag == "BS":
        return {"BS": [base64.b64decode(x) for x in v]}
    if tag == "M":
        return {"M": {k: to_botocore(x) for k, x in v.items()}}
    if tag == "L":
        return {"L": [to_botocore(x) for x in v]}
    return av


def ref_plain(value):
    """A value deserialized by boto3 -> the plain JSON value the M/L row of docs/reference.md §3 describes."""
    if isinstance(value, Binary):
        return base64.b64encode(value.value).decode("ascii")
    if isinstance(value, (set, frozenset)):
        members = [ref_plain(x) for x in value]
        if all(isinstance(x, Decimal) for x in members):
            return sorted(members)
        return sorted(members)  # strings (SS) and base64 text (BS) sort as strings
    if isinstance(value, dict):
        return {k: ref_plain(x) for k, x in value.items()}
    if isinstance(value, list):
        return [ref_plain(x) for x in value]
    return value  # str, Decimal, bool, None


def ref_render(tag, value):
    """The table of docs/reference.md §3 applied to the boto3 Python value."""
    if tag == "S":
        return value
    if tag == "BOOL":
        return "true" if value else "false"
    if tag == "NULL":
        return None
    if tag == "B":
        return base64.b64encode(value.value).decode("ascii")
    return ref_plain(value)  # N is compared numerically; sets, M, L as parsed JSON


def same(a, b):
    """Deep equality that does not let True == Decimal(1) or 0 == False slip through."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


def parse_decimal(text):
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


class Tok(str):
    """A JSON number token kept as written."""


def parse_tokens(text, pairs=False):
    hook = {"object_pairs_hook": list} if pairs else {}
    return json.loads(text, parse_float=Tok, parse_int=Tok, **hook)


# ------------------------------------------------------------------ properties


@MAIN
@given(values)
def test_render_matches_boto3_type_deserializer(av):
    tag, text = render_value(av)  # never raises on a valid value
    assert tag == next(iter(av))
    expected = ref_render(tag, DESER.deserialize(to_botocore(av)))
    if tag == "N":
        assert text == av["N"]  # exactly as written
        assert Decimal(text) == DESER.deserialize(av)
    elif tag in ("S", "BOOL", "NULL", "B"):
        assert text == expected
    else:
        assert isinstance(text, str)
        assert _compact(text), text
        assert same(parse_decimal(text), expected), (text, expected)


@FAST
@given(values)
def test_binary_as_bytes_renders_like_base64_text(av):
    """boto3 hands B/BS over as bytes, streams as base64 text: the column text is the same."""
    assert render_value(to_botocore(av)) == render_value(av)


@FAST
@given(st.dictionaries(names, values, max_size=4))
def test_render_item_is_render_value_per_attribute(image):
    seen: dict[str, set[str]] = {}
    out = render_item(image, seen)
    assert out == {k: render_value(v)[1] for k, v in image.items()}
    assert seen == {k: {next(iter(v))} for k, v in image.items()}


def _compact(text: str) -> bool:
    """No whitespace between JSON tokens (strings, which may hold any, skipped)."""
    in_string = escaped = False
    for ch in text:
        if in_string:
            in_string = escaped or ch != '"'
            escaped = not escaped and ch == "\\"
        elif ch == '"':
            in_string = True
        elif ch in " \t\r\n":
            return False
    return True


def test_compact_sees_whitespace_between_tokens_only():
    assert _compact('{"a, b":["x, y","\\\\",1]}')
    assert _compact('["say \\"hi, there\\""]')
    assert not _compact('{"a": 1}') and not _compact('["x", "y"]') and not _compact('["\\\\", 1]')


def _check_digits(av, parsed):
    """Walk a typed value and its parsed rendering together: every N is a JSON number token with
    the digits as given (as written when that is JSON syntax), map keys are sorted."""
    (tag, v), = av.items()
    if tag == "N":
        assert isinstance(parsed, Tok), (v, parsed)
        assert Decimal(parsed).as_tuple() == Decimal(v).as_tuple(), (v, parsed)
        if JSON_NUMBER.fullmatch(v):
            assert parsed == v
    elif tag == "NS":
        by_value = {Decimal(t): t for t in v}
        assert [Decimal(t) for t in parsed] == sorted(by_value)
        for tok in parsed:
            assert isinstance(tok, Tok)
            assert Decimal(tok).as_tuple() == Decimal(by_value[Decimal(tok)]).as_tuple()
    elif tag == "M":
        got_names = [k for k, _ in parsed]
        assert got_names == sorted(v), "map keys not sorted by code point"
        for k, x in parsed:
            _check_digits(v[k], x)
    elif tag == "L":
        assert len(parsed) == len(v)
        for a, x in zip(v, parsed):
            _check_digits(a, x)


@FAST
@given(st.dictionaries(names, values, max_size=4).map(lambda m: {"M": m}))
def test_map_is_valid_json_with_exact_number_digits(av):
    text = render_value(av)[1]
    parsed = parse_tokens(text, pairs=True)  # raises if not valid JSON
    _check_digits(av, parsed)


@FAST
@given(unique_numbers(max_size=8))
def test_number_set_sorted_numerically_with_exact_digits(ns):
    text = render_value({"NS": ns})[1]
    _check_digits({"NS": ns}, parse_tokens(text))


@FAST
@given(number_texts())
def test_number_top_level_as_written_and_in_list_as_json(n):
    assert render_value({"N": n}) == ("N", n)
    (tok,) = parse_tokens(render_value({"L": [{"N": n}]})[1])
    assert Decimal(tok).as_tuple() == Decimal(n).as_tuple()


@FAST
@given(st.dictionaries(st.text(min_size=1, max_size=6), key_values, min_size=1, max_size=3), st.randoms())
def test_dist_key_independent_of_key_order(keys, rnd):
    expected = dist_key(keys)
    items = list(keys.items())
    rnd.shuffle(items)
    assert dist_key(dict(items)) == expected
    # canonical: compact typed JSON, names sorted, values as given
    parsed = json.loads(expected, object_pairs_hook=list)
    assert [k for k, _ in parsed] == sorted(keys)
    assert json.loads(expected) == keys
    assert expected == json.dumps(keys, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # bytes (boto3) and base64 text (streams) give the same identity
    as_bytes = {k: ({"B": base64.b64decode(v["B"])} if "B" in v else v) for k, v in items}
    assert dist_key(as_bytes) == expected


# instants from 1973-03-03 (1e14 µs) up to just before 5138 (1e11 s): all three units are then
# told apart by magnitude alone
instants = st.integers(100_000_000_000_000, 99_999_999_999_999_999)


@FAST
@given(instants)
def test_parse_time_units_agree(us):
    s, ms = us // 1_000_000, us // 1000
    assert parse_time(us) == us
    assert parse_time(ms) == ms * 1000
    assert parse_time(s) == s * 1_000_000
    assert parse_time(str(us)) == us
    assert parse_time(str(ms)) == ms * 1000
    assert parse_time(str(s)) == s * 1_000_000
    # exact decimal seconds, positional and exponent form
    dec = Decimal(us).scaleb(-6)
    assert parse_time(format(dec, "f")) == us
    assert parse_time(format(dec, "E")) == us
    # the same instant as a float of seconds: within the float's resolution
    # (unless rounding to a float carries it onto the next unit's threshold)
    f = us / 1_000_000
    if f < 99_999_999_999:
        assert abs(parse_time(f) - us) <= max(1, math.ceil(math.ulp(f) * 1_000_000))
    # float milliseconds
    fm = us / 1000
    if fm < 99_999_999_999_999:
        assert abs(parse_time(fm) - us) <= max(1, math.ceil(math.ulp(fm) * 1000))
    # precision field agrees with magnitude
    assert parse_time(us, "MICROSECOND") == us
    assert parse_time(ms, "MILLISECOND") == ms * 1000


@FAST
@given(st.integers(0, 253402300799_999999))
def test_parse_time_datetime_and_precision_field(us):
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    assert parse_time(dt) == us
    assert parse_time(dt.replace(tzinfo=None)) == us
    # with the precision field the magnitude does not matter
    assert parse_time(us, "MICROSECOND") == us
    assert parse_time(us // 1000, "MILLISECOND") == us // 1000 * 1000


@FAST
@given(st.integers(100_000_000_000_000, 99_999_999_999_999_999), st.integers(0, 999))
def test_parse_time_floors_sub_microsecond_digits(us, extra):
    """Digits beyond the microsecond (as in 1.635734407123456789E9) are cut, not rounded."""
    text = f"{us // 1_000_000}.{us % 1_000_000:06d}{extra:03d}"
    assert parse_time(text) == us
