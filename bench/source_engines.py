"""Each source, each engine: does the native engine decode and render what the source reads, and
what does a record cost? kinesis://, dynamodb-streams://, a Scan backfill (the last three against
a local moto server, with tests/support/moto_server.py's patches) and export:// (a local export),
all of the stream benchmark's item shape (~25 attributes, nested, sets, one binary), into a fresh
DuckDB. Each run is a child process per engine, the two engines alternating, `--rounds` times.

    .venv/bin/python bench/source_engines.py                       # every source, 20k records each
    .venv/bin/python bench/source_engines.py --sources scan,streams --records 5000 --rounds 3

Per run: records read, events/s (wall: noise on a loaded machine), CPU-s of the dynashift process
(user+sys, all its threads; the moto server's are not counted) and per 1k records, peak RSS, and
where each winner was rendered (`native` rows by the native renderer, `python` rows by
planning.core._render) and how many records the Python line decoder took (`py-decoded`: with the
native engine, the records its decoder handed back). A source the native engine serves shows
python 0 with it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from random import Random

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

SOURCES = ("kinesis", "streams", "scan", "export")


# ---------------------------------------------------------------- inputs (the parent, once)


def _items(records: int, seed: int, keys: int):
    """(op, key, item) of the stream benchmark's shape over `keys` keys: puts, then ~10% deletes."""
    from dynashift.simulate_tables import bench_item

    r = Random(seed)
    for i in range(records):
        key = {"pk": {"S": f"cust#{r.randrange(keys)}"}, "sk": {"N": str(i % 7)}}
        if i > keys and r.random() < 0.1:
            yield "delete", key, None
        else:
            yield "put", key, bench_item(r, key)


def _wire(item: dict) -> dict:
    from dynashift.simulate_live import wire

    return {k: wire(v) for k, v in item.items()}


