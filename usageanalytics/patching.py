"""Patch framework classes once, undo it cleanly, and never let a patch fail the host app.

Integrations patch the framework's *classes* (``Flask.full_dispatch_request``,
``BaseHandler.get_response``, ``QApplication.__init__``): every instance, made before or after,
and every ``from x import y`` copy of the class then goes through the patch. A :class:`Patcher`
remembers what it replaced, so installing twice patches once and ``restore()`` puts the original
back, unless another library has wrapped on top since: then the patch stays in place but
passes straight through, so neither library loses its hook.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wrapt

logger = logging.getLogger("usageanalytics")

Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]
_ABSENT = object()


@dataclass
class _Patch:
    owner: Any
    name: str
    original: Any  # the owner's own attribute before patching, or _ABSENT if it was inherited
    wrapper: Any


class Patcher:
    """The set of patches one integration made; ``active`` is False once restored."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.active = False
        self._patches: dict[tuple[int, str], _Patch] = {}
        self._lock = threading.Lock()

    def wrap(self, owner: Any, name: str, wrapper: Wrapper) -> None:
        """Wrap ``owner.name`` with ``wrapper(wrapped, instance, args, kwargs)``, once.

        While the patcher is inactive the patch calls the original directly.
        """
        with self._lock:
            self.active = True
            key = (id(owner), name)
            if key in self._patches:
                return
            original = vars(owner).get(name, _ABSENT)

            def gate(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
                if not self.active:
                    return wrapped(*args, **kwargs)
                return wrapper(wrapped, instance, args, kwargs)

            patched = wrapt.wrap_function_wrapper(owner, name, gate)
            self._patches[key] = _Patch(owner, name, original, patched)

    def replace(self, owner: Any, name: str, build: Callable[[Any], Any]) -> None:
        """Set ``owner.name`` to ``build(current)``, a plain function, once.

        For the hottest paths, where a wrapper object per call costs too much: the function
        ``build`` returns calls the current one itself, and checks :attr:`active` itself.
        """
        with self._lock:
            self.active = True
            key = (id(owner), name)
            if key in self._patches:
                return
            original = vars(owner).get(name, _ABSENT)
            patched = build(getattr(owner, name))
            setattr(owner, name, patched)
            self._patches[key] = _Patch(owner, name, original, patched)

    def restore(self) -> None:
        """Undo every patch still on top; deactivate those another library wrapped over."""
        with self._lock:
            self.active = False
            for key, patch in list(self._patches.items()):
                if vars(patch.owner).get(patch.name) is not patch.wrapper:
                    logger.debug(
                        "usageanalytics: %s.%s was wrapped again by someone else; left in place, inactive",
                        self.label,
                        patch.name,
                    )
                    continue
                if patch.original is _ABSENT:
                    delattr(patch.owner, patch.name)
                else:
                    setattr(patch.owner, patch.name, patch.original)
                del self._patches[key]


def call_safely(what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run SDK-side work for a request or an event; log and return None if it fails."""
    try:
        return function(*args, **kwargs)
    except Exception:
        log_failure(what)
        return None


_REPORT_EVERY = 60.0
# Per client (a new configure() reports afresh): what last failed when, and how often since.
_reported: weakref.WeakKeyDictionary[Any, dict[str, tuple[float, int]]] = weakref.WeakKeyDictionary()
_reported_lock = threading.Lock()


def log_failure(what: str, message: str | None = None) -> None:
    """Log the exception being handled, with its traceback, at most once a minute per ``what``
    and client: a broken ``identify`` or hook fails on every request, and must not flood the
    app's log. ``message`` replaces "auto-capture <what> failed; the app is unaffected"."""
    from . import autocapture

    client = autocapture.current_client()
    now = time.monotonic()
    with _reported_lock:
        failures = _reported.setdefault(client, {}) if client is not None else {}
        last, since = failures.get(what, (-_REPORT_EVERY, 0))
        if now - last < _REPORT_EVERY:
            failures[what] = (last, since + 1)
            return
        failures[what] = (now, 0)
    more = f" ({since} more times in the last minute)" if since else ""
    text = message or f"auto-capture {what} failed; the app is unaffected"
    logger.exception("usageanalytics: %s%s", text, more)
