"""What auto-capture adds to each request of a Flask, Django or FastAPI app.

    .venv/bin/python benchmarks/hooks_overhead.py [--rounds 9] [--seconds 1] [--render-ms 1]

The same hello-world page (an HTML response that takes ``--render-ms`` of CPU to render) is
served through the framework's WSGI or ASGI callable, in this process, with auto-capture off and
on in alternating rounds; requests per second are compared within the run, so the figure is a
ratio on one machine at one moment (the median of the rounds). "On" does everything a real
deployment does per page: a visitor cookie from a pool of 100 returning visitors, a Screen View
and a page load queued, written to disk and sent in batches to a receiver in another process.
A third mode, "hooks only", stubs the client's tracking call to show the integration's own
share. Rates are requests per second of the process's CPU time (the serving thread and the
SDK's writer and sender threads together), and the page renders for ``--render-ms`` of CPU
time: other processes on a shared machine then change the figures less than wall-clock rates
would (``--clock wall`` measures elapsed time instead, where the SDK's background threads run
on another core beside the request). Before each round the previous round's records are all
delivered, so its background work is not counted in the next. A last table serves a JSON
endpoint (no render time) with ``capture_api_calls`` off and on: the difference is what one
"API Call" event costs a request.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import usageanalytics as ua
from usageanalytics.client import Client

RECEIVER = """
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b'{"status": "SUCCESS"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""

VISITORS = [f"{n:032x}" for n in range(1, 101)]
CLOCK: list[Callable[[], float]] = [time.process_time]  # --clock wall: time.perf_counter


def render(milliseconds: float) -> str:
    """Spend ``milliseconds`` of CPU (or of wall time, with ``--clock wall``), as a template would."""
    clock = time.thread_time if CLOCK[0] is time.process_time else time.perf_counter
    end = clock() + milliseconds / 1000.0
    while clock() < end:
        pass
    return "<!doctype html><h1>Hello, world</h1>"


def flask_app(render_ms: float) -> Callable[..., Any]:
    from flask import Flask

    app = Flask(__name__)

    @app.get("/hello/<name>")
    def hello(name: str) -> str:
        return render(render_ms)

    return app.wsgi_app


def django_app(render_ms: float) -> Callable[..., Any]:
    import django
    from django.conf import settings
    from django.http import HttpResponse
    from django.urls import path

    def hello(request: Any, name: str) -> HttpResponse:
        return HttpResponse(render(render_ms))

    settings.configure(
        DEBUG=False,
        SECRET_KEY="benchmark",
        ALLOWED_HOSTS=["*"],
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    )
    globals()["urlpatterns"] = [path("hello/<str:name>", hello)]
    django.setup()
    from django.core.wsgi import get_wsgi_application

    return get_wsgi_application()


def fastapi_app(render_ms: float) -> Callable[..., Any]:
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    app = FastAPI()

    @app.get("/hello/{name}", response_class=HTMLResponse)
    async def hello(name: str) -> str:  # async: no thread pool hop to blur the figures
        return render(render_ms)

    @app.get("/api/hello/{name}")
    async def api_hello(name: str) -> dict[str, str]:
        return {"hello": name}

    return app


def flask_api_app() -> Callable[..., Any]:
    from flask import Flask

    app = Flask(__name__)

    @app.get("/api/hello/<name>")
    def api_hello(name: str) -> dict[str, str]:
        return {"hello": name}

    return app.wsgi_app


