"""Routing rules: one single-table design split into per-entity tables, the same way for a full load
(export) and for stream changes."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from pathlib import Path
from random import Random
from typing import Any

import orjson
import pytest

from dynashift import run_once
from dynashift.config import load_config
from dynashift.decode import dist_key
from dynashift.errors import ConfigError
from dynashift.records import INSERT, LAZY, REMOVE, Change
from dynashift.routing import Route, Router
from support.simulated import render_item
from dynashift.sources.export import write_export
from support.oracle import diff_duckdb

ROUTES = [
    {"to": "orders", "table": "App", "attribute": "pk", "prefix": "ORDER#"},
    {"to": "customers", "table": "App", "attribute": "pk", "prefix": "CUSTOMER#"},
    {"to": "invoices", "table": "App", "attribute": "entity", "equals": "Invoice"},
]
EXPORT_AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)
T0 = int(EXPORT_AT.timestamp()) * 1_000_000


def change(op: str, keys: dict, image: dict | None = None, old: dict | None = None, table: str = "App") -> Change:
    return Change(table, op, keys, image if op != REMOVE else None, T0, "s", dist_key(keys), old_image=old)


def key(pk: str, sk: str = "A") -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# ---------------------------------------------------------------- the rules


def test_first_matching_rule_wins_and_the_unmatched_stay() -> None:
    router = Router(Route(**r) for r in ROUTES)
    assert router.route(change(INSERT, key("ORDER#1"), {**key("ORDER#1"), "entity": {"S": "Invoice"}})) == "orders"
    assert router.route(change(INSERT, key("CUSTOMER#7"), key("CUSTOMER#7"))) == "customers"
    assert router.route(change(INSERT, key("INV#3"), {**key("INV#3"), "entity": {"S": "Invoice"}})) == "invoices"
    assert router.route(change(INSERT, key("NOTE#1"), {**key("NOTE#1"), "entity": {"N": "5"}})) == "App"
    assert router.route(change(INSERT, key("X"), key("X"), table="Other")) == "Other"  # rules name table App


def test_removes_are_routed_by_keys_else_by_old_image_else_everywhere() -> None:
    router = Router(Route(**r) for r in ROUTES)
    assert [c.table for c in router.apply([change(REMOVE, key("ORDER#1"))])] == ["orders"]
    with_old = change(REMOVE, key("INV#1"), old={**key("INV#1"), "entity": {"S": "Invoice"}})
    assert [c.table for c in router.apply([with_old])] == ["invoices"]
    fanned = list(router.apply([change(REMOVE, key("INV#2"))]))
    assert sorted(c.table for c in fanned) == ["App", "customers", "invoices", "orders"]
    assert {(c.dist_key, c.version, c.seq) for c in fanned} == {(dist_key(key("INV#2")), T0, "s")}


def test_a_lazy_image_is_read_only_when_a_rule_needs_it() -> None:
    router = Router([Route(to="invoices", attribute="entity", equals="Invoice")])
    raw = orjson.dumps({"dynamodb": {"NewImage": {**key("I"), "entity": {"S": "Invoice"}}}})
    lazy = Change("App", INSERT, key("I"), LAZY, T0, "s", dist_key(key("I")), raw=raw)
    assert router.route(lazy) == "invoices" and lazy.new_image["entity"] == {"S": "Invoice"}
    by_key = Router([Route(to="k", attribute="pk", prefix="I")])
    other = Change("App", INSERT, key("I"), LAZY, T0, "s", dist_key(key("I")), raw=raw)
    assert by_key.route(other) == "k" and other.new_image is LAZY


def test_numbers_and_binary_compare_as_their_text() -> None:
    assert Route(to="t", attribute="a", prefix="12").matches("123")
    router = Router([Route(to="bin", attribute="b", equals="AAE="), Route(to="num", attribute="n", prefix="-")])
    assert router.route(change(INSERT, key("x"), {**key("x"), "b": {"B": b"\x00\x01"}})) == "bin"
    assert router.route(change(INSERT, key("y"), {**key("y"), "n": {"N": "-4"}})) == "num"
    assert router.route(change(INSERT, key("z"), {**key("z"), "n": {"L": []}})) == "App"


def test_routes_from_dynashift_toml(tmp_path: Path) -> None:
    toml = tmp_path / "dynashift.toml"
    toml.write_text('[dynashift]\nsource = "file://x"\n\n[[dynashift.routes]]\ntable = "App"\nattribute = "pk"\n'
                    'prefix = "ORDER#"\nto = "orders"\n\n[[dynashift.routes]]\nattribute = "type"\nequals = "Invoice"\n'
                    'to = "invoices"\n')
    config = load_config({}, toml)
    assert [(r.to, r.table) for r in config.routes] == [("orders", "App"), ("invoices", "*")]
    toml.write_text('[[routes]]\nattribute = "pk"\nprefix = "A"\nequals = "B"\nto = "x"\n')
    with pytest.raises(ConfigError, match="routes"):
        load_config({}, toml)


# ---------------------------------------------------------------- a single-table design, end to end


def _entity(r: Random, i: int) -> dict[str, Any]:
    kind = r.choice(("order", "customer", "invoice", "note"))
    pk = {"order": f"ORDER#{i}", "customer": f"CUSTOMER#{i}", "invoice": f"INV#{i}", "note": f"NOTE#{i}"}[kind]
    item = {**key(pk, r.choice(("A", "B"))), "entity": {"S": kind.title()}, "n": {"N": str(r.randint(0, 99))}}
    if kind == "order":
        item["total"] = {"N": f"{r.randint(1, 999)}.{r.randint(0, 99):02d}"}
    elif kind == "customer":
        item["email"] = {"S": f"c{i}@example.com"}
    elif kind == "invoice":
        item["due"] = {"S": "2024-06-01"}
    return item


def _route(item: dict[str, Any]) -> str:
    pk = item["pk"]["S"]
    if pk.startswith("ORDER#"):
        return "orders"
    if pk.startswith("CUSTOMER#"):
        return "customers"
    return "invoices" if item.get("entity") == {"S": "Invoice"} else "app"


def test_a_single_table_design_split_by_export_and_stream(tmp_path: Path) -> None:
    r, ids = Random(4), itertools.count()
    state = {dist_key({"pk": it["pk"], "sk": it["sk"]}): it for it in (_entity(r, i) for i in range(2000))}
    write_export(tmp_path / "export", table_arn="arn:aws:dynamodb:us-east-1:123456789012:table/App",
                 export_time=EXPORT_AT, files=[[{"Item": it} for it in state.values()]])
    attributes: dict[str, set[str]] = {t: {"pk", "sk"} for t in ("orders", "customers", "invoices", "app")}
    for it in state.values():
        attributes[_route(it)].update(it)
    lines = []
    for n in range(3000):  # after the export: changes, deletes (Keys only), new items
        keys = r.choice(list(state.values()))
        keys = {"pk": keys["pk"], "sk": keys["sk"]}
        dk = dist_key(keys)
        ddb: dict[str, Any] = {"ApproximateCreationDateTime": T0 + 1_000_000 + n, "Keys": keys,
                               "ApproximateCreationDateTimePrecision": "MICROSECOND"}
        if r.random() < 0.25:
            op = "REMOVE"
            state.pop(dk)
        else:
            op = "MODIFY"
            new = {**state[dk], "n": {"N": str(n)}}
            if r.random() < 0.2:
                new = {**_entity(r, 10_000 + n), **keys}
                new["entity"] = state[dk]["entity"]  # an item keeps its type
            state[dk] = ddb["NewImage"] = new
            attributes[_route(new)].update(new)
        if r.random() < 0.1:
            new = _entity(r, 20_000 + n)
            state[dist_key({"pk": new["pk"], "sk": new["sk"]})] = new
            attributes[_route(new)].update(new)
            lines.append(orjson.dumps({"eventID": f"n{n}", "eventName": "INSERT", "tableName": "App", "dynamodb": {
                **ddb, "Keys": {"pk": new["pk"], "sk": new["sk"]}, "NewImage": new}}))
        lines.append(orjson.dumps({"eventID": f"e{next(ids)}", "eventName": op, "tableName": "App", "dynamodb": ddb}))
    (tmp_path / "stream.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    tables: dict[str, dict[str, Any]] = {t: {"source_table": t, "key_attributes": ["pk", "sk"],
                                             "attributes": sorted(a), "rows": {}} for t, a in attributes.items()}
    for dk, it in state.items():
        tables[_route(it)]["rows"][dk] = {"changed_at_us": 0, "values": render_item(it)}
    (tmp_path / "expected.json").write_bytes(orjson.dumps({"tables": tables}))

    db = tmp_path / "r.duckdb"
    run_once(f"export://{tmp_path / 'export'}?keys=pk,sk", f"duckdb:///{db}", routes=ROUTES, load_batch_size=700)
    run_once(f"file://{tmp_path / 'stream.jsonl'}", f"duckdb:///{db}", routes=ROUTES, batch_size=900)
    assert diff_duckdb(db, tmp_path / "expected.json", check_changed_at=False) == []
    assert all(tables[t]["rows"] for t in tables)
