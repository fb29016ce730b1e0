"""Who a record belongs to: the process-wide identity, or a per-request one in a context.

A web server serves many users at once, so the integrations put the request's user, guest id,
account and session in a ``contextvars`` context that wins over the process-wide identity while
the request runs; a request that must not be tracked at all (no consent) is marked in another.
New threads start with an empty context and asyncio tasks copy their parent's, so an identity
never leaks between requests or threads.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token


@dataclasses.dataclass(frozen=True)
class Identity:
    """A request's identity. ``guest_id`` is a stable anonymous id (a cookie, say): it keys the
    visitor's session, and records it logged move to ``user_id`` once both are known."""

    user_id: str | None = None
    guest_id: str | None = None
    customer_account_id: str | None = None
    product_id: str | None = None
    session_id: str | None = None
    source_ip: str | None = None


_current: ContextVar[Identity | None] = ContextVar("usageanalytics_identity", default=None)


current_identity: Callable[[], Identity | None] = _current.get
"""The identity set for the running context, or None outside any (the ContextVar's own ``get``:
every tracking call asks, and a bound C method costs no Python frame)."""


push_identity: Callable[[Identity], Token[Identity | None]] = _current.set
"""Set an identity for the current context; pass the token to :func:`pop_identity`. For
middleware whose start and end are separate callbacks; elsewhere use :func:`identity`. (The
ContextVar's own ``set``, as :data:`current_identity`: every captured request calls both.)"""

pop_identity: Callable[[Token[Identity | None]], None] = _current.reset
"""Undo :func:`push_identity` with its token."""


_untracked: ContextVar[str | None] = ContextVar("usageanalytics_untracked", default=None)


untracked_reason: Callable[[], str | None] = _untracked.get
"""Why the running context must not be tracked (a request without consent), or None (the
ContextVar's own ``get``, as :data:`current_identity`)."""


def push_untracked(reason: str) -> Token[str | None]:
    """Mark the current context as not tracked, for ``reason`` (what the ledger counts the
    refused calls under); pass the token to :func:`pop_untracked`. For web integrations: a
    request that sent ``Sec-GPC: 1``, or whose ``consent(request)`` said no."""
    return _untracked.set(reason)


def pop_untracked(token: Token[str | None]) -> None:
    _untracked.reset(token)


@contextlib.contextmanager
def identity(
    user_id: str | None = None,
    *,
    guest_id: str | None = None,
    customer_account_id: str | None = None,
    product_id: str | None = None,
    session_id: str | None = None,
    source_ip: str | None = None,
) -> Iterator[Identity]:
    """Attribute everything tracked inside the ``with`` block to this identity.

    >>> with identity("user-42", customer_account_id="acme"):
    ...     ua.log_event("Exported Report")
    """
    scoped = Identity(user_id, guest_id, customer_account_id, product_id, session_id, source_ip)
    token = _current.set(scoped)
    try:
        yield scoped
    finally:
        _current.reset(token)
