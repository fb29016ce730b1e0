"""Starlette and FastAPI auto-capture: pages, page loads and API calls with nothing but configure().

The core attaches this when ``starlette.applications`` is imported (FastAPI imports it too), in
any order, whether the app was built before or after ``configure()``. It patches, on the class,
``Starlette.__call__`` (every app, FastAPI's included, whatever middleware wraps it) and
``Router.__call__`` (reached once the app's own middleware has run, so the user an
authentication middleware set is known to the view, its dependencies and its background
tasks). Screens are named by the route template, router and mount prefixes included
(``/shop/items/{item_id}``), found by matching the request against the app's router as
Starlette does, once per route. See :mod:`usageanalytics.asgi` for what is a page and who
the user is.

Per app, ``app.state.usageanalytics_exclude`` adds path rules (prefixes, or patterns starting
with ``^``) and ``app.state.usageanalytics_page_query = True`` keeps the query in ``pageUrl``.

``usageanalytics_starlette.servers`` makes uvicorn run the SDK's exit path when it stops on
SIGTERM (it re-raises the signal with the default action, so interpreter exit handlers never run).
"""

from __future__ import annotations

from types import ModuleType


def install(applications: ModuleType) -> None:
    """Patch Starlette's app and router entry points (idempotent)."""
    from . import capture

    capture.install(applications)


def uninstall() -> None:
    """Undo :func:`install`."""
    from . import capture

    capture.uninstall()
