"""Auto-capture: find the framework integrations and attach them when their framework is imported.

The core names no framework. Each integration registers an entry point in the group
``usageanalytics.integrations`` whose *name* is the module to watch (``flask``, ``django``,
``PySide6.QtWidgets``) and whose *value* is its install hook (``usageanalytics_flask:install``).
:func:`enable` hands each one to wrapt's post-import hook machinery, which calls the hook as soon
as the framework is imported, or at once if it already is. The integration module itself is only
loaded then, so an app that never imports Flask never loads the Flask integration.

Hooks are registered once per process (wrapt cannot unregister them); :func:`disable` calls each
loaded integration's ``uninstall()`` and makes later hook calls do nothing. A hook that fails is
logged and stands down: it must never break the application's own import.

:func:`enable_deferred` attaches the integrations before there is a client and makes one the
first time an integration asks for it (``usageanalytics run``): a process that imports a framework
but never serves a request (a reloader's parent, a pre-forking master) never makes a client, and
an app that calls ``configure()`` itself before its first request is never given a second one.
"""

from __future__ import annotations

import importlib
import logging
import sys
import threading
import weakref
from collections.abc import Callable
from importlib import metadata
from types import ModuleType
from typing import TYPE_CHECKING, Any

import wrapt

if TYPE_CHECKING:
    from .client import Client

logger = logging.getLogger("usageanalytics")

GROUP = "usageanalytics.integrations"

_lock = threading.Lock()
_registered: set[str] = set()
_installed: dict[str, ModuleType] = {}  # entry point value -> loaded integration module
_client_ref: weakref.ReferenceType[Client] | None = None
_deferred: Callable[[], object] | None = None  # makes the client on first need (enable_deferred)


def current_client() -> Client | None:
    """The client auto-capture reports to, or None when auto-capture is off.

    Integrations call this at event time rather than keeping the client they were installed
    with, so a later ``configure()`` or ``shutdown()`` takes effect at once.
    """
    ref = _client_ref
    make_client = _deferred
    if ref is None and make_client is not None:
        make_client()  # configures the SDK, ending in enable() or disable()
        ref = _client_ref
    return ref() if ref is not None else None


def existing_client() -> Client | None:
    """The client auto-capture reports to, without making it when it is still to come (see
    :func:`enable_deferred`): for code that only wants to flush or shut it down."""
    ref = _client_ref
    return ref() if ref is not None else None


def enable(client: Client) -> None:
    """Report auto-captured events to ``client`` and register every integration's hook."""
    global _client_ref, _deferred
    _client_ref = weakref.ref(client)
    _deferred = None
    _register_hooks()


def enable_deferred(make_client: Callable[[], object]) -> None:
    """Attach every integration now; call ``make_client()`` when one first needs the client.

    ``make_client`` must configure the SDK, which ends in :func:`enable`, or call :func:`disable`
    when it cannot; callers that come while it runs must wait for it (it is thread-safe).
    """
    global _deferred
    if _client_ref is not None:
        return
    _deferred = make_client
    _register_hooks()


def _register_hooks() -> None:
    try:
        entry_points = list(metadata.entry_points(group=GROUP))
    except Exception:  # a broken distribution's metadata must not stop configure()
        logger.exception("usageanalytics: could not list auto-capture integrations")
        return
    for entry_point in entry_points:
        key = f"{entry_point.name}={entry_point.value}"
        with _lock:
            first_time = key not in _registered
            _registered.add(key)
            installed = entry_point.value in _installed
        if first_time:
            wrapt.register_post_import_hook(_guarded(entry_point), entry_point.name)
        elif not installed and entry_point.name in sys.modules:
            # Registered by an earlier configure() and uninstalled since: wrapt will not fire
            # again for a module already imported, so attach it here.
            _guarded(entry_point)(sys.modules[entry_point.name])


def disable() -> None:
    """Stop auto-capture: uninstall what was installed; hooks that fire later do nothing."""
    global _client_ref, _deferred
    _client_ref = None
    _deferred = None
    with _lock:
        modules = list(_installed.items())
        _installed.clear()
    for value, module in modules:
        uninstall = getattr(module, "uninstall", None)
        if uninstall is None:
            continue
        try:
            uninstall()
        except Exception:
            logger.exception("usageanalytics: uninstalling %s failed", value)


def _guarded(entry_point: metadata.EntryPoint) -> Any:
    def hook(framework: ModuleType) -> None:
        if _client_ref is None and _deferred is None:  # auto-capture is off
            return
        try:
            install = entry_point.load()
            install(framework)
            module = importlib.import_module(entry_point.module)
            with _lock:
                _installed[entry_point.value] = module
            logger.debug("usageanalytics: auto-capture attached to %s", entry_point.name)
        except Exception:
            logger.exception(
                "usageanalytics: auto-capture for %s failed and is off; the app is unaffected",
                entry_point.name,
            )

    return hook
