"""The native engine's own work alone: a wide file's lines taken into batches (LineFile.take:
envelopes decoded, each key's newest change kept) and each batch's winners rendered
(LineBatch.render), no planning, no target, no Python per record.

    .venv/bin/python bench/native_cost.py --changes 200000
    .venv/bin/python bench/native_cost.py --changes 1000000 --rounds 3 --threads 1

Prints per round the CPU-seconds of taking and of rendering (process CPU: the render's helper
threads count) and their sum. With --threads 1 everything runs on this thread, so the figures
barely move on a loaded machine: compare two builds of the engine in interleaved rounds
(`--native-path DIR` puts another build's dynashift_native first on sys.path).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=200_000)
    ap.add_argument("--shape", choices=("bench", "wide"), default="wide")
    ap.add_argument("--batch-size", type=int, default=75_000)
    ap.add_argument("--threads", type=int, default=1, help="render threads (files_native.THREADS is 2)")
    ap.add_argument("--share", type=int, default=4096)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--native-path", default=None, help="a folder holding another build of dynashift_native")
    ap.add_argument("--file", default=None, help="a change-record file to read instead (e.g. a few lines for callgrind)")
    args = ap.parse_args()
    if args.native_path:
        sys.path.insert(0, args.native_path)
    sys.path.insert(0, str(HERE.parent / "src"))
    import dynashift_native as native

    from dynashift.records import LAZY, Change

    path = Path(args.file) if args.file else next((HERE / ".data" / f"{args.shape}-{args.changes}-1").glob("changes-*"))
    for _ in range(args.rounds):
        take = render = 0.0
        rows = batches = 0
        reader = native.LineFile(str(path), 0)
        dec = native.Decoder(None, Change, LAZY)
        records = nbytes = last_end = end = last_version = 0
        while True:
            acc = native.LineBatch(False, None)
            c = time.process_time()
            kind, records, nbytes, last_end, end, last_version, _, line, _ = reader.take(
                acc, dec, 0, 0, last_end, end, last_version, args.batch_size, 1 << 62, "f\x1f")
            take += time.process_time() - c
            if line is not None:
                sys.exit("a line left to the Python code: this bench needs plain records")
            c = time.process_time()
            out = acc.render(("U", "D"), args.threads, args.share, typed=False)
            render += time.process_time() - c
            if out is None:
                sys.exit("a batch left to the Python code")
            rows += sum(t[2] for t in out)
            batches += 1
            del out, acc
            if kind == 0:
                break
        print(f"{native.__file__}: {batches} batches, {rows:,} winners; take {take:.2f} CPU-s, "
              f"render {render:.2f}, total {take + render:.2f}", flush=True)


if __name__ == "__main__":
    main()
