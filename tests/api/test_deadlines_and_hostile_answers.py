"""The REST clients, sync and async, against a hostile server on 127.0.0.1 (issue 12, items 6 to 8).

A call's ``timeout`` bounds each attempt as a whole, however slowly the server sends; whatever
the server answers, the clients raise their own documented errors. Deadline tests assert an upper
bound with a wide margin (without the deadline these calls take 20 s or more).
"""

from __future__ import annotations

import contextlib
import gzip
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.api.conftest import Driver
from tests.support import hostile_server as hostile
from tests.support.hostile_server import HostileServer, Resources
from usageanalytics.api import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    Client,
    InvalidInputError,
    NotFoundError,
    ServerError,
    UnexpectedResponseError,
)
from usageanalytics.api import _endpoints as ep
from usageanalytics.api.models import Agent, Contact, Customer, NewComment, NewTicket, TicketUpdate
from usageanalytics.errors import ConfigurationError
from usageanalytics.exchange import Answer
from usageanalytics.transport import MAX_RETRY_AFTER

MakeApi = Callable[..., Driver]
TIMEOUT = 1.0
MARGIN = 5.0
TICKET = {"ticketId": "t-1", "ticketName": "Payment subdue"}


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.fixture
def hostile_server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


# -- the deadline ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour", [hostile.drip_headers, hostile.drip_body, hostile.hang_after_headers, hostile.silence]
)
def test_timeout_bounds_the_whole_call(
    hostile_server: HostileServer, make_api: MakeApi, behaviour: Callable[[], hostile.Behaviour]
) -> None:
    api = make_api(hostile_server, timeout=TIMEOUT, max_retries=0)
    hostile_server.then(behaviour())
    started = time.monotonic()
    with pytest.raises(ApiTimeoutError) as caught:
        api.tickets.list()
    assert time.monotonic() - started < TIMEOUT + MARGIN
    assert isinstance(caught.value, ApiConnectionError)
    assert caught.value.request_sent
    assert caught.value.timeout == TIMEOUT
    assert caught.value.status_code is None
    assert "1 s" in str(caught.value)
    hostile_server.default = hostile.answer(200, orjson.dumps({"count": 1, "tickets": [TICKET]}))
    assert [t.ticket_id for t in api.tickets.list()] == ["t-1"]  # the client is fine afterwards


def test_each_retry_gets_its_own_deadline(hostile_server: HostileServer, make_api: MakeApi) -> None:
    api = make_api(hostile_server, timeout=TIMEOUT, max_retries=2)
    hostile_server.default = hostile.drip_body()
    started = time.monotonic()
    with pytest.raises(ApiTimeoutError):
        api.contacts.list()
    took = time.monotonic() - started
    assert len(hostile_server.requests) == 3
    assert took < 3 * TIMEOUT + MARGIN  # three attempts and two short backoffs


def test_a_create_is_not_retried_after_a_timeout(hostile_server: HostileServer, make_api: MakeApi) -> None:
    api = make_api(hostile_server, timeout=TIMEOUT)
    hostile_server.default = hostile.drip_headers()
    with pytest.raises(ApiTimeoutError) as caught:
        api.tickets.create(ticket_name="Payment subdue")
    assert caught.value.request_sent  # it may have been created: not sent again
    assert len(hostile_server.requests) == 1


def test_timed_out_calls_leave_no_threads_or_sockets_behind(
    hostile_server: HostileServer, make_api: MakeApi
) -> None:
    api = make_api(hostile_server, timeout=0.5, max_retries=0)
    hostile_server.then(hostile.drip_headers())
    with pytest.raises(ApiTimeoutError):
        api.tickets.list()
    assert hostile_server.wait_idle()
    before = Resources()
    for behaviour in (hostile.drip_headers, hostile.drip_body, hostile.hang_after_headers) * 2:
        hostile_server.then(behaviour())
        with pytest.raises(ApiTimeoutError):
            api.tickets.list()
    assert hostile_server.wait_idle()
    after = Resources()
    assert after.threads <= before.threads
    assert after.fds <= before.fds


def test_timeout_must_be_a_positive_number() -> None:
    for bad in (0, -1, float("nan"), float("inf"), "5", True):
        with pytest.raises(ConfigurationError, match="timeout"):
            Client(api_key="k", app_id="a", endpoint="http://127.0.0.1:9/v4/", timeout=bad)
    with pytest.raises(ConfigurationError, match="max_response_size"):
        Client(api_key="k", app_id="a", endpoint="http://127.0.0.1:9/v4/", max_response_size=10)


# -- hostile answers ------------------------------------------------------------------------------

HOSTILE_BODIES = {
    "nested 100,000 deep": deep(100_000),
    "nested 500 deep in a field": b'{"count": 1, "tickets": [' + deep(500) + b"]}",
    "invalid UTF-8": b'{"count": 1, "tickets": [{"ticketId": "\xff\xfe"}]}',
    "HTML": b"<html>captive portal</html>",
    "a list": b"[1, 2, 3]",
    "a number": b"42",
    "empty": b"",
    "NaN": b'{"status": NaN}',
}


def every_call(api: Driver) -> list[Callable[[], Any]]:
    return [
        api.tickets.list,
        lambda: api.customers.upsert(account_id="acme", name="Acme", status="Active"),
        lambda: api.contacts.list(limit=10),
        lambda: api.contacts.upsert([{"email": "a@example.com", "first_name": "A"}]),
        lambda: api.comments.create(ticket_id="t-1", description="hello"),
        lambda: api.orders.upsert(
            order_id="o-1",
            customer_account_id="acme",
            org_product_id="p-1",
            status="Activated",
            amount=1,
            effective_date=date(2020, 1, 1),
            end_date=date(2020, 12, 31),
        ),
    ]


