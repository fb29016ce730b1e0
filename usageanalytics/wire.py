"""The SmartKarrot v4 wire format: timestamps, typed values and the tracking endpoints.

One place turns Python values into what the spec's tables allow, so the SDK, the collector and
the REST clients agree on every byte (spec: "Data Types", "Log Custom Events Endpoint").
"""

from __future__ import annotations

import enum
import math
import time
from datetime import date, datetime, timezone
from typing import Any, Final, TypeAlias

Value: TypeAlias = str | bool | int | float | date | datetime
"""What an event or user attribute may hold (bool is tested before int: it is a subclass)."""


class UserAttribute(str, enum.Enum):
    """The spec's standard user attributes, with their wire names."""

    USER_ID = "User Id"
    NAME = "Name"
    EMAIL_ID = "Email Id"
    MOBILE_NUMBER = "Mobile Number"
    DATE_OF_BIRTH = "Date Of Birth"
    GENDER = "Gender"
    COUNTRY = "Country"
    LANGUAGE = "Language"
    DESIGNATION = "Designation"
    PERSONA = "Persona"

    def __str__(self) -> str:
        return self.value


class EventAttribute(str, enum.Enum):
    """The spec's standard event attributes."""

    MODULE = "Module"
    SCREEN_NAME = "Screen Name"

    def __str__(self) -> str:
        return self.value


MAX_EVENT_ATTRIBUTES: Final = 5
SCREEN_VIEW: Final = "Screen View"
PAGE_LOAD: Final = "page_load_event"
SESSION_START: Final = "app_session_start"
SESSION_END: Final = "app_session_end"

# Endpoint paths, relative to the v4 base URL, one per kind of record the SDK queues.
USER_PATH: Final = "usageanalytics/user"
EVENT_PATH: Final = "usageanalytics/event"
USER_ATTRIBUTE_PATH: Final = "usageanalytics/user/attribute"
DEVICE_ATTRIBUTE_PATH: Final = "usageanalytics/device/attribute"
DEVICE_TOKEN_PATH: Final = "usageanalytics/device/token"
CUSTOMER_PATH: Final = "usageanalytics/customer"


_second: tuple[int, str] = (-1, "")  # the last second formatted, reused within that second
_last: tuple[float, str] = (-1.0, "")  # the last time formatted: a page view's two events share it


def timestamp(epoch: float | None = None) -> str:
    """UTC, ISO 8601, millisecond precision, ``Z``: ``2018-09-29T09:58:44.635Z``."""
    global _second, _last
    if epoch is None:
        epoch = time.time()
    last_epoch, text = _last
    if epoch == last_epoch:
        return text
    seconds, millis = divmod(round(epoch * 1000), 1000)
    cached_second, prefix = _second
    if seconds != cached_second:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second = (seconds, prefix)
    text = f"{prefix}.{millis:03d}Z"
    _last = (epoch, text)
    return text


def datetime_timestamp(value: datetime) -> str:
    """A datetime in the wire format; naive datetimes are taken as local time."""
    utc = value.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


_UNSUPPORTED = "is not a supported attribute type (use str, int, float, bool, date or datetime)"


_INT_RANGE = range(-(2**63), 2**64)  # what a JSON number (and orjson) can carry exactly


def value_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an attribute, or None if it can (cheap: the caller's thread)."""
    if isinstance(value, str):
        return None
    if isinstance(value, int):  # bool too
        return None if value in _INT_RANGE else f"{value!r} is too large for a JSON number"
    if isinstance(value, datetime):
        try:
            value.astimezone(timezone.utc)
        except (OverflowError, OSError, ValueError) as exc:
            return f"{value!r} cannot be converted to UTC ({exc})"
        return None
    if isinstance(value, date):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{value!r} is not a number JSON can carry"
    if isinstance(value, enum.Enum) and isinstance(value.value, (str, int, float)):
        return value_problem(value.value)
    return f"{type(value).__name__} {_UNSUPPORTED}"


def typed_value(value: Any) -> dict[str, Any]:
    """The ``dataType`` and value fields for one attribute value.

    Raises ``TypeError`` for a type the spec cannot carry and ``ValueError`` for NaN or infinity.
    """
    if isinstance(value, str):
        return {"dataType": "String", "stringValue": value}
    if isinstance(value, bool):
        return {"dataType": "Boolean", "booleanValue": value}
    if isinstance(value, int):
        return {"dataType": "Number", "numberValue": value}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(value_problem(value))
        return {"dataType": "Number", "numberValue": value}
    if isinstance(value, datetime):
        return {"dataType": "Date", "stringValue": datetime_timestamp(value)}
    if isinstance(value, date):
        return {"dataType": "Date", "stringValue": value.isoformat()}
    if isinstance(value, enum.Enum) and isinstance(value.value, (str, int, float)):
        return typed_value(value.value)
    raise TypeError(f"{type(value).__name__} {_UNSUPPORTED}")


def event_parameters(pairs: tuple[tuple[str, Any], ...]) -> list[dict[str, Any]]:
    """The spec's ``parameters`` list for checked (name, value) pairs."""
    parameters = []
    for name, value in pairs:
        kind = type(value)
        if kind is str:  # the common cases first, without building a dict twice
            parameters.append({"attributeName": name, "dataType": "String", "stringValue": value})
        elif kind is int or kind is float:
            parameters.append({"attributeName": name, "dataType": "Number", "numberValue": value})
        else:
            parameters.append({"attributeName": name, **typed_value(value)})
    return parameters
