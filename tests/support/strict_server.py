"""A strict SmartKarrot stand-in on 127.0.0.1 for the core's tests, with fault injection.

It checks Basic auth and every field the spec's tables require (``strict=True`` validation, shared
with the collector), records what it accepted, and can be told to fail: 503 storms, 429 with
Retry-After, 401, INVALID_INPUT, hanging without an answer, 413 over ``max_body_bytes``, and
hostile answers: a fault's body may be raw bytes (garbage, JSON nested 100,000 deep), a
:class:`Drip` (one byte at a time) or a :class:`Stall` (an answer after a delay).
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from usageanalytics.collector.validation import InvalidInput, validate_tracking


@dataclass(frozen=True)
class Drip:
    """Answer with ``body`` one byte every ``interval`` seconds (a slow or hostile server)."""

    body: bytes
    interval: float = 1.0


@dataclass(frozen=True)
class Stall:
    """Wait ``seconds``, then answer ``body`` (JSON) normally."""

    seconds: float
    body: dict[str, Any]


Answer = "dict[str, Any] | bytes | Drip | Stall"
Fault = Callable[[str, dict[str, Any]], "tuple[int, dict[str, str], Answer] | None"]


def deep_json(depth: int = 100_000) -> bytes:
    """A JSON document nested ``depth`` deep: valid, and a RecursionError for naive parsers."""
    return b'{"status": "SUCCESS", "x": ' + b"[" * depth + b"]" * depth + b"}"


@dataclass
class Received:
    path: str
    body: dict[str, Any]
    at: float = field(default_factory=time.time)
    size: int = 0  # bytes of the request body


class StrictServer:
    """Start with ``with StrictServer(api_key) as server:``; ``server.endpoint`` is the v4 URL."""

    def __init__(self, api_key: str = "test-key", port: int = 0) -> None:
        self.api_key = api_key
        self.accepted: list[Received] = []
        self.rejected: list[tuple[str, str]] = []  # (path, reason) of 4xx answers
        self.attempts: list[Received] = []  # every well-formed request, whatever the answer
        self.duplicates = 0  # requests whose idempotency id was already accepted
        self.fault: Fault | None = None
        self.max_body_bytes: int | None = None  # larger bodies get 413, as the collector's limit
        self.hang = threading.Event()  # set: requests block until release()
        self.held = threading.Event()  # set once a request is blocked by hang
        self._release = threading.Event()
        self._seen_ids: set[str] = set()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/v4/"

    def __enter__(self) -> StrictServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._httpd.shutdown()
        self._httpd.server_close()

    def release(self) -> None:
        self.hang.clear()
        self._release.set()

    # -- assertions helpers --------------------------------------------------------------------

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Accepted events (with their request's envelope under ``_envelope``)."""
        with self._lock:
            found = []
            for item in self.accepted:
                if item.path != "usageanalytics/event":
                    continue
                envelope = {k: v for k, v in item.body.items() if k != "events"}
                for event in item.body["events"]:
                    if name is None or event["name"] == name:
                        found.append(dict(event, _envelope=envelope))
            return found

    def bodies(self, path: str) -> list[dict[str, Any]]:
        with self._lock:
            return [item.body for item in self.accepted if item.path == path]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                self._lock.release()
                try:
                    if predicate():
                        return True
                finally:
                    self._lock.acquire()
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(min(remaining, 0.1))

    # -- the handler ---------------------------------------------------------------------------

    def _answer(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any] | bytes | Drip | Stall,
        headers: dict[str, str] | None = None,
    ) -> None:
        with contextlib.suppress(OSError):  # the client gave up (a timeout): nothing to answer
            self._send(handler, status, body, headers)

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any] | bytes | Drip | Stall,
        headers: dict[str, str] | None,
    ) -> None:
        if isinstance(body, Stall):
            time.sleep(body.seconds)
            body = body.body
        drip = body.interval if isinstance(body, Drip) else None
        if isinstance(body, Drip):
            payload = body.body
        elif isinstance(body, bytes):
            payload = body
        else:
            payload = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if drip is None:
            handler.wfile.write(payload)
            return
        for index in range(len(payload)):
            handler.wfile.write(payload[index : index + 1])
            handler.wfile.flush()
            time.sleep(drip)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        raw = handler.rfile.read(length)
        path = handler.path.split("?")[0]
        if path.startswith("/v4/"):
            path = path[len("/v4/") :]
        path = path.strip("/")
        if self.hang.is_set():
            self.held.set()
            self._release.wait(120)
        try:
            body = json.loads(raw)
        except ValueError:
            self._answer(handler, 400, {"status": "INVALID_INPUT", "message": "malformed JSON"})
            return
        with self._changed:
            self.attempts.append(Received(path, body, size=len(raw)))
            self._changed.notify_all()
        expected = "Basic " + base64.b64encode(f"apikey:{self.api_key}".encode()).decode()
        if handler.headers.get("Authorization") != expected:
            self._answer(handler, 401, {"status": "ERROR", "message": "bad credentials"})
            return
        if self.max_body_bytes is not None and len(raw) > self.max_body_bytes:
            with self._changed:
                self.rejected.append((path, "413"))
            too_large = f"the request body is larger than {self.max_body_bytes:,} bytes"
            self._answer(handler, 413, {"status": "INVALID_INPUT", "message": too_large})
            return
        if self.fault is not None:
            injected = self.fault(path, body)
            if injected is not None:
                status, headers, answer = injected
                if 400 <= status < 500 and status not in (401, 403, 429):
                    with self._changed:
                        self.rejected.append((path, str(answer)[:200]))
                self._answer(handler, status, answer, headers)
                return
        try:
            validate_tracking(path, body, strict=True)
        except KeyError:
            self._answer(handler, 404, {"status": "ERROR", "message": f"no endpoint {path}"})
            return
        except InvalidInput as exc:
            with self._changed:
                self.rejected.append((path, str(exc)))
                self._changed.notify_all()
            self._answer(handler, 400, {"status": "INVALID_INPUT", "message": str(exc)})
            return
        with self._changed:
            key = body.get("idempotencyId")
            if key in self._seen_ids:
                self.duplicates += 1
            else:
                if key:
                    self._seen_ids.add(key)
                self.accepted.append(Received(path, body, size=len(raw)))
            self._changed.notify_all()
        self._answer(handler, 200, {"status": "SUCCESS"})
