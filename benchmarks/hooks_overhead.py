"""What web auto-capture costs a Flask, Django or FastAPI app per page, side by side with no SDK.

    .venv/bin/python benchmarks/hooks_overhead.py [--rounds 5] [--pages 10000] [--render-ms 1]
                                                  [--visitors 100] [--only flask ...]

One process serves a hello-world page that takes ``--render-ms`` of CPU to render through the
framework's WSGI or ASGI callable, one request after another, for ``--visitors`` returning
visitors, each request with the headers a browser sends (its ``ua_visitor`` cookie among the
site's others). The client is configured as a production app
would configure it: every setting at its default (``flush_interval`` 120 s, ``write_interval``
0.1 s, ``batch_size`` 500), sending to a receiver in another process that answers SUCCESS.

Each round gives each mode a turn of ``--pages`` pages, in an order that rotates:

- ``off``: the integration's patches removed: the app as it runs without the SDK;
- ``on``: auto-capture as deployed: a Screen View and a page load per page, queued, written to
  disk and sent in batches by the SDK's writer and sender threads;
- ``hooks``: the patches on, the client's tracking calls stubbed: the integration's own share.

Before each turn the SDK's threads are left to finish what they were doing (their CPU clocks
stop moving), so ``off`` and ``hooks`` never pay for what ``on`` queued. The default turn is
what wakes the sender once (20,000 records: 10,000 pages, or 20,000 API calls), so each ``on``
turn meets one round of the sender's work, as a busy server does. What the SDK's threads still
had to do when a turn ended (a round woken near its end) is done in the pause after it, on no
request's time: that CPU time is added to the turn's wall clock, as it would have been taken
from the requests had they gone on (the threads share the GIL with them).

Per turn: the wall-clock time and the request thread's CPU time per page. Throughout: the CPU
time of the writer and sender threads (their own clocks), until a final flush has delivered
every record. Reported, per framework (medians over the rounds; "added" is the median of the
differences between the turns of one round):

- request path, wall: how much longer each request takes with the SDK, its threads running
  beside it as they do (they share the GIL with the request);
- request thread CPU added: the hooks and the tracking calls, on the request's own thread;
- hooks alone: the same for the ``hooks`` turn;
- SDK threads per page: all the writer's and sender's CPU divided by the pages captured;
- total: request thread CPU added plus SDK threads per page, as a share of the page's own cost:
  what a server whose cores are all busy loses.

``--only isolated`` adds a table of the hooks alone with nothing else running: the tracking
calls stubbed throughout, the patches off and on in short alternating turns; the fastest turns'
difference is the least disturbed by other processes on a shared machine.

A last table serves a JSON endpoint (no render time) with ``capture_api_calls`` off and on: the
difference is what one "API Call" event costs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import usageanalytics as ua
from usageanalytics.client import Client
from usageanalytics.sender import RECORDS_PER_ROUND as WAKE_RECORDS

RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each answer waits ~40 ms for a delayed ACK
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

SDK_THREADS = ("usageanalytics-writer", "usageanalytics-sender")
ISOLATED_PAGES, ISOLATED_TURNS = 500, 23  # the hooks alone: short turns, many of them
# What auto-capture calls on the client; stubbed in the "hooks" turns.
TRACKING_CALLS = ("log_event", "log_screen_view", "log_page_load", "log_page_view")


class Turn(NamedTuple):
    """One mode's turn: pages served, and the wall-clock and request-thread CPU seconds."""

    pages: int
    wall: float
    cpu: float
    after: float = 0.0  # the SDK threads' CPU seconds in the pause after the turn (see above)


def render(milliseconds: float) -> str:
    """Spend ``milliseconds`` of CPU, as a template would."""
    end = time.thread_time() + milliseconds / 1000.0
    while time.thread_time() < end:
        pass
    return "<!doctype html><h1>Hello, world</h1>"


# -- the apps ---------------------------------------------------------------------------------------


def flask_app(render_ms: float) -> Callable[..., Any]:
    from flask import Flask

    app = Flask(__name__)

    @app.get("/hello/<name>")
    def hello(name: str) -> str:
        return render(render_ms)

    @app.get("/api/hello/<name>")
    def api_hello(name: str) -> dict[str, str]:
        return {"hello": name}

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


APPS: dict[str, Callable[[float], Callable[..., Any]]] = {
    "Flask": flask_app,
    "Django": django_app,
    "FastAPI": fastapi_app,
}


# -- serving ----------------------------------------------------------------------------------------


