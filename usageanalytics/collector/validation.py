"""Request checks for every SmartKarrot v4 endpoint, taken from the spec's tables.

Pure Python (no web framework) so the collector and the tests' strict server share one reading of
the spec: the six tracking endpoints, the financial endpoints and case management. ``strict=True``
demands every field a table marks required; ``strict=False`` accepts the spec's own samples, which
omit ``idempotencyId`` (user, user attribute) and the top-level ``sessionId`` (session start and
end), or name an order's product ``productId`` (the financial curl example), as clients in the wild
send them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Any

PLATFORMS = ("iOS", "Android", "Web")
ACCOUNT_STATUSES = ("Active", "Inactive")
LOGIN_MECHANISMS = ("AUTH", "GUEST")
DATA_TYPES = ("String", "Number", "Date", "Boolean")
MAX_EVENT_PARAMETERS = 5
MAX_LOGO_BYTES = 3 * 1024 * 1024


class InvalidInput(ValueError):
    """A request the spec calls invalid; ``field`` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def is_iso_timestamp(value: Any) -> bool:
    """True for an ISO 8601 date or date-time string (``Z`` accepted on every Python version)."""
    if not isinstance(value, str) or not value:
        return False
    try:
        parse_moment(value)
    except ValueError:
        return False
    return True


def parse_moment(value: str) -> datetime:
    """An ISO 8601 date or date-time (``Z`` accepted on every Python version; a date is its
    midnight) as an aware datetime, naive times taken as UTC. Raises ValueError."""
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = datetime.combine(date.fromisoformat(value), datetime.min.time())
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def require_object(body: Any, where: str = "body") -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidInput(where, "must be a JSON object")
    return body


def require_string(body: Mapping[str, Any], field: str, where: str = "") -> str:
    value = body.get(field)
    name = f"{where}{field}"
    if value is None:
        raise InvalidInput(name, "is required")
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(name, "must be a non-empty string")
    return value


def optional_string(body: Mapping[str, Any], field: str, where: str = "") -> str | None:
    if body.get(field) is None:
        return None
    return require_string(body, field, where)


