"""What the simulated tables hold, for `simulate.py`: typed values of every kind and edge, and
the tables of its three profiles (mixed: awkward names, keys and values, for correctness; bench:
~2 KB records; wide: ~2.3 KB records of many attributes), each keeping the items DynamoDB would
hold as the stream is made.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from decimal import Decimal
from random import Random
from typing import Callable

import orjson

_PRECISION = {"us": b',"ApproximateCreationDateTimePrecision":"MICROSECOND"',
              "ms": b',"ApproximateCreationDateTimePrecision":"MILLISECOND"', "ms?": b"", "us?": b""}

# ---------------------------------------------------------------- values

_STRINGS = ("", "hello", "Grüße aus Köln", "日本語のテキスト", "emoji 🎉🚀", 'quote " and \\ backslash',
            "line\nbreak\ttab", "x" * 300, "  padded  ", "NULL", "null", "true", "0123", "<a href='#'>")
_NUMBERS = ("0", "1", "-1", "1E+2", "-1.5e-10", "1.50", "0.001", "2.5E3", "-0.5", "1E-130",
            "12345678901234567890123456789012345678", "-9.9999999999999999999999999999999999999E+125",
            "0.12345678901234567890123456789012345678", "-31415926535897932384626433832795028.84")
_MAP_KEYS = ("a", "b", "Name", "name", "key with space", "ключ", "🔑", "nested", "x.y", "$ref")


def _b64(r: Random, lo: int = 1, hi: int = 24) -> str:
    return base64.b64encode(r.randbytes(r.randint(lo, hi))).decode("ascii")


def _n38(r: Random) -> str:
    digits = str(r.randint(10**37, 10**38 - 1))
    cut = r.randint(1, 38)
    text = digits[:cut] + ("." + digits[cut:] if cut < 38 else "")
    return ("-" if r.random() < 0.3 else "") + text


def _number(r: Random) -> str:
    k = r.random()
    if k < 0.45:
        return str(r.randint(-1000, 10**9))
    if k < 0.7:
        return r.choice(_NUMBERS)
    if k < 0.85:
        return f"{r.randint(-10**6, 10**6)}.{r.randint(1, 99):02d}"
    return _n38(r)


def _text(r: Random) -> str:
    return r.choice(_STRINGS) if r.random() < 0.5 else f"v{r.getrandbits(24)}"


def s(r: Random) -> dict:
    return {"S": _text(r)}


def n(r: Random) -> dict:
    return {"N": _number(r)}


def b(r: Random) -> dict:
    return {"B": _b64(r)}


def boolean(r: Random) -> dict:
    return {"BOOL": r.random() < 0.5}


def null(r: Random) -> dict:
    return {"NULL": True}


def ss(r: Random) -> dict:
    return {"SS": list(dict.fromkeys(_text(r) or "e" for _ in range(r.randint(1, 5))))}


def ns(r: Random) -> dict:
    by_value: dict[Decimal, str] = {}
    for _ in range(r.randint(1, 5)):
        text = _number(r)
        by_value.setdefault(Decimal(text), text)
    return {"NS": list(by_value.values())}


def bs(r: Random) -> dict:
    return {"BS": list(dict.fromkeys(_b64(r) for _ in range(r.randint(1, 4))))}


_SCALARS = (s, n, b, boolean, null, ss, ns, bs)


def value(r: Random, depth: int = 3) -> dict:
    """Any of the ten types; M and L nest up to `depth` levels."""
    k = r.random()
    if depth > 0 and k < 0.15:
        return mapping(r, depth - 1)
    if depth > 0 and k < 0.3:
        return {"L": [value(r, depth - 1) for _ in range(r.randint(0, 4))]}
    return r.choice(_SCALARS)(r)


def mapping(r: Random, depth: int = 3) -> dict:
    return {"M": {k: value(r, depth) for k in r.sample(_MAP_KEYS, r.randint(0, 4))}}


def deep(r: Random, levels: int = 32) -> dict:
    """A value nested `levels` containers deep (DynamoDB's limit is 32), maps and lists mixed."""
    v: dict = {"S": "bottom"}
    for i in range(levels):
        v = {"L": [v, n(r)]} if i % 3 == 0 else {"M": {f"level{levels - i}": v}}
    return v


def one_of(*gens: Callable[[Random], dict]) -> Callable[[Random], dict]:
    return lambda r: r.choice(gens)(r)


def const(v: dict) -> Callable[[Random], dict]:
    return lambda r: v


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class _Attr:
    name: str
    gen: Callable[[Random], dict]
    share: float = 0.5  # chance to be in an item once it may appear
    since: float = 0.0  # share of the stream after which it starts to appear


class _Pool:
    """Keys with O(1) add, remove and random choice."""

    __slots__ = ("items", "pos")

    def __init__(self) -> None:
        self.items: list[bytes] = []
        self.pos: dict[bytes, int] = {}

    def add(self, k: bytes) -> None:
        self.pos[k] = len(self.items)
        self.items.append(k)

    def remove(self, k: bytes) -> None:
        i = self.pos.pop(k)
        last = self.items.pop()
        if i < len(self.items):
            self.items[i] = last
            self.pos[last] = i


@dataclass(eq=False)
class Table:
    name: str
    key_names: tuple[str, ...]
    key_fn: Callable[[Random, int], dict]
    clock: str  # key of _PRECISION: us / ms, "?" = precision field absent
    attrs: tuple[_Attr, ...] = ()
    ttl_share: float = 0.1
    bench: bool = False
    wide: tuple[tuple[str, str], ...] = ()  # the wide profile's attribute pool (name, kind)
    live: dict[bytes, bytes] = field(default_factory=dict)  # dist_key -> current image (JSON)
    live_pool: _Pool = field(default_factory=_Pool)
    dead_pool: _Pool = field(default_factory=_Pool)
    seen: set[str] = field(default_factory=set)
    next_id: int = 1

    def __post_init__(self) -> None:
        self.name_json = orjson.dumps(self.name)
        self.precision = _PRECISION[self.clock]
        self.millis = self.clock.startswith("ms")

    def new_item(self, r: Random, keys: dict, progress: float) -> dict:
        if self.wide:
            return _wide_item(r, keys, self.wide)
        if self.bench:
            return bench_item(r, keys)
        item = dict(keys)
        for a in self.attrs:
            if progress >= a.since and (a.name not in self.seen or r.random() < a.share):
                item[a.name] = a.gen(r)
        return item

    def modified(self, r: Random, old: dict, progress: float) -> dict:
        if self.wide:
            return _wide_modify(r, old, self.wide)
        if self.bench:
            return _bench_modify(r, old)
        new = dict(old)
        avail = [a for a in self.attrs if progress >= a.since]
        for a in r.sample(avail, min(len(avail), r.randint(1, 3))):
            new[a.name] = a.gen(r)
        for a in avail:
            if a.name not in self.seen:
                new[a.name] = a.gen(r)
        removable = [k for k in new if k not in self.key_names]
        if removable and r.random() < 0.35:
            del new[r.choice(removable)]
        return new


LONG_NAME = "a_very_long_attribute_name_that_no_warehouse_accepts_as_an_identifier_" * 2 + "_end_one"
LONG_NAME_2 = LONG_NAME[:-3] + "two"  # same first 147 bytes: cutting must still keep them apart


def mixed_tables(count: int) -> list[Table]:
    status = one_of(lambda r: {"S": r.choice(("new", "paid", "shipped"))},
                    lambda r: {"N": str(r.randint(1, 5))}, null)  # S in one item, N in another
    items = lambda r: {"L": [{"M": {"sku": s(r), "qty": n(r), "price": n(r), "opts": mapping(r, 1)}}
                             for _ in range(r.randint(0, 3))]}
    A = _Attr
    tables = [
        Table("Orders", ("pk", "sk"), lambda r, i: {"pk": {"S": f"cust#{r.randint(1, 300)}"},
                                                     "sk": {"N": str(i if i % 7 else -i)}}, "us", (
            A("status", status, 0.9), A("total", n, 0.9), A("items", items, 0.7), A("tags", ss),
            A("scores", ns, 0.4), A("blobs", bs, 0.3), A("paid", boolean, 0.6),
            A("note", one_of(const({"S": ""}), s, null)), A("meta", lambda r: mapping(r, 4)),
            A("Name", s), A("name", s), A("select", value, 0.3), A("order", n, 0.3), A("group", s, 0.3),
            A("empty_list", const({"L": []}), 0.2), A("empty_map", const({"M": {}}), 0.2),
            A("raw", b, 0.3), A("discount", n, 0.5, 0.3), A("shipping", lambda r: mapping(r, 3), 0.5, 0.6))),
        Table("user-profiles", ("id",), lambda r, i: {"id": {"N": str(i * 7919 if i % 5 else 10**30 + i)}},
               "ms", (
            A("email", s, 0.8), A("Email", s, 0.3, 0.2), A("age", one_of(n, s), 0.7),
            A('he said "hi"', s, 0.3), A("first name", s), A("semi;colon", s, 0.3), A("😀 mood", s, 0.3),
            A('a"; DROP TABLE x; --', s, 0.3), A(LONG_NAME, s, 0.3), A(LONG_NAME_2, n, 0.3),
            A("é" * 70, s, 0.3, 0.1), A("dist_key", s, 0.4), A("_dynashift_changed_at", s, 0.4),
            A("_DynaShift_Deleted", boolean, 0.3, 0.5), A("prefs", lambda r: mapping(r, 3)),
            A("deep", deep, 0.03), A("joined", s, 0.6, 0.5))),
        Table("Audit.Log", ("stream", "seq"), lambda r, i: {
            "stream": {"S": r.choice(("app", "Ünïcode", "emoji🙂", 'q"uote'))},
            "seq": {"S": f"{i:08d}#{r.getrandbits(16):04x}"}}, "us?", (
            A("event", s, 0.9), A("payload", lambda r: {"L": [mapping(r, 3), value(r, 2)]}, 0.8),
            A("amount", n, 0.6), A("bin", b), A("flags", bs, 0.4), A("nums", ns, 0.4), A("ok", boolean),
            A("nothing", null, 0.3), A("order", s, 0.3), A("GROUP", n, 0.3),
            A("status", one_of(n, s, boolean)), A("late_field", value, 0.7, 0.8))),
        Table("Sessions", ("sid",), lambda r, i: {"sid": {"B": base64.b64encode(
            i.to_bytes(4, "big") + r.randbytes(8)).decode("ascii")}}, "ms?", (
            A("user", s, 0.9), A("expires", n, 0.9), A("data", b, 0.6), A("Data", s, 0.2),
            A("ctx", lambda r: mapping(r, 2)), A("roles", ss), A("ttl", n, 0.8)), ttl_share=0.7),
        Table("Inventory", ("sku",), lambda r, i: {"sku": {"S": r.choice(
            ("SKU-", "ünï-", "🙂-", 'sku "', "a b;")) + str(i)}}, "us", (
            A("qty", one_of(n, n, const({"S": "unknown"})), 0.9), A("price", lambda r: {"N": _n38(r)}, 0.8),
            A("locations", ss), A("dims", lambda r: {"L": [n(r) for _ in range(3)]}),
            A("empty_l", const({"L": []}), 0.3), A("empty_m", const({"M": {}}), 0.3),
            A("blank", const({"S": ""}), 0.3), A("avail", boolean), A("Status", s), A("bins", bs, 0.3),
            A("misc", value, 0.4), A("restock", n, 0.5, 0.4)), ttl_share=0.2),
    ]
    for i in range(6, count + 1):
        tables.append(Table(f"Extra_{i}", ("id",), lambda r, j: {"id": {"S": f"id-{j}"}},
                             "us" if i % 2 else "ms", (
            A("a", value), A("b", value), A("c", lambda r: mapping(r, 2)),
            A("d", lambda r: {"L": [value(r, 1)]}),
            A("e", ns), A(f"new_{i}", s, 0.6, 0.5))))
    return tables


# ---------------------------------------------------------------- the bench profile (~2 KB records)

_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
          "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango")