# What a browser sends with a page request (Chromium's navigation headers), the visitor cookie
# among the site's other cookies: the capture reads the request as a real one reaches it.
BROWSER_HEADERS = (
    ("host", "127.0.0.1"),
    ("connection", "keep-alive"),
    ("sec-ch-ua", '"Chromium";v="131", "Not_A Brand";v="24"'),
    ("sec-ch-ua-mobile", "?0"),
    ("sec-ch-ua-platform", '"Linux"'),
    ("upgrade-insecure-requests", "1"),
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36",
    ),
    (
        "accept",
        "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8",
    ),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-user", "?1"),
    ("sec-fetch-dest", "document"),
    ("referer", "http://127.0.0.1/hello/there"),
    ("accept-encoding", "gzip, deflate, br, zstd"),
    ("accept-language", "en-US,en;q=0.9"),
)


def cookie_header(visitor: str) -> str:
    return f"_ga=GA1.1.1234567890.1732870000; theme=dark; ua_visitor={visitor}; _ga_X1Y2=GS1.1.1732870000.1.0"


def environ(visitor: str, path: str) -> dict[str, Any]:
    headers = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in BROWSER_HEADERS}
    return {
        **headers,
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_COOKIE": cookie_header(visitor),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def serve_wsgi(app: Callable[..., Any], visitors: list[str], pages: int, path: str) -> Turn:
    """Serve ``pages`` requests, one after another, as a WSGI server's worker thread would."""
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        statuses.append(status)

    wall, cpu = time.perf_counter(), time.thread_time()
    for index in range(pages):
        for _ in app(environ(visitors[index % len(visitors)], path), start_response):
            pass
    turn = Turn(pages, time.perf_counter() - wall, time.thread_time() - cpu)
    assert all(status.startswith("200") for status in statuses), set(statuses)
    return turn


def serve_asgi(app: Callable[..., Any], visitors: list[str], pages: int, path: str) -> Turn:
    """Serve ``pages`` requests, one after another on one event loop, as an ASGI server would."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    headers = [(name.encode(), value.encode()) for name, value in BROWSER_HEADERS]

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
            "headers": [*headers, (b"cookie", cookie_header(visitor).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 80),
            "state": {},
        }

    async def run() -> Turn:
        wall, cpu = time.perf_counter(), time.thread_time()
        for index in range(pages):
            await app(scope(visitors[index % len(visitors)]), receive, send)
        return Turn(pages, time.perf_counter() - wall, time.thread_time() - cpu)

    turn = asyncio.run(run())
    assert all(status == 200 for status in statuses), set(statuses)
    return turn


SERVERS = {"Flask": serve_wsgi, "Django": serve_wsgi, "FastAPI": serve_asgi}


# -- the SDK's side -------------------------------------------------------------------------------


def checkout_env(path: str | None) -> dict[str, str]:
    """The environment of a process that runs another checkout (``--before DIR``): its package
    and integrations first on the path; without ``path``, this one's."""
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([path, os.path.join(path, "integrations")])
    return env


@contextmanager
def production_client() -> Iterator[None]:
    """The SDK configured as a production app would configure it (every setting at its default,
    a fresh data folder), sending to a receiver in another process that answers SUCCESS; shut
    down, and the receiver stopped, on the way out."""
    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER], stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        endpoint = f"http://127.0.0.1:{int(receiver.stdout.readline())}/v4/"
        with tempfile.TemporaryDirectory() as data:
            ua.configure(
                "benchmark", api_key="benchmark", endpoint=endpoint, data_dir=data, customer_account_id="acct"
            )
            yield
            ua.shutdown(timeout=60)
    finally:
        receiver.terminate()
        receiver.wait(timeout=60)


def sdk_cpu() -> float:
    """CPU seconds the SDK's writer and sender threads have used so far (their own clocks)."""
    total = 0.0
    for thread in threading.enumerate():
        if thread.name in SDK_THREADS and thread.ident is not None:
            with contextlib.suppress(OSError):  # it ended between enumerate() and now
                total += time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return total


def settle(limit: float = 60.0) -> None:
    """Wait until the SDK's threads are idle: their CPU clocks (nearly) still for 0.2 s.

    The writer wakes every 0.1 s even with nothing to write, which costs microseconds.
    """
    deadline = time.monotonic() + limit
    before = sdk_cpu()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = sdk_cpu()
        if now - before < 0.002:
            return
        before = now


def attach(framework: str, on: bool) -> None:
    """Auto-capture on or off for ``framework`` without a new client: its patches added or
    removed, as ``configure(auto_capture=...)`` would, but cheap enough to switch every turn."""
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


