"""Auto-capture for ASGI apps: pages, page loads and API calls, measured until the response is sent.

:class:`UsageAnalyticsMiddleware` captures any ASGI app (Quart, Litestar, BlackSheep, a bare ASGI
callable): add it around the app. Starlette and FastAPI need nothing: the ``usageanalytics_starlette``
integration runs the same capture from inside ``Starlette.__call__`` and names screens by matching
the request against the app's router.

Per HTTP request (websockets and lifespan events pass through untouched):

- the visitor is read from the ``ua_visitor`` cookie (a new guest without it) and set as the
  identity of everything the app tracks while the request runs;
- at ``http.response.start`` a GET answered 2xx with ``text/html`` *and* a route is a page: the
  visitor cookie is added to it when the browser has none (never to any other response);
- once the last body message has been sent (streaming included), a page logs a "Screen View"
  named by its route and a ``page_load_event`` whose ``loadTime`` runs until then; with
  ``capture_api_calls`` any other routed request logs an "API Call".

Consent: a request that sends ``Sec-GPC: 1`` (or ``DNT: 1`` with ``respect_dnt``), or whose
``configure(consent=...)`` (sync or async, given the request object: here the ASGI scope) says
no, is not tracked at all: no cookie, nothing logged, and the app's own tracking calls while it
runs are refused, counted as dropped.

Who: ``configure(identify=...)`` (called with the request object, here the ASGI scope; sync or
async) wins; else ``scope["user"]`` when an authentication middleware set an authenticated user
(its ``identity``, else ``display_name``); else ``scope["state"]["user"]`` (``request.state.user``:
its ``id`` attribute or ``"id"`` key). Nothing is read that costs I/O.

The core imports no framework: this module only speaks the ASGI protocol.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any

from . import autocapture
from . import webcapture as web
from .context import Identity, pop_identity, push_identity
from .patching import call_safely, log_failure

if TYPE_CHECKING:
    from .client import Client
    from .settings import Settings

logger = logging.getLogger("usageanalytics")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SCOPE_KEY = "usageanalytics.request"
"""Where the captured request's state sits in the scope: an app nested in a captured one (a
mount, or a Starlette app inside this middleware) sees it and is not captured twice."""

_FINAL = ("http.response.pathsend", "http.response.zerocopysend")


def header_refusal(settings: Settings, scope: Scope) -> str | None:
    """Why the request's ``Sec-GPC`` or ``DNT`` header says it must not be tracked, or None
    (a pass over the headers in Python: :func:`read_headers` asks a dict built in C first)."""
    return _scan_refusal(settings, scope.get("headers") or ())


def _scan_refusal(settings: Settings, headers: Iterable[Any]) -> str | None:
    if not (settings.respect_gpc or settings.respect_dnt):
        return None
    for key, value in headers:
        if key == b"sec-gpc":
            reason = web.header_refusal(settings, value, None)
        elif key == b"dnt":
            reason = web.header_refusal(settings, None, value)
        else:
            continue
        if reason is not None:
            return reason
    return None


def read_headers(settings: Settings, scope: Scope) -> tuple[str | None, str | None]:
    """``(refusal, cookies)``: why the ``Sec-GPC`` or ``DNT`` header refuses tracking (or None),
    and the Cookie header (None when absent, or when refused).

    A browser's request has a dozen or two headers: one dict built in C answers all three
    names. Only when a name repeats (HTTP/2 sends cookies as several headers) are they
    scanned in Python.
    """
    headers = scope.get("headers") or ()
    if not isinstance(headers, (list, tuple)):
        headers = list(headers)
    by_name = dict(headers)
    if len(by_name) != len(headers):
        reason = _scan_refusal(settings, headers)
        return reason, None if reason is not None else _joined_cookies(headers)
    if b"sec-gpc" in by_name or b"dnt" in by_name:
        reason = web.header_refusal(settings, by_name.get(b"sec-gpc"), by_name.get(b"dnt"))
        if reason is not None:
            return reason, None
    cookies = by_name.get(b"cookie")
    return None, cookies.decode("latin-1") if cookies is not None else None


def scope_user_id(scope: Scope) -> str | None:
    """The user an authentication middleware or the app left in the scope, read without I/O.

    ``scope["user"]`` (Starlette's ``request.user``) when authenticated: its ``identity``, else
    its ``display_name``; else ``scope["state"]["user"]`` (``request.state.user``): its ``id``
    attribute or ``"id"`` key.
    """
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        try:
            identity = user.identity
        except (NotImplementedError, AttributeError):
            identity = None
        if identity is None or identity == "":
            try:
                identity = user.display_name
            except (NotImplementedError, AttributeError):
                identity = None
        if identity is not None and identity != "" and not isinstance(identity, bool):
            return str(identity)
    state = scope.get("state")
    if state:
        found = state.get("user") if isinstance(state, dict) else getattr(state, "user", None)
        if found is not None:
            return web.user_id_of(found)
    return None


def _request_url(scope: Scope, include_query: bool) -> str:
    """The path the browser asked for, behind any proxy prefix (``root_path``) too."""
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and not path.startswith(root):
        path = root + path  # servers that predate ASGI 2.4 leave root_path out of path
    if not include_query:
        return path
    return web.page_url(path, scope.get("query_string", b"").decode("latin-1"), True)


def route_path(scope: Scope) -> str:
    """The path inside the app, without the proxy prefix: what exclusions are matched against."""
    path: str = scope.get("path", "/")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root) and (len(path) == len(root) or path[len(root)] == "/"):
        return path[len(root) :] or "/"
    return path


def _header_value(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers") or ():
        if key == name:
            return bytes(value)
    return None


def _joined_cookies(headers: Iterable[Any]) -> str | None:
    cookies = [value.decode("latin-1") for key, value in headers if key == b"cookie"]
    return "; ".join(cookies) if cookies else None


class CapturedRequest:
    """One HTTP request under capture: its visit, and what the app and framework tell about it.

    ``route_for(scope)`` names the route (None: not a routed endpoint); an integration that
    knows the framework better may replace it while the request runs, and may point
    ``inner_scope`` at the scope its router saw (auth middleware leave the user there).
    One object per request, with slots, is also the app's ``send`` (:meth:`sending`): no
    closure or partial is made per request.
    """

    __slots__ = (
        "client",
        "identified",
        "identify_done",
        "inner_scope",
        "method",
        "owner",
        "page",
        "page_query",
        "route",
        "route_for",
        "routed",
        "scope",
        "send",
        "status",
        "visit",
    )

    def __init__(
        self,
        client: Client,
        visit: web.Visit,
        scope: Scope,
        route_for: Callable[[Scope], str | None],
        page_query: bool,
        owner: str = "asgi",
    ) -> None:
        self.client = client
        self.visit = visit
        self.scope = scope
        self.inner_scope = scope
        self.method: str = scope.get("method", "GET")
        self.route_for = route_for
        self.owner = owner  # "asgi", or the integration that knows the framework's routes
        self.page_query = page_query
        self.route: str | bool | None = False  # False: not resolved yet
        self.identified: Any = None
        self.identify_done = False
        self.routed = False  # an integration's router has refreshed the identity
        self.page = False
        self.status = 0
        self.send: Send | None = None

    def resolve_route(self) -> str | None:
        route = self.route
        if route is False:
            try:
                route = self.route_for(self.inner_scope)
            except Exception:
                log_failure("route lookup")
                route = None
            self.route = route
        return route if isinstance(route, str) else None

    async def run_identify(self, request: Any) -> None:
        """Call ``configure(identify=...)`` once, with ``request`` (sync or async)."""
        if self.identify_done:
            return
        self.identify_done = True
        identify = self.client.settings.identify
        if identify is None:
            return
        try:
            result = identify(request)
            if inspect.isawaitable(result):
                result = await result
        except Exception:
            log_failure("identify(request)")
            result = None
        self.identified = result

    def identity(self) -> Identity:
        identified = self.identified
        if identified is not None:
            return web.final_identity(self.visit, identified, None)
        inner = self.inner_scope
        if inner.get("user") is None and not inner.get("state"):  # nobody there (the common case)
            user = None if inner is self.scope else scope_user_id(self.scope)
        else:
            user = scope_user_id(inner)
            if user is None and inner is not self.scope:
                user = scope_user_id(self.scope)
        return self.visit.identity(user)

    def wrap_send(self, send: Send) -> Send:
        """The ``send`` to give the app: this request's :meth:`sending`, forwarding to ``send``."""
        self.send = send
        return self.sending

    # Each Python function a request runs costs more than its own work (its code and data are
    # cold again after the app's), so the response's path is one method: the start read, the
    # cookie decided, the report made, with the rare cases in helpers.
    async def sending(self, message: Message) -> None:
        """The app's ``send``: reads the response's start, adds the visitor cookie to a page,
        and reports once the last body message has been sent."""
        send = self.send
        assert send is not None
        kind = message["type"]
        if kind != "http.response.start":
            await send(message)
            if self.status and (
                (kind == "http.response.body" and not message.get("more_body", False)) or kind in _FINAL
            ):
                self.status_sent()
            return
        try:
            status = message.get("status", 200)
            if status.__class__ is not int:
                status = int(status)
            self.status = status
            page = False
            if 200 <= status < 300 and self.method == "GET":  # a page? (as web.is_page)
                content_type = None
                for key, value in message.get("headers") or ():  # the spec's lower case first
                    if key == b"content-type":
                        content_type = value
                        break
                else:
                    content_type = _header_any_case(message.get("headers") or (), b"content-type")
                if (
                    content_type is not None
                    and (
                        content_type[:9] == b"text/html"  # as frameworks write it; any form else
                        or content_type.decode("latin-1").lstrip()[:9].lower() == "text/html"
                    )
                ):
                    # A file or a sub-app's answer has no route: not a page of this app.
                    route = self.route
                    if route is False:
                        route = self.resolve_route()
                    page = self.page = isinstance(route, str)
            visit = self.visit
            if visit.new_visitor or visit.redirects or 300 <= status < 400:  # else no cookie
                message = self._with_cookies(message, page, status)
        except Exception:
            self.status = 0
            log_failure("page capture")
        await send(message)

    def _with_cookies(self, message: Message, page: bool, status: int) -> Message:
        """The start message with the cookies :func:`web.cookies_for` gives the response."""
        visit = self.visit
        if 300 <= status < 400:  # counted only for a browser's navigation
            visit.navigation = web.accepts_html(_header_value(self.scope, b"accept"))
        cookies = web.cookies_for(visit, page, status)
        if cookies:
            added = [(b"set-cookie", web.cookie_header(visit, *cookie)) for cookie in cookies]
            message = dict(message, headers=[*(message.get("headers") or []), *added])
        return message

    def close(self) -> None:
        """The app has returned: leave the visit's identity scope and let go of the scopes.

        The scope holds this request (``SCOPE_KEY``), so keeping it would leave a reference
        cycle per request (the scope, its headers, what the framework put in it) for the
        garbage collector to find: a collection every few dozen requests, and the survivors
        promoted until a full collection walks the whole heap.
        """
        web.close_scope(self.visit)
        self.scope = self.inner_scope = {}
        self.send = None

    def status_sent(self) -> None:
        """The whole response has been sent: report it, once."""
        self.status, status = 0, self.status
        client, visit, page = self.client, self.visit, self.page
        try:
            if not page and not (client.settings.capture_api_calls and web.is_api_method(self.method)):
                return
            elapsed_ms = (time.perf_counter() - visit.started) * 1000.0
            template = self.route
            if template is False:
                template = self.resolve_route()
            if not template or not isinstance(template, str):
                return
            scope = self.scope
            path: str = scope.get("path", "/")
            url = (
                path
                if not (self.page_query or scope.get("root_path"))
                else _request_url(scope, self.page_query)
            )
            inner = self.inner_scope
            if (
                self.identified is None
                and inner is scope
                and inner.get("user") is None
                and not inner.get("state")
                and visit.base is not None
                and visit.base.user_id is None
                and visit.base.guest_id == visit.visitor_id
            ):
                who = visit.base  # nobody in the scope, no login or logout: as self.identity()
            else:
                who = self.identity()
            web.log_request(client, visit, page, self.method, status, template, url, who, elapsed_ms)
        except Exception:
            log_failure("page capture")


def _header_any_case(headers: Iterable[Any], name: bytes) -> bytes | None:
    for key, value in headers:
        if key.lower() == name:
            return bytes(value)
    return None


def start(
    client: Client,
    scope: Scope,
    route_for: Callable[[Scope], str | None],
    page_query: bool,
    cookie_header: str | None,
    owner: str = "asgi",
) -> CapturedRequest:
    """Open the visit for ``scope`` (its identity scope too) and mark the scope as captured.
    ``cookie_header``: the request's cookies, from :func:`read_headers`."""
    client_address = scope.get("client")
    visit = web.start_visit(
        cookie_header, str(client_address[0]) if client_address else None, scope.get("scheme") == "https"
    )
    request = scope[SCOPE_KEY] = CapturedRequest(client, visit, scope, route_for, page_query, owner)
    return request


def reporting_client() -> Client | None:
    """The client auto-capture reports to, else the shared ``configure()`` one."""
    client = autocapture.current_client()
    if client is None:
        import usageanalytics

        client = usageanalytics.get_client()
    return client


def scope_route(scope: Scope) -> str | None:
    """A route template a framework left in the scope: ``scope["route"]`` as a string or an
    object with ``path_format``/``path`` (Starlette), or ``scope["path_template"]``."""
    for key in ("route", "path_template", "route_path"):
        found = scope.get(key)
        if isinstance(found, str) and found:
            return web.route_screen_name(found)
        if found is not None:
            for attribute in ("path_format", "path"):
                value = getattr(found, attribute, None)
                if isinstance(value, str) and value:
                    return web.route_screen_name(value)
    return None


class UsageAnalyticsMiddleware:
    """Capture an ASGI app's pages, page loads and (with ``capture_api_calls``) API calls.

    ``name_for(scope)`` names a request's screen when the framework left no route in the scope
    (return None for "not a routed endpoint"); a request is never named by its raw URL unless
    ``name_for`` does so. ``exclude`` adds path rules to the defaults (``/static/``, ``/health``,
    ...). ``page_query=True`` keeps the query string in ``pageUrl``.

    >>> app = UsageAnalyticsMiddleware(app, name_for=lambda scope: scope.get("route_name"))
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        name_for: Callable[[Scope], str | None] | None = None,
        exclude: Iterable[str] | str | None = None,
        page_query: bool = False,
    ) -> None:
        self.app = app
        self.name_for = name_for
        self.rules = web.path_rules(exclude)
        self.page_query = page_query

    def _route_for(self, scope: Scope) -> str | None:
        found = scope_route(scope)
        if found is None and self.name_for is not None:
            named = self.name_for(scope)
            found = web.route_screen_name(named) if isinstance(named, str) and named else None
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or SCOPE_KEY in scope:
            await self.app(scope, receive, send)
            return
        client = reporting_client()
        request = None
        cookies = None
        if client is not None:
            reason, cookies = read_headers(client.settings, scope)
            if reason is None and client.settings.consent is not None:
                reason = await web.consent_refusal(client.settings.consent, scope)
            if reason is not None:  # no consent: nothing of this request is tracked
                scope[SCOPE_KEY] = None  # nor by an app inside (a Starlette app)
                await web.run_untracked_async(reason, self.app, scope, receive, send)
                return
        if client is not None and not self.rules.excludes(route_path(scope)):
            request = call_safely(
                "request start", start, client, scope, self._route_for, self.page_query, cookies
            )
        if request is None:
            if client is not None:
                scope[SCOPE_KEY] = None  # excluded: apps inside must not capture it either
            await self.app(scope, receive, send)
            return
        token = None
        try:
            if request.client.settings.identify is not None:
                await request.run_identify(scope)
                token = refresh_identity(request)
            await self.app(scope, receive, request.wrap_send(send))
        finally:
            if token is not None:
                pop_identity(token)
            request.close()


def refresh_identity(request: CapturedRequest) -> Any:
    """Set the request's identity now that middleware has run (the user is known); returns
    the token for :func:`usageanalytics.context.pop_identity`, or None when it is unchanged."""
    try:
        identity = request.identity()
        if identity is request.visit.base:
            return None
        return push_identity(identity)
    except Exception:
        log_failure("identify(request)")
        return None
