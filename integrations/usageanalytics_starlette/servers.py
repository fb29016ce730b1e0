"""Run the SDK's exit path when uvicorn stops on SIGTERM.

A single uvicorn process catches SIGTERM, shuts down gracefully, then restores the handler it
found and raises the signal again. When that handler is the default one (the app module, and
so ``configure()``, is imported after uvicorn installed its own), the process dies of the
signal and the interpreter's exit handlers never run: the SDK's session end and exit flush
would not happen. So once uvicorn's graceful shutdown is done, if it caught SIGTERM, this runs
``Client.shutdown(exit_timeout)`` on the shared client first (it is idempotent: an exit handler
that does run later finds nothing to do). Nothing changes for any other way uvicorn stops.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

from usageanalytics import lifecycle
from usageanalytics.patching import Patcher

logger = logging.getLogger("usageanalytics")
_patcher = Patcher("uvicorn")


def install_uvicorn(server_module: ModuleType) -> None:
    """Wrap ``uvicorn.server.Server.shutdown`` (idempotent)."""
    _patcher.wrap(server_module.Server, "shutdown", _after_shutdown)


def uninstall() -> None:
    _patcher.restore()


async def _after_shutdown(wrapped: Callable[..., Any], server: Any, args: Any, kwargs: Any) -> Any:
    try:
        return await wrapped(*args, **kwargs)
    finally:
        if _dies_of_sigterm(server):
            await asyncio.get_running_loop().run_in_executor(None, _exit_path)


def _dies_of_sigterm(server: Any) -> bool:
    """uvicorn caught SIGTERM and will raise it again with the default action."""
    captured = getattr(server, "_captured_signals", None)
    if not captured or signal.SIGTERM not in captured:
        return False
    return threading.current_thread() is threading.main_thread()


def _exit_path() -> None:
    # Every client made so far; never the launcher's deferred one, which nothing needed yet.
    lifecycle.run_exit_path()
