"""Each class of bad request gets the documented error, naming the field, and changes nothing the
collector already stored."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector.conftest import API_KEY, sample, snapshot
from usageanalytics.collector.server import RunningCollector, run_in_thread

FINANCIAL = "/dashboards/v4/financial"


def _update(target: dict[str, Any], updates: dict[str, Any]) -> None:
    """Replace fields; a value of ``...`` deletes the field."""
    for key, value in updates.items():
        if value is ...:
            target.pop(key)
        else:
            target[key] = value


def changed(sample_name: str, /, **updates: Any) -> dict[str, Any]:
    """A spec sample with top-level fields replaced or deleted."""
    body = sample(sample_name)
    _update(body, updates)
    return body


def event_with(**updates: Any) -> dict[str, Any]:
    """The event sample with its first event's fields replaced or deleted."""
    body = sample("event")
    _update(body["events"][0], updates)
    return body


def parameter_with(**updates: Any) -> dict[str, Any]:
    """The event sample with its first event's first parameter's fields replaced or deleted."""
    body = sample("event")
    _update(body["events"][0]["parameters"][0], updates)
    return body


@pytest.fixture
def filled(api: httpx.Client, collector: RunningCollector) -> RunningCollector:
    """A collector that already holds one of everything."""
    for path, name in [
        ("/v4/usageanalytics/customer", "customer"),
        ("/v4/usageanalytics/user", "user"),
        ("/v4/usageanalytics/event", "event"),
        ("/v4/usageanalytics/event", "session_start"),
        ("/v4/usageanalytics/user/attribute", "user_attributes"),
        ("/v4/usageanalytics/device/attribute", "device_attributes"),
        ("/v4/usageanalytics/device/token", "device_token"),
        (f"{FINANCIAL}/orders", "order"),
        (f"{FINANCIAL}/app-financial-data", "app_financial_data"),
        (f"{FINANCIAL}/account-financial-data", "account_financial_data"),
        ("/v4/contacts", "create_contacts"),
        ("/v4/agents", "save_agents"),
    ]:
        assert api.post(path, json=sample(name)).status_code == 200, name
    ticket = api.post("/v4/tickets", json=sample("create_ticket")).json()
    api.post("/v4/tickets/comments", json={"ticketId": ticket["ticketId"], "description": "first"})
    return collector


