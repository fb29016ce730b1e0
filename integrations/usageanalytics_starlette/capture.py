"""The Starlette patches: capture at the app's entry, set the user at the router's.

``Starlette.__call__`` opens the captured request (:mod:`usageanalytics.asgi`) for the outermost
app a request reaches; apps mounted inside it pass straight through. ``Router.__call__`` runs
after the app's middleware: there the request's user is known (``request.user`` from an
``AuthenticationMiddleware``, ``request.state.user`` from the app's own middleware, or
``configure(identify=...)`` given a ``Request``), so the view, its dependencies and its
background tasks are attributed to them.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from usageanalytics import asgi, autocapture
from usageanalytics import webcapture as web
from usageanalytics.context import pop_identity
from usageanalytics.patching import Patcher, call_safely, log_failure

from .routes import RouteTemplates

_patcher = Patcher("starlette")
_KEY = "_usageanalytics_capture"  # on the app object: its route templates and settings
logger = logging.getLogger("usageanalytics")


class _AppCapture:
    """Per app: its route templates, its settings on ``app.state`` (read again when changed),
    and one route look-up per root path: what every request would otherwise make again."""

    __slots__ = (
        "exclude",
        "page_query",
        "route_fors",
        "rules",
        "state",
        "templates",
        "values",
    )

    def __init__(self, app: Any) -> None:
        self.templates = RouteTemplates(app)
        self.exclude: Any = None
        self.rules = web.path_rules(None)
        self.page_query = False
        self.route_fors: dict[str, Callable[[Any], str | None]] = {}
        self.state: Any = None
        self.values: dict[str, Any] = {}
        self.refresh(app)

    def refresh(self, app: Any) -> None:
        state = getattr(app, "state", None)
        if state is not self.state:  # a new ``app.state`` object (Starlette makes one per app)
            values = getattr(state, "_state", None)  # app.state's values
            self.state, self.values = state, values if isinstance(values, dict) else {}
        values = self.values
        exclude = values.get("usageanalytics_exclude")
        if exclude is not self.exclude:
            self.exclude = exclude
            self.rules = web.path_rules(exclude)
        self.page_query = bool(values.get("usageanalytics_page_query", False))

    def route_for(self, scope: Any, root_path: str) -> str | None:
        return self.templates.template(scope, root_path)

    def open(self, app: Any, client: Any, scope: Any, cookies: str | None) -> asgi.CapturedRequest | None:
        """Capture the request (None: an excluded path), with the app's settings as they are."""
        self.refresh(app)
        root_path = scope.get("root_path", "")  # as the request entered the app: mounts extend it
        if self.rules.excludes(asgi.route_path(scope) if root_path else scope.get("path", "/")):
            return None
        route_for = self.route_fors.get(root_path)
        if route_for is None:
            if len(self.route_fors) >= 64:  # a server gives one or two; never grow without end
                self.route_fors.clear()
            route_for = functools.partial(self.templates.template, root_path=root_path)
            self.route_fors[root_path] = route_for
        return asgi.start(client, scope, route_for, self.page_query, cookies, "starlette")


def install(applications: ModuleType) -> None:
    from starlette.routing import Router

    _patcher.replace(applications.Starlette, "__call__", _app_call)
    _patcher.replace(Router, "__call__", _router_call)


def uninstall() -> None:
    _patcher.restore()


def _app_capture(app: Any) -> _AppCapture:
    own = vars(app)
    found: _AppCapture | None = own.get(_KEY)
    if found is None:
        found = own[_KEY] = _AppCapture(app)
    else:
        found.refresh(app)
    return found


