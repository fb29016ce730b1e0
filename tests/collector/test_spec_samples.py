"""Every sample request in the spec, sent to a real collector, gets the spec's documented answer
and is stored as it says."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx

from tests.collector.conftest import sample, without_comments
from tests.collector.spec_samples import SAMPLES
from usageanalytics.collector.server import RunningCollector
from usageanalytics.collector.store import Store, dumps

# The platform's documentation, copied into the repository as the wire contract (docs/README.md).
SPEC = Path(__file__).resolve().parents[2] / "docs" / "smartkarrot-api-docs.txt"
SUCCESS = {"status": "SUCCESS"}
FINANCIAL = "/dashboards/v4/financial"


def seed(collector: RunningCollector, table: str, key: str, record: dict[str, Any], **columns: str) -> None:
    """Put a record the platform already holds (a ticket or comment the sample refers to)."""
    store = Store(collector.db_path)
    try:
        with store.transaction() as db:
            names = [key, *columns, "data"]
            values = [record[_wire_id(key)], *columns.values(), dumps(record)]
            db.execute(
                f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})", values
            )
    finally:
        store.close()


def _wire_id(column: str) -> str:
    return {"ticket_id": "ticketId", "comment_id": "CommentId"}[column]


def test_the_samples_are_the_specs_own() -> None:
    """Guard against drift: each stored sample appears in the spec, and none is missing."""
    spec = SPEC.read_text()
    squeeze = re.compile(r"\s+")
    flat_spec = squeeze.sub("", spec)
    for name, text in SAMPLES.items():
        assert squeeze.sub("", text) in flat_spec, name
    headings = len(re.findall(r"(?im)^sample (request|input parameters)", spec))
    curls = spec.count("curl -v -u apikey")
    assert len(SAMPLES) == headings + curls


def test_customer_sample(api: httpx.Client, collector: RunningCollector) -> None:
    response = api.post("/v4/usageanalytics/customer", json=sample("customer"))
    assert (response.status_code, response.json()) == (200, SUCCESS)
    [customer] = collector.customers()
    assert customer["name"] == "SmartKarrot"
    assert customer["product_ids"] == ["91ed7505-f106-4e03-b88b-63b76693f391"]
    assert customer["status"] == "Active"


def test_user_sample_without_idempotency_id_is_accepted(
    api: httpx.Client, collector: RunningCollector
) -> None:
    body = sample("user")
    assert "idempotencyId" not in body
    response = api.post("/v4/usageanalytics/user", json=body)
    assert (response.status_code, response.json()) == (200, SUCCESS)
    # The same body again is a retry: recognised by a key the collector derives from the body.
    assert api.post("/v4/usageanalytics/user", json=body).json() == SUCCESS
    assert len(collector.requests("/v4/usageanalytics/user")) == 1
    [user] = collector.users()
    assert (user["user_id"], user["login_mechanism"], user["platform"]) == (body["userId"], "AUTH", "iOS")
    assert user["bundle_id"] == "com.smartkarrot.tasks"


def test_authentication_curl_sample_transfers_the_guest(
    api: httpx.Client, collector: RunningCollector
) -> None:
    body = json.loads(SAMPLES["auth_curl_user"])
    guest, user = body["lastLoggedInUserId"], body["userId"]
    guest_event = sample("event") | {"userId": guest, "appId": body["appId"]}
    assert api.post("/v4/usageanalytics/event", json=guest_event).json() == SUCCESS
    response = api.post("/v4/usageanalytics/user", json=body)
    assert (response.status_code, response.json()) == (200, SUCCESS)
    [event] = collector.events(name="Purchase Product")
    assert (event["user_id"], event["original_user_id"]) == (user, guest)
    assert event["customer_account_id"] == body["customerAccountId"]
    assert collector.user(guest)["user_id"] == user  # type: ignore[index]
    assert [u["user_id"] for u in collector.users()] == [user]


def test_event_sample(api: httpx.Client, collector: RunningCollector) -> None:
    response = api.post("/v4/usageanalytics/event", json=sample("event"))
    assert (response.status_code, response.json()) == (200, SUCCESS)
    [event] = collector.events()
    assert event["name"] == "Purchase Product"
    assert event["logged_at"] == "2020-03-28T12:07:58.165Z"
    assert event["attributes"] == {"Module": "Product", "List Price": "$ 45"}
    assert (event["app_version"], event["user_source_ip"]) == ("1.0", "142.250.182.36")
    assert event["session_id"] == "d28d89fwi5eupw8wfw7f94"
    assert event["product_id"] == "91ed7505-f106-4e03-b88b-63b76693f391"


def test_session_samples_without_top_level_session_id(api: httpx.Client, collector: RunningCollector) -> None:
    start, end = sample("session_start"), sample("session_end")
    assert "sessionId" not in start and "sessionId" not in end
    for body in (start, end):
        response = api.post("/v4/usageanalytics/event", json=body)
        assert (response.status_code, response.json()) == (200, SUCCESS)
    [session] = collector.sessions()
    assert session["session_id"] == "j28d89f9wi5eup4789794"
    assert session["started_at"] == session["ended_at"] == "2019-03-28T12:07:58.165Z"
    assert session["duration_seconds"] == 0
    assert session["user_id"] == "28f05cea-4721-0818-2a7c-a88b102012fa"


def test_page_load_sample(api: httpx.Client, collector: RunningCollector) -> None:
    response = api.post("/v4/usageanalytics/event", json=sample("page_load"))
    assert (response.status_code, response.json()) == (200, SUCCESS)
    [event] = collector.events(name="page_load_event")
    assert event["attributes"] == {
        "requestCount": 54,
        "loadTime": 32.3,
        "pageUrl": "https://devstage.smartkarrot.com/#/demo-events",
    }


def test_user_attributes_sample(api: httpx.Client, collector: RunningCollector) -> None:
    body = sample("user_attributes")
    response = api.post("/v4/usageanalytics/user/attribute", json=body)
    assert (response.status_code, response.json()) == (200, SUCCESS)
    assert collector.user_attributes(body["userId"]) == {
        "Subscribed To Email": True,
        "Region": "US",
        "Gender": "Male",
        "Age": 25,
    }


def test_device_samples(api: httpx.Client, collector: RunningCollector) -> None:
    for path, name in (("device/attribute", "device_attributes"), ("device/token", "device_token")):
        response = api.post(f"/v4/usageanalytics/{path}", json=sample(name))
        assert (response.status_code, response.json()) == (200, SUCCESS)
    [device] = collector.devices()
    assert device["device_id"] == "53e11019-8034-496b-a484-fa978918873c"
    assert device["attributes"] == {"App Bundle Identifier": "org.app.demo.UsageAnalytics", "Make": "Apple"}
    assert device["device_token"].startswith("740f4707 bebcf74f")
    assert device["app_in_distribution"] is True


def test_order_samples(api: httpx.Client, collector: RunningCollector) -> None:
    response = api.post(f"{FINANCIAL}/orders", json=sample("order"))
    assert (response.status_code, response.json()) == (200, SUCCESS)
    [order] = collector.orders()
    assert (order["order_id"], order["amount"], order["status"]) == (
        "8920b276-5d2f-457c-87c4-af7156d2fe95",
        8400,
        "Activated",
    )
    assert (order["effective_date"], order["end_date"]) == ("2020-01-01", "2020-12-31")
    response = api.request("DELETE", f"{FINANCIAL}/orders/{order['order_id']}", json=sample("delete_order"))
    assert (response.status_code, response.json()) == (200, SUCCESS)
    assert collector.orders() == []


def test_financial_curl_sample(api: httpx.Client, collector: RunningCollector) -> None:
    """The spec's curl lacks a comma (malformed JSON, answered as such); repaired, it is accepted
    with ``productId`` standing for ``orgProductId``, and its trailing slash is served too."""
    verbatim = SAMPLES["financial_curl_order"]
    response = api.post(
        f"{FINANCIAL}/orders/", content=verbatim, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["status"] == "INVALID_INPUT"
    assert "malformed JSON" in response.json()["message"]
    repaired = verbatim.replace(
        '"c519d994-a0cb-41f9-89ba-074a63923239" "orderId"',
        '"c519d994-a0cb-41f9-89ba-074a63923239", "orderId"',
    )
    response = api.post(
        f"{FINANCIAL}/orders/", content=repaired, headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.json()) == (200, SUCCESS)
    [order] = collector.orders()
    assert order["org_product_id"] == "c519d994-a0cb-41f9-89ba-074a63923239"
    assert order["amount"] == 21325.0


def test_app_and_account_financial_samples(api: httpx.Client, collector: RunningCollector) -> None:
    app_data = sample("app_financial_data")
    assert api.post(f"{FINANCIAL}/app-financial-data", json=app_data).json() == SUCCESS
    assert collector.app_financial_data()[0]["logo_churn_tolerance"] == 0.05
    account = sample("account_financial_data")
    response = api.post(f"{FINANCIAL}/account-financial-data", json=account)
    assert (response.status_code, response.json()) == (200, SUCCESS)
    [stored] = collector.account_financial_data()
    assert (stored["account_start_date"], stored["arr_target"]) == ("2020-12-31", 1000000)

    response = api.request(
        "DELETE",
        f"{FINANCIAL}/account-financial-data/{account['customerAccountId']}",
        json=sample("delete_account_financial_data"),
    )
    assert (response.status_code, response.json()) == (200, SUCCESS)
    assert collector.account_financial_data() == []
    response = api.delete(f"{FINANCIAL}/app-financial-data/{app_data['appId']}")  # no body, as documented
    assert (response.status_code, response.json()) == (200, SUCCESS)
    assert collector.app_financial_data() == []


def test_contacts_samples(api: httpx.Client, collector: RunningCollector) -> None:
    response = api.post("/v4/contacts", json=sample("create_contacts"))
    assert response.status_code == 200
    answer = response.json()
    assert (answer["Saved Contact count"], answer["Unsaved Contact count"]) == (1, 1)
    [unsaved] = answer["unsavedContacts"]
    assert (unsaved["firstName"], unsaved["customerContactId"], unsaved["status"]) == (
        "Andrew",
        "EZ143",
        "active",
    )
    assert unsaved["displaySuggestion"] is True and unsaved["isChampion"] is False
    [contact] = collector.contacts()
    assert (contact["email"], contact["firstName"], contact["role"]) == (
        "david.lyon@yopmail.com",
        "David",
        "Lead Engineer",
    )


def test_get_contacts_sample_pages_with_the_platforms_token(api: httpx.Client) -> None:
    """The sample's token (the platform's own format) works here: contacts after its key."""
    params = sample("get_contacts")
    people = [{"email": f"person{i}@example.com", "firstName": f"Person {i}"} for i in range(3)]
    saved = api.post("/v4/tickets/contacts", json={"appId": params["appId"], "contacts": people}).json()
    assert saved["Saved Contact count"] == 3
    response = api.get("/v4/tickets/contacts", params=params)
    assert response.status_code == 200
    page = response.json()
    assert page["count"] == 2 and len(page["contacts"]) == 2
    assert {c["appId"] for c in page["contacts"]} == {params["appId"]}
    key = json.loads(base64.b64decode(page["nextPageToken"]))
    assert set(key) == {"contactId", "createTime", "appId"}
    rest = api.get(
        "/v4/contacts", params={"appId": params["appId"], "nextPageToken": page["nextPageToken"]}
    ).json()
    assert rest["count"] == 1 and "nextPageToken" not in rest
    emails = [c["email"] for c in page["contacts"] + rest["contacts"]]
    assert sorted(emails) == sorted(p["email"] for p in people)


def test_agents_samples(api: httpx.Client, collector: RunningCollector) -> None:
    response = api.post("/v4/agents", json=sample("save_agents"))
    assert response.status_code == 200
    answer = response.json()
    assert (answer[" Saved Agents count: "], answer[" Unsaved Agents count: "]) == (1, 1)
    assert answer["unsavedAgents"][0]["customerAgentId"] == "ZY-agent67"
    [agent] = collector.agents()
    response = api.delete("/v4/agents", params={"id": agent["agentId"]})
    assert (response.status_code, response.json()) == (200, {"message": "Agent deleted"})
    assert collector.agents() == []


def test_ticket_samples(api: httpx.Client, collector: RunningCollector) -> None:
    body = sample("create_ticket")
    response = api.post("/v4/tickets", json=body)
    assert response.status_code == 201
    ticket = response.json()
    for field in (
        "appId",
        "visibleId",
        "accountId",
        "ticketName",
        "createdBy",
        "createdByType",
        "escalation",
        "assignedTo",
        "priority",
        "status",
        "type",
        "customFields",
    ):
        assert ticket[field] == body[field], field
    assert ticket["dueDate"] == "2021-01-12T00:00:00.000Z"
    assert (ticket["version"], ticket["allValues"]) == (1, 1)
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4} \d{1,2}:\d{2}:\d{2} [AP]M", ticket["createTime"])

    listing = api.get("/v4/tickets", params={"appId": body["appId"]}).json()
    assert listing == {"count": 1, "tickets": [ticket]}
    response = api.delete(f"/v4/tickets/{ticket['ticketId']}")
    assert (response.status_code, response.json()) == (200, json.loads(SAMPLES["delete_ticket"]))
    assert collector.tickets() == []


def test_update_ticket_sample(api: httpx.Client, collector: RunningCollector) -> None:
    """The update sample names a ticket of the fetch sample; its typo'd fields are ignored, which
    is what the spec's own sample output shows (visibleId and createdByType unchanged)."""
    existing = {
        "ticketId": "72d4c1ea-a151-4beb-894e-0776ceb954c0",
        "visibleId": "965",
        "appId": "7aa6b29b-709d-4d65-b1ea-acc8793c3e9a",
        "accountId": "905d34b5-ab46-45f0-87b1-e5d9deb9dd1a",
        "ticketName": "mx-002",
        "createdBy": "8481a6f9-6990-4131-812a-bc6de2f14ccb",
        "createdByType": "contact",
        "escalation": "notEscalated",
        "priority": "medium",
        "status": "open",
        "type": "payment dashboard",
        "customFields": {"expiry": "none", "recheck": "enabled"},
        "createTime": "Jan 18, 2021 4:34:29 AM",
        "updateTime": "Feb 1, 2021 4:34:33 AM",
        "version": 2,
        "allValues": 1,
    }
    seed(collector, "tickets", "ticket_id", existing, app_id=existing["appId"])
    response = api.put("/v4/tickets", json=sample("update_ticket"))
    assert response.status_code == 200
    updated = response.json()
    assert updated["ticketId"] == existing["ticketId"]
    assert (updated["visibleId"], updated["createdByType"]) == ("965", "contact")
    assert (updated["status"], updated["escalation"], updated["priority"]) == ("closed", "escalated", "High")
    assert updated["customFields"] == {"key1": "value1", "key2": "value2"}
    assert updated["dueDate"] == "2021-01-12T14:48:00.000Z"
    assert updated["version"] == 3
    assert collector.tickets() == [updated]


