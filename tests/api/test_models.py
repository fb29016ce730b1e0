"""Models alone: the checks that run before anything is sent, and reading the spec's samples."""

from __future__ import annotations

import inspect
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from usageanalytics.api import (
    AccountStatus,
    Contact,
    Customer,
    InvalidInputError,
    NewTicket,
    Order,
    OrderStatus,
    Ticket,
    TicketUpdate,
    User,
)
from usageanalytics.api._convert import from_wire, model_from, parse_timestamp, to_wire
from usageanalytics.api._endpoints import _count, plan_bulk
from usageanalytics.api.client import Orders, Tickets

ORDER = {
    "order_id": "o-1",
    "customer_account_id": "acme",
    "org_product_id": "p-1",
    "status": "Activated",
    "amount": 10,
    "effective_date": date(2020, 1, 1),
    "end_date": date(2020, 12, 31),
}


def test_enum_fields_take_the_member_or_its_string() -> None:
    assert Customer(account_id="a", name="A", status="Inactive").status is AccountStatus.INACTIVE
    assert Order(**{**ORDER, "status": OrderStatus.DRAFT}).status is OrderStatus.DRAFT
    with pytest.raises(InvalidInputError, match="must be one of Active, Inactive, got 'active'"):
        Customer(account_id="a", name="A", status="active")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"order_id": ""}, "order_id must be a non-empty string"),
        ({"customer_account_id": None}, "customer_account_id is required"),
        ({"amount": float("nan")}, "amount must be a finite number"),
        ({"amount": True}, "amount must be a finite number"),
        ({"effective_date": datetime(2020, 1, 1)}, "pass a date, not a datetime"),
        ({"end_date": "31/12/2020"}, r"end_date must be a date \(yyyy-MM-dd\)"),
    ],
)
def test_order_checks(change: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Order(**{**ORDER, **change})  # type: ignore[arg-type]


def test_order_wire_format() -> None:
    order = Order(**{**ORDER, "amount": Decimal("8400.50"), "end_date": "2020-12-31"})  # type: ignore[arg-type]
    assert to_wire(order) == {
        "orderId": "o-1",
        "customerAccountId": "acme",
        "orgProductId": "p-1",
        "status": "Activated",
        "amount": 8400.5,
        "effectiveDate": "2020-01-01",
        "endDate": "2020-12-31",
    }


def test_ticket_due_dates_as_date_or_utc_timestamp() -> None:
    assert to_wire(NewTicket(due_date=date(2021, 1, 12))) == {"dueDate": "2021-01-12"}
    local = datetime(2021, 1, 12, 16, 48, 0, 500_000, tzinfo=timezone.utc).astimezone()
    assert to_wire(TicketUpdate("t-1", due_date=local)) == {
        "id": "t-1",
        "dueDate": "2021-01-12T16:48:00.500Z",
    }
    with pytest.raises(InvalidInputError, match="custom_fields must map strings to strings"):
        NewTicket(custom_fields={"n": 1})  # type: ignore[dict-item]


def test_users_get_a_fresh_idempotency_id_each() -> None:
    first = User(user_id="u", customer_account_id="a", status="Active")
    second = User(user_id="u", customer_account_id="a", status="Active")
    assert first.idempotency_id != second.idempotency_id


def test_logo_bytes_are_base64_and_must_stay_under_3_mb() -> None:
    assert (
        Customer(
            account_id="a", name="A", status="Active", base64_encoded_logo_image=b"hi"
        ).base64_encoded_logo_image
        == "aGk="
    )
    with pytest.raises(InvalidInputError, match="smaller than 3 MB"):
        Customer(
            account_id="a", name="A", status="Active", base64_encoded_logo_image=b"x" * (3 * 1024 * 1024)
        )


def test_model_from_dicts_names_unknown_and_missing_fields() -> None:
    assert model_from(Contact, {"email": "a@b.c", "first_name": "A"}) == Contact(
        email="a@b.c", first_name="A"
    )
    with pytest.raises(InvalidInputError, match="unknown field 'firstName'"):
        model_from(Contact, {"email": "a@b.c", "firstName": "A"})
    with pytest.raises(InvalidInputError, match="first_name is required"):
        model_from(Contact, {"email": "a@b.c"})


def test_bulk_plan_keeps_good_records_and_reports_bad_ones_with_their_index() -> None:
    plan = plan_bulk(
        Contact,
        [
            {"email": "a@b.c", "first_name": "A"},
            {"first_name": "No Email"},
            Contact(email="c@d.e", first_name="C"),
        ],
    )
    assert [index for index, _ in plan.valid] == [0, 2]
    (bad,) = plan.invalid
    assert bad.index == 1
    assert bad.record == {"first_name": "No Email"}
    assert bad.reason == "not sent: email is required"
    with pytest.raises(InvalidInputError):
        plan_bulk(Contact, {"email": "a@b.c", "first_name": "A"})  # type: ignore[arg-type]


def test_a_model_changed_after_it_was_built_is_checked_again() -> None:
    contact = Contact(email="a@b.c", first_name="A")
    contact.email = ""
    (bad,) = plan_bulk(Contact, [contact]).invalid
    assert bad.record is contact
    assert bad.reason == "not sent: email must be a non-empty string, got ''"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-09-29T09:58:44.635Z", datetime(2018, 9, 29, 9, 58, 44, 635_000, tzinfo=timezone.utc)),
        ("2021-01-18T04:34:29.795123Z", datetime(2021, 1, 18, 4, 34, 29, 795_123, tzinfo=timezone.utc)),
        ("2021-01-18T04:34:29.7Z", datetime(2021, 1, 18, 4, 34, 29, 700_000, tzinfo=timezone.utc)),
        ("2021-01-18T06:34:29+02:00", datetime(2021, 1, 18, 4, 34, 29, tzinfo=timezone.utc)),
        ("Jan 18, 2021 4:34:29 AM", datetime(2021, 1, 18, 4, 34, 29, tzinfo=timezone.utc)),
        ("Feb 1, 2021 12:11:03 PM", datetime(2021, 2, 1, 12, 11, 3, tzinfo=timezone.utc)),
        ("Feb 1, 2021 12:11:03 AM", datetime(2021, 2, 1, 0, 11, 3, tzinfo=timezone.utc)),
        ("2021-01-12", datetime(2021, 1, 12, tzinfo=timezone.utc)),
    ],
)
def test_parse_timestamp_reads_every_format_the_spec_shows(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


def test_reading_a_response_is_lenient_but_needs_the_id() -> None:
    ticket = from_wire(Ticket, {"ticketId": "t", "escalation": "sideways", "dueDate": "soon", "new": 1})
    assert ticket.escalation == "sideways"  # not an Escalation the spec lists: kept as text
    assert ticket.due_date is None
    assert ticket.extra == {"new": 1}
    with pytest.raises(Exception, match="has no 'ticketId'"):
        from_wire(Ticket, {"ticketName": "no id"})


def test_the_spec_count_keys_are_read_by_their_words() -> None:
    assert _count({" Saved Agents count: ": 3, " Unsaved Agents count: ": 1}, "saved") == 3
    assert _count({"Saved Contact count": 2, "Unsaved Contact count": 5}, "unsaved") == 5
    assert _count({}, "saved") is None


def test_methods_show_the_models_parameters() -> None:
    assert list(inspect.signature(Orders.upsert).parameters)[1:] == list(inspect.signature(Order).parameters)
    update = inspect.signature(Tickets.update).parameters
    assert list(update)[:2] == ["self", "ticket_id"]
    assert update["status"].kind is inspect.Parameter.KEYWORD_ONLY