# (path, body, the field the message must name)
INVALID_BODIES: list[tuple[str, Any, str]] = [
    ("/v4/usageanalytics/event", [], "body"),
    ("/v4/usageanalytics/event", changed("event", userId=...), "userId"),
    ("/v4/usageanalytics/event", changed("event", appId=""), "appId"),
    ("/v4/usageanalytics/event", changed("event", customerAccountId=...), "customerAccountId"),
    ("/v4/usageanalytics/event", changed("event", platform="Linux"), "platform"),
    ("/v4/usageanalytics/event", changed("event", events=[]), "events"),
    ("/v4/usageanalytics/event", event_with(loggedAtTime="yesterday"), "events[0].loggedAtTime"),
    ("/v4/usageanalytics/event", event_with(name=...), "events[0].name"),
    ("/v4/usageanalytics/event", parameter_with(dataType="Text"), "events[0].parameters[0].dataType"),
    ("/v4/usageanalytics/event", parameter_with(dataType="Number"), "events[0].parameters[0].numberValue"),
    ("/v4/usageanalytics/event", parameter_with(dataType="Date", stringValue="soon"), "stringValue"),
    ("/v4/usageanalytics/event", parameter_with(dataType="Boolean"), "booleanValue"),
    (
        "/v4/usageanalytics/event",
        event_with(
            parameters=[
                {"attributeName": f"a{i}", "dataType": "Boolean", "booleanValue": True} for i in range(6)
            ]
        ),
        "events[0].parameters",
    ),
    (
        "/v4/usageanalytics/event",
        changed("page_load", events=[{**sample("page_load")["events"][0], "parameters": []}]),
        "requestCount",
    ),
    ("/v4/usageanalytics/user", changed("user", status="Gone"), "status"),
    ("/v4/usageanalytics/user", changed("user", loginMechanism="SSO"), "loginMechanism"),
    ("/v4/usageanalytics/user", changed("user", customerAccountId=...), "customerAccountId"),
    ("/v4/usageanalytics/customer", changed("customer", name=...), "name"),
    ("/v4/usageanalytics/customer", changed("customer", status="Dormant"), "status"),
    (
        "/v4/usageanalytics/customer",
        changed("customer", base64EncodedLogoImage=base64.b64encode(b"\0" * (3 * 1024 * 1024)).decode()),
        "base64EncodedLogoImage",
    ),
    (
        "/v4/usageanalytics/user/attribute",
        changed(
            "user_attributes",
            userAttributes=[
                {
                    "name": "Age",
                    "dataType": "Number",
                    "numberValue": "25",
                    "loggedAtTime": "2018-12-14T07:46:31.565Z",
                }
            ],
        ),
        "numberValue",
    ),
    (
        "/v4/usageanalytics/user/attribute",
        changed("user_attributes", userAttributes=[{"name": "Age", "dataType": "Number", "numberValue": 2}]),
        "loggedAtTime",
    ),
    (
        "/v4/usageanalytics/device/attribute",
        changed("device_attributes", deviceAttributes={"Make": 7}),
        "deviceAttributes.Make",
    ),
    (
        "/v4/usageanalytics/device/attribute",
        changed("device_attributes", deviceAttributes={}),
        "deviceAttributes",
    ),
    ("/v4/usageanalytics/device/token", changed("device_token", appInDistribution=...), "appInDistribution"),
    ("/v4/usageanalytics/device/token", changed("device_token", deviceToken=...), "deviceToken"),
    (f"{FINANCIAL}/orders", changed("order", status="Shipped"), "status"),
    (f"{FINANCIAL}/orders", changed("order", effectiveDate="01/01/2020"), "effectiveDate"),
    (f"{FINANCIAL}/orders", changed("order", endDate="2019-02-30"), "endDate"),
    (f"{FINANCIAL}/orders", changed("order", endDate="2019-12-31"), "endDate"),
    (f"{FINANCIAL}/orders", changed("order", amount="8400 USD"), "amount"),
    (f"{FINANCIAL}/orders", changed("order", orgProductId=...), "orgProductId"),
    (f"{FINANCIAL}/app-financial-data", {"appId": "a", "logoChurnTolerance": 5}, "logoChurnTolerance"),
    (
        f"{FINANCIAL}/account-financial-data",
        changed("account_financial_data", accountStartDate="2020-12"),
        "accountStartDate",
    ),
    (f"{FINANCIAL}/account-financial-data", changed("account_financial_data", arrTarget=...), "arrTarget"),
    ("/v4/contacts", {"contacts": []}, "appId"),
    ("/v4/contacts", {"appId": "a", "contacts": {}}, "contacts"),
    ("/v4/agents", {"appId": "a"}, "agents"),
    ("/v4/tickets", changed("create_ticket", createdByType="robot"), "createdByType"),
    ("/v4/tickets", changed("create_ticket", escalation="high"), "escalation"),
    ("/v4/tickets", changed("create_ticket", dueDate="next week"), "dueDate"),
    ("/v4/tickets", changed("create_ticket", appId=...), "appId"),
    ("/v4/tickets", changed("create_ticket", customFields=["a"]), "customFields"),
    ("/v4/tickets/comments", {"ticketId": "t"}, "description"),
    ("/v4/tickets/comments", {"ticketId": "t", "description": "d", "createdByType": "bot"}, "createdByType"),
]


@pytest.mark.parametrize(
    ("path", "body", "field"), INVALID_BODIES, ids=[f"{p}:{f}" for p, _, f in INVALID_BODIES]
)
def test_invalid_input_is_rejected_naming_the_field(
    filled: RunningCollector, api: httpx.Client, path: str, body: Any, field: str
) -> None:
    before = snapshot(filled)
    response = api.post(path, json=body)
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["status"] == "INVALID_INPUT"
    assert field in answer["message"]
    assert snapshot(filled) == before


