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

import functools
import inspect
import logging
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from usageanalytics import autocapture
from usageanalytics import webcapture as web
from usageanalytics.context import Identity
from usageanalytics.patching import Patcher, call_safely, log_failure

from .extension import UsageAnalytics as UsageAnalytics

if TYPE_CHECKING:
    from usageanalytics.settings import Settings

logger = logging.getLogger("usageanalytics")
_patcher = Patcher("flask")
_STATE_KEY = "usageanalytics.capture"  # in app.extensions: what the hook read from app.config
_EARLIER = object()  # a Flask before 3.1: its request context has no ``_session``
_login_signals: tuple[Any, Any] | None = None  # Flask-Login's (user_logged_in, user_logged_out)
# Flask's request and app context variables, set by install(): importing this module must not
# import Flask (the import hook that installs it may be what is importing Flask). Read directly,
# not through the request/session/g proxies: cheaper, and reading ``flask.session`` marks the
# session accessed, which makes Flask add "Vary: Cookie" to every response.
_request_context: Any = None
_app_context: Any = None
_LocalProxy: Any = type("NotAProxy", (), {})  # werkzeug.local.LocalProxy once installed


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
        get = config.get
        return (
            get("USAGEANALYTICS_EXCLUDE") is self.exclude
            and get("USAGEANALYTICS_IDENTIFY") is self.identify
            and bool(get("USAGEANALYTICS_PAGE_QUERY")) is self.page_query
            and (getattr(app, "login_manager", None) is not None) is self.flask_login
        )


def install(flask_module: ModuleType) -> None:
    """Patch Flask's request dispatch (idempotent)."""
    global _request_context, _app_context, _LocalProxy
    import flask.globals as flask_globals
    from flask.app import Flask
    from werkzeug.local import LocalProxy

    _request_context, _app_context = flask_globals._cv_request, flask_globals._cv_app
    _LocalProxy = LocalProxy

    _patcher.replace(Flask, "full_dispatch_request", _dispatching)


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


def _dispatching(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Flask.full_dispatch_request``, capturing: a plain function (a wrapper object per
    request would cost more than the rest of the hook's start), inactive once uninstalled."""

    @functools.wraps(original)
    def full_dispatch_request(app: Any) -> Any:
        client = autocapture.current_client() if _patcher.active else None
        if client is None:
            return original(app)
        try:
            visit = _start(app, client)
        except Exception:
            log_failure("request start")
            visit = None
        if visit is None:
            return original(app)
        if isinstance(visit, str):  # no consent: nothing of this request is tracked
            return web.run_untracked(visit, original, app)
        try:
            response = original(app)
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
            log_failure("page capture")
        web.close_scope(visit)
        return response

    return full_dispatch_request


def _new_state(app: Any) -> _AppState:
    """The app's config read anew (the first request, or the config changed since)."""
    state = app.extensions[_STATE_KEY] = _AppState(app)
    return state


def _start(app: Any, client: Any) -> web.Visit | str | None:
    """Open the visit; None when the path is excluded (static files among them), or why the
    request must not be tracked at all (no consent)."""
    context = _request_context.get()
    request = context.request
    environ = request.environ
    settings: Settings = client.settings
    gpc = environ.get("HTTP_SEC_GPC")
    if gpc is not None or settings.respect_dnt or settings.consent is not None:
        reason = web.refusal(settings, gpc, environ.get("HTTP_DNT"), request)
        if reason is not None:
            return reason
    endpoint = request.endpoint
    state = app.extensions.get(_STATE_KEY)
    if state is None or not state.current(app):
        state = _new_state(app)
    if endpoint is not None and (endpoint == "static" or endpoint.endswith(".static")):
        return None
    if state.rules.excludes(request.path):
        return None
    if state.flask_login and _login_signals is None:
        _watch_logins()
    # Flask 3.1 keeps the opened session in ``_session`` (its ``session`` property marks it
    # accessed); earlier releases in ``session``.
    session = getattr(context, "_session", _EARLIER)
    if session is _EARLIER:
        session = context.session
    visit = web.start_visit(
        environ.get("HTTP_COOKIE"),
        environ.get("REMOTE_ADDR"),
        environ.get("wsgi.url_scheme") == "https",
        _session_user_id(session, state.flask_login),
        web.accepts_html(environ.get("HTTP_ACCEPT")),
    )
    visit.request = request
    visit.extra = (state, session, client)
    return visit


def _finish(app: Any, visit: web.Visit, response: Any) -> None:
    request = visit.request
    state, session, client = visit.extra
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
    if page or (client.settings.capture_api_calls and web.is_api_method(method)):
        _report(client, visit, request, state, session, session_user, page, status)


def _report(
    client: Any,
    visit: web.Visit,
    request: Any,
    state: _AppState,
    session: Any,
    session_user: str | None,
    page: bool,
    status: int,
) -> None:
    """Log the page (or API call) the request was, as the request's user."""
    elapsed_ms = (time.perf_counter() - visit.started) * 1000.0
    rule = request.url_rule
    if rule is None:
        return  # not a routed endpoint
    path = request.script_root + request.path
    url = web.page_url(path, request.query_string.decode("latin-1"), True) if state.page_query else path
    who = _identity(client, visit, request, state, session, session_user)
    web.log_request(
        client, visit, page, request.method, status, web.route_screen_name(rule.rule), url, who, elapsed_ms
    )


def _identity(
    client: Any, visit: web.Visit, request: Any, state: _AppState, session: Any, session_user: str | None
) -> Identity:
    """The request's user: ``identify(request)`` when the app or configure() set one, else the
    conventions (see the module docstring)."""
    identify = state.identify or client.settings.identify
    if identify is None:  # the common case: the conventions, no call
        return visit.identity(_user_id(session, state.flask_login, session_user))
    identified = call_safely("identify(request)", identify, request)
    if inspect.isawaitable(identified):
        if inspect.iscoroutine(identified):
            identified.close()  # never awaited: say so once, not as a RuntimeWarning per request
        web.warn_once("an async identify() cannot be awaited in a Flask (WSGI) request; ignored")
        identified = None
    return web.final_identity(visit, identified, _user_id(session, state.flask_login, session_user))


def _failed(visit: web.Visit) -> None:
    """The view raised: Flask will answer 500; an API call to a routed endpoint still counts."""
    state, session, client = visit.extra
    if not client.settings.capture_api_calls or not web.is_api_method(visit.request.method):
        return
    session_user = _session_user_id(session, state.flask_login)
    _report(client, visit, visit.request, state, session, session_user, False, 500)


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
    g = _app_context.get().g
    if flask_login:
        value = dict.get(session, "_user_id") if isinstance(session, dict) else None
        if value:
            return str(value)
        user = g.get("_login_user")
        if user is not None and getattr(user, "is_authenticated", False):
            loaded = user.get_id()
            if loaded:
                return str(loaded)
    user = g.get("user")
    # ``g.user = current_user`` (a LocalProxy): reading it would run Flask-Login's loaders (a
    # query); a user they loaded was read above from ``g._login_user``.
    found = None if user is None or isinstance(user, _LocalProxy) else web.user_id_of(user)
    if found is not None:
        return found
    return session_user
