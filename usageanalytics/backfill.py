"""Backfills: events logged with their own time (imports, history), and the sessions they imply.

``log_event(..., timestamp=datetime)`` records an event that happened at another moment, as
Segment's and PostHog's ``timestamp`` do. Two things follow from that:

- The moment must be plausible: from 2000-01-01 up to :data:`MAX_CLOCK_SKEW` into the future.
  Anything else is a bug in the caller (a date parsed wrongly, milliseconds taken for seconds).
- The user is not active *now*, so a backfilled event must not start or extend the live session.
  Yet SmartKarrot measures sessions, so each actor gets a separate *historical* session keyed on
  event time: a new one when the actor's previous backfilled event is more than the session
  timeout earlier or later, ended at its last event's time. A script that imports 28 days of
  history in order produces sessions of minutes, as the real ones were.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Hashable
from datetime import datetime, timezone
from typing import Any

from .sessions import Session

EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()
MAX_CLOCK_SKEW = 600.0  # seconds into the future a client's clock may be ahead


def event_time(value: Any, now: float | None = None) -> tuple[float | None, str | None]:
    """``(epoch seconds, None)`` for an acceptable event time, else ``(None, why not)``.

    Naive datetimes are local time, as everywhere in the SDK.
    """
    if not isinstance(value, datetime):
        return None, f"timestamp must be a datetime, got {type(value).__name__}"
    try:
        epoch = value.timestamp()
    except (OverflowError, OSError, ValueError) as exc:
        return None, f"timestamp {value!r} cannot be converted to UTC ({exc})"
    if now is None:
        now = time.time()
    if epoch < EARLIEST:
        return None, f"timestamp {value.isoformat()} is before 2000-01-01"
    if epoch > now + MAX_CLOCK_SKEW:
        return None, (
            f"timestamp {value.isoformat()} is more than {MAX_CLOCK_SKEW / 60:.0f} minutes in the future"
        )
    return epoch, None


SessionCallback = Callable[[Session, float], None]


class HistoricalSessions:
    """Per-actor sessions of backfilled events, on event time; thread-safe and bounded.

    ``on_start(session, event time)`` and ``on_end(session, end time)`` queue the session events,
    like :class:`usageanalytics.sessions.SessionTracker`'s callbacks. A session not touched for
    ``timeout`` seconds of real time (the import moved on, or ended) is ended by :meth:`expire`.
    """

    def __init__(
        self,
        timeout: float,
        on_start: SessionCallback,
        on_end: SessionCallback,
        max_sessions: int = 10_000,
    ) -> None:
        self.timeout = timeout
        self._on_start = on_start
        self._on_end = on_end
        self._max = max_sessions
        self._sessions: dict[Hashable, Session] = {}
        self._previous: dict[Hashable, float] = {}  # the actor's previous backfilled event time
        self._lock = threading.Lock()

    def touch(self, key: Hashable, actor: Any, when: float, mono: float | None = None) -> Session:
        """The historical session of ``key`` for an event at ``when`` (epoch seconds)."""
        if mono is None:
            mono = time.monotonic()
        ended: list[Session] = []
        with self._lock:
            session = self._sessions.get(key)
            previous = self._previous.get(key)
            if session is not None and previous is not None and abs(when - previous) <= self.timeout:
                self._previous[key] = when
                session.last_wall = max(session.last_wall, when)
                session.started = min(session.started, when)
                session.last_mono = mono
                session.actor = actor
                return session
            if session is not None:
                ended.append(session)
            session = Session(uuid.uuid4().hex, when, when, mono, actor)
            self._sessions[key] = session
            self._previous[key] = when
            if len(self._sessions) > self._max:
                oldest = min(self._sessions, key=lambda k: self._sessions[k].last_mono)
                ended.append(self._sessions.pop(oldest))
                self._previous.pop(oldest, None)
        for old in ended:
            self._on_end(old, old.last_wall)
        self._on_start(session, when)
        return session

    def expire(self, mono: float | None = None) -> int:
        """End the sessions not touched for ``timeout`` seconds of real time."""
        if mono is None:
            mono = time.monotonic()
        with self._lock:
            idle = [k for k, s in self._sessions.items() if mono - s.last_mono > self.timeout]
            ended = [self._pop(k) for k in idle]
        for session in ended:
            self._on_end(session, session.last_wall)
        return len(ended)

    def end(self, key: Hashable) -> bool:
        with self._lock:
            session = self._pop(key) if key in self._sessions else None
        if session is None:
            return False
        self._on_end(session, session.last_wall)
        return True

    def end_all(self) -> int:
        with self._lock:
            ended = list(self._sessions.values())
            self._sessions.clear()
            self._previous.clear()
        for session in ended:
            self._on_end(session, session.last_wall)
        return len(ended)

    def clear(self) -> None:
        """Forget every session without ending it (a forked child: they are the parent's)."""
        with self._lock:
            self._sessions.clear()
            self._previous.clear()

    def forget(self, which: Callable[[Session], bool]) -> int:
        """Forget the sessions ``which`` selects without ending them; returns how many."""
        with self._lock:
            keys = [key for key, session in self._sessions.items() if which(session)]
            for key in keys:
                self._pop(key)
        return len(keys)

    def _pop(self, key: Hashable) -> Session:
        self._previous.pop(key, None)
        return self._sessions.pop(key)

    def __len__(self) -> int:
        return len(self._sessions)
