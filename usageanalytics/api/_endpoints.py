"""Every REST endpoint of the spec as a :class:`Call`: method, URL, body, retry rule, answer parser.

Both clients send these same calls, so the sync and async APIs cannot drift apart. This is also
the one place where the spec's own inconsistencies are resolved (spec = the platform's API docs):

* "Fetch Tickets" writes ``GET /tickets{appId}`` and "Delete a Ticket" ``DELETE /tickets{id}``:
  the braces lack the slash that ``/orders/{id}`` has, and ``/tickets/{appId}`` would collide with
  ``GET /tickets/contacts`` and ``/tickets/comments``. We send them as query parameters, like the
  other GETs and like ``DELETE /agents`` (``?appId=`` and ``?id=``).
* "Get contacts" lists ``GET /tickets/contacts`` while "Create contacts" posts to ``/contacts``
  (and "Save Agents" to ``/agents``): each is used as written. Its "Sample input parameters" are
  shown as JSON but a GET carries them in the query string.
* The curl in "Authentication (Basic)" posts to ``/tickets/comment``; the tables of "Ticket
  Comment" say ``/tickets/comments``: we use the tables.
* The curl in "Financial Data Integration" posts to ``/orders/`` with a trailing slash and
  ``productId``; the table says ``/orders`` and ``orgProductId``: we use the table.
* "App Financial Data" types ``logoChurnTolerance`` as String but its sample sends the number
  ``0.05``; we send a JSON number, as the sample does and as ``arrTarget`` and ``amount`` are.
* ``DELETE /orders/{id}`` and ``DELETE /account-financial-data/{id}`` carry ``appId`` in a JSON
  body (their "Sample Request"); ``DELETE /app-financial-data/{your-app-id}`` carries none.
* "Save Agents" answers with keys ``" Saved Agents count: "`` (spaces and a colon) and "Create
  contacts" with ``"Saved Contact count"``: :func:`_count` reads both by their words.
* "Fetch Ticket Comments" returns ``CommentId`` (capital C) and ``createdById``, where "Create a
  Ticket Comment" returns ``createdBy``: :data:`COMMENT_KEYS` maps both onto :class:`Comment`.
* "Delete Agents" answers ``{"Agent deleted"}``, which is not JSON, and "Delete a Ticket" labels
  its answer "Sample Input Parameters": a delete succeeds on any 2xx, whatever its body.
* "Update a Ticket"'s sample spells ``visbleId`` and ``createByType``; its table says
  ``visibleId`` and has no creator type: we send the table's fields.
* ``createTime``/``updateTime`` come as ``"Jan 18, 2021 4:34:29 AM"``, not ISO 8601, and
  ``dueDate`` with six fraction digits: :func:`._convert.parse_timestamp` reads all of them as UTC.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from .. import wire
from ..exchange import Answer, NotJSON, shown
from ._convert import from_wire, model_from, to_wire
from .errors import ApiError, InvalidInputError, UnexpectedResponseError
from .models import (
    AccountFinancialData,
    Agent,
    AppFinancialData,
    BulkResult,
    Comment,
    CommentUpdate,
    Contact,
    ContactPage,
    ContactRecord,
    Customer,
    NewComment,
    NewTicket,
    Order,
    Ticket,
    TicketUpdate,
    Unsaved,
    User,
)

log = logging.getLogger("usageanalytics.api")

T = TypeVar("T")
P = TypeVar("P", Contact, Agent)

MAX_PAGE_SIZE = 1000  # spec: "Get contacts": "This can be a maximum of 1,000."
COMMENT_KEYS = {"CommentId": "commentId", "createdById": "createdBy"}


@dataclass(frozen=True)
class Target:
    """Where one client's calls go: the app, the v4 base URL and the financial base URL."""

    app_id: str
    endpoint: str
    financial_endpoint: str

    def v4(self, path: str) -> str:
        return self.endpoint + path

    def financial(self, path: str) -> str:
        return self.financial_endpoint + path


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request and how to read its answer.

    ``idempotent`` calls (reads, upserts, updates, deletes) are retried after 429, 5xx and lost
    answers. A create is retried only when the server certainly did not apply it (429, no
    connection), unless it carries an ``idempotency_key`` the server can deduplicate by.
    """

    method: str
    url: str
    parse: Callable[[Answer], T]
    idempotent: bool = True
    params: dict[str, str] | None = None
    body: Any = None
    idempotency_key: str | None = None
    status_envelope: bool = False  # the answer is {"status": ...}: see errors.error_for_response

    @property
    def retry_safe(self) -> bool:
        return self.idempotent or self.idempotency_key is not None

    def request_headers(self) -> dict[str, str]:
        return {"Idempotency-Key": self.idempotency_key} if self.idempotency_key else {}


def _required_id(value: str, name: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{name} is required: a non-empty string, got {value!r}")
    return value


def _segment(value: str, name: str) -> str:
    """An id placed in the URL path, escaped so that ``a/b`` stays one segment."""
    return quote(_required_id(value, name), safe="")


def _json(response: Answer) -> Any:
    try:
        return response.json()
    except NotJSON as exc:
        raise UnexpectedResponseError(
            f"expected JSON, got {shown(response.text(200))} ({exc})", status_code=response.status_code
        ) from None


def _status(response: Answer) -> None:
    """The ``{"status": "SUCCESS"}`` answer of the usage analytics and financial endpoints."""
    payload = _json(response)
    if not isinstance(payload, Mapping) or payload.get("status") != "SUCCESS":
        raise UnexpectedResponseError(
            f"expected status SUCCESS, got {shown(payload)}", status_code=response.status_code
        )


def _status_call(method: str, url: str, body: dict[str, Any] | None = None) -> Call[None]:
    """A usage analytics or financial call, answered by the spec's ``{"status": "SUCCESS"}``."""
    return Call(method, url, _status, body=body, status_envelope=True)


