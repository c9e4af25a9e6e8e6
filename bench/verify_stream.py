"""A DuckDB replica (text columns, hard deletes) against an expected.json too big to load whole.

support.oracle.diff_duckdb loads expected.json into Python objects, ~4x its size: 10+ GB for the
2.5-3.5 GB of a 2M wide or 5M narrow stream. Here expected.json (written by support.simulated
with orjson's two-space indent) is read line by line, one row parsed at a time, its rows put into
an in-memory DuckDB table (spilling to disk past 1 GB) in Arrow chunks, and compared per table with
the replica, attached read-only, by EXCEPT ALL both ways: every row, every mapped column, the
`_dynashift_changed_at`, duplicates included. Counts only (and a few keys), not the oracle's words.

    .venv/bin/python bench/verify_stream.py REPLICA.duckdb EXPECTED.json      # exit 1 on a difference
"""
from __future__ import annotations

import shutil
import sys
import tempfile
import time

import duckdb
import orjson
import pyarrow as pa

CHUNK = 20_000


def q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def tables(path: str):
    """Yield (table, attributes, rows iterator) of the "tables" section, streaming."""
    f = open(path, "rb")  # noqa: SIM115 - read to its end by the generators below
    section = None
    for line in f:
        if line.startswith(b'  "') and not line.startswith(b'   '):
            section = orjson.loads(line.strip().split(b":")[0])
            if section != "tables":
                return
            continue
        if section != "tables":
            continue
        if line.startswith(b'    "') and not line.startswith(b'     ') and line.rstrip().endswith(b"{"):
            name = orjson.loads(line.strip()[:-1].rstrip().rstrip(b":"))
            attributes = []
            for line in f:
                s = line.strip()
                if s.startswith(b'"attributes": ['):
                    if s.endswith(b"[]") or s.endswith(b"[],"):
                        break
                    for line in f:
                        s = line.strip()
                        if s.startswith(b"]"):
                            break
                        attributes.append(orjson.loads(s.rstrip(b",")))
                    break
            yield name, attributes, _rows(f)


def _rows(f):
    for line in f:
        s = line.strip()
        if s.startswith(b'"rows": {'):
            if s in (b'"rows": {}', b'"rows": {},'):
                return
            break
    buf: list[bytes] = []
    for line in f:
        if line.startswith(b"      }") and not line.startswith(b"       "):
            return  # end of rows
        buf.append(line)
        if line.startswith(b"        }") and not line.startswith(b"         "):
            text = b"{" + b"".join(buf).rstrip().rstrip(b",") + b"}"
            buf = []
            ((dk, row),) = orjson.loads(text).items()
            yield dk, row


def verify(replica: str, expected: str) -> int:
    """The differences found (rows only on one side, plus attributes without a column or columns
    without an attribute), printed per table as it goes."""
    spill = tempfile.mkdtemp(prefix="dynashift-verify-")
    con = duckdb.connect(config={"memory_limit": "1GB", "temp_directory": spill})
    con.execute(f"ATTACH '{replica}' AS r (READ_ONLY)")
    total_diffs = 0
    started = time.time()
    for name, attributes, rows in tables(expected):
        cmap = dict(con.execute("SELECT attribute_name, column_name FROM r.dynashift.columns WHERE table_name = ?",
                                [name]).fetchall())
        schema = sorted(set(attributes) ^ set(cmap))
        if schema:
            print(f"{name}: attributes and columns differ: {schema[:10]}")
            total_diffs += len(schema)
        attrs = [a for a in attributes if a in cmap]
        cols = [cmap[a] for a in attrs]
        con.execute("DROP TABLE IF EXISTS e")
        con.execute("CREATE TABLE e (dist_key VARCHAR, changed_at BIGINT"
                    + "".join(f", {q(c)} VARCHAR" for c in cols) + ")")
        n = 0

        def flush(chunk):
            arrays = {"dist_key": pa.array([r[0] for r in chunk], pa.string()),
                      "changed_at": pa.array([r[1]["changed_at_us"] for r in chunk], pa.int64())}
            for a, c in zip(attrs, cols):
                arrays[c] = pa.array([r[1]["values"].get(a) for r in chunk], pa.string())
            con.register("chunk", pa.table(arrays))
            con.execute("INSERT INTO e SELECT * FROM chunk")
            con.unregister("chunk")

        chunk = []
        for dk, row in rows:
            chunk.append((dk, row))
            n += 1
            if len(chunk) >= CHUNK:
                flush(chunk)
                chunk = []
        if chunk:
            flush(chunk)
        select = "dist_key, " + "".join(f"{q(c)}, " for c in cols)
        replica_rel = f"(SELECT {select} epoch_us(_dynashift_changed_at) AS changed_at FROM r.main.{q(name)})"
        expected_rel = f"(SELECT {select} changed_at FROM e)"
        (have,) = con.execute(f"SELECT count(*) FROM r.main.{q(name)}").fetchone()
        (extra,) = con.execute(f"SELECT count(*) FROM ({replica_rel} EXCEPT ALL {expected_rel})").fetchone()
        (missing,) = con.execute(f"SELECT count(*) FROM ({expected_rel} EXCEPT ALL {replica_rel})").fetchone()
        print(f"{name}: expected {n:,} rows, replica {have:,}; rows only in the replica {extra:,}, only expected {missing:,}",
              flush=True)
        if extra or missing:
            for row in con.execute(f"SELECT dist_key FROM ({replica_rel} EXCEPT ALL {expected_rel}) LIMIT 3").fetchall():
                print("   e.g. replica row differs/extra:", row[0][:120])
        total_diffs += extra + missing
    con.close()
    shutil.rmtree(spill, ignore_errors=True)
    print(f"verify (streamed): {total_diffs} differences ({time.time() - started:.0f} s)")
    return total_diffs


def main() -> None:
    sys.exit(1 if verify(sys.argv[1], sys.argv[2]) else 0)


if __name__ == "__main__":
    main()
