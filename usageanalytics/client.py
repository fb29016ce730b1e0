"""The client: identity, sessions and tracking calls, in front of the writer and sender threads.

A tracking call validates its input, builds one JSON-ready record and appends it to an in-memory
deque; it never waits on disk or network and never raises into the app (unless ``strict=True``).
"""

from __future__ import annotations

import atexit
import collections
import itertools
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import platformdirs

from . import backfill, batching, device, signals, wire
from .context import Identity, current_identity
from .deadletters import DeadLetter, DeadLetters
from .debounce import Debouncer
from .errors import TrackingInputError
from .records import Pending, wire_body
from .sender import RECORDS_PER_ROUND as WAKE_RECORDS
from .sender import Backlog, Sender
from .sessions import Session, SessionTracker
from .settings import Settings, resolve_settings
from .state import StateStore
from .storage import create_own_store, private_dir
from .transport import Transport
from .writer import WAKE_AT, Writer

logger = logging.getLogger("usageanalytics")

PROCESS = "process"  # session key of the process-wide actor
MAX_PENDING_IN_MEMORY = 100_000  # records; only reached if the disk refuses writes
_WARN_EVERY = 60.0


Pairs = tuple[tuple[str, Any], ...]
_dumps = orjson.dumps


@dataclass(frozen=True)
class Actor:
    """Who a record is about, resolved from the process identity or a request's context."""

    user_id: str
    guest: bool
    customer_account_id: str | None
    product_id: str | None
    session_key: Hashable
    session_id: str | None = None  # set by a context that manages its own sessions
    source_ip: str | None = None