def _any_success(response: Answer) -> None:
    """Deletes: any 2xx is the answer; the spec's bodies for them are not always JSON."""


def _ticket(response: Answer) -> Ticket:
    return from_wire(Ticket, _json(response))


def _comment_from(data: Any) -> Comment:
    if isinstance(data, Mapping):
        data = {COMMENT_KEYS.get(key, key): value for key, value in data.items()}
    return from_wire(Comment, data)


def _comment(response: Answer) -> Comment:
    return _comment_from(_json(response))


def _list_of(payload: Any, key: str) -> list[Any]:
    items = payload.get(key) if isinstance(payload, Mapping) else None
    if items is None and isinstance(payload, Mapping) and "count" in payload and payload["count"] == 0:
        return []
    if not isinstance(items, list):
        raise UnexpectedResponseError(f"expected a {key!r} list, got {shown(payload)}")
    return items


def _tickets(response: Answer) -> list[Ticket]:
    return [from_wire(Ticket, item) for item in _list_of(_json(response), "tickets")]


def _comments(response: Answer) -> list[Comment]:
    return [_comment_from(item) for item in _list_of(_json(response), "comments")]


def _contact_page(response: Answer) -> ContactPage:
    payload = _json(response)
    contacts = [from_wire(ContactRecord, item) for item in _list_of(payload, "contacts")]
    token = payload.get("nextPageToken") or None
    if token is not None and not isinstance(token, str):
        raise UnexpectedResponseError(f"expected a string nextPageToken, got {shown(token)}")
    count = payload.get("count")
    return ContactPage(contacts, count if isinstance(count, int) else None, token)


# -- usage analytics -----------------------------------------------------------------------------


def upsert_customer(target: Target, customer: Customer) -> Call[None]:
    body = {"appId": target.app_id, **to_wire(customer)}
    return _status_call("POST", target.v4(wire.CUSTOMER_PATH), body)


def upsert_user(target: Target, user: User) -> Call[None]:
    body = {"appId": target.app_id, **to_wire(user)}
    return _status_call("POST", target.v4(wire.USER_PATH), body)


# -- financial data --------------------------------------------------------------------------------


def upsert_order(target: Target, order: Order) -> Call[None]:
    body = {"appId": target.app_id, **to_wire(order)}
    return _status_call("POST", target.financial("orders"), body)


