"""SIGTERM (docker stop, Kubernetes): the exit path runs, then the process dies of SIGTERM.

Issue 12, case 11: in an app with no SIGTERM handler of its own, of 900 events logged just before
the signal none were delivered, and no session ended.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.support.strict_server import StrictServer
from tests.test_processes import FAST, read_until, start_child


def _start(
    server: StrictServer, tmp_path: Path, settings: dict[str, Any] | None = None, **options: Any
) -> Any:
    return start_child(
        "sigterm",
        {
            "configure": {
                "endpoint": server.endpoint, "data_dir": str(tmp_path / "data"), "flush_interval": 3600,
                "batch_size": 1000, **FAST, **(settings or {}),
            },
            "count": 900,
            **options,
        },
    )  # fmt: skip


def test_sigterm_runs_the_exit_path_then_dies_of_sigterm(server: StrictServer, tmp_path: Path) -> None:
    child = _start(server, tmp_path)
    try:
        lines = read_until(child.stdout, lambda line: line == "READY")  # type: ignore[arg-type]
        assert "HANDLER usageanalytics.lifecycle" in lines
        assert server.events("Before SIGTERM") == [], "nothing sent before the signal"
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == -signal.SIGTERM, "the exit status says SIGTERM, as without the SDK"
    finally:
        child.kill()
    received = sorted(e["parameters"][0]["numberValue"] for e in server.events("Before SIGTERM"))
    assert received == list(range(900))
    (end,) = server.events("app_session_end")
    assert end["_envelope"]["sessionId"] == server.events("Before SIGTERM")[0]["_envelope"]["sessionId"]


def test_an_apps_own_sigterm_handler_is_kept(server: StrictServer, tmp_path: Path) -> None:
    stop = tmp_path / "stop"
    child = _start(server, tmp_path, own_handler=True, stop_file=str(stop))
    try:
        lines = read_until(child.stdout, lambda line: line == "READY")  # type: ignore[arg-type]
        assert not any("usageanalytics" in line for line in lines if line.startswith("HANDLER"))
        child.send_signal(signal.SIGTERM)
        read_until(child.stdout, lambda line: line == "APP HANDLER")  # type: ignore[arg-type]
        assert child.poll() is None, "the app decides what SIGTERM does"
        stop.touch()
        assert child.wait(60) == 0
    finally:
        child.kill()
    assert len(server.events("Before SIGTERM")) == 900, "the normal exit flushed"


def test_no_handler_is_installed_from_another_thread(server: StrictServer, tmp_path: Path) -> None:
    child = _start(server, tmp_path, from_thread=True)
    try:
        lines = read_until(child.stdout, lambda line: line == "READY")  # type: ignore[arg-type]
        assert not any("usageanalytics" in line for line in lines if line.startswith("HANDLER"))
    finally:
        child.kill()
        child.wait(30)


def _queues_left(tmp_path: Path) -> list[str]:
    """What the next start would find to adopt: a queue folder the exit path did not close."""
    root = tmp_path / "data" / "queues"
    return sorted(entry.name for entry in root.iterdir()) if root.is_dir() else []


def test_a_sigterm_during_the_exit_flush_lets_it_finish_then_dies_of_sigterm(
    server: StrictServer, tmp_path: Path
) -> None:
    """A supervisor stops a worker that is already exiting (hypercorn's, then multiprocessing's
    own SIGTERM, as the worker flushes at interpreter exit). The handler must not wait for the
    flush it interrupted, which cannot go on until the handler returns: it lets it finish."""
    server.hang.set()  # the exit flush's request waits on the server until released
    child = _start(server, tmp_path, {"exit_timeout": 30.0}, exit=True, trace_handler=True)
    try:
        read_until(child.stdout, lambda line: line == "READY")  # type: ignore[arg-type]
        assert server.held.wait(60), "the exit flush never reached the server"
        for _ in range(2):  # hypercorn's supervisor, then multiprocessing's exit function
            child.send_signal(signal.SIGTERM)
            read_until(child.stdout, lambda line: line == "SIGTERM")  # type: ignore[arg-type]
        server.release()
        assert child.wait(60) == -signal.SIGTERM, "the exit status says SIGTERM, as without the SDK"
    finally:
        server.release()
        child.kill()
    assert len(server.events("Before SIGTERM")) == 900
    assert len(server.events("app_session_end")) == 1
    assert _queues_left(tmp_path) == [], "the exit path ran to its end: nothing left for the next start"


def test_a_sigterm_while_the_main_thread_registers_a_client_does_not_hang(
    server: StrictServer, tmp_path: Path
) -> None:
    """The handler runs on the main thread wherever it was stopped, here inside the lock that
    registers clients: it must take no lock, or it waits for itself forever."""
    child = _start(server, tmp_path, in_registry_lock=True)
    try:
        assert child.wait(60) == -signal.SIGTERM
    finally:
        child.kill()
    assert len(server.events("Before SIGTERM")) == 900
    assert _queues_left(tmp_path) == []
