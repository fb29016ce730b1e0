"""The exit path: end sessions and flush every live client when the process ends.

It runs at interpreter exit (``atexit``) and, when the app has no SIGTERM handler of its own, on
SIGTERM, which is what ``docker stop``, Kubernetes and systemd send: Python's default for SIGTERM
kills the process without running exit handlers, so without this the last records would stay on
disk (sent only by the next start) and the sessions would never end. The handler never replaces
an app's: it is installed only while SIGTERM has its default action (servers such as gunicorn and
uvicorn install their own, and may call :func:`run_exit_path` from their shutdown hooks). After
the exit path it restores the default action and raises SIGTERM again, so the process still dies
of SIGTERM and its exit status is what the supervisor expects.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import weakref
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .client import Client

logger = logging.getLogger("usageanalytics")

_clients: weakref.WeakSet[Client] = weakref.WeakSet()
_lock = threading.Lock()
_atexit_registered = False


def register(client: Client) -> None:
    """Include ``client`` in the exit path (and install the SIGTERM handler if it may be)."""
    global _atexit_registered
    with _lock:
        _clients.add(client)
        if not _atexit_registered:
            atexit.register(run_exit_path)
            _atexit_registered = True
    install_sigterm_handler()


def run_exit_path(timeout: float | None = None) -> bool:
    """Shut every live client down: end its sessions, flush, stop its threads.

    Each gets ``timeout`` seconds, or its own ``exit_timeout``. Idempotent and safe from any
    thread; returns whether everything was sent (what was not stays on disk for the next start).
    """
    with _lock:
        clients = list(_clients)
    sent = True
    for client in clients:
        try:
            sent = client.shutdown(client.settings.exit_timeout if timeout is None else timeout) and sent
        except Exception:
            logger.exception("usageanalytics: shutdown at exit failed")
            sent = False
    return sent


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


def run_exit_path_bounded() -> None:
    """:func:`run_exit_path` on its own thread, waited for at most the clients' exit timeouts.

    For signal handlers (ours, and the one ``usageanalytics run`` sets before the app starts):
    the main thread was interrupted at an arbitrary point and may hold a lock the exit path
    needs; joining with a bound keeps that from hanging the process.
    """
    with _lock:
        budget = sum(client.settings.exit_timeout for client in _clients) + 2.0
    worker = threading.Thread(target=run_exit_path, name="usageanalytics-sigterm", daemon=True)
    worker.start()
    worker.join(budget)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # The exit path, then the default action, as if we had never been here.
    run_exit_path_bounded()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.raise_signal(signal.SIGTERM)