def delete_order(target: Target, order_id: str) -> Call[None]:
    url = target.financial(f"orders/{_segment(order_id, 'order_id')}")
    return _status_call("DELETE", url, {"appId": target.app_id})


def set_app_financial(target: Target, data: AppFinancialData) -> Call[None]:
    body = {"appId": target.app_id, **to_wire(data)}
    return _status_call("POST", target.financial("app-financial-data"), body)


def delete_app_financial(target: Target) -> Call[None]:
    url = target.financial(f"app-financial-data/{_segment(target.app_id, 'app_id')}")
    return _status_call("DELETE", url)


def set_account_financial(target: Target, data: AccountFinancialData) -> Call[None]:
    body = {"appId": target.app_id, **to_wire(data)}
    return _status_call("POST", target.financial("account-financial-data"), body)


def delete_account_financial(target: Target, customer_account_id: str) -> Call[None]:
    account = _segment(customer_account_id, "customer_account_id")
    url = target.financial(f"account-financial-data/{account}")
    return _status_call("DELETE", url, {"appId": target.app_id})


# -- contacts and agents ---------------------------------------------------------------------------


def list_contacts(
    target: Target,
    *,
    limit: int | None = None,
    next_page_token: str | None = None,
    email_id: str | None = None,
    salesforce_id: str | None = None,
) -> Call[ContactPage]:
    params = {"appId": target.app_id}
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
            raise InvalidInputError(f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}, got {limit!r}")
        params["limit"] = str(limit)
    for name, value in (
        ("nextPageToken", next_page_token),
        ("emailId", email_id),
        ("salesforceId", salesforce_id),
    ):
        if value is not None:
            params[name] = value
    return Call("GET", target.v4("tickets/contacts"), _contact_page, params=params)


_WORDS = re.compile(r"[a-z]+")


def _count(payload: Mapping[str, Any], first_word: str) -> int | None:
    """The "Saved Contact count" / " Saved Agents count: " style counts, read by their words."""
    for key, value in payload.items():
        words = _WORDS.findall(str(key).lower())
        if words[:1] == [first_word] and words[-1:] == ["count"] and isinstance(value, int):
            return value
    return None


_IDENTITY_KEYS = ("email", "customerContactId", "customerAgentId", "firstName", "lastName")


def _same_person(sent: Mapping[str, Any], returned: Mapping[str, Any]) -> bool:
    shared = [key for key in _IDENTITY_KEYS if key in sent and key in returned]
    return bool(shared) and all(
        str(sent[key]).strip().lower() == str(returned[key]).strip().lower() for key in shared
    )


@dataclass
class BulkPlan(Generic[P]):
    """A bulk save split into the records that pass the client-side checks and those that do not."""

    valid: list[tuple[int, P]] = field(default_factory=list)
    invalid: list[Unsaved[P]] = field(default_factory=list)


def plan_bulk(kind: type[P], records: Sequence[P | Mapping[str, Any]]) -> BulkPlan[P]:
    """Check each record alone: a bad one is reported unsaved with its reason, the rest still go."""
    if isinstance(records, (str, bytes, Mapping)):
        raise InvalidInputError(f"expected a list of {kind.__name__} records, got {type(records).__name__}")
    plan: BulkPlan[P] = BulkPlan()
    for index, record in enumerate(records):
        try:
            plan.valid.append((index, model_from(kind, record)))
        except (InvalidInputError, TypeError) as exc:
            kept: P | dict[str, Any] = (
                record
                if isinstance(record, kind)
                else dict(record)
                if isinstance(record, Mapping)
                else {"record": record}
            )
            message = exc.message if isinstance(exc, ApiError) else str(exc)
            plan.invalid.append(Unsaved(index, kept, f"not sent: {message}"))
    return plan


