"""Web auto-capture shared by Flask, Django and ASGI: which responses are pages, who the visitor is.

A request is captured in two steps. :func:`start_visit` (before the framework handles it) reads
the visitor cookie and opens an identity scope, so the app's own tracking calls in the view
belong to this visitor. :func:`log_request` (after) logs, when the response is a page, a "Screen View"
named by the route template and a ``page_load_event``, and, with ``capture_api_calls``, an "API
Call" for any other routed request; :func:`cookies_for` says which cookies the response carries.

What counts:

- a *page* is a GET answered with a 2xx status and a ``text/html`` Content-Type; redirects,
  errors, JSON, files and excluded paths are not. Every page the server sent counts: page views
  are never debounced (a user who reloads twice in a second saw the page twice);
- ``loadTime`` is the server time for the page in milliseconds, from the framework receiving the
  request to the response being ready (WSGI) or sent, streaming included (ASGI);
- ``requestCount`` is the number of requests the server answered to deliver the page: 1, plus one
  for each redirect a known visitor's browser followed to reach it (a login form's POST, then its
  redirect to the page, makes 2). Redirects of browser navigations (``Accept: text/html``) are
  counted in a short-lived cookie, so this holds across worker processes; an API client's
  redirects set no cookie;
- the *visitor* is a random id kept in the ``ua_visitor`` cookie: the guest id of anonymous
  visitors and, once they log in, the guest whose history becomes the user's. The cookie is set
  on page responses only (and on the response that logs a user out, which gives the browser a
  new guest id): API clients and caches never see it. A request without it is a new guest
  unless it carries a user.

Consent comes first (:func:`refusal`): a request that sends ``Sec-GPC: 1`` (``respect_gpc``,
on by default), ``DNT: 1`` (``respect_dnt``, off by default) or whose ``consent(request)`` says
no is not tracked at all. No visit is opened, so it gets no cookie and logs nothing, and the
app's own tracking calls while it runs are refused (:func:`run_untracked`), counted as dropped
with the reason.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from . import autocapture
from .context import Identity, current_identity, pop_identity, pop_untracked, push_identity, push_untracked
from .ledger import NO_CONSENT, NO_CONSENT_DNT, NO_CONSENT_GPC
from .patching import log_failure

if TYPE_CHECKING:
    from .client import Client
    from .settings import Settings

logger = logging.getLogger("usageanalytics")

VISITOR_COOKIE = "ua_visitor"
REDIRECTS_COOKIE = "ua_redirects"
VISITOR_COOKIE_AGE = 2 * 365 * 24 * 3600
REDIRECTS_COOKIE_AGE = 60
MAX_REDIRECTS = 20
API_CALL = "API Call"

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
"""Paths that are never pages nor API calls. A rule is a path prefix (``/health`` matches
``/health`` and ``/health/db`` but not ``/healthy``; ``/static/`` matches everything under it)
or, when it starts with ``^``, a regular expression matched at the start of the path."""

# Read straight from the Cookie header: cheaper than parsing every cookie, and a value of any
# other shape is not ours (the visitor gets a new id). The name is found with str.find and the
# value matched there: a regular expression searched over the whole header (a browser sends a
# site's analytics and consent cookies too) costs twice as much.
_VISITOR_NAME = VISITOR_COOKIE + "="
_REDIRECTS_NAME = REDIRECTS_COOKIE + "="
_VISITOR_VALUE = re.compile(r"([0-9a-f]{32})(?=$|[;,\s])")
_REDIRECTS_VALUE = re.compile(r"([0-9]{1,2})(?=$|[;,\s])")
_new_id = uuid.uuid4


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
        self._seen: dict[str, bool] = {}

    def excludes(self, path: str) -> bool:
        found = self._seen.get(path)  # most requests are to paths seen before
        if found is None:
            found = self._excludes(path)
            if len(self._seen) >= 4096:  # paths with ids in them: never grow without end
                self._seen.clear()
            self._seen[path] = found
        return found

    def _excludes(self, path: str) -> bool:
        if path in self._exact or path.startswith(self._folders) or path.startswith(self._subtrees):
            return True
        if self._patterns:
            return any(pattern.match(path) for pattern in self._patterns)
        return False


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
        and content_type.lstrip()[:9].lower() == "text/html"
    )


def is_api_method(method: str) -> bool:
    """Methods an API call can have: not HEAD (a probe) nor OPTIONS (a CORS preflight)."""
    return method != "HEAD" and method != "OPTIONS"


def route_screen_name(route: str) -> str:
    """A route template as a screen name, always starting with ``/``."""
    return route if route.startswith("/") else "/" + route


def page_url(path: str, query: str, include_query: bool) -> str:
    return f"{path}?{query}" if include_query and query else path


# -- consent -----------------------------------------------------------------------------------------


def header_refusal(settings: Settings, gpc: str | bytes | None, dnt: str | bytes | None) -> str | None:
    """Why the request's privacy headers say it must not be tracked, or None.

    ``Sec-GPC: 1`` (Global Privacy Control, a legally recognised opt-out in California) counts
    when ``respect_gpc`` (the default), ``DNT: 1`` when ``respect_dnt``. Header values as the
    framework gives them (text, or bytes in ASGI).
    """
    if gpc is not None and settings.respect_gpc and gpc.strip() in ("1", b"1"):
        return NO_CONSENT_GPC
    if dnt is not None and settings.respect_dnt and dnt.strip() in ("1", b"1"):
        return NO_CONSENT_DNT
    return None


def refusal(settings: Settings, gpc: str | None, dnt: str | None, request: Any) -> str | None:
    """Why the request must not be tracked (its headers, then ``consent(request)``), or None.

    For WSGI and sync paths: an async ``consent`` cannot be awaited here, so it leaves the
    request untracked, with one warning.
    """
    reason = header_refusal(settings, gpc, dnt)
    if reason is not None or settings.consent is None:
        return reason
    try:
        answer = settings.consent(request)
    except Exception:
        _consent_failed()
        return NO_CONSENT
    if inspect.isawaitable(answer):
        if inspect.iscoroutine(answer):
            answer.close()  # never awaited: said once, not as a RuntimeWarning per request
        warn_once(
            "an async consent() cannot be awaited in a WSGI or sync request; such requests are "
            "left untracked (give this framework a plain function)"
        )
        return NO_CONSENT
    return _consented(answer)


async def consent_refusal(consent: Callable[[Any], Any], request: Any) -> str | None:
    """``consent(request)``, sync or async, for ASGI apps and Django's async path."""
    try:
        answer = consent(request)
        if inspect.isawaitable(answer):
            answer = await answer
    except Exception:
        _consent_failed()
        return NO_CONSENT
    return _consented(answer)


