"""Django auto-capture: a Screen View and a page load for every HTML page, WSGI and ASGI alike.

The core attaches this when ``django.core.handlers.base`` is imported. It patches
``BaseHandler.get_response`` and ``get_response_async`` on the class: every handler (WSGI, ASGI,
the test clients), made before or after, however the WSGI or ASGI callable is wrapped, and both
sync and async views pass through them. The screen name is the resolved route template,
include() prefixes and all (``/blog/posts/<slug:slug>/``), or the view name when the route is a
regular expression. Settings:

- ``USAGEANALYTICS_EXCLUDE``: more paths that are never pages (prefixes, or patterns starting
  with ``^``), added to the defaults, ``STATIC_URL`` and ``MEDIA_URL``;
- ``USAGEANALYTICS_IDENTIFY``: a callable (or its dotted path) ``identify(request)`` returning
  the user id, an ``Identity``, or None to use ``request.user``; on the async path it may be a
  coroutine function, and a plain one must not touch the database there;
- ``USAGEANALYTICS_PAGE_QUERY``: True to keep the query string in ``pageUrl``.

A request that sends ``Sec-GPC: 1`` (or ``DNT: 1`` with ``respect_dnt``), or whose
``configure(consent=...)`` callable says no, is not tracked at all: no cookie, nothing logged,
and the app's own tracking calls while it runs are refused (counted as dropped). ``consent``
is asked before Django's middleware runs: decide from the request's cookies or headers (on the
async path it may be a coroutine function).

The user is read only where the request already loaded it (``request.user`` evaluated by the
view, a template or middleware, or the session already read); the integration never evaluates
``request.user`` itself, so it forces no query and is safe on the async path. A page whose
request never looked at the user counts under the visitor's guest id, which the core moves to
the user once they are seen logged in.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any, cast
from urllib.parse import urlsplit

from usageanalytics import autocapture
from usageanalytics import webcapture as web
from usageanalytics.context import Identity
from usageanalytics.patching import Patcher, call_safely, log_failure

from .apps import UsageAnalyticsConfig as UsageAnalyticsConfig

logger = logging.getLogger("usageanalytics")
_patcher = Patcher("django")
_auth_signals: tuple[Any, Any] | None = None  # (user_logged_in, user_logged_out) once connected
_SIGNAL_UID = "usageanalytics.auto_capture"
_REGEX_ROUTE = re.compile(r"[\^$()\[\]\\*+?{}|]")
_route_names: dict[str, str] = {}  # a route as Django resolved it -> its screen name ("": a regex)
_ASK = object()  # identify(request) not called yet
_django_settings: Any = None  # django.conf.settings, imported once
_current_settings: _Settings | None = None  # what _settings() read, for the settings object it read
_lazy: tuple[Any, Any] | None = None  # django.utils.functional's LazyObject and empty


def install(base_module: ModuleType) -> None:
    """Patch Django's request handling (idempotent)."""
    handler = base_module.BaseHandler
    _patcher.replace(handler, "get_response", _sync_patch)
    _patcher.replace(handler, "get_response_async", _async_patch)


def uninstall() -> None:
    """Undo :func:`install`."""
    global _auth_signals
    _patcher.restore()
    if _auth_signals is not None:
        for signal in _auth_signals:
            signal.disconnect(dispatch_uid=_SIGNAL_UID)
        _auth_signals = None


def _sync_patch(original: Callable[..., Any]) -> Callable[..., Any]:
    """``BaseHandler.get_response``, capturing: a plain function (a wrapper object bound per
    request would cost more than a third of the hook's start), inactive once uninstalled."""

    @functools.wraps(original)
    def get_response(handler: Any, request: Any) -> Any:
        if not _patcher.active:
            return original(handler, request)
        return _capture_sync(original, handler, request)

    return get_response


def _async_patch(original: Callable[..., Any]) -> Callable[..., Any]:
    """``BaseHandler.get_response_async``, capturing: a coroutine function still."""

    @functools.wraps(original)
    async def get_response_async(handler: Any, request: Any) -> Any:
        if not _patcher.active:
            return await original(handler, request)
        return await _capture_async(original, handler, request)

    return get_response_async