_CITIES = ("Berlin", "São Paulo", "Tokyo", "Seattle", "Lagos", "Zürich", "Mumbai", "Sydney")
_NOTES = tuple(" ".join(Random(i).choices(_WORDS, k=8)) for i in range(64))


def bench_tables(count: int) -> list[Table]:
    defs = [
        ("Orders", ("pk", "sk"), lambda r, i: {"pk": {"S": f"cust#{r.randint(1, 20000)}"},
                                               "sk": {"N": str(i)}}),
        ("Customers", ("id",), lambda r, i: {"id": {"S": f"cust-{i:08d}"}}),
        ("Events", ("stream", "ts"), lambda r, i: {"stream": {"S": r.choice(_WORDS)}, "ts": {"N": str(i)}}),
        ("Products", ("sku",), lambda r, i: {"sku": {"S": f"SKU-{i:07d}"}}),
        ("Payments", ("id",), lambda r, i: {"id": {"S": f"pay-{i:010d}"}}),
    ]
    defs += [(f"Table_{i}", ("id",), lambda r, j: {"id": {"S": f"item-{j}"}}) for i in range(6, count + 1)]
    return [Table(name, keys, fn, "us", bench=True) for name, keys, fn in defs[:max(1, count)]]


def _stamp(r: Random) -> dict:
    return {"S": f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}T{r.randint(0, 23):02d}:"
                 f"{r.randint(0, 59):02d}:{r.randint(0, 59):02d}.{r.randint(0, 999999):06d}Z"}


