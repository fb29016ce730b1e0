"""The exit path: end sessions and flush every live client when the process ends.

It runs at interpreter exit (``atexit``) and, when the app has no SIGTERM handler of its own, on
SIGTERM, which is what ``docker stop``, Kubernetes and systemd send: Python's default for SIGTERM
kills the process without running exit handlers, so without this the last records would stay on
disk (sent only by the next start) and the sessions would never end. The handler never replaces
an app's: it is installed only while SIGTERM has its default action (servers such as gunicorn and
uvicorn install their own, and may call :func:`run_exit_path` from their shutdown hooks). After
the exit path it restores the default action and raises SIGTERM again, so the process still dies
of SIGTERM and its exit status is what the supervisor expects.

A signal handler runs on the main thread, between two of its steps, wherever it was. So the
handler takes no lock (the clients are kept in a tuple that is replaced, never changed), and
when the signal lands in the exit path itself (the main thread flushing at interpreter exit, or
in ``Client.shutdown``, or a second SIGTERM while the first one's handler runs) it does not wait
for that exit path, which cannot go on until the handler returns: it lets it finish, and the
process ends by SIGTERM when it has (see :func:`exit_scope`). A supervisor that stops its
workers with SIGTERM while they are already exiting (hypercorn's, multiprocessing's) gets the
same exit status as without the SDK, after the flush instead of a wait on itself.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import threading
import weakref
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Client

logger = logging.getLogger("usageanalytics")

_clients: tuple[weakref.ref[Client], ...] = ()  # replaced, never changed: read without a lock
_lock = threading.Lock()  # serialises register(); the exit path and signal handlers never take it
_atexit_registered = False
_depth: dict[int, int] = {}  # thread id -> how many exit scopes that thread is inside
_sigterm_held_by: int | None = None  # the thread whose exit scope ends the process by SIGTERM


def register(client: Client) -> None:
    """Include ``client`` in the exit path (and install the SIGTERM handler if it may be)."""
    global _atexit_registered, _clients
    with _lock:
        _clients = (*(ref for ref in _clients if ref() is not None), weakref.ref(client))
        if not _atexit_registered:
            atexit.register(run_exit_path)
            _atexit_registered = True
    install_sigterm_handler()


def _live_clients() -> list[Client]:
    """The registered clients still alive (no lock: safe in a signal handler)."""
    return [client for client in (ref() for ref in _clients) if client is not None]


def run_exit_path(timeout: float | None = None) -> bool:
    """Shut every live client down: end its sessions, flush, stop its threads.

    Each gets ``timeout`` seconds, or its own ``exit_timeout``. Idempotent and safe from any
    thread; returns whether everything was sent (what was not stays on disk for the next start).
    """
    sent = True
    with exit_scope():
        for client in _live_clients():
            try:
                sent = client.shutdown(client.settings.exit_timeout if timeout is None else timeout) and sent
            except Exception:
                logger.exception("usageanalytics: shutdown at exit failed")
                sent = False
    return sent


@contextlib.contextmanager
def exit_scope() -> Iterator[None]:
    """Mark this thread as inside the exit path while the block runs.

    A SIGTERM handler that interrupts this thread there returns at once instead of waiting for
    the exit path it interrupted (see :func:`run_exit_path_for_sigterm`); when the outermost
    scope closes, the exit path is done and the process ends by SIGTERM, as the handler would
    have ended it.
    """
    global _sigterm_held_by
    me = threading.get_ident()
    _depth[me] = _depth.get(me, 0) + 1
    try:
        yield
    finally:
        left = _depth.pop(me, 1) - 1
        if left > 0:
            _depth[me] = left
        elif _sigterm_held_by == me:
            _sigterm_held_by = None
            _end_by_sigterm()


def install_sigterm_handler() -> bool:
    """Handle SIGTERM with the exit path, if this is the main thread and SIGTERM has its default
    action; True if the handler is (now) installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        current = signal.getsignal(signal.SIGTERM)
        if current is _on_sigterm:
            return True
        if current is not signal.SIG_DFL:
            return False  # the app's own handler, or SIG_IGN: theirs to decide
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError, AttributeError):  # no SIGTERM here, or not allowed
        return False
    return True


def run_exit_path_for_sigterm() -> bool:
    """The exit path for a SIGTERM handler (ours, and the one ``usageanalytics run`` sets before
    the app starts). Returns True when the handler must now end the process; False when the
    signal interrupted an exit path on this thread, which ends the process by SIGTERM once done.

    The main thread was interrupted at an arbitrary point and may hold a lock the exit path
    needs, so the exit path runs on a thread of its own, waited for at most the clients' exit
    timeouts.
    """
    global _sigterm_held_by
    me = threading.get_ident()
    if _depth.get(me):
        _sigterm_held_by = me
        return False
    with exit_scope():  # a second SIGTERM meanwhile is held: this one ends the process
        budget = sum(client.settings.exit_timeout for client in _live_clients()) + 2.0
        worker = threading.Thread(target=run_exit_path, name="usageanalytics-sigterm", daemon=True)
        try:
            worker.start()
        except RuntimeError:  # no new thread at interpreter shutdown (3.12): queued records stay on disk
            return True
        worker.join(budget)
    return True


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # The exit path, then the default action, as if we had never been here.
    if run_exit_path_for_sigterm():
        _end_by_sigterm()


def _end_by_sigterm() -> None:
    """End the process by SIGTERM's default action, so its exit status says SIGTERM (on the main
    thread: signal handlers run there, and only they hold a SIGTERM back)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)


def _after_fork_in_child() -> None:
    global _sigterm_held_by
    me = threading.get_ident()
    for ident in [ident for ident in _depth if ident != me]:
        del _depth[ident]  # threads that do not exist in the child
    _sigterm_held_by = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
