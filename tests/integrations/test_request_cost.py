"""What a captured page costs the request's thread, counted rather than timed: the SDK's Python
calls per request stay within a budget (a change that adds a lookup, a parse or a helper per
request shows here, on every machine, the same way), and nothing on the request's thread waits
on SQLite, a file or a socket. Django's twin of these tests is in test_django.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import usageanalytics as ua
from tests.integrations.apps.fastapi_site import create_app as create_fastapi_app
from tests.integrations.apps.flask_site import create_app as create_flask_app
from tests.integrations.helpers import flushed, screen_views
from tests.integrations.request_cost import per_request
from tests.support.strict_server import StrictServer

Configure = Callable[..., ua.Client]
# Measured at 49 (Flask) and 69 (FastAPI) calls per page; the headroom absorbs Python versions
# (3.11 counts a comprehension as a call, 3.12 inlines it), not a new per-request step.
FLASK_BUDGET = 56
FASTAPI_BUDGET = 78
VISITOR = "ua_visitor=" + "b" * 32


def test_a_flask_page_runs_a_bounded_amount_of_sdk_code(server: StrictServer, configure: Configure) -> None:
    configure()
    browser = create_flask_app().test_client()
    browser.set_cookie("ua_visitor", "b" * 32)
    cost = per_request(lambda: browser.get("/users/7"))
    assert cost.blocking == []
    assert cost.calls <= FLASK_BUDGET, cost.calls
    flushed(server)
    assert len(screen_views(server)) == 25


def test_a_fastapi_page_runs_a_bounded_amount_of_sdk_code(server: StrictServer, configure: Configure) -> None:
    configure()
    app = create_fastapi_app()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), (b"accept", b"text/html"), (b"cookie", VISITOR.encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    loop = asyncio.new_event_loop()
    try:
        with_lifespan = loop.run_until_complete  # the app's lifespan is not needed for "/"
        cost = per_request(lambda: with_lifespan(app(dict(scope, state={}), receive, send)))
    finally:
        loop.close()
    assert {m["status"] for m in sent if m["type"] == "http.response.start"} == {200}
    assert cost.blocking == []
    assert cost.calls <= FASTAPI_BUDGET, cost.calls
    flushed(server)
    assert len(screen_views(server)) == 25


def test_the_counter_sees_blocking_work_the_sdk_would_do_on_the_request_thread(tmp_path: Any) -> None:
    """The budget tests above can fail: SQLite called from SDK code is caught, as is its call count."""
    import sqlite3

    from tests.integrations.request_cost import SDK_FOLDERS, counting

    namespace: dict[str, Any] = {"sqlite3": sqlite3}
    source = "def store(path):\n    sqlite3.connect(path).execute('select 1').close()\n"
    exec(compile(source, f"{SDK_FOLDERS[0]}/pretend_storage.py", "exec"), namespace)
    with counting() as counted:
        namespace["store"](str(tmp_path / "q.sqlite"))
    assert counted.calls == 1
    assert any("execute" in name for name in counted.blocking), counted.blocking
