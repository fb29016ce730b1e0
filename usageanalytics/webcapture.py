"""Web auto-capture shared by Flask and Django: which responses are pages, who the visitor is.

A request is captured in two steps. :func:`start_visit` (before the framework handles it) reads
the visitor cookie and opens an identity scope, so the app's own tracking calls in the view
belong to this visitor. :func:`finish_visit` (after) closes the scope and, when the response is a
page, logs a debounced "Screen View" named by the route template and a ``page_load_event``.

What counts:

- a *page* is a GET answered with a 2xx status and a ``text/html`` Content-Type; redirects,
  errors, JSON, files and excluded paths are not;
- ``loadTime`` is the server time for the page in milliseconds: from the framework receiving the
  request to its response being ready (middleware and view included, sending the body not);
- ``requestCount`` is the number of requests the server answered to deliver the page: 1, plus one
  for each redirect the browser followed to reach it (a login form's POST, then its redirect to
  the page, makes 2). Redirects are counted in a short-lived cookie, so this holds across worker
  processes;
- the *visitor* is a random id kept in the ``ua_visitor`` cookie: the guest id of anonymous
  visitors and, once they log in, the guest whose history becomes the user's: the framework's
  logged-in signal (connected to :func:`logged_in`) tells the core at once, so the transfer does
  not wait for a page that reads the user. Its logged-out signal (:func:`logged_out`) gives the
  browser a new visitor id, as ``reset_user()`` gives an app a new guest.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import Any

from . import autocapture
from .context import Identity, pop_identity, push_identity
from .patching import call_safely

logger = logging.getLogger("usageanalytics")

VISITOR_COOKIE = "ua_visitor"
REDIRECTS_COOKIE = "ua_redirects"
VISITOR_COOKIE_AGE = 2 * 365 * 24 * 3600
REDIRECTS_COOKIE_AGE = 60
MAX_REDIRECTS = 20

DEFAULT_EXCLUDES: tuple[str, ...] = (
    "/static/",
    "/favicon.ico",
    "/robots.txt",
    "/health",
    "/healthz",
    "/healthcheck",
    "/livez",
    "/readyz",
    "/ping",
    "/metrics",
    "/.well-known/",
)
"""Paths that are never pages. A rule is a path prefix (``/health`` matches ``/health`` and
``/health/db`` but not ``/healthy``; ``/static/`` matches everything under it) or, when it starts
with ``^``, a regular expression matched at the start of the path."""

# Read straight from the Cookie header: cheaper than parsing every cookie, and a value of any
# other shape is not ours (the visitor gets a new id).
_VISITOR_IN_HEADER = re.compile(rf"(?:^|[;,]\s*){VISITOR_COOKIE}=([0-9a-f]{{32}})(?=$|[;,\s])")
_REDIRECTS_IN_HEADER = re.compile(rf"(?:^|[;,]\s*){REDIRECTS_COOKIE}=([0-9]{{1,2}})(?=$|[;,\s])")


class PathRules:
    """Exclusion rules, compiled once: prefixes and anchored patterns."""

    def __init__(self, rules: Iterable[str | re.Pattern[str]]) -> None:
        prefixes: list[str] = []
        patterns: list[re.Pattern[str]] = []
        for rule in rules:
            if isinstance(rule, re.Pattern):
                patterns.append(rule)
            elif isinstance(rule, str) and rule.startswith("^"):
                try:
                    patterns.append(re.compile(rule))
                except re.error as exc:
                    logger.warning("usageanalytics: exclusion pattern %r is invalid (%s); ignored", rule, exc)
            elif isinstance(rule, str) and rule:
                prefixes.append(rule if rule.startswith("/") else "/" + rule)
            else:
                logger.warning(
                    "usageanalytics: exclusion rule %r is neither a path nor a pattern; ignored", rule
                )
        self._folders = tuple(p for p in prefixes if p.endswith("/"))
        self._exact = frozenset(p for p in prefixes if not p.endswith("/"))
        self._subtrees = tuple(p + "/" for p in self._exact)
        self._patterns = tuple(patterns)

    def excludes(self, path: str) -> bool:
        if path in self._exact or path.startswith(self._folders) or path.startswith(self._subtrees):
            return True
        return any(pattern.match(path) for pattern in self._patterns)


def path_rules(extra: Any, framework_prefixes: Iterable[str] = ()) -> PathRules:
    """The defaults, the framework's own asset prefixes, and the app's ``extra`` rules.

    Compiling takes microseconds; callers keep the result while the settings stay the same.
    """
    if extra is None:
        extra = ()
    elif isinstance(extra, (str, re.Pattern)):
        extra = (extra,)
    return PathRules((*DEFAULT_EXCLUDES, *framework_prefixes, *extra))


def is_page(method: str, status: int, content_type: str | None) -> bool:
    """A GET answered 2xx with an HTML body: what a person sees as a page."""
    return (
        method == "GET"
        and 200 <= status < 300
        and content_type is not None
        and content_type.lstrip().lower().startswith("text/html")
    )


def route_screen_name(route: str) -> str:
    """A route template as a screen name, always starting with ``/``."""
    return route if route.startswith("/") else "/" + route


def page_url(path: str, query: str, include_query: bool) -> str:
    return f"{path}?{query}" if include_query and query else path


@dataclasses.dataclass
class Visit:
    """One request being captured."""

    started: float
    visitor_id: str
    new_visitor: bool
    redirects: int
    source_ip: str | None
    secure: bool
    token: Token[Identity | None] | None = None
    visit_token: Token[Visit | None] | None = None
    request: Any = None  # the framework's request object, for the integration's own use

    def new_guest(self) -> None:
        """The user logged out: from now on this browser is a new guest."""
        self.visitor_id = uuid.uuid4().hex
        self.new_visitor = True
        push_identity(Identity(guest_id=self.visitor_id, source_ip=self.source_ip))

    def logged_in(self, user_id: str) -> None:
        """The visitor logged in: the rest of the request is theirs, and their guest's past too."""
        push_identity(Identity(user_id=user_id, guest_id=self.visitor_id, source_ip=self.source_ip))
        client = autocapture.current_client()
        if client is not None:
            client.identify()  # the login upsert naming the guest: guest-to-user transfer


