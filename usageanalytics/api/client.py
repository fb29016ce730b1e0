"""The synchronous REST client: ``with Client() as c: c.tickets.list()``."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import httpx

from ..exchange import exchange
from ..transport import new_http_client
from . import _endpoints as ep
from ._base import BaseClient, ClientSettings, resource, takes
from .errors import ApiError, connection_error, error_for_response, undecodable
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
    User,
)

T = TypeVar("T")


class _Resource:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._target = client._settings.target

    def _send(self, call: ep.Call[T]) -> T:
        return self._client._send(call)


class Customers(_Resource):
    @takes(Customer)
    def upsert(self, customer: Customer) -> None:
        """Create or update a customer account."""
        self._send(ep.upsert_customer(self._target, customer))


class Users(_Resource):
    @takes(User)
    def upsert(self, user: User) -> None:
        """Create or update a user."""
        self._send(ep.upsert_user(self._target, user))


class Orders(_Resource):
    @takes(Order)
    def upsert(self, order: Order) -> None:
        """Create or update an order."""
        self._send(ep.upsert_order(self._target, order))

    def delete(self, order_id: str) -> None:
        """Delete an order."""
        self._send(ep.delete_order(self._target, order_id))


class AppFinancial(_Resource):
    @takes(AppFinancialData)
    def set(self, data: AppFinancialData) -> None:
        """Set the app's churn tolerance."""
        self._send(ep.set_app_financial(self._target, data))

    def delete(self) -> None:
        """Delete the app's financial configuration."""
        self._send(ep.delete_app_financial(self._target))


class AccountFinancial(_Resource):
    @takes(AccountFinancialData)
    def set(self, data: AccountFinancialData) -> None:
        """Set a customer account's ARR target and start date."""
        self._send(ep.set_account_financial(self._target, data))

    def delete(self, customer_account_id: str) -> None:
        """Delete a customer account's financial configuration."""
        self._send(ep.delete_account_financial(self._target, customer_account_id))


class Contacts(_Resource):
    def list(
        self,
        *,
        limit: int | None = None,
        next_page_token: str | None = None,
        email_id: str | None = None,
        salesforce_id: str | None = None,
    ) -> ContactPage:
        """One page of contacts (``limit`` per page, up to 1,000)."""
        call = ep.list_contacts(
            self._target,
            limit=limit,
            next_page_token=next_page_token,
            email_id=email_id,
            salesforce_id=salesforce_id,
        )
        return self._send(call)

    def iter(
        self, *, limit: int | None = None, email_id: str | None = None, salesforce_id: str | None = None
    ) -> Iterator[ContactRecord]:
        """Every contact, page after page (``limit`` is the page size)."""
        seen: set[str] = set()
        token: str | None = None
        while True:
            page = self.list(
                limit=limit, next_page_token=token, email_id=email_id, salesforce_id=salesforce_id
            )
            yield from page.contacts
            token = ep.next_page_token(page, seen)
            if token is None:
                return

    def upsert(self, contacts: Sequence[Contact | Mapping[str, Any]]) -> BulkResult[Contact]:
        """Create or update contacts; the result says which were saved and which were not."""
        outcome = ep.upsert_people(self._target, Contact, contacts)
        return outcome if isinstance(outcome, BulkResult) else self._send(outcome)


class Agents(_Resource):
    def upsert(self, agents: Sequence[Agent | Mapping[str, Any]]) -> BulkResult[Agent]:
        """Create or update agents; the result says which were saved and which were not."""
        outcome = ep.upsert_people(self._target, Agent, agents)
        return outcome if isinstance(outcome, BulkResult) else self._send(outcome)

    def delete(self, agent_id: str) -> None:
        """Delete an agent by its SmartKarrot id."""
        self._send(ep.delete_agent(self._target, agent_id))


class Tickets(_Resource):
    def list(self) -> builtins.list[Ticket]:
        """Every ticket of the app."""
        return self._send(ep.list_tickets(self._target))

    @takes(NewTicket)
    def create(self, ticket: NewTicket) -> Ticket:
        """Create a ticket (retried after a failure only with an ``idempotency_key``)."""
        return self._send(ep.create_ticket(self._target, ticket))

    @takes(TicketUpdate)
    def update(self, changes: TicketUpdate) -> Ticket:
        """Change the given fields of a ticket."""
        return self._send(ep.update_ticket(self._target, changes))

    def delete(self, ticket_id: str) -> None:
        """Delete a ticket."""
        self._send(ep.delete_ticket(self._target, ticket_id))


class Comments(_Resource):
    def list(self, *, ticket_id: str) -> builtins.list[Comment]:
        """The comments of a ticket."""
        return self._send(ep.list_comments(self._target, ticket_id))

    @takes(NewComment)
    def create(self, comment: NewComment) -> Comment:
        """Add a comment to a ticket (retried after a failure only with an ``idempotency_key``)."""
        return self._send(ep.create_comment(self._target, comment))

    @takes(CommentUpdate)
    def update(self, changes: CommentUpdate) -> Comment:
        """Replace a comment's description."""
        return self._send(ep.update_comment(self._target, changes))


class Client(BaseClient[httpx.Client]):
    """SmartKarrot's REST API, synchronous. Thread-safe; close it, or use it as a context manager.

    Arguments (all keyword, all optional): ``api_key``, ``app_id``, ``endpoint``,
    ``financial_endpoint``, ``timeout``, ``max_retries``, ``retry_backoff``, ``max_retry_after``,
    ``max_response_size``; see :class:`~usageanalytics.api._base.BaseClient`.
    """

    customers = resource(Customers)
    users = resource(Users)
    orders = resource(Orders)
    app_financial = resource(AppFinancial)
    account_financial = resource(AccountFinancial)
    contacts = resource(Contacts)
    agents = resource(Agents)
    tickets = resource(Tickets)
    comments = resource(Comments)

    def _new_http(self, settings: ClientSettings) -> httpx.Client:
        return new_http_client(settings.target.endpoint, settings.api_key, settings.timeout)

    def _send(self, call: ep.Call[T]) -> T:
        settings = self._settings
        attempt = 0
        while True:
            error: ApiError
            try:
                answer = exchange(
                    self._http,
                    self._request(call),
                    timeout=settings.timeout,
                    max_bytes=settings.max_response_size,
                )
                found = error_for_response(answer, status_envelope=call.status_envelope)
                if found is None:
                    return call.parse(answer)
                error = found
            except httpx.TransportError as exc:
                error = connection_error(exc)
            except httpx.DecodingError as exc:
                raise undecodable(exc) from exc
            time.sleep(self._delay_or_raise(call, attempt, error))
            attempt += 1

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
