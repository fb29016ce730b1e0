"""Flask auto-capture: a Screen View and a page load for every HTML page, with no app code.

The core attaches this when Flask is imported (entry point ``flask``). It patches
``Flask.full_dispatch_request`` on the class, which every request of every app passes through
however ``app.wsgi_app`` was wrapped (``ProxyFix``, WhiteNoise, a dispatcher) and whenever the app
was created. Per app, ``app.config`` may set:

- ``USAGEANALYTICS_EXCLUDE``: more paths that are never pages (prefixes, or patterns starting
  with ``^``), added to the defaults; the app's and blueprints' static files never are;
- ``USAGEANALYTICS_IDENTIFY``: ``identify(request)`` returning the user id, an ``Identity``, or
  None to use Flask-Login's user;
- ``USAGEANALYTICS_PAGE_QUERY``: True to keep the query string in ``pageUrl``.

The logged-in user is read from the session key Flask-Login writes at login (``_user_id``), never
by loading the user; its login and logout signals mark
the moment a guest becomes a user and, at logout, a new guest.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

import flask.globals as flask_globals

from usageanalytics import webcapture as web
from usageanalytics.context import Identity
from usageanalytics.patching import Patcher, call_safely

from .extension import UsageAnalytics as UsageAnalytics

_patcher = Patcher("flask")
_compiled_rules: weakref.WeakKeyDictionary[Any, tuple[Any, web.PathRules]] = weakref.WeakKeyDictionary()
_login_signals: tuple[Any, Any] | None = None  # Flask-Login's (user_logged_in, user_logged_out)


def install(flask_module: ModuleType) -> None:
    """Patch Flask's request dispatch (idempotent)."""
    from flask.app import Flask

    _patcher.wrap(Flask, "full_dispatch_request", _capture_request)


def uninstall() -> None:
    """Undo :func:`install`."""
    global _login_signals
    _patcher.restore()
    if _login_signals is not None:
        logged_in, logged_out = _login_signals
        logged_in.disconnect(_logged_in)
        logged_out.disconnect(web.logged_out)
        _login_signals = None


def _watch_logins() -> None:
    """Connect to Flask-Login's signals (imported by the app after Flask, so done lazily)."""
    global _login_signals
    if _login_signals is None and "flask_login" in sys.modules:
        from flask_login.signals import user_logged_in, user_logged_out  # type: ignore[import-untyped]

        user_logged_in.connect(_logged_in, weak=False)
        user_logged_out.connect(web.logged_out, weak=False)
        _login_signals = (user_logged_in, user_logged_out)


def _logged_in(sender: Any, user: Any = None, **kwargs: Any) -> None:
    web.logged_in(user.get_id() if user is not None else None)


def _capture_request(wrapped: Callable[..., Any], app: Any, args: Any, kwargs: Any) -> Any:
    return web.around_request(
        lambda: wrapped(*args, **kwargs),
        lambda: _start(app),
        lambda visit, response: _finish(app, visit, response),
    )


def _start(app: Any) -> web.Visit | None:
    """Open the visit, or None when the path is excluded (static files among them)."""
    request = flask_globals.request._get_current_object()  # type: ignore[attr-defined]
    endpoint = request.endpoint or ""
    if endpoint == "static" or endpoint.endswith(".static") or _rules(app).excludes(request.path):
        return None
    if _login_signals is None and getattr(app, "login_manager", None) is not None:
        _watch_logins()
    visit = web.start_visit(
        request.environ.get("HTTP_COOKIE"), request.remote_addr, request.is_secure, _session_user_id(app)
    )
    visit.request = request
    return visit


def _finish(app: Any, visit: web.Visit, response: Any) -> None:
    request, config = visit.request, app.config
    url = web.page_url(
        request.script_root + request.path,
        request.query_string.decode("latin-1"),
        bool(config.get("USAGEANALYTICS_PAGE_QUERY", False)),
    )

    def screen_name() -> str | None:
        rule = request.url_rule
        return web.route_screen_name(rule.rule) if rule is not None else None

    def identity() -> Identity:
        identify = config.get("USAGEANALYTICS_IDENTIFY")
        identified = call_safely("identify(request)", identify, request) if identify else None
        return web.final_identity(visit, identified, _login_user_id(app))

    web.finish_visit(
        visit,
        response,
        method=request.method,
        status=response.status_code,
        content_type=response.content_type,
        screen_name=screen_name,
        url=url,
        identity=identity,
    )


def _rules(app: Any) -> web.PathRules:
    """The app's exclusions, compiled again only when its setting changes."""
    extra = app.config.get("USAGEANALYTICS_EXCLUDE")
    cached = _compiled_rules.get(app)
    if cached is not None and cached[0] is extra:
        return cached[1]
    rules = web.path_rules(extra)
    _compiled_rules[app] = (extra, rules)
    return rules


def _session_user_id(app: Any) -> str | None:
    """Flask-Login's user id as its session holds it: no user loader call, no database."""
    if getattr(app, "login_manager", None) is None:
        return None
    data = flask_globals.session._get_current_object()  # type: ignore[attr-defined]
    # dict.get, not session.get: reading through the session would mark it accessed (Vary: Cookie).
    value = dict.get(data, "_user_id") if isinstance(data, dict) else None
    return str(value) if value else None


def _login_user_id(app: Any) -> str | None:
    """The request's user at its end: the session's (login and logout in this request included),
    else a user a request loader already loaded (API tokens), else None."""
    user_id = _session_user_id(app)
    if user_id is not None or getattr(app, "login_manager", None) is None:
        return user_id
    user = flask_globals.g.get("_login_user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    loaded = user.get_id()
    return str(loaded) if loaded else None
