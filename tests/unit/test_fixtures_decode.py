"""Every real-world change-record sample in tests/fixtures/real decodes to exactly what is
expected of it (see SOURCES.md there for where each file comes from and what is odd about it).

Each file is read like a file source would read it (UTF-8 BOM stripped; one JSON document, else
JSON Lines), its envelopes are expanded, and every record is decoded with default_table="T" and,
for records without a time, the last version seen earlier in the same file as fallback (0 first).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from dynashift.decode import decode_change, expand, render_item
from dynashift.errors import BadRecordError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "real"
DEFAULT_TABLE = "T"
PARSERS = {"orjson": orjson.loads, "json": json.loads}


def _data_files() -> list[str]:
    assert FIXTURES.is_dir(), (
        f"fixture folder {FIXTURES} is missing: these tests need the real-world samples kept there"
    )
    return sorted(p.name for p in FIXTURES.iterdir() if p.is_file() and not p.name.startswith("export-") and p.name != "SOURCES.md")


def _read(name: str, loads) -> list[Any]:
    raw = (FIXTURES / name).read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return [loads(raw)]
    except ValueError:
        return [loads(line) for line in raw.splitlines() if line.strip()]


def decode_file(name: str, loads=orjson.loads, default_table: str | None = DEFAULT_TABLE) -> list[Any]:
    """-> one entry per record: a Change, or the BadRecordError that rejects it."""
    out: list[Any] = []
    last = 0
    for d, doc in enumerate(_read(name, loads)):
        for i, rec in expand(doc):
            if isinstance(rec, BadRecordError):
                out.append(rec)
                continue
            try:
                c = decode_change(rec, f"{d:06d}:{i:06d}", default_table=default_table, fallback_version=last)
            except BadRecordError as exc:
                out.append(exc)
            else:
                last = c.version
                out.append(c)
    return out


# ---------------------------------------------------------------- expectations per file
#
# "records": one entry per record, in order:
#     (op, table, version µs)           decoded
#     ("rejected", [words in reason])   rejected
# "checks": {record index: {"dist_key": ..., "ttl": ..., "values": {attribute: column text}}}
#     "values" are rendered from NewImage; an attribute listed as ABSENT must not be in it.

ABSENT = object()
VIEW = "stream view type"

ANK_KO = "dynamodb-streams-test-experiment-KeysOnlyTable-T9GRX95EFTIV"
ANK_NO = "dynamodb-streams-test-experiment-NewOldTable-7U1U2U9UKTB7"
ANK_NEW = "dynamodb-streams-test-experiment-NewTable-UK5PFMFS64LS"
ANK_OLD = "dynamodb-streams-test-experiment-OldTable-192VIK0LBSGG9"
ANK_KEY = '{"pk":{"S":"a"},"sk":{"S":"b"}}'
EX_KEY = '{"key":{"S":"binary"},"val":{"S":"data"}}'
ID101 = '{"Id":{"N":"101"}}'
PT_TABLE = "PowertoolsEventsStack-DynamoDBTable59784FC0-8NKAMTERTAXY"
STREAMER_L = (
    '[{"column3":"4395","column4":4395,"column5":{"column6":4395}},'
    '{"column3":"4395","column4":"670D0F1A-0BCF-4E53-BA9F-1CFD674EA21B","column5":{"column6":4395}}]'
)

EXPECTED: dict[str, dict[str, Any]] = {
    "ddbstreams-getrecords_aws-cli_music-example.json": {
        # GetRecords output: no eventSourceARN, no tableName -> the default table
        "records": [
            ("INSERT", "T", 1571849028_000000),
            ("INSERT", "T", 1571849029_000000),
            ("MODIFY", "T", 1571849734_000000),
        ],
        "checks": {
            0: {
                "dist_key": '{"Artist":{"S":"No One You Know"},"SongTitle":{"S":"Call Me Today"}}',
                "values": {"AlbumTitle": "Somewhat Famous", "Awards": "1", "Artist": "No One You Know"},
                "types": {"AlbumTitle": {"S"}, "Awards": {"N"}, "Artist": {"S"}, "SongTitle": {"S"}},
            },
            2: {
                "dist_key": '{"Artist":{"S":"Acme Band"},"SongTitle":{"S":"Happy Day"}}',
                "values": {"AlbumTitle": "Updated Album Title", "Awards": "10"},
            },
        },
        "without_table": "no table name",
    },
    "ddbstreams-getrecords_botocore_keys-only-example.json": {
        # KEYS_ONLY: INSERT/MODIFY cannot be replicated; REMOVE can. Time "1.46480646E9" (a string).
        "records": [
            ("rejected", ["INSERT", "KEYS_ONLY", VIEW]),
            ("rejected", ["MODIFY", "KEYS_ONLY", VIEW]),
            ("REMOVE", "T", 1464806460_000000),
        ],
        "checks": {2: {"dist_key": '{"ForumName":{"S":"DynamoDB"},"Subject":{"S":"DynamoDB Thread 2"}}', "ttl": False}},
    },
    "kds-ddb-record_aws-lambda-rust-runtime_insert.json": {
        "records": [("INSERT", "examples", 1649809356015_000)],  # milliseconds
        "checks": {
            0: {
                "dist_key": '{"id":{"S":"00000000-0000-0000-0000-000000000000"}}',
                "ttl": False,  # userIdentity null
                "values": {"id": "00000000-0000-0000-0000-000000000000", "created": "2022-02-16T15:12:00.14Z"},
            }
        },
    },
    "kds-ddb-records_amazon-redshift-udfs_insert-modify-remove.jsonl": {
        "records": [
            ("INSERT", "streamer", 1684189640771_000),
            ("MODIFY", "streamer", 1684189987356_000),
            ("REMOVE", "streamer", 1684190049329_000),
        ],
        "checks": {
            0: {"dist_key": '{"column1":{"S":"3120"}}', "values": {"column1": "3120", "column2": STREAMER_L},
                "types": {"column1": {"S"}, "column2": {"L"}}},
            1: {"dist_key": '{"column1":{"S":"3120"}}', "values": {"column1": "3120", "column2": "Updated!"},
                "types": {"column1": {"S"}, "column2": {"S"}}},
            2: {"dist_key": '{"column1":{"S":"3120"}}', "ttl": False},
        },
    },
    "lambda-ddb-event_aws-lambda-dotnet_ttl-remove-old-image.json": {
        # starts with a UTF-8 BOM
        "records": [
            ("INSERT", "Example-Table", 1480642020_000000),
            ("REMOVE", "Example-Table", 1480642020_000000),  # OLD_IMAGE view, but a REMOVE needs only Keys
        ],
        "checks": {
            0: {
                "dist_key": EX_KEY,
                "ttl": False,
                "values": {
                    "val": "data",
                    "key": "binary",
                    "asdf1": "AAEqQQ==",
                    "asdf2": '["AAEqQQ==","QSoBAA=="]',
                    "misc1": "[]",
                    "misc2": '{"ItemBoolean":false,"ItemNull":null,"ItemNumberSet":[0,50,150],'
                    '"ItemStringSet":["Hippo","Zebra"],"ItemsEmpty":[],"ItemsNonEmpty":["Cookies","Coffee",3.14159]}',
                },
                "types": {"val": {"S"}, "key": {"S"}, "asdf1": {"B"}, "asdf2": {"BS"}, "misc1": {"L"}, "misc2": {"M"}},
            },
            1: {"dist_key": EX_KEY, "ttl": True},  # TTL-style userIdentity on a REMOVE
        },
    },
    "lambda-ddb-event_aws-lambda-go_all-attribute-types.json": {
        "records": [
            ("INSERT", "Example-Table", 1480642020_000000),
            ("INSERT", "Example-Table", 1480642020_000000),
        ],
        "checks": {
            0: {"dist_key": EX_KEY, "ttl": False},  # TTL identity on an INSERT is not a TTL expiry
            1: {
                "dist_key": EX_KEY,
                "values": {
                    "val": "data",
                    "asdf1": "AAEqQQ==",
                    "b2": "test",
                    "asdf2": '["AAEqQQ==","QSoBAA=="]',  # duplicate member dropped: it is a set
                    "Binary": "AAEqQQ==",
                    "Boolean": "true",
                    "BinarySet": '["AAEqQQ=="]',
                    "List": '["Cookies","Coffee",3.14159]',
                    "Map": '{"Age":35,"Name":"Joe"}',
                    "FloatNumber": "123.45",
                    "IntegerNumber": "123",
                    "NumberSet": "[567.8,1234]",
                    "Null": None,
                    "String": "Hello",
                    "StringSet": '["Giraffe","Zebra"]',
                    "EmptyStringSet": "[]",
                },
                "types": {
                    "val": {"S"}, "asdf1": {"B"}, "b2": {"B"}, "asdf2": {"BS"}, "key": {"S"},
                    "Binary": {"B"}, "Boolean": {"BOOL"}, "BinarySet": {"BS"}, "List": {"L"},
                    "Map": {"M"}, "FloatNumber": {"N"}, "IntegerNumber": {"N"}, "NumberSet": {"NS"},
                    "Null": {"NULL"}, "String": {"S"}, "StringSet": {"SS"}, "EmptyStringSet": {"SS"},
                },
            },
        },
    },
    "lambda-ddb-event_aws-lambda-java-libs_exponent-timestamps.json": {
        "records": [
            ("INSERT", "ExampleTableWithStream", 1428537600_000000),
            ("MODIFY", "ExampleTableWithStream", 1635734407_123456),  # 1.635734407123456789E9
            ("REMOVE", "ExampleTableWithStream", 1428537600_000000),
        ],
        "checks": {
            0: {"dist_key": ID101, "ttl": False, "values": {"Id": "101", "Message": "New item!"}},
            1: {"values": {"Id": "101", "Message": "This item has changed"}},
            2: {"dist_key": ID101, "ttl": False},
        },
    },
    "lambda-ddb-event_sam-cli_dynamodb-update-template.json": {
        # mustache placeholders in the ARN: no table name in it -> the default table
        "records": [
            ("INSERT", "T", 1428537600_000000),
            ("MODIFY", "T", 1428537600_000000),
            ("REMOVE", "T", 1428537600_000000),
        ],
        "checks": {0: {"dist_key": ID101, "values": {"Id": "101", "Message": "New item!"}}},
        "without_table": "no table name",
    },
    "lambda-ddb-event_powertools-python_float-seconds.json": {
        "records": [
            ("INSERT", "T", 1693997155_000000),  # 1693997155.0
            ("MODIFY", "T", 1693997155_000000),  # no time: the fallback (last version seen)
        ],
        "checks": {1: {"dist_key": ID101, "values": {"Message": "This item has changed"}}},
        "without_table": "no table name",
    },
    "lambda-ddb-event_lambda-dev-guide_no-creation-time.json": {
        "records": [("INSERT", "T", 0), ("MODIFY", "T", 0)],  # no times at all: fallback 0
        "checks": {
            0: {"dist_key": ID101, "values": {"Id": "101", "Message": "New item!"}},
            1: {"dist_key": ID101, "values": {"Id": "101", "Message": "This item has changed"}},
        },
        "without_table": "no table name",
    },
    "lambda-ddb-event_ddb-dev-guide_bark-new-image.json": {
        "records": [("INSERT", "BarkTable", 1479499740_000000)],
        "checks": {
            0: {
                "dist_key": '{"Timestamp":{"S":"2016-11-18:12:09:36"},"Username":{"S":"John Doe"}}',
                "values": {"Timestamp": "2016-11-18:12:09:36", "Username": "John Doe",
                           "Message": "This is a bark from the Woofer social network"},
            }
        },
    },
    "lambda-ddb-record_ddb-dev-guide_chocolate-single-record.json": {
        # a bare record, no Records wrapper; time 1664559083.0
        "records": [("INSERT", "chocolate-table-StreamsSampleDDBTable-LUOI6UXQY7J1", 1664559083_000000)],
        "checks": {
            0: {
                "dist_key": '{"PK":{"S":"COMPANY#1000"},"SK":{"S":"PRODUCT#CHOCOLATE#DARK#1000"}}',
                "values": {"type": "", "quantity": "50", "price": "15", "stores": "5", "fabric": "Florida Chocolates",
                           "PK": "COMPANY#1000", "SK": "PRODUCT#CHOCOLATE#DARK#1000", "state": "FL"},
            }
        },
    },
    "lambda-ddb-time-window-event_aws-lambda-go.json": {
        # extra top-level keys (window, state, ...) are ignored; "stream-ARN" names no table
        "records": [
            ("INSERT", "T", 1480642020_000000),
            ("MODIFY", "T", 1480642020_000000),
            ("REMOVE", "T", 1480642020_000000),
        ],
        "checks": {1: {"dist_key": ID101, "values": {"Message": "This item has changed"}}, 2: {"ttl": False}},
        "without_table": "no table name",
    },
    "lambda-kinesis-event_powertools-typescript_kds-ddb.json": {
        # Lambda Kinesis event: base64 kinesis.data holds the KDS payload (ms, tableName)
        "records": [("INSERT", PT_TABLE, 1731924555370_000), ("INSERT", PT_TABLE, 1731924555370_000)],
        "checks": {
            0: {"dist_key": '{"id":{"S":"record-1qit2y819gi"}}', "ttl": False,
                "values": {"id": "record-1qit2y819gi", "data": "data-x6aq7ckdpgk"}},
            1: {"dist_key": '{"id":{"S":"record-fvxn3q4q5jw"}}', "values": {"data": "data-4eompjs89n5"}},
        },
    },
    "lambda-ddb-events_ankcorn_all-stream-view-types.jsonl": {
        "records": [
            ("rejected", ["INSERT", "KEYS_ONLY", VIEW]),
            ("rejected", ["MODIFY", "KEYS_ONLY", VIEW]),
            ("REMOVE", ANK_KO, 1594935893_000000),
            ("INSERT", ANK_NO, 1594936234_000000),
            ("MODIFY", ANK_NO, 1594936238_000000),
            ("REMOVE", ANK_NO, 1594936244_000000),
            ("INSERT", ANK_NEW, 1594936434_000000),
            ("MODIFY", ANK_NEW, 1594936438_000000),
            ("REMOVE", ANK_NEW, 1594936443_000000),
            ("rejected", ["INSERT", "OLD_IMAGE", VIEW]),
            ("rejected", ["MODIFY", "OLD_IMAGE", VIEW]),  # has OldImage, but no NewImage
            ("REMOVE", ANK_OLD, 1594936540_000000),
        ],
        "checks": {
            2: {"dist_key": ANK_KEY, "ttl": False},
            3: {"dist_key": ANK_KEY, "values": {"pk": "a", "sk": "b", "data": "test"}},
            4: {"dist_key": ANK_KEY, "values": {"pk": "a", "sk": "b", "data": "hello"}},
            7: {"dist_key": ANK_KEY, "values": {"data": "hello"}},
            11: {"dist_key": ANK_KEY},
        },
    },
}


# ---------------------------------------------------------------- tests


def test_fixture_folder_present():
    assert FIXTURES.is_dir(), f"fixture folder {FIXTURES} is missing"
    assert (FIXTURES / "SOURCES.md").is_file(), f"{FIXTURES}/SOURCES.md is missing"


def test_every_fixture_has_expectations():
    files = set(_data_files())
    assert files, f"no data files in {FIXTURES}"
    missing = sorted(files - EXPECTED.keys())
    assert not missing, f"fixture files without expectations in EXPECTED (add them): {missing}"
    stale = sorted(EXPECTED.keys() - files)
    assert not stale, f"EXPECTED names files that are not in {FIXTURES}: {stale}"


@pytest.mark.parametrize("parser", sorted(PARSERS))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_decodes_as_expected(name, parser):
    assert (FIXTURES / name).is_file(), f"{FIXTURES / name} is missing"
    exp = EXPECTED[name]
    got = decode_file(name, PARSERS[parser])
    want = exp["records"]

    summary = [
        ("rejected", e.reason) if isinstance(e, BadRecordError) else (e.op, e.table, e.version) for e in got
    ]
    assert len(got) == len(want), summary
    for n, (g, w) in enumerate(zip(got, want)):
        if w[0] == "rejected":
            assert isinstance(g, BadRecordError), f"record {n}: expected rejected, got {summary[n]}"
            for word in w[1]:
                assert word in g.reason, f"record {n}: {word!r} not in reason {g.reason!r}"
        else:
            assert not isinstance(g, BadRecordError), f"record {n}: rejected: {g.reason}"
            assert (g.op, g.table, g.version) == w, f"record {n}"
            assert isinstance(g.version, int)
            if g.op == "REMOVE":
                assert g.new_image is None
            else:
                assert isinstance(g.new_image, dict) and g.new_image

    # every seq distinct and in source order
    seqs = [g.seq for g in got if not isinstance(g, BadRecordError)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)

    for n, check in exp.get("checks", {}).items():
        g = got[n]
        assert not isinstance(g, BadRecordError), f"record {n}: rejected: {g.reason}"
        if "dist_key" in check:
            assert g.dist_key == check["dist_key"], f"record {n}"
        if "ttl" in check:
            assert g.ttl is check["ttl"], f"record {n}"
        if "values" in check or "types" in check:
            seen: dict[str, set[str]] = {}
            row = render_item(g.new_image, seen)
            for attr, text in check.get("values", {}).items():
                if text is ABSENT:
                    assert attr not in row, f"record {n}: {attr}"
                else:
                    assert attr in row, f"record {n}: {attr} missing from {sorted(row)}"
                    assert row[attr] == text, f"record {n}: {attr}"
            if "types" in check:
                assert seen == check["types"], f"record {n}"

    # every decoded INSERT/MODIFY image renders (the winners are rendered later)
    for g in got:
        if not isinstance(g, BadRecordError) and g.new_image is not None:
            render_item(g.new_image)


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if "without_table" in e))
def test_fixture_without_table_name_is_rejected_without_default(name):
    """Records that carry no table (GetRecords output, placeholder ARNs) are refused with that
    reason when no --table is given (reference §8), never written to a made-up table."""
    got = decode_file(name, default_table=None)
    assert got and all(isinstance(g, BadRecordError) for g in got)
    for g in got:
        assert EXPECTED[name]["without_table"] in g.reason


def test_fixture_types_seen_across_versions_of_a_column():
    """column2 changes type between versions (L, then S): both types are recorded."""
    got = decode_file("kds-ddb-records_amazon-redshift-udfs_insert-modify-remove.jsonl")
    seen: dict[str, set[str]] = {}
    for g in got:
        if g.new_image is not None:
            render_item(g.new_image, seen)
    assert seen == {"column1": {"S"}, "column2": {"L", "S"}}


def test_fixture_bom_file_really_starts_with_bom():
    raw = (FIXTURES / "lambda-ddb-event_aws-lambda-dotnet_ttl-remove-old-image.json").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # so the reader's BOM handling is really exercised
