"""Sessions: ``app_session_start`` when an actor becomes active, ``app_session_end`` when idle.

An actor is the process-wide user of a desktop or command-line app, or one visitor of a web app
(keyed by their guest id). A session starts with the actor's first tracked activity and ends after
``timeout`` seconds without any (its end time is the last activity), at ``reset_user`` and at
shutdown. The tracker is told about activity by the client and calls back to queue the events.

A desktop app can also say when it is in front (:meth:`SessionTracker.set_foreground`), as the
mobile SDKs follow foreground and background: in front, its session never times out; sent to the
background, the session ends ``timeout`` seconds later with the moment it left as its end time.
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
    pinned: bool = False  # the app went to the background: activity no longer moves the end


SessionCallback = Callable[[Session, float], None]


class SessionTracker:
    """Thread-safe map of active sessions, bounded to ``max_sessions`` actors."""

    def __init__(
        self,
        timeout: float,
        on_start: SessionCallback,
        on_end: SessionCallback,
        max_sessions: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.clock = clock  # measures inactivity; tests give their own
        self._on_start = on_start
        self._on_end = on_end
        self._max = max_sessions
        self._sessions: dict[Hashable, Session] = {}
        self._foreground: set[Hashable] = set()  # keys whose app is in front: never timed out
        self._background: set[Hashable] = set()  # keys whose app is followed and not in front
        self._lock = threading.Lock()

    def touch(
        self, key: Hashable, actor: Any, wall: float, mono: float | None = None, foreground: bool = False
    ) -> Session:
        """Record activity of ``key`` and return its session, starting one if needed
        (``foreground``: the app came to the front, see :meth:`set_foreground`)."""
        if mono is None:
            mono = self.clock()
        ended: Session | None = None
        with self._lock:
            session = self._sessions.get(key)
            held = key in self._foreground
            if foreground:
                self._foreground.add(key)
                self._background.discard(key)
            if session is not None and (held or mono - session.last_mono <= self.timeout):
                if foreground:
                    session.pinned = False
                if not session.pinned:
                    session.last_mono = mono
                    session.last_wall = wall
                session.actor = actor
                return session
            ended = session
            # Begun in the background (a download finishing after the last session timed out):
            # pinned at its start as if the app had just left, so more background activity does
            # not stretch it, and it ends ``timeout`` later unless the app comes back first.
            session = Session(uuid.uuid4().hex, wall, wall, mono, actor, pinned=key in self._background)
            self._sessions[key] = session
            overflow = self._evict_oldest() if len(self._sessions) > self._max else []
        if ended is not None:
            self._on_end(ended, ended.last_wall)
        for old in overflow:
            self._on_end(old, old.last_wall)
        self._on_start(session, wall)
        return session

    def set_foreground(
        self, key: Hashable, actor: Any, foreground: bool | None, wall: float, mono: float | None = None
    ) -> None:
        """Follow ``key``'s app in and out of the foreground (``None``: stop following it).

        In front counts as activity (a new session if the last one timed out) and holds the
        session however long nothing is logged. Leaving pins the session's end at ``wall``:
        what the app logs in the background belongs to it without moving its end, and it ends
        ``timeout`` after leaving unless the app is back in front first.
        """
        if foreground:
            self.touch(key, actor, wall, mono, foreground=True)
            return
        mono = self.clock() if mono is None else mono
        with self._lock:
            self._foreground.discard(key)
            if foreground is None:
                self._background.discard(key)
            else:
                self._background.add(key)
            session = self._sessions.get(key)
            if session is None:
                return
            if foreground is None:
                session.pinned = False
            elif not session.pinned:
                session.last_mono, session.last_wall, session.pinned = mono, wall, True

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
            mono = self.clock()
        with self._lock:
            held = self._foreground
            idle = [
                k for k, s in self._sessions.items() if k not in held and mono - s.last_mono > self.timeout
            ]
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
            self._foreground.clear()
            self._background.clear()

    def forget(self, which: Callable[[Session], bool]) -> int:
        """Forget the sessions ``which`` selects without ending them (a user who opted out or
        was forgotten: no end event may follow); returns how many."""
        with self._lock:
            keys = [key for key, session in self._sessions.items() if which(session)]
            for key in keys:
                del self._sessions[key]
                self._foreground.discard(key)
                self._background.discard(key)
        return len(keys)

    def __len__(self) -> int:
        return len(self._sessions)