def prepare(source: str, endpoint: str, records: int, seed: int, folder: Path) -> str:
    """The input of one source; returns its name (stream, table or export folder)."""
    import boto3

    name = f"bench-{source}-{os.getpid()}"
    if source == "kinesis":
        from dynashift.simulate import simulate
        from dynashift.simulate_live import put_records

        client = boto3.client("kinesis", endpoint_url=endpoint)
        client.create_stream(StreamName=name, ShardCount=4)
        summary = simulate(folder / "sim", changes=records, profile="bench", seed=seed, expected=False)
        for p in summary.files:
            with p.open("rb") as fh:
                put_records(client, name, fh)
        return name
    if source == "export":  # as bench/export_load.py writes one, here in a temporary folder
        from export_load import EXPORT_TIME, TABLE_ARN

        from dynashift.simulate_tables import bench_item
        from dynashift.sources.export import write_export

        r = Random(seed)
        rows = ({"Item": bench_item(r, {"pk": {"S": f"cust#{i % 20011}"}, "sk": {"N": str(i)}})} for i in range(records))
        write_export(folder, table_arn=TABLE_ARN, export_time=EXPORT_TIME, files=[rows])
        return str(folder)
    client = boto3.client("dynamodb", endpoint_url=endpoint)
    spec = {"StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}} if source == "streams" else {}
    client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                              {"AttributeName": "sk", "AttributeType": "N"}], **spec)
    if source == "streams":  # one call per change, as an application writes
        for op, key, item in _items(records, seed, max(records // 3, 10)):
            if op == "put":
                client.put_item(TableName=name, Item=_wire(item))
            else:
                client.delete_item(TableName=name, Key=key)
    else:  # a table of `records` distinct items
        r = Random(seed)
        from dynashift.simulate_tables import bench_item

        batch = []
        for i in range(records):
            key = {"pk": {"S": f"cust#{i}"}, "sk": {"N": str(i % 7)}}
            batch.append({"PutRequest": {"Item": _wire(bench_item(r, key))}})
            if len(batch) == 25 or i == records - 1:
                client.batch_write_item(RequestItems={name: batch})
                batch = []
    return name


# ---------------------------------------------------------------- one run (a child process)


def child(source: str, name: str, endpoint: str, batch_size: int) -> dict:
    from dynashift import Config, replicate
    from dynashift.planning import core, lines
    from dynashift.sources import make_source
    from dynashift.targets import make_target

    counts = {"native": 0, "python": 0, "py-decoded": 0}
    render_rows, render, blocks, decode = core.render_rows, core._render, core.plannable_blocks, lines.LineDecoder.decode

    def counted_render_rows(pairs, *args, **kwargs):
        out = render_rows(pairs, *args, **kwargs)
        counts["native"] += out.count if out is not None else 0
        return out

    def counted_render(changes, *args, **kwargs):
        counts["python"] += len(changes)
        return render(changes, *args, **kwargs)

    def counted_blocks(*args, **kwargs):
        out = blocks(*args, **kwargs)
        counts["native"] += sum(b.rows.count for b in out or ())
        return out

    def counted_decode(self, line, seq_base):
        counts["py-decoded"] += 1
        return decode(self, line, seq_base)

    core.render_rows, core._render, core.plannable_blocks = counted_render_rows, counted_render, counted_blocks
    lines.LineDecoder.decode = counted_decode
    tmp = Path(tempfile.mkdtemp(prefix="dynashift-srcbench-"))
    uri = {"kinesis": f"kinesis://{name}", "streams": f"dynamodb-streams://{name}", "export": f"export://{name}?keys=pk,sk",
           "scan": None}[source]
    config = Config(source=uri or "file:///unused", target=f"duckdb:///{tmp / 'b.duckdb'}", endpoint_url=endpoint,
                    batch_size=batch_size)
    if source == "scan":
        from dynashift.sources.scan import ScanSource

        src = ScanSource(name, config, restart=True)
    else:
        src = make_source(config.source, config)
    target = make_target(config.target)
    target.open()
    cpu0, wall0 = os.times(), time.perf_counter()
    try:
        run = replicate(config, src, target)
    finally:
        target.close()
    seconds, cpu1 = time.perf_counter() - wall0, os.times()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    return {"records": run.records_read, "rows": run.changes_applied, "seconds": seconds, "cpu": cpu,
            "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **counts}


# ---------------------------------------------------------------- the parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sources", default=",".join(SOURCES), help=f"comma-separated, of {', '.join(SOURCES)}")
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=50_000)
    ap.add_argument("--child", nargs=3, metavar=("SOURCE", "NAME", "ENDPOINT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    for k, v in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ.setdefault(k, v)
    if args.child:
        print("RESULT " + json.dumps(child(*args.child, args.batch_size)))
        return
    from kinesis_throughput import start_moto

    sources = [s for s in args.sources.split(",") if s]
    server, endpoint = start_moto()
    try:
        with tempfile.TemporaryDirectory(prefix="dynashift-srcbench-") as tmp:
            names = {}
            for s in sources:
                t = time.perf_counter()
                names[s] = prepare(s, endpoint, args.records, args.seed, Path(tmp) / s)
                print(f"# {s}: input ready in {time.perf_counter() - t:.0f} s", file=sys.stderr)
            print(f"{'source':8} {'engine':7} {'records':>8} {'rows':>7} {'ev/s':>7} {'CPU-s':>6} {'CPU-s/1k':>8}"
                  f" {'RSS MiB':>7} {'native':>7} {'python':>7} {'py-decoded':>10}")
            for _ in range(args.rounds):
                for s in sources:
                    for engine in ("python", "native"):
                        env = {**os.environ, "DYNASHIFT_ENGINE": engine}
                        out = subprocess.run([sys.executable, __file__, "--batch-size", str(args.batch_size),
                                              "--child", s, names[s], endpoint], env=env, capture_output=True, text=True)
                        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
                        if line is None:
                            print(f"{s} {engine}: failed\n{out.stderr[-2000:]}", file=sys.stderr)
                            continue
                        r = json.loads(line[len("RESULT "):])
                        print(f"{s:8} {engine:7} {r['records']:>8,} {r['rows']:>7,} {r['records'] / r['seconds']:>7,.0f}"
                              f" {r['cpu']:>6.2f} {r['cpu'] / max(r['records'], 1) * 1000:>8.3f} {r['rss']:>7.0f}"
                              f" {r['native']:>7,} {r['python']:>7,} {r['py-decoded']:>10,}", flush=True)
    finally:
        server.communicate("", timeout=30)


if __name__ == "__main__":
    main()