def test_a_bad_event_rejects_its_whole_batch(filled: RunningCollector, api: httpx.Client) -> None:
    body = sample("event")
    body["events"].append({"name": "Broken", "loggedAtTime": "not a time"})
    body["events"][0]["name"] = "Would Be New"
    before = snapshot(filled)
    response = api.post("/v4/usageanalytics/event", json=body)
    assert response.status_code == 400 and "events[1].loggedAtTime" in response.json()["message"]
    assert snapshot(filled) == before
    assert filled.events(name="Would Be New") == []


@pytest.mark.parametrize(
    ("headers", "auth"),
    [
        ({}, None),
        ({"Authorization": "Bearer " + API_KEY}, None),
        ({"Authorization": "Basic not-base64!"}, None),
        ({}, ("apikey", "wrong-key")),
        ({}, ("admin", API_KEY)),
    ],
    ids=["missing", "not-basic", "not-base64", "wrong-key", "wrong-user"],
)
def test_bad_credentials_get_401(
    filled: RunningCollector, headers: dict[str, str], auth: tuple[str, str] | None
) -> None:
    before = snapshot(filled)
    with httpx.Client(base_url=filled.url, headers=headers, auth=auth) as client:
        for method, path in [
            ("POST", "/v4/usageanalytics/event"),
            ("POST", f"{FINANCIAL}/orders"),
            ("GET", "/v4/tickets/contacts?appId=a"),
            ("DELETE", "/v4/tickets/x"),
        ]:
            response = client.request(method, path, json=sample("event") if method == "POST" else None)
            assert response.status_code == 401, (method, path)
            assert response.json()["status"] == "ERROR"
            assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert snapshot(filled) == before


def test_malformed_json_wrong_type_and_empty_bodies(filled: RunningCollector, api: httpx.Client) -> None:
    before = snapshot(filled)
    json_type = {"Content-Type": "application/json"}
    cases = [
        (b'{"appId": "a",', json_type, 400, "malformed JSON"),
        (b'{"appId": NaN}', json_type, 400, "NaN"),
        (b"\xff\xfe{}", json_type, 400, "UTF-8"),
        (b"", json_type, 400, "body is required"),
        (json.dumps(sample("event")).encode(), {"Content-Type": "text/plain"}, 415, "application/json"),
        (
            json.dumps(sample("event")).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
            415,
            "Content-Type",
        ),
    ]
    for content, headers, status, words in cases:
        response = api.post("/v4/usageanalytics/event", content=content, headers=headers)
        assert response.status_code == status, (content, response.text)
        assert response.json()["status"] == "INVALID_INPUT"
        assert words in response.json()["message"]
    assert snapshot(filled) == before


def test_oversized_bodies_get_413_declared_or_streamed(tmp_path: Path) -> None:
    with run_in_thread(tmp_path / "small.sqlite", api_key=API_KEY, max_body_bytes=2000) as small:
        with httpx.Client(base_url=small.url, auth=("apikey", API_KEY)) as client:
            body = sample("event")
            body["events"] = body["events"] * 40
            response = client.post("/v4/usageanalytics/event", json=body)
            assert response.status_code == 413
            assert (
                response.json()["status"] == "INVALID_INPUT" and "2,000 bytes" in response.json()["message"]
            )

            def chunks() -> Any:  # no Content-Length: the limit applies while reading
                yield b'{"appId": "'
                for _ in range(100):
                    yield b"x" * 100
                yield b'"}'

            response = client.post(
                "/v4/usageanalytics/event", content=chunks(), headers={"Content-Type": "application/json"}
            )
            assert response.status_code == 413
            assert client.post("/v4/usageanalytics/event", json=sample("event")).status_code == 200
        assert small.counts()["requests"] == 1


