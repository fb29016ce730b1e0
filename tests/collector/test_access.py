"""Who can reach what: loopback by default, a token beyond it, no CORS on the read side, and no
answer to a foreign Host (DNS rebinding)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.collector.conftest import API_KEY, sample
from usageanalytics.cli import main
from usageanalytics.collector.access import is_loopback_host
from usageanalytics.collector.server import RunningCollector, UnsafeBinding, run_in_thread

READ_PATHS = ("/", "/api/summary", "/debugger", "/api/requests", "/users/x", "/accounts/x")


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8787", "127.0.0.1.evil.example", "10.0.0.5:80"]
)
def test_a_foreign_host_is_refused_on_loopback(collector: RunningCollector, host: str) -> None:
    for path in (*READ_PATHS, "/v4/contacts?appId=a"):
        response = httpx.get(collector.url + path, headers={"Host": host}, auth=("apikey", API_KEY))
        assert response.status_code == 400, (path, response.status_code)
        assert "DNS rebinding" in response.text
    refused = httpx.post(
        collector.endpoint + "usageanalytics/event",
        json=sample("event"),
        headers={"Host": host},
        auth=("apikey", API_KEY),
    )
    assert refused.status_code == 400 and collector.events() == []


def test_loopback_names_are_answered(collector: RunningCollector) -> None:
    port = collector.url.rsplit(":", 1)[1]
    for host in (
        "localhost",
        f"localhost:{port}",
        f"127.0.0.1:{port}",
        "127.0.0.2",
        f"[::1]:{port}",
        "LOCALHOST",
    ):
        assert httpx.get(collector.url + "/api/summary", headers={"Host": host}).status_code == 200, host
    assert (
        is_loopback_host("[::1]") and not is_loopback_host("[::2]") and not is_loopback_host("localhost.evil")
    )


def test_no_cors_on_the_dashboard_and_read_api(collector: RunningCollector) -> None:
    origin = {"Origin": "https://evil.example"}
    for path in READ_PATHS:
        response = httpx.get(collector.url + path, headers=origin)
        assert "access-control-allow-origin" not in response.headers, path
    preflight = httpx.options(
        collector.url + "/api/summary", headers={**origin, "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in preflight.headers
    for path in ("/v4/contacts", "/v4/tickets", "/dashboards/v4/financial/orders"):
        response = httpx.get(
            collector.url + path, headers=origin, params={"appId": "a"}, auth=("apikey", API_KEY)
        )
        assert "access-control-allow-origin" not in response.headers, path


def test_tracking_allows_browser_sdks(collector: RunningCollector) -> None:
    response = httpx.post(
        collector.endpoint + "usageanalytics/event",
        json=sample("event"),
        headers={"Origin": "http://localhost:3000"},
        auth=("apikey", API_KEY),
    )
    assert response.status_code == 200 and response.headers["access-control-allow-origin"] == "*"


def test_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    with pytest.raises(UnsafeBinding, match="--dashboard-token or USAGEANALYTICS_DASHBOARD_TOKEN"):
        run_in_thread(tmp_path / "open.sqlite", host="0.0.0.0")
    result = CliRunner().invoke(main, ["collector", "--host", "0.0.0.0", "--db", str(tmp_path / "c.sqlite")])
    assert result.exit_code == 2
    assert "--dashboard-token or USAGEANALYTICS_DASHBOARD_TOKEN" in result.output


def test_the_token_guards_the_dashboard_and_read_api(tmp_path: Path) -> None:
    with run_in_thread(
        tmp_path / "shared.sqlite", host="0.0.0.0", api_key=API_KEY, dashboard_token="s3cret"
    ) as shared:
        url = shared.url.replace("0.0.0.0", "127.0.0.1")
        for path in READ_PATHS:
            response = httpx.get(url + path)
            assert response.status_code == 401 and "--dashboard-token" in response.text, path
        assert httpx.get(url + "/api/summary", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(url + "/api/summary", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        # Beyond loopback the server cannot know its names: any Host is answered (with the token).
        named = httpx.get(
            url + "/api/summary", headers={"Authorization": "Bearer s3cret", "Host": "collector.lan"}
        )
        assert named.status_code == 200
        # Opened once with ?token=, the browser keeps an HttpOnly cookie and loses the token from the URL.
        with httpx.Client(base_url=url) as browser:
            opened = browser.get("/debugger?token=s3cret&user_id=dana")
            assert opened.status_code == 303 and opened.headers["location"] == "/debugger?user_id=dana"
            cookie = opened.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie
            assert browser.get("/debugger").status_code == 200
            assert browser.get("/api/requests").status_code == 200
        # The API keeps its own auth, token or not.
        assert (
            httpx.post(
                url + "/v4/usageanalytics/event", json=sample("event"), auth=("apikey", API_KEY)
            ).status_code
            == 200
        )
        assert httpx.post(url + "/v4/usageanalytics/event", json=sample("event")).status_code == 401


def test_a_token_on_loopback_is_required_too(tmp_path: Path) -> None:
    with run_in_thread(tmp_path / "t.sqlite", dashboard_token="s3cret") as guarded:
        assert httpx.get(guarded.dashboard_url).status_code == 401
        assert httpx.get(guarded.dashboard_url, headers={"Authorization": "Bearer s3cret"}).status_code == 200
