"""What each method puts on the wire, sync and async: method, path, query and body, as the spec says.

The scripted server records the requests; the answers are the spec's sample outputs. The
end-to-end behaviour of the same calls against the collector is in ``test_collector_e2e.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone
from typing import Any

import pytest

from tests.api.conftest import APP_ID, Driver
from tests.api.scripted_server import Answer, ScriptedServer
from usageanalytics.api import AccountStatus, CreatorType, Escalation, OrderStatus

SUCCESS = {"status": "SUCCESS"}
TICKET = {
    "ticketId": "57a798a8-ec77-4051-94e0-87d211159f0c",
    "visibleId": "TicketMx-EOD41",
    "appId": APP_ID,
    "ticketName": "Payment subdue",
    "createdByType": "contact",
    "escalation": "escalated",
    "dueDate": "2021-01-12T14:48:00Z",
    "priority": "High",
    "status": "Open",
    "customFields": {"expiry": "none"},
    "createTime": "Feb 1, 2021 7:50:11 AM",
    "updateTime": "Feb 1, 2021 7:50:11 AM",
    "version": 1,
    "allValues": 1,
}
COMMENT = {
    "CommentId": "8a26114e-098c-4652-8889-a823e349580c",
    "ticketId": "t-1",
    "description": "version 3.0 to be released",
    "createdBy": "agent-1",
    "createdByType": "agent",
    "createTime": "Feb 1, 2021 8:05:49 PM",
    "version": 1,
}
FIN = "/dashboards/v4/financial/"

# (name, call, answer, method, path, query, body)
CASES: list[tuple[str, Callable[[Any], Any], Any, str, str, dict[str, str], Any]] = [
    (
        "customers.upsert",
        lambda api: api.customers.upsert(
            account_id="acme",
            name="Acme",
            status=AccountStatus.ACTIVE,
            product_ids=["p-1"],
            base64_encoded_logo_image=b"\x89PNG",
        ),
        SUCCESS,
        "POST",
        "/v4/usageanalytics/customer",
        {},
        {
            "appId": APP_ID,
            "accountId": "acme",
            "name": "Acme",
            "status": "Active",
            "productIds": ["p-1"],
            "base64EncodedLogoImage": "iVBORw==",
        },
    ),
    (
        "orders.upsert",
        lambda api: api.orders.upsert(
            order_id="o-1",
            customer_account_id="acme",
            org_product_id="p-1",
            status="Activated",
            amount=8400,
            effective_date=date(2020, 1, 1),
            end_date=date(2020, 12, 31),
        ),
        SUCCESS,
        "POST",
        FIN + "orders",
        {},
        {
            "appId": APP_ID,
            "orderId": "o-1",
            "customerAccountId": "acme",
            "orgProductId": "p-1",
            "status": "Activated",
            "amount": 8400,
            "effectiveDate": "2020-01-01",
            "endDate": "2020-12-31",
        },
    ),
    (
        "orders.delete",
        lambda api: api.orders.delete("o/1"),
        SUCCESS,
        "DELETE",
        FIN + "orders/o%2F1",
        {},
        {"appId": APP_ID},
    ),
    (
        "app_financial.set",
        lambda api: api.app_financial.set(logo_churn_tolerance=0.05),
        SUCCESS,
        "POST",
        FIN + "app-financial-data",
        {},
        {"appId": APP_ID, "logoChurnTolerance": 0.05},
    ),
    (
        "app_financial.delete",
        lambda api: api.app_financial.delete(),
        SUCCESS,
        "DELETE",
        FIN + f"app-financial-data/{APP_ID}",
        {},
        None,
    ),
    (
        "account_financial.set",
        lambda api: api.account_financial.set(
            customer_account_id="acme", account_start_date=date(2020, 12, 31), arr_target=1_000_000
        ),
        SUCCESS,
        "POST",
        FIN + "account-financial-data",
        {},
        {
            "appId": APP_ID,
            "customerAccountId": "acme",
            "accountStartDate": "2020-12-31",
            "arrTarget": 1_000_000,
        },
    ),
    (
        "account_financial.delete",
        lambda api: api.account_financial.delete("acme"),
        SUCCESS,
        "DELETE",
        FIN + "account-financial-data/acme",
        {},
        {"appId": APP_ID},
    ),
    (
        "contacts.list",
        lambda api: api.contacts.list(limit=2, next_page_token="tok", email_id="a@example.com"),
        {"count": 0, "contacts": []},
        "GET",
        "/v4/tickets/contacts",
        {"appId": APP_ID, "limit": "2", "nextPageToken": "tok", "emailId": "a@example.com"},
        None,
    ),
    (
        "contacts.upsert",
        lambda api: api.contacts.upsert(
            [{"email": "d@example.com", "first_name": "David", "customer_contact_id": "EZ141"}]
        ),
        {"Saved Contact count": 1, "Unsaved Contact count": 0, "unsavedContacts": []},
        "POST",
        "/v4/contacts",
        {},
        {
            "appId": APP_ID,
            "contacts": [{"email": "d@example.com", "firstName": "David", "customerContactId": "EZ141"}],
        },
    ),
    (
        "agents.upsert",
        lambda api: api.agents.upsert(
            [{"email": "s@example.com", "first_name": "Salman", "customer_agent_id": "MK-3"}]
        ),
        {" Saved Agents count: ": 1, " Unsaved Agents count: ": 0, "unsavedAgents": []},
        "POST",
        "/v4/agents",
        {},
        {
            "appId": APP_ID,
            "agents": [{"email": "s@example.com", "firstName": "Salman", "customerAgentId": "MK-3"}],
        },
    ),
    (
        "agents.delete",
        lambda api: api.agents.delete("agent-1"),
        b'{"Agent deleted"}',
        "DELETE",
        "/v4/agents",
        {"id": "agent-1"},
        None,
    ),
    (
        "tickets.list",
        lambda api: api.tickets.list(),
        {"count": 1, "tickets": [TICKET]},
        "GET",
        "/v4/tickets",
        {"appId": APP_ID},
        None,
    ),
    (
        "tickets.create",
        lambda api: api.tickets.create(
            ticket_name="Payment subdue",
            created_by_type="contact",
            escalation=Escalation.ESCALATED,
            due_date=date(2021, 1, 12),
            priority="High",
            custom_fields={"expiry": "none"},
        ),
        TICKET,
        "POST",
        "/v4/tickets",
        {},
        {
            "appId": APP_ID,
            "ticketName": "Payment subdue",
            "createdByType": "contact",
            "escalation": "escalated",
            "dueDate": "2021-01-12",
            "priority": "High",
            "customFields": {"expiry": "none"},
        },
    ),
    (
        "tickets.update",
        lambda api: api.tickets.update(
            "t-1", status="closed", due_date=datetime(2021, 1, 12, 14, 48, tzinfo=timezone.utc)
        ),
        TICKET,
        "PUT",
        "/v4/tickets",
        {},
        {"id": "t-1", "status": "closed", "dueDate": "2021-01-12T14:48:00.000Z"},
    ),
    (
        "tickets.delete",
        lambda api: api.tickets.delete("t-1"),
        {"message": "Ticket deleted"},
        "DELETE",
        "/v4/tickets",
        {"id": "t-1"},
        None,
    ),
    (
        "comments.list",
        lambda api: api.comments.list(ticket_id="t-1"),
        {"count": 1, "comments": [COMMENT]},
        "GET",
        "/v4/tickets/comments",
        {"appId": APP_ID, "ticketId": "t-1"},
        None,
    ),
    (
        "comments.create",
        lambda api: api.comments.create(
            ticket_id="t-1", description="hi", created_by="agent-1", created_by_type=CreatorType.AGENT
        ),
        COMMENT,
        "POST",
        "/v4/tickets/comments",
        {},
        {"ticketId": "t-1", "description": "hi", "createdBy": "agent-1", "createdByType": "agent"},
    ),
    (
        "comments.update",
        lambda api: api.comments.update("c-1", description="steady"),
        COMMENT,
        "PUT",
        "/v4/tickets/comments",
        {},
        {"id": "c-1", "description": "steady"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_each_method_sends_the_documented_request(
    case: tuple[Any, ...], scripted: ScriptedServer, make_api: Callable[..., Driver]
) -> None:
    _, call, answer, method, path, query, body = case
    api = make_api(scripted)
    scripted.answer(Answer(200, answer))
    call(api)
    (seen,) = scripted.requests
    assert (seen.method, seen.path, seen.query) == (method, path, query)
    assert seen.body == body
    assert seen.headers["user-agent"].startswith("usageanalytics-python/")


def test_users_upsert_sends_an_idempotency_id_and_keeps_it_across_retries(
    scripted: ScriptedServer, make_api: Callable[..., Driver]
) -> None:
    api = make_api(scripted)
    scripted.answer(Answer(503, {}), Answer(200, SUCCESS))
    api.users.upsert(
        user_id="u-1", customer_account_id="acme", status="Active", last_logged_in_user_id="guest-9"
    )
    first, second = scripted.requests
    assert first.path == "/v4/usageanalytics/user"
    assert first.body == second.body
    assert first.body["idempotencyId"]
    assert {k: v for k, v in first.body.items() if k != "idempotencyId"} == {
        "appId": APP_ID,
        "userId": "u-1",
        "customerAccountId": "acme",
        "status": "Active",
        "loginMechanism": "AUTH",
        "platform": "Web",
        "lastLoggedInUserId": "guest-9",
    }


def test_responses_become_typed_models(scripted: ScriptedServer, make_api: Callable[..., Driver]) -> None:
    api = make_api(scripted)
    scripted.answer(
        Answer(201, TICKET), Answer(200, {"count": 1, "comments": [dict(COMMENT, createdById="a-2")]})
    )
    ticket = api.tickets.create(ticket_name="Payment subdue")
    assert ticket.ticket_id == TICKET["ticketId"]
    assert ticket.escalation is Escalation.ESCALATED
    assert ticket.created_by_type is CreatorType.CONTACT
    assert ticket.due_date == datetime(2021, 1, 12, 14, 48, tzinfo=timezone.utc)
    assert ticket.create_time == datetime(2021, 2, 1, 7, 50, 11, tzinfo=timezone.utc)
    assert ticket.version == 1
    assert ticket.extra == {"allValues": 1}
    (comment,) = api.comments.list(ticket_id="t-1")
    assert comment.comment_id == COMMENT["CommentId"]
    assert comment.created_by == "a-2"
    assert comment.create_time == datetime(2021, 2, 1, 20, 5, 49, tzinfo=timezone.utc)
    assert OrderStatus("Draft") is OrderStatus.DRAFT