def _app_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Starlette.__call__``, capturing: a coroutine function still (servers check that)."""

    @functools.wraps(original)
    async def __call__(app: Any, scope: Any, receive: Any, send: Any) -> None:
        if not _patcher.active or scope["type"] != "http":
            return await original(app, scope, receive, send)  # type: ignore[no-any-return]
        if asgi.SCOPE_KEY in scope:
            # A mounted app, or an app inside the generic middleware: captured (or excluded)
            # already. Starlette knows its routes better than the middleware's guess.
            outer = scope[asgi.SCOPE_KEY]
            if outer is not None and outer.owner != "starlette":
                call_safely("route lookup", _adopt, outer, app, scope)
            return await original(app, scope, receive, send)  # type: ignore[no-any-return]
        client = autocapture.current_client()
        if client is None:
            return await original(app, scope, receive, send)  # type: ignore[no-any-return]
        settings = client.settings
        reason, cookies = asgi.read_headers(settings, scope)
        if reason is None and settings.consent is not None:
            reason = await web.consent_refusal(settings.consent, _request(scope))
        if reason is not None:  # no consent: nothing of this request is tracked
            scope[asgi.SCOPE_KEY] = None  # nor by the apps mounted inside
            return await web.run_untracked_async(reason, original, app, scope, receive, send)  # type: ignore[no-any-return]
        try:
            captured: _AppCapture | None = vars(app).get(_KEY)
            if captured is None:
                captured = vars(app)[_KEY] = _AppCapture(app)
            request = captured.open(app, client, scope, cookies)
        except Exception:
            log_failure("request start")
            request = None
        if request is None:
            scope[asgi.SCOPE_KEY] = None  # excluded: apps mounted inside must not capture it either
            return await original(app, scope, receive, send)  # type: ignore[no-any-return]
        try:
            await original(app, scope, receive, request.wrap_send(send))
        finally:
            request.close()

    return __call__


def _request(scope: Any) -> Any:
    """A Starlette ``Request`` for ``consent(request)``: headers and cookies, not the body."""
    from starlette.requests import Request

    return Request(scope)


def _adopt(request: asgi.CapturedRequest, app: Any, scope: Any) -> None:
    captured = _app_capture(app)
    root_path = scope.get("root_path", "")
    fallback = request.route_for

    def route_for(inner: Any) -> str | None:
        return captured.route_for(inner, root_path) or fallback(inner)

    request.route_for = route_for
    request.owner = "starlette"
    request.page_query = request.page_query or captured.page_query


def _router_call(original: Callable[..., Any]) -> Callable[..., Any]:
    """``Router.__call__``: returns the router's own coroutine when there is nothing to change
    (no extra frame on every request), else one that sets the request's user around it."""

    @functools.wraps(original)
    def __call__(router: Any, scope: Any, receive: Any, send: Any) -> Any:
        request = scope.get(asgi.SCOPE_KEY) if _patcher.active else None
        if request is None or scope["type"] != "http":
            return original(router, scope, receive, send)
        request.inner_scope = scope  # the innermost router's: the route and the user are there
        if request.routed:
            return original(router, scope, receive, send)
        request.routed = True
        if request.client.settings.identify is not None:
            return _identified(request, original, router, scope, receive, send)
        if scope.get("user") is None and not scope.get("state") and scope is request.scope:
            # Nobody in the scope (the common case): the visit's own identity, set when the
            # request was opened (or a login's or logout's, since), stands.
            return original(router, scope, receive, send)
        token = asgi.refresh_identity(request)
        if token is None:
            return original(router, scope, receive, send)
        return _with_identity(token, original(router, scope, receive, send))

    return __call__


async def _identified(
    request: asgi.CapturedRequest,
    original: Callable[..., Any],
    router: Any,
    scope: Any,
    receive: Any,
    send: Any,
) -> Any:
    from starlette.requests import Request

    await request.run_identify(Request(scope, receive))
    token = asgi.refresh_identity(request)
    if token is None:
        return await original(router, scope, receive, send)
    return await _with_identity(token, original(router, scope, receive, send))


async def _with_identity(token: Any, routing: Any) -> Any:
    try:
        return await routing
    finally:
        pop_identity(token)
