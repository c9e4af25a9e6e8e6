"""`dynashift report`: the HTML page rendered in a real headless browser (Chromium). The DOM after
the page's script ran must hold every chart with a non-zero size and its marks; a screenshot is
taken (keep it with DYNASHIFT_KEEP_SCREENSHOT=path to look at it).

Without Chromium the test is skipped with a message, except in CI (CI=true), where it fails:
scripts/test.sh installs it when it runs as root with apt.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import duckdb
import orjson
import pytest

from dynashift import Config
from dynashift.pipeline import replicate
from support.simulated import simulate
from dynashift.sources import make_source
from dynashift.targets import make_target

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium() -> str:
    for name in BROWSERS:
        if path := shutil.which(name):
            return path
    message = ("Chromium is not installed, and the report is checked in a headless browser: install it "
               "(apt-get install chromium), or run ./scripts/test.sh as root, which installs it")
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def browse(html: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--no-first-run", "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'profile'}",
           *args, html.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def run(db: Path, source: str, **settings) -> None:
    config = Config(source=source, target=f"duckdb:///{db}", **settings)
    target = make_target(config.target)
    target.open()
    try:
        replicate(config, make_source(source, config), target)
    except Exception:  # noqa: BLE001 - a failed run is part of the history we want drawn
        pass
    finally:
        target.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Path:
    """Six runs of a simulated stream in batches of growing size, one that failed (a bad record
    with on_bad_record = fail) and its successful re-run, and a table with a hostile name."""
    tmp = tmp_path_factory.mktemp("report")
    summary = simulate(tmp / "sim", changes=12_000, tables=5, files=6, seed=3)
    db = tmp / "r.duckdb"
    for i, f in enumerate(summary.files, start=1):
        run(db, f"file://{f}", batch_size=150 * i)
    odd = tmp / "odd.jsonl"
    record = {"eventID": "e1", "eventName": "INSERT", "tableName": "Weird<&>\"'",
              "dynamodb": {"ApproximateCreationDateTime": 1_700_000_000_000, "Keys": {"pk": {"S": "<script>x</script>"}},
                           "NewImage": {"pk": {"S": "<script>x</script>"}, "<img src=x>": {"S": "y"}}}}
    odd.write_bytes(orjson.dumps(record) + b"\n{not json\n")
    run(db, f"file://{odd}", on_bad_record="fail")
    run(db, f"file://{odd}")
    con = duckdb.connect(str(db))
    # Lag is measured by live sources only: give these batches the values a Kinesis run would record.
    con.execute("UPDATE dynashift.batches SET lag_ms = CAST(abs(60000 * sin(batch / 3.0)) AS BIGINT) + 20 * batch")
    con.close()
    return db


def report(db: Path, out: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "dynashift.cli", "report", "--target", f"duckdb:///{db}", "--out",
                           str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out.read_text("utf-8")


def test_the_page_is_self_contained_and_escapes_what_it_shows(warehouse: Path, tmp_path: Path) -> None:
    page = report(warehouse, tmp_path / "report.html")
    assert not re.search(r"<(link|img|iframe)\b|\b(src|href)\s*=", page, re.I)  # nothing fetched from anywhere
    assert "<script>x</script>" not in page and "<img src=x>" not in page
    assert "weird&lt;&amp;&gt;&quot;&#x27;" in page  # the table's name, escaped
    assert page.count('<svg class="chart"') == 4
    assert "failing" not in page and "1 record rejected" in page  # the re-run succeeded; its reject is noted


def test_the_report_renders_in_a_headless_browser(warehouse: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    report(warehouse, out)
    dom = browse(out, tmp_path, "--dump-dom", "--window-size=1280,1600").stdout
    assert 'data-rendered="yes"' in dom, "the page's script did not run"
    charts = {}
    for card in re.finditer(r'<div class="card" id="chart-(\w+)">(.*?)</svg>', dom, re.S):
        svg = re.search(r'<svg class="chart"[^>]*>', card.group(2)).group(0)
        attrs = dict(re.findall(r'data-([a-z-]+)="(\d+)"', svg))
        charts[card.group(1)] = {k: int(v) for k, v in attrs.items()}
    assert set(charts) == {"throughput", "lag", "batch", "runs"}
    for name, size in charts.items():
        assert size["rendered-width"] > 300 and size["rendered-height"] > 100, (name, size)
        assert size["marks"] > 0, f"the {name} chart drew nothing"
    assert charts["runs"]["marks"] == 8  # one bar per run
    assert charts["throughput"]["marks"] > 30  # a point per batch, and the line
    rows = re.findall(r'<td class="name">', dom)
    assert len(rows) == 6  # five simulated tables and the hostile one

    shot = tmp_path / "report.png"
    browse(out, tmp_path, f"--screenshot={shot}", "--window-size=1280,1400", "--hide-scrollbars")
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])  # the PNG header's IHDR
    assert (width, height) == (1280, 1400)
    assert shot.stat().st_size > 40_000, "the screenshot looks blank"
    if keep := os.environ.get("DYNASHIFT_KEEP_SCREENSHOT"):
        shutil.copy(shot, keep)


def test_an_empty_target_gives_a_page_saying_so(tmp_path: Path) -> None:
    from dynashift.targets import make_target

    target = make_target(f"duckdb:///{tmp_path / 'empty.duckdb'}")
    target.open()  # the metadata, as a first run leaves it before its first batch; `report` creates nothing
    target.close()
    page = report(tmp_path / "empty.duckdb", tmp_path / "empty.html")
    assert "no batches yet" in page and "No tables yet." in page and ">idle<" in page
    dom = browse(tmp_path / "empty.html", tmp_path, "--dump-dom").stdout
    assert 'data-rendered="yes"' in dom