@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
def test_a_hostile_success_raises_unexpected_response(
    hostile_server: HostileServer, make_api: MakeApi, body: bytes
) -> None:
    api = make_api(hostile_server, max_retries=0)
    hostile_server.default = hostile.answer(200, body)
    for call in every_call(api):
        with pytest.raises(UnexpectedResponseError) as caught:
            call()
        assert len(str(caught.value)) < 2000


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, InvalidInputError), (404, NotFoundError), (500, ServerError), (503, ServerError), (418, ApiError)],
)
@pytest.mark.parametrize("body", list(HOSTILE_BODIES.values()), ids=list(HOSTILE_BODIES))
def test_a_hostile_error_answer_keeps_its_meaning(
    hostile_server: HostileServer, make_api: MakeApi, status: int, error: type[ApiError], body: bytes
) -> None:
    api = make_api(hostile_server, max_retries=0)
    hostile_server.then(hostile.answer(status, body, {"X-Request-Id": "r" * 10_000}))
    with pytest.raises(error) as caught:
        api.tickets.list()
    assert type(caught.value) is error
    assert caught.value.status_code == status
    assert len(str(caught.value)) < 2000


def test_a_huge_answer_is_refused_not_read(hostile_server: HostileServer, make_api: MakeApi) -> None:
    api = make_api(hostile_server, max_retries=0, max_response_size=1 << 20)
    hostile_server.then(hostile.endless_body(200))
    with pytest.raises(UnexpectedResponseError, match="larger than 1048576 bytes"):
        api.tickets.list()
    hostile_server.then(hostile.endless_body(500, b"x" * 65536))
    with pytest.raises(ServerError):
        api.tickets.list()
    hostile_server.default = hostile.answer(200, orjson.dumps({"count": 1, "tickets": [TICKET]}))
    assert len(api.tickets.list()) == 1


def test_a_body_that_does_not_decode(hostile_server: HostileServer, make_api: MakeApi) -> None:
    api = make_api(hostile_server, max_retries=0)
    hostile_server.then(hostile.answer(200, b"not gzip at all", {"Content-Encoding": "gzip"}))
    with pytest.raises(UnexpectedResponseError, match="does not decode"):
        api.tickets.list()
    assert hostile_server.requests[0].headers["accept-encoding"] == "identity"
    # A compressed answer the client did not ask for still reads, within the cap.
    packed = gzip.compress(orjson.dumps({"count": 1, "tickets": [TICKET]}))
    hostile_server.then(hostile.answer(200, packed, {"Content-Encoding": "gzip"}))
    assert len(api.tickets.list()) == 1


# -- Retry-After ----------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-3", "soon"])
def test_a_retry_after_that_is_not_a_wait_is_ignored(
    hostile_server: HostileServer, make_api: MakeApi, value: str
) -> None:
    api = make_api(hostile_server)
    hostile_server.then(hostile.answer(429, b"{}", {"Retry-After": value}))
    hostile_server.default = hostile.answer(200, orjson.dumps({"count": 1, "tickets": [TICKET]}))
    assert len(api.tickets.list()) == 1  # backed off as after any 429, then succeeded
    assert len(hostile_server.requests) == 2


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("3600", 3600), ("999999999", MAX_RETRY_AFTER), ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER)],
)
def test_a_retry_after_above_the_clients_cap_is_not_waited_for(
    hostile_server: HostileServer, make_api: MakeApi, value: str, seconds: float
) -> None:
    api = make_api(hostile_server, max_retry_after=2)
    hostile_server.then(hostile.answer(429, b"{}", {"Retry-After": value}))
    started = time.monotonic()
    with pytest.raises(ApiError) as caught:
        api.tickets.list()
    assert time.monotonic() - started < MARGIN
    assert getattr(caught.value, "retry_after", None) == seconds
    assert len(hostile_server.requests) == 1


# -- every parser, any JSON -----------------------------------------------------------------------

KEYS = [
    "tickets", "contacts", "comments", "count", "nextPageToken", "status", "ticketId", "ticketName",
    "CommentId", "createTime", "dueDate", "unsavedContacts", "unsavedAgents", "email", "reason",
    "Saved Contact count", "message", "priority", "escalation",
]  # fmt: skip
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
    | st.sampled_from(["Jan 18, 2021 4:34:29 AM", "2021-01-12T00:00:00.000000Z", "High", "SUCCESS"])
)
JSON = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)


def parsers() -> list[Callable[[Answer], Any]]:
    target = ep.Target("app", "http://127.0.0.1:9/v4/", "http://127.0.0.1:9/dashboards/v4/financial/")
    calls: list[Any] = [
        ep.list_tickets(target),
        ep.list_contacts(target),
        ep.list_comments(target, "t-1"),
        ep.create_ticket(target, NewTicket(ticket_name="x")),
        ep.update_ticket(target, TicketUpdate(ticket_id="t-1", status="closed")),
        ep.create_comment(target, NewComment(ticket_id="t-1", description="d")),
        ep.upsert_customer(target, Customer(account_id="a", name="A", status="Active")),
        ep.upsert_people(
            target,
            Contact,
            [Contact(email="a@example.com", first_name="A"), Contact(email="b@example.com", first_name="B")],
        ),
        ep.upsert_people(target, Agent, [Agent(email="a@example.com", first_name="A")]),
        ep.delete_agent(target, "agent-1"),
    ]
    return [call.parse for call in calls]


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(JSON)
def test_no_parser_raises_anything_but_api_errors(value: Any) -> None:
    answer = Answer(200, httpx.Headers(), orjson.dumps(value))
    for parse in parsers():
        with contextlib.suppress(ApiError):  # an ApiError is the documented outcome
            parse(answer)