def _line_items(r: Random) -> dict:
    return {"L": [{"M": {"sku": {"S": f"SKU-{r.randint(1, 99999):07d}"}, "qty": {"N": str(r.randint(1, 9))},
                         "price": {"N": f"{r.randint(1, 99999)}.{r.randint(0, 99):02d}"},
                         "name": {"S": r.choice(_WORDS) + " " + r.choice(_WORDS)}}}
                  for _ in range(r.randint(1, 3))]}


def bench_item(r: Random, keys: dict) -> dict:
    item = dict(keys)
    item.update({
        "status": {"S": r.choice(("new", "paid", "packed", "shipped", "delivered"))},
        "customer": {"M": {
            "id": {"S": f"C{r.randint(1, 10**7):08d}"}, "name": {"S": r.choice(_WORDS).title()},
            "email": {"S": f"{r.choice(_WORDS)}.{r.randint(1, 9999)}@example.com"},
            "address": {"M": {"street": {"S": f"{r.randint(1, 999)} {r.choice(_WORDS).title()} St"},
                              "city": {"S": r.choice(_CITIES)}, "zip": {"S": f"{r.randint(0, 99999):05d}"},
                              "country": {"S": r.choice(("DE", "BR", "JP", "US", "NG"))}}}}},
        "amount": {"N": _n38(r) if r.random() < 0.3 else f"{r.randint(1, 10**6)}.{r.randint(0, 99):02d}"},
        "currency": {"S": r.choice(("EUR", "USD", "JPY", "BRL"))},
        "items": _line_items(r),
        "tags": {"SS": r.sample(_WORDS, r.randint(1, 4))},
        "scores": {"NS": [str(x) for x in r.sample(range(1000), 3)]},
        "created_at": _stamp(r), "updated_at": _stamp(r),
        "version": {"N": "1"},
        "flags": {"M": {"gift": {"BOOL": r.random() < 0.2}, "express": {"BOOL": r.random() < 0.5},
                        "fragile": {"BOOL": r.random() < 0.1}}},
        "notes": {"S": r.choice(_NOTES)},
        "priority": {"N": str(r.randint(0, 9))},
        "active": {"BOOL": r.random() < 0.9},
        "region": {"S": r.choice(("eu-west-1", "us-east-1", "ap-northeast-1"))},
        "channel": {"S": r.choice(("web", "app", "store", "phone"))},
        "discount": {"N": f"0.{r.randint(1, 50):02d}"} if r.random() < 0.7 else {"NULL": True},
        "ratio": {"N": f"{r.random():.12f}"},
        "checksum": {"B": base64.b64encode(r.randbytes(16)).decode("ascii")},
    })
    return item


