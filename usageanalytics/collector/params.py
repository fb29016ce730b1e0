"""Query-string values for the dashboard and the read API, checked: a bad one is a clear 400."""

from __future__ import annotations

from collections.abc import Mapping


class BadQuery(ValueError):
    """A query value that cannot be used; the message says which and what is expected."""


def text(params: Mapping[str, str], name: str, *, limit: int = 1000) -> str | None:
    """An optional string (empty means not given)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit:
        raise BadQuery(f"{name} is longer than {limit:,} characters")
    return value


def integer(params: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int | None:
    """An optional whole number between ``low`` and ``high``."""
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise BadQuery(f"{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise BadQuery(f"{name} must be between {low:,} and {high:,}, got {number:,}")
    return number


def choice(params: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str | None:
    value = text(params, name)
    if value is not None and value not in allowed:
        raise BadQuery(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value
