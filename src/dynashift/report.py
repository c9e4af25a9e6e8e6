"""`dynashift report`: one self-contained HTML page (inline CSS and SVG, a few lines of inline
JS; no network) that a person looks at: health, throughput, lag and batch sizes over recent runs,
the runs themselves, and the tables with their activity and schema growth.

Charts are drawn here as SVG from status_info.history's series, so the page renders the same in any
browser, in a mail attachment, or with scripts off. The inline script only adds hover read-outs.
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Any, Callable, Sequence

BLUE, GREEN, GREY, RED, AMBER, INK = "#2563eb", "#16a34a", "#9ca3af", "#dc2626", "#d97706", "#1f2937"
STATE_COLORS = {"healthy": GREEN, "warning": AMBER, "failing": RED, "idle": GREY}
RUN_COLORS = {"ok": GREEN, "running": BLUE, "failed": RED, "interrupted": AMBER, "lost": AMBER}
MAX_POINTS = 400  # batches beyond this are averaged into buckets
W, H = 560, 200  # chart size (it scales with the page: viewBox)
PAD = (48, 12, 26, 26)  # left, right, top, bottom


def render_html(info: dict[str, Any], past: dict[str, Any]) -> str:
    """The whole page from status_info.gather (`info`) and status_info.history (`past`)."""
    batches = past["batches"]
    cards = [
        _chart_card("Throughput", "records per second, per batch", _throughput(batches)),
        _chart_card("Lag behind the stream", "milliseconds, per batch (live sources)", _lag(batches)),
        _chart_card("Batch sizes", "records per batch: applied, skipped, rejected", _batch_sizes(batches)),
        _chart_card("Runs", "records read per run, by outcome", _runs(past["runs"])),
    ]
    body = [_header(info, past), _kpis(info, past), '<section class="grid">', *cards, "</section>",
            _tables(info, past), _footer(past)]
    return _PAGE.format(title=_e(f"dynashift report: {info['target']}"), css=_CSS, body="\n".join(body), js=_JS)


# ---------------------------------------------------------------- page parts


def _header(info: dict[str, Any], past: dict[str, Any]) -> str:
    state = info["health"]["state"]
    notes = "".join(f"<li>{_e(n)}</li>" for n in info["health"]["notes"])
    return (f'<header><div><h1>dynashift</h1><div class="target">{_e(info["target"])}</div></div>'
            f'<div class="badge" style="background:{STATE_COLORS[state]}">{_e(state)}</div></header>'
            + (f'<ul class="notes">{notes}</ul>' if notes else ""))


def _kpis(info: dict[str, Any], past: dict[str, Any]) -> str:
    batches = past["batches"]
    rates = sorted(b["records"] / b["seconds"] for b in batches if b["seconds"])
    lags = [c["lag_ms"] for c in info["checkpoints"] if c.get("lag_ms") is not None]
    if not lags and batches and batches[-1]["lag_ms"] is not None:
        lags = [batches[-1]["lag_ms"]]  # as of the last batch
    items = [
        ("tables", f"{len(info['tables']):,}"),
        ("rows", _big(sum(t["rows"] for t in info["tables"]))),
        ("changes applied", _big(sum(r["changes_applied"] for r in past["runs"]))),
        ("records/s (median batch)", _big(rates[len(rates) // 2]) if rates else "–"),
        ("lag now", _ms(max(lags)) if lags else "–"),
        ("rejected", f"{info['rejected']:,}"),
    ]
    return '<section class="kpis">' + "".join(
        f'<div class="kpi"><div class="v">{_e(v)}</div><div class="k">{_e(k)}</div></div>' for k, v in items) + "</section>"


def _chart_card(title: str, subtitle: str, svg: str) -> str:
    key = title.split()[0].lower()
    return (f'<div class="card" id="chart-{key}"><h2>{_e(title)}</h2><div class="sub">{_e(subtitle)}</div>'
            f"{svg}</div>")


def _tables(info: dict[str, Any], past: dict[str, Any]) -> str:
    per_table: dict[str, list[float]] = {t["table"]: [] for t in info["tables"]}
    for b in past["batches"]:
        for name in per_table:
            per_table[name].append(b["tables"].get(name, 0))
    rows = []
    biggest = max((t["rows"] for t in info["tables"]), default=0) or 1
    for t in info["tables"]:
        width = max(2, round(120 * t["rows"] / biggest))
        growth = _growth(past["columns_first_seen"].get(t["table"], []))
        rows.append(
            f'<tr><td class="name">{_e(t["table"])}<div class="src">{_e(t["source_table"])}</div></td>'
            f'<td class="num">{t["rows"]:,}<svg class="bar" width="124" height="8"><rect width="{width}" height="8" '
            f'rx="2" fill="{BLUE}"/></svg></td><td class="num">{t["columns"]:,}</td>'
            f'<td>{_spark(per_table[t["table"]], BLUE, "changes applied per batch")}</td><td>{growth}</td>'
            f'<td>{_e(_when(t["last_change"]))}</td><td>{_e(_when(t["last_sync"]))}</td></tr>')
    if not rows:
        return '<section class="card wide"><h2>Tables</h2><p class="empty">No tables yet.</p></section>'
    head = "".join(f"<th>{h}</th>" for h in ("table", "rows", "columns", "activity", "columns over time",
                                              "last change", "last sync"))
    return (f'<section class="card wide"><h2>Tables</h2><div class="sub">rows now; changes applied per batch; '
            f'columns as attributes appeared</div><table class="tables"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></section>')


def _footer(past: dict[str, Any]) -> str:
    runs, batches = past["runs"], past["batches"]
    span = f"runs {runs[0]['run_id']}–{runs[-1]['run_id']}, " if runs else ""
    return f'<footer>{span}{len(batches):,} batches · generated {_e(_when(past["generated_at"]))}</footer>'


# ---------------------------------------------------------------- the charts


def _throughput(batches: list[dict[str, Any]]) -> str:
    points = [(b["applied_at"], b["records"] / b["seconds"] if b["seconds"] else 0.0) for b in batches]
    return _line(points, BLUE, _big, "no batches yet", "records/s")


def _lag(batches: list[dict[str, Any]]) -> str:
    points = [(b["applied_at"], float(b["lag_ms"])) for b in batches if b["lag_ms"] is not None]
    return _line(points, AMBER, _ms, "no lag measured: lag comes from live sources (kinesis://, dynamodb-streams://)",
                 "lag")


def _batch_sizes(batches: list[dict[str, Any]]) -> str:
    stacks = [(b["applied_at"], [b["applied"], b["skipped"], b["rejected"]]) for b in batches]
    return _bars(_bucket_stacks(stacks), [GREEN, GREY, RED], ["applied", "skipped", "rejected"], "no batches yet")


def _runs(runs: list[dict[str, Any]]) -> str:
    stacks = [(f"run {r['run_id']} ({r['status']})", [r["records_read"]]) for r in runs]
    colors = [RUN_COLORS.get(r["status"], GREY) for r in runs]
    return _bars(stacks, colors, ["records read"], "no runs yet", per_bar_colors=True)


def _line(points: list[tuple[str, float]], color: str, fmt: Callable[[float], str], empty: str, what: str) -> str:
    if not points:
        return _empty(empty)
    points = _bucket_points(points)
    top = _nice(max(v for _, v in points))
    x0, x1, y0, y1 = PAD[0], W - PAD[1], H - PAD[3], PAD[2]
    n = len(points)
    xy = [(x0 + (x1 - x0) * (i / (n - 1) if n > 1 else 0.5), y0 - (y0 - y1) * v / top) for i, (_, v) in enumerate(points)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(xy))
    area = f"{path} L{xy[-1][0]:.1f},{y0} L{xy[0][0]:.1f},{y0} Z"
    dots = "".join(f'<circle class="mark" cx="{x:.1f}" cy="{y:.1f}" r="{2.5 if n < 80 else 1.2}" fill="{color}">'
                   f"<title>{_e(_when(t))}: {_e(fmt(v))} {what if what != 'lag' else ''}</title></circle>"
                   for (x, y), (t, v) in zip(xy, points))
    return _svg(_axes(top, fmt, [t for t, _ in points])
                + f'<path d="{area}" fill="{color}" opacity="0.12"/>'
                + f'<path class="mark" d="{path}" fill="none" stroke="{color}" stroke-width="2"/>' + dots)


def _bars(stacks: Sequence[tuple[str, list[float]]], colors: list[str], names: list[str], empty: str,
          per_bar_colors: bool = False) -> str:
    if not stacks:
        return _empty(empty)
    top = _nice(max(sum(v) for _, v in stacks) or 1)
    x0, x1, y0, y1 = PAD[0], W - PAD[1], H - PAD[3], PAD[2]
    slot = (x1 - x0) / len(stacks)
    width = max(1.0, slot * 0.75)
    marks = []
    for i, (label, values) in enumerate(stacks):
        base = y0
        for j, v in enumerate(values):
            h = (y0 - y1) * v / top
            color = colors[i] if per_bar_colors else colors[j]
            tip = f"{_e(_when(label))}: {v:,.0f} {_e(names[0] if per_bar_colors else names[j])}"
            if h > 0 or (per_bar_colors and j == 0):  # a run that read nothing still shows (a stub)
                h = max(h, 2.0)
                marks.append(f'<rect class="mark" x="{x0 + i * slot + (slot - width) / 2:.1f}" y="{base - h:.1f}" '
                             f'width="{width:.1f}" height="{h:.1f}" fill="{color}"><title>{tip}</title></rect>')
            base -= h
    legend = "" if per_bar_colors else "".join(
        f'<rect x="{x1 - 210 + k * 72}" y="4" width="9" height="9" fill="{c}"/>'
        f'<text x="{x1 - 198 + k * 72}" y="12" class="legend">{_e(n)}</text>' for k, (c, n) in enumerate(zip(colors, names)))
    return _svg(_axes(top, _big, [s[0] for s in stacks]) + "".join(marks) + legend)


def _axes(top: float, fmt: Callable[[float], str], labels: list[str]) -> str:
    x0, x1, y0, y1 = PAD[0], W - PAD[1], H - PAD[3], PAD[2]
    parts = []
    step = _step(top)
    ticks = max(1, round(top / step))
    for k in range(ticks + 1):
        y = y0 - (y0 - y1) * k / ticks
        parts.append(f'<line x1="{x0}" x2="{x1}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{x0 - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{_e(fmt(top * k / ticks))}</text>')
    span = _span(labels)
    if labels:
        for i in sorted({0, len(labels) // 2, len(labels) - 1}):
            x = x0 + (x1 - x0) * ((i + 0.5) / len(labels))
            anchor = "start" if i == 0 and len(labels) > 1 else "end" if i == len(labels) - 1 and i else "middle"
            parts.append(f'<text x="{x:.1f}" y="{H - 8}" class="tick" text-anchor="{anchor}">'
                         f"{_e(_when(labels[i], short=True, span=span))}</text>")
    return "".join(parts)


def _svg(inner: str) -> str:
    return f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" preserveAspectRatio="xMidYMid meet">{inner}</svg>'


def _empty(text: str) -> str:
    return _svg(f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="empty-text">{_e(text)}</text>')


def _spark(values: list[float], color: str, what: str, width: int = 140, height: int = 28) -> str:
    if len(values) > MAX_POINTS // 4:
        step = math.ceil(len(values) / (MAX_POINTS // 4))
        values = [sum(values[i:i + step]) for i in range(0, len(values), step)]
    if not values or not any(values):
        return '<span class="empty">–</span>'
    top = max(values)
    n = len(values)
    pts = " ".join(f"{(i / (n - 1) if n > 1 else 0.5) * (width - 2) + 1:.1f},{height - 2 - (height - 4) * v / top:.1f}"
                   for i, v in enumerate(values))
    return (f'<svg class="spark" width="{width}" height="{height}"><polyline points="{pts}" fill="none" '
            f'stroke="{color}" stroke-width="1.5"/><title>{_e(what)}: {sum(values):,.0f} in all, at most '
            f"{top:,.0f}</title></svg>")


def _growth(first_seen: list[str]) -> str:
    """A step line of the column count over time (one step per attribute that appeared)."""
    if not first_seen:
        return '<span class="empty">–</span>'
    times = sorted(datetime.fromisoformat(t).timestamp() for t in first_seen if t)
    if len(times) < 2 or times[-1] == times[0]:
        return f'<span class="flat">{len(first_seen)} since {_e(_when(first_seen[0], short=True))}</span>'
    width, height, span = 140, 28, times[-1] - times[0]
    pts, count = [], 0
    for t in times:
        x = 1 + (width - 2) * (t - times[0]) / span
        pts.append(f"{x:.1f},{height - 2 - (height - 4) * count / len(times):.1f}")
        count += 1
        pts.append(f"{x:.1f},{height - 2 - (height - 4) * count / len(times):.1f}")
    return (f'<svg class="spark" width="{width}" height="{height}"><polyline points="{" ".join(pts)}" fill="none" '
            f'stroke="{GREEN}" stroke-width="1.5"/><title>{len(times)} columns, the last added '
            f"{_e(_when(first_seen[-1]))}</title></svg>")


# ---------------------------------------------------------------- numbers and time


def _bucket_points(points: list[tuple[str, float]]) -> list[tuple[str, float]]:
    if len(points) <= MAX_POINTS:
        return points
    step = math.ceil(len(points) / MAX_POINTS)
    return [(points[i][0], sum(v for _, v in points[i:i + step]) / len(points[i:i + step]))
            for i in range(0, len(points), step)]


def _bucket_stacks(stacks: list[tuple[str, list[float]]]) -> list[tuple[str, list[float]]]:
    if len(stacks) <= MAX_POINTS // 2:
        return stacks
    step = math.ceil(len(stacks) / (MAX_POINTS // 2))
    return [(stacks[i][0], [sum(col) / len(stacks[i:i + step]) for col in zip(*(v for _, v in stacks[i:i + step]))])
            for i in range(0, len(stacks), step)]


def _nice(top: float) -> float:
    """A round axis maximum at or above `top`: a multiple of a round step (1, 2, 2.5 or 5 times a
    power of ten) chosen so that the axis has three or four intervals."""
    step = _step(top)
    return step * max(1, math.ceil(top / step - 1e-9))


def _step(top: float) -> float:
    if top <= 0:
        return 1.0
    rough = top / 4
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= rough)


def _big(v: float) -> str:
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= size:
            return f"{v / size:.3g}{unit}"
    return f"{v:.3g}" if v % 1 else f"{v:,.0f}"


def _ms(v: float) -> str:
    return f"{v:,.0f} ms" if v < 1000 else f"{v / 1000:,.1f} s" if v < 120_000 else f"{v / 60_000:,.1f} min"


def _when(value: str | None, short: bool = False, span: float | None = None) -> str:
    """An ISO time for people; `short` for axis labels, with seconds when the axis spans under an hour."""
    if not value:
        return ""
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        return value
    if not short:
        return t.strftime("%Y-%m-%d %H:%M:%S")
    return t.strftime("%H:%M:%S" if span is not None and span < 3600 else "%m-%d %H:%M")


def _span(labels: list[str]) -> float | None:
    """Seconds between the first and last label, when they are times."""
    try:
        return (datetime.fromisoformat(labels[-1]) - datetime.fromisoformat(labels[0])).total_seconds()
    except (ValueError, IndexError, TypeError):
        return None


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;background:#f3f4f6;margin:0;padding:24px}
header{display:flex;justify-content:space-between;align-items:center;max-width:1180px;margin:0 auto 8px}
h1{margin:0;font-size:22px}.target{color:#6b7280;font-family:ui-monospace,monospace;font-size:12px}
.badge{color:#fff;font-weight:600;padding:6px 14px;border-radius:999px;text-transform:uppercase;letter-spacing:.05em}
.notes{max-width:1180px;margin:0 auto 12px;color:#92400e}
.kpis{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;max-width:1180px;margin:12px auto}
.kpi{background:#fff;border-radius:10px;padding:12px 14px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.kpi .v{font-size:22px;font-weight:600}.kpi .k{color:#6b7280;font-size:12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:12px;max-width:1180px;margin:0 auto}
.card{background:#fff;border-radius:10px;padding:14px 16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.card.wide{max-width:1148px;margin:12px auto}
h2{margin:0;font-size:15px}.sub{color:#6b7280;font-size:12px;margin-bottom:6px}
svg.chart{width:100%;height:auto;display:block}
.grid line{stroke:#e5e7eb}.tick,.legend{font-size:10px;fill:#6b7280}.empty-text{font-size:12px;fill:#9ca3af}
line.grid{stroke:#e5e7eb}
table.tables{width:100%;border-collapse:collapse}
.tables th{text-align:left;color:#6b7280;font-weight:500;font-size:12px;border-bottom:1px solid #e5e7eb;padding:6px}
.tables td{padding:6px;border-bottom:1px solid #f3f4f6;vertical-align:middle}
.tables .num{text-align:right;white-space:nowrap}.tables .name{font-weight:600}
.src{color:#9ca3af;font-weight:400;font-size:11px}svg.bar{display:block;margin-left:auto;margin-top:3px}
.empty,.flat{color:#9ca3af;font-size:12px}
footer{max-width:1180px;margin:12px auto;color:#9ca3af;font-size:12px}
#tip{position:fixed;pointer-events:none;background:#111827;color:#fff;padding:4px 8px;border-radius:6px;font-size:12px;display:none}
"""

# Hover read-outs from the marks' <title>s, and sizes recorded on each chart (what a test can check).
_JS = """
(function(){
  var tip=document.getElementById('tip');
  document.querySelectorAll('svg.chart').forEach(function(svg){
    var r=svg.getBoundingClientRect();
    svg.setAttribute('data-rendered-width',Math.round(r.width));
    svg.setAttribute('data-rendered-height',Math.round(r.height));
    svg.setAttribute('data-marks',svg.querySelectorAll('.mark').length);
  });
  document.querySelectorAll('.mark').forEach(function(m){
    var t=m.querySelector('title'); if(!t) return;
    m.addEventListener('mousemove',function(e){tip.textContent=t.textContent;tip.style.display='block';
      tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';});
    m.addEventListener('mouseleave',function(){tip.style.display='none';});
  });
  document.body.setAttribute('data-rendered','yes');
})();
"""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title><style>{css}</style></head>
<body>
{body}
<div id="tip"></div>
<script>{js}</script>
</body></html>
"""
