"""The generic ASGI middleware on apps that are not Starlette: bare ASGI callables that name their
routes in the scope, or not at all, driven through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import usageanalytics as ua
from tests.integrations.helpers import flushed, page_loads, params, screen_views
from tests.support.strict_server import StrictServer
from usageanalytics.asgi import UsageAnalyticsMiddleware

Configure = Callable[..., ua.Client]
ROUTES = {"/": "/", "/books/1": "/books/{id}", "/books/2": "/books/{id}", "/api/books": "/api/books"}


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app with its own tiny router: it leaves the route template in ``scope["route"]``
    as a string, the way some frameworks do, and the user in ``scope["user"]``."""
    assert scope["type"] == "http"
    path = scope["path"]
    template = ROUTES.get(path)
    if template is not None:
        scope["route"] = template
    headers = dict(scope["headers"])
    if b"x-user" in headers:
        scope["state"] = {"user": {"id": headers[b"x-user"].decode()}}
    ua.log_event("Handled", {"Path": path})
    if template is None:
        status, kind, body = 404, b"text/html", b"<h1>Not found</h1>"
    elif path.startswith("/api/"):
        status, kind, body = 200, b"application/json", b"[]"
    else:
        status, kind, body = 200, b"text/html; charset=utf-8", b"<h1>Book</h1>"
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", kind)]})
    await send({"type": "http.response.body", "body": body[:3], "more_body": True})
    await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": body[3:]})


async def unnamed_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An app that names nothing: without ``name_for`` no request is a named page."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": b"<h1>Page</h1>"})


def get_all(app: Any, paths: list[str], headers: dict[str, str] | None = None) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=headers
        ) as client:
            return [await client.get(path) for path in paths]

    return asyncio.run(run())


def test_routes_the_framework_left_in_the_scope_name_the_screens(
    server: StrictServer, configure: Configure
) -> None:
    configure(auto_capture=False, capture_api_calls=True)  # the middleware is explicit
    app = UsageAnalyticsMiddleware(bare_app)
    responses = get_all(app, ["/", "/books/1", "/books/2", "/api/books", "/nowhere", "/health"])
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 404, 404]
    cookies = [r.headers.get("set-cookie", "") for r in responses]
    assert cookies[0].startswith("ua_visitor=")
    assert not any(cookies[3:])  # JSON, unrouted, excluded: no cookie
    guest = responses[0].cookies["ua_visitor"]
    flushed(server)
    assert screen_views(server) == [(guest, "/"), (guest, "/books/{id}"), (guest, "/books/{id}")]
    assert [load["pageUrl"] for load in page_loads(server)] == ["/", "/books/1", "/books/2"]
    (call,) = server.events("API Call")
    assert params(call) | {"Duration": 0} == {
        "Route": "/api/books",
        "Method": "GET",
        "Status Code": 200,
        "Duration": 0,
    }
    handled = {params(e)["Path"]: e["_envelope"]["userId"] for e in server.events("Handled")}
    assert handled["/books/1"] == guest
    assert handled["/nowhere"] == guest  # the visitor's, though not a page
    assert handled["/health"] == ua.get_client().user_id  # excluded: the process's own user


def test_never_the_raw_url_unless_asked(server: StrictServer, configure: Configure) -> None:
    configure(auto_capture=False)
    responses = get_all(UsageAnalyticsMiddleware(unnamed_app), ["/a/1", "/a/2"])
    assert all("set-cookie" not in r.headers for r in responses)  # not a named page: no cookie
    assert ua.flush(timeout=30)
    assert screen_views(server) == []

    named = UsageAnalyticsMiddleware(
        unnamed_app, name_for=lambda scope: scope["path"].rsplit("/", 1)[0] + "/{n}"
    )
    get_all(named, ["/a/1", "/a/2"])
    assert [name for _, name in screen_views(flushed(server))] == ["/a/{n}", "/a/{n}"]


def test_users_from_the_scope_and_identify(server: StrictServer, configure: Configure) -> None:
    seen: list[Any] = []

    async def identify(scope: Any) -> str | None:
        seen.append(scope["type"])
        return dict(scope["headers"]).get(b"x-admin", b"").decode() or None

    configure(auto_capture=False, identify=identify)
    app = UsageAnalyticsMiddleware(bare_app)
    get_all(app, ["/books/1"], headers={"X-User": "u-1"})
    get_all(app, ["/books/2"], headers={"X-User": "u-2", "X-Admin": "root"})
    flushed(server)
    assert sorted(screen_views(server)) == [("root", "/books/{id}"), ("u-1", "/books/{id}")]
    handled = {params(e)["Path"]: e["_envelope"]["userId"] for e in server.events("Handled")}
    assert handled["/books/2"] == "root"  # identify ran before the app: its own events too
    assert seen == ["http", "http"]


def test_a_starlette_app_inside_the_middleware_is_captured_once_with_its_routes(
    server: StrictServer, configure: Configure
) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Mount, Route

    async def page(request: Any) -> HTMLResponse:
        return HTMLResponse("<h1>Inner</h1>")

    configure()  # auto-capture on: Starlette is patched too
    inner = Starlette(routes=[Mount("/shop", routes=[Route("/items/{item_id}", page)])])
    responses = get_all(UsageAnalyticsMiddleware(inner), ["/shop/items/5"])
    assert responses[0].headers["set-cookie"].count("ua_visitor=") == 1
    assert [name for _, name in screen_views(flushed(server))] == ["/shop/items/{item_id}"]
    assert len(page_loads(server)) == 1


def test_websockets_and_lifespan_pass_through(configure: Configure) -> None:
    configure(auto_capture=False)
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        assert "usageanalytics.request" not in scope

    middleware = UsageAnalyticsMiddleware(app)

    async def run() -> None:
        await middleware({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
        await middleware({"type": "websocket", "path": "/ws", "headers": []}, None, None)  # type: ignore[arg-type]

    asyncio.run(run())
    assert seen == ["lifespan", "websocket"]


@pytest.mark.parametrize("bad", [None, 42, "", "/"])
def test_name_for_returning_nothing_useful_is_not_a_page(
    server: StrictServer, configure: Configure, bad: Any
) -> None:
    configure(auto_capture=False)
    get_all(UsageAnalyticsMiddleware(unnamed_app, name_for=lambda scope: bad), ["/x"])
    expected = [("/")] if bad == "/" else []
    assert [name for _, name in screen_views(flushed(server))] == expected


@pytest.mark.parametrize(
    "headers",
    [
        [(b"cookie", b"theme=dark; ua_visitor=" + b"a" * 32)],  # HTTP/1.1: one header
        [(b"cookie", b"theme=dark"), (b"accept", b"*/*"), (b"cookie", b"ua_visitor=" + b"a" * 32)],  # HTTP/2
        ((b"accept", b"*/*"), (b"accept", b"text/html"), (b"cookie", b"ua_visitor=" + b"a" * 32)),
    ],
    ids=["one-cookie-header", "split-cookies", "a-tuple-with-a-repeated-header"],
)
def test_the_visitor_cookie_is_found_however_the_headers_come(
    server: StrictServer, configure: Configure, headers: Any
) -> None:
    configure(auto_capture=False)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": "GET", "path": "/books/1", "root_path": "", "query_string": b""}
    asyncio.run(UsageAnalyticsMiddleware(bare_app)(scope | {"headers": headers}, receive, send))
    assert sent[0]["status"] == 200
    assert not [h for h in sent[0]["headers"] if h[0] == b"set-cookie"], "a returning visitor: no cookie"
    flushed(server)
    assert screen_views(server) == [("a" * 32, "/books/{id}")]
