"""A minimal HTTP server on 127.0.0.1 that answers what a test scripts, for failure cases.

It checks Basic auth for real and records every request; it knows nothing about the spec's
fields (the collector's validation is the one reading of the spec). Tests queue answers with
:meth:`ScriptedServer.answer`; once the queue is empty, ``default`` answers.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)


@dataclass
class Answer:
    status: int = 200
    body: Any = field(default_factory=lambda: {"status": "SUCCESS"})
    headers: dict[str, str] = field(default_factory=dict)


Responder = Callable[[Seen], Answer]


class ScriptedServer:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.requests: list[Seen] = []
        self.default: Responder = lambda seen: Answer()
        self._queue: list[Answer | Responder] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server._handle(self)

            do_POST = do_PUT = do_DELETE = do_GET

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def endpoint(self) -> str:
        return self.base + "/v4/"

    @property
    def financial_endpoint(self) -> str:
        return self.base + "/dashboards/v4/financial/"

    def answer(self, *answers: Answer | Responder) -> None:
        """Answer the next requests with these, in order."""
        with self._lock:
            self._queue.extend(answers)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        parts = urlsplit(handler.path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        seen = Seen(
            handler.command,
            parts.path,
            dict(parse_qsl(parts.query)),
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        expected = "Basic " + base64.b64encode(f"apikey:{self.api_key}".encode()).decode()
        with self._lock:
            self.requests.append(seen)
            scripted = self._queue.pop(0) if self._queue else self.default
        if handler.headers.get("Authorization") != expected:
            answer = Answer(401, {"status": "ERROR", "message": "bad credentials"})
        else:
            answer = scripted if isinstance(scripted, Answer) else scripted(seen)
        payload = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
        handler.send_response(answer.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        for key, value in answer.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(payload)
