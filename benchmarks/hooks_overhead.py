"""What auto-capture adds to each request of a Flask, Django or FastAPI app.

    .venv/bin/python benchmarks/hooks_overhead.py [--rounds 15] [--seconds 0.5] [--render-ms 1]

The same hello-world page (an HTML response that takes ``--render-ms`` of CPU to render) is
served through the framework's WSGI or ASGI callable, in this process, with auto-capture off,
on, and "hooks only" (the client's tracking call stubbed: the integration's own share), in
rounds whose order rotates; one client throughout, the integration's patches removed and added
again between rounds. "On" does everything a real deployment does per page: a visitor cookie
from a pool of 100 returning visitors, a Screen View and a page load queued, written to disk
and sent in batches to a receiver in another process.

Costs are CPU time, so other processes on a shared machine blur them less than wall-clock rates
would. The request thread's CPU per page gives the rates (median of the rounds) and what
auto-capture adds to each request; the SDK's writer and sender threads' CPU, over the whole run
and the final flush, divided by the pages captured, is the background cost per page. "Total"
adds both, as a share of the page's own cost: what a server whose cores are all busy would
lose. A last table serves a JSON endpoint (no render time) with ``capture_api_calls`` off and
on: the difference is what one "API Call" event costs a request.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, NamedTuple

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


class Sample(NamedTuple):
    """One round: pages served, and the CPU seconds of the request thread and of the process."""

    pages: int
    thread: float
    process: float


def render(milliseconds: float) -> str:
    """Spend ``milliseconds`` of CPU, as a template would."""
    end = time.thread_time() + milliseconds / 1000.0
    while time.thread_time() < end:
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


def serve_asgi(app: Callable[..., Any], seconds: float, path: str = "/hello/world") -> Sample:
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

    async def run() -> Sample:
        count = 0
        thread, process = time.thread_time(), time.process_time()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            for visitor in VISITORS:
                await app(scope(visitor), receive, send)
            count += len(VISITORS)
        return Sample(count, time.thread_time() - thread, time.process_time() - process)

    sample = asyncio.run(run())
    assert all(status == 200 for status in statuses), set(statuses)
    return sample


def serve_wsgi(app: Callable[..., Any], seconds: float, path: str = "/hello/world") -> Sample:
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    count = 0
    thread, process = time.thread_time(), time.process_time()
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for visitor in VISITORS:
            for _ in app(environ(visitor, path), start_response):
                pass
        count += len(VISITORS)
    sample = Sample(count, time.thread_time() - thread, time.process_time() - process)
    assert all(status.startswith("200") for status in statuses), set(statuses)
    return sample


MODES = ("off", "on", "hooks only")


def attach(framework: str, on: bool) -> None:
    """Auto-capture on or off for ``framework`` without a new client: its patches added or
    removed, as ``configure(auto_capture=...)`` would, but cheap enough to switch every round."""
    import importlib

    integration, watched = {
        "Flask": ("usageanalytics_flask", "flask"),
        "Django": ("usageanalytics_django", "django.core.handlers.base"),
        "FastAPI": ("usageanalytics_starlette", "starlette.applications"),
    }[framework]
    module = importlib.import_module(integration)
    if on:
        module.install(importlib.import_module(watched))
    else:
        module.uninstall()


def measure(
    name: str, app: Callable[..., Any], serve: Callable[..., Sample], args: argparse.Namespace
) -> None:
    samples: dict[str, list[Sample]] = {mode: [] for mode in MODES}
    serve(app, 0.3)  # warm up
    log_event = Client.log_event
    background = 0.0  # CPU of the SDK's threads: all of it due to the "on" rounds' records
    try:
        for round_ in range(args.rounds):
            shift = round_ % len(MODES)
            for mode in MODES[shift:] + MODES[:shift]:
                attach(name, mode != "off")
                if mode == "hooks only":
                    Client.log_event = lambda *args, **kwargs: None  # type: ignore[method-assign]
                try:
                    sample = serve(app, args.seconds)
                finally:
                    Client.log_event = log_event  # type: ignore[method-assign]
                samples[mode].append(sample)
                background += sample.process - sample.thread
    finally:
        attach(name, True)
    started = time.process_time()
    assert ua.flush(timeout=600), "the receiver did not get everything"
    background += time.process_time() - started
    off, on, hooks = (statistics.median(s.thread / s.pages for s in samples[mode]) for mode in MODES)
    per_page = background / sum(s.pages for s in samples["on"])
    print(
        f"| {name:7} | {args.render_ms:4.1f} ms | {1 / off:9,.0f} | {1 / on:9,.0f} | "
        f"{(on - off) / off * 100:5.2f} % | {(on - off) * 1e6:5.1f} µs | {(hooks - off) * 1e6:5.1f} µs | "
        f"{per_page * 1e6:5.1f} µs | {(on - off + per_page) / off * 100:5.2f} % |",
        flush=True,
    )


def measure_isolated(
    name: str, app: Callable[..., Any], serve: Callable[..., Sample], args: argparse.Namespace
) -> None:
    """The hooks alone, with nothing else running: the tracking call stubbed throughout (no
    records, so the SDK's threads stay idle), the patches off and on in turn; best round each."""
    log_event = Client.log_event
    Client.log_event = lambda *args, **kwargs: None  # type: ignore[method-assign]
    best: dict[bool, float] = {False: float("inf"), True: float("inf")}
    try:
        for _ in range(args.rounds):
            for on in (False, True):
                attach(name, on)
                sample = serve(app, args.seconds)
                best[on] = min(best[on], sample.thread / sample.pages)
    finally:
        Client.log_event = log_event  # type: ignore[method-assign]
        attach(name, True)
    print(f"| {name:7} | {(best[True] - best[False]) * 1e6:5.1f} µs |", flush=True)


def measure_api_calls(
    name: str, app: Callable[..., Any], serve: Callable[..., Sample], args: argparse.Namespace
) -> None:
    client = ua.get_client()
    assert client is not None
    settings = {flag: dataclasses.replace(client.settings, capture_api_calls=flag) for flag in (False, True)}
    samples: dict[bool, list[Sample]] = {False: [], True: []}
    serve(app, 0.3, "/api/hello/world")
    background = 0.0
    for round_ in range(args.rounds):
        for capture in (False, True) if round_ % 2 else (True, False):
            client.settings = settings[capture]
            sample = serve(app, args.seconds, "/api/hello/world")
            samples[capture].append(sample)
            background += sample.process - sample.thread
    started = time.process_time()
    assert ua.flush(timeout=600), "the receiver did not get everything"
    background += time.process_time() - started
    client.settings = settings[False]
    off, on = (statistics.median(s.thread / s.pages for s in samples[flag]) for flag in (False, True))
    per_call = background / sum(s.pages for s in samples[True])
    print(
        f"| {name:7} | {1 / off:9,.0f} | {1 / on:9,.0f} | {(on - off) * 1e6:5.1f} µs | "
        f"{per_call * 1e6:5.1f} µs |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=0.5, help="per round and mode")
    parser.add_argument("--render-ms", type=float, default=1.0)
    parser.add_argument("--only", choices=["flask", "django", "fastapi", "api", "isolated"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["flask", "django", "fastapi", "api", "isolated"])
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        endpoint = f"http://127.0.0.1:{int(receiver.stdout.readline())}/v4/"
        with tempfile.TemporaryDirectory() as data:
            ua.configure(
                "benchmark",
                api_key="benchmark",
                endpoint=endpoint,
                data_dir=data,
                customer_account_id="acct",
                collect_device_attributes=False,
            )
            print(
                f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load average "
                f"{os.getloadavg()[0]:.1f}; median of {args.rounds} rounds of {args.seconds} s; CPU time"
            )
            print(
                "| app     | render  | off req/s | on req/s  | request | added/req | hooks only/req "
                "| SDK threads/page | total |"
            )
            print(
                "|---------|---------|-----------|-----------|---------|-----------|----------------"
                "|------------------|-------|"
            )
            apps: dict[str, Callable[..., Any]] = {}

            def app(framework: str) -> Callable[..., Any]:  # each built once (Django's settings)
                if framework not in apps:
                    make = {"Flask": flask_app, "Django": django_app, "FastAPI": fastapi_app}[framework]
                    apps[framework] = make(args.render_ms)
                return apps[framework]

            if "flask" in only:
                measure("Flask", app("Flask"), serve_wsgi, args)
            if "django" in only:
                measure("Django", app("Django"), serve_wsgi, args)
            if "fastapi" in only:
                measure("FastAPI", app("FastAPI"), serve_asgi, args)
            if "api" in only:
                print()
                print("JSON endpoint, capture_api_calls off and on (one API Call event per request)")
                print("| app     | off req/s | on req/s  | added/req | SDK threads/call |")
                print("|---------|-----------|-----------|-----------|------------------|")
                measure_api_calls("Flask", flask_api_app(), serve_wsgi, args)
                measure_api_calls("FastAPI", fastapi_app(0), serve_asgi, args)
            if "isolated" in only:
                print()
                print("The hooks alone, the tracking call stubbed throughout (best round of each)")
                print("| app     | hooks/req |")
                print("|---------|-----------|")
                for framework, serve in (
                    ("Flask", serve_wsgi),
                    ("Django", serve_wsgi),
                    ("FastAPI", serve_asgi),
                ):
                    measure_isolated(framework, app(framework), serve, args)
            ua.shutdown(timeout=30)
    finally:
        receiver.terminate()
        receiver.wait(timeout=30)


if __name__ == "__main__":
    main()
