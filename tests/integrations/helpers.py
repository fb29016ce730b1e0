"""Reading what reached the strict server, and running apps in real server processes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

import usageanalytics as ua
from tests.conftest import API_KEY
from tests.support.strict_server import StrictServer

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"


def flushed(server: StrictServer) -> StrictServer:
    """``server`` once the shared client has sent everything, none of it rejected."""
    assert ua.flush(timeout=30)
    assert server.rejected == []
    return server


def params(event: dict[str, Any]) -> dict[str, Any]:
    """An event's parameters as ``{name: value}``."""
    values: dict[str, Any] = {}
    for parameter in event.get("parameters", []):
        for field in ("stringValue", "numberValue", "booleanValue"):
            if field in parameter:
                values[parameter["attributeName"]] = parameter[field]
    return values


def screen_views(server: StrictServer) -> list[tuple[str, str]]:
    """``(userId, Screen Name)`` of every Screen View received, in order."""
    return [(e["_envelope"]["userId"], params(e)["Screen Name"]) for e in server.events("Screen View")]


def page_loads(server: StrictServer) -> list[dict[str, Any]]:
    """The parameters of every page_load_event, with the user under ``userId``."""
    return [dict(params(e), userId=e["_envelope"]["userId"]) for e in server.events("page_load_event")]


def taps(server: StrictServer) -> list[tuple[str, str]]:
    """``(Screen Name, Control)`` of every Tap received, in order."""
    return [(params(e)["Screen Name"], params(e)["Control"]) for e in server.events("Tap")]


def broken_capture(*args: Any, **kwargs: Any) -> None:
    """Stands in for a piece of the capture with a bug: the app must never notice."""
    raise RuntimeError("capture bug")


def sdk_env(server: StrictServer, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a child process needs to report to ``server``."""
    return sdk_env_for(server.endpoint, API_KEY, data_dir, **extra)


def sdk_env_for(endpoint: str, api_key: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a child process needs to report to ``endpoint``."""
    env = dict(os.environ)
    for leaked in ("DJANGO_SETTINGS_MODULE", "UA_TEST_DJANGO_DB"):  # set by the in-process tests
        env.pop(leaked, None)
    env.update(
        USAGEANALYTICS_APP_ID="app-process",
        USAGEANALYTICS_API_KEY=api_key,
        USAGEANALYTICS_ENDPOINT=endpoint,
        USAGEANALYTICS_DATA_DIR=str(data_dir),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


class Served:
    """A server process: its base URL, and its stderr once it has exited."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.stderr = ""


_LISTENING = re.compile(r"^PORT (\d+)|http://127\.0\.0\.1:(\d+)")


@contextlib.contextmanager
def serving(
    args: list[str],
    env: dict[str, str],
    timeout: float = 60.0,
    interrupt: bool = False,
    merge_stderr: bool = False,
) -> Iterator[Served]:
    """Start a server process that prints ``PORT <n>`` (or its URL) once listening; yield it.

    On leaving, close its stdin (the test apps shut down cleanly, flushing the SDK, when it
    closes), or with ``interrupt`` press Ctrl-C (SIGINT), and wait for it to exit; fail if it
    exited with an error. ``merge_stderr`` for servers that say they listen on stderr.
    """
    process = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        # A server that hangs on its way out is ended with SIGABRT first: faulthandler then
        # prints every thread's stack, and the failure shows where it hung.
        env={"PYTHONFAULTHANDLER": "1", **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + timeout
        port = None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            found = _LISTENING.search(line)
            if found:
                port = int(found.group(1) or found.group(2))
                break
        if port is None:
            process.kill()
            _, err = process.communicate(timeout=30)
            raise AssertionError(f"server process did not start: {err[-3000:]}")
        served = Served(f"http://127.0.0.1:{port}")
        yield served
    finally:
        if process.poll() is None:
            assert process.stdin is not None
            process.stdin.close()
            if interrupt:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGABRT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=30)
        stderr = process.stderr.read() if process.stderr else ""
        if port is not None:
            served.stderr = stderr
        if process.returncode not in (0, None, -signal.SIGINT):
            raise AssertionError(f"server process exited {process.returncode}: {stderr[-8000:]}")
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def run_script(
    args: list[str], env: dict[str, str], timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    """Run a Python script to completion; fail with its stderr if it fails."""
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{args} exited {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )
    return done


# What a browser's navigation sends (an API client sends */* or application/json): only its
# redirects count toward a page's requestCount.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def http_client() -> httpx.Client:
    """A cookie-keeping browser stand-in for one visitor of a real server."""
    return httpx.Client(
        timeout=30.0, follow_redirects=True, trust_env=False, headers={"Accept": BROWSER_ACCEPT}
    )
