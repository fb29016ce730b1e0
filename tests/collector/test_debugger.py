"""The request log: every request answered (accepted or refused, 401s too, never a key), newest
first, filtered, bounded, and as JSON at /api/requests."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector import known_data
from tests.collector.conftest import API_KEY, sample
from usageanalytics.collector.server import RunningCollector, run_in_thread

SDK_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def events_body(user: str, account: str, *names: str, app: str = "shop") -> dict[str, Any]:
    return {
        "appId": app,
        "userId": user,
        "customerAccountId": account,
        "platform": "Web",
        "events": [known_data.event(name, "2024-05-01T10:00:00.000Z") for name in names],
    }


def logged(api: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/api/requests", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["requests"])


def test_accepted_and_refused_requests_newest_first(api: httpx.Client) -> None:
    assert (
        api.post("/v4/usageanalytics/event", json=events_body("dana", "acme", "Signed In")).status_code == 200
    )
    bad = events_body("dana", "acme", "Signed In")
    bad["platform"] = "Linux"
    assert api.post("/v4/usageanalytics/event", json=bad).status_code == 400
    with httpx.Client(base_url=str(api.base_url), auth=("apikey", "not-the-key")) as wrong:
        assert wrong.post("/v4/usageanalytics/event", json=events_body("eve", "acme", "X")).status_code == 401
    assert api.post("/v4/usageanlytics/event", json={}).status_code == 404  # a typo in the path

    found = logged(api)
    assert [(r["path"], r["status_code"], r["outcome"]) for r in found] == [
        ("/v4/usageanlytics/event", 404, "rejected"),
        ("/v4/usageanalytics/event", 401, "rejected"),
        ("/v4/usageanalytics/event", 400, "rejected"),
        ("/v4/usageanalytics/event", 200, "accepted"),
    ]
    keys = {"id", "received_at", "method", "path", "status_code", "outcome", "reason", "body"}
    assert all(keys <= set(r) for r in found)
    assert [r["id"] for r in found] == sorted((r["id"] for r in found), reverse=True)
    assert all(SDK_TIME.fullmatch(r["received_at"]) for r in found)
    not_found, unauthorized, invalid, accepted = found
    assert accepted["reason"] is None and accepted["answer"] == {"status": "SUCCESS"}
    assert accepted["body"]["events"][0]["name"] == "Signed In"
    assert accepted["event_names"] == ["Signed In"] and accepted["account_id"] == "acme"
    assert invalid["reason"].startswith("platform: must be one of")
    assert invalid["answer"]["status"] == "INVALID_INPUT"
    assert unauthorized["reason"] == "invalid API key" and unauthorized["user_id"] == "eve"
    assert not_found["reason"] == "no endpoint POST /v4/usageanlytics/event"
    # Never a key: not the collector's, not the wrong one a client sent.
    text = api.get("/api/requests").text
    assert API_KEY not in text and "not-the-key" not in text


def test_a_repeated_request_is_noted(api: httpx.Client) -> None:
    body = sample("event")
    assert api.post("/v4/usageanalytics/event", json=body).status_code == 200
    assert api.post("/v4/usageanalytics/event", json=body).status_code == 200
    newest, first = logged(api)
    assert first["note"] is None and "not stored again" in newest["note"]


def test_filters(api: httpx.Client) -> None:
    for user, account, names, app in [
        ("dana", "acme", ("Signed In", "Checkout"), "shop"),
        ("eve", "globex", ("Signed In",), "shop"),
        ("dana", "acme", ("Exported",), "admin"),
    ]:
        assert (
            api.post("/v4/usageanalytics/event", json=events_body(user, account, *names, app=app)).status_code
            == 200
        )
    assert api.post("/v4/usageanalytics/event", json={"appId": "shop"}).status_code == 400

    def users(**params: Any) -> list[tuple[str | None, str | None]]:
        return [(r["app_id"], r["user_id"]) for r in logged(api, **params)]

    assert users(app_id="admin") == [("admin", "dana")]
    assert users(user_id="dana") == [("admin", "dana"), ("shop", "dana")]
    assert users(account_id="globex") == [("shop", "eve")]
    assert users(event="Signed In") == [("shop", "eve"), ("shop", "dana")]
    assert users(event="Signed") == []  # whole names only
    assert users(outcome="rejected") == [("shop", None)]
    assert len(logged(api, outcome="accepted")) == 3
    assert len(logged(api, limit=2)) == 2
    newest = logged(api)[0]["id"]
    assert logged(api, after=newest) == []
    assert [r["id"] for r in logged(api, before=newest)] == [r["id"] for r in logged(api)][1:]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be between 1 and 1,000"),
        ({"limit": "many"}, "limit must be a whole number"),
        ({"outcome": "maybe"}, "outcome must be one of accepted, rejected"),
        ({"after": "-1"}, "after must be between"),
    ],
)
def test_bad_filters_are_a_400(api: httpx.Client, params: dict[str, str], message: str) -> None:
    response = api.get("/api/requests", params=params)
    assert response.status_code == 400 and message in response.json()["message"]


def test_only_the_newest_requests_are_kept(tmp_path: Path) -> None:
    with (
        run_in_thread(tmp_path / "small.sqlite", api_key=API_KEY, request_log_size=5) as small,
        httpx.Client(base_url=small.url, auth=("apikey", API_KEY)) as api,
    ):
        for number in range(60):
            body = events_body(f"user-{number}", "acme", "Tick")
            assert api.post("/v4/usageanalytics/event", json=body).status_code == 200
        found = logged(api, limit=100)
        assert [r["user_id"] for r in found] == [f"user-{n}" for n in range(59, 54, -1)]
        stored = small._connections.get().execute("SELECT count(*) FROM request_log").fetchone()[0]
        assert stored < 60  # trimmed on disk too (in steps, so writing stays cheap)
        assert len(small.events()) == 60  # the data itself is all there


def test_a_big_body_is_kept_cut(api: httpx.Client, collector: RunningCollector) -> None:
    body = events_body("dana", "acme", "Big")
    body["events"][0]["parameters"] = [
        {"attributeName": "Trace", "dataType": "String", "stringValue": "x" * 300_000}
    ]
    assert api.post("/v4/usageanalytics/event", json=body).status_code == 200
    [entry] = logged(api)
    assert entry["body_truncated"] and entry["body_bytes"] > 300_000
    assert isinstance(entry["body"], str) and len(entry["body"]) == 256 * 1024
    assert collector.events(name="Big")[0]["attributes"]["Trace"] == "x" * 300_000


def test_no_log_when_the_size_is_zero(tmp_path: Path) -> None:
    with (
        run_in_thread(tmp_path / "none.sqlite", api_key=API_KEY, request_log_size=0) as quiet,
        httpx.Client(base_url=quiet.url, auth=("apikey", API_KEY)) as api,
    ):
        assert api.post("/v4/usageanalytics/event", json=sample("event")).status_code == 200
        assert logged(api) == []
