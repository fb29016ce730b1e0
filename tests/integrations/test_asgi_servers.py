"""The FastAPI site under real ASGI servers on 127.0.0.1: uvicorn (one process, and two workers),
gunicorn with uvicorn workers (with and without ``--preload``) and hypercorn, in both import
orders. Two signed-in users browse at once (pages, a streamed page, a background task, JSON, a
websocket); the server is then stopped with SIGTERM, as ``docker stop`` does, and everything
must arrive: the SDK sends nothing before it stops, so the pages, API calls and the sessions'
ends reach the strict server through each process's exit path. The exit status is the
server's own."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.integrations.helpers import ROOT, http_client, page_loads, params, screen_views, sdk_env
from tests.integrations.websocket_client import echo
from tests.support.strict_server import StrictServer

APP = "tests.integrations.apps.fastapi_main:app"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def command(kind: str, port: int) -> list[str]:
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    if kind == "uvicorn":
        return ["-m", "uvicorn", APP, *bind, "--log-level", "warning"]
    if kind == "uvicorn --workers 2":
        return ["-m", "uvicorn", APP, *bind, "--workers", "2", "--log-level", "warning"]
    if kind.startswith("gunicorn"):
        preload = ["--preload"] if "--preload" in kind else []
        return [
            "-m",
            "gunicorn",
            APP,
            "-k",
            "uvicorn.workers.UvicornWorker",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--graceful-timeout",
            "30",
            *preload,
        ]
    if kind == "hypercorn":
        return ["-m", "hypercorn", APP, "--bind", f"127.0.0.1:{port}"]
    raise ValueError(kind)


@contextmanager
def running(kind: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start the server; yield its URL once it answers; stop it with SIGTERM and wait."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, *command(kind, port)],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{kind} exited {process.returncode}: {process.stdout.read()[-3000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(url + "/health", timeout=5, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{kind} did not start listening")
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        if process.stdout is not None:
            process.output = process.stdout.read()  # type: ignore[attr-defined]
            process.stdout.close()


def browse(url: str) -> dict[str, str]:
    """Two users at once; returns each one's visitor id."""
    port = int(url.rsplit(":", 1)[1])
    visitors: dict[str, str] = {}

    def visit(name: str) -> str:
        with http_client() as browser:
            browser.headers["Authorization"] = f"Bearer {name}"
            for path in ("/v1/shop/items/1", "/stream", "/background", f"/together/{name}"):
                response = browser.get(url + path)
                assert response.status_code == 200, (path, response.status_code)
            assert browser.get(url + "/api/items/7").json() == {"item_id": 7}
            assert echo("127.0.0.1", port, "/ws", name) == f"echo {name}"
            return str(browser.cookies["ua_visitor"])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(visit, name) for name in ("alice", "bob")}
        for name, future in futures.items():
            visitors[name] = future.result(timeout=120)
    return visitors


CASES = [
    ("uvicorn", "configure-first"),
    ("uvicorn", "app-first"),
    ("uvicorn --workers 2", "configure-first"),
    ("gunicorn", "app-first"),
    ("gunicorn --preload", "configure-first"),
    ("hypercorn", "app-first"),
]


@pytest.mark.parametrize(("kind", "order"), CASES)
def test_real_asgi_server(server: StrictServer, tmp_path: Path, kind: str, order: str) -> None:
    env = sdk_env(server, tmp_path / "sdk", UA_TEST_ORDER=order)
    with running(kind, env) as (url, process):
        visitors = browse(url)
    output = process.output  # type: ignore[attr-defined]
    expected_status = -signal.SIGTERM if kind == "uvicorn" else 0  # uvicorn re-raises the signal
    assert process.returncode == expected_status, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert server.rejected == []

    assert server.wait_for(lambda: len(server.events("app_session_end")) >= 2, timeout=30), output[-3000:]
    views = screen_views(server)
    for name in ("alice", "bob"):
        mine = sorted(screen for user, screen in views if user == name)
        assert mine == ["/background", "/stream", "/together/{name}", "/v1/shop/items/{item_id}"], views
    loads = page_loads(server)
    assert len(loads) == 8
    for load in loads:
        if load["pageUrl"].startswith("/together/"):
            assert load["pageUrl"] == f"/together/{load['userId']}"  # never the other user's
        if load["pageUrl"] == "/stream":
            assert load["loadTime"] >= 150  # until the last chunk was sent
    calls = [dict(params(e), userId=e["_envelope"]["userId"]) for e in server.events("API Call")]
    assert sorted((c["userId"], c["Route"]) for c in calls) == [
        ("alice", "/api/items/{item_id}"),
        ("bob", "/api/items/{item_id}"),
    ]
    background = sorted(e["_envelope"]["userId"] for e in server.events("Background Done"))
    assert background == ["alice", "bob"]
    ended = {e["_envelope"]["userId"] for e in server.events("app_session_end")}
    assert {"alice", "bob"} <= ended
    for name, visitor in visitors.items():  # each one's guest became the user
        assert any(
            b["userId"] == name and b.get("lastLoggedInUserId") == visitor
            for b in server.bodies("usageanalytics/user")
        )


def test_uvicorn_sigterm_delivers_what_was_logged_just_before(server: StrictServer, tmp_path: Path) -> None:
    """uvicorn restores the default SIGTERM action and raises it again after its graceful
    shutdown, so interpreter exit handlers never run: the integration runs the SDK's exit path
    at the end of uvicorn's shutdown instead."""
    env = sdk_env(server, tmp_path / "sdk", UA_TEST_ORDER="configure-first")
    with running("uvicorn", env) as (url, process), http_client() as browser:
        for n in range(50):
            assert browser.get(f"{url}/v1/shop/items/{n}").status_code == 200
    assert process.returncode == -signal.SIGTERM
    assert len(server.events("Screen View")) == 50
    assert len(server.events("app_session_end")) == 1
    assert server.rejected == []
