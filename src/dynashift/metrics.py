"""Prometheus metrics for `dynashift run --metrics-port PORT`: counters of what was read, applied,
skipped and rejected, batch latency, and lag per shard, in Prometheus' text exposition format,
served by a stdlib HTTP server thread (no dependency; the format is a few lines of text).

A scrape reads a snapshot taken under a lock; batches update it from the pipeline's thread.
ref: https://prometheus.io/docs/instrumenting/exposition_formats/
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .errors import ConfigError
from .pipeline import BatchStats

# Seconds per batch: most batches take well under a second; Redshift batches may take minutes.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTERS = {  # name -> help; each labelled by source
    "dynashift_records_read_total": "Change records read from the source.",
    "dynashift_changes_applied_total": "Changes written to the target tables.",
    "dynashift_records_rejected_total": "Records that went to dynashift.rejected.",
    "dynashift_bytes_read_total": "Bytes of change records read.",
    "dynashift_batches_total": "Batches committed (one target transaction each).",
}
_LEASES = (  # several workers per pipeline (leases.py): this worker's leases
    ("dynashift_leases_held", "held", "gauge", "Shard leases this worker holds."),
    ("dynashift_leases_taken_total", "taken", "counter", "Shard leases this worker took (free, expired or stolen)."),
    ("dynashift_leases_stolen_total", "stolen", "counter", "Of those, taken from a live worker to even the load."),
    ("dynashift_leases_lost_total", "lost", "counter", "Shard leases this worker found taken over by another."),
    ("dynashift_commits_refused_total", "commits_refused", "counter",
     "Batches refused at commit because another worker had taken one of their shards' leases."),
)
_SKIPPED = ("duplicate", "stale", "superseded", "ttl_ignored")


class Metrics:
    """This process's metrics: one instance per `dynashift run`, fed with `observe`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, str], float] = {}
        self._skipped: dict[tuple[str, str], int] = {}
        self._lag: dict[tuple[str, str], int] = {}
        self._buckets = [0] * len(LATENCY_BUCKETS)
        self._latency_sum = 0.0
        self._latency_count = 0
        self._last_batch: dict[str, float] = {}
        self._last_records: dict[str, int] = {}
        self._leases: dict[str, dict[str, int]] = {}
        self.started = time.time()

    def observe(self, b: BatchStats) -> None:
        """Count one committed batch (an observer of pipeline.replicate)."""
        with self._lock:
            if b.leases is not None:
                self._leases[b.source] = dict(b.leases)
            if b.refused:
                return
            for name, value in (("dynashift_records_read_total", b.records),
                                ("dynashift_changes_applied_total", b.applied),
                                ("dynashift_records_rejected_total", b.rejected),
                                ("dynashift_bytes_read_total", b.bytes), ("dynashift_batches_total", 1)):
                self._counters[(name, b.source)] = self._counters.get((name, b.source), 0) + value
            for reason, value in zip(_SKIPPED, (b.duplicates, b.stale, b.superseded, b.ttl_ignored)):
                self._skipped[(b.source, reason)] = self._skipped.get((b.source, reason), 0) + value
            for shard, ms in b.lag.items():
                self._lag[(b.source, shard)] = ms
            for i, bound in enumerate(LATENCY_BUCKETS):
                if b.seconds <= bound:
                    self._buckets[i] += 1
            self._latency_sum += b.seconds
            self._latency_count += 1
            self._last_batch[b.source] = time.time()
            self._last_records[b.source] = b.records

    def render(self) -> str:
        """The text exposition format, version 0.0.4."""
        with self._lock:
            lines: list[str] = []
            for name, help_text in _COUNTERS.items():
                _header(lines, name, help_text, "counter")
                for (metric, source), value in sorted(self._counters.items()):
                    if metric == name:
                        lines.append(f"{name}{_labels(source=source)} {_number(value)}")
            _header(lines, "dynashift_records_skipped_total",
                    "Records read but not applied: duplicate, stale, superseded in their batch, TTL ignored.", "counter")
            for (source, reason), value in sorted(self._skipped.items()):
                lines.append(f"dynashift_records_skipped_total{_labels(source=source, reason=reason)} {value}")
            _header(lines, "dynashift_batch_seconds", "Seconds to apply and commit a batch (one target transaction).",
                    "histogram")
            for bound, count in zip(LATENCY_BUCKETS, self._buckets):
                lines.append(f'dynashift_batch_seconds_bucket{{le="{bound:g}"}} {count}')
            lines.append(f'dynashift_batch_seconds_bucket{{le="+Inf"}} {self._latency_count}')
            lines.append(f"dynashift_batch_seconds_sum {_number(self._latency_sum)}")
            lines.append(f"dynashift_batch_seconds_count {self._latency_count}")
            _header(lines, "dynashift_batch_records", "Records in the last committed batch.", "gauge")
            for source, n in sorted(self._last_records.items()):
                lines.append(f"dynashift_batch_records{_labels(source=source)} {n}")
            _header(lines, "dynashift_shard_lag_milliseconds",
                    "How far each shard's reader is behind the newest record, as of the last batch.", "gauge")
            for (source, shard), ms in sorted(self._lag.items()):
                lines.append(f"dynashift_shard_lag_milliseconds{_labels(source=source, shard=shard)} {ms}")
            _header(lines, "dynashift_last_batch_timestamp_seconds", "When the last batch was committed.", "gauge")
            for source, at in sorted(self._last_batch.items()):
                lines.append(f"dynashift_last_batch_timestamp_seconds{_labels(source=source)} {_number(at)}")
            for name, key, kind, help_text in _LEASES:
                if self._leases:
                    _header(lines, name, help_text, kind)
                for source, counts in sorted(self._leases.items()):
                    lines.append(f"{name}{_labels(source=source)} {counts.get(key, 0)}")
            _header(lines, "dynashift_start_time_seconds", "When this process started.", "gauge")
            lines.append(f"dynashift_start_time_seconds {_number(self.started)}")
        return "\n".join(lines) + "\n"


def _header(lines: list[str], name: str, help_text: str, kind: str) -> None:
    lines.append(f"# HELP {name} {help_text}")
    lines.append(f"# TYPE {name} {kind}")


def _labels(**labels: str) -> str:
    def escape(v: str) -> str:
        return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(str(v))}"' for k, v in labels.items()) + "}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class _Handler(BaseHTTPRequestHandler):
    metrics: Metrics

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        if self.path.split("?", 1)[0] not in ("/metrics", "/"):
            self.send_error(404, "metrics are at /metrics")
            return
        body = self.server.metrics.render().encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not news


class MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, metrics: Metrics, host: str, port: int):
        self.metrics = metrics
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/metrics"


def serve(metrics: Metrics, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve `metrics` at http://HOST:PORT/metrics from a daemon thread; `shutdown()` stops it.
    Port 0 picks a free port (see `.url`)."""
    try:
        server = MetricsServer(metrics, host, port)
    except OSError as exc:
        raise ConfigError(f"cannot serve metrics on {host}:{port} ({exc.strerror or exc}): "
                          "choose another --metrics-port") from None
    threading.Thread(target=server.serve_forever, name="dynashift-metrics", daemon=True).start()
    return server
