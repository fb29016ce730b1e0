"""What a tracking call accepts: ids, names and text values made valid, or refused with why.

Checked on the caller's thread, cheaply, so nothing that cannot be encoded reaches the writer:

- ids (user, account, product, guest, session) must be non-empty strings of at most
  :data:`MAX_ID_LENGTH` characters; bytes, numbers and Decimals are refused with a clear message;
- text with lone surrogates (``bytes.decode(errors="surrogateescape")`` makes them, from cookies
  and file names) is not valid Unicode and cannot be JSON: the surrogates are escaped as
  ``\\udc80`` text, which keeps two different ids different;
- string attribute values longer than :data:`MAX_VALUE_LENGTH` characters are trimmed (so one
  record always fits a request), names longer than :data:`MAX_NAME_LENGTH` too.
"""

from __future__ import annotations

import reprlib
from typing import Any

MAX_ID_LENGTH = 1024
MAX_NAME_LENGTH = 1024
MAX_VALUE_LENGTH = 8192


class Refused(ValueError):
    """Input that cannot be made valid; the message says why."""


def escape_surrogates(text: str) -> str:
    """``text`` with lone surrogates written as ``\\udxxx`` escapes (``text`` itself if none)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


_SHORT = reprlib.Repr()
_SHORT.maxlevel = 3  # a value nested thousands deep is described, not recursed into
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 80


def describe(value: Any) -> str:
    """What a refused value was, for a log line: never raises (an object whose ``__repr__``
    fails, a list nested past the recursion limit), never long, surrogates escaped."""
    try:
        text = _SHORT.repr(value)
    except Exception:
        text = "<its repr() failed>"
    text = escape_surrogates(text)
    return f"{type(value).__name__} {text[:60]}{'...' if len(text) > 60 else ''}"


def clean_id(what: str, value: Any) -> tuple[str, str | None]:
    """``(id, note)``: the id to send, and what was changed to make it valid (None if nothing).

    Raises :class:`Refused` for anything that is not a usable string.
    """
    if not isinstance(value, str):
        raise Refused(f"{what} must be a non-empty string, got {describe(value)}")
    value = str.__str__(value)  # a str subclass is sent as its text (its own methods not called)
    if not value.strip():
        raise Refused(f"{what} must be a non-empty string, got {describe(value)}")
    if len(value) > MAX_ID_LENGTH:
        raise Refused(f"{what} is longer than {MAX_ID_LENGTH} characters")
    escaped = escape_surrogates(value)
    if escaped is value:
        return value, None
    return escaped, f"{what} {escaped!r} had lone surrogates (bytes decoded with surrogateescape?); escaped"


def clean_text(what: str, value: str, limit: int) -> tuple[str, str | None]:
    """``(text, note)``: ``value`` trimmed to ``limit`` characters and with surrogates escaped."""
    note = None
    if len(value) > limit:
        note = f"{what} is {len(value):,} characters; trimmed to {limit:,}"
        value = value[:limit]
    escaped = escape_surrogates(value)
    if escaped is not value:
        note = f"{what} had lone surrogates; escaped" + (f" ({note})" if note else "")
    return escaped, note


def plain(value: Any) -> Any:
    """``value`` with every string valid Unicode and every container a plain dict or list.

    The slow path, used only when orjson refused a record: the fast path checks nothing.
    """
    if isinstance(value, str):
        return escape_surrogates(str(value))
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value
