"""FastAPI and Starlette auto-capture through the FastAPI TestClient, checked on what reaches the
strict server. The app (tests/integrations/apps/fastapi_site.py) is written the way FastAPI's
tutorial teaches; the SDK is attached by ``configure()`` alone."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.routing import Router

import usageanalytics as ua
from tests.integrations.apps.fastapi_site import create_app
from tests.integrations.helpers import (
    BROWSER_ACCEPT,
    broken_capture,
    flushed,
    page_loads,
    params,
    screen_views,
)
from tests.support.strict_server import StrictServer

Configure = Callable[..., ua.Client]
ORIGINAL_CALL = vars(Starlette)["__call__"]
ORIGINAL_ROUTER_CALL = vars(Router)["__call__"]


def browser(app: Any, **options: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False, **options)


def visitor_of(client: TestClient) -> str:
    cookie = client.cookies.get("ua_visitor")
    assert cookie, "the visitor cookie was not set"
    return str(cookie)


def api_calls(server: StrictServer) -> list[dict[str, Any]]:
    return [dict(params(e), userId=e["_envelope"]["userId"]) for e in server.events("API Call")]


def test_pages_are_named_by_route_template_with_router_and_mount_prefixes(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    client = browser(create_app())
    for path in (
        "/",
        "/v1/shop/items/7?tab=reviews",
        "/admin/panels/sales",
        "/api/items/3",
        "/v1/shop/items/7/json",
        "/go",
        "/boom",
        "/missing",
        "/nowhere",
        "/health",
        "/static/site.css",
        "/v1/shop/items/not-a-number",  # FastAPI's 422
    ):
        client.get(path)
    client.post("/api/items")
    client.head("/")
    guest = visitor_of(client)

    flushed(server)
    assert screen_views(server) == [
        (guest, "/"),
        (guest, "/v1/shop/items/{item_id}"),
        (guest, "/admin/panels/{panel}"),
    ]
    loads = page_loads(server)
    assert [load["pageUrl"] for load in loads] == ["/", "/v1/shop/items/7", "/admin/panels/sales"]
    for load in loads:
        assert load["userId"] == guest
        assert load["requestCount"] == 1
        assert 0 < load["loadTime"] < 60_000
    # Nothing else than the session, the pages and their loads (API calls are off by default).
    assert [e["name"] for e in server.events()] == ["app_session_start"] + [
        "Screen View",
        "page_load_event",
    ] * 3


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/items/3", 200),
        ("POST", "/api/items", 201),
        ("GET", "/go", 302),
        ("GET", "/boom", 500),
        ("GET", "/missing", 404),
        ("GET", "/nowhere", 404),
        ("GET", "/static/site.css", 200),
        ("GET", "/health", 200),
        ("HEAD", "/", 405),  # FastAPI routes GET only
        ("GET", "/v1/shop/items/x", 422),
    ],
)
def test_the_visitor_cookie_is_set_on_pages_only(
    server: StrictServer, configure: Configure, method: str, path: str, status: int
) -> None:
    configure()
    client = browser(create_app())
    response = client.request(method, path)
    assert response.status_code == status
    assert "set-cookie" not in response.headers, response.headers
    page = client.get("/v1/shop/items/1")
    assert page.headers["set-cookie"].startswith("ua_visitor=")
    assert "HttpOnly" in page.headers["set-cookie"]
    assert "SameSite=Lax" in page.headers["set-cookie"]
    again = client.get("/")
    assert "set-cookie" not in again.headers  # a returning visitor keeps theirs


def test_every_page_served_counts_even_the_same_page_twice_at_once(
    server: StrictServer, configure: Configure
) -> None:
    configure()  # a 60 s debounce window: page views are never debounced
    client = browser(create_app())
    client.get("/")
    client.get("/")
    guest = visitor_of(client)
    assert screen_views(flushed(server)) == [(guest, "/"), (guest, "/")]
    assert len(page_loads(server)) == 2


def test_load_time_runs_until_a_streamed_page_is_sent(server: StrictServer, configure: Configure) -> None:
    configure()
    client = browser(create_app())
    response = client.get("/stream")
    assert response.text.endswith("<p>part 2</p>")
    (load,) = page_loads(flushed(server))
    assert load["pageUrl"] == "/stream"
    assert 150 <= load["loadTime"] < 60_000


def test_root_path_behind_a_proxy_prefix(server: StrictServer, configure: Configure) -> None:
    configure()
    client = browser(create_app(), root_path="/proxy")
    assert client.get("/proxy/v1/shop/items/2").status_code == 200
    assert client.get("/proxy/admin/panels/x").status_code == 200
    guest = visitor_of(client)
    assert screen_views(flushed(server)) == [
        (guest, "/v1/shop/items/{item_id}"),
        (guest, "/admin/panels/{panel}"),
    ]
    assert [load["pageUrl"] for load in page_loads(server)] == [
        "/proxy/v1/shop/items/2",
        "/proxy/admin/panels/x",
    ]


def test_a_redirect_followed_by_a_known_visitor_counts_in_request_count(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    client = browser(create_app())
    client.get("/me")
    api_redirect = client.get("/go", headers={"Accept": "application/json"})
    assert api_redirect.status_code == 302 and "set-cookie" not in api_redirect.headers
    redirect = client.get("/go", headers={"Accept": BROWSER_ACCEPT})  # a browser's navigation
    assert redirect.status_code == 302
    assert "ua_visitor" not in redirect.headers.get("set-cookie", "")
    client.get("/")
    loads = page_loads(flushed(server))
    assert [(load["pageUrl"], load["requestCount"]) for load in loads] == [("/me", 1), ("/", 2)]


def test_the_user_from_authentication_middleware_and_request_state(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    app = create_app()
    alice = browser(app, headers={"Authorization": "Bearer alice"})
    alice.get("/me")
    alice.get("/track")
    keyed = browser(app, headers={"X-Api-Key": "k7"})
    keyed.get("/v1/shop/items/1")
    anonymous = browser(app)
    anonymous.get("/me")
    flushed(server)
    assert sorted(screen_views(server)) == sorted(
        [
            ("alice", "/me"),
            ("alice", "/track"),
            ("key-k7", "/v1/shop/items/{item_id}"),
            (visitor_of(anonymous), "/me"),
        ]
    )
    # The view's and the dependency's own events are the user's too.
    owners = {
        params(e)["Module"]: e["_envelope"]["userId"]
        for e in server.events()
        if e["name"] in ("Exported Report", "Dependency Ran")
    }
    assert owners == {"Reports": "alice", "Dependency": "alice"}
    # alice's guest history is hers: her login upsert names her visitor id.
    (login,) = [b for b in server.bodies("usageanalytics/user") if b["userId"] == "alice"]
    assert login["lastLoggedInUserId"] == visitor_of(alice)
    assert login["loginMechanism"] == "AUTH"


def test_the_apps_own_events_in_a_view_a_dependency_and_a_background_task(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    client = browser(create_app())
    client.get("/track")
    client.get("/background")
    guest = visitor_of(client)
    flushed(server)
    owners = {
        params(e).get("Module"): e["_envelope"]["userId"]
        for e in server.events()
        if e["name"] in ("Exported Report", "Dependency Ran", "Background Done")
    }
    assert owners == {"Reports": guest, "Dependency": guest, "Background": guest}


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_identify_overrides_the_framework_user(server: StrictServer, configure: Configure, kind: str) -> None:
    def identify(request: Any) -> Any:
        tenant = request.headers.get("x-tenant")
        return ua.Identity(f"{tenant}-admin", customer_account_id=tenant) if tenant else None

    async def identify_async(request: Any) -> Any:
        await asyncio.sleep(0)
        return identify(request)

    configure(identify=identify if kind == "sync" else identify_async)
    app = create_app()
    browser(app, headers={"X-Tenant": "acme", "Authorization": "Bearer alice"}).get("/track")
    browser(app, headers={"Authorization": "Bearer bob"}).get("/me")  # identify says None: bob
    flushed(server)
    views = {
        e["_envelope"]["userId"]: e["_envelope"].get("customerAccountId")
        for e in server.events("Screen View")
    }
    assert views == {"acme-admin": "acme", "bob": "acct-1"}
    (report,) = server.events("Exported Report")
    assert report["_envelope"]["userId"] == "acme-admin"
    assert report["_envelope"]["customerAccountId"] == "acme"


def test_two_users_held_open_at_once_never_share_an_identity(
    server: StrictServer, configure: Configure
) -> None:
    import httpx

    configure()
    app = create_app()

    async def browse() -> None:
        transport = httpx.ASGITransport(app=app)
        async with (
            httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers={"Authorization": "Bearer ann"}
            ) as ann,
            httpx.AsyncClient(
                transport=transport, base_url="http://testserver", headers={"Authorization": "Bearer ben"}
            ) as ben,
        ):
            for _ in range(3):
                answers = await asyncio.gather(ann.get("/together/ann"), ben.get("/together/ben"))
                assert [a.status_code for a in answers] == [200, 200]

    asyncio.run(browse())
    flushed(server)
    held = [(params(e)["Name"], e["_envelope"]["userId"]) for e in server.events("Held Open")]
    assert sorted(held) == [("ann", "ann")] * 3 + [("ben", "ben")] * 3
    for load in page_loads(server):
        assert load["pageUrl"] == f"/together/{load['userId']}"


def test_api_calls_are_captured_when_asked(server: StrictServer, configure: Configure) -> None:
    configure(capture_api_calls=True)
    keyed = browser(create_app(), headers={"X-Api-Key": "k1"})
    keyed.get("/api/items/3")
    keyed.post("/api/items")
    keyed.get("/v1/shop/items/4/json")
    keyed.get("/go")
    keyed.get("/boom")
    keyed.get("/api/items/3")  # never debounced
    for not_an_api_call in ("/", "/health", "/static/site.css", "/nowhere", "/admin/panels/p"):
        keyed.get(not_an_api_call)
    keyed.head("/api/items/3")
    keyed.options("/api/items")
    flushed(server)
    calls = api_calls(server)
    assert [(c["Route"], c["Method"], c["Status Code"]) for c in calls] == [
        ("/api/items/{item_id}", "GET", 200),
        ("/api/items", "POST", 201),
        ("/v1/shop/items/{item_id}/json", "GET", 200),
        ("/go", "GET", 302),
        ("/boom", "GET", 500),
        ("/api/items/{item_id}", "GET", 200),
    ]
    for call in calls:
        assert call["userId"] == "key-k1"
        assert isinstance(call["Duration"], (int, float))
        assert 0 <= call["Duration"] < 60_000
    assert len(server.events("Screen View")) == 2  # "/" and the admin panel are pages


def test_websockets_and_lifespan_still_work(server: StrictServer, configure: Configure) -> None:
    configure(capture_api_calls=True)
    app = create_app()
    with TestClient(app) as client:
        assert app.state.lifespan_events == ["up"]
        with client.websocket_connect("/ws") as socket:
            socket.send_text("hi")
            assert socket.receive_text() == "echo hi"
    assert app.state.lifespan_events == ["up", "down"]
    assert ua.flush(timeout=30)
    assert server.events("Screen View") == []
    assert server.events("API Call") == []


def test_thousands_of_new_visitors_emit_no_warning(server: StrictServer, configure: Configure) -> None:
    configure()
    app = create_app()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(300):
            client = browser(app)
            assert client.get("/").status_code == 200
            assert client.get("/api/items/1").status_code == 200
    assert [str(w.message) for w in caught] == []
    assert len(flushed(server).events("Screen View")) == 300
    assert len({e["_envelope"]["userId"] for e in server.events("Screen View")}) == 300


@pytest.mark.parametrize("created", ["before configure()", "after configure()"])
def test_apps_created_before_or_after_configure_and_wrapped_by_middleware(
    server: StrictServer, configure: Configure, created: str
) -> None:
    from starlette.middleware.gzip import GZipMiddleware

    if created == "before configure()":
        app = create_app()
        app.add_middleware(GZipMiddleware)
        configure()
    else:
        configure()
        app = create_app()
        app.add_middleware(GZipMiddleware)
    client = browser(app)
    client.get("/v1/shop/items/9")
    assert screen_views(flushed(server)) == [(visitor_of(client), "/v1/shop/items/{item_id}")]


def test_a_plain_starlette_app(server: StrictServer, configure: Configure) -> None:
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route

    def home(request: Request) -> HTMLResponse:
        return HTMLResponse("<h1>Home</h1>")

    def user(request: Request) -> HTMLResponse:
        return HTMLResponse(f"<h1>{request.path_params['uid']}</h1>")

    def post(request: Request) -> HTMLResponse:
        return HTMLResponse("<h1>Post</h1>")

    def data(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    configure(capture_api_calls=True)
    blog = Router(routes=[Route("/posts/{slug}", post)])
    app = Starlette(
        routes=[
            Route("/", home),
            Route("/users/{uid:int}", user),
            Route("/data", data, methods=["GET", "POST"]),
            Mount("/blog", app=blog),
        ]
    )
    client = browser(app)
    for path in ("/", "/users/3", "/blog/posts/hello", "/data"):
        client.get(path)
    client.put("/data")  # a 405: routed, so an API call
    guest = visitor_of(client)
    flushed(server)
    assert screen_views(server) == [(guest, "/"), (guest, "/users/{uid:int}"), (guest, "/blog/posts/{slug}")]
    assert [(c["Route"], c["Method"], c["Status Code"]) for c in api_calls(server)] == [
        ("/data", "GET", 200),
        ("/data", "PUT", 405),
    ]


def test_exclusions_and_query_setting_on_app_state(server: StrictServer, configure: Configure) -> None:
    configure()
    app = create_app()
    app.state.usageanalytics_exclude = ["/admin/", r"^/v1/shop/items/1\d$"]
    app.state.usageanalytics_page_query = True
    client = browser(app)
    for path in ("/admin/panels/x", "/v1/shop/items/12", "/v1/shop/items/3?x=1"):
        client.get(path)
    assert [load["pageUrl"] for load in page_loads(flushed(server))] == ["/v1/shop/items/3?x=1"]


def test_auto_capture_off_and_shutdown_remove_the_patches(server: StrictServer, configure: Configure) -> None:
    configure()
    assert vars(Starlette)["__call__"] is not ORIGINAL_CALL
    configure(auto_capture=False)
    assert vars(Starlette)["__call__"] is ORIGINAL_CALL
    assert vars(Router)["__call__"] is ORIGINAL_ROUTER_CALL
    client = browser(create_app())
    client.get("/")
    assert client.cookies.get("ua_visitor") is None
    configure()
    client.get("/")
    assert screen_views(flushed(server)) == [(visitor_of(client), "/")]
    ua.shutdown(timeout=30)
    assert vars(Starlette)["__call__"] is ORIGINAL_CALL


def test_a_failure_inside_the_capture_never_reaches_the_app(
    server: StrictServer,
    configure: Configure,
    sdk_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from usageanalytics import webcapture as web

    configure()
    monkeypatch.setattr(web, "start_visit", broken_capture)
    response = browser(create_app()).get("/")
    assert response.status_code == 200
    assert "auto-capture request start failed" in sdk_log.text
    monkeypatch.undo()
    monkeypatch.setattr(web, "log_request", broken_capture)
    response = browser(create_app()).get("/")
    assert response.status_code == 200
    assert response.text == "<!doctype html><h1>Home</h1>"
    assert "auto-capture page capture failed" in sdk_log.text
    assert logging.getLogger("usageanalytics").handlers


def test_html_served_by_static_files_is_not_a_page(server: StrictServer, configure: Configure) -> None:
    from pathlib import Path

    from fastapi.staticfiles import StaticFiles

    configure(capture_api_calls=True)
    app = create_app()
    site = Path(__file__).resolve().parent / "apps" / "static_site"
    app.mount("/handbook", StaticFiles(directory=str(site), html=True), name="handbook")
    client = browser(app)
    response = client.get("/handbook/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in response.headers
    client.get("/")
    assert [name for _, name in screen_views(flushed(server))] == ["/"]
    assert server.events("API Call") == []
