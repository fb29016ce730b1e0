"""Flask auto-capture: a Screen View and a page load for every HTML page, with no app code.

The core attaches this when Flask is imported (entry point ``flask``). It patches
``Flask.full_dispatch_request`` on the class, which every request of every app passes through
however ``app.wsgi_app`` was wrapped (``ProxyFix``, WhiteNoise, a dispatcher) and whenever the app
was created. Per app, ``app.config`` may set:

- ``USAGEANALYTICS_EXCLUDE``: more paths that are never pages (prefixes, or patterns starting
  with ``^``), added to the defaults; the app's and blueprints' static files never are;
- ``USAGEANALYTICS_IDENTIFY``: ``identify(request)`` returning the user id, an ``Identity``, or
  None to use the conventions below (``configure(identify=...)`` is the default for every app);
- ``USAGEANALYTICS_PAGE_QUERY``: True to keep the query string in ``pageUrl``.

A request that sends ``Sec-GPC: 1`` (or ``DNT: 1`` with ``respect_dnt``), or whose
``configure(consent=...)`` callable says no, is not tracked at all: no cookie, nothing logged,
and the app's own tracking calls while it runs are refused (counted as dropped).

The logged-in user is read, first found, without a query or a lazy load: the identify setting;
Flask-Login's user id from its session key (``_user_id``) or a user its request loader already
loaded; ``g.user`` when the app set it (its ``id`` attribute or ``"id"`` key), as the Flask
tutorial teaches; ``session["user_id"]``. A user id appearing in the session during a request
is a login (the guest's history becomes the user's); its disappearing is a logout (the browser
gets a new guest id). Flask-Login's signals mark the same moments inside the view.
"""

from __future__ import annotations

import inspect
import logging
import sys
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from usageanalytics import autocapture
from usageanalytics import webcapture as web
from usageanalytics.context import Identity
from usageanalytics.patching import Patcher, call_safely

from .extension import UsageAnalytics as UsageAnalytics

if TYPE_CHECKING:
    from usageanalytics.settings import Settings

logger = logging.getLogger("usageanalytics")
_patcher = Patcher("flask")
_STATE_KEY = "usageanalytics.capture"  # in app.extensions: what the hook read from app.config
_login_signals: tuple[Any, Any] | None = None  # Flask-Login's (user_logged_in, user_logged_out)
# Flask's request, session and g proxies, set by install(): importing this module must not
# import Flask (the import hook that installs it may be what is importing Flask).
_request_proxy: Any = None
_session_proxy: Any = None
_g: Any = None


class _AppState:
    """What the hook reads from an app's config, kept while the config values stay the same."""

    __slots__ = ("exclude", "flask_login", "identify", "page_query", "rules")

    def __init__(self, app: Any) -> None:
        config = app.config
        self.exclude = config.get("USAGEANALYTICS_EXCLUDE")
        self.rules = web.path_rules(self.exclude)
        self.identify = config.get("USAGEANALYTICS_IDENTIFY")
        self.page_query = bool(config.get("USAGEANALYTICS_PAGE_QUERY", False))
        self.flask_login = getattr(app, "login_manager", None) is not None

    def current(self, app: Any) -> bool:
        config = app.config
        return (
            config.get("USAGEANALYTICS_EXCLUDE") is self.exclude
            and config.get("USAGEANALYTICS_IDENTIFY") is self.identify
            and bool(config.get("USAGEANALYTICS_PAGE_QUERY", False)) is self.page_query
            and (getattr(app, "login_manager", None) is not None) is self.flask_login
        )


def install(flask_module: ModuleType) -> None:
    """Patch Flask's request dispatch (idempotent)."""
    global _request_proxy, _session_proxy, _g
    import flask.globals as flask_globals
    from flask.app import Flask

    _request_proxy, _session_proxy, _g = flask_globals.request, flask_globals.session, flask_globals.g

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
    client = autocapture.current_client()
    if client is None:
        return wrapped(*args, **kwargs)
    try:
        visit = _start(app, client.settings)
    except Exception:
        logger.exception("usageanalytics: auto-capture request start failed; the app is unaffected")
        visit = None
    if visit is None:
        return wrapped(*args, **kwargs)
    if isinstance(visit, str):  # no consent: nothing of this request is tracked
        return web.run_untracked(visit, wrapped, *args, **kwargs)
    try:
        response = wrapped(*args, **kwargs)
    except Exception:
        web.close_scope(visit)
        call_safely("page capture", _failed, visit)  # Flask answers it with a 500
        raise
    except BaseException:
        web.close_scope(visit)
        raise
    try:
        _finish(app, visit, response)  # still in the visit's identity scope
    except Exception:
        logger.exception("usageanalytics: auto-capture page capture failed; the app is unaffected")
    web.close_scope(visit)
    return response


