"""Flask auto-capture through Flask's test client, checked on what reaches the strict server."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import usageanalytics as ua
from tests.integrations.apps.flask_site import create_app
from tests.integrations.helpers import (
    BROWSER_ACCEPT,
    broken_capture,
    flushed,
    page_loads,
    params,
    run_script,
    screen_views,
    sdk_env,
)
from tests.support.strict_server import StrictServer

Configure = Callable[..., ua.Client]

ORIGINAL_DISPATCH = vars(Flask)["full_dispatch_request"]


def dispatch() -> Any:
    """What Flask's class holds now (not a freshly bound wrapper)."""
    return vars(Flask)["full_dispatch_request"]


def visit(app: Flask, *paths: str) -> Any:
    client = app.test_client()
    for path in paths:
        client.get(path)
    return client


def visitor_of(client: Any) -> str:
    cookie = client.get_cookie("ua_visitor")
    assert cookie is not None, "the visitor cookie was not set"
    return str(cookie.value)


def test_pages_are_named_by_route_and_non_pages_are_not_captured(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    app = create_app()
    client = visit(
        app,
        "/",
        "/users/7?tab=posts",
        "/api/items",
        "/go",
        "/missing",
        "/boom",
        "/health",
        "/favicon.ico",
        "/robots.txt",
        "/static/site.css",
        "/nowhere",
    )
    client.post("/form")
    client.head("/users/8")
    guest = visitor_of(client)

    flushed(server)
    assert screen_views(server) == [(guest, "/"), (guest, "/users/<int:uid>")]
    loads = page_loads(server)
    assert [load["pageUrl"] for load in loads] == ["/", "/users/7"]
    for load in loads:
        assert load["userId"] == guest
        assert load["requestCount"] == 1
        assert 0 < load["loadTime"] < 60_000
    # Nothing else than the session, the pages and their loads.
    assert [e["name"] for e in server.events()] == [
        "app_session_start",
        "Screen View",
        "page_load_event",
        "Screen View",
        "page_load_event",
    ]


def test_load_time_is_the_server_time_of_the_page(server: StrictServer, configure: Configure) -> None:
    configure()
    visit(create_app(), "/slow")
    (load,) = page_loads(flushed(server))
    assert 50 <= load["loadTime"] < 60_000


def test_a_redirect_followed_counts_in_request_count(server: StrictServer, configure: Configure) -> None:
    configure()
    client = create_app().test_client()
    client.get("/users/1")  # a known visitor: the browser has our cookie
    client.get("/go", follow_redirects=True, headers={"Accept": BROWSER_ACCEPT})  # a navigation
    api_redirect = client.get("/go")  # an API client's (no text/html): no cookie, not counted
    assert api_redirect.status_code == 302 and "set-cookie" not in api_redirect.headers
    client.get("/users/3")
    loads = page_loads(flushed(server))
    assert [(load["pageUrl"], load["requestCount"]) for load in loads] == [
        ("/users/1", 1),
        ("/", 2),
        ("/users/3", 1),
    ]


def test_a_new_visitors_redirect_sets_no_cookie_and_counts_one(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    client = create_app().test_client()
    redirect = client.get("/go")
    assert redirect.status_code == 302
    assert "Set-Cookie" not in redirect.headers
    client.get("/")
    assert [(load["pageUrl"], load["requestCount"]) for load in page_loads(flushed(server))] == [("/", 1)]


def test_every_page_served_counts_even_the_same_page_twice_at_once(
    server: StrictServer, configure: Configure
) -> None:
    configure()  # a 60 s debounce window: page views are never debounced
    app = create_app()
    first = visit(app, "/", "/", "/")
    second = visit(app, "/")
    flushed(server)
    assert screen_views(server) == [(visitor_of(first), "/")] * 3 + [(visitor_of(second), "/")]
    assert len(page_loads(server)) == 4


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/api/items", "GET", 200),  # JSON
        ("/go", "GET", 302),  # a redirect
        ("/missing", "GET", 404),  # an error
        ("/boom", "GET", 500),
        ("/static/site.css", "GET", 200),  # a static file
        ("/form", "POST", 200),
        ("/nowhere", "GET", 404),
        ("/health", "GET", 200),
    ],
)
def test_the_visitor_cookie_is_set_on_pages_only(
    server: StrictServer, configure: Configure, path: str, method: str, status: int
) -> None:
    configure()
    client = create_app().test_client()
    response = client.open(path, method=method)
    assert response.status_code == status
    assert "Set-Cookie" not in response.headers, response.headers
    page = client.get("/users/1")
    assert "ua_visitor=" in page.headers["Set-Cookie"]
    assert visitor_of(client)


def test_responses_do_not_vary_on_the_cookie_because_of_the_sdk(
    server: StrictServer, configure: Configure
) -> None:
    """Reading the session through ``flask.session`` marks it accessed, and Flask then adds
    "Vary: Cookie" to the response: the capture reads it without touching it."""
    configure()
    app = Flask(__name__)  # sessions on (a secret key) but unused: Flask-Login would read them
    app.secret_key = "not-a-secret"
    app.add_url_rule("/", "home", lambda: "<h1>Home</h1>")
    app.add_url_rule("/api/items", "items", lambda: {"items": [1, 2]})
    client = app.test_client()
    for path in ("/", "/api/items", "/"):  # a new visitor, then a returning one
        response = client.get(path)
        assert "Vary" not in response.headers, (path, response.headers)
    flushed(server)
    assert len(screen_views(server)) == 2


def test_flask_login_user_without_loading_it_and_guest_to_user(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    app = create_app()
    client = app.test_client()
    client.get("/users/1")
    guest = visitor_of(client)
    flushed(server)  # sent as the guest's (what is still queued at login becomes the user's)
    client.post("/login/alice", follow_redirects=True)
    client.get("/users/2")
    # The pages so far never touched current_user, and neither did the integration.
    assert app.user_loads == []  # type: ignore[attr-defined]
    client.post("/logout", follow_redirects=True)
    client.get("/users/3")
    new_guest = visitor_of(client)
    assert new_guest != guest  # logging out makes the browser a new guest, as reset_user() does

    flushed(server)
    assert screen_views(server) == [
        (guest, "/users/<int:uid>"),
        ("alice", "/"),
        ("alice", "/users/<int:uid>"),
        (new_guest, "/"),
        (new_guest, "/users/<int:uid>"),
    ]
    logins = [
        body
        for body in server.bodies("usageanalytics/user")
        if body["userId"] == "alice" and body.get("lastLoggedInUserId") == guest
    ]
    assert len(logins) == 1
    assert logins[0]["loginMechanism"] == "AUTH"


def test_identify_callable_decides_the_user(server: StrictServer, configure: Configure) -> None:
    configure()
    app = create_app(
        USAGEANALYTICS_IDENTIFY=lambda request: request.headers.get("X-User"),
    )
    app.test_client().get("/", headers={"X-User": "carol"})
    app.test_client().get("/users/5", headers={"X-User": "dave"})
    guest = visit(app, "/users/6")
    # Records are sent grouped by user, so compare without order.
    assert sorted(screen_views(flushed(server))) == sorted(
        [("carol", "/"), ("dave", "/users/<int:uid>"), (visitor_of(guest), "/users/<int:uid>")]
    )


def test_identify_returning_an_identity_sets_the_account(server: StrictServer, configure: Configure) -> None:
    configure()
    app = create_app(
        USAGEANALYTICS_IDENTIFY=lambda request: ua.Identity("erin", customer_account_id="acct-9")
    )
    visit(app, "/")
    (view,) = flushed(server).events("Screen View")
    assert view["_envelope"]["userId"] == "erin"
    assert view["_envelope"]["customerAccountId"] == "acct-9"


def test_a_failing_identify_falls_back_and_never_breaks_the_page(
    server: StrictServer, configure: Configure, sdk_log: pytest.LogCaptureFixture
) -> None:
    configure()

    def identify(request: Any) -> str:
        raise LookupError("no such user")

    app = create_app(USAGEANALYTICS_IDENTIFY=identify)
    client = app.test_client()
    response = client.get("/")
    assert response.status_code == 200
    assert screen_views(flushed(server)) == [(visitor_of(client), "/")]
    assert "identify(request) failed" in sdk_log.text


def test_exclusions_can_be_extended_with_prefixes_and_patterns(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    app = create_app(USAGEANALYTICS_EXCLUDE=["/admin/", r"^/reports/20\d\d$"])
    visit(app, "/admin/panel", "/reports/2024", "/reports/1999", "/")
    assert [name for _, name in screen_views(flushed(server))] == ["/reports/<int:year>", "/"]


def test_query_string_is_kept_only_when_asked(server: StrictServer, configure: Configure) -> None:
    configure()
    visit(create_app(USAGEANALYTICS_PAGE_QUERY=True), "/users/7?tab=posts")
    assert [load["pageUrl"] for load in page_loads(flushed(server))] == ["/users/7?tab=posts"]


def test_the_apps_own_events_in_a_view_belong_to_the_visitor(
    server: StrictServer, configure: Configure
) -> None:
    configure()
    client = visit(create_app(), "/track")
    (custom,) = flushed(server).events("Exported Report")
    assert custom["_envelope"]["userId"] == visitor_of(client)
    assert params(custom) == {"Module": "Reports"}


@pytest.mark.parametrize("created", ["before configure()", "after configure()"])
def test_apps_created_before_or_after_configure_and_wrapped_by_middleware(
    server: StrictServer, configure: Configure, created: str
) -> None:
    if created == "before configure()":
        app = create_app()
        app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]
        configure()
    else:
        configure()
        app = create_app()
        app.wsgi_app = ProxyFix(app.wsgi_app)  # type: ignore[method-assign]
    client = visit(app, "/users/1")
    assert screen_views(flushed(server)) == [(visitor_of(client), "/users/<int:uid>")]


def test_auto_capture_off_and_shutdown_remove_the_patch(server: StrictServer, configure: Configure) -> None:
    configure()
    assert dispatch() is not ORIGINAL_DISPATCH
    configure(auto_capture=False)
    assert dispatch() is ORIGINAL_DISPATCH
    client = visit(create_app(), "/")
    assert client.get_cookie("ua_visitor") is None
    assert ua.flush(timeout=30)
    assert screen_views(server) == []

    configure()  # on again, with Flask long imported
    assert dispatch() is not ORIGINAL_DISPATCH
    client = visit(create_app(), "/")
    assert screen_views(flushed(server)) == [(visitor_of(client), "/")]
    ua.shutdown(timeout=30)
    assert dispatch() is ORIGINAL_DISPATCH


def test_installing_twice_patches_once(server: StrictServer, configure: Configure) -> None:
    import flask

    import usageanalytics_flask

    configure()
    patched = dispatch()
    usageanalytics_flask.install(flask)
    assert dispatch() is patched
    visit(create_app(), "/")
    assert len(flushed(server).events("Screen View")) == 1


def test_a_failure_inside_the_capture_never_reaches_the_app(
    server: StrictServer,
    configure: Configure,
    sdk_log: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from usageanalytics import webcapture as web

    configure()

    monkeypatch.setattr(web, "start_visit", broken_capture)
    response = create_app().test_client().get("/")
    assert response.status_code == 200
    assert response.data == b"<h1>Home</h1>"
    assert "auto-capture request start failed" in sdk_log.text
    sdk_log.clear()
    monkeypatch.undo()
    monkeypatch.setattr(web, "log_request", broken_capture)
    response = create_app().test_client().get("/")
    assert response.status_code == 200
    assert "auto-capture page capture failed" in sdk_log.text
    assert logging.getLogger("usageanalytics").handlers  # the core's NullHandler is untouched


def test_a_failing_install_never_breaks_importing_flask(server: StrictServer, tmp_path: Path) -> None:
    script = """
import logging
logging.basicConfig(level=logging.WARNING)
import usageanalytics as ua
import usageanalytics_flask

def broken_install(module):
    raise RuntimeError("install bug")

usageanalytics_flask.install = broken_install
ua.configure(customer_account_id="acct-1", collect_device_attributes=False)
import flask  # the hook fails here, the import does not

app = flask.Flask("site")
app.get("/")(lambda: "<p>hi</p>")
assert app.test_client().get("/").data == b"<p>hi</p>"
ua.shutdown(timeout=30)
"""
    done = run_script(["-c", script], sdk_env(server, tmp_path / "sdk"))
    assert "auto-capture for flask failed and is off" in done.stderr
    assert screen_views(server) == []


def test_the_flask_tutorials_login_session_user_id_and_g_user(
    server: StrictServer, configure: Configure, tmp_path: Path
) -> None:
    from tests.integrations.apps.flaskr import create_app as create_flaskr

    configure()
    app = create_flaskr(str(tmp_path / "flaskr.sqlite"))
    client = app.test_client()
    client.post("/auth/register", data={"username": "ada", "password": "pw"})
    client.get("/")
    client.get("/auth/login")
    guest = visitor_of(client)
    flushed(server)  # sent as the guest's (what is still queued at login becomes the user's)
    login = client.post("/auth/login", data={"username": "ada", "password": "pw"})
    assert login.status_code == 302
    client.get("/")
    client.get("/7/update")
    logout = client.get("/auth/logout")
    assert logout.status_code == 302
    assert "ua_visitor=" in " ".join(logout.headers.getlist("Set-Cookie"))  # a new guest id
    client.get("/")
    new_guest = visitor_of(client)
    assert new_guest != guest

    flushed(server)
    assert screen_views(server) == [
        (guest, "/"),
        (guest, "/auth/login"),
        ("1", "/"),
        ("1", "/<int:id>/update"),
        (new_guest, "/"),
    ]
    (login_upsert,) = [b for b in server.bodies("usageanalytics/user") if b["userId"] == "1"]
    assert login_upsert["lastLoggedInUserId"] == guest
    assert login_upsert["loginMechanism"] == "AUTH"


def test_the_user_conventions_are_read_in_order(server: StrictServer, configure: Configure) -> None:
    from flask import g, session

    configure()
    app = Flask(__name__)
    app.secret_key = "not-a-secret"

    @app.get("/both")
    def both() -> str:
        session["user_id"] = 1
        g.user = {"id": 2, "username": "bea"}  # g.user wins over the session
        return "<h1>both</h1>"

    @app.get("/session")
    def session_only() -> str:
        return "<h1>session</h1>"

    class Named:
        username = "cy"  # a username is not an id

    @app.get("/named")
    def named() -> str:
        g.user = Named()
        return "<h1>named</h1>"

    client = app.test_client()
    client.get("/both")
    client.get("/session")  # the session still says 1, g.user is gone with the request
    client.get("/named")
    flushed(server)
    assert screen_views(server) == [("2", "/both"), ("1", "/session"), ("1", "/named")]


def test_configure_identify_applies_to_every_flask_app(server: StrictServer, configure: Configure) -> None:
    configure(identify=lambda request: request.headers.get("X-User"))
    create_app().test_client().get("/", headers={"X-User": "zed"})
    create_app(USAGEANALYTICS_IDENTIFY=lambda request: "own").test_client().get(
        "/", headers={"X-User": "zed"}
    )
    assert sorted(screen_views(flushed(server))) == [("own", "/"), ("zed", "/")]


def test_api_calls(server: StrictServer, configure: Configure) -> None:
    configure(capture_api_calls=True)
    client = create_app().test_client()
    client.get("/api/items")
    client.post("/form")
    client.get("/go")
    client.get("/boom")
    client.get("/api/items")  # never debounced
    for not_an_api_call in ("/", "/static/site.css", "/health", "/nowhere"):
        client.get(not_an_api_call)
    client.head("/api/items")
    client.options("/api/items")
    flushed(server)
    calls = [params(e) for e in server.events("API Call")]
    assert [(c["Route"], c["Method"], c["Status Code"]) for c in calls] == [
        ("/api/items", "GET", 200),
        ("/form", "POST", 200),
        ("/go", "GET", 302),
        ("/boom", "GET", 500),
        ("/api/items", "GET", 200),
    ]
    assert all(0 <= c["Duration"] < 60_000 for c in calls)
    assert len(server.events("Screen View")) == 1


def test_importing_the_integration_before_flask_still_attaches(server: StrictServer, tmp_path: Path) -> None:
    """``import usageanalytics_flask`` (as an app using its extension does) before Flask itself:
    the import hook then fires while the integration is still being imported."""
    script = """
import usageanalytics as ua
ua.configure(customer_account_id="acct-1", collect_device_attributes=False)
import usageanalytics_flask  # before flask
import flask

app = flask.Flask("site")
app.get("/")(lambda: "<p>hi</p>")
assert app.test_client().get("/").status_code == 200
assert ua.shutdown(timeout=30)
"""
    done = run_script(["-c", script], sdk_env(server, tmp_path / "sdk"))
    assert "failed" not in done.stderr, done.stderr
    assert [name for _, name in screen_views(server)] == ["/"]


def test_an_async_identify_in_flask_is_ignored_with_one_warning(
    server: StrictServer, configure: Configure, sdk_log: pytest.LogCaptureFixture
) -> None:
    import warnings

    async def identify(request: Any) -> str:
        return "never"

    configure(identify=identify)
    client = create_app().test_client()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "coroutine was never awaited"
        client.get("/")
        client.get("/users/1")
    guest = visitor_of(client)
    assert screen_views(flushed(server)) == [(guest, "/"), (guest, "/users/<int:uid>")]
    assert sdk_log.text.count("cannot be awaited") == 1
