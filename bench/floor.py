"""The floor: the plainest one-process Python pipeline that does the same job as dynashift.

orjson-parse every line, keep the newest change per key, render the winners (numbers as written,
sorted map keys, sorted sets), build Arrow tables, one DuckDB `CREATE TABLE AS` per table. No
checkpoints, no rejects, no schema evolution, no streaming: what a competent afternoon script does.
`bench/throughput.py` runs it on the same file in the same run and prints the ratio.

    .venv/bin/python bench/floor.py FOLDER_OR_FILES...
"""

from __future__ import annotations

import glob
import json
import resource
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa

_SORT = orjson.OPT_SORT_KEYS


def _plain(av: dict):
    ((tag, v),) = av.items()
    if tag == "S" or tag == "B":
        return v
    if tag == "N":
        return orjson.Fragment(v)
    if tag == "M":
        return {k: _plain(x) for k, x in v.items()}
    if tag == "L":
        return [_plain(x) for x in v]
    if tag == "BOOL":
        return v
    if tag == "NULL":
        return None
    if tag == "SS" or tag == "BS":
        return sorted(set(v))
    if tag == "NS":
        return [orjson.Fragment(x) for x in sorted(set(v), key=Decimal)]
    raise ValueError(tag)


def _text(av: dict) -> str | None:
    ((tag, v),) = av.items()
    if tag == "S" or tag == "N" or tag == "B":
        return v
    if tag == "BOOL":
        return "true" if v else "false"
    if tag == "NULL":
        return None
    return orjson.dumps(_plain(av), option=_SORT).decode()


def run(paths: list[Path], db: Path) -> tuple[int, float]:
    """(records read, seconds) of the whole pipeline over `paths`."""
    started = time.perf_counter()
    newest: dict[tuple[str, bytes], tuple[int, int, dict | None]] = {}
    count = 0
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                rec = orjson.loads(line)
                ddb = rec["dynamodb"]
                key = (rec["tableName"], orjson.dumps(ddb["Keys"], option=_SORT))
                version = int(ddb["ApproximateCreationDateTime"])
                old = newest.get(key)
                if old is None or (version, count) > old[:2]:
                    newest[key] = (version, count, ddb.get("NewImage") if rec["eventName"] != "REMOVE" else None)
                count += 1
    tables: dict[str, list[tuple[bytes, int, dict | None]]] = {}
    for (table, dk), (version, _, image) in newest.items():
        tables.setdefault(table, []).append((dk, version, image))
    con = duckdb.connect(str(db))
    for table, rows in tables.items():
        rendered = [{k: _text(v) for k, v in image.items()} if image is not None else {} for _, _, image in rows]
        names = sorted({k for r in rendered for k in r})
        arrays = {"dist_key": pa.array([dk.decode() for dk, _, _ in rows], pa.string()),
                  "changed_at": pa.array([v for _, v, _ in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                  "_deleted": pa.array([image is None for _, _, image in rows])}
        for name in names:
            arrays[name] = pa.array([r.get(name) for r in rendered], pa.string())
        data = pa.table(arrays)  # noqa: F841 (read by DuckDB below)
        con.execute(f"CREATE TABLE {json.dumps(table)} AS SELECT * FROM data WHERE NOT _deleted")
    con.close()
    return count, time.perf_counter() - started


def main() -> None:
    paths = sorted(Path(p) for arg in sys.argv[1:] for p in (glob.glob(f"{arg}/changes-*") if Path(arg).is_dir() else [arg]))
    with tempfile.TemporaryDirectory(prefix="dynashift-floor-") as tmp:
        records, seconds = run(paths, Path(tmp) / "floor.duckdb")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"records": records, "seconds": seconds, "events_per_s": records / seconds, "peak_rss_mib": rss}))


if __name__ == "__main__":
    main()
