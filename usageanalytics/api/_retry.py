"""When a failed call is sent again, and after how long (shared by the sync and async clients)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from ._endpoints import Call
from .errors import ApiConnectionError, ApiError, RateLimitedError, ServerError


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; the server's Retry-After wins when it gives one.

    A Retry-After longer than ``max_retry_after`` is not waited for: the call raises
    :class:`RateLimitedError` at once, with ``retry_after``, and the caller decides. One that is
    not a wait at all (``nan``, negative, garbage: see ``parse_retry_after``) is ignored,
    and the call backs off as after any 429.
    """

    max_retries: int = 3
    backoff: float = 0.5
    max_backoff: float = 30.0
    max_retry_after: float = 60.0

    def delay(self, call: Call[Any], attempt: int, error: ApiError) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to raise ``error`` now."""
        if attempt >= self.max_retries:
            return None
        if isinstance(error, RateLimitedError):
            # The server turned the request away unapplied: safe to resend even for a create.
            wait = error.retry_after
            if wait is None or not math.isfinite(wait) or wait < 0:
                return self._backoff(attempt)
            return float(wait) if wait <= self.max_retry_after else None
        if isinstance(error, ApiConnectionError) and not error.request_sent:
            return self._backoff(attempt)
        if isinstance(error, (ServerError, ApiConnectionError)) and call.retry_safe:
            return self._backoff(attempt)
        return None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff, self.backoff * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)
