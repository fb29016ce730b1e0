"""The in-process side of ``usageanalytics run``: set the SDK up from the environment, on demand.

``usageanalytics run -- CMD`` puts the ``_bootstrap`` folder first on ``PYTHONPATH`` and sets
:data:`RUN_MARKER`, so every Python process of the command (the app, its reloader's child, its
workers, forked or spawned) starts with the ``sitecustomize`` there. That file does almost
nothing until the process imports a framework that has an integration; then it calls
:func:`activate`, which attaches auto-capture and leaves the client to be made when it is first
needed: the first request, the first Qt window, or the app's first ``ua.log_event(...)``
(``usageanalytics.__init__`` asks :func:`client_on_demand`). So:

- a process that never imports a framework or the SDK (a Python tool the app runs) is left as
  it was;
- a process that imports one but serves nothing (a reloader's parent, gunicorn's master) makes
  no client, and each forked worker makes its own;
- an app that calls ``configure()`` itself (or sets up the Flask extension or the Django app)
  before its first request keeps its own client, never a second one.

A configuration that cannot work prints one line to stderr, once per process, and the app goes on
uninstrumented.

The exit flush. SIGTERM, where the app leaves it at its default (Flask's and Django's development
servers without the reloader, plain scripts) or puts the default back (uvicorn), first flushes the
SDK for up to ``exit_timeout`` seconds (:func:`flush_before_termination`, called by the
bootstrap's handler), then ends the process by the same signal, so its exit status is unchanged.
Ctrl-C reaches a reloader's parent and its serving child together; the parent waits on the child with
``subprocess``, which kills it 0.25 s after a KeyboardInterrupt, in the middle of its exit flush.
In launched processes that import a framework that grace is raised to ``exit_timeout`` + 1 s: a
child that exits at once (all of them, on Ctrl-C) is not waited on any longer than before.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .client import Client

#: Set by ``usageanalytics run`` to its own pid: the pid the command keeps when exec'd.
RUN_MARKER = "_USAGEANALYTICS_RUN"
#: The top-level modules whose first import activates the launcher, comma-separated.
WATCH_VARIABLE = "_USAGEANALYTICS_RUN_WATCH"
#: The folder holding the bootstrap ``sitecustomize.py``.
BOOTSTRAP_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_bootstrap")

_lock = threading.RLock()
_state = "waiting"  # -> "running" -> "done"
_reported = False


def launched() -> bool:
    """True in a process started (directly or not) by ``usageanalytics run``."""
    return RUN_MARKER in os.environ


def report(message: str) -> None:
    """Print one line about the launcher to stderr, at most once per process."""
    global _reported
    if _reported:
        return
    _reported = True
    try:
        sys.stderr.write(f"usageanalytics run: {message}\n")
        sys.stderr.flush()
    except Exception:  # a closed stderr must not break the app
        pass


def activate() -> None:
    """A framework is being imported: attach auto-capture, with the client made on first need.

    Never raises, and imports nothing of the app: it runs inside the import of the framework
    (a module it imported now would be imported again by the import that is under way), so it
    reads only plain settings here; the rest, callables among them, when the client is made.
    """
    try:
        from . import autocapture
        from .settings import environment_settings, setting_kinds

        wanted = ("auto_capture", "disabled", "exit_timeout")
        try:
            found = environment_settings(skip=set(setting_kinds()) - set(wanted))
        except Exception:  # reported when the client is made
            found = {}
        exit_timeout = found.get("exit_timeout")
        _let_children_flush(float(exit_timeout.value) if exit_timeout is not None else 3.0)
        auto_capture, disabled = found.get("auto_capture"), found.get("disabled")
        if (auto_capture is None or auto_capture.value) and not (disabled is not None and disabled.value):
            autocapture.enable_deferred(client_on_demand)
    except Exception as error:
        report(f"could not attach auto-capture ({type(error).__name__}: {error}); the app runs without it")


def client_on_demand() -> Client | None:
    """The shared client, configured from the environment on the first call if the app has not.

    Thread-safe: a second thread that asks while the first configures waits for it.
    """
    global _state
    import usageanalytics as ua

    if _state != "done":
        with _lock:
            if _state == "waiting":
                _state = "running"
                try:
                    _configure(ua)
                finally:
                    _state = "done"
    return ua._client


def _configure(ua: Any) -> None:
    if ua._client is not None or ua._on_demand is False:
        return  # the app configured the SDK itself, or shut it down on purpose
    try:
        ua.configure()
    except Exception as error:
        from . import autocapture
        from .errors import ConfigurationError

        autocapture.disable()
        why = str(error) if isinstance(error, ConfigurationError) else f"{type(error).__name__}: {error}"
        report(f"the SDK could not start ({why}); the app runs without usage analytics")


def _let_children_flush(exit_timeout: float) -> None:
    """Give a child ``subprocess`` waits on time for its exit flush after Ctrl-C (see above).

    ``Popen.__init__`` sets ``self._sigint_wait_secs = 0.25``, and ``wait()`` sets it to 0 once
    used; a data descriptor on the class sees both and raises the first to the grace.
    """
    import subprocess

    if not isinstance(vars(subprocess.Popen).get("_sigint_wait_secs"), _SigintGrace):
        subprocess.Popen._sigint_wait_secs = _SigintGrace()  # type: ignore[attr-defined]
    _SigintGrace.grace = max(_SigintGrace.grace, exit_timeout + 1.0)


class _SigintGrace:
    """``Popen._sigint_wait_secs``, at least :attr:`grace` seconds unless set to 0."""

    grace = 0.0
    _key = "_usageanalytics_sigint_wait_secs"

    def __get__(self, popen: Any, owner: Any = None) -> Any:
        if popen is None:
            return self
        return popen.__dict__.get(self._key, 0.25)

    def __set__(self, popen: Any, seconds: float) -> None:
        popen.__dict__[self._key] = max(seconds, self.grace) if seconds > 0 else seconds


def flush_before_termination() -> bool:
    """SIGTERM is about to end the process: run the SDK's exit path (end sessions, flush) first.

    The same bounded exit path as the core's own SIGTERM handler, which stands back here because
    the bootstrap's handler was set first. True when the handler must now end the process; False
    when the signal interrupted the exit path itself, which ends the process by SIGTERM when done.
    """
    from . import lifecycle

    return lifecycle.run_exit_path_for_sigterm()


def _reset_after_fork() -> None:
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
