"""A fault-injecting HTTP proxy between dynashift (real boto3) and the moto server, for the
source-fault tests: point `--endpoint-url` at `FaultProxy.url`; every request is forwarded to moto
unless a rule answers it with a fault instead.

Faults, each the way the service (or the network) shows it to a client:
- `throttle`  400 ProvisionedThroughputExceededException (GetRecords, GetShardIterator) or
              LimitExceededException (ListShards, DescribeStreamSummary): per-shard limits hit
- `expire`    400 ExpiredIteratorException for GetRecords on an iterator that is not fresh (one
              handed out as NextShardIterator): a real iterator expires after five minutes, so a
              fresh one from GetShardIterator never has
- `error`     500 InternalFailure / 503 ServiceUnavailable
- `drop`      the request reaches moto, the connection is closed before the answer (a reset)
- `deny`      400 AccessDeniedException, always, for the operations named (a missing permission)
- `outage()`  for a while, the endpoint stops answering: every request is held without an answer
              until the outage ends, then its connection is closed (counted as `held`)

`injected` counts the faults by kind; `forwarded` the requests moto answered, by operation.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import orjson

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "te", "upgrade"}
_THROTTLE_CODE = {"ListShards": "LimitExceededException", "DescribeStreamSummary": "LimitExceededException",
                  "DescribeStream": "LimitExceededException"}


class FaultProxy:
    def __init__(self, upstream: str, *, seed: int = 0, throttle: float = 0.0, expire: float = 0.0,
                 error: float = 0.0, drop: float = 0.0, only: tuple[str, ...] = (), deny: tuple[str, ...] = ()):
        """Probabilities per request. `only`: the operations faults apply to (default: all)."""
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.rates = {"throttle": throttle, "expire": expire, "error": error, "drop": drop}
        self.only, self.deny = only, deny
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()
        self.forwarded: Counter[str] = Counter()
        self.fresh: set[str] = set()  # iterators handed out by GetShardIterator, not yet used
        self.down_until = 0.0
        self.server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="faultproxy", daemon=True)

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.down_until = 0.0
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def set(self, **rates: float) -> None:
        with self.lock:
            self.rates.update(rates)

    def outage(self, seconds: float) -> None:
        """From now on, for `seconds`, the endpoint stops answering."""
        self.down_until = time.monotonic() + seconds
        with self.lock:
            self.injected["outage"] += 1

    @property
    def total(self) -> int:
        return sum(self.injected.values())

    # ------------------------------------------------------------ decisions

    def decide(self, operation: str, body: dict[str, Any]) -> str | None:
        """The fault for this request, or None to forward it."""
        if operation in self.deny:
            with self.lock:
                self.injected["deny"] += 1
            return "deny"
        if self.only and operation not in self.only:
            return None
        with self.lock:
            iterator = body.get("ShardIterator")
            fresh = iterator in self.fresh
            self.fresh.discard(iterator)
            for kind in ("throttle", "expire", "error", "drop"):
                if kind == "expire" and (operation != "GetRecords" or fresh):
                    continue
                if self.rates[kind] and self.rng.random() < self.rates[kind]:
                    self.injected[kind] += 1
                    return kind
        return None

    def fault_answer(self, kind: str, operation: str) -> tuple[int, dict[str, str]]:
        if kind == "throttle":
            code = _THROTTLE_CODE.get(operation, "ProvisionedThroughputExceededException")
            return 400, {"__type": code, "message": "Rate exceeded (injected by the test proxy)"}
        if kind == "expire":
            return 400, {"__type": "ExpiredIteratorException", "message": "Iterator expired (injected)"}
        if kind == "deny":
            return 400, {"__type": "AccessDeniedException", "message": f"not authorized to perform kinesis:{operation}"}
        if self.rng.random() < 0.5:
            return 500, {"__type": "InternalFailure", "message": "injected"}
        return 503, {"__type": "ServiceUnavailable", "message": "injected"}

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        con = http.client.HTTPConnection(*self.upstream, timeout=60)
        try:
            con.request(method, path, body=body, headers=headers)
            resp = con.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            con.close()

    def remember(self, operation: str, data: bytes) -> None:
        if operation != "GetShardIterator":
            return
        try:
            iterator = orjson.loads(data).get("ShardIterator")
        except orjson.JSONDecodeError:
            return
        if iterator:
            with self.lock:
                self.fresh.add(iterator)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up on a held or dropped request: expected here


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as boto3's connection pool expects

        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802 - the http.server spelling
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
            if self._held():
                return
            try:
                request = orjson.loads(body) if body else {}
            except orjson.JSONDecodeError:
                request = {}
            kind = proxy.decide(operation, request if isinstance(request, dict) else {})
            if kind in ("throttle", "expire", "error", "deny"):
                status, payload = proxy.fault_answer(kind, operation)
                self._answer(status, [("Content-Type", "application/x-amz-json-1.1")], orjson.dumps(payload))
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            status, resp_headers, data = proxy.forward("POST", self.path, headers, body)
            with proxy.lock:
                proxy.forwarded[operation] += 1
            proxy.remember(operation, data)
            if kind == "drop":
                self._hang_up()
                return
            self._answer(status, [(k, v) for k, v in resp_headers if k.lower() not in _HOP], data)

        def _held(self) -> bool:
            """During an outage: hold the request unanswered until it ends, then hang up."""
            if time.monotonic() >= proxy.down_until:
                return False
            with proxy.lock:
                proxy.injected["held"] += 1
            while time.monotonic() < proxy.down_until:
                time.sleep(0.05)
            self._hang_up()
            return True

        def _hang_up(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler
