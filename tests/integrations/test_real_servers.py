"""Flask and Django served by real server processes on 127.0.0.1, in every import order.

Each process is instrumented only by ``configure()``: before or after the framework is imported,
before or after the app is created, with the app's WSGI/ASGI callable wrapped by another
middleware first. Two logged-in visitors browse at once (their requests held open together) and
every event that reaches the strict server must name the right user.
"""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

import pytest

from tests.integrations.helpers import (
    http_client,
    page_loads,
    screen_views,
    sdk_env,
    serving,
)
from tests.support.strict_server import StrictServer

ROUTES = {
    "flask": {"home": "/", "user": "/users/<int:uid>", "together": "/together/<name>"},
    "django": {"home": "/", "user": "/users/<int:uid>/", "together": "/together/<str:name>/"},
}
CASES = [
    ("flask", "app-first", True),
    ("flask", "framework-first", False),
    ("flask", "configure-first", True),
    ("django-wsgi", "app-first", True),
    ("django-wsgi", "framework-first", False),
    ("django-wsgi", "configure-first", False),
    ("django-asgi", "app-first", False),
    ("django-asgi", "configure-first", True),
]


def browse(base: str, server_kind: str, wrap: bool) -> dict[str, dict[str, Any]]:
    """What two visitors do; returns, per visitor name, their visitor ids and request paths."""
    django = server_kind.startswith("django")
    slash = "/" if django else ""
    together = "/together-async/" if server_kind == "django-asgi" else "/together/"
    visitors: dict[str, dict[str, Any]] = {}
    with http_client() as alice, http_client() as bob:
        for name, browser in (("alice", alice), ("bob", bob)):
            first = browser.get(f"{base}/users/1{slash}")
            assert first.status_code == 200
            assert (first.headers.get("X-Wrapped") == "1") is wrap
            guest = browser.cookies["ua_visitor"]
            for path in ("/api/items", "/health", "/favicon.ico", "/nowhere"):
                browser.get(f"{base}{path}{slash if path != '/favicon.ico' else ''}")
            assert browser.post(f"{base}/login/{name}{slash}").status_code == 200  # followed to "/"
            visitors[name] = {"guest": guest, "paths": []}

        def visit(browser: Any, name: str, round_: int) -> None:
            response = browser.get(f"{base}{together}{name}{slash}", params={"round": round_})
            assert response.status_code == 200
            assert name in response.text

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            for round_ in range(4):
                done = [
                    pool.submit(visit, browser, name, round_)
                    for name, browser in (("alice", alice), ("bob", bob))
                ]
                for future in done:
                    future.result(timeout=60)
    return visitors


def user_of(server: StrictServer, guest: str) -> str:
    """The user id a visitor logged in as: the login upsert names their guest id."""
    (login,) = [
        body
        for body in server.bodies("usageanalytics/user")
        if body.get("lastLoggedInUserId") == guest and body["loginMechanism"] == "AUTH"
    ]
    return str(login["userId"])


@pytest.mark.parametrize(("server_kind", "order", "wrap"), CASES)
def test_real_server_process(
    server: StrictServer, tmp_path: Path, server_kind: str, order: str, wrap: bool
) -> None:
    env = sdk_env(server, tmp_path / "sdk", UA_TEST_DJANGO_DB=str(tmp_path / "site.sqlite3"))
    args = ["-m", "tests.integrations.apps.serve", server_kind, order, *(["--wrap"] if wrap else [])]
    with serving(args, env) as served:
        visitors = browse(served.url, server_kind, wrap)
    assert "usageanalytics" not in served.stderr, served.stderr  # no SDK warning or error
    assert server.rejected == []

    routes = ROUTES["django" if server_kind.startswith("django") else "flask"]
    together = (
        routes["together"].replace("together", "together-async")
        if server_kind == "django-asgi"
        else routes["together"]
    )
    users = {name: user_of(server, visitor["guest"]) for name, visitor in visitors.items()}
    expected_views = []
    for name in visitors:
        # The guest's page (still queued at login, so now the user's), the login's redirect to
        # "/", then the pair's page four times: every page served counts.
        expected_views += [(users[name], routes["user"]), (users[name], "/"), *[(users[name], together)] * 4]
    assert sorted(screen_views(server)) == sorted(expected_views)

    loads = page_loads(server)
    assert len(loads) == 2 * (1 + 1 + 4)
    for load in loads:
        assert 0 < load["loadTime"] < 60_000
        assert "?" not in load["pageUrl"]
        for name in ("alice", "bob"):
            if f"/{name}" in load["pageUrl"]:  # no request ever reported as the other visitor's
                assert load["userId"] == users[name], load
    redirected = [load for load in loads if load["pageUrl"] == "/"]
    assert [load["requestCount"] for load in redirected] == [2, 2]
