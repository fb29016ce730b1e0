"""Each error class and the retry rules, sync and async, against a scripted server on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest

from tests.api.conftest import Driver
from tests.api.scripted_server import Answer, ScriptedServer
from usageanalytics.api import (
    ApiConnectionError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
)

MakeApi = Callable[..., Driver]

ORDER: dict[str, Any] = {
    "order_id": "o-1",
    "customer_account_id": "acme",
    "org_product_id": "p-1",
    "status": "Activated",
    "amount": 8400,
    "effective_date": date(2020, 1, 1),
    "end_date": date(2020, 12, 31),
}
TICKET_ANSWER = {"ticketId": "t-1", "ticketName": "Payment subdue", "createTime": "Feb 1, 2021 7:50:11 AM"}


def test_invalid_input_carries_the_servers_message_status_and_request_id(
    scripted: ScriptedServer, make_api: MakeApi
) -> None:
    api = make_api(scripted)
    scripted.answer(
        Answer(400, {"status": "INVALID_INPUT", "message": "endDate: bad"}, {"X-Request-Id": "req-42"})
    )
    with pytest.raises(InvalidInputError) as caught:
        api.orders.upsert(**ORDER)
    assert caught.value.status_code == 400
    assert caught.value.request_id == "req-42"
    assert "endDate: bad" in str(caught.value)
    assert len(scripted.requests) == 1  # never retried


def test_invalid_input_in_a_200_body_is_an_error(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted)
    scripted.answer(Answer(200, {"status": "INVALID_INPUT"}))
    with pytest.raises(InvalidInputError) as caught:
        api.customers.upsert(account_id="acme", name="Acme", status="Active")
    assert caught.value.status_code == 200


def test_a_wrong_api_key_is_an_authentication_error(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted, api_key="not-the-key")
    with pytest.raises(AuthenticationError) as caught:
        api.tickets.list()
    assert caught.value.status_code == 401
    assert len(scripted.requests) == 1
    assert scripted.requests[0].headers["authorization"].startswith("Basic ")


def test_not_found(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted)
    scripted.answer(Answer(404, {"message": "no such ticket"}, {"x-amzn-RequestId": "aws-7"}))
    with pytest.raises(NotFoundError) as caught:
        api.tickets.update("t-404", status="closed")
    assert caught.value.status_code == 404
    assert caught.value.request_id == "aws-7"


def test_a_503_is_retried_until_success(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted)
    scripted.answer(Answer(503, {"message": "busy"}), Answer(503, {}), Answer(200, {"status": "SUCCESS"}))
    api.orders.upsert(**ORDER)
    assert len(scripted.requests) == 3
    assert scripted.requests[0].body == scripted.requests[2].body


def test_server_errors_raise_once_the_retries_are_spent(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted, max_retries=2)
    scripted.default = lambda seen: Answer(500, {"status": "ERROR", "message": "boom"})
    with pytest.raises(ServerError) as caught:
        api.tickets.list()
    assert caught.value.status_code == 500
    assert len(scripted.requests) == 3


def test_status_error_in_a_200_body_is_a_server_error_and_retried(
    scripted: ScriptedServer, make_api: MakeApi
) -> None:
    api = make_api(scripted)
    scripted.answer(Answer(200, {"status": "ERROR"}), Answer(200, {"status": "SUCCESS"}))
    api.app_financial.set(logo_churn_tolerance=0.05)
    assert len(scripted.requests) == 2


def test_429_retry_after_is_honoured(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted)
    scripted.answer(
        Answer(429, {"message": "slow down"}, {"Retry-After": "1"}),
        Answer(200, {"count": 1, "tickets": [TICKET_ANSWER]}),
    )
    tickets = api.tickets.list()
    assert [t.ticket_id for t in tickets] == ["t-1"]
    first, second = scripted.requests
    assert second.at - first.at >= 1.0  # a lower bound only: waiting longer is fine


def test_429_with_a_long_retry_after_raises_at_once(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted, max_retry_after=5)
    scripted.answer(Answer(429, {"message": "quota"}, {"Retry-After": "120"}))
    with pytest.raises(RateLimitedError) as caught:
        api.contacts.list()
    assert caught.value.retry_after == 120
    assert caught.value.status_code == 429
    assert len(scripted.requests) == 1


def test_a_create_is_not_retried_after_a_5xx(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted)
    scripted.default = lambda seen: Answer(201, TICKET_ANSWER)  # what a retry would have got
    scripted.answer(Answer(503, {"message": "maybe applied"}))
    with pytest.raises(ServerError):
        api.tickets.create(ticket_name="Payment subdue")
    assert len(scripted.requests) == 1
    scripted.answer(Answer(502, {}))
    with pytest.raises(ServerError):
        api.comments.create(ticket_id="t-1", description="hello")
    assert len(scripted.requests) == 2


def test_a_create_with_an_idempotency_key_is_retried_with_the_same_key(
    scripted: ScriptedServer, make_api: MakeApi
) -> None:
    api = make_api(scripted)
    scripted.answer(Answer(503, {}), Answer(201, TICKET_ANSWER))
    ticket = api.tickets.create(ticket_name="Payment subdue", idempotency_key="key-1")
    assert ticket.ticket_id == "t-1"
    assert [seen.headers.get("idempotency-key") for seen in scripted.requests] == ["key-1", "key-1"]
    assert "idempotencyKey" not in scripted.requests[0].body


def test_a_create_is_retried_after_429_because_it_was_not_applied(
    scripted: ScriptedServer, make_api: MakeApi
) -> None:
    api = make_api(scripted)
    comment = {"CommentId": "c-1", "ticketId": "t-1", "description": "hello"}
    scripted.answer(Answer(429, {}, {"Retry-After": "0"}), Answer(201, comment))
    created = api.comments.create(ticket_id="t-1", description="hello")
    assert created.comment_id == "c-1"
    assert len(scripted.requests) == 2


def test_connection_refused_is_a_connection_error(make_api: MakeApi) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    class Nowhere:
        endpoint = f"http://127.0.0.1:{port}/v4/"
        financial_endpoint = f"http://127.0.0.1:{port}/dashboards/v4/financial/"

    api = make_api(Nowhere, max_retries=1)
    with pytest.raises(ApiConnectionError) as caught:
        api.tickets.list()
    assert caught.value.status_code is None
    assert caught.value.request_sent is False


def test_a_success_without_the_documented_body_is_unexpected(
    scripted: ScriptedServer, make_api: MakeApi
) -> None:
    api = make_api(scripted)
    scripted.answer(Answer(200, b"<html>proxy</html>"))
    with pytest.raises(UnexpectedResponseError):
        api.tickets.list()


def test_client_side_validation_sends_nothing(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted)
    with pytest.raises(InvalidInputError, match="status must be one of Activated, Draft"):
        api.orders.upsert(**{**ORDER, "status": "Cancelled"})
    with pytest.raises(InvalidInputError, match="name"):
        api.customers.upsert(account_id="acme", name="  ", status="Active")
    with pytest.raises(InvalidInputError, match="limit"):
        api.contacts.list(limit=1001)
    with pytest.raises(InvalidInputError, match="ticket_id"):
        api.tickets.delete("")
    assert scripted.requests == []


def test_a_records_own_status_field_is_not_an_error(scripted: ScriptedServer, make_api: MakeApi) -> None:
    api = make_api(scripted)
    scripted.answer(Answer(200, dict(TICKET_ANSWER, status="ERROR")))
    assert api.tickets.update("t-1", status="ERROR").status == "ERROR"  # a ticket status is free text
    assert len(scripted.requests) == 1
