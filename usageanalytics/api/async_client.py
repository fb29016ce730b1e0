"""The asyncio REST client: ``async with AsyncClient() as c: await c.tickets.list()``.

Same resources, arguments and results as :class:`~usageanalytics.api.Client`; every method is a
coroutine, and ``contacts.iter`` an async iterator.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import anyio
import httpx

from ..exchange import exchange_async
from ..transport import new_async_http_client
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


class _AsyncResource:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._target = client._settings.target

    async def _send(self, call: ep.Call[T]) -> T:
        return await self._client._send(call)


class AsyncCustomers(_AsyncResource):
    @takes(Customer)
    async def upsert(self, customer: Customer) -> None:
        """Create or update a customer account."""
        await self._send(ep.upsert_customer(self._target, customer))


class AsyncUsers(_AsyncResource):
    @takes(User)
    async def upsert(self, user: User) -> None:
        """Create or update a user."""
        await self._send(ep.upsert_user(self._target, user))


class AsyncOrders(_AsyncResource):
    @takes(Order)
    async def upsert(self, order: Order) -> None:
        """Create or update an order."""
        await self._send(ep.upsert_order(self._target, order))

    async def delete(self, order_id: str) -> None:
        """Delete an order."""
        await self._send(ep.delete_order(self._target, order_id))


class AsyncAppFinancial(_AsyncResource):
    @takes(AppFinancialData)
    async def set(self, data: AppFinancialData) -> None:
        """Set the app's churn tolerance."""
        await self._send(ep.set_app_financial(self._target, data))

    async def delete(self) -> None:
        """Delete the app's financial configuration."""
        await self._send(ep.delete_app_financial(self._target))


class AsyncAccountFinancial(_AsyncResource):
    @takes(AccountFinancialData)
    async def set(self, data: AccountFinancialData) -> None:
        """Set a customer account's ARR target and start date."""
        await self._send(ep.set_account_financial(self._target, data))

    async def delete(self, customer_account_id: str) -> None:
        """Delete a customer account's financial configuration."""
        await self._send(ep.delete_account_financial(self._target, customer_account_id))


class AsyncContacts(_AsyncResource):
    async def list(
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
        return await self._send(call)

    async def iter(
        self, *, limit: int | None = None, email_id: str | None = None, salesforce_id: str | None = None
    ) -> AsyncIterator[ContactRecord]:
        """Every contact, page after page (``limit`` is the page size): ``async for c in ...``."""
        seen: set[str] = set()
        token: str | None = None
        while True:
            page = await self.list(
                limit=limit, next_page_token=token, email_id=email_id, salesforce_id=salesforce_id
            )
            for contact in page.contacts:
                yield contact
            token = ep.next_page_token(page, seen)
            if token is None:
                return

    async def upsert(self, contacts: Sequence[Contact | Mapping[str, Any]]) -> BulkResult[Contact]:
        """Create or update contacts; the result says which were saved and which were not."""
        outcome = ep.upsert_people(self._target, Contact, contacts)
        return outcome if isinstance(outcome, BulkResult) else await self._send(outcome)


class AsyncAgents(_AsyncResource):
    async def upsert(self, agents: Sequence[Agent | Mapping[str, Any]]) -> BulkResult[Agent]:
        """Create or update agents; the result says which were saved and which were not."""
        outcome = ep.upsert_people(self._target, Agent, agents)
        return outcome if isinstance(outcome, BulkResult) else await self._send(outcome)

    async def delete(self, agent_id: str) -> None:
        """Delete an agent by its SmartKarrot id."""
        await self._send(ep.delete_agent(self._target, agent_id))


class AsyncTickets(_AsyncResource):
    async def list(self) -> builtins.list[Ticket]:
        """Every ticket of the app."""
        return await self._send(ep.list_tickets(self._target))

    @takes(NewTicket)
    async def create(self, ticket: NewTicket) -> Ticket:
        """Create a ticket (retried after a failure only with an ``idempotency_key``)."""
        return await self._send(ep.create_ticket(self._target, ticket))

    @takes(TicketUpdate)
    async def update(self, changes: TicketUpdate) -> Ticket:
        """Change the given fields of a ticket."""
        return await self._send(ep.update_ticket(self._target, changes))

    async def delete(self, ticket_id: str) -> None:
        """Delete a ticket."""
        await self._send(ep.delete_ticket(self._target, ticket_id))


class AsyncComments(_AsyncResource):
    async def list(self, *, ticket_id: str) -> builtins.list[Comment]:
        """The comments of a ticket."""
        return await self._send(ep.list_comments(self._target, ticket_id))

    @takes(NewComment)
    async def create(self, comment: NewComment) -> Comment:
        """Add a comment to a ticket (retried after a failure only with an ``idempotency_key``)."""
        return await self._send(ep.create_comment(self._target, comment))

    @takes(CommentUpdate)
    async def update(self, changes: CommentUpdate) -> Comment:
        """Replace a comment's description."""
        return await self._send(ep.update_comment(self._target, changes))


class AsyncClient(BaseClient[httpx.AsyncClient]):
    """SmartKarrot's REST API for asyncio (or trio); use one per event loop, as ``async with AsyncClient()``.

    Takes the same arguments, with the same defaults, as :class:`~usageanalytics.api.Client`.
    """

    customers = resource(AsyncCustomers)
    users = resource(AsyncUsers)
    orders = resource(AsyncOrders)
    app_financial = resource(AsyncAppFinancial)
    account_financial = resource(AsyncAccountFinancial)
    contacts = resource(AsyncContacts)
    agents = resource(AsyncAgents)
    tickets = resource(AsyncTickets)
    comments = resource(AsyncComments)

    def _new_http(self, settings: ClientSettings) -> httpx.AsyncClient:
        return new_async_http_client(settings.target.endpoint, settings.api_key, settings.timeout)

    async def _send(self, call: ep.Call[T]) -> T:
        settings = self._settings
        attempt = 0
        while True:
            error: ApiError
            try:
                answer = await exchange_async(
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
            await anyio.sleep(self._delay_or_raise(call, attempt, error))
            attempt += 1

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