@contextmanager
def tracking_stubbed() -> Iterator[None]:
    """The client's tracking calls do nothing (no record, so the SDK's threads stay idle)."""
    saved = {name: vars(Client)[name] for name in TRACKING_CALLS if name in vars(Client)}
    try:
        for name in saved:
            setattr(Client, name, lambda *args, **kwargs: None)
        yield
    finally:
        for name, method in saved.items():
            setattr(Client, name, method)


# -- measuring --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Figures:
    off_rate: float  # pages/s, wall clock, without the SDK
    wall_added: float  # seconds per page
    cpu_added: float
    hooks: float | None
    background: float  # SDK threads' CPU seconds per captured page
    off_cpu: float  # the page's own CPU seconds

    def row(self, name: str) -> str:
        hooks = f"{self.hooks * 1e6:5.1f} µs" if self.hooks is not None else "   —    "
        total = self.cpu_added + self.background
        return (
            f"| {name:7} | {self.off_rate:8,.0f} | {self.wall_added * 1e6:5.1f} µs "
            f"({self.wall_added / self.off_cpu * 100:4.1f} %) | {self.cpu_added * 1e6:5.1f} µs | {hooks} | "
            f"{self.background * 1e6:5.1f} µs | {total * 1e6:5.1f} µs ({total / self.off_cpu * 100:4.1f} %) |"
        )


HEADER = (
    "| app     | off p/s  | request path, wall | req. thread CPU | hooks alone | SDK threads | total, CPU |\n"
    "|---------|----------|--------------------|-----------------|-------------|-------------|------------|"
)


def paired(turns: dict[str, list[Turn]], mode: str, field: str) -> float:
    """The median over rounds of (mode - off) per page, for ``"cpu"`` (the request thread's)
    or ``"wall"`` (with the SDK's work left for the pause after the turn)."""

    def cost(turn: Turn) -> float:
        return (turn.wall + turn.after if field == "wall" else turn.cpu) / turn.pages

    return statistics.median(cost(t) - cost(o) for t, o in zip(turns[mode], turns["off"], strict=True))


def run_rounds(
    modes: dict[str, Callable[[], Turn]], rounds: int, on: str = "on"
) -> tuple[dict[str, list[Turn]], float]:
    """Turns of every mode per round (order rotating); returns them and the SDK threads' CPU
    from the first turn until a final flush has delivered everything ``on`` queued."""
    names = list(modes)
    turns: dict[str, list[Turn]] = {name: [] for name in names}
    settle()
    started = sdk_cpu()
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            turn = modes[name]()
            before = sdk_cpu()
            settle()
            turns[name].append(turn._replace(after=sdk_cpu() - before))
    assert ua.flush(timeout=600), "the receiver did not get everything"
    return turns, sdk_cpu() - started