def _bulk_parser(
    plan: BulkPlan[P], sent: list[dict[str, Any]], unsaved_key: str
) -> Callable[[Answer], BulkResult[P]]:
    def parse(response: Answer) -> BulkResult[P]:
        payload = _json(response)
        if not isinstance(payload, Mapping):
            raise UnexpectedResponseError(f"expected a JSON object, got {shown(payload)}")
        returned = payload.get(unsaved_key) or []
        if not isinstance(returned, list):
            raise UnexpectedResponseError(f"expected a {unsaved_key!r} list, got {shown(returned)}")
        result: BulkResult[P] = BulkResult(unsaved=list(plan.invalid))
        matched: set[int] = set()
        for item in returned:
            item = item if isinstance(item, Mapping) else {"record": item}
            position = next(
                (n for n, body in enumerate(sent) if n not in matched and _same_person(body, item)), None
            )
            reason = str(item.get("reason") or item.get("message") or "the server did not save it")[:1000]
            if position is None:
                result.unsaved.append(Unsaved(-1, dict(item), reason, dict(item)))
                continue
            matched.add(position)
            index, model = plan.valid[position]
            result.unsaved.append(Unsaved(index, model, reason, dict(item)))
        result.saved = [model for n, (_, model) in enumerate(plan.valid) if n not in matched]
        result.unsaved.sort(key=lambda unsaved: unsaved.index)
        saved_count = _count(payload, "saved")
        if saved_count is not None and saved_count != len(result.saved):
            log.warning(
                "the server counts %d saved records but named %d of %d unsaved; trust the counts",
                saved_count,
                len(returned),
                len(sent),
            )
        return result

    return parse


def upsert_people(
    target: Target, kind: type[P], records: Sequence[P | Mapping[str, Any]]
) -> Call[BulkResult[P]] | BulkResult[P]:
    """``POST /contacts`` or ``POST /agents`` with the records that pass the checks.

    Returns the finished result instead of a call when no record passes them: nothing to send.
    """
    plan = plan_bulk(kind, records)
    if not plan.valid:
        return BulkResult(unsaved=plan.invalid)
    path, unsaved_key = ("contacts", "unsavedContacts") if kind is Contact else ("agents", "unsavedAgents")
    sent = [to_wire(model) for _, model in plan.valid]
    body = {"appId": target.app_id, path: sent}
    return Call("POST", target.v4(path), _bulk_parser(plan, sent, unsaved_key), body=body)


def next_page_token(page: ContactPage, seen: set[str]) -> str | None:
    """The token of the page after ``page``; refuses a token the server already gave (a loop)."""
    token = page.next_page_token
    if token is None:
        return None
    if token in seen:
        raise UnexpectedResponseError(f"the server returned nextPageToken {shown(token)} twice")
    seen.add(token)
    return token


def delete_agent(target: Target, agent_id: str) -> Call[None]:
    return Call(
        "DELETE", target.v4("agents"), _any_success, params={"id": _required_id(agent_id, "agent_id")}
    )


# -- tickets and comments --------------------------------------------------------------------------


def list_tickets(target: Target) -> Call[list[Ticket]]:
    return Call("GET", target.v4("tickets"), _tickets, params={"appId": target.app_id})


def create_ticket(target: Target, ticket: NewTicket) -> Call[Ticket]:
    body = {"appId": target.app_id, **to_wire(ticket)}
    key = ticket.idempotency_key
    return Call("POST", target.v4("tickets"), _ticket, idempotent=False, body=body, idempotency_key=key)


def update_ticket(target: Target, changes: TicketUpdate) -> Call[Ticket]:
    return Call("PUT", target.v4("tickets"), _ticket, body=to_wire(changes))


def delete_ticket(target: Target, ticket_id: str) -> Call[None]:
    return Call(
        "DELETE", target.v4("tickets"), _any_success, params={"id": _required_id(ticket_id, "ticket_id")}
    )


def list_comments(target: Target, ticket_id: str) -> Call[list[Comment]]:
    params = {"appId": target.app_id, "ticketId": _required_id(ticket_id, "ticket_id")}
    return Call("GET", target.v4("tickets/comments"), _comments, params=params)


def create_comment(target: Target, comment: NewComment) -> Call[Comment]:
    key = comment.idempotency_key
    url = target.v4("tickets/comments")
    return Call("POST", url, _comment, idempotent=False, body=to_wire(comment), idempotency_key=key)


def update_comment(target: Target, changes: CommentUpdate) -> Call[Comment]:
    return Call("PUT", target.v4("tickets/comments"), _comment, body=to_wire(changes))
