"""Models to JSON and back: snake_case ⇄ camelCase, dates, enums, and the checks models share.

Request models call the ``check_*`` helpers from ``__post_init__`` so a bad value is refused where
it is written, before anything is sent. Response models are read leniently: the server is
authoritative, so an unknown key is kept in ``extra`` and an unknown enum value stays a string.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import math
import re
import types
import typing
from collections.abc import Mapping
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, TypeVar

from ..exchange import shown
from ..wire import datetime_timestamp
from .errors import InvalidInputError, UnexpectedResponseError

M = TypeVar("M")
E = TypeVar("E", bound=enum.Enum)

WIRE_NAME = "wire"  # field metadata key: the JSON name when it is not the camelCase of the field


def camel(name: str) -> str:
    """``customer_account_id`` → ``customerAccountId``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def wire_name(field: dataclasses.Field[Any]) -> str:
    return str(field.metadata.get(WIRE_NAME) or camel(field.name))


# -- checks used by request models ------------------------------------------------------------


def check_text(model: object, *names: str, required: bool = True) -> None:
    """Each named field must be a non-empty string (or None when not required)."""
    for name in names:
        value = getattr(model, name)
        if value is None and not required:
            continue
        if not isinstance(value, str) or not value.strip():
            what = "is required" if value is None else f"must be a non-empty string, got {value!r}"
            raise InvalidInputError(f"{name} {what}")


def check_enum(model: object, name: str, kind: type[E], required: bool = True) -> None:
    """Turn a plain string into the enum member, or refuse it naming the allowed values."""
    value = getattr(model, name)
    if value is None and not required:
        return
    if isinstance(value, kind):
        return
    try:
        setattr(model, name, kind(value))
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kind)
        raise InvalidInputError(f"{name} must be one of {allowed}, got {value!r}") from None