def _capture_sync(original: Callable[..., Any], handler: Any, request: Any) -> Any:
    client = autocapture.current_client()
    if client is None:
        return original(handler, request)
    reason: str | None = None
    try:
        settings = client.settings
        meta = request.META
        gpc = meta.get("HTTP_SEC_GPC")
        if gpc is not None or settings.respect_dnt or settings.consent is not None:
            reason = web.refusal(settings, gpc, meta.get("HTTP_DNT"), request)
        visit = _start(request) if reason is None else None
    except Exception:
        log_failure("request start")
        visit = None
    if reason is not None:  # no consent: nothing of this request is tracked
        return web.run_untracked(reason, original, handler, request)
    if visit is None:
        return original(handler, request)
    try:
        response = original(handler, request)
    except BaseException:
        web.close_scope(visit)
        raise
    try:
        _finish(request, visit, response, _ASK, client)  # still in the visit's identity scope
    except Exception:
        log_failure("page capture")
    web.close_scope(visit)
    return response


async def _capture_async(original: Callable[..., Any], handler: Any, request: Any) -> Any:
    client = autocapture.current_client()
    if client is None:
        return await original(handler, request)
    reason = call_safely("reading the request's privacy headers", _header_refusal, client.settings, request)
    if reason is None and client.settings.consent is not None:
        reason = await web.consent_refusal(client.settings.consent, request)
    if reason is not None:  # no consent: nothing of this request is tracked
        return await web.run_untracked_async(reason, original, handler, request)
    visit = call_safely("request start", _start, request)
    if visit is None:
        return await original(handler, request)
    try:
        response = await original(handler, request)
    finally:
        web.close_scope(visit)
    identified: Any = _ASK
    identify = call_safely("reading USAGEANALYTICS_IDENTIFY", _identify_callable, client, visit.extra)
    if identify is not None and inspect.iscoroutinefunction(identify) and _is_reported(request, response):
        try:
            identified = await identify(request)
        except Exception:
            log_failure("identify(request)")
            identified = None
    call_safely("page capture", _finish, request, visit, response, identified, client)
    return response


def _header_refusal(settings: Any, request: Any) -> str | None:
    meta = request.META
    return web.header_refusal(settings, meta.get("HTTP_SEC_GPC"), meta.get("HTTP_DNT"))


def _start(request: Any) -> web.Visit | None:
    """Open the visit, or None when the path is excluded."""
    settings = _settings()
    if settings.rules.excludes(request.path):
        return None
    if _auth_signals is None and "django.contrib.auth" in sys.modules:
        _watch_logins()
    meta = request.META
    visit = web.start_visit(
        meta.get("HTTP_COOKIE"),
        meta.get("REMOTE_ADDR"),
        request.is_secure,
        navigation=web.accepts_html(meta.get("HTTP_ACCEPT")),
    )
    visit.extra = settings
    return visit


def _finish(request: Any, visit: web.Visit, response: Any, identified: Any, client: Any) -> None:
    """Set the visitor's cookies on the response and log the page (or API call) it was."""
    elapsed_ms = (time.perf_counter() - visit.started) * 1000.0
    method = request.method
    status = response.status_code
    page = web.is_page(method, status, response.get("Content-Type"))
    cookies = web.cookies_for(visit, page, status)
    if cookies:
        web.set_cookies(visit, response, cookies)
    if not page and not (client.settings.capture_api_calls and web.is_api_method(method)):
        return
    template = _screen_name(request)
    if not template:
        return  # not a routed endpoint
    path = request.path
    url = web.page_url(path, request.META.get("QUERY_STRING", ""), True) if visit.extra.page_query else path
    who = _identity(request, visit, identified, client)
    web.log_request(client, visit, page, method, status, template, url, who, elapsed_ms)


def _identity(request: Any, visit: web.Visit, identified: Any, client: Any) -> Identity:
    """The request's user: what ``identify(request)`` returned (called here on the sync path),
    else the user the request already loaded."""
    if identified is _ASK:
        identify = _identify_callable(client, visit.extra)
        if identify is None:  # the common case: no call
            return visit.identity(_user_id(request))
        if inspect.iscoroutinefunction(identify):
            web.warn_once("an async identify() is not called for a sync Django view")
            identified = None
        else:
            identified = call_safely("identify(request)", identify, request)
    return web.final_identity(visit, identified, _user_id(request))


def _is_reported(request: Any, response: Any) -> bool:
    """A page, or an API call while they are captured: what needs the request's identity."""
    if web.is_page(request.method, response.status_code, response.get("Content-Type")):
        return True
    client = autocapture.current_client()
    return client is not None and client.settings.capture_api_calls


