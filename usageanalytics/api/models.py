"""Typed request and response models, named after the spec's objects (dataclasses throughout).

Request models check the spec's required fields and formats when they are built, so nothing
invalid is ever sent; enum fields take the member or its plain string. Field names are the spec's,
in snake_case; :mod:`._convert` writes them as camelCase and :mod:`._endpoints` adds ``appId``.
Response models keep whatever the spec does not describe in ``extra``.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import KW_ONLY, dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

from ._convert import (
    WIRE_NAME,
    check_day,
    check_enum,
    check_number,
    check_string_list,
    check_string_map,
    check_text,
)
from .enums import AccountStatus, CreatorType, Escalation, LoginMechanism, OrderStatus, Platform
from .errors import InvalidInputError

MAX_LOGO_BYTES = 3 * 1024 * 1024  # spec: "The image size should be less than 3 MB."
NOT_SENT: dict[str, Any] = {WIRE_NAME: False}  # a client-side option, never part of the body

R = TypeVar("R")


def _new_idempotency_id() -> str:
    return str(uuid.uuid4())


# -- usage analytics: customers and users ------------------------------------------------------


@dataclass(kw_only=True)
class Customer:
    """A customer account (spec: "Create or Update Customer Account Endpoint").

    ``base64_encoded_logo_image`` takes the base64 text, or the image's bytes to be encoded.
    """

    account_id: str
    name: str
    status: AccountStatus | str
    base64_encoded_logo_image: str | bytes | None = None
    product_ids: list[str] | None = None

    def __post_init__(self) -> None:
        check_text(self, "account_id", "name")
        check_enum(self, "status", AccountStatus)
        check_string_list(self, "product_ids")
        logo = self.base64_encoded_logo_image
        if isinstance(logo, (bytes, bytearray)):
            self.base64_encoded_logo_image = logo = base64.b64encode(logo).decode("ascii")
        if logo is not None:
            check_text(self, "base64_encoded_logo_image")
            if len(logo) * 3 // 4 >= MAX_LOGO_BYTES:
                raise InvalidInputError("base64_encoded_logo_image: the image must be smaller than 3 MB")


@dataclass(kw_only=True)
class User:
    """A user of your app (spec: "Create or Update User Endpoint").

    A backend pushes users it knows, so ``login_mechanism`` defaults to ``AUTH`` and ``platform``
    to ``Web``; ``idempotency_id`` is generated per call and reused by its retries.
    """

    user_id: str
    customer_account_id: str
    status: AccountStatus | str
    login_mechanism: LoginMechanism | str = LoginMechanism.AUTH
    platform: Platform | str = Platform.WEB
    idempotency_id: str = field(default_factory=_new_idempotency_id)
    bundle_id: str | None = None
    session_id: str | None = None
    device_id: str | None = None
    last_logged_in_user_id: str | None = None

    def __post_init__(self) -> None:
        check_text(self, "user_id", "customer_account_id", "idempotency_id")
        check_text(self, "bundle_id", "session_id", "device_id", "last_logged_in_user_id", required=False)
        check_enum(self, "status", AccountStatus)
        check_enum(self, "login_mechanism", LoginMechanism)
        check_enum(self, "platform", Platform)


# -- financial data -----------------------------------------------------------------------------


@dataclass(kw_only=True)
class Order:
    """An order, the basis of ARR and MRR (spec: "Create or Update an order")."""

    order_id: str
    customer_account_id: str
    org_product_id: str
    status: OrderStatus | str
    amount: float
    effective_date: date
    end_date: date

    def __post_init__(self) -> None:
        check_text(self, "order_id", "customer_account_id", "org_product_id")
        check_enum(self, "status", OrderStatus)
        check_number(self, "amount")
        check_day(self, "effective_date", "end_date")


@dataclass(kw_only=True)
class AppFinancialData:
    """The app's churn tolerance, a fraction: 0.05 is 5% (spec: "App Financial Data")."""

    logo_churn_tolerance: float

    def __post_init__(self) -> None:
        check_number(self, "logo_churn_tolerance", minimum=0)


@dataclass(kw_only=True)
class AccountFinancialData:
    """ARR target and start date of one customer account (spec: "Account Financial Data")."""

    customer_account_id: str
    account_start_date: date
    arr_target: float

    def __post_init__(self) -> None:
        check_text(self, "customer_account_id")
        check_day(self, "account_start_date")
        check_number(self, "arr_target")


# -- case management: contacts and agents --------------------------------------------------------


@dataclass(kw_only=True)
class _Person:
    """The fields contacts and agents share; both are keyed by email."""

    email: str
    first_name: str
    last_name: str | None = None
    country_code: str | None = None
    phone_number: str | None = None
    uploaded_image_url: str | None = None

    def __post_init__(self) -> None:
        check_text(self, "email", "first_name")


@dataclass(kw_only=True)
class Contact(_Person):
    """A contact to create or update (spec: "Create contacts")."""

    customer_contact_id: str | None = None
    role: str | None = None


@dataclass(kw_only=True)
class Agent(_Person):
    """An agent to create or update (spec: "Save Agents")."""

    customer_agent_id: str | None = None