def check_number(model: object, name: str, *, minimum: float | None = None) -> None:
    """A finite JSON number (``Decimal`` becomes ``float``; ``bool`` is not a number)."""
    value = getattr(model, name)
    if isinstance(value, Decimal):
        value = float(value)
        setattr(model, name, value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise InvalidInputError(f"{name} must be at least {minimum}, got {value!r}")


def check_day(model: object, *names: str, required: bool = True) -> None:
    """A calendar date, sent as yyyy-MM-dd; an ISO string is accepted and parsed."""
    for name in names:
        value = getattr(model, name)
        if value is None and not required:
            continue
        if isinstance(value, datetime):
            raise InvalidInputError(f"{name} is a calendar date: pass a date, not a datetime")
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                raise InvalidInputError(f"{name} must be a date (yyyy-MM-dd), got {value!r}") from None
            setattr(model, name, value)
        if not isinstance(value, date):
            raise InvalidInputError(f"{name} must be a date, got {value!r}")


def check_string_map(model: object, name: str) -> None:
    value = getattr(model, name)
    if value is None:
        return
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidInputError(f"{name} must map strings to strings, got {value!r}")


def check_string_list(model: object, name: str) -> None:
    value = getattr(model, name)
    if value is None:
        return
    if isinstance(value, str) or not all(isinstance(item, str) and item for item in value):
        raise InvalidInputError(f"{name} must be a list of non-empty strings, got {value!r}")
    setattr(model, name, list(value))


def model_from(kind: type[M], record: M | Mapping[str, Any]) -> M:
    """A model from a model or from a dict with the same snake_case keys; InvalidInputError if not.

    A model is checked again (through a copy), in case a field was changed after it was built.
    """
    if isinstance(record, kind):
        return dataclasses.replace(record)  # type: ignore[type-var]
    if not isinstance(record, Mapping):
        raise InvalidInputError(f"expected a {kind.__name__} or a dict, got {type(record).__name__}")
    known = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    unknown = sorted(set(record) - set(known))
    if unknown:
        raise InvalidInputError(f"unknown field {', '.join(map(repr, unknown))} for {kind.__name__}")
    missing = [
        name
        for name, f in known.items()
        if f.init
        and name not in record
        and f.default is dataclasses.MISSING
        and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise InvalidInputError(f"{', '.join(missing)} is required")
    return kind(**record)


# -- to the wire --------------------------------------------------------------------------------


def wire_value(value: Any) -> Any:
    """A Python value as the spec writes it: enums by value, timestamps in UTC, dates yyyy-MM-dd."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return datetime_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): wire_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [wire_value(v) for v in value]
    return value


def to_wire(model: Any) -> dict[str, Any]:
    """The request body of a model: camelCase keys, fields left at None omitted."""
    body: dict[str, Any] = {}
    for field in dataclasses.fields(model):
        if field.metadata.get(WIRE_NAME) is False:
            continue
        value = getattr(model, field.name)
        if value is not None:
            body[wire_name(field)] = wire_value(value)
    return body


# -- from the wire ------------------------------------------------------------------------------

_MONTHS = {
    name: index
    for index, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
# "Jan 18, 2021 4:34:29 AM": the spec's createTime/updateTime (see _endpoints). Parsed by hand,
# because strptime's %b follows the host app's locale.
_HUMAN_TIME = re.compile(
    r"^\s*([A-Za-z]{3})[a-z]*\.?\s+(\d{1,2}),\s*(\d{4}),?\s+(\d{1,2}):(\d{2}):(\d{2})\s*([AaPp][Mm])\s*$"
)
_ISO_FRACTION = re.compile(r"(\.\d+)")


def parse_timestamp(text: str) -> datetime:
    """An aware UTC datetime from ISO 8601 (any fraction, ``Z``) or the spec's "Jan 18, 2021 4:34:29 AM".

    Times without a zone are taken as UTC, the spec's zone for every timestamp ("Data Types").
    """
    match = _HUMAN_TIME.match(text)
    if match:
        month, day, year, hour, minute, second, half = match.groups()
        if month.lower() not in _MONTHS:
            raise ValueError(f"unknown month in {text!r}")
        hour_24 = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
        return datetime(
            int(year),
            _MONTHS[month.lower()],
            int(day),
            hour_24,
            int(minute),
            int(second),
            tzinfo=timezone.utc,
        )
    iso = text.strip()
    if iso.endswith(("Z", "z")):
        iso = iso[:-1] + "+00:00"
    # Python 3.10 reads only 3 or 6 fraction digits: pad or cut to microseconds.
    iso = _ISO_FRACTION.sub(lambda m: (m.group(1) + "000000")[:7], iso, count=1)
    parsed = datetime.fromisoformat(iso)
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _leaf(hint: Any) -> list[Any]:
    """The non-None members of a hint such as ``datetime | None`` or ``Escalation | str | None``."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return [member for member in typing.get_args(hint) if member is not type(None)]
    return [hint]


def _read(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    members = _leaf(hint)
    for member in members:
        if isinstance(member, type) and issubclass(member, enum.Enum):
            try:
                return member(value)
            except ValueError:
                continue  # an enum value the spec does not list: keep the string
        elif member is datetime and isinstance(value, str):
            try:
                return parse_timestamp(value)
            except ValueError:
                return value if str in members else None
        elif member is date and isinstance(value, str):
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                return None
        elif dataclasses.is_dataclass(member) and isinstance(member, type) and isinstance(value, Mapping):
            return from_wire(member, value)
        elif typing.get_origin(member) is list and isinstance(value, list):
            (item,) = typing.get_args(member) or (Any,)
            return [_read(item, v) for v in value]
    return value


@functools.cache
def _hints(kind: Any) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def from_wire(kind: type[M], data: Mapping[str, Any]) -> M:
    """A response model from a JSON object; unknown keys go to the model's ``extra`` field."""
    if not isinstance(data, Mapping):
        raise UnexpectedResponseError(f"expected a JSON object for {kind.__name__}, got {shown(data)}")
    hints = _hints(typing.cast(Any, kind))
    values: dict[str, Any] = {}
    used: set[str] = set()
    for field in dataclasses.fields(kind):  # type: ignore[arg-type]
        if field.name == "extra":
            continue
        key = wire_name(field)
        if key in data:
            used.add(key)
            values[field.name] = _read(hints[field.name], data[key])
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise UnexpectedResponseError(f"the server's {kind.__name__} has no {key!r}: {shown(dict(data))}")
    if "extra" in {f.name for f in dataclasses.fields(kind)}:  # type: ignore[arg-type]
        values["extra"] = {k: v for k, v in data.items() if k not in used}
    return kind(**values)
