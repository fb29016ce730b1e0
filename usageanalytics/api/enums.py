"""The spec's enumerations, as ``str`` enums so a member compares equal to its wire value.

Every parameter typed with one of these also accepts the plain string (``"Active"``); the models
turn it into the member, or reject it with the allowed values, before anything is sent.
"""

from __future__ import annotations

import enum


class _WireEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)


class AccountStatus(_WireEnum):
    """Status of a customer account or user (spec: "Create or Update Customer Account Endpoint")."""

    ACTIVE = "Active"
    INACTIVE = "Inactive"


class LoginMechanism(_WireEnum):
    """``AUTH`` for a user known to your system, ``GUEST`` otherwise (spec: "Create or Update User")."""

    AUTH = "AUTH"
    GUEST = "GUEST"


class Platform(_WireEnum):
    """The platforms the spec knows; a Python backend reports ``Web``."""

    IOS = "iOS"
    ANDROID = "Android"
    WEB = "Web"


class OrderStatus(_WireEnum):
    """Status of an order (spec: "Create or Update an order")."""

    ACTIVATED = "Activated"
    DRAFT = "Draft"


class CreatorType(_WireEnum):
    """Who created a ticket or a comment (spec: ``createdByType``)."""

    AGENT = "agent"
    CONTACT = "contact"


class Escalation(_WireEnum):
    """Whether a ticket is escalated (spec: "Create a Ticket")."""

    ESCALATED = "escalated"
    NOT_ESCALATED = "notEscalated"