def measure(
    framework: str, app: Callable[..., Any], serve: Callable[..., Turn], args: argparse.Namespace
) -> None:
    visitors = [f"{n:032x}" for n in range(1, args.visitors + 1)]
    path = "/hello/world"
    pages = args.pages or WAKE_RECORDS // 2  # a Screen View and a page load per page

    def turn(mode: str) -> Callable[[], Turn]:
        def run() -> Turn:
            attach(framework, mode != "off")
            if mode == "hooks":
                with tracking_stubbed():
                    return serve(app, visitors, pages, path)
            return serve(app, visitors, pages, path)

        return run

    attach(framework, True)
    serve(app, visitors, max(pages // 10, len(visitors)), path)  # warm up: sessions, users
    assert ua.flush(timeout=600)
    turns, background = run_rounds({mode: turn(mode) for mode in ("off", "on", "hooks")}, args.rounds)
    attach(framework, True)
    off_wall = statistics.median(t.wall / t.pages for t in turns["off"])
    figures = Figures(
        off_rate=1 / off_wall,
        wall_added=paired(turns, "on", "wall"),
        cpu_added=paired(turns, "on", "cpu"),
        hooks=paired(turns, "hooks", "cpu"),
        background=background / sum(t.pages for t in turns["on"]),
        off_cpu=statistics.median(t.cpu / t.pages for t in turns["off"]),
    )
    print(figures.row(framework), flush=True)


def measure_api_calls(
    framework: str, app: Callable[..., Any], serve: Callable[..., Turn], args: argparse.Namespace
) -> None:
    client = ua.get_client()
    assert client is not None
    visitors = [f"{n:032x}" for n in range(1, args.visitors + 1)]
    path = "/api/hello/world"
    calls = args.pages or WAKE_RECORDS  # an API Call event per call
    settings = {flag: dataclasses.replace(client.settings, capture_api_calls=flag) for flag in (False, True)}

    def turn(capture: bool) -> Callable[[], Turn]:
        def run() -> Turn:
            client.settings = settings[capture]
            return serve(app, visitors, calls, path)

        return run

    attach(framework, True)
    serve(app, visitors, max(calls // 10, len(visitors)), path)
    try:
        turns, background = run_rounds({"off": turn(False), "on": turn(True)}, args.rounds)
    finally:
        client.settings = settings[False]
    off_wall = statistics.median(t.wall / t.pages for t in turns["off"])
    figures = Figures(
        off_rate=1 / off_wall,
        wall_added=paired(turns, "on", "wall"),
        cpu_added=paired(turns, "on", "cpu"),
        hooks=None,
        background=background / sum(t.pages for t in turns["on"]),
        off_cpu=statistics.median(t.cpu / t.pages for t in turns["off"]),
    )
    print(figures.row(framework), flush=True)


def measure_isolated(
    framework: str, app: Callable[..., Any], serve: Callable[..., Turn], args: argparse.Namespace
) -> None:
    """The hooks alone with nothing else running: the tracking calls stubbed throughout (so the
    SDK's threads stay idle and no record is made), the patches off and on in short turns."""
    visitors = [f"{n:032x}" for n in range(1, args.visitors + 1)]
    path = "/hello/world"
    pages = ISOLATED_PAGES
    cpu: dict[bool, list[float]] = {False: [], True: []}
    with tracking_stubbed():
        attach(framework, True)
        serve(app, visitors, pages, path)
        settle()
        for round_ in range(ISOLATED_TURNS):
            for on in (round_ % 2 == 0, round_ % 2 == 1):
                attach(framework, on)
                turn = serve(app, visitors, pages, path)
                cpu[on].append(turn.cpu / turn.pages)
    attach(framework, True)
    best = min(cpu[True]) - min(cpu[False])
    paired = statistics.median(on - off for on, off in zip(cpu[True], cpu[False], strict=True))
    off = min(cpu[False])
    row = f"| {framework:7} | {off * 1e6:7.1f} µs | {best * 1e6:8.1f} µs | {paired * 1e6:10.1f} µs |"
    print(row, flush=True)


ISOLATED_HEADER = (
    "| app     | page, off  | hooks, best | hooks, median |\n"
    "|---------|------------|-------------|---------------|"
)


def machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{datetime.date.today()}, {model}, {os.cpu_count()} cores, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--pages", type=int, help="pages per turn (default: what wakes the sender once: 20,000 records)"
    )
    parser.add_argument("--render-ms", type=float, default=1.0)
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--only", choices=["flask", "django", "fastapi", "api", "isolated"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["flask", "django", "fastapi", "api"])
    with production_client():
        print(machine())
        print(
            f"load average {os.getloadavg()[0]:.1f}; {args.visitors} visitors; {args.rounds} rounds of "
            f"{args.pages or WAKE_RECORDS // 2:,} pages per mode; "
            f"a page renders in {args.render_ms} ms of CPU"
        )
        print(HEADER)
        apps: dict[str, Callable[..., Any]] = {}

        def app(framework: str) -> Callable[..., Any]:  # each built once (Django's settings)
            if framework not in apps:
                apps[framework] = APPS[framework](args.render_ms)
            return apps[framework]

        for framework in ("Flask", "Django", "FastAPI"):
            if framework.lower() in only:
                measure(framework, app(framework), SERVERS[framework], args)
        if "isolated" in only:
            print()
            print(
                "The hooks alone, nothing else running (tracking calls stubbed throughout; "
                f"{ISOLATED_TURNS} turns each of {ISOLATED_PAGES} pages; "
                "best: the fastest turns' difference; median: of each round's difference)"
            )
            print(ISOLATED_HEADER)
            for framework in ("Flask", "Django", "FastAPI"):
                measure_isolated(framework, app(framework), SERVERS[framework], args)
        if "api" in only:
            print()
            print(
                "JSON endpoint, capture_api_calls off and on (one API Call event per request; "
                f"turns of {args.pages or WAKE_RECORDS:,} calls)"
            )
            print(HEADER.replace("hooks alone", "   —       ").replace("off p/s ", "off r/s "))
            for framework in ("Flask", "FastAPI"):
                measure_api_calls(framework, app(framework), SERVERS[framework], args)
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
