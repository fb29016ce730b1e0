"""How much SDK code a captured request runs, counted (never timed): calls into the SDK's Python
functions, and any SQLite, file or socket work on the request's thread (there must be none)."""

from __future__ import annotations

import gc
import os
import socket
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import usageanalytics

SDK_FOLDERS = (
    str(Path(usageanalytics.__file__).parent),
    str(Path(usageanalytics.__file__).parent.parent / "integrations"),
)
BLOCKING = (sqlite3.Connection, sqlite3.Cursor, socket.socket)


@dataclass
class Counted:
    calls: int = 0  # Python function calls into the SDK and its integrations
    blocking: list[str] = field(default_factory=list)  # SQLite, socket or file calls made


def called_from_sdk(frame: FrameType | None) -> bool:
    """Whether the SDK's code is on the stack below ``frame`` (it wraps the app's views too)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(SDK_FOLDERS):
            return True
        frame = frame.f_back
    return False


@contextmanager
def counting() -> Iterator[Counted]:
    """Count, on this thread only, what the SDK's code does while the block runs."""
    counted = Counted()
    thread = threading.get_ident()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if threading.get_ident() != thread:
            return
        if event == "call" and frame.f_code.co_filename.startswith(SDK_FOLDERS):
            counted.calls += 1
        elif (
            event == "c_call"
            and (isinstance(getattr(arg, "__self__", None), BLOCKING) or arg in (os.open, os.write, os.fsync))
            and called_from_sdk(frame)
        ):  # not the event loop's own wake-up socket, say
            counted.blocking.append(getattr(arg, "__qualname__", repr(arg)))

    sys.setprofile(profile)
    try:
        yield counted
    finally:
        sys.setprofile(None)


def per_request(serve: Callable[[], Any], requests: int = 20) -> Counted:
    """What ``serve()`` (one request) costs on average, after a few requests to warm up.

    The cyclic garbage collector is off in the window: a collection there would run the
    finalizers of earlier tests' garbage (their clients' SQLite connections closing) on this
    thread, below the SDK's frames, and count them as the request's. (The requests' own cycles
    are test_request_cost.py's sdk_garbage check.)
    """
    for _ in range(5):
        serve()
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        with counting() as counted:
            for _ in range(requests):
                serve()
    finally:
        if enabled:
            gc.enable()
    counted.calls //= requests
    return counted