def test_unknown_paths_and_methods(filled: RunningCollector, api: httpx.Client) -> None:
    before = snapshot(filled)
    assert api.post("/v4/usageanalytics/nothing", json={"appId": "a"}).status_code == 404
    assert api.post(f"{FINANCIAL}/invoices", json={"appId": "a"}).status_code == 404
    assert api.post("/v4/nowhere", json={}).status_code == 404
    assert api.post("/v4/usageanalytics/nothing").status_code == 404  # no body: still 404 first
    assert api.get("/v4/usageanalytics/event").status_code == 405
    response = api.post("/v4/agents/x", json={})
    assert response.status_code == 405
    assert response.json() == {"status": "ERROR", "message": "POST is not allowed on /v4/agents/x"}
    assert response.headers["allow"] == "DELETE"
    response = api.post("/v4/nowhere", json={})
    assert response.json() == {"status": "ERROR", "message": "no endpoint POST /v4/nowhere"}
    assert snapshot(filled) == before


def test_missing_records_get_404_and_change_nothing(filled: RunningCollector, api: httpx.Client) -> None:
    before = snapshot(filled)
    cases = [
        api.put("/v4/tickets", json={"id": "no-such-ticket", "status": "closed"}),
        api.delete("/v4/tickets/no-such-ticket"),
        api.post("/v4/tickets/comments", json={"ticketId": "no-such-ticket", "description": "hello"}),
        api.put("/v4/tickets/comments", json={"id": "no-such-comment", "description": "hello"}),
        api.delete("/v4/agents/no-such-agent"),
        api.request("DELETE", f"{FINANCIAL}/orders/no-such-order", json={"appId": sample("order")["appId"]}),
        api.request(
            "DELETE", f"{FINANCIAL}/orders/{sample('order')['orderId']}", json={"appId": "other-app"}
        ),
        api.delete(f"{FINANCIAL}/app-financial-data/no-such-app"),
        api.request("DELETE", f"{FINANCIAL}/account-financial-data/nobody", json={"appId": "a"}),
    ]
    for response in cases:
        assert response.status_code == 404, response.request.url
        assert response.json()["status"] == "ERROR" and "no " in response.json()["message"]
    assert snapshot(filled) == before


def test_query_parameter_limits(filled: RunningCollector, api: httpx.Client) -> None:
    app_id = sample("create_contacts")["appId"]
    for params, field in [
        ({"appId": app_id, "limit": "1001"}, "limit"),
        ({"appId": app_id, "limit": "0"}, "limit"),
        ({"appId": app_id, "limit": "ten"}, "limit"),
        ({"limit": "10"}, "appId"),
        ({"appId": app_id, "nextPageToken": "garbage"}, "nextPageToken"),
    ]:
        response = api.get("/v4/tickets/contacts", params=params)
        assert response.status_code == 400, params
        assert field in response.json()["message"]
    assert api.get("/v4/tickets/contacts", params={"appId": app_id, "limit": "1000"}).status_code == 200
    response = api.get("/v4/tickets/comments", params={"appId": "a"})
    assert response.status_code == 400 and "ticketId" in response.json()["message"]
    response = api.request("DELETE", f"{FINANCIAL}/orders/x")
    assert response.status_code == 400 and "appId" in response.json()["message"]
    response = api.delete("/v4/tickets")
    assert response.status_code == 400 and "id" in response.json()["message"]


def test_without_an_api_key_any_key_passes_but_basic_auth_is_still_required(tmp_path: Path) -> None:
    with run_in_thread(tmp_path / "open.sqlite", api_key=None) as open_collector:
        url = f"{open_collector.endpoint}usageanalytics/event"
        assert httpx.post(url, json=sample("event"), auth=("apikey", "whatever")).status_code == 200
        assert httpx.post(url, json=sample("event"), auth=("apikey", "")).status_code == 200
        assert httpx.post(url, json=sample("event")).status_code == 401
        assert httpx.post(url, json=sample("event"), auth=("someone", "key")).status_code == 401
        assert len(open_collector.events()) == 1