_current_visit: ContextVar[Visit | None] = ContextVar("usageanalytics_visit", default=None)


def start_visit(
    cookie_header: str | None, source_ip: str | None, secure: bool, user_hint: str | None = None
) -> Visit:
    """Read the visitor's cookies from the request's Cookie header; open its identity scope."""
    started = time.perf_counter()
    visitor = redirects = None
    if cookie_header and "ua_" in cookie_header:
        visitor = _VISITOR_IN_HEADER.search(cookie_header)
        redirects = _REDIRECTS_IN_HEADER.search(cookie_header)
    visit = Visit(
        started,
        visitor.group(1) if visitor else uuid.uuid4().hex,
        visitor is None,
        min(int(redirects.group(1)), MAX_REDIRECTS) if redirects else 0,
        source_ip or None,
        secure,
    )
    visit.token = push_identity(
        Identity(user_id=user_hint, guest_id=visit.visitor_id, source_ip=visit.source_ip)
    )
    visit.visit_token = _current_visit.set(visit)
    return visit


def around_request(
    handle: Callable[[], Any],
    start: Callable[[], Visit | None],
    finish: Callable[[Visit, Any], None],
) -> Any:
    """Run a framework's synchronous request handler ``handle`` inside a captured visit.

    ``start`` opens the visit (None: not captured), ``finish(visit, response)`` reports it; the
    handler's own exceptions pass through untouched, the capture's are logged.
    """
    if autocapture.current_client() is None:
        return handle()
    visit = call_safely("request start", start)
    if visit is None:
        return handle()
    try:
        response = handle()
    finally:
        close_scope(visit)
    call_safely("page capture", finish, visit, response)
    return response


def close_scope(visit: Visit) -> None:
    """Leave the identity scope :func:`start_visit` opened (call in ``finally``)."""
    if visit.token is not None:
        pop_identity(visit.token)
        visit.token = None
    if visit.visit_token is not None:
        _current_visit.reset(visit.visit_token)
        visit.visit_token = None


def logged_in(user_id: Any) -> None:
    """Call from a framework's logged-in signal with the user's id."""
    visit = _current_visit.get()
    if visit is not None and user_id is not None and str(user_id):
        try:
            visit.logged_in(str(user_id))
        except Exception:
            logger.exception("usageanalytics: handling a login failed; the app is unaffected")


def logged_out(*args: Any, **kwargs: Any) -> None:
    """Receiver for a framework's logged-out signal: the visitor becomes a new guest."""
    visit = _current_visit.get()
    if visit is not None:
        try:
            visit.new_guest()
        except Exception:
            logger.exception("usageanalytics: handling a logout failed; the app is unaffected")


def final_identity(visit: Visit, identified: Any, user_id: str | None) -> Identity:
    """The request's identity from the app's ``identify(request)`` result or the framework user.

    ``identified`` may be None (use ``user_id``, the framework's logged-in user), a user id, or
    a full :class:`Identity`; the visitor id and address fill what it leaves out.
    """
    if isinstance(identified, Identity):
        return dataclasses.replace(
            identified,
            guest_id=identified.guest_id or visit.visitor_id,
            source_ip=identified.source_ip or visit.source_ip,
        )
    if identified is not None and not isinstance(identified, str):
        logger.warning(
            "usageanalytics: identify() returned %s; expected None, a user id or an Identity",
            type(identified).__name__,
        )
        identified = None
    return Identity(user_id=identified or user_id, guest_id=visit.visitor_id, source_ip=visit.source_ip)


def finish_visit(
    visit: Visit,
    response: Any,
    *,
    method: str,
    status: int,
    content_type: str | None,
    screen_name: Callable[[], str | None],
    url: str,
    identity: Callable[[], Identity],
) -> None:
    """Set the visitor cookies on ``response`` and, if it is a page, log its events.

    ``response`` needs ``set_cookie`` and ``delete_cookie`` (Werkzeug's and Django's agree).
    Call after :func:`close_scope`; ``screen_name`` and ``identity`` run only for pages.
    """
    load_ms = (time.perf_counter() - visit.started) * 1000.0
    page = is_page(method, status, content_type)
    if visit.new_visitor:
        response.set_cookie(
            VISITOR_COOKIE,
            visit.visitor_id,
            max_age=VISITOR_COOKIE_AGE,
            secure=visit.secure,
            httponly=True,
            samesite="Lax",
        )
    if 300 <= status < 400:
        response.set_cookie(
            REDIRECTS_COOKIE,
            str(min(visit.redirects + 1, MAX_REDIRECTS)),
            max_age=REDIRECTS_COOKIE_AGE,
            secure=visit.secure,
            httponly=True,
            samesite="Lax",
        )
    elif page and visit.redirects:
        response.delete_cookie(REDIRECTS_COOKIE, samesite="Lax")
    if not page:
        return
    client = autocapture.current_client()
    if client is None:
        return
    screen = screen_name()
    if not screen:
        logger.debug("usageanalytics: %s has no route to name its screen; not captured", url)
        return
    token = push_identity(identity())
    try:
        client.log_screen_view(screen, debounce=True)
        client.log_page_load(url, round(load_ms, 3), visit.redirects + 1)
    finally:
        pop_identity(token)
