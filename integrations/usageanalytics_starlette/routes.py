"""Route templates of a Starlette or FastAPI app, as the framework itself routes the request.

The route the framework leaves in ``scope["route"]`` is the innermost one: it lacks the prefixes
of the mounts above it and, in FastAPI versions that keep included routers whole, the prefix of
``include_router``; a middleware that copies the scope can hide it altogether. So the app's
route tree is indexed once (each route object with its full template, prefixes included) and a
request's template is one dictionary look-up of the route the router left in the scope. When
that route is absent or ambiguous (one route object under two mounts), the request is matched
against the app's routes the way Starlette does: each route's ``matches(scope)`` in order, a
full match winning over a partial one (a 405), descending into mounts and hosts with the child
scope they produce.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from typing import Any

from starlette.routing import Host, Match, Mount

_MAX_DEPTH = 16
NOT_ROUTED = ""  # a mount of static files or a foreign app: no template of this app


def _routes_of(app: Any) -> list[Any] | None:
    """The routes of a (mounted) app, looking through middleware that wrap it (``.app``)."""
    for _ in range(_MAX_DEPTH):
        if app is None:
            return None
        routes = getattr(app, "routes", None)
        if routes is not None:
            return routes if isinstance(routes, list) else list(routes)
        app = getattr(app, "app", None)
    return None


def _mount_routes(route: Any) -> list[Any]:
    return list(getattr(route, "routes", None) or ()) or _routes_of(route.app) or []


def _entries(route: Any) -> Iterator[tuple[Any, tuple[Any, ...], Any, str | None]]:
    """``(matcher, route objects, effective route, path)`` for a route of a router.

    FastAPI's included routers (when kept whole) stand for the routes they include, each with
    its effective path; any other route stands for itself.
    """
    contexts = getattr(route, "effective_route_contexts", None)
    if callable(contexts):
        for context in contexts():
            original = getattr(context, "original_route", None)
            copy = getattr(context, "starlette_route", None)
            effective = copy if copy is not None else original
            path = getattr(copy, "path", None) if copy is not None else getattr(context, "path", None)
            objects = tuple(obj for obj in (original, copy) if obj is not None)
            yield context, objects, effective, path
    else:
        yield route, (route,), route, getattr(route, "path", None)


def _full(prefix: str, path: str) -> str:
    template = prefix + path
    return template if template.startswith("/") else "/" + template


class RouteTemplates:
    """Finds and caches the route templates of one top-level app."""

    def __init__(self, app: Any) -> None:
        self._app = weakref.ref(app)
        self._lock = threading.Lock()
        self._index: dict[int, tuple[Any, str]] = {}  # id(route) -> (route, template)
        self._ambiguous: set[int] = set()
        self._indexed: tuple[int, int] | None = None  # the routes list indexed: (id, length)

    def template(self, scope: Any, root_path: str) -> str | None:
        """The template of the request in ``scope``, or None when no route of this app handles
        it. ``root_path`` is the scope's root path when the request entered the app (mounts
        extend it as they route); the route the router matched is in ``scope["route"]``."""
        matched_route = scope.get("route")
        app = self._app()
        if app is None:
            return None
        routes = getattr(app, "routes", None)  # a Starlette or FastAPI app: its router's list
        if not isinstance(routes, list):
            routes = _routes_of(app)
            if routes is None:
                return None
        if matched_route is not None:
            if (id(routes), len(routes)) != self._indexed:
                self._reindex(routes)
            key = id(matched_route)
            found = self._index.get(key)
            if found is not None and found[0] is matched_route and key not in self._ambiguous:
                return found[1] or None
        entered = dict(scope)
        entered["root_path"] = root_path
        entered["path_params"] = {}
        matched = self._match(routes, entered, "", 0)
        return matched or None

    def _reindex(self, routes: list[Any]) -> None:
        index: dict[int, tuple[Any, str]] = {}
        ambiguous: set[int] = set()

        def add(route: Any, template: str) -> None:
            key = id(route)
            if key in index and index[key][1] != template:
                ambiguous.add(key)
            index[key] = (route, template)

        def walk(level: list[Any], prefix: str, depth: int) -> None:
            if depth > _MAX_DEPTH:
                return
            for route in level:
                for _, objects, effective, path in _entries(route):
                    if isinstance(effective, (Mount, Host)):
                        inner = _mount_routes(effective)
                        for obj in objects:
                            add(obj, NOT_ROUTED)  # the mount itself is no endpoint
                        below = prefix + effective.path if isinstance(effective, Mount) else prefix
                        walk(inner, below, depth + 1)
                    elif isinstance(path, str):
                        for obj in objects:
                            add(obj, _full(prefix, path))

        try:
            walk(routes, "", 0)
        except Exception:  # an exotic route type: match requests instead
            index, ambiguous = {}, set()
        with self._lock:
            self._index, self._ambiguous = index, ambiguous
            self._indexed = (id(routes), len(routes))

    def _match(self, routes: list[Any], scope: Any, prefix: str, depth: int) -> str | None:
        if depth > _MAX_DEPTH:
            return None
        partial: tuple[Any, Any, str | None] | None = None
        for route in routes:
            for matcher, _, effective, path in _entries(route):
                try:
                    match, child = matcher.matches(scope)
                except Exception:  # a custom route that cannot judge this scope: not ours
                    continue
                if match is Match.FULL:
                    return self._leaf(effective, path, scope, child, prefix, depth)
                if match is Match.PARTIAL and partial is None:
                    partial = (effective, child, path)
        if partial is not None:
            return self._leaf(partial[0], partial[2], scope, partial[1], prefix, depth)
        return None

    def _leaf(
        self, route: Any, path: str | None, scope: Any, child: Any, prefix: str, depth: int
    ) -> str | None:
        if isinstance(route, (Mount, Host)):
            inner = _mount_routes(route)
            if not inner:
                return NOT_ROUTED
            child_scope = dict(scope)
            child_scope.update(child)
            below = prefix + route.path if isinstance(route, Mount) else prefix
            return self._match(inner, child_scope, below, depth + 1)
        return _full(prefix, path) if isinstance(path, str) else NOT_ROUTED
