"""Debounce: identical events from the same user within a short window count once.

Auto-capture sees a rapid tap-tap-tap on one button, or a window shown twice as it is restored, as
several events; the spec's auto-capture groups them into one. The key includes the user, so two
users' views on one web server never merge.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable


class Debouncer:
    """Remembers when each key was last let through; bounded to ``max_keys`` recent keys."""

    def __init__(self, window: float, max_keys: int = 10_000) -> None:
        self.window = window
        self._max_keys = max_keys
        self._seen: dict[Hashable, float] = {}
        self._lock = threading.Lock()

    def is_repeat(self, key: Hashable, now: float | None = None) -> bool:
        """True if ``key`` was let through less than ``window`` seconds ago; else record it."""
        if self.window <= 0:
            return False
        if now is None:
            now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < self.window:
                return True
            self._seen[key] = now
            if len(self._seen) > self._max_keys:
                self._prune(now)
            return False

    def _prune(self, now: float) -> None:
        fresh = {k: t for k, t in self._seen.items() if now - t < self.window}
        if len(fresh) > self._max_keys // 2:
            # Still too many live keys: keep the most recent half.
            newest = sorted(fresh.items(), key=lambda item: item[1])[-(self._max_keys // 2) :]
            fresh = dict(newest)
        self._seen = fresh

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