def _consented(answer: Any) -> str | None:
    """None when ``consent``'s answer is true; an answer whose truth cannot be read (its
    ``__bool__`` raises) is no consent, as a consent that raises is."""
    try:
        return None if answer else NO_CONSENT
    except Exception:
        _consent_failed()
        return NO_CONSENT


def _consent_failed() -> None:
    """A consent callable that raises leaves the request untracked: without an answer there is
    no consent. Logged once a minute (called while the exception is handled)."""
    log_failure("consent(request)", "consent(request) failed; the request is not tracked")


def run_untracked(reason: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run the framework's handling of a request nobody may track: the app's own tracking
    calls in it are refused, counted under ``reason``."""
    token = push_untracked(reason)
    try:
        return call(*args, **kwargs)
    finally:
        pop_untracked(token)


async def run_untracked_async(reason: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """:func:`run_untracked` for a coroutine function."""
    token = push_untracked(reason)
    try:
        return await call(*args, **kwargs)
    finally:
        pop_untracked(token)


# -- visits ------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False, slots=True)
class Visit:
    """One request being captured."""

    started: float
    visitor_id: str
    new_visitor: bool
    redirects: int
    source_ip: str | None
    secure: bool | Callable[[], bool]  # or how to find out, asked only when setting a cookie
    # A browser's navigation (it accepts text/html): only its redirects count toward
    # requestCount (an API client's redirects set no cookie).
    navigation: bool = False
    token: Token[Identity | None] | None = None
    visit_token: Token[Visit | None] | None = None
    request: Any = None  # the framework's request object, for the integration's own use
    user_id: str | None = None  # the user known when the visit started (a session's), if any
    logged_in_as: str | None = None  # set by a login during the request
    logged_out: bool = False  # set by a logout during the request
    extra: Any = None  # the integration's own per-request state
    base: Identity | None = None  # the identity opened at the start

    def is_secure(self) -> bool:
        secure = self.secure
        if not isinstance(secure, bool):
            secure = self.secure = bool(secure())
        return secure

    def new_guest(self) -> None:
        """The user logged out: from now on this browser is a new guest."""
        self.visitor_id = _new_id().hex
        self.new_visitor = True
        self.logged_out = True
        self.logged_in_as = None
        push_identity(Identity(guest_id=self.visitor_id, source_ip=self.source_ip))

    def logged_in(self, user_id: str) -> None:
        """The visitor logged in: the rest of the request is theirs, and their guest's past too."""
        self.logged_in_as = user_id
        push_identity(Identity(user_id=user_id, guest_id=self.visitor_id, source_ip=self.source_ip))
        client = autocapture.current_client()
        if client is not None:
            client.identify()  # the login upsert naming the guest: guest-to-user transfer

    def identity(self, user_id: str | None) -> Identity:
        base = self.base
        if base is not None and base.user_id == user_id and base.guest_id == self.visitor_id:
            return base  # the common case: nobody logged in or out during the request
        return _identity(user_id, self.visitor_id, self.source_ip)


_identities: dict[tuple[str | None, str, str | None], Identity] = {}


def _identity(user_id: str | None, visitor_id: str, source_ip: str | None) -> Identity:
    """The request identity, the same object for a returning visitor: cheaper than building a
    frozen dataclass each request, and the core keys its per-identity cache on it."""
    key = (user_id, visitor_id, source_ip)
    found = _identities.get(key)
    if found is None:
        if len(_identities) >= 10_000:
            _identities.clear()
        found = _identities[key] = Identity(user_id, visitor_id, None, None, None, source_ip)
    return found


_current_visit: ContextVar[Visit | None] = ContextVar("usageanalytics_visit", default=None)


def current_visit() -> Visit | None:
    """The visit of the request running in this context, if it is captured."""
    return _current_visit.get()


def cookie_value(header: str, name: str, value: re.Pattern[str]) -> str | None:
    """The first value of the cookie ``name`` (given with its ``=``) in a Cookie header that has
    ``value``'s shape, else None. A cookie starts the header or follows a ``;`` or ``,`` and
    any whitespace, so ``xua_visitor=`` is not ours."""
    start = 0
    while True:
        at = header.find(name, start)
        if at < 0:
            return None
        before = at
        while before and header[before - 1].isspace():
            before -= 1
        if at == 0 or (before and header[before - 1] in ";,"):
            found = value.match(header, at + len(name))
            if found is not None:
                return found.group(1)
        start = at + 1


def read_cookies(cookie_header: str | None) -> tuple[str | None, int]:
    """The visitor id and redirect count from a Cookie header (None, 0 when absent)."""
    if not cookie_header:
        return None, 0
    at = cookie_header.find(_VISITOR_NAME)
    if at < 0:
        visitor = None
    elif at == 0 or cookie_header[at - 2 : at] == "; ":  # as browsers write it: one match
        found = _VISITOR_VALUE.match(cookie_header, at + len(_VISITOR_NAME))
        visitor = (
            found.group(1)
            if found is not None
            else cookie_value(cookie_header, _VISITOR_NAME, _VISITOR_VALUE)
        )
    else:
        visitor = cookie_value(cookie_header, _VISITOR_NAME, _VISITOR_VALUE)
    if _REDIRECTS_NAME not in cookie_header:
        return visitor, 0
    redirects = cookie_value(cookie_header, _REDIRECTS_NAME, _REDIRECTS_VALUE)
    return visitor, min(int(redirects), MAX_REDIRECTS) if redirects else 0


def accepts_html(accept: str | bytes | None) -> bool:
    """Whether an Accept header is a browser navigation's (``text/html``; ``*/*`` alone is not)."""
    if not accept:
        return False
    return (b"text/html" in accept) if isinstance(accept, bytes) else ("text/html" in accept)


def start_visit(
    cookie_header: str | None,
    source_ip: str | None,
    secure: bool | Callable[[], bool],
    user_hint: str | None = None,
    navigation: bool = False,
) -> Visit:
    """Read the visitor's cookies from the request's Cookie header; open its identity scope.
    ``navigation``: whether the request accepts text/html (see :func:`accepts_html`)."""
    started = time.perf_counter()
    visitor, redirects = read_cookies(cookie_header)
    visitor_id = visitor if visitor is not None else _new_id().hex
    source_ip = source_ip or None
    visit = Visit(
        started, visitor_id, visitor is None, redirects, source_ip, secure, navigation, user_id=user_hint
    )
    visit.base = base = _identity(user_hint, visitor_id, source_ip)
    visit.token = push_identity(base)
    visit.visit_token = _current_visit.set(visit)
    return visit


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
            log_failure("handling a login")


def logged_out(*args: Any, **kwargs: Any) -> None:
    """Receiver for a framework's logged-out signal: the visitor becomes a new guest."""
    visit = _current_visit.get()
    if visit is not None:
        try:
            visit.new_guest()
        except Exception:
            log_failure("handling a logout")


def logout_in_request() -> bool:
    """``ua.reset_user()`` called while a captured request runs (an app's own logout view):
    that browser becomes a new guest, not the server process. False outside a request."""
    if _current_visit.get() is None:
        return False
    logged_out()
    return True


def login_seen(visit: Visit, user_id: str) -> None:
    """After the view: the request logged a user in (their id appeared in the session).

    Announces the login at once (the guest's history becomes the user's) without leaving an
    identity behind in the caller's context.
    """
    visit.logged_in_as = user_id
    client = autocapture.current_client()
    if client is not None:
        token = push_identity(visit.identity(user_id))
        try:
            client.identify()
        finally:
            pop_identity(token)


def logout_seen(visit: Visit) -> None:
    """After the view: the request logged the user out; the browser becomes a new guest."""
    visit.visitor_id = _new_id().hex
    visit.new_visitor = True
    visit.logged_out = True
    visit.logged_in_as = None


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
        if isinstance(identified, int) and not isinstance(identified, bool):
            identified = str(identified)
        else:
            warn_once(
                f"identify() returned {type(identified).__name__}; expected None, a user id or an "
                "Identity (the framework's user is used)"
            )
            identified = None
    elif identified is not None and not identified.strip():
        identified = None  # blank: no answer, as None (not an id to refuse)
    return visit.identity(identified or user_id)


_warned: set[str] = set()


def warn_once(message: str) -> None:
    """A configuration mistake seen per request: logged once per process, not per request."""
    if message not in _warned:
        _warned.add(message)
        logger.warning("usageanalytics: %s", message)


def user_id_of(user: Any) -> str | None:
    """The id of an app's user object as apps keep it: an ``id`` attribute or an ``"id"`` key.

    Read without a query: an ORM object's id only where it is already loaded (SQLAlchemy keeps
    loaded columns in ``__dict__``); a ``sqlite3.Row`` or a dict by key. A username or an email
    is not an id.
    """
    if user is None or isinstance(user, (str, bytes, int, float)):
        return None
    value: Any = None
    state = getattr(user, "__dict__", None)
    if isinstance(user, dict):
        value = user.get("id")
    elif state is not None and "_sa_instance_state" in state:
        value = state.get("id")
    else:
        value = getattr(user, "id", None)
        if value is None and hasattr(user, "keys"):
            try:
                # keys(): ``in`` on a sqlite3.Row looks at its values, not its column names.
                value = user["id"] if "id" in user.keys() else None  # noqa: SIM118
            except Exception:
                value = None
    if value is None or isinstance(value, bool) or callable(value):
        return None
    text = str(value)
    return text or None


def cookies_for(visit: Visit, page: bool, status: int) -> list[tuple[str, str, int]]:
    """The cookies ``(name, value, max_age)`` to set on the response; max_age 0 deletes one.

    The visitor cookie goes on pages only, and on the response of a logout (a browser flow
    whose response already changes the session cookie), never on API, static, redirect or
    error responses. The redirect counter is kept only for a browser that has our cookie, on
    the redirects of its navigations (a request that accepts text/html): never for API clients.
    """
    cookies: list[tuple[str, str, int]] = []
    if visit.new_visitor and (page or visit.logged_out):
        cookies.append((VISITOR_COOKIE, visit.visitor_id, VISITOR_COOKIE_AGE))
    if 300 <= status < 400:
        if not visit.new_visitor and visit.navigation:
            count = str(min(visit.redirects + 1, MAX_REDIRECTS))
            cookies.append((REDIRECTS_COOKIE, count, REDIRECTS_COOKIE_AGE))
    elif page and visit.redirects:
        cookies.append((REDIRECTS_COOKIE, "", 0))
    return cookies


def set_cookies(visit: Visit, response: Any, cookies: list[tuple[str, str, int]]) -> None:
    """Apply :func:`cookies_for` to a Werkzeug or Django response (their cookie APIs agree)."""
    for name, value, max_age in cookies:
        if max_age:
            response.set_cookie(
                name, value, max_age=max_age, secure=visit.is_secure(), httponly=True, samesite="Lax"
            )
        else:
            response.delete_cookie(name, samesite="Lax")


def cookie_header(visit: Visit, name: str, value: str, max_age: int) -> bytes:
    """A ``Set-Cookie`` header value for ASGI responses, as Werkzeug and Django write it."""
    if not max_age:
        return f"{name}=; Max-Age=0; Path=/; SameSite=Lax".encode("latin-1")
    secure = "; Secure" if visit.is_secure() else ""
    return f"{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{secure}".encode("latin-1")


def log_request(
    client: Client,
    visit: Visit,
    page: bool,
    method: str,
    status: int,
    template: str,
    url: str,
    who: Identity,
    elapsed_ms: float,
) -> None:
    """Log what the request was, as ``who``: a page (Screen View and page load) or an API call.
    The caller has checked that it is a page, or an API call while they are captured."""
    # Milliseconds to 3 decimals as round(elapsed_ms, 3) gives them, without its detour through
    # decimal text (C code no other step of a request runs: its instruction cache misses).
    elapsed = int(elapsed_ms * 1000.0 + 0.5) / 1000.0
    token = push_identity(who) if current_identity() is not who else None
    try:
        if page:
            client.log_page_view(template, url, elapsed, visit.redirects + 1)
        else:
            client.log_event(
                API_CALL,
                {
                    "Route": template,
                    "Method": method,
                    "Status Code": status,
                    "Duration": elapsed,
                },
            )
    finally:
        if token is not None:
            pop_identity(token)
