"""Every endpoint against the real collector on 127.0.0.1, with the sync and the async client.

The collector validates each request against the spec and stores what it accepts in SQLite; the
tests read its database back to see that what the client sent is what the spec means.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timezone

import pytest

from tests.api.conftest import API_KEY, APP_ID, Driver
from usageanalytics.api import (
    AuthenticationError,
    Contact,
    CreatorType,
    Escalation,
    InvalidInputError,
    NotFoundError,
)
from usageanalytics.collector.server import RunningCollector

MakeApi = Callable[..., Driver]


def test_customers_and_users(collector: RunningCollector, make_api: MakeApi) -> None:
    api = make_api(collector)
    api.customers.upsert(account_id="acme", name="Acme", status="Active", product_ids=["p-1"])
    api.customers.upsert(account_id="acme", name="Acme Corp", status="Inactive")
    api.users.upsert(user_id="u-1", customer_account_id="acme", status="Active", session_id="s-1")
    (customer,) = collector.customers(app_id=APP_ID)
    assert (customer["account_id"], customer["name"], customer["status"]) == ("acme", "Acme Corp", "Inactive")
    user = collector.user("u-1", app_id=APP_ID)
    assert user is not None
    assert user["customer_account_id"] == "acme"
    assert user["guest"] is False


def test_financial_data(collector: RunningCollector, make_api: MakeApi) -> None:
    api = make_api(collector)
    order = {
        "order_id": "o-1",
        "customer_account_id": "acme",
        "org_product_id": "p-1",
        "status": "Draft",
        "amount": 8400.5,
        "effective_date": date(2020, 1, 1),
        "end_date": date(2020, 12, 31),
    }
    api.orders.upsert(**order)
    api.orders.upsert(**{**order, "status": "Activated"})
    (stored,) = collector.orders(app_id=APP_ID)
    assert (stored["status"], stored["amount"], stored["effective_date"]) == (
        "Activated",
        8400.5,
        "2020-01-01",
    )
    api.orders.delete("o-1")
    assert collector.orders(app_id=APP_ID) == []

    api.app_financial.set(logo_churn_tolerance=0.05)
    assert [row["logo_churn_tolerance"] for row in collector.app_financial_data()] == [0.05]
    api.app_financial.delete()
    assert collector.app_financial_data() == []

    api.account_financial.set(
        customer_account_id="acme", account_start_date=date(2020, 12, 31), arr_target=1e6
    )
    (account,) = collector.account_financial_data(app_id=APP_ID)
    assert (account["account_start_date"], account["arr_target"]) == ("2020-12-31", 1e6)
    api.account_financial.delete("acme")
    assert collector.account_financial_data(app_id=APP_ID) == []


def test_the_servers_own_refusal_is_invalid_input_with_its_message(
    collector: RunningCollector, make_api: MakeApi
) -> None:
    api = make_api(collector)
    with pytest.raises(InvalidInputError) as caught:  # the spec's rules the client does not check
        api.app_financial.set(logo_churn_tolerance=5)
    assert caught.value.status_code == 400
    assert "logoChurnTolerance" in str(caught.value)
    assert collector.app_financial_data() == []


def test_a_wrong_key_is_refused(collector: RunningCollector, make_api: MakeApi) -> None:
    api = make_api(collector, api_key="wrong")
    with pytest.raises(AuthenticationError) as caught:
        api.tickets.list()
    assert caught.value.status_code == 401


def test_contacts_bulk_save_reports_partial_failure(collector: RunningCollector, make_api: MakeApi) -> None:
    api = make_api(collector)
    result = api.contacts.upsert(
        [
            Contact(
                email="david.lyon@example.com", first_name="David", last_name="Lyon", role="Lead Engineer"
            ),
            {"first_name": "Andrew", "last_name": "Shaw"},  # no email: refused before sending
            {"email": "not-an-email", "first_name": "Bad"},  # the collector refuses this one
            {"email": "anne@example.com", "first_name": "Anne", "customer_contact_id": "EZ143"},
        ]
    )
    assert [c.email for c in result.saved] == ["david.lyon@example.com", "anne@example.com"]
    assert [(u.index, u.reason) for u in result.unsaved] == [
        (1, "not sent: email is required"),
        (2, "the server did not save it"),
    ]
    assert result.unsaved[1].server_record is not None
    assert result.unsaved[1].server_record["email"] == "not-an-email"
    assert not result.ok
    stored = sorted(c["email"] for c in collector.contacts(app_id=APP_ID))
    assert stored == ["anne@example.com", "david.lyon@example.com"]


def test_a_bulk_save_with_nothing_valid_sends_nothing(collector: RunningCollector, make_api: MakeApi) -> None:
    api = make_api(collector)
    result = api.agents.upsert([{"email": "a@example.com"}])
    assert result.saved == []
    assert [u.reason for u in result.unsaved] == ["not sent: first_name is required"]
    assert collector.requests() == []


def test_contacts_pages(collector: RunningCollector, make_api: MakeApi) -> None:
    api = make_api(collector)
    people = [{"email": f"person{n}@example.com", "first_name": f"P{n}"} for n in range(7)]
    assert api.contacts.upsert(people).ok
    first = api.contacts.list(limit=3)
    assert len(first.contacts) == 3
    assert first.next_page_token
    second = api.contacts.list(limit=3, next_page_token=first.next_page_token)
    assert {c.email for c in first.contacts}.isdisjoint(c.email for c in second.contacts)
    every = list(api.contacts.iter(limit=3))  # pages of 3, 3 and 1
    assert sorted(c.email for c in every) == sorted(p["email"] for p in people)
    assert all(c.contact_id for c in every)
    (found,) = api.contacts.list(email_id="person4@example.com").contacts
    assert found.first_name == "P4"


def test_agents_save_and_delete(collector: RunningCollector, make_api: MakeApi) -> None:
    api = make_api(collector)
    result = api.agents.upsert(
        [
            {"email": "salman.k@example.com", "first_name": "Salman", "customer_agent_id": "MK-agent003"},
            {"email": "wade@", "first_name": "Mathew", "customer_agent_id": "ZY-agent67"},
        ]
    )
    assert [a.customer_agent_id for a in result.saved] == ["MK-agent003"]
    assert [u.index for u in result.unsaved] == [1]
    assert getattr(result.unsaved[0].record, "customer_agent_id", None) == "ZY-agent67"
    (agent,) = collector.agents(app_id=APP_ID)
    api.agents.delete(agent["agentId"])
    assert collector.agents(app_id=APP_ID) == []
    with pytest.raises(NotFoundError):
        api.agents.delete(agent["agentId"])


def test_tickets_and_comments(collector: RunningCollector, make_api: MakeApi) -> None:
    api = make_api(collector)
    ticket = api.tickets.create(
        ticket_name="Payment subdue",
        account_id="acme",
        created_by="contact-1",
        created_by_type=CreatorType.CONTACT,
        escalation="escalated",
        due_date=date(2021, 1, 12),
        priority="High",
        status="Open",
        type="Payment issue",
        custom_fields={"csm": "Unassigned"},
    )
    assert ticket.ticket_name == "Payment subdue"
    assert ticket.escalation is Escalation.ESCALATED
    assert ticket.due_date == datetime(2021, 1, 12, tzinfo=timezone.utc)
    assert ticket.create_time is not None and ticket.create_time.tzinfo is timezone.utc
    assert ticket.version == 1

    updated = api.tickets.update(ticket.ticket_id, status="closed", escalation=Escalation.NOT_ESCALATED)
    assert (updated.status, updated.escalation, updated.version) == ("closed", Escalation.NOT_ESCALATED, 2)
    assert updated.ticket_name == "Payment subdue"
    assert [t.ticket_id for t in api.tickets.list()] == [ticket.ticket_id]

    comment = api.comments.create(
        ticket_id=ticket.ticket_id,
        description="Postpone the meeting",
        created_by="agent-1",
        created_by_type="agent",
    )
    assert comment.created_by == "agent-1"
    changed = api.comments.update(comment.comment_id, description="The progress is steady.")
    assert (changed.comment_id, changed.description, changed.version) == (
        comment.comment_id,
        "The progress is steady.",
        2,
    )
    (listed,) = api.comments.list(ticket_id=ticket.ticket_id)
    assert (listed.comment_id, listed.description, listed.created_by) == (
        comment.comment_id,
        "The progress is steady.",
        "agent-1",
    )

    api.tickets.delete(ticket.ticket_id)
    assert api.tickets.list() == []
    with pytest.raises(NotFoundError):
        api.tickets.delete(ticket.ticket_id)
    with pytest.raises(NotFoundError):
        api.tickets.update(ticket.ticket_id, status="Open")
    with pytest.raises(NotFoundError):
        api.comments.create(ticket_id=ticket.ticket_id, description="on a deleted ticket")


def test_one_client_serves_many_calls_at_once(collector: RunningCollector, make_api: MakeApi) -> None:
    from concurrent.futures import ThreadPoolExecutor

    api = make_api(collector)
    with ThreadPoolExecutor(8) as pool:
        created = list(pool.map(lambda n: api.tickets.create(ticket_name=f"t{n}"), range(16)))
    assert len({t.ticket_id for t in created}) == 16
    assert sorted(t.ticket_name or "" for t in api.tickets.list()) == sorted(f"t{n}" for n in range(16))


def test_native_asyncio_use(collector: RunningCollector) -> None:
    """``async with`` / ``async for`` / ``gather`` as an application writes them, on one event loop."""
    import asyncio

    from usageanalytics.api import AsyncClient

    async def main() -> tuple[int, list[str]]:
        async with AsyncClient(api_key=API_KEY, app_id=APP_ID, endpoint=collector.endpoint) as c:
            people = [{"email": f"a{n}@example.com", "first_name": f"A{n}"} for n in range(5)]
            saved = await c.contacts.upsert(people)
            await asyncio.gather(*(c.tickets.create(ticket_name=f"t{n}") for n in range(5)))
            emails = [contact.email or "" async for contact in c.contacts.iter(limit=2)]
            return len(saved.saved), emails

    saved, emails = asyncio.run(main())
    assert saved == 5
    assert sorted(emails) == [f"a{n}@example.com" for n in range(5)]
    assert len(collector.tickets(app_id=APP_ID)) == 5