def _state(app: Any) -> _AppState:
    extensions = app.extensions
    state: _AppState | None = extensions.get(_STATE_KEY)
    if state is None or not state.current(app):
        state = extensions[_STATE_KEY] = _AppState(app)
    return state


def _start(app: Any, settings: Settings) -> web.Visit | str | None:
    """Open the visit; None when the path is excluded (static files among them), or why the
    request must not be tracked at all (no consent)."""
    request = _request_proxy._get_current_object()
    environ = request.environ
    gpc = environ.get("HTTP_SEC_GPC")
    if gpc is not None or settings.respect_dnt or settings.consent is not None:
        reason = web.refusal(settings, gpc, environ.get("HTTP_DNT"), request)
        if reason is not None:
            return reason
    endpoint = request.endpoint
    state = _state(app)
    if endpoint is not None and (endpoint == "static" or endpoint.endswith(".static")):
        return None
    if state.rules.excludes(request.path):
        return None
    if state.flask_login and _login_signals is None:
        _watch_logins()
    session = _session_proxy._get_current_object()
    visit = web.start_visit(
        environ.get("HTTP_COOKIE"),
        environ.get("REMOTE_ADDR"),
        environ.get("wsgi.url_scheme") == "https",
        _session_user_id(session, state.flask_login),
    )
    visit.request = request
    visit.extra = (state, session)
    return visit


def _finish(app: Any, visit: web.Visit, response: Any) -> None:
    request = visit.request
    state, session = visit.extra
    session_user = _session_user_id(session, state.flask_login)
    if session_user is not None:
        if visit.user_id is None and visit.logged_in_as is None:
            web.login_seen(visit, session_user)
    elif visit.user_id is not None and not visit.logged_out:
        web.logout_seen(visit)
    method = request.method
    status = response.status_code
    page = web.is_page(method, status, response.headers.get("Content-Type"))
    cookies = web.cookies_for(visit, page, status)
    if cookies:
        web.set_cookies(visit, response, cookies)
    _report(visit, request, state, session, session_user, page, status)


def _report(
    visit: web.Visit,
    request: Any,
    state: _AppState,
    session: Any,
    session_user: str | None,
    page: bool,
    status: int,
) -> None:
    def route() -> str | None:
        rule = request.url_rule
        return web.route_screen_name(rule.rule) if rule is not None else None

    def identity() -> Identity:
        identify = state.identify
        if identify is None:
            client = autocapture.current_client()
            identify = client.settings.identify if client is not None else None
        identified = call_safely("identify(request)", identify, request) if identify else None
        if inspect.isawaitable(identified):
            if inspect.iscoroutine(identified):
                identified.close()  # never awaited: say so once, not as a RuntimeWarning per request
            web.warn_once("an async identify() cannot be awaited in a Flask (WSGI) request; ignored")
            identified = None
        return web.final_identity(visit, identified, _user_id(session, state.flask_login, session_user))

    web.report(
        autocapture.current_client(),
        visit,
        page=page,
        method=request.method,
        status=status,
        route=route,
        url=lambda: web.page_url(
            request.script_root + request.path,
            request.query_string.decode("latin-1"),
            state.page_query,
        ),
        identity=identity,
    )


def _failed(visit: web.Visit) -> None:
    """The view raised: Flask will answer 500; an API call to a routed endpoint still counts."""
    client = autocapture.current_client()
    if client is None or not client.settings.capture_api_calls:
        return
    state, session = visit.extra
    _report(visit, visit.request, state, session, _session_user_id(session, state.flask_login), False, 500)


def _session_user_id(session: Any, flask_login: bool) -> str | None:
    """The user id the session holds: Flask-Login's key, else the Flask tutorial's
    ``session["user_id"]``. No user loader call, no database."""
    if not isinstance(session, dict):
        return None
    # dict.get, not session.get: reading through the session would mark it accessed (Vary: Cookie).
    value = dict.get(session, "_user_id") if flask_login else None
    if value is None:
        value = dict.get(session, "user_id")
    if value is None or value == "" or isinstance(value, bool):
        return None
    return str(value)


def _user_id(session: Any, flask_login: bool, session_user: str | None) -> str | None:
    """The request's user at its end, in the documented order, after ``identify``:
    Flask-Login (its session key, else a user a request loader already loaded), ``g.user``,
    ``session["user_id"]``."""
    g = _g._get_current_object()
    if flask_login:
        value = dict.get(session, "_user_id") if isinstance(session, dict) else None
        if value:
            return str(value)
        user = g.get("_login_user")
        if user is not None and getattr(user, "is_authenticated", False):
            loaded = user.get_id()
            if loaded:
                return str(loaded)
    found = web.user_id_of(g.get("user"))
    if found is not None:
        return found
    return session_user
