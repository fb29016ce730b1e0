"""Whatever a client sends, the collector answers 400 INVALID_INPUT with a reason, never 500,
and the dashboard keeps working: implausible timestamps, lone surrogates, deep nesting, junk."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.collector import known_data
from tests.collector.conftest import sample, snapshot
from usageanalytics.collector.server import RunningCollector


def _event_at(at: str) -> dict[str, Any]:
    return {
        "appId": "shop",
        "userId": "dana",
        "customerAccountId": "acme",
        "platform": "Web",
        "events": [known_data.event("Checkout", at)],
    }


def _still_fine(api: httpx.Client) -> None:
    for path in ("/", "/api/summary", "/debugger", "/api/requests"):
        assert api.get(path).status_code == 200, path


TOO_LATE = (datetime.now(timezone.utc) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize(
    "moment",
    [
        "0999-01-01T00:00:00.000Z",
        "9999-12-31T23:59:59.999Z",
        "9999-12-31T23:59:59-12:00",  # overflows when turned into UTC
        "0001-01-01T00:00:00+14:00",
        "1999-12-31T23:59:59.999Z",
        "2099-01-01T00:00:00.000Z",
        TOO_LATE,
    ],
)
def test_implausible_event_times_are_refused_with_a_reason(
    api: httpx.Client, collector: RunningCollector, moment: str
) -> None:
    before = snapshot(collector)
    response = api.post("/v4/usageanalytics/event", json=_event_at(moment))
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["status"] == "INVALID_INPUT" and answer["message"].startswith("events[0].loggedAtTime")
    assert "2000-01-01" in answer["message"]
    assert snapshot(collector)["events"] == before["events"]
    _still_fine(api)


def test_the_edges_of_the_window_are_accepted(api: httpx.Client) -> None:
    soon = (datetime.now(timezone.utc) + timedelta(hours=23)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for moment in ("2000-01-01T00:00:00.000Z", soon, "2000-01-01T01:00:00+01:00"):
        assert api.post("/v4/usageanalytics/event", json=_event_at(moment)).status_code == 200, moment


def test_session_times_and_attribute_times_are_checked_too(api: httpx.Client) -> None:
    start = known_data.event("app_session_start", "2024-05-01T10:00:00.000Z", sessionId="s1")
    start["parameters"].append(
        {"attributeName": "startTime", "dataType": "Date", "stringValue": "9999-01-01T00:00:00Z"}
    )
    body = dict(_event_at("2024-05-01T10:00:00.000Z"), events=[start])
    response = api.post("/v4/usageanalytics/event", json=body)
    assert response.status_code == 400 and "startTime" in response.json()["message"]
    attribute = {
        "appId": "shop",
        "userId": "dana",
        "platform": "Web",
        "userAttributes": [
            {
                "name": "Plan",
                "dataType": "String",
                "stringValue": "Pro",
                "loggedAtTime": "0999-01-01T00:00:00Z",
            }
        ],
    }
    response = api.post("/v4/usageanalytics/user/attribute", json=attribute)
    assert response.status_code == 400 and "loggedAtTime" in response.json()["message"]
    # A Date *value* is not a moment of activity: a birth date in 1970 is fine.
    attribute["userAttributes"][0].update(
        dataType="Date", stringValue="1970-01-01", loggedAtTime="2024-05-01T10:00:00Z"
    )
    assert api.post("/v4/usageanalytics/user/attribute", json=attribute).status_code == 200


def _post_raw(api: httpx.Client, raw: bytes, path: str = "/v4/usageanalytics/event") -> httpx.Response:
    return api.post(path, content=raw, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(
    "raw",
    [
        b'{"appId": "shop\\ud800", "userId": "u", "customerAccountId": "a", "platform": "Web", "events": []}',
        b'{"appId": "shop", "userId": "\\udfff", "customerAccountId": "a", "platform": "Web", "events": []}',
        b'{"\\ud800": 1}',
        b"[" * 2000 + b"]" * 2000,
        b'{"a":' * 5000 + b"1" + b"}" * 5000,
        b"[" * 100_000,
        b"\xff\xfe not utf-8",
        b'{"appId": NaN}',
        b"",
    ],
    ids=[
        "surrogate-value",
        "surrogate-user",
        "surrogate-key",
        "nested-2000",
        "nested-5000",
        "open-100k",
        "bytes",
        "nan",
        "empty",
    ],
)
def test_malformed_bodies_are_a_400(api: httpx.Client, raw: bytes) -> None:
    for path in (
        "/v4/usageanalytics/event",
        "/v4/tickets",
        "/dashboards/v4/financial/orders",
        "/v4/contacts",
    ):
        response = _post_raw(api, raw, path)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["status"] == "INVALID_INPUT"
    _still_fine(api)


def test_deep_nesting_inside_a_valid_request_is_stored_or_refused_never_a_500(api: httpx.Client) -> None:
    for depth in (50, 500, 900, 990, 1500):
        body = json.dumps(sample("create_ticket"))
        deep = '{"next":' * depth + '"bottom"' + "}" * depth  # built as text: json.dumps would recurse
        raw = (body[:-1] + f', "customFields": {{"deep": {deep}}}}}').encode()
        response = _post_raw(api, raw, "/v4/tickets")
        assert response.status_code in (201, 400), (depth, response.text)
    _still_fine(api)


def test_a_valid_emoji_pair_is_not_a_surrogate(api: httpx.Client, collector: RunningCollector) -> None:
    raw = json.dumps(_event_at("2024-05-01T10:00:00.000Z")).replace("dana", "dana \\ud83d\\ude00").encode()
    assert _post_raw(api, raw).status_code == 200
    assert collector.events()[0]["user_id"] == "dana \U0001f600"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
envelope_keys = st.sampled_from(
    [
        "appId",
        "userId",
        "customerAccountId",
        "platform",
        "events",
        "sessionId",
        "name",
        "loggedAtTime",
        "parameters",
    ]
)


@seed(20241129)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    body=st.dictionaries(envelope_keys | st.text(max_size=8), json_values, max_size=8),
    path=st.sampled_from(
        [
            "usageanalytics/event",
            "usageanalytics/user",
            "usageanalytics/user/attribute",
            "usageanalytics/device/attribute",
            "usageanalytics/device/token",
            "usageanalytics/customer",
            "tickets",
            "contacts",
            "agents",
        ]
    ),
    ascii_only=st.booleans(),
)
def test_any_json_gets_an_answer_that_is_not_a_500(
    api: httpx.Client, body: dict[str, Any], path: str, ascii_only: bool
) -> None:
    raw = json.dumps(body, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    response = _post_raw(api, raw, f"/v4/{path}")
    assert response.status_code < 500, (path, body, response.text)
    assert response.json()["status"] in ("SUCCESS", "INVALID_INPUT", "ERROR") or "ticketId" in response.json()
