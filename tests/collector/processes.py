"""Running ``usageanalytics`` commands as real subprocesses and reading what they print."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


class Command:
    """``python -m usageanalytics ARGS`` with its output lines readable as they come."""

    def __init__(self, *args: str, cwd: Path | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "usageanalytics", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env=env,
        )
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, starts: str, timeout: float = 60.0) -> str:
        """The first output line starting with ``starts`` (earlier lines are kept in ``lines``)."""
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if line.startswith(starts):
                return line
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no line starting {starts!r} in {timeout} s; got {self.lines}"
                ) from None
            if line is None:
                raise AssertionError(f"exited ({self.process.wait()}) without {starts!r}; got {self.lines}")
            self.lines.append(line)
            if line.startswith(starts):
                return line

    def finish(self, timeout: float = 60.0) -> int:
        """Wait for the exit code; the rest of the output lands in ``lines``."""
        code = self.process.wait(timeout)
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.lines.append(line)
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        self.process.send_signal(sig)
        return self.finish(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def collector_url(command: Command) -> str:
    return command.wait_for_line("usageanalytics collector listening on ").rsplit(" ", 1)[1]
