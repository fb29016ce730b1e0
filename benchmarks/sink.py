"""A permissive local server that accepts every SDK's batches and counts the events in them.

Runs in its own process (``python benchmarks/sink.py PORT``) so that its JSON parsing does not
share a GIL with the SDK being measured. It answers what each SDK expects as success
(``{"status": "SUCCESS"}`` for SmartKarrot, 200 for PostHog and Segment) and keeps per-path
event counts, readable with ``GET /count``.
"""

from __future__ import annotations

import gzip
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_counts: dict[str, int] = {}
_lock = threading.Lock()


def events_in(body: Any) -> int:
    """Events in a batch of any of the three SDKs."""
    if not isinstance(body, dict):
        return 0
    for key in ("events", "batch"):
        if isinstance(body.get(key), list):
            return len(body[key])
    return 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/reset":
            with _lock:
                _counts.clear()
            self._reply({})
            return
        if self.headers.get("Content-Encoding") == "gzip":
            raw = gzip.decompress(raw)
        try:
            count = events_in(json.loads(raw))
        except ValueError:
            count = 0
        with _lock:
            _counts[self.path] = _counts.get(self.path, 0) + count
        self._reply({"status": "SUCCESS"})

    def do_GET(self) -> None:
        with _lock:
            self._reply({"total": sum(_counts.values()), "paths": dict(_counts)})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever(0.05)


if __name__ == "__main__":
    main()