def _bench_modify(r: Random, old: dict) -> dict:
    new = dict(old)
    new["status"] = {"S": r.choice(("paid", "packed", "shipped", "delivered", "returned"))}
    new["updated_at"] = _stamp(r)
    new["version"] = {"N": str(int(old.get("version", {"N": "0"})["N"]) + 1)}
    if r.random() < 0.5:
        new["amount"] = {"N": f"{r.randint(1, 10**6)}.{r.randint(0, 99):02d}"}
    if r.random() < 0.3:
        new["items"] = _line_items(r)
    if r.random() < 0.2 and new.pop("discount", None) is None:
        new["discount"] = {"N": "0.10"}
    return new


# ---------------------------------------------------------------- the wide profile (~2.3 KB records)
# Production-like items: 6 tables of ~49 columns each, 20 attributes per item, maps nested 3 deep,
# lists of maps, string and number sets, 38-digit numbers, binary, both images on every MODIFY.

_WIDE_KINDS = ("s", "s", "s", "n", "n", "n38", "b", "bool", "null", "ss", "ns", "map3", "lmaps", "stamp")


def _wide_value(r: Random, kind: str) -> dict:
    if kind == "s":
        return {"S": r.choice(_NOTES)[: r.randint(4, 24)]}
    if kind == "n":
        return {"N": str(r.randint(-10**6, 10**9)) if r.random() < 0.6 else f"{r.randint(0, 10**6)}.{r.randint(0, 999):03d}"}
    if kind == "n38":
        return {"N": _n38(r)}
    if kind == "b":
        return {"B": _b64(r, 8, 32)}
    if kind == "bool":
        return {"BOOL": r.random() < 0.5}
    if kind == "null":
        return {"NULL": True}
    if kind == "ss":
        return {"SS": r.sample(_WORDS, r.randint(1, 5))}
    if kind == "ns":
        return {"NS": [str(x) for x in r.sample(range(-500, 10**6), r.randint(1, 5))]}
    if kind == "map3":
        return {"M": {"id": {"S": f"C{r.randint(1, 10**7):08d}"}, "name": {"S": r.choice(_WORDS).title()},
                      "address": {"M": {"street": {"S": f"{r.randint(1, 999)} {r.choice(_WORDS).title()} St"},
                                        "city": {"S": r.choice(_CITIES)},
                                        "geo": {"M": {"lat": {"N": f"{r.uniform(-90, 90):.6f}"},
                                                      "lon": {"N": f"{r.uniform(-180, 180):.6f}"}}}}},
                      "score": {"N": _n38(r)}}}
    if kind == "lmaps":
        return _line_items(r)
    return _stamp(r)