@dataclass
class ContactRecord:
    """A contact as SmartKarrot stores it (spec: "Get contacts", sample output)."""

    contact_id: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    role: str | None = None
    phone_number: str | None = None
    country_code: str | None = None
    status: str | None = None
    account_id: str | None = None
    customer_contact_id: str | None = None
    uploaded_image_url: str | None = None
    display_suggestion: bool | None = None
    is_champion: bool | None = None
    org_id: str | None = None
    app_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class ContactPage:
    """One page of contacts; pass ``next_page_token`` back to get the next (None on the last)."""

    contacts: list[ContactRecord]
    count: int | None = None
    next_page_token: str | None = None


# -- case management: tickets and comments ---------------------------------------------------------


@dataclass(kw_only=True)
class _TicketFields:
    """What both creating and updating a ticket may set.

    ``due_date`` is sent as yyyy-MM-dd for a ``date`` and as a UTC timestamp for a ``datetime``.
    """

    visible_id: str | None = None
    account_id: str | None = None
    ticket_name: str | None = None
    assigned_to: str | None = None
    due_date: date | datetime | None = None
    escalation: Escalation | str | None = None
    priority: str | None = None
    status: str | None = None
    type: str | None = None
    custom_fields: dict[str, str] | None = None

    def __post_init__(self) -> None:
        check_text(
            self, "visible_id", "account_id", "ticket_name", "assigned_to", "priority", "status", "type",
            required=False,
        )  # fmt: skip
        check_enum(self, "escalation", Escalation, required=False)
        check_string_map(self, "custom_fields")
        if self.due_date is not None and not isinstance(self.due_date, date):
            raise InvalidInputError(f"due_date must be a date or a datetime, got {self.due_date!r}")


@dataclass(kw_only=True)
class NewTicket(_TicketFields):
    """A ticket to create; every field is optional (spec: "Create a Ticket").

    ``idempotency_key`` is not part of the body: it travels as the ``Idempotency-Key`` header
    and lets the client retry the create after a 5xx or a lost answer.
    """

    created_by: str | None = None
    created_by_type: CreatorType | str | None = None
    idempotency_key: str | None = field(default=None, metadata=NOT_SENT)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_text(self, "created_by", "idempotency_key", required=False)
        check_enum(self, "created_by_type", CreatorType, required=False)


@dataclass
class TicketUpdate(_TicketFields):
    """Changes to a ticket; fields left at None are not changed (spec: "Update a Ticket")."""

    ticket_id: str = field(metadata={WIRE_NAME: "id"})

    def __post_init__(self) -> None:
        check_text(self, "ticket_id")
        super().__post_init__()


@dataclass
class Ticket:
    """A ticket as SmartKarrot stores it (spec: "Fetch Tickets", "Create a Ticket" output)."""

    ticket_id: str
    visible_id: str | None = None
    app_id: str | None = None
    account_id: str | None = None
    ticket_name: str | None = None
    created_by: str | None = None
    created_by_type: CreatorType | str | None = None
    escalation: Escalation | str | None = None
    assigned_to: str | None = None
    due_date: datetime | None = None
    priority: str | None = None
    status: str | None = None
    type: str | None = None
    custom_fields: dict[str, Any] | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(kw_only=True)
class NewComment:
    """A comment to add to a ticket (spec: "Create a Ticket Comment"); see NewTicket for the key."""

    ticket_id: str
    description: str
    created_by: str | None = None
    created_by_type: CreatorType | str | None = None
    idempotency_key: str | None = field(default=None, metadata=NOT_SENT)

    def __post_init__(self) -> None:
        check_text(self, "ticket_id", "description")
        check_text(self, "created_by", "idempotency_key", required=False)
        check_enum(self, "created_by_type", CreatorType, required=False)


@dataclass
class CommentUpdate:
    """A comment's new description (spec: "Edit a ticket comment")."""

    comment_id: str = field(metadata={WIRE_NAME: "id"})
    _: KW_ONLY
    description: str

    def __post_init__(self) -> None:
        check_text(self, "comment_id", "description")


@dataclass
class Comment:
    """A ticket comment as SmartKarrot stores it (spec: "Fetch Ticket Comments")."""

    comment_id: str
    ticket_id: str | None = None
    description: str | None = None
    created_by: str | None = None
    created_by_type: CreatorType | str | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    version: int | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


# -- bulk results -------------------------------------------------------------------------------


@dataclass
class Unsaved(Generic[R]):
    """A record that was not saved, and why.

    ``record`` is the model that was sent, or the dict that failed the client-side checks;
    ``index`` is its position in the list given to the call; ``server_record`` is the server's
    copy of it, when the server returned one.
    """

    index: int
    record: R | dict[str, Any]
    reason: str
    server_record: dict[str, Any] | None = None


@dataclass
class BulkResult(Generic[R]):
    """What a bulk call saved and what it did not; check ``unsaved`` (or ``ok``) every time."""

    saved: list[R] = field(default_factory=list)
    unsaved: list[Unsaved[R]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every record was saved."""
        return not self.unsaved

    def __add__(self, other: BulkResult[R]) -> BulkResult[R]:
        return BulkResult(self.saved + other.saved, self.unsaved + other.unsaved)