def _screen_name(request: Any) -> str | None:
    """The route template as Django resolved it, or the view name for a regex route."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return None
    route = match.route
    if isinstance(route, str):
        name = _route_names.get(route)
        if name is None:
            if len(_route_names) >= 10_000:
                _route_names.clear()
            name = _route_names[route] = "" if _REGEX_ROUTE.search(route) else web.route_screen_name(route)
        if name:
            return name
    return str(match.view_name) or None


def _user_id(request: Any) -> str | None:
    """The request's user if something already loaded it; never evaluates ``request.user``."""
    global _lazy
    if _lazy is None:
        from django.utils.functional import LazyObject, empty  # type: ignore[import-untyped]

        _lazy = (LazyObject, empty)
    LazyObject, empty = _lazy
    state = request.__dict__
    user = state.get("user")
    if isinstance(user, LazyObject):
        loaded = user._wrapped  # reading _wrapped does not evaluate the lazy object
        user = None if loaded is empty else loaded
    if user is None:
        user = state.get("_cached_user") or state.get("_acached_user")
    if user is not None:
        if not getattr(user, "is_authenticated", False) or user.pk is None:
            return None
        return str(user.pk)
    cache = getattr(state.get("session"), "_session_cache", None)  # only there once loaded
    if isinstance(cache, dict) and cache.get("_auth_user_id"):
        return str(cache["_auth_user_id"])
    return None


class _Settings:
    """What capture reads from Django's settings, kept while they stay the same object
    (``override_settings`` swaps it): one look per request instead of one per setting."""

    __slots__ = ("holder", "identify", "page_query", "rules")

    def __init__(self, settings: Any, holder: Any) -> None:
        self.holder = holder
        self.identify = getattr(settings, "USAGEANALYTICS_IDENTIFY", None)
        self.page_query = bool(getattr(settings, "USAGEANALYTICS_PAGE_QUERY", False))
        assets = (getattr(settings, "STATIC_URL", None), getattr(settings, "MEDIA_URL", None))
        prefixes = _asset_prefixes(*assets)
        self.rules = web.path_rules(getattr(settings, "USAGEANALYTICS_EXCLUDE", None), prefixes)


def _settings() -> _Settings:
    global _django_settings, _current_settings
    settings = _django_settings
    if settings is None:
        from django import conf  # type: ignore[import-untyped]

        settings = _django_settings = conf.settings
    holder = settings._wrapped
    current = _current_settings
    if current is None or current.holder is not holder:
        current = _current_settings = _Settings(settings, holder)
    return current


def _identify_callable(client: Any, settings: _Settings) -> Callable[..., Any] | None:
    """``USAGEANALYTICS_IDENTIFY`` (a callable or its dotted path), else ``configure(identify=...)``."""
    setting = settings.identify
    if setting is None:
        default: Callable[..., Any] | None = client.settings.identify
        return default
    if isinstance(setting, str):
        return _import(setting)
    return cast("Callable[..., Any]", setting)


@functools.lru_cache(maxsize=8)
def _import(dotted: str) -> Callable[..., Any]:
    from django.utils.module_loading import import_string  # type: ignore[import-untyped]

    function: Callable[..., Any] = import_string(dotted)
    return function


@functools.lru_cache(maxsize=8)
def _asset_prefixes(*urls: Any) -> tuple[str, ...]:
    prefixes = []
    for url in urls:
        path = urlsplit(str(url)).path if url else ""
        if path.strip("/"):
            prefixes.append("/" + path.strip("/") + "/")
    return tuple(prefixes)


def _watch_logins() -> None:
    """Connect to django.contrib.auth's login and logout signals (lazily: auth may be unused)."""
    global _auth_signals
    from django.contrib.auth.signals import user_logged_in, user_logged_out  # type: ignore[import-untyped]

    user_logged_in.connect(_logged_in, weak=False, dispatch_uid=_SIGNAL_UID)
    user_logged_out.connect(web.logged_out, weak=False, dispatch_uid=_SIGNAL_UID)
    _auth_signals = (user_logged_in, user_logged_out)


def _logged_in(sender: Any, user: Any = None, **kwargs: Any) -> None:
    web.logged_in(getattr(user, "pk", None))