def environ(visitor: str, path: str = "/hello/world") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": f"ua_visitor={visitor}",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def asgi_requests_per_second(app: Callable[..., Any], seconds: float, path: str = "/hello/world") -> float:
    """Drive an ASGI app as a server would, one request after another on one event loop."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    def scope(visitor: str) -> dict[str, Any]:
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"cookie", f"ua_visitor={visitor}".encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }

    async def run() -> float:
        count = 0
        started = CLOCK[0]()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for visitor in VISITORS:
                await app(scope(visitor), receive, send)
            count += len(VISITORS)
        return count / (CLOCK[0]() - started)

    rate = asyncio.run(run())
    assert all(status == 200 for status in statuses), set(statuses)
    return rate


def requests_per_second(app: Callable[..., Any], seconds: float, path: str = "/hello/world") -> float:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    count = 0
    started = CLOCK[0]()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for visitor in VISITORS:
            for _ in app(environ(visitor, path), start_response):
                pass
        count += len(VISITORS)
    elapsed = CLOCK[0]() - started
    assert all(status.startswith("200") for status in statuses), set(statuses)
    return count / elapsed


MODES = ("off", "on", "hooks only")


def configure(endpoint: str, data: str, **options: Any) -> None:
    ua.configure(
        "benchmark",
        api_key="benchmark",
        endpoint=endpoint,
        data_dir=data,
        customer_account_id="acct",
        collect_device_attributes=False,
        **options,
    )


def measure(
    name: str,
    app: Callable[..., Any],
    rate: Callable[..., float],
    args: argparse.Namespace,
    endpoint: str,
    data: str,
) -> None:
    rates: dict[str, list[float]] = {mode: [] for mode in MODES}
    rate(app, 0.3)  # warm up
    log_event = Client.log_event
    for _ in range(args.rounds):
        for mode in MODES:
            # Nothing of the last round left to send: its background work must not count here.
            assert ua.flush(timeout=60), "the receiver did not get everything"
            configure(endpoint, data, auto_capture=mode != "off")
            if mode == "hooks only":
                Client.log_event = lambda *args, **kwargs: None  # type: ignore[method-assign]
            try:
                rates[mode].append(rate(app, args.seconds))
            finally:
                Client.log_event = log_event  # type: ignore[method-assign]
    assert ua.flush(timeout=60), "the receiver did not get everything"
    off, on, hooks = (statistics.median(rates[mode]) for mode in MODES)
    print(
        f"| {name:7} | {args.render_ms:4.1f} ms | {off:9,.0f} | {on:9,.0f} | {(1 - on / off) * 100:6.2f} % | "
        f"{(1 / on - 1 / off) * 1e6:6.1f} µs | {(1 / hooks - 1 / off) * 1e6:6.1f} µs |",
        flush=True,
    )


def measure_api_calls(
    name: str,
    app: Callable[..., Any],
    rate: Callable[..., float],
    args: argparse.Namespace,
    endpoint: str,
    data: str,
) -> None:
    rates: dict[bool, list[float]] = {False: [], True: []}
    rate(app, 0.3, "/api/hello/world")
    for _ in range(args.rounds):
        for capture in (False, True):
            assert ua.flush(timeout=60), "the receiver did not get everything"
            configure(endpoint, data, capture_api_calls=capture)
            rates[capture].append(rate(app, args.seconds, "/api/hello/world"))
    assert ua.flush(timeout=60), "the receiver did not get everything"
    off, on = statistics.median(rates[False]), statistics.median(rates[True])
    print(f"| {name:7} | {off:9,.0f} | {on:9,.0f} | {(1 / on - 1 / off) * 1e6:6.1f} µs |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--seconds", type=float, default=1.0, help="per round and mode")
    parser.add_argument("--render-ms", type=float, default=1.0)
    parser.add_argument("--only", choices=["flask", "django", "fastapi", "api"], action="append")
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu: the process's CPU time, background threads included (the default); wall: "
        "elapsed time, where the SDK's threads run beside the request on another core",
    )
    args = parser.parse_args()
    CLOCK[0] = time.process_time if args.clock == "cpu" else time.perf_counter
    only = set(args.only or ["flask", "django", "fastapi", "api"])
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        endpoint = f"http://127.0.0.1:{int(receiver.stdout.readline())}/v4/"
        with tempfile.TemporaryDirectory() as data:
            print(
                f"Python {sys.version.split()[0]}, {os.cpu_count()} cores; median of {args.rounds} rounds; "
                f"{args.clock} time; load average {os.getloadavg()[0]:.1f}"
            )
            print("| app     | render  | off req/s | on req/s  | overhead | added/req | hooks only/req |")
            print("|---------|---------|-----------|-----------|----------|-----------|----------------|")
            if "flask" in only:
                measure("Flask", flask_app(args.render_ms), requests_per_second, args, endpoint, data)
            if "django" in only:
                measure("Django", django_app(args.render_ms), requests_per_second, args, endpoint, data)
            if "fastapi" in only:
                measure(
                    "FastAPI", fastapi_app(args.render_ms), asgi_requests_per_second, args, endpoint, data
                )
            if "api" in only:
                print()
                print("JSON endpoint, capture_api_calls off and on (an API Call event per request)")
                print("| app     | off req/s | on req/s  | API Call/req |")
                print("|---------|-----------|-----------|--------------|")
                measure_api_calls("Flask", flask_api_app(), requests_per_second, args, endpoint, data)
                measure_api_calls("FastAPI", fastapi_app(0), asgi_requests_per_second, args, endpoint, data)
            ua.shutdown(timeout=30)
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)


if __name__ == "__main__":
    main()
