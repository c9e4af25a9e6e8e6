"""DynamoDB (moto) as the oracle: a Scan of a table, rendered by simulate's independent renderer,
in the shape of simulate's expected.json, for support.oracle.diff_duckdb."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import boto3
import orjson

from dynashift.decode import dist_key
from support.simulated import render_item


def dynamodb(endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=endpoint)


def typed_json(av: Any) -> Any:
    """boto3's typed values (B as bytes) -> DynamoDB JSON as the stream carries it (B as base64)."""
    if isinstance(av, dict):
        return {k: typed_json(v) for k, v in av.items()}
    if isinstance(av, list):
        return [typed_json(v) for v in av]
    if isinstance(av, (bytes, bytearray)):
        return base64.b64encode(bytes(av)).decode()
    return av


def scan_as_expected(endpoint: str, table: str, path: Path) -> Path:
    """A Scan of the table, written to `path` in the shape of simulate's expected.json."""
    client = dynamodb(endpoint)
    keys = [k["AttributeName"] for k in client.describe_table(TableName=table)["Table"]["KeySchema"]]
    rows, attributes = {}, set()
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in map(typed_json, page["Items"]):
            rows[dist_key({k: item[k] for k in keys})] = {"changed_at_us": 0, "values": render_item(item)}
            attributes.update(item)
    expected = {"tables": {table.lower(): {"source_table": table, "key_attributes": keys,
                                           "attributes": sorted(attributes), "rows": rows}}}
    path.write_bytes(orjson.dumps(expected))
    return path