def require_enum(
    body: Mapping[str, Any],
    field: str,
    allowed: tuple[str, ...],
    where: str = "",
    required: bool = True,
) -> str | None:
    value = body.get(field)
    if value is None and not required:
        return None
    value = require_string(body, field, where)
    if value not in allowed:
        raise InvalidInput(f"{where}{field}", f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def require_list(body: Mapping[str, Any], field: str, where: str = "", non_empty: bool = True) -> list[Any]:
    value = body.get(field)
    if value is None:
        raise InvalidInput(f"{where}{field}", "is required")
    if not isinstance(value, list):
        raise InvalidInput(f"{where}{field}", "must be an array")
    if non_empty and not value:
        raise InvalidInput(f"{where}{field}", "must not be empty")
    return value


def require_timestamp(body: Mapping[str, Any], field: str, where: str = "") -> str:
    value = require_string(body, field, where)
    if not is_iso_timestamp(value):
        raise InvalidInput(f"{where}{field}", f"must be an ISO 8601 timestamp, got {value!r}")
    return value


EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
MAX_FUTURE = timedelta(days=1)


def check_moment(value: str, name: str) -> None:
    """When something happened must be plausible: from 2000-01-01 to a day ahead of now.

    A year 999 or 9999 is a client bug (a date parsed wrongly, milliseconds taken for seconds),
    and one client clock in 2099 must not move every chart to 2099.
    """
    try:
        moment = parse_moment(value).astimezone(timezone.utc)
    except OverflowError:
        raise InvalidInput(name, f"{value!r} is not a moment between 2000-01-01 and tomorrow") from None
    latest = datetime.now(timezone.utc) + MAX_FUTURE
    if not EARLIEST <= moment <= latest:
        raise InvalidInput(
            name,
            f"{value!r} is outside the accepted window, 2000-01-01 to {latest:%Y-%m-%dT%H:%MZ} "
            "(now + 1 day): check the client's clock and how it formats times",
        )


def require_moment(body: Mapping[str, Any], field: str, where: str = "") -> str:
    """A timestamp of something that happened (see :func:`check_moment`)."""
    value = require_timestamp(body, field, where)
    check_moment(value, f"{where}{field}")
    return value


def check_typed_value(item: Mapping[str, Any], where: str) -> None:
    """The ``dataType`` and its value field (spec: "A Event parameter structure")."""
    data_type = require_enum(item, "dataType", DATA_TYPES, where)
    if data_type in ("String", "Date"):
        value = item.get("stringValue")
        if not isinstance(value, str):
            raise InvalidInput(f"{where}stringValue", f"is required for dataType {data_type}")
        if data_type == "Date" and not is_iso_timestamp(value):
            raise InvalidInput(f"{where}stringValue", f"must be an ISO 8601 date, got {value!r}")
    elif data_type == "Number":
        value = item.get("numberValue")
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise InvalidInput(f"{where}numberValue", "is required for dataType Number")
    else:
        if not isinstance(item.get("booleanValue"), bool):
            raise InvalidInput(f"{where}booleanValue", "is required for dataType Boolean")


def _parameter_names(event: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {p["attributeName"]: p for p in event.get("parameters") or []}


# The spec's reserved events and the parameters each one requires (spec: "Log app_session_start
# events", "Log app_session_end events", "Log page_load_event events").
RESERVED_EVENT_PARAMETERS: dict[str, tuple[str, ...]] = {
    "app_session_start": ("sessionId", "startTime"),
    "app_session_end": ("sessionId", "endTime"),
    "page_load_event": ("requestCount", "loadTime", "pageUrl"),
}


def validate_customer(body: Mapping[str, Any], strict: bool) -> None:
    for field in ("appId", "accountId", "name"):
        require_string(body, field)
    require_enum(body, "status", ACCOUNT_STATUSES)
    logo = body.get("base64EncodedLogoImage")
    if logo is not None:
        if not isinstance(logo, str):
            raise InvalidInput("base64EncodedLogoImage", "must be a base64 string")
        if len(logo) * 3 // 4 >= MAX_LOGO_BYTES:
            raise InvalidInput("base64EncodedLogoImage", "the image must be smaller than 3 MB")
    if body.get("productIds") is not None:
        for index, product in enumerate(require_list(body, "productIds", non_empty=False)):
            if not isinstance(product, str) or not product:
                raise InvalidInput(f"productIds[{index}]", "must be a non-empty string")


def _envelope(body: Mapping[str, Any], strict: bool, idempotent: bool) -> None:
    require_string(body, "appId")
    require_string(body, "userId")
    require_enum(body, "platform", PLATFORMS)
    for field in ("sessionId", "deviceId"):
        optional_string(body, field)
    if idempotent:
        if strict:
            require_string(body, "idempotencyId")
        else:
            optional_string(body, "idempotencyId")


def validate_user(body: Mapping[str, Any], strict: bool) -> None:
    _envelope(body, strict, idempotent=True)
    require_string(body, "customerAccountId")
    require_enum(body, "status", ACCOUNT_STATUSES)
    require_enum(body, "loginMechanism", LOGIN_MECHANISMS)
    for field in ("bundleId", "lastLoggedInUserId"):
        optional_string(body, field)


def validate_events(body: Mapping[str, Any], strict: bool) -> None:
    _envelope(body, strict, idempotent=False)
    require_string(body, "customerAccountId")
    optional_string(body, "productId")
    for index, event in enumerate(require_list(body, "events")):
        where = f"events[{index}]."
        event = require_object(event, where.rstrip("."))
        name = require_string(event, "name", where)
        require_moment(event, "loggedAtTime", where)
        parameters = event.get("parameters")
        if parameters is not None:
            parameters = require_list(event, "parameters", where, non_empty=False)
            if len(parameters) > MAX_EVENT_PARAMETERS:
                raise InvalidInput(
                    f"{where}parameters",
                    f"an event can have up to {MAX_EVENT_PARAMETERS} attributes, got {len(parameters)}",
                )
            for p_index, parameter in enumerate(parameters):
                p_where = f"{where}parameters[{p_index}]."
                parameter = require_object(parameter, p_where.rstrip("."))
                require_string(parameter, "attributeName", p_where)
                check_typed_value(parameter, p_where)
        required = RESERVED_EVENT_PARAMETERS.get(name)
        if required:
            present = _parameter_names(event)
            for parameter_name in required:
                if parameter_name not in present:
                    raise InvalidInput(f"{where}parameters", f"{name} requires {parameter_name!r}")
            for moment in ("startTime", "endTime"):
                if moment in required:
                    parameter = present[moment]
                    value = parameter.get("stringValue")
                    if not isinstance(value, str) or not is_iso_timestamp(value):
                        raise InvalidInput(
                            f"{where}parameters.{moment}", "must be an ISO 8601 timestamp in stringValue"
                        )
                    check_moment(value, f"{where}parameters.{moment}")
            if name.startswith("app_session_") and strict:
                require_string(body, "sessionId")


def validate_user_attributes(body: Mapping[str, Any], strict: bool) -> None:
    _envelope(body, strict, idempotent=True)
    optional_string(body, "customerAccountId")
    for index, attribute in enumerate(require_list(body, "userAttributes")):
        where = f"userAttributes[{index}]."
        attribute = require_object(attribute, where.rstrip("."))
        require_string(attribute, "name", where)
        require_moment(attribute, "loggedAtTime", where)
        check_typed_value(attribute, where)


def validate_device_attributes(body: Mapping[str, Any], strict: bool) -> None:
    _envelope(body, strict, idempotent=True)
    attributes = body.get("deviceAttributes")
    if not isinstance(attributes, Mapping) or not attributes:
        raise InvalidInput("deviceAttributes", "is required: a non-empty map of strings")
    for key, value in attributes.items():
        if not isinstance(value, str):
            raise InvalidInput(f"deviceAttributes.{key}", "values must be strings")


def validate_device_token(body: Mapping[str, Any], strict: bool) -> None:
    _envelope(body, strict, idempotent=True)
    require_string(body, "deviceToken")
    in_distribution = body.get("appInDistribution")
    if in_distribution is not None and not isinstance(in_distribution, bool):
        raise InvalidInput("appInDistribution", "must be a boolean")
    if body.get("platform") == "iOS" and in_distribution is None:
        raise InvalidInput("appInDistribution", "is required when platform is iOS")


TRACKING_VALIDATORS: dict[str, Callable[[Mapping[str, Any], bool], None]] = {
    "usageanalytics/customer": validate_customer,
    "usageanalytics/user": validate_user,
    "usageanalytics/event": validate_events,
    "usageanalytics/user/attribute": validate_user_attributes,
    "usageanalytics/device/attribute": validate_device_attributes,
    "usageanalytics/device/token": validate_device_token,
}


def validate_tracking(path: str, body: Any, *, strict: bool = True) -> None:
    """Raise :class:`InvalidInput` unless ``body`` is a valid request for tracking ``path``.

    ``path`` is relative to the v4 base, with or without slashes (``usageanalytics/event``).
    """
    key = path.strip("/")
    validator = TRACKING_VALIDATORS.get(key)
    if validator is None:
        raise KeyError(f"not a tracking endpoint: {path!r}")
    validator(require_object(body), strict)


# -- financial data (spec: "Financial Data Integration", base /dashboards/v4/financial) ----------------

ORDER_STATUSES = ("Activated", "Draft")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def require_day(body: Mapping[str, Any], field: str, where: str = "") -> str:
    """A calendar date in the spec's 'yyyy-MM-dd' format, and a real one (no 2021-02-30)."""
    value = require_string(body, field, where)
    if not _DAY.fullmatch(value):
        raise InvalidInput(f"{where}{field}", f"must be a date in yyyy-MM-dd format, got {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{where}{field}", f"is not a calendar date: {value!r}") from None
    return value


def require_number(
    body: Mapping[str, Any], field: str, where: str = "", *, decimal_string: bool = False
) -> float:
    """A finite JSON number; with ``decimal_string`` also the spec's Decimal type (digits in a string)."""
    value = body.get(field)
    name = f"{where}{field}"
    if value is None:
        raise InvalidInput(name, "is required")
    if decimal_string and isinstance(value, str) and _DECIMAL.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInput(name, f"must be a number, got {value!r}")
    return float(value)


_DECIMAL = re.compile(r"-?\d+(\.\d+)?")


def validate_order(body: Mapping[str, Any], strict: bool) -> None:
    """POST /orders. ``strict=False`` accepts ``productId`` for ``orgProductId``, as the spec's curl does."""
    for field in ("customerAccountId", "appId", "orderId"):
        require_string(body, field)
    if strict or body.get("orgProductId") is not None or body.get("productId") is None:
        require_string(body, "orgProductId")
    else:
        require_string(body, "productId")
    require_enum(body, "status", ORDER_STATUSES)
    require_number(body, "amount")
    start = require_day(body, "effectiveDate")
    end = require_day(body, "endDate")
    if end < start:
        raise InvalidInput("endDate", f"must not be before effectiveDate ({end} < {start})")


def validate_app_financial_data(body: Mapping[str, Any], strict: bool) -> None:
    """POST /app-financial-data: the churn tolerance is a fraction (0.05 is 5%)."""
    require_string(body, "appId")
    tolerance = require_number(body, "logoChurnTolerance", decimal_string=True)
    if not 0 <= tolerance <= 1:
        raise InvalidInput("logoChurnTolerance", f"must be a fraction between 0 and 1, got {tolerance}")


def validate_account_financial_data(body: Mapping[str, Any], strict: bool) -> None:
    require_string(body, "customerAccountId")
    require_string(body, "appId")
    require_day(body, "accountStartDate")
    if require_number(body, "arrTarget") < 0:
        raise InvalidInput("arrTarget", "must not be negative")


def validate_financial_delete(body: Mapping[str, Any], strict: bool) -> None:
    """DELETE /orders/{id} and /account-financial-data/{id} name the app in the body."""
    require_string(body, "appId")


FINANCIAL_VALIDATORS: dict[str, Callable[[Mapping[str, Any], bool], None]] = {
    "orders": validate_order,
    "app-financial-data": validate_app_financial_data,
    "account-financial-data": validate_account_financial_data,
}


def validate_financial(path: str, body: Any, *, strict: bool = True) -> None:
    """Raise :class:`InvalidInput` unless ``body`` is a valid POST to financial ``path`` (``orders``)."""
    validator = FINANCIAL_VALIDATORS.get(path.strip("/"))
    if validator is None:
        raise KeyError(f"not a financial endpoint: {path!r}")
    validator(require_object(body), strict)


# -- case management under /v4/ (spec: "Tickets (Case Management) Integration") -----------------------

CREATED_BY_TYPES = ("agent", "contact")
ESCALATIONS = ("escalated", "notEscalated")
MAX_CONTACTS_PER_PAGE = 1000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")

# The optional fields a contact or agent may carry, besides the required email and firstName.
CONTACT_FIELDS = ("lastName", "customerContactId", "role", "countryCode", "phoneNumber", "uploadedImageUrl")
AGENT_FIELDS = ("lastName", "customerAgentId", "countryCode", "phoneNumber", "uploadedImageUrl")
TICKET_FIELDS = (
    "visibleId",
    "accountId",
    "ticketName",
    "createdBy",
    "assignedTo",
    "priority",
    "status",
    "type",
)


def validate_people(body: Any, field: str) -> list[Any]:
    """POST /contacts or /agents as a whole (``field`` names the list); each person is judged
    alone by :func:`person_problem`."""
    body = require_object(body)
    require_string(body, "appId")
    return require_list(body, field)


def person_problem(person: Any, optional_fields: tuple[str, ...]) -> str | None:
    """Why one contact or agent of a bulk save cannot be saved, or None.

    The spec answers a bulk save with saved and unsaved counts (its sample's second contact has no
    email and comes back unsaved), so a bad item is reported, not a reason to reject the request.
    """
    try:
        person = require_object(person, "item")
        email = require_string(person, "email")
        if not _EMAIL.fullmatch(email.strip()):
            raise InvalidInput("email", f"is not an email address: {email!r}")
        require_string(person, "firstName")
        for field in optional_fields:
            value = person.get(field)
            if value is not None and not isinstance(value, str):
                raise InvalidInput(field, "must be a string")
    except InvalidInput as exc:
        return str(exc)
    return None


def validate_contacts_query(params: Mapping[str, Any]) -> int:
    """GET /contacts: returns the page size (1 to 1,000, 1,000 when not given)."""
    require_string(params, "appId")
    for field in ("emailId", "salesforceId", "nextPageToken"):
        optional_string(params, field)
    limit = params.get("limit")
    if limit is None:
        return MAX_CONTACTS_PER_PAGE
    try:
        number = int(str(limit).strip()) if not isinstance(limit, bool) else None
    except ValueError:
        number = None
    if number is None or (isinstance(limit, float) and not limit.is_integer()):
        raise InvalidInput("limit", f"must be a whole number, got {limit!r}")
    if not 1 <= number <= MAX_CONTACTS_PER_PAGE:
        raise InvalidInput("limit", f"must be between 1 and {MAX_CONTACTS_PER_PAGE:,}, got {number}")
    return number


def _ticket_fields(body: Mapping[str, Any]) -> None:
    for field in TICKET_FIELDS:
        optional_string(body, field)
    require_enum(body, "createdByType", CREATED_BY_TYPES, required=False)
    require_enum(body, "escalation", ESCALATIONS, required=False)
    if body.get("dueDate") is not None:
        require_timestamp(body, "dueDate")
    custom = body.get("customFields")
    if custom is not None and not isinstance(custom, Mapping):
        raise InvalidInput("customFields", "must be a JSON object of key-value pairs")


def validate_ticket(body: Any) -> Mapping[str, Any]:
    """POST /tickets."""
    checked = require_object(body)
    require_string(checked, "appId")
    _ticket_fields(checked)
    return checked


def validate_ticket_update(body: Any) -> Mapping[str, Any]:
    """PUT /tickets: the ticket's ``id`` and the fields to change (unknown fields are ignored)."""
    checked = require_object(body)
    require_string(checked, "id")
    _ticket_fields(checked)
    return checked


def validate_comment(body: Any) -> Mapping[str, Any]:
    """POST /tickets/comments."""
    checked = require_object(body)
    require_string(checked, "ticketId")
    require_string(checked, "description")
    optional_string(checked, "createdBy")
    require_enum(checked, "createdByType", CREATED_BY_TYPES, required=False)
    return checked


def validate_comment_update(body: Any) -> Mapping[str, Any]:
    """PUT /tickets/comments."""
    checked = require_object(body)
    require_string(checked, "id")
    require_string(checked, "description")
    return checked
