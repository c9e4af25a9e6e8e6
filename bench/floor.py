"""The floor: the plainest one-process Python pipeline that does the same job as dynashift.

orjson-parse every line, keep the newest change per key (its line), render the winners (numbers as written,
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


def _row(line: bytes) -> dict[str, str | None] | None:
    """A winner's columns; None for a delete."""
    rec = orjson.loads(line)
    if rec["eventName"] == "REMOVE":
        return None
    return {k: _text(v) for k, v in rec["dynamodb"]["NewImage"].items()}


def run(paths: list[Path], db: Path) -> tuple[int, float]:
    """(records read, seconds) of the whole pipeline over `paths`."""
    started = time.perf_counter()
    newest: dict[tuple[str, bytes], tuple[int, int, bytes]] = {}
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
                    newest[key] = (version, count, line)  # the line, not its parse: memory stays small
                count += 1
    tables: dict[str, list[tuple[bytes, int, bytes]]] = {}
    for (table, dk), (version, _, line) in newest.items():
        tables.setdefault(table, []).append((dk, version, line))
    con = duckdb.connect(str(db))
    for table, rows in tables.items():
        rendered = [_row(line) for _, _, line in rows]
        names = sorted({k for r in rendered if r is not None for k in r})
        arrays = {"dist_key": pa.array([dk.decode() for dk, _, _ in rows], pa.string()),
                  "changed_at": pa.array([v for _, v, _ in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                  "_deleted": pa.array([r is None for r in rendered])}
        for name in names:
            arrays[name] = pa.array([r.get(name) if r is not None else None for r in rendered], pa.string())
        data = pa.table(arrays)  # noqa: F841 (read by DuckDB below)
        con.execute(f"CREATE TABLE {json.dumps(table)} AS SELECT * FROM data WHERE NOT _deleted")
    con.close()
    return count, time.perf_counter() - started


def main() -> None:
    paths = sorted(Path(p) for arg in sys.argv[1:] for p in (glob.glob(f"{arg}/changes-*") if Path(arg).is_dir() else [arg]))
    with tempfile.TemporaryDirectory(prefix="dynashift-floor-") as tmp:
        records, seconds = run(paths, Path(tmp) / "floor.duckdb")
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"records": records, "seconds": seconds, "events_per_s": records / seconds,
                      "cpu_seconds": use.ru_utime + use.ru_stime, "peak_rss_mib": _peak_rss_mib(use)}))


def _peak_rss_mib(use: resource.struct_rusage) -> float:
    """This process's own peak (ru_maxrss carries the parent's across fork and exec; VmHWM does not)."""
    try:
        for row in Path("/proc/self/status").read_text().splitlines():
            if row.startswith("VmHWM:"):
                return int(row.split()[1]) / 1024
    except OSError:
        pass
    return use.ru_maxrss / 1024


if __name__ == "__main__":
    main()
