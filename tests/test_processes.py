"""Real processes: SIGKILL, fork, several processes on one data folder, exit with a hung server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.strict_server import StrictServer
from tests.test_delivery import free_port
from usageanalytics.status import read_status

ROOT = Path(__file__).resolve().parent.parent
FAST = {"retry_base": 0.05, "retry_cap": 0.5, "exit_timeout": 2.0}


def start_child(mode: str, payload: dict[str, Any]) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.child", mode, json.dumps(payload)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def read_until(stream: IO[str], predicate: Any, timeout: float = 180.0) -> list[str]:
    """Read lines until ``predicate(line)``; fail the test if the stream ends or time runs out."""
    lines: list[str] = []
    done = threading.Event()
    matched = threading.Event()

    def reader() -> None:
        for line in stream:
            lines.append(line.strip())
            if predicate(line.strip()):
                matched.set()
                break
        done.set()

    threading.Thread(target=reader, daemon=True).start()
    assert done.wait(timeout), f"child did not report in {timeout} s; got {lines[-3:]}"
    assert matched.is_set(), f"child's output ended without the line awaited; got {lines[-3:]}"
    return lines


def deliver(server: StrictServer, data_dir: Path) -> None:
    child = start_child(
        "deliver",
        {"configure": {"endpoint": server.endpoint, "data_dir": str(data_dir), **FAST}, "timeout": 120},
    )
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, f"deliver failed: {out} {err}"


def indexes(server: StrictServer, name: str) -> list[int]:
    return sorted(e["parameters"][0]["numberValue"] for e in server.events(name))


def down_endpoint() -> str:
    return f"http://127.0.0.1:{free_port()}/v4/"


def test_sigkill_one_second_after_the_last_call_loses_nothing(tmp_path: Path) -> None:
    child = start_child(
        "log",
        {
            "configure": {"endpoint": down_endpoint(), "data_dir": str(tmp_path), **FAST},
            "count": 2000,
            "linger": True,
        },
    )
    try:
        read_until(child.stdout, lambda line: line == "DONE")  # type: ignore[arg-type]
        time.sleep(1.0)  # the documented window: SIGKILL one second after the last call
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    assert read_status(tmp_path).queued >= 2000
    with StrictServer() as server:
        deliver(server, tmp_path)
        assert indexes(server, "Logged") == list(range(2000))
        assert server.duplicates == 0
        assert server.rejected == []
    assert read_status(tmp_path).queued == 0, "the dead process's queue was adopted and emptied"


def test_sigkill_while_logging_keeps_a_gapless_prefix(tmp_path: Path) -> None:
    child = start_child(
        "log",
        {
            "configure": {"endpoint": down_endpoint(), "data_dir": str(tmp_path), **FAST},
            "count": 10_000_000,
            "linger": True,
        },
    )
    try:
        deadline = time.monotonic() + 180
        while read_status(tmp_path).queued < 3000:
            assert time.monotonic() < deadline, "the child never persisted 3000 records"
            assert child.poll() is None, child.stderr.read()  # type: ignore[union-attr]
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    with StrictServer() as server:
        deliver(server, tmp_path)
        received = indexes(server, "Logged")
        assert len(received) >= 3000 - 2  # minus the user upsert and session start
        assert received == list(range(len(received))), "no gaps, no duplicates"
        assert server.duplicates == 0


def test_durable_mode_loses_nothing_even_mid_call(tmp_path: Path) -> None:
    child = start_child(
        "log",
        {
            "configure": {"endpoint": down_endpoint(), "data_dir": str(tmp_path), "durable": True, **FAST},
            "count": 10_000_000,
            "report_each": True,
            "linger": True,
        },
    )
    try:
        lines = read_until(child.stdout, lambda line: line.isdigit() and int(line) >= 300)  # type: ignore[arg-type]
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    last_returned = max(int(line) for line in lines if line.isdigit())
    with StrictServer() as server:
        deliver(server, tmp_path)
        received = indexes(server, "Logged")
        assert received == list(range(len(received))), "no gaps, no duplicates"
        assert len(received) > last_returned, "every call that returned is on disk"
        assert server.duplicates == 0


def test_forked_child_gets_its_own_working_sender(server: StrictServer, tmp_path: Path) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork on this platform")
    child = start_child(
        "fork",
        {"configure": {"endpoint": server.endpoint, "data_dir": str(tmp_path), **FAST}, "count": 50},
    )
    out, err = child.communicate(timeout=240)
    assert child.returncode == 0, f"{out} {err}"
    assert "child=0 parent=ok" in out
    for name in ("Parent Before Fork", "Child", "Parent After Fork"):
        assert indexes(server, name) == list(range(50)), name
    assert server.duplicates == 0
    sessions = {e["_envelope"]["sessionId"] for e in server.events("Child")}
    parent_sessions = {e["_envelope"]["sessionId"] for e in server.events("Parent After Fork")}
    assert len(sessions) == 1 and sessions != parent_sessions


def test_four_processes_share_one_data_folder(server: StrictServer, tmp_path: Path) -> None:
    children = [
        start_child(
            "log",
            {
                "configure": {"endpoint": server.endpoint, "data_dir": str(tmp_path), **FAST},
                "count": 500,
                "name": f"Process {n}",
            },
        )
        for n in range(4)
    ]
    for child in children:
        _out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
    for n in range(4):
        assert indexes(server, f"Process {n}") == list(range(500))
    assert server.duplicates == 0
    users = {u["userId"] for u in server.bodies("usageanalytics/user")}
    assert len(users) == 1, "processes sharing a data folder share the guest id"
    assert not list((tmp_path / "queues").glob("*/")), "each process removed its emptied queue"


def test_interpreter_exit_flushes_and_ends_the_session(server: StrictServer, tmp_path: Path) -> None:
    child = start_child(
        "log",
        {"configure": {"endpoint": server.endpoint, "data_dir": str(tmp_path), **FAST}, "count": 5},
    )
    _out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    assert indexes(server, "Logged") == list(range(5))
    (end,) = server.events("app_session_end")
    assert end["_envelope"]["sessionId"] == server.events("Logged")[0]["_envelope"]["sessionId"]


def test_exit_while_the_server_hangs_is_bounded_and_loses_nothing(tmp_path: Path) -> None:
    with StrictServer() as server:
        server.hang.set()
        started = time.monotonic()
        child = start_child(
            "log",
            {
                "configure": {"endpoint": server.endpoint, "data_dir": str(tmp_path), **FAST},
                "count": 10,
            },
        )
        _out, err = child.communicate(timeout=60)
        elapsed = time.monotonic() - started
        assert child.returncode == 0, err
        assert elapsed < 30, f"exit took {elapsed:.1f} s with exit_timeout=2"
        server.release()
        deliver(server, tmp_path)
        assert indexes(server, "Logged") == list(range(10)), "accepted exactly once"
