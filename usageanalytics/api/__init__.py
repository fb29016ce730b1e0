"""Typed REST clients for SmartKarrot's endpoints beyond event tracking.

``Client`` (sync) and ``AsyncClient`` (asyncio) cover customer accounts, users, financial data
(orders, app and account financial data) and case management (contacts, agents, tickets, ticket
comments)::

    from usageanalytics.api import Client

    with Client() as c:  # USAGEANALYTICS_APP_ID / _API_KEY / _ENDPOINT, as for configure()
        ticket = c.tickets.create(ticket_name="Payment subdue", priority="High")
        c.comments.create(ticket_id=ticket.ticket_id, description="Looking into it")
"""

from __future__ import annotations

from .async_client import AsyncClient
from .client import Client
from .enums import AccountStatus, CreatorType, Escalation, LoginMechanism, OrderStatus, Platform
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    InvalidInputError,
    NotFoundError,
    RateLimitedError,
    ServerError,
    UnexpectedResponseError,
)
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

__all__ = [
    "AccountFinancialData",
    "AccountStatus",
    "Agent",
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AppFinancialData",
    "AsyncClient",
    "AuthenticationError",
    "BulkResult",
    "Client",
    "Comment",
    "CommentUpdate",
    "Contact",
    "ContactPage",
    "ContactRecord",
    "CreatorType",
    "Customer",
    "Escalation",
    "InvalidInputError",
    "LoginMechanism",
    "NewComment",
    "NewTicket",
    "NotFoundError",
    "Order",
    "OrderStatus",
    "Platform",
    "RateLimitedError",
    "ServerError",
    "Ticket",
    "TicketUpdate",
    "UnexpectedResponseError",
    "Unsaved",
    "User",
]