def default_data_dir(app_id: str) -> Path:
    """The per-user data folder for ``app_id`` (queues, ids, dead letters)."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in app_id)[:80]
    return Path(platformdirs.user_data_dir("usageanalytics", appauthor=False)) / safe


class Client:
    """A SmartKarrot usage-analytics client; ``usageanalytics.configure()`` makes the shared one.

    Hold your own for tests or when one process reports to several apps; call :meth:`shutdown`
    (or use it as a context manager) to flush and stop its threads.
    """

    def __init__(self, app_id: str | None = None, **options: Any) -> None:
        self.settings: Settings = resolve_settings(app_id, **options)
        self._active = False
        self._strict = self.settings.strict
        self._durable = self.settings.durable
        self._warned: dict[str, float] = {}
        if self.settings.disabled:
            logger.info("usageanalytics is disabled: tracking calls do nothing")
            return
        self.data_dir = private_dir(self.settings.data_dir or default_data_dir(self.settings.app_id))
        self.dead_letters = DeadLetters(self.data_dir)
        self._state = StateStore(self.data_dir / "state.sqlite")
        self.device_id = self._state.get_or_create("device_id", lambda: str(uuid.uuid4()))
        self._identity_lock = threading.RLock()
        self._debouncer = Debouncer(self.settings.debounce_window)
        self._sessions = SessionTracker(
            self.settings.session_timeout, self._on_session_start, self._on_session_end
        )
        self._history = backfill.HistoricalSessions(
            self.settings.session_timeout, self._on_session_start, self._on_session_end
        )
        self._envelopes: dict[tuple[Actor, str | None], tuple[str, dict[str, Any]]] = {}
        self._envelope_keys = itertools.count()
        self._context_actors: collections.OrderedDict[Identity, Actor] = collections.OrderedDict()
        self._known_users: collections.OrderedDict[tuple[str, str | None], None] = collections.OrderedDict()
        self._product_override: str | None = None
        self._actor = self._initial_actor()
        self.backlog = Backlog()
        self._writer: Writer | None = None
        self._sender: Sender | None = None
        self._fork_lock = threading.Lock()
        self._closed = False
        # The process user is announced (user upsert) with its first record, not here: a web
        # server whose events all belong to requests, or a CLI that only replays dead letters,
        # must not create a guest user in SmartKarrot.
        self._announce_process_user = True
        self._start_pipeline()
        self._active = True
        if self.settings.collect_device_attributes:
            self._submit(self._send_device_attributes)
        self_ref = weakref.ref(self)
        atexit.register(_shutdown_at_exit, self_ref)
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=lambda: _after_fork(self_ref))

    # -- set-up -----------------------------------------------------------------------------------

    def _initial_actor(self) -> Actor:
        settings = self.settings
        if settings.user_id:
            return Actor(settings.user_id, False, settings.customer_account_id, settings.product_id, PROCESS)
        saved = self._state.get("identity")
        if saved:
            data = json.loads(saved)
            self._product_override = data.get("product_override")
            if data.get("user_id"):
                return Actor(
                    data["user_id"],
                    False,
                    data.get("customer_account_id") or settings.customer_account_id,
                    self._product_override or data.get("product_id") or settings.product_id,
                    PROCESS,
                )
        guest = self._state.get_or_create("guest_id", lambda: str(uuid.uuid4()))
        return Actor(
            guest, True, settings.customer_account_id, self._product_override or settings.product_id, PROCESS
        )

    def _start_pipeline(self) -> None:
        store = create_own_store(self.data_dir)
        settings = self.settings
        self._sender = Sender(
            client=self,
            own=store,
            data_dir=self.data_dir,
            state=self._state,
            transport_factory=lambda: Transport(settings.endpoint, settings.api_key, settings.timeout),
            dead_letters=self.dead_letters,
            backlog=self.backlog,
            flush_interval=settings.flush_interval,
            batch_size=settings.batch_size,
            max_record_age=settings.max_record_age,
            retry_base=settings.retry_base,
            retry_cap=settings.retry_cap,
        )
        self._writer = Writer(
            store,
            settings.write_interval,
            MAX_PENDING_IN_MEMORY,
            on_persisted=self._on_persisted,
            on_dropped=self._record_dropped,
            on_tick=self._tick,
        )
        self._since_wake = self._fullest = 0
        self._waiting: dict[str, int] = {}  # records persisted since the sender's last wake, per envelope
        self._writer.start()
        self._sender.start()

    # -- the hot path -------------------------------------------------------------------------------

    def _current_actor(self) -> Actor:
        scoped = current_identity()
        if scoped is None:
            if self._announce_process_user:
                self._announce_process_user = False
                self._queue_user_upsert(self._actor, previous_guest=None)
            return self._actor
        actor = self._context_actors.get(scoped)
        if actor is None:
            actor = self._context_actor(scoped)
        return actor

    def _context_actor(self, scoped: Identity) -> Actor:
        """Resolve a request identity; the first time a user or guest is seen, upsert them."""
        with self._identity_lock:
            process = self._actor
            if scoped.user_id:
                user_id, guest = scoped.user_id, False
            elif scoped.guest_id:
                user_id, guest = scoped.guest_id, True
            else:
                user_id, guest = process.user_id, process.guest
            # A request's own user gets configure()'s defaults, never the process user's account.
            own_user = bool(scoped.user_id or scoped.guest_id)
            account = scoped.customer_account_id or (
                self.settings.customer_account_id if own_user else process.customer_account_id
            )
            product = scoped.product_id or (self.settings.product_id if own_user else process.product_id)
            key: Hashable = ("visitor", scoped.guest_id or user_id) if own_user else PROCESS
            actor = Actor(user_id, guest, account, product, key, scoped.session_id, scoped.source_ip)
            self._context_actors[scoped] = actor
            if len(self._context_actors) > 10_000:
                self._context_actors.popitem(last=False)
            if own_user:
                seen = (user_id, None if guest else scoped.guest_id)
                if seen not in self._known_users:
                    self._known_users[seen] = None
                    if len(self._known_users) > 100_000:
                        self._known_users.popitem(last=False)
                    self._queue_user_upsert(actor, previous_guest=None if guest else scoped.guest_id)
            return actor

    def _envelope(self, actor: Actor, session_id: str | None) -> tuple[str, dict[str, Any]]:
        """The envelope for ``actor`` in ``session_id``, with a key unique in this process.

        Records refer to their envelope by key, so a chunk on disk stores each envelope once.
        """
        key = (actor, session_id)
        cached = self._envelopes.get(key)
        if cached is None:
            envelope = {
                "appId": self.settings.app_id,
                "userId": actor.user_id,
                "platform": self.settings.platform,
                "deviceId": self.device_id,
            }
            if actor.customer_account_id:
                envelope["customerAccountId"] = actor.customer_account_id
            if actor.product_id:
                envelope["productId"] = actor.product_id
            if session_id:
                envelope["sessionId"] = session_id
            if self.settings.app_version:
                envelope["appVersion"] = self.settings.app_version
            if actor.source_ip:
                envelope["userSourceIP"] = actor.source_ip
            if len(self._envelopes) > 10_000:
                self._envelopes.clear()
            cached = self._envelopes[key] = (str(next(self._envelope_keys)), envelope)
        return cached

    def _emit(
        self, kind: str, actor: Actor, session_id: str | None, body: Any, now: float, at: float | None = None
    ) -> None:
        """Serialize the record here (about a microsecond) so the writer only joins bytes: a
        writer that did the formatting could not keep pace with a busy caller under the GIL,
        and a backlog of JSON text is a third the memory of a backlog of Python objects.

        ``now`` is when the record was logged (what ``max_record_age`` counts from); ``at`` is
        the event's own time when it differs (a backfill).
        """
        envelope_key, envelope = self._envelope(actor, session_id)
        body = wire_body(kind, body, now if at is None else at)
        # decode(): orjson's bytes keep a 4 KiB buffer each; the str is an exact-size copy.
        row = _dumps((kind, envelope_key, body, now, 1 if actor.guest else 0)).decode()
        pending: Pending = (envelope_key, envelope, row)
        writer = self._writer or self._restart_after_fork()
        if self._durable:
            writer.write_through(pending)
        else:
            writer.append(pending)

    def _session_for(self, actor: Actor, now: float) -> str:
        if actor.session_id:
            return actor.session_id
        return self._sessions.touch(actor.session_key, actor, now).id

    def _event(self, actor: Actor, name: str, pairs: Pairs, now: float) -> None:
        session_id = self._session_for(actor, now)
        self._emit(batching.EVENT, actor, session_id, (name, pairs), now)
        if signals.event_logged.receivers:
            self._signal(signals.event_logged, name=name, attributes=dict(pairs), user_id=actor.user_id)

    def _backfilled_event(self, actor: Actor, name: str, pairs: Pairs, at: float) -> None:
        """An event with its own time: in the actor's historical session, never the live one."""
        session_id = self._history.touch(actor.session_key, actor, at).id
        self._emit(batching.EVENT, actor, session_id, (name, pairs), time.time(), at)
        if signals.event_logged.receivers:
            self._signal(signals.event_logged, name=name, attributes=dict(pairs), user_id=actor.user_id)

    # -- input checks -------------------------------------------------------------------------------

    def _bad_input(self, message: str) -> None:
        """Strict mode raises; otherwise warn (once a minute per distinct message)."""
        if self._strict:
            raise TrackingInputError(message)
        now = time.monotonic()
        if now - self._warned.get(message, -_WARN_EVERY) >= _WARN_EVERY:
            if len(self._warned) > 1000:
                self._warned.clear()
            self._warned[message] = now
            logger.warning("usageanalytics: %s", message)

    def _valid_name(self, what: str, name: Any) -> str | None:
        if isinstance(name, wire.UserAttribute | wire.EventAttribute):
            return str(name.value)
        if not isinstance(name, str) or not name.strip():
            self._bad_input(f"{what} must be a non-empty string, got {name!r}; call ignored")
            return None
        return name

    def _pairs(self, event: str, attributes: Any) -> Pairs:
        """The event's checked (name, value) pairs: bad ones reported and dropped, at most five."""
        if not attributes:
            return ()
        if not isinstance(attributes, Mapping):
            self._bad_input(
                f"event {event!r}: attributes must be a dict, got "
                f"{type(attributes).__name__}; sent without attributes"
            )
            return ()
        pairs = []
        for key, value in attributes.items():
            name = (
                key
                if type(key) is str and key.strip()
                else self._valid_name(f"event {event!r}: an attribute name", key)
            )
            if name is None:
                continue
            problem = wire.value_problem(value)
            if problem is not None:
                self._bad_input(f"event {event!r}: attribute {name!r} dropped: {problem}")
                continue
            pairs.append((name, value))
        if len(pairs) > wire.MAX_EVENT_ATTRIBUTES:
            dropped = [name for name, _ in pairs[wire.MAX_EVENT_ATTRIBUTES :]]
            self._bad_input(
                f"event {event!r} has {len(pairs)} attributes; SmartKarrot allows "
                f"{wire.MAX_EVENT_ATTRIBUTES}: sent the first {wire.MAX_EVENT_ATTRIBUTES}, "
                f"dropped {dropped}"
            )
            del pairs[wire.MAX_EVENT_ATTRIBUTES :]
        return tuple(pairs)

    def _live(self) -> bool:
        if self._active:
            return True
        if not self.settings.disabled:
            logger.debug("usageanalytics: call after shutdown() ignored")
        return False

    # -- public tracking API ------------------------------------------------------------------------

    def log_event(
        self,
        name: str,
        attributes: Mapping[str, wire.Value] | None = None,
        *,
        debounce: bool = False,
        timestamp: datetime | None = None,
    ) -> None:
        """Log a custom event with up to five typed attributes.

        ``debounce=True`` drops it when the same user logged the same event with the same
        attributes within ``debounce_window`` seconds (what auto-capture uses).
        ``timestamp`` backfills: the event happened then (from 2000-01-01 up to ten minutes
        ahead; naive datetimes are local time). It goes in the actor's historical session
        and never starts or extends the live one; it is not debounced.
        """
        if not self._live():
            return
        try:
            event = self._valid_name("event name", name)
            if event is None:
                return
            at: float | None = None
            if timestamp is not None:
                at, problem = backfill.event_time(timestamp)
                if problem is not None:
                    self._bad_input(f"event {event!r} refused: {problem}")
                    return
            pairs = self._pairs(event, attributes)
            actor = self._current_actor()
            if at is not None:
                self._backfilled_event(actor, event, pairs, at)
                return
            if debounce and self._debouncer.is_repeat((actor.user_id, event, pairs)):
                if signals.event_debounced.receivers:
                    self._signal(signals.event_debounced, name=event, user_id=actor.user_id)
                return
            self._event(actor, event, pairs, time.time())
        except TrackingInputError:
            raise
        except Exception:
            logger.exception("usageanalytics: log_event failed; the event was not recorded")

    def log_screen_view(
        self,
        screen_name: str,
        *,
        debounce: bool = False,
        attributes: Mapping[str, wire.Value] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Log the event "Screen View" with the attribute "Screen Name"."""
        if not self._live():
            return
        screen = self._valid_name("screen name", screen_name)
        if screen is None:
            return
        merged: dict[str, Any] = {wire.EventAttribute.SCREEN_NAME.value: screen}
        if attributes:
            merged.update(attributes)
        self.log_event(wire.SCREEN_VIEW, merged, debounce=debounce, timestamp=timestamp)

    def log_page_load(self, page_url: str, load_time_ms: float, request_count: int = 1) -> None:
        """Log ``page_load_event`` (spec: requestCount, loadTime, pageUrl); never debounced."""
        self.log_event(
            wire.PAGE_LOAD,
            {
                "requestCount": request_count,
                "loadTime": load_time_ms,
                "pageUrl": page_url,
            },
        )

    def set_user_attribute(self, name: wire.UserAttribute | str, value: wire.Value) -> None:
        """Set a standard (``UserAttribute.LANGUAGE``) or custom (``"Employee Id"``) attribute."""
        if not self._live():
            return
        try:
            attribute = self._valid_name("user attribute name", name)
            if attribute is None:
                return
            try:
                typed = wire.typed_value(value)
            except (TypeError, ValueError) as exc:
                self._bad_input(f"user attribute {attribute!r} ignored: {exc}")
                return
            now = time.time()
            actor = self._current_actor()
            body = {"name": attribute, **typed, "loggedAtTime": wire.timestamp(now)}
            self._emit(batching.USER_ATTRIBUTE, actor, self._active_session(actor), body, now)
        except TrackingInputError:
            raise
        except Exception:
            logger.exception("usageanalytics: set_user_attribute failed")

    def set_user_attributes(self, attributes: Mapping[wire.UserAttribute | str, wire.Value]) -> None:
        """Set several user attributes; each bad one is reported and the rest kept."""
        if not isinstance(attributes, Mapping):
            if self._live():
                self._bad_input(f"set_user_attributes takes a dict, got {type(attributes).__name__}")
            return
        for name, value in attributes.items():
            self.set_user_attribute(name, value)

    def update_device_token(self, token: str, app_in_distribution: bool | None = None) -> None:
        """Send the push-notification token (FCM or APNs) of this device."""
        if not self._live():
            return
        if not isinstance(token, str) or not token.strip():
            self._bad_input(f"device token must be a non-empty string, got {token!r}; ignored")
            return
        body: dict[str, Any] = {"deviceToken": token}
        if app_in_distribution is not None:
            body["appInDistribution"] = bool(app_in_distribution)
        elif self.settings.platform == "iOS":
            self._bad_input("update_device_token needs app_in_distribution on platform iOS; ignored")
            return
        actor = self._current_actor()
        self._emit(batching.DEVICE_TOKEN, actor, actor.session_id, body, time.time())

    # -- identity -----------------------------------------------------------------------------------

    def set_user(
        self, user_id: str, customer_account_id: str | None = None, product_id: str | None = None
    ) -> None:
        """The user logged in: later records are theirs, and so is what their guest logged."""
        if not self._live():
            return
        user = self._valid_name("user id", user_id)
        if user is None:
            return
        with self._identity_lock:
            previous = self._actor
            account = customer_account_id or self.settings.customer_account_id
            product = product_id or self._product_override or self.settings.product_id
            actor = Actor(user, False, account, product, PROCESS)
            if actor == previous:
                return
            if not previous.guest and previous.user_id != user:
                self._sessions.end(PROCESS)
            self._actor = actor
        self._announce_process_user = False
        self._queue_user_upsert(actor, previous_guest=previous.user_id if previous.guest else None)
        self._persist_identity()
        self._signal(signals.user_changed, user_id=user, previous_user_id=previous.user_id, guest=False)

    def reset_user(self) -> None:
        """The user logged out: end their session and continue as a new guest."""
        if not self._live():
            return
        with self._identity_lock:
            previous = self._actor
            self._sessions.end(PROCESS)
            self._history.end(PROCESS)
            guest = str(uuid.uuid4())
            self._product_override = None
            self._actor = Actor(
                guest, True, self.settings.customer_account_id, self.settings.product_id, PROCESS
            )
        self._submit(lambda: self._state.set("guest_id", guest))
        self._announce_process_user = False
        self._queue_user_upsert(self._actor, previous_guest=None)
        self._persist_identity()
        self._signal(signals.user_changed, user_id=guest, previous_user_id=previous.user_id, guest=True)

    def set_product_id(self, product_id: str) -> None:
        """The user switched to another product."""
        if not self._live():
            return
        product = self._valid_name("product id", product_id)
        if product is None:
            return
        with self._identity_lock:
            self._product_override = product
            self._actor = replace(self._actor, product_id=product)
        self._persist_identity()

    @property
    def user_id(self) -> str | None:
        """The process-wide user id (a guest's generated id before ``set_user``)."""
        return self._actor.user_id if not self.settings.disabled else None

    @property
    def is_guest(self) -> bool:
        return self._actor.guest if not self.settings.disabled else True

    def _persist_identity(self) -> None:
        actor = self._actor
        data = {"product_override": self._product_override}
        if not actor.guest:
            data.update(
                user_id=actor.user_id,
                customer_account_id=actor.customer_account_id,
                product_id=actor.product_id,
            )
        encoded = json.dumps(data)
        self._submit(lambda: self._state.set("identity", encoded))

    def _queue_user_upsert(self, actor: Actor, previous_guest: str | None) -> None:
        body: dict[str, Any] = {
            "status": "Active",
            "loginMechanism": "GUEST" if actor.guest else "AUTH",
        }
        if self.settings.bundle_id:
            body["bundleId"] = self.settings.bundle_id
        if previous_guest:
            body["lastLoggedInUserId"] = previous_guest
        self._emit(batching.USER, actor, self._active_session(actor), body, time.time())

    # -- sessions -----------------------------------------------------------------------------------

    def _on_session_start(self, session: Session, wall: float) -> None:
        actor: Actor = session.actor
        self._emit(
            batching.EVENT,
            actor,
            session.id,
            (
                wire.SESSION_START,
                [
                    {"attributeName": "sessionId", "dataType": "String", "stringValue": session.id},
                    {
                        "attributeName": "startTime",
                        "dataType": "Date",
                        "stringValue": wire.timestamp(session.started),
                    },
                ],
            ),
            time.time(),
            wall,
        )
        self._signal(signals.session_started, session_id=session.id, user_id=actor.user_id)

    def _on_session_end(self, session: Session, wall: float) -> None:
        actor: Actor = session.actor
        self._emit(
            batching.EVENT,
            actor,
            session.id,
            (
                wire.SESSION_END,
                [
                    {"attributeName": "sessionId", "dataType": "String", "stringValue": session.id},
                    {"attributeName": "endTime", "dataType": "Date", "stringValue": wire.timestamp(wall)},
                ],
            ),
            time.time(),  # logged now (max_record_age counts from here), dated at the session's end
            wall,
        )
        self._signal(signals.session_ended, session_id=session.id, user_id=actor.user_id)

    def identify(self) -> None:
        """Announce the current identity now, without an event.

        A user (or guest) seen for the first time is created in SmartKarrot, naming the guest id
        of their context when they just logged in, so their guest history becomes theirs. For
        integrations that learn of a login before anything is tracked for it.
        """
        if self._live():
            try:
                self._current_actor()
            except Exception:
                logger.exception("usageanalytics: identify failed")

    def start_session(self) -> str | None:
        """Start the current actor's session now if none is active (an app's launch, say).

        Sessions otherwise start with the first event. Returns the session id.
        """
        if not self._live():
            return None
        actor = self._current_actor()
        return self._session_for(actor, time.time())

    def end_session(self) -> None:
        """End the current actor's session now (the next activity starts a new one)."""
        if self._live():
            self._sessions.end(self._current_actor().session_key)

    @property
    def session_id(self) -> str | None:
        """The current actor's session id, if a session is active."""
        if not self._active:
            return None
        return self._active_session(self._current_actor())

    def _active_session(self, actor: Actor) -> str | None:
        """The actor's session id if one is running; unlike an event, this starts none."""
        if actor.session_id:
            return actor.session_id
        session = self._sessions.current(actor.session_key)
        return session.id if session else None

    # -- background work ----------------------------------------------------------------------------

    def _submit(self, task: Any) -> None:
        (self._writer or self._restart_after_fork()).submit(task)

    def _send_device_attributes(self) -> None:
        attributes = device.collect(self.settings, self.device_id)
        fingerprint = device.fingerprint(attributes)
        if self._state.get("device_fingerprint") == fingerprint:
            return
        actor = self._actor
        self._emit(batching.DEVICE_ATTRIBUTE, actor, None, {"deviceAttributes": attributes}, time.time())
        self._state.set("device_fingerprint", fingerprint)

    def _tick(self) -> None:
        self._sessions.expire()
        self._history.expire()

    def _on_persisted(self, batch: list[Pending]) -> None:
        """Writer thread: count what reached the disk and wake the sender when a batch is full.

        A batch is per envelope (a user's session), so the sender is woken when one envelope has
        ``batch_size`` records waiting, or when ``WAKE_RECORDS`` of any kind are: waking it for
        every hundred records of a web server's many visitors would post a request for every
        record or two, and the cost of a request is in the request, not in its events.
        """
        count = len(batch)
        self.backlog.add(count)
        sender = self._sender
        if sender is None:
            return
        if self.backlog.records > self.settings.max_queued_records:
            sender.request_trim(self.settings.max_queued_records)
        waiting = self._waiting
        fullest = 0
        for key, _, _ in batch:
            waiting[key] = size = waiting.get(key, 0) + 1
            fullest = max(fullest, size)
        self._since_wake += count
        self._fullest = max(self._fullest, fullest)
        writer = self._writer
        # Not in the middle of a burst the writer is still catching up with, either: sending
        # then would hold a decoded chunk in memory beside the backlog; its last write wakes it.
        if (self._fullest >= self.settings.batch_size or self._since_wake >= WAKE_RECORDS) and (
            writer is None or len(writer.pending) < WAKE_AT
        ):
            self._since_wake = self._fullest = 0
            waiting.clear()
            sender.wake()

    def _record_dropped(self, count: int, reason: str) -> None:
        logger.warning("usageanalytics dropped %d records: %s", count, reason)
        self._signal(signals.record_dropped, count=count, reason=reason)

    def _signal(self, signal: Any, **info: Any) -> None:
        if not signal.receivers:
            return
        try:
            signal.send(self, **info)
        except Exception:
            logger.exception("usageanalytics signal receiver failed")

    # -- flushing and shutdown ----------------------------------------------------------------------

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything queued now; True when the queue is empty before ``timeout`` seconds.

        Records held for a guest with no customer account count as not sent (and are logged).
        """
        if not self._active or self._writer is None or self._sender is None:
            return not self._active
        deadline = time.monotonic() + timeout
        if not self._writer.persist_now(timeout):
            return False
        done = self._sender.flush(max(0.0, deadline - time.monotonic()))
        if not done and self._sender.held_count():
            logger.warning(
                "usageanalytics: records of a guest without a customer account are held until "
                "set_user(..., customer_account_id=...) or configure(customer_account_id=...)"
            )
        return done

    def shutdown(self, timeout: float = 10.0) -> bool:
        """End sessions, flush for up to ``timeout`` seconds and stop the threads.

        Returns whether everything was sent; what was not stays on disk for the next start.
        """
        if not self._active or self._closed:
            return True
        self._closed = True
        deadline = time.monotonic() + timeout
        try:
            self._sessions.end_all()
            self._history.end_all()
        except Exception:
            logger.exception("usageanalytics: ending sessions at shutdown failed")
        sent = self.flush(timeout)
        self._active = False
        writer, sender = self._writer, self._sender
        if writer is not None:
            writer.stop(max(0.1, min(1.0, deadline - time.monotonic())))
        if sender is not None:
            stopped = sender.stop(max(0.1, min(1.0, deadline - time.monotonic())))
            if stopped:
                sender.close()
                for store in sender.stores():
                    if store.pending() == 0 and store.held_items() == 0:
                        store.remove()
                    else:
                        store.close()
                        store.lock.release()
        return sent

    def replay_dead_letters(self) -> int:
        """Queue every dead-lettered batch again (after fixing the cause); returns the count."""
        if not self._active or self._sender is None:
            return 0
        letters = self.dead_letters.list()
        replayed = 0
        for letter in letters:
            request = dict(letter.request, attempts=0)
            request.pop("sources", None)
            self._sender.own.outbox.put(request)
            self.backlog.add(int(request.get("n", 1)))
            letter.path.unlink()
            replayed += 1
        if replayed:
            self._sender.wake(forced=True)
        return replayed

    def dead_lettered(self) -> list[DeadLetter]:
        """The batches the server rejected, oldest first."""
        return self.dead_letters.list() if self._active else []

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        state = "disabled" if self.settings.disabled else ("active" if self._active else "closed")
        return f"<usageanalytics.Client app_id={self.settings.app_id!r} {state}>"

    # -- fork ---------------------------------------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """The child of ``os.fork()`` gets its own queue and threads, started on first use."""
        if not self._active:
            return
        sender = self._sender
        if sender is not None:
            for store in sender.stores():
                store.forget_after_fork()
        from .storage import _ABANDONED

        _ABANDONED.extend(x for x in (self._writer, self._sender) if x is not None)
        self._writer = None
        self._sender = None
        self.backlog = Backlog()
        self._identity_lock = threading.RLock()
        self._sessions = SessionTracker(
            self.settings.session_timeout, self._on_session_start, self._on_session_end
        )
        self._history = backfill.HistoricalSessions(
            self.settings.session_timeout, self._on_session_start, self._on_session_end
        )
        self._debouncer = Debouncer(self.settings.debounce_window)
        self._fork_lock = threading.Lock()

    def _restart_after_fork(self) -> Writer:
        """The first call in a forked child starts its own queue folder and threads."""
        with self._fork_lock:
            if self._writer is None:
                self._start_pipeline()
            assert self._writer is not None
            return self._writer


def _shutdown_at_exit(ref: weakref.ReferenceType[Client]) -> None:
    client = ref()
    if client is not None:
        try:
            client.shutdown(client.settings.exit_timeout)
        except Exception:
            logger.exception("usageanalytics: shutdown at exit failed")


def _after_fork(ref: weakref.ReferenceType[Client]) -> None:
    client = ref()
    if client is not None:
        client._after_fork_in_child()