def test_comment_samples(api: httpx.Client, collector: RunningCollector) -> None:
    for ticket_id in ("9c68623f-7340-456b-a272-29c741c31a43", "a354da06-ef51-4570-a473-7e7986d9bcac"):
        seed(collector, "tickets", "ticket_id", {"ticketId": ticket_id, "appId": "app"}, app_id="app")
    body = sample("create_comment")
    response = api.post("/v4/tickets/comments", json=body)
    assert response.status_code == 201
    comment = response.json()
    assert {k: comment[k] for k in body} == body
    assert (comment["version"], comment["allValues"]) == (1, 1) and comment["CommentId"]
    # The authentication section's curl posts to tickets/comment (singular): served too.
    response = api.post("/v4/tickets/comment", json=json.loads(SAMPLES["comment_curl"]))
    assert response.status_code == 201
    listing = api.get("/v4/tickets/comments", params={"appId": "app", "ticketId": body["ticketId"]}).json()
    assert listing == {"count": 1, "comments": [comment]}


def test_edit_comment_sample(api: httpx.Client, collector: RunningCollector) -> None:
    existing = {
        "CommentId": "d02f2965-5dc1-4ba9-861f-b11a6a309e81",
        "ticketId": "a10525ae-5805-4cc3-98f8-6291540ef02f",
        "description": "Pospone the date for meet if possible.",
        "createdByType": "agent",
        "createdById": "b5982819-3c9d-4b61-9e07-5b8fa3cf09a5",
        "createTime": "Feb 1, 2021 9:37:32 AM",
        "updateTime": "Feb 1, 2021 9:37:32 AM",
        "version": 1,
        "allValues": 1,
    }
    seed(collector, "ticket_comments", "comment_id", existing, ticket_id=existing["ticketId"])
    response = api.put("/v4/tickets/comments", json=sample("edit_comment"))
    assert response.status_code == 200
    edited = response.json()
    assert edited["description"] == "The progress on usage analytics is steady."
    assert (edited["CommentId"], edited["ticketId"], edited["version"]) == (
        existing["CommentId"],
        existing["ticketId"],
        2,
    )
    assert edited["createTime"] == existing["createTime"]


def test_every_sample_parses_once_its_annotations_are_dropped() -> None:
    for name, text in SAMPLES.items():
        if name != "financial_curl_order":
            json.loads(without_comments(text))
