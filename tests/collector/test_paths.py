"""Every reasonable reading of the spec's ambiguous paths is served, and trailing slashes too."""

from __future__ import annotations

import httpx
import pytest

from tests.collector.conftest import sample
from usageanalytics.collector.server import RunningCollector

APP = sample("create_ticket")["appId"]


def new_ticket(api: httpx.Client) -> str:
    response = api.post("/v4/tickets", json=sample("create_ticket"))
    assert response.status_code == 201
    return str(response.json()["ticketId"])


@pytest.mark.parametrize("path", ["/v4/tickets?appId={app}", "/v4/tickets/{app}", "/v4/tickets{app}"])
def test_fetch_tickets_by_app_id_every_way(api: httpx.Client, path: str) -> None:
    ticket_id = new_ticket(api)
    response = api.get(path.format(app=APP))
    assert response.status_code == 200
    assert [t["ticketId"] for t in response.json()["tickets"]] == [ticket_id]
    assert api.get(path.format(app="another-app")).json() == {"count": 0, "tickets": []}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v4/tickets/{id}", None),
        ("/v4/tickets{id}", None),
        ("/v4/tickets?id={id}", None),
        ("/v4/tickets", "id"),
    ],
)
def test_delete_ticket_every_way(
    api: httpx.Client, collector: RunningCollector, path: str, body: str | None
) -> None:
    keep, doomed = new_ticket(api), new_ticket(api)
    json_body = {"id": doomed} if body else None
    response = api.request("DELETE", path.format(id=doomed), json=json_body)
    assert (response.status_code, response.json()) == (200, {"message": "Ticket deleted"})
    assert [t["ticketId"] for t in collector.tickets()] == [keep]


def test_update_ticket_by_path_and_conflicting_ids(api: httpx.Client) -> None:
    ticket_id = new_ticket(api)
    response = api.put(f"/v4/tickets/{ticket_id}", json={"status": "closed"})
    assert response.status_code == 200 and response.json()["status"] == "closed"
    response = api.put(f"/v4/tickets/{ticket_id}", json={"id": "someone-else", "status": "open"})
    assert response.status_code == 400 and "different values" in response.json()["message"]


@pytest.mark.parametrize("base", ["/v4/tickets/comments", "/v4/tickets/comment"])
def test_comments_singular_and_plural(api: httpx.Client, base: str) -> None:
    ticket_id = new_ticket(api)
    created = api.post(base, json={"ticketId": ticket_id, "description": "first", "createdByType": "contact"})
    assert created.status_code == 201
    comment_id = created.json()["CommentId"]
    edited = api.put(f"{base}/{comment_id}", json={"description": "second"})
    assert edited.status_code == 200 and edited.json()["version"] == 2
    listing = api.get(base, params={"appId": APP, "ticketId": ticket_id}).json()
    assert [c["description"] for c in listing["comments"]] == ["second"]


def test_deleting_a_ticket_deletes_its_comments(api: httpx.Client, collector: RunningCollector) -> None:
    ticket_id = new_ticket(api)
    api.post("/v4/tickets/comments", json={"ticketId": ticket_id, "description": "bye"})
    api.delete(f"/v4/tickets/{ticket_id}")
    assert collector.comments() == []


@pytest.mark.parametrize("how", ["path", "query", "body", "customer-id"])
def test_delete_agent_every_way(api: httpx.Client, collector: RunningCollector, how: str) -> None:
    saved = api.post("/v4/agents", json=sample("save_agents")).json()["savedAgents"][0]
    agent_id = saved["customerAgentId"] if how == "customer-id" else saved["agentId"]
    if how in ("path", "customer-id"):
        response = api.delete(f"/v4/agents/{agent_id}")
    elif how == "query":
        response = api.delete("/v4/agents", params={"id": agent_id})
    else:
        response = api.request("DELETE", "/v4/agents", json={"id": agent_id})
    assert (response.status_code, response.json()) == (200, {"message": "Agent deleted"})
    assert collector.agents() == []


def test_contacts_on_both_paths_and_upsert_by_email(api: httpx.Client, collector: RunningCollector) -> None:
    app = "app-c"
    first = {"email": "Ann@Example.com", "firstName": "Ann"}
    api.post("/v4/contacts", json={"appId": app, "contacts": [first]})
    api.post(
        "/v4/tickets/contacts",
        json={"appId": app, "contacts": [{"email": "ann@example.com", "firstName": "Ann", "role": "CTO"}]},
    )
    [contact] = collector.contacts()
    assert contact["role"] == "CTO"
    found = api.get("/v4/contacts", params={"appId": app, "emailId": "ANN@example.com"}).json()
    assert found["count"] == 1 and found["contacts"][0]["contactId"] == contact["contactId"]


def test_contacts_paging_through_more_than_a_page(api: httpx.Client) -> None:
    app = "app-paging"
    people = [{"email": f"p{i}@example.com", "firstName": f"P{i}"} for i in range(1205)]
    answer = api.post("/v4/contacts", json={"appId": app, "contacts": people}).json()
    assert answer["Saved Contact count"] == 1205
    seen: list[str] = []
    params: dict[str, str] = {"appId": app}
    pages = []
    while True:
        page = api.get("/v4/tickets/contacts", params=params).json()
        pages.append(page["count"])
        seen += [c["email"] for c in page["contacts"]]
        if "nextPageToken" not in page:
            break
        params["nextPageToken"] = page["nextPageToken"]
    assert pages == [1000, 205]  # 1,000 a page unless a smaller limit is asked for
    assert sorted(seen) == sorted(p["email"] for p in people)


@pytest.mark.parametrize(
    "path",
    ["/v4/usageanalytics/event/", "/dashboards/v4/financial/orders/", "/v4/contacts/"],
)
def test_trailing_slashes_are_served_without_redirects(api: httpx.Client, path: str) -> None:
    body = {
        "/v4/usageanalytics/event/": sample("event"),
        "/dashboards/v4/financial/orders/": sample("order"),
        "/v4/contacts/": sample("create_contacts"),
    }[path]
    response = api.post(path, json=body)
    assert response.status_code == 200 and not response.history


def test_cors_preflight_is_answered(collector: RunningCollector) -> None:
    response = httpx.options(
        collector.endpoint + "usageanalytics/event",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
