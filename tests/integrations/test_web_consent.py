"""Web consent: Global Privacy Control, Do Not Track and ``consent(request)`` in Flask, Django
(sync and async), FastAPI and the generic ASGI middleware, checked on what reaches the strict
server and on the bytes of the data folder: an untracked request gets no cookie, logs nothing,
and the app's own tracking calls while it runs are refused, counted, never written."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.integrations.apps.django_site.settings")

from fastapi.testclient import TestClient

import usageanalytics as ua
from tests.integrations.apps.fastapi_site import create_app as create_fastapi_app
from tests.integrations.apps.flask_site import create_app as create_flask_app
from tests.integrations.helpers import flushed, params
from tests.integrations.test_asgi_middleware import bare_app
from tests.support.strict_server import StrictServer
from usageanalytics.asgi import UsageAnalyticsMiddleware
from usageanalytics.ledger import NO_CONSENT, NO_CONSENT_DNT, NO_CONSENT_GPC

Configure = Callable[..., ua.Client]
GPC = {"Sec-GPC": "1"}


pytestmark = pytest.mark.usefixtures("django_site")  # tests/integrations/conftest.py


def folder_bytes(folder: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


def untracked_so_far(client: ua.Client, data: Path, *secrets: str) -> None:
    """Nothing of the untracked requests is queued, in memory or in any file of the folder."""
    writer = client._pipeline.writer
    assert writer is not None and writer.persist_now(10)
    stats = client.stats()
    assert stats.queued == stats.held == stats.in_memory == 0, stats
    on_disk = folder_bytes(data)
    assert on_disk, "the data folder is empty: the check would prove nothing"
    for secret in secrets:
        assert secret.encode() not in on_disk, f"{secret!r} reached the disk"


def app_events(server: StrictServer) -> list[str]:
    return [e["name"] for e in server.events() if not e["name"].startswith("app_session")]


# -- Flask ------------------------------------------------------------------------------------------


def test_flask_a_gpc_request_is_not_tracked_at_all(
    server: StrictServer, configure: Configure, tmp_path: Path
) -> None:
    client = configure(capture_api_calls=True)
    browser = create_flask_app().test_client()
    for path in ("/track", "/", "/api/items", "/go"):
        response = browser.get(path, headers=GPC)
        assert "Set-Cookie" not in response.headers, path
    assert browser.get_cookie("ua_visitor") is None
    untracked_so_far(client, tmp_path / "data", "Exported Report", "/track", "Screen View")
    assert client.stats().dropped == {NO_CONSENT_GPC: 1}  # the view's own log_event
    assert server.attempts == []

    # The same browser without the header is tracked as usual.
    browser.get("/track")
    assert browser.get_cookie("ua_visitor") is not None
    flushed(server)
    assert app_events(server) == ["Exported Report", "Screen View", "page_load_event"]


def test_flask_gpc_and_dnt_follow_their_settings(server: StrictServer, configure: Configure) -> None:
    client = configure(respect_gpc=False)
    browser = create_flask_app().test_client()
    browser.get("/track", headers={"Sec-GPC": "1", "DNT": "1"})  # both ignored
    assert browser.get_cookie("ua_visitor") is not None
    client = configure(respect_dnt=True)
    other = create_flask_app().test_client()
    other.get("/track", headers={"DNT": "1"})
    other.get("/track", headers={"DNT": "0", "Sec-GPC": "0"})  # "0" is no signal
    flushed(server)
    assert app_events(server).count("Exported Report") == 2
    assert client.stats().dropped == {NO_CONSENT_DNT: 1}


def test_flask_consent_from_a_cookie_banner(
    server: StrictServer, configure: Configure, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    asked: list[Any] = []

    def consent(request: Any) -> bool:
        asked.append(request.path)
        if request.path == "/boom":
            raise RuntimeError("a bug in the app's consent function")
        return request.cookies.get("analytics") == "yes"

    client = configure(consent=consent)
    caplog.set_level(logging.ERROR, logger="usageanalytics")
    browser = create_flask_app().test_client()
    browser.get("/track")  # no choice yet: no consent
    browser.get("/boom")  # consent() raises: no consent either, logged
    assert browser.get_cookie("ua_visitor") is None
    untracked_so_far(client, tmp_path / "data", "Exported Report")
    browser.set_cookie("analytics", "yes")
    browser.get("/track")
    assert browser.get_cookie("ua_visitor") is not None
    flushed(server)
    assert app_events(server) == ["Exported Report", "Screen View", "page_load_event"]
    assert client.stats().dropped == {NO_CONSENT: 1}
    assert asked == ["/track", "/boom", "/track"]
    assert any("consent(request) failed" in r.getMessage() for r in caplog.records)


def test_flask_an_async_consent_cannot_be_awaited_and_leaves_requests_untracked(
    server: StrictServer, configure: Configure, sdk_log: pytest.LogCaptureFixture
) -> None:
    async def consent(request: Any) -> bool:
        return True

    client = configure(consent=consent)
    browser = create_flask_app().test_client()
    browser.get("/track")
    browser.get("/track")
    assert client.flush(10)
    assert server.attempts == []
    assert client.stats().dropped == {NO_CONSENT: 2}
    assert sdk_log.text.count("async consent() cannot be awaited") == 1


def test_flask_the_source_address_is_anonymized(server: StrictServer, configure: Configure) -> None:
    configure()
    browser = create_flask_app().test_client()
    browser.get("/", environ_base={"REMOTE_ADDR": "203.0.113.77"})
    flushed(server)
    assert {e["_envelope"].get("userSourceIP") for e in server.events()} == {"203.0.113.0"}


# -- Django -----------------------------------------------------------------------------------------


def test_django_gpc_requests_sync_and_async_are_not_tracked(
    server: StrictServer, configure: Configure, tmp_path: Path
) -> None:
    from django.test import AsyncClient, Client

    client = configure()
    browser = Client(raise_request_exception=False)
    response = browser.get("/track/", headers=GPC)
    assert response.status_code == 200 and "ua_visitor" not in response.cookies
    other = AsyncClient(raise_request_exception=False)
    response = asyncio.run(other.get("/async-track/", headers=GPC))
    assert response.status_code == 200 and "ua_visitor" not in response.cookies
    untracked_so_far(client, tmp_path / "data", "Exported Report", "/track/")
    assert client.stats().dropped == {NO_CONSENT_GPC: 2}
    assert server.attempts == []
    browser.get("/track/")
    asyncio.run(other.get("/async-track/"))
    flushed(server)
    assert sorted(params(e)["Module"] for e in server.events("Exported Report")) == ["Async", "Reports"]


def test_django_consent_sync_on_the_sync_path_and_async_on_the_async_path(
    server: StrictServer, configure: Configure
) -> None:
    from django.test import AsyncClient, Client

    def consent(request: Any) -> bool:
        return request.COOKIES.get("analytics") == "yes"

    client = configure(consent=consent)
    browser = Client()
    browser.get("/track/")
    browser.cookies["analytics"] = "yes"
    browser.get("/track/")
    flushed(server)
    assert [params(e)["Module"] for e in server.events("Exported Report")] == ["Reports"]
    assert client.stats().dropped == {NO_CONSENT: 1}

    async def async_consent(request: Any) -> bool:
        await asyncio.sleep(0)
        return request.COOKIES.get("analytics") == "yes"

    client = configure(consent=async_consent)
    other = AsyncClient()
    asyncio.run(other.get("/async-track/"))
    other.cookies["analytics"] = "yes"
    asyncio.run(other.get("/async-track/"))
    flushed(server)
    assert [params(e)["Module"] for e in server.events("Exported Report")] == ["Reports", "Async"]
    assert client.stats().dropped == {NO_CONSENT: 1}


# -- FastAPI and the generic ASGI middleware ---------------------------------------------------------


def test_fastapi_a_gpc_request_is_not_tracked_nor_its_dependency_nor_its_background_task(
    server: StrictServer, configure: Configure, tmp_path: Path
) -> None:
    client = configure(capture_api_calls=True)
    with TestClient(create_fastapi_app(), follow_redirects=False) as browser:
        for path in ("/track", "/background", "/api/items/3", "/admin/panels/sales"):
            response = browser.get(path, headers=GPC)
            assert response.status_code == 200 and "set-cookie" not in response.headers, path
        # Dependency Ran, Exported Report, Background Done: refused, counted.
        untracked_so_far(client, tmp_path / "data", "Exported Report", "Background Done", "Dependency Ran")
        assert client.stats().dropped == {NO_CONSENT_GPC: 3}
        assert server.attempts == []
        browser.get("/track")
        assert browser.cookies.get("ua_visitor")
    flushed(server)
    assert app_events(server) == ["Dependency Ran", "Exported Report", "Screen View", "page_load_event"]


def test_fastapi_an_async_consent_is_given_the_request(server: StrictServer, configure: Configure) -> None:
    asked: list[str] = []

    async def consent(request: Any) -> bool:
        asked.append(type(request).__name__)
        await asyncio.sleep(0)
        return request.cookies.get("analytics") == "yes"

    client = configure(consent=consent)
    with TestClient(create_fastapi_app()) as browser:
        browser.get("/track")
        assert not browser.cookies.get("ua_visitor")
        browser.cookies.set("analytics", "yes")
        browser.get("/track")
        assert browser.cookies.get("ua_visitor")
    flushed(server)
    assert app_events(server) == ["Dependency Ran", "Exported Report", "Screen View", "page_load_event"]
    assert client.stats().dropped == {NO_CONSENT: 2}
    assert asked == ["Request", "Request"]


def test_the_asgi_middleware_honours_gpc_and_consent(server: StrictServer, configure: Configure) -> None:
    seen: list[Any] = []

    def consent(scope: Any) -> bool:
        seen.append(scope["type"])
        return dict(scope["headers"]).get(b"x-consent") == b"yes"

    client = configure(auto_capture=False, consent=consent)
    app = UsageAnalyticsMiddleware(bare_app)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            return [
                await http.get("/books/1", headers={"Sec-GPC": "1", "X-Consent": "yes"}),
                await http.get("/books/1"),
                await http.get("/books/2", headers={"X-Consent": "yes"}),
            ]

    responses = asyncio.run(run())
    assert ["set-cookie" in r.headers for r in responses] == [False, False, True]
    flushed(server)
    assert [params(e)["Path"] for e in server.events("Handled")] == ["/books/2"]
    assert client.stats().dropped == {NO_CONSENT_GPC: 1, NO_CONSENT: 1}
    assert seen == ["http", "http"]  # not asked when the header already said no


# -- before_send sees what auto-capture logs ---------------------------------------------------------


def test_before_send_sees_and_scrubs_auto_captured_pages_and_api_calls(
    server: StrictServer, configure: Configure
) -> None:
    from usageanalytics import privacy

    seen: list[tuple[str, dict[str, Any]]] = []

    def spy(record: dict[str, Any]) -> dict[str, Any]:
        seen.append((record["name"], dict(record.get("attributes") or {})))
        return record

    configure(capture_api_calls=True, before_send=privacy.chain(privacy.scrub_pii, spy))
    app = create_flask_app(USAGEANALYTICS_PAGE_QUERY=True)
    browser = app.test_client()
    browser.get("/users/7?invite=jane%40example.com&token=s3cr3t")
    browser.get("/api/items")
    flushed(server)
    names = [name for name, _ in seen]
    # The first event is filtered before its session starts: a dropped event starts none.
    assert names == ["Screen View", "app_session_start", "page_load_event", "API Call"]
    load = params(server.events("page_load_event")[0])
    assert load["pageUrl"] == "/users/7?invite=[email]&token=[token]"
    assert params(server.events("API Call")[0])["Route"] == "/api/items"


# -- a real server ------------------------------------------------------------------------------------


def test_fastapi_under_uvicorn_a_gpc_visitor_leaves_nothing_anywhere(
    server: StrictServer, tmp_path: Path
) -> None:
    from tests.integrations.helpers import http_client, sdk_env
    from tests.integrations.test_asgi_servers import running

    data = tmp_path / "sdk"
    env = sdk_env(server, data, UA_TEST_ORDER="configure-first")
    with running("uvicorn", env) as (url, process):
        with http_client() as private:
            private.headers["Sec-GPC"] = "1"
            for path in ("/track", "/background", "/v1/shop/items/1", "/api/items/7"):
                response = private.get(url + path)
                assert response.status_code == 200 and "set-cookie" not in response.headers, path
        with http_client() as tracked:
            assert tracked.get(url + "/v1/shop/items/2").status_code == 200
            assert tracked.cookies.get("ua_visitor")
    assert process.returncode in (0, -signal.SIGTERM), process.output  # type: ignore[attr-defined]
    names = [e["name"] for e in server.events()]
    assert sorted(names) == ["Screen View", "app_session_end", "app_session_start", "page_load_event"]
    assert params(server.events("page_load_event")[0])["pageUrl"] == "/v1/shop/items/2"
    assert {e["_envelope"].get("userSourceIP") for e in server.events()} == {"127.0.0.0"}
    on_disk = folder_bytes(data)
    for secret in ("Background Done", "Exported Report", "Dependency Ran", "/v1/shop/items/1"):
        assert secret.encode() not in on_disk