def wide_tables() -> list[Table]:
    names = ("Orders", "Customers", "Shipments", "Invoices", "Inventory", "AuditTrail")
    tables = []
    for ti, name in enumerate(names):
        pool = tuple((f"{_WORDS[(ti + j) % len(_WORDS)]}_{j:02d}" if j % 5 else f"Attr-{j:02d}.{name[:3]}",
                      _WIDE_KINDS[(j * 7 + ti) % len(_WIDE_KINDS)]) for j in range(47))
        keys = ("pk", "sk") if ti % 2 == 0 else ("id",)
        if len(keys) == 2:
            fn = lambda r, i, n=name: {"pk": {"S": f"{n[:2].upper()}#{i % 4000:05d}"}, "sk": {"N": str(i)}}
        else:
            fn = lambda r, i, n=name: {"id": {"S": f"{n.lower()}-{i:09d}"}}
        tables.append(Table(name, keys, fn, "us", bench=True, wide=pool))
    return tables


def _wide_item(r: Random, keys: dict, pool: tuple[tuple[str, str], ...]) -> dict:
    item = dict(keys)
    for name, kind in r.sample(pool, 20 - len(keys)):
        item[name] = _wide_value(r, kind)
    return item


def _wide_modify(r: Random, old: dict, pool: tuple[tuple[str, str], ...]) -> dict:
    new = dict(old)
    kinds = dict(pool)
    changed = [k for k in new if k in kinds]
    for name in r.sample(changed, min(len(changed), r.randint(1, 4))):
        new[name] = _wide_value(r, kinds[name])
    if r.random() < 0.2 and changed:  # an attribute swapped for another: the item keeps 20
        gone = r.choice(changed)
        del new[gone]
        name, kind = r.choice([p for p in pool if p[0] not in new])
        new[name] = _wide_value(r, kind)
    return new
