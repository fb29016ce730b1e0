"""Running commands under ``usageanalytics run`` as real processes, and reading what they print."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from usageanalytics.collector.server import RunningCollector

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
BIN = Path(sys.executable).parent
APP_ID = "launched-app"
ACCOUNT = "acct-1"
LISTENING = re.compile(r"(?:Running on|running on|Listening at:|listening on) (http://127\.0\.0\.1:\d+)")


def launch_env(endpoint: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a command run under the launcher: settings only, no code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("USAGEANALYTICS_", "_USAGEANALYTICS_"))}
    for leaked in ("DJANGO_SETTINGS_MODULE", "UA_TEST_DJANGO_DB", "PYTHONPATH"):
        env.pop(leaked, None)
    env.update(
        USAGEANALYTICS_APP_ID=APP_ID,
        USAGEANALYTICS_API_KEY="launch-key",
        USAGEANALYTICS_ENDPOINT=endpoint,
        USAGEANALYTICS_DATA_DIR=str(data_dir),
        USAGEANALYTICS_CUSTOMER_ACCOUNT_ID=ACCOUNT,
        # Nothing is sent before the process exits: what reaches the collector came with the exit flush.
        USAGEANALYTICS_FLUSH_INTERVAL="3600",
        USAGEANALYTICS_COLLECT_DEVICE_ATTRIBUTES="0",
        PYTHONUNBUFFERED="1",
        PATH=os.pathsep.join([str(BIN), env.get("PATH", "")]),
    )
    env.update(extra)
    return env


class Launched:
    """``usageanalytics run -- COMMAND`` in a session of its own, its output readable as it comes."""

    def __init__(
        self, command: list[str], env: dict[str, str], cwd: Path = APPS, launcher: bool = True
    ) -> None:
        prefix = [sys.executable, "-m", "usageanalytics", "run", "--"] if launcher else []
        self.command = command
        self.process = subprocess.Popen(
            [*prefix, *command],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,  # its own process group: Ctrl-C is a SIGINT to the group
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float = 120.0) -> re.Match[str]:
        """The first output line matching ``pattern`` (a regular expression)."""
        compiled = re.compile(pattern) if isinstance(pattern, str) else pattern
        for line in self.lines:
            if found := compiled.search(line):
                return found
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line matching {compiled.pattern!r} in {timeout} s:\n{self.output}"
                ) from None
            if line is None:
                code = self.process.wait(30)
                raise AssertionError(f"exited {code} without {compiled.pattern!r}:\n{self.output}")
            self.lines.append(line)
            if found := compiled.search(line):
                return found

    def url(self, timeout: float = 120.0) -> str:
        """The base URL the server says it listens on."""
        return self.wait_for(LISTENING, timeout).group(1)

    def signal(self, sig: int, group: bool = False) -> None:
        """Send ``sig`` to the command (or, like Ctrl-C in a terminal, to its whole group)."""
        if group:
            os.killpg(self.process.pid, sig)
        else:
            self.process.send_signal(sig)

    def finish(self, timeout: float = 120.0) -> int:
        """Wait for the exit status; the rest of the output lands in ``lines``."""
        code = self.process.wait(timeout)
        deadline = time.monotonic() + 30
        while (line := self._queue.get(timeout=max(0.1, deadline - time.monotonic()))) is not None:
            self.lines.append(line)
        return code

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(30)


@contextlib.contextmanager
def launched(command: list[str], env: dict[str, str], **options: Any) -> Iterator[Launched]:
    """A :class:`Launched` command; whatever is left of its process group is killed on leaving."""
    running = Launched(command, env, **options)
    try:
        yield running
    finally:
        running.kill_group()
        if running.process.stdout is not None:
            running.process.stdout.close()


def get(url: str, client: httpx.Client | None = None) -> httpx.Response:
    """GET with retries while the server is still coming up (a reloader's child, a worker)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if client is not None:
                return client.get(url)
            return httpx.get(url, timeout=30.0, trust_env=False)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def browser() -> httpx.Client:
    """One visitor: keeps the visitor cookie between requests."""
    return httpx.Client(timeout=30.0, trust_env=False)


def free_port() -> int:
    """For Django's runserver, which cannot be told to pick its own port and report it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Any, timeout: float = 60.0, interval: float = 0.05) -> Any:
    """``condition()``'s first truthy value; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {condition}")
        time.sleep(interval)


def screens(collector: RunningCollector) -> list[str]:
    return [event["attributes"]["Screen Name"] for event in collector.events("Screen View")]


def page_urls(collector: RunningCollector) -> list[str]:
    return [event["attributes"]["pageUrl"] for event in collector.events("page_load_event")]


def queue_owners(data_dir: Path) -> set[int]:
    """The pids that made an SDK client (each has a queue folder while it runs)."""
    folder = data_dir / "queues"
    if not folder.is_dir():
        return set()
    return {int(entry.name.split("-")[0]) for entry in folder.iterdir() if entry.is_dir()}


def launcher_lines(command: Launched) -> list[str]:
    return [line for line in command.lines if line.startswith("usageanalytics run:")]


def runserver(env: dict[str, str], *options: str, launcher: bool = True) -> tuple[Launched, str]:
    """``manage.py runserver`` on a free port; another one if that port was taken meanwhile."""
    for _ in range(5):
        port = free_port()
        command = Launched(
            [sys.executable, "manage.py", "runserver", *options, f"127.0.0.1:{port}"],
            env,
            APPS / "djsite",
            launcher=launcher,
        )
        try:
            command.wait_for(rf"Starting development server at http://127\.0\.0\.1:{port}/")
            get(f"http://127.0.0.1:{port}/api/status/")
            return command, f"http://127.0.0.1:{port}"
        except AssertionError:
            if "That port is already in use" not in command.output:
                command.kill_group()
                raise
            command.kill_group()
    raise AssertionError("no free port for runserver")


def gunicorn_options() -> list[str]:
    from gunicorn.config import KNOWN_SETTINGS

    # gunicorn 23+ opens a control socket at one path for every server: not for parallel tests
    names = {setting.name for setting in KNOWN_SETTINGS}
    return ["--no-control-socket"] if "control_socket_disable" in names else []
