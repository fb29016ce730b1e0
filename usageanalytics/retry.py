"""When the sender may try again: exponential backoff with jitter, Retry-After, and auth pauses.

Kept apart from the sender, with an injected clock, so the rules are tested without waiting:

- a retryable failure waits ``base * 2**(attempt-1)`` seconds (capped at ``cap``), half of it
  random ("equal jitter"), so many clients that failed together do not retry together;
- a server's Retry-After replaces that wait, but never beyond ``cap``; a value that is not a
  finite, non-negative number of seconds is ignored;
- a refused key (401/403) pauses sending for longer;
- none of these stops ``flush()``: an explicit flush tries at once.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped at ``cap``."""
    delay = min(cap, base * 2.0 ** min(max(0, attempt - 1), 64))
    jitter = float((rng or random).uniform(0, delay / 2))
    return delay / 2 + jitter


def usable_retry_after(value: float | None, cap: float) -> float | None:
    """A server's Retry-After in seconds, capped at ``cap``; None if it is not usable."""
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return None
    return min(float(value), cap)


class RetryPolicy:
    """The sender's retry state: when the next background attempt may run."""

    def __init__(
        self,
        base: float,
        cap: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.base = base
        self.cap = cap
        self._clock = clock
        self._rng = rng
        self.attempt = 0
        self.retry_at = 0.0  # monotonic time before which background sends wait; 0: none
        self.paused_until = 0.0

    def failed(self, retry_after: float | None = None) -> float:
        """A retryable failure: returns the wait (seconds) before the next attempt."""
        self.attempt += 1
        delay = usable_retry_after(retry_after, self.cap)
        if delay is None:
            delay = backoff_delay(self.attempt, self.base, self.cap, self._rng)
        self.retry_at = self._clock() + delay
        return delay

    def pause(self, seconds: float) -> float:
        """The key was refused: wait ``seconds`` (a flush still tries at once)."""
        self.paused_until = self._clock() + seconds
        self.retry_at = max(self.retry_at, self.paused_until)
        return seconds

    def succeeded(self) -> None:
        self.attempt = 0
        self.retry_at = 0.0
        self.paused_until = 0.0

    def wait(self) -> float:
        """Seconds until a background attempt may run (0 if now)."""
        return max(0.0, self.retry_at - self._clock())
