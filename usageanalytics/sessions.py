"""Sessions: ``app_session_start`` when an actor becomes active, ``app_session_end`` when idle.

An actor is the process-wide user of a desktop or command-line app, or one visitor of a web app
(keyed by their guest id). A session starts with the actor's first tracked activity and ends after
``timeout`` seconds without any (its end time is the last activity), at ``reset_user`` and at
shutdown. The tracker is told about activity by the client and calls back to queue the events.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Session:
    id: str
    started: float  # wall clock, seconds since the epoch
    last_wall: float
    last_mono: float
    actor: Any = field(repr=False)  # whatever the client needs to address the end event


SessionCallback = Callable[[Session, float], None]


class SessionTracker:
    """Thread-safe map of active sessions, bounded to ``max_sessions`` actors."""

    def __init__(
        self,
        timeout: float,
        on_start: SessionCallback,
        on_end: SessionCallback,
        max_sessions: int = 50_000,
    ) -> None:
        self.timeout = timeout
        self._on_start = on_start
        self._on_end = on_end
        self._max = max_sessions
        self._sessions: dict[Hashable, Session] = {}
        self._lock = threading.Lock()

    def touch(self, key: Hashable, actor: Any, wall: float, mono: float | None = None) -> Session:
        """Record activity of ``key`` and return its session, starting one if needed."""
        if mono is None:
            mono = time.monotonic()
        ended: Session | None = None
        with self._lock:
            session = self._sessions.get(key)
            if session is not None and mono - session.last_mono <= self.timeout:
                session.last_mono = mono
                session.last_wall = wall
                session.actor = actor
                return session
            ended = session
            session = Session(uuid.uuid4().hex, wall, wall, mono, actor)
            self._sessions[key] = session
            overflow = self._evict_oldest() if len(self._sessions) > self._max else []
        if ended is not None:
            self._on_end(ended, ended.last_wall)
        for old in overflow:
            self._on_end(old, old.last_wall)
        self._on_start(session, wall)
        return session

    def _evict_oldest(self) -> list[Session]:
        keep = sorted(self._sessions.items(), key=lambda item: item[1].last_mono)
        drop, keep = keep[: len(keep) - self._max], keep[len(keep) - self._max :]
        self._sessions = dict(keep)
        return [session for _, session in drop]

    def current(self, key: Hashable) -> Session | None:
        with self._lock:
            return self._sessions.get(key)

    def expire(self, mono: float | None = None) -> int:
        """End every session idle for longer than the timeout; returns how many ended."""
        if mono is None:
            mono = time.monotonic()
        with self._lock:
            idle = [k for k, s in self._sessions.items() if mono - s.last_mono > self.timeout]
            ended = [self._sessions.pop(k) for k in idle]
        for session in ended:
            self._on_end(session, session.last_wall)
        return len(ended)

    def end(self, key: Hashable, wall: float | None = None) -> bool:
        """End ``key``'s session now (logout); False if it had none."""
        with self._lock:
            session = self._sessions.pop(key, None)
        if session is None:
            return False
        self._on_end(session, wall if wall is not None else time.time())
        return True

    def end_all(self, wall: float | None = None) -> int:
        with self._lock:
            ended = list(self._sessions.values())
            self._sessions.clear()
        now = wall if wall is not None else time.time()
        for session in ended:
            self._on_end(session, now)
        return len(ended)

    def clear(self) -> None:
        """Forget every session without ending it (a forked child: they are the parent's)."""
        with self._lock:
            self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)
