"""The client: identity, sessions and tracking calls, in front of the pipeline.

A tracking call validates its input, builds one JSON-ready record and hands it to the pipeline
(:mod:`usageanalytics.pipeline`), which appends it to an in-memory deque; it never waits on disk
or network and never raises into the app (unless ``strict=True``). Input that cannot be made
valid is refused at the call: reported, and counted in the ledger as dropped.
"""

from __future__ import annotations

import collections
import itertools
import json
import logging
import math
import os
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Hashable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import platformdirs

from . import backfill, device, inputs, lifecycle, signals, wire
from .context import Identity, current_identity, untracked_reason
from .deadletters import DeadLetter, DeadLetters
from .debounce import Debouncer
from .errors import ConfigurationError, TrackingInputError
from .inputs import MAX_NAME_LENGTH, MAX_VALUE_LENGTH, Refused
from .ledger import (
    AFTER_SHUTDOWN,
    BEFORE_SEND,
    BEFORE_SEND_FAILED,
    FORGOTTEN,
    INVALID_INPUT,
    OPTED_OUT,
    Stats,
)
from .pipeline import Pipeline, RecordFilter
from .privacy import anonymize_ip
from .records import (
    DEVICE_ATTRIBUTE,
    DEVICE_TOKEN,
    EVENT,
    USER,
    USER_ATTRIBUTE,
    Deferred,
    Pending,
    Record,
    page_load_body,
    page_load_json,
    screen_view_body,
    screen_view_json,
    wire_body,
)
from .sessions import Session, SessionTracker
from .settings import Settings, resolve_settings
from .state import StateStore
from .storage import ensure_dir

logger = logging.getLogger("usageanalytics")

PROCESS = "process"  # session key of the process-wide actor
MAX_REASON_LENGTH = 200  # a discard reason is a stats() key and a log line
_WARN_EVERY = 60.0
COULD_NOT_RECORD = "could not be recorded"
CONSENT_KEY = "consent"  # in state.sqlite: "out" or "in", the user's choice for this data folder
_INT_MIN, _INT_END = -(2**63), 2**64  # what a JSON number (orjson) carries exactly


Pairs = tuple[tuple[str, Any], ...]
_dumps = orjson.dumps
_NAMED = (wire.UserAttribute, wire.EventAttribute)
_SCREEN_NAME = wire.EventAttribute.SCREEN_NAME.value
_UTC = timezone.utc


class Actor(NamedTuple):
    """Who a record is about, resolved from the process identity or a request's context.

    A named tuple: the hot path keys dicts on it (envelopes, sessions), and a tuple hashes and
    compares in C where a frozen dataclass runs Python for both on every call.
    """

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


def prepare_data_dir(folder: Path) -> Path:
    """``folder`` made ready for the SDK (created 0700 if missing, an existing one left as it
    is), or :class:`ConfigurationError` saying why it cannot be used."""
    try:
        ensure_dir(folder)
        probe = folder / f".usageanalytics-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigurationError(
            f"data_dir {str(folder)!r} cannot be used: {reason}. Give configure(data_dir=...) (or "
            "USAGEANALYTICS_DATA_DIR) a folder this process can create and write."
        ) from None
    return folder


class Client:
    """A SmartKarrot usage-analytics client; ``usageanalytics.configure()`` makes the shared one.

    Hold your own for tests or when one process reports to several apps; call :meth:`shutdown`
    (or use it as a context manager) to flush and stop its threads.
    """

    def __init__(self, app_id: str | None = None, **options: Any) -> None:
        self.settings: Settings = resolve_settings(app_id, **options)
        if self.settings.debug:
            from . import enable_debug_log

            enable_debug_log()
        self._active = False
        self._strict = self.settings.strict
        self._durable = self.settings.durable
        self._warned: dict[str, float] = {}
        self._shutdown_lock = threading.Lock()
        self._closed = False
        self._shutdown_result = True
        self._warned_after_shutdown = False
        if self.settings.disabled:
            logger.info("usageanalytics is disabled: tracking calls do nothing")
            return
        self.data_dir = prepare_data_dir(self.settings.data_dir or default_data_dir(self.settings.app_id))
        try:
            self.dead_letters = DeadLetters(self.data_dir)
            self._state = StateStore(self.data_dir / "state.sqlite")
            self.device_id = self._state.get_or_create("device_id", lambda: str(uuid.uuid4()))
            saved = self._saved_choice()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"data_dir {str(self.data_dir)!r} cannot be used: {exc}") from None
        self._identity_lock = threading.RLock()
        # Held while the consent is read, saved or applied: a choice and the discard that goes
        # with it are one step for the other threads (a tick, a concurrent opt_in).
        self._consent_lock = threading.RLock()
        self._debouncer = Debouncer(self.settings.debounce_window)
        self._sessions = SessionTracker(
            self.settings.session_timeout, self._on_session_start, self._on_session_end
        )
        self._history = backfill.HistoricalSessions(
            self.settings.session_timeout, self._on_session_start, self._on_session_end
        )
        self._envelopes: dict[tuple[Actor, str | None], tuple[str, dict[str, Any]]] = {}
        self._envelope_keys = itertools.count()
        self._context_actors: collections.OrderedDict[Identity, Actor | Refused] = collections.OrderedDict()
        self._actors_by_scope: dict[int, tuple[Identity, Actor]] = {}  # id(identity) -> (it, its actor)
        self._known_users: collections.OrderedDict[tuple[str, str | None], None] = collections.OrderedDict()
        self._product_override: str | None = None
        self._before_send = self.settings.before_send
        self._inside_before_send = threading.local()  # set on a thread while the hook runs
        self._opted_out = self.settings.opt_out_by_default if saved is None else saved
        self._actor = self._initial_actor()
        # The process user is announced (user upsert) with its first record, not here: a web
        # server whose events all belong to requests, or a CLI that only replays dead letters,
        # must not create a guest user in SmartKarrot.
        self._announce_process_user = True
        try:
            self._pipeline = Pipeline(
                self.settings,
                self.data_dir,
                self._state,
                self.dead_letters,
                on_tick=self._tick,
                signal=self._signal,
                paused=lambda: self._opted_out,
            )
        except (OSError, sqlite3.Error) as exc:
            raise ConfigurationError(f"data_dir {str(self.data_dir)!r} cannot be used: {exc}") from None
        self._active = True
        if self._opted_out:  # what this data folder still has queued (dead processes' queues)
            self._pipeline.submit(self._discard_left_behind)
        if self.settings.collect_device_attributes:
            self._pipeline.submit(self._send_device_attributes)
        lifecycle.register(self)
        if hasattr(os, "register_at_fork"):
            self_ref = weakref.ref(self)
            os.register_at_fork(after_in_child=lambda: _after_fork(self_ref))

    # -- set-up -----------------------------------------------------------------------------------

    def _initial_actor(self) -> Actor:
        settings = self.settings
        if settings.user_id:
            return Actor(settings.user_id, False, settings.customer_account_id, settings.product_id, PROCESS)
        saved = self._state.get("identity")
        if saved:
            try:
                data = json.loads(saved)
                self._product_override = _str_or_none(data.get("product_override"))
                user = _str_or_none(data.get("user_id"))
                if user:
                    return Actor(
                        user,
                        False,
                        _str_or_none(data.get("customer_account_id")) or settings.customer_account_id,
                        self._product_override or _str_or_none(data.get("product_id")) or settings.product_id,
                        PROCESS,
                    )
            except (ValueError, AttributeError):
                logger.warning("usageanalytics: the saved identity is unreadable; starting as a guest")
        guest = self._state.get_or_create("guest_id", lambda: str(uuid.uuid4()))
        return Actor(
            guest, True, settings.customer_account_id, self._product_override or settings.product_id, PROCESS
        )

    # -- the hot path -------------------------------------------------------------------------------

    def _current_actor(self) -> Actor:
        """The actor of the running context; raises :class:`Refused` if its identity is unusable."""
        scoped = current_identity()
        if scoped is None:
            if self._announce_process_user:
                self._announce_process_user = False
                self._queue_user_upsert(self._actor, previous_guest=None)
            return self._actor
        # The web integrations scope the same Identity object for a returning visitor: found by
        # the object first (no dataclass __hash__ call), then by value.
        known = self._actors_by_scope.get(id(scoped))
        if known is not None and known[0] is scoped:
            return known[1]
        try:
            actor = self._context_actors.get(scoped)
        except TypeError:  # an unhashable id: not a string, certainly
            actor = Refused(f"identity {scoped!r} has values that are not strings")
        if actor is None:
            actor = self._context_actor(scoped)
        if isinstance(actor, Refused):
            raise actor
        return actor

    def _peek_actor(self) -> Actor:
        """The actor of the running context, announcing no one: what before_send is shown. The
        user is announced (:meth:`_current_actor`) only once a record of theirs is kept."""
        scoped = current_identity()
        if scoped is None:
            return self._actor
        try:
            actor = self._context_actors.get(scoped)
        except TypeError:
            actor = Refused(f"identity {scoped!r} has values that are not strings")
        if actor is None:
            actor = self._context_actor(scoped, announce=False)
        if isinstance(actor, Refused):
            raise actor
        return actor

    def _context_actor(self, scoped: Identity, announce: bool = True) -> Actor | Refused:
        """Resolve a request identity; the first time a user or guest is seen, upsert them
        (unless not ``announce``: then the actor is not kept either, so the next call does)."""
        with self._identity_lock:
            try:
                fields = self._identity_fields(scoped)
            except Refused as refused:
                self._context_actors[scoped] = refused
                self._trim_context_actors()
                return refused
            user, guest_id, account, product, session_id, source_ip = fields
            source_ip = anonymize_ip(source_ip, self.settings.capture_ip)
            process = self._actor
            if user:
                user_id, guest = user, False
            elif guest_id:
                user_id, guest = guest_id, True
            else:
                user_id, guest = process.user_id, process.guest
            # A request's own user gets configure()'s defaults, never the process user's account.
            own_user = bool(user or guest_id)
            account = account or (
                self.settings.customer_account_id if own_user else process.customer_account_id
            )
            product = product or (self.settings.product_id if own_user else process.product_id)
            key: Hashable = ("visitor", guest_id or user_id) if own_user else PROCESS
            actor = Actor(user_id, guest, account, product, key, session_id, source_ip)
            seen = (user_id, None if guest else guest_id)
            new_user = own_user and seen not in self._known_users
            if new_user and not announce:
                return actor
            self._context_actors[scoped] = actor
            self._trim_context_actors()
            if len(self._actors_by_scope) >= 10_000:
                self._actors_by_scope.clear()
            self._actors_by_scope[id(scoped)] = (scoped, actor)  # holds scoped: the id stays its own
            if new_user:
                self._known_users[seen] = None
                if len(self._known_users) > 100_000:
                    self._known_users.popitem(last=False)
                self._queue_user_upsert(actor, previous_guest=None if guest else guest_id)
            return actor

    def _identity_fields(self, scoped: Identity) -> tuple[str | None, ...]:
        """The identity's ids, checked (a surrogate escaped and reported, a non-string refused)."""
        checked: list[str | None] = []
        for name in ("user_id", "guest_id", "customer_account_id", "product_id", "session_id", "source_ip"):
            value = getattr(scoped, name)
            if value is None:
                checked.append(None)
                continue
            cleaned, note = inputs.clean_id(f"identity {name}", value)
            if note:
                self._bad_input(note)
            checked.append(cleaned)
        return tuple(checked)

    def _trim_context_actors(self) -> None:
        if len(self._context_actors) > 10_000:
            self._context_actors.popitem(last=False)

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
        the event's own time when it differs (a backfill). Raises :class:`Refused` if the
        record cannot be encoded even with its text made valid. While the user has opted out the
        record is dropped here, counted: nothing reaches the disk.
        """
        if self._opted_out:
            self._pipeline.refused(1, OPTED_OUT)
            return
        envelope_key, envelope = self._envelope(actor, session_id)
        body = wire_body(kind, body, now if at is None else at)
        self._queue(kind, envelope_key, envelope, body, now, actor)

    def _queue(
        self, kind: str, envelope_key: str, envelope: dict[str, Any], body: Any, now: float, actor: Actor
    ) -> None:
        """:meth:`_emit` once the envelope and the wire body are known: encoded and queued."""
        guest = 1 if actor.guest else 0
        try:
            # decode(): orjson's bytes keep a 4 KiB buffer each; the str is an exact-size copy.
            # A Deferred body (a tuple) is written by the writer.
            body_json = body if body.__class__ is tuple else _dumps(body).decode()
        except TypeError:  # orjson: lone surrogates, an integer past 64 bits
            try:
                body_json = _dumps(inputs.plain(body)).decode()
            except TypeError as exc:
                raise Refused(f"it cannot be encoded as JSON ({exc})") from None
            self._bad_input(
                f"a {kind.replace('_', ' ')} had text with lone surrogates; sent with them escaped"
            )
        pending: Pending = (envelope_key, envelope, kind, now, guest, body_json)
        if self._durable:
            self._pipeline.write_through(pending)
        else:
            self._pipeline.append(pending)

    def _session_for(self, actor: Actor, now: float) -> str:
        if actor.session_id:
            return actor.session_id
        return self._sessions.touch(actor.session_key, actor, now).id

    def _event(self, actor: Actor, name: str, pairs: Pairs, now: float, at: float | None = None) -> None:
        session_id = self._session_for(actor, now)
        self._emit(EVENT, actor, session_id, (name, pairs), now, at)
        if signals.event_logged.receivers:
            self._signal(signals.event_logged, name=name, attributes=dict(pairs), user_id=actor.user_id)

    def _backfilled_event(self, actor: Actor, name: str, pairs: Pairs, at: float) -> None:
        """An event with its own time: in the actor's historical session, never the live one."""
        session_id = self._history.touch(actor.session_key, actor, at).id
        self._emit(EVENT, actor, session_id, (name, pairs), time.time(), at)
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

    def _refuse(self, message: str, count: int = 1) -> None:
        """A call's record cannot be made valid: count it as dropped, then report it."""
        self._pipeline.refused(count, INVALID_INPUT)
        self._bad_input(message)

    def _failed(self, what: str, exc: BaseException, count: int = 1) -> None:
        """A tracking call failed unexpectedly (a bug): never into the app, and counted."""
        self._pipeline.refused(count, COULD_NOT_RECORD, f"{what}: {type(exc).__name__}")
        now = time.monotonic()
        key = f"failed:{what}"
        if now - self._warned.get(key, -_WARN_EVERY) >= _WARN_EVERY:
            self._warned[key] = now
            logger.error("usageanalytics: %s failed; the record was not recorded", what, exc_info=exc)

    def _valid_name(self, what: str, name: Any, *, of_record: bool = False) -> str | None:
        """``name`` if usable (trimmed if too long); else reported, None. ``of_record``: the
        call's record goes with it (counted as dropped)."""
        if isinstance(name, _NAMED):
            return str(name.value)
        if not isinstance(name, str) or not name.strip():
            message = f"{what} must be a non-empty string, got {inputs.describe(name)}; call ignored"
            if of_record:
                self._refuse(message)
            else:
                self._bad_input(message)
            return None
        if len(name) > MAX_NAME_LENGTH:
            name, note = inputs.clean_text(what, name, MAX_NAME_LENGTH)
            if note:
                self._bad_input(note)
        return str(name)

    def _pairs(self, event: str, attributes: Any) -> Pairs:
        """The event's checked (name, value) pairs: bad ones reported and dropped, at most five."""
        if attributes is None:
            return ()
        if not isinstance(attributes, Mapping):
            self._bad_input(
                f"event {event!r}: attributes must be a dict, got "
                f"{type(attributes).__name__}; sent without attributes"
            )
            return ()
        if not attributes:
            return ()
        pairs = []
        for key, value in attributes.items():
            name = (
                key
                if type(key) is str and key.strip() and len(key) <= MAX_NAME_LENGTH
                else self._valid_name(f"event {event!r}: an attribute name", key)
            )
            if name is None:
                continue
            if type(value) is str:
                if len(value) > MAX_VALUE_LENGTH:
                    value, note = inputs.clean_text(
                        f"event {event!r}: attribute {name!r}", value, MAX_VALUE_LENGTH
                    )
                    if note:
                        self._bad_input(note)
            elif type(value) is int and _INT_MIN <= value < _INT_END:
                pass  # the common case, checked without a call
            else:
                problem = wire.value_problem(value)
                if problem is not None:
                    self._bad_input(f"event {event!r}: attribute {name!r} dropped: {problem}")
                    continue
                if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:  # a str subclass
                    value, note = inputs.clean_text(
                        f"event {event!r}: attribute {name!r}", value, MAX_VALUE_LENGTH
                    )
                    if note:
                        self._bad_input(note)
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
        if not self.settings.disabled and not self._warned_after_shutdown:
            self._warned_after_shutdown = True
            logger.warning(
                "usageanalytics: a call after shutdown() was ignored, and so are later ones (at "
                "interpreter exit the SDK's exit path has run: register an atexit handler that "
                "tracks after configure(), so that it runs first); records are counted as dropped"
            )
        return False

    def _recording(self, records: int = 1) -> bool:
        """Live, and allowed to record: the user has not opted out, and the call is not inside a
        request the web integrations leave untracked (no consent). A refused call's ``records``
        are counted as dropped, with why (quietly: these are the user's choices, not mistakes)."""
        if not self._active:
            if not self.settings.disabled and self._closed:
                self._pipeline.refused(records, AFTER_SHUTDOWN)
            return self._live()
        if self._opted_out:
            self._pipeline.refused(records, OPTED_OUT)
            return False
        reason = untracked_reason()
        if reason is not None:
            self._pipeline.refused(records, reason)
            return False
        return True

    def _may_record(self) -> bool:
        """The same, for calls that log nothing of their own (nothing to count)."""
        return self._active and not self._opted_out and untracked_reason() is None

    # -- before_send ----------------------------------------------------------------------------------

    def _apply_before_send(self, record: dict[str, Any]) -> Mapping[str, Any] | None:
        """The app's ``before_send`` on ``record``: what it returned, or None when it dropped
        the record, raised or returned something else (each counted; a failure logged)."""
        hook = self._before_send
        assert hook is not None
        inside = self._inside_before_send
        if getattr(inside, "active", False):  # the hook itself tracked something: no recursion
            self._before_send_failed("it made a tracking call, which would run before_send again", None)
            return None
        inside.active = True
        try:
            result: Mapping[str, Any] | None = hook(record)
            if result is not None and type(result) is not dict:
                if not isinstance(result, Mapping):
                    self._before_send_failed(
                        f"it returned {inputs.describe(result)}, not the record or None", None
                    )
                    return None
                result = dict(result)  # read once: a Mapping whose methods raise fails here
        except Exception as exc:
            self._before_send_failed(f"it raised {type(exc).__name__}: {exc}", exc)
            return None
        finally:
            inside.active = False
        if result is None:
            self._pipeline.refused(1, BEFORE_SEND)
            return None
        return result

    def _before_send_failed(self, detail: str, exc: BaseException | None) -> None:
        """Never sent unfiltered: the record is dropped, counted, and logged once a minute."""
        self._pipeline.refused(1, BEFORE_SEND_FAILED)
        now = time.monotonic()
        if now - self._warned.get(BEFORE_SEND_FAILED, -_WARN_EVERY) >= _WARN_EVERY:
            self._warned[BEFORE_SEND_FAILED] = now
            logger.error(
                "usageanalytics: before_send failed (%s); the record was dropped, never sent "
                "unfiltered (logged once a minute; client.stats() counts them all)",
                detail,
                exc_info=exc,
            )

    def _changed_actor(self, actor: Actor, result: Mapping[str, Any]) -> Actor:
        """``actor`` with the customer account before_send gave; Refused if it changed the
        user id (the user upsert, sessions and the guest's move to the user are keyed on it)."""
        user, account = actor.user_id, actor.customer_account_id
        if result.get("user_id", user) is user and result.get("customer_account_id", account) is account:
            return actor  # left as they were (the common case)
        if result.get("user_id", actor.user_id) != actor.user_id:
            raise Refused(
                "before_send changed user_id, which it cannot change (set_user() and "
                "ua.identity() decide whose a record is; pseudonymize ids there)"
            )
        account = result.get("customer_account_id", actor.customer_account_id)
        if account == actor.customer_account_id and (account is None or type(account) is str):
            return actor
        cleaned, note = inputs.clean_id("customer_account_id from before_send", account)
        if note:
            self._bad_input(note)
        return actor._replace(customer_account_id=cleaned)

    @staticmethod
    def _changed_time(result: Mapping[str, Any], stamp: datetime, when: float) -> float:
        """The record's time, as before_send left it (checked as ``timestamp=`` is)."""
        value = result.get("timestamp", stamp)
        if value is stamp:
            return when
        epoch, problem = backfill.event_time(value)
        if epoch is None:
            raise Refused(f"its timestamp from before_send is unusable: {problem}")
        return epoch

    def _offered(
        self, actor: Actor, when: float, kind: str, name: str, **fields: Any
    ) -> tuple[Mapping[str, Any], datetime] | None:
        """The record before_send is shown (see its documented shape), and what it returned
        with the time it was shown; None when it dropped the record (counted)."""
        stamp = datetime.fromtimestamp(when, _UTC)
        record = {
            "kind": kind,
            "name": name,
            **fields,
            "user_id": actor.user_id,
            "customer_account_id": actor.customer_account_id,
            "timestamp": stamp,
        }
        result = self._apply_before_send(record)
        return None if result is None else (result, stamp)

    def _name_kept(self, what: str, result: Mapping[str, Any], name: str) -> str | None:
        """The record's name as before_send left it: checked again only when it changed."""
        changed = result.get("name")
        if changed == name and type(changed) is str:
            return changed
        return self._valid_name(f"{what} from before_send", changed, of_record=True)

    def _filtered_event(
        self, actor: Actor, name: str, pairs: Pairs, when: float
    ) -> tuple[Actor, str, Pairs, float] | None:
        """An event through before_send: what it returned, checked as a call's input is, or
        None when it was dropped (counted). Raises Refused for what cannot be made valid."""
        offered = self._offered(actor, when, "event", name, attributes=dict(pairs))
        if offered is None:
            return None
        result, stamp = offered
        actor = self._changed_actor(actor, result)
        event = self._name_kept("event name", result, name)
        if event is None:
            return None
        attributes = result.get("attributes")
        if not _same_pairs(attributes, pairs):  # the common case, a hook that kept them, is not checked again
            pairs = self._pairs(event, attributes)
        return actor, event, pairs, self._changed_time(result, stamp, when)

    def _filtered_attribute(
        self, actor: Actor, name: str, value: Any, when: float
    ) -> tuple[Actor, str, dict[str, Any], float] | None:
        """A user attribute through before_send, as :meth:`_filtered_event`."""
        offered = self._offered(actor, when, "user_attribute", name, value=value)
        if offered is None:
            return None
        result, stamp = offered
        actor = self._changed_actor(actor, result)
        attribute = self._name_kept("user attribute name", result, name)
        if attribute is None:
            return None
        typed = self._typed_attribute(attribute, result.get("value"))
        if typed is None:
            return None
        return actor, attribute, typed, self._changed_time(result, stamp, when)

    def _session_event_kept(self, name: str, actor: Actor, attributes: dict[str, Any], wall: float) -> bool:
        """The SDK's own session events go through before_send too: it may drop them (None), but
        what it changes is not used (their name and parameters are the spec's contract)."""
        return self._offered(actor, wall, "event", name, attributes=attributes) is not None

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
        if not self._recording():
            return
        try:
            event = self._valid_name("event name", name, of_record=True)
            if event is None:
                return
            at: float | None = None
            if timestamp is not None:
                at, problem = backfill.event_time(timestamp)
                if problem is not None:
                    self._refuse(f"event {event!r} refused: {problem}")
                    return
            pairs = self._pairs(event, attributes)
            hook = self._before_send
            actor = self._current_actor() if hook is None else self._peek_actor()
            if at is None and debounce and self._debouncer.is_repeat((actor.user_id, event, pairs)):
                if signals.event_debounced.receivers:
                    self._signal(signals.event_debounced, name=event, user_id=actor.user_id)
                return
            now = time.time()
            moved: float | None = None  # a live event's own time, when before_send changed it
            if hook is not None:
                kept = self._filtered_event(actor, event, pairs, now if at is None else at)
                if kept is None:
                    return
                self._current_actor()  # a record of theirs is kept: the user is announced now
                actor, event, pairs, when = kept
                if at is not None:
                    at = when
                elif when != now:
                    moved = when
            if at is not None:
                self._backfilled_event(actor, event, pairs, at)
                return
            self._event(actor, event, pairs, now, moved)
        except TrackingInputError:
            raise
        except Refused as refused:
            self._refuse(f"event {_short(name)} refused: {refused}")
        except Exception as exc:
            self._failed("log_event", exc)

    def log_screen_view(
        self,
        screen_name: str,
        *,
        debounce: bool = False,
        attributes: Mapping[str, wire.Value] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        """Log the event "Screen View" with the attribute "Screen Name"."""
        if not self._recording():
            return
        try:
            screen = self._valid_name("screen name", screen_name, of_record=True)
            if screen is None:
                return
            merged: dict[Any, Any] = {wire.EventAttribute.SCREEN_NAME.value: screen}
            if attributes is not None:
                if isinstance(attributes, Mapping):
                    merged.update(attributes)
                else:
                    self._bad_input(
                        f"screen view {screen!r}: attributes must be a dict, got "
                        f"{type(attributes).__name__}; sent without them"
                    )
        except TrackingInputError:
            raise
        except Exception as exc:
            self._failed("log_screen_view", exc)
            return
        self.log_event(wire.SCREEN_VIEW, merged, debounce=debounce, timestamp=timestamp)

    def log_page_load(self, page_url: str, load_time_ms: float, request_count: int = 1) -> None:
        """Log ``page_load_event`` (spec: requestCount, loadTime, pageUrl); never debounced."""
        if not self._recording():
            return
        problem = _page_load_problem(page_url, load_time_ms, request_count)
        if problem is not None:
            try:
                self._refuse(f"page load refused: {problem}")
            except TrackingInputError:
                raise
            return
        self.log_event(
            wire.PAGE_LOAD,
            {
                "requestCount": request_count,
                "loadTime": load_time_ms,
                "pageUrl": page_url,
            },
        )

    def log_page_view(
        self, screen_name: str, page_url: str, load_time_ms: float, request_count: int = 1
    ) -> None:
        """Log a page the server sent: a "Screen View" named ``screen_name`` (its route) and its
        ``page_load_event``, in one call; never debounced (every page served counts).

        What the web integrations call for each page: one identity, session and check of the
        values for both events, where ``log_screen_view`` and ``log_page_load`` would each do
        their own. With a ``before_send`` hook each event goes through it, as those calls do.
        """
        if not self._recording(2):
            return
        if self._before_send is not None:
            self.log_screen_view(screen_name)
            self.log_page_load(page_url, load_time_ms, request_count)
            return
        records = 0  # what the call still stands for, counted if it is refused or fails
        try:
            screen = (
                screen_name  # what an integration passes, checked without a call
                if type(screen_name) is str and 0 < len(screen_name) <= MAX_VALUE_LENGTH
                else self._page_text("screen name", screen_name)
            )
            problem = (
                None  # what an integration passes, checked without a call
                if type(page_url) is str
                and page_url
                and type(load_time_ms) is float
                and math.isfinite(load_time_ms)
                and type(request_count) is int
                and _INT_MIN <= request_count < _INT_END
                else _page_load_problem(page_url, load_time_ms, request_count)
            )
            if problem is not None:
                self._refuse(f"page load refused: {problem}")
            records = (screen is not None) + (problem is None)
            if not records:
                return
            actor = self._current_actor()
            now = time.time()
            # Both events share the actor, session, envelope and time: each found once, and
            # their wire bodies written out here (what _event would build from the same pairs).
            session_id = actor.session_id or self._sessions.touch(actor.session_key, actor, now).id
            envelope_key, envelope = self._envelope(actor, session_id)
            if screen is not None:
                if self._opted_out:
                    self._pipeline.refused(1, OPTED_OUT)
                else:
                    # ASCII (a route template always is): its JSON is written by the writer
                    # thread, in its batches; other text may need its lone surrogates escaped.
                    body: Deferred | dict[str, Any] = (
                        (screen_view_json, screen)
                        if screen.isascii()
                        else screen_view_body(wire.timestamp(now), screen)
                    )
                    self._queue(EVENT, envelope_key, envelope, body, now, actor)
                records -= 1
                if signals.event_logged.receivers:
                    self._signal(
                        signals.event_logged,
                        name=wire.SCREEN_VIEW,
                        attributes={_SCREEN_NAME: screen},
                        user_id=actor.user_id,
                    )
            if problem is None:
                url = (
                    page_url
                    if type(page_url) is str and len(page_url) <= MAX_VALUE_LENGTH
                    else self._page_text("page url", page_url) or page_url
                )
                if self._opted_out:
                    self._pipeline.refused(1, OPTED_OUT)
                else:
                    body = (
                        (page_load_json, url, load_time_ms, request_count)
                        if url.isascii()
                        else page_load_body(wire.timestamp(now), url, load_time_ms, request_count)
                    )
                    self._queue(EVENT, envelope_key, envelope, body, now, actor)
                if signals.event_logged.receivers:
                    self._signal(
                        signals.event_logged,
                        name=wire.PAGE_LOAD,
                        attributes={"requestCount": request_count, "loadTime": load_time_ms, "pageUrl": url},
                        user_id=actor.user_id,
                    )
        except TrackingInputError:
            raise
        except Refused as refused:
            self._refuse(f"page view {_short(screen_name)} refused: {refused}", records)
        except Exception as exc:
            self._failed("log_page_view", exc, max(records, 1))

    def _page_text(self, what: str, value: Any) -> str | None:
        """A page's text value (a screen name, a URL) as an attribute value: trimmed when too long;
        else reported (the record counted as dropped) and None."""
        if type(value) is str and 0 < len(value) <= MAX_VALUE_LENGTH:
            return value
        if not isinstance(value, str) or not value:
            self._refuse(
                f"page view refused: {what} must be a non-empty string, got {inputs.describe(value)}"
            )
            return None
        text, note = inputs.clean_text(f"page view {what}", value, MAX_VALUE_LENGTH)
        if note:
            self._bad_input(note)
        return text

    def set_user_attribute(self, name: wire.UserAttribute | str, value: wire.Value) -> None:
        """Set a standard (``UserAttribute.LANGUAGE``) or custom (``"Employee Id"``) attribute."""
        if not self._recording():
            return
        try:
            attribute = self._valid_name("user attribute name", name, of_record=True)
            if attribute is None:
                return
            typed = self._typed_attribute(attribute, value)
            if typed is None:
                return
            now = when = time.time()
            if self._before_send is None:
                actor = self._current_actor()
            else:
                text = typed.get("stringValue") if typed["dataType"] == "String" else None
                kept = self._filtered_attribute(
                    self._peek_actor(), attribute, value if text is None else text, now
                )
                if kept is None:
                    return
                self._current_actor()  # a record of theirs is kept: the user is announced now
                actor, attribute, typed, when = kept
            body = {"name": attribute, **typed, "loggedAtTime": wire.timestamp(when)}
            self._emit(USER_ATTRIBUTE, actor, self._active_session(actor), body, now)
        except TrackingInputError:
            raise
        except Refused as refused:
            self._refuse(f"user attribute {_short(name)} refused: {refused}")
        except Exception as exc:
            self._failed("set_user_attribute", exc)

    def _typed_attribute(self, attribute: str, value: Any) -> dict[str, Any] | None:
        """A user attribute's typed value fields (long text trimmed), or None: refused."""
        try:
            typed = wire.typed_value(value)
        except (TypeError, ValueError, OverflowError) as exc:
            self._refuse(f"user attribute {attribute!r} ignored: {exc}")
            return None
        text = typed.get("stringValue")
        if typed["dataType"] == "String" and isinstance(text, str) and len(text) > MAX_VALUE_LENGTH:
            what = f"user attribute {attribute!r}"
            typed["stringValue"], note = inputs.clean_text(what, text, MAX_VALUE_LENGTH)
            if note:
                self._bad_input(note)
        return typed

    def set_user_attributes(self, attributes: Mapping[wire.UserAttribute | str, wire.Value]) -> None:
        """Set several user attributes; each bad one is reported and the rest kept."""
        if not self._live():
            return
        if not isinstance(attributes, Mapping):
            self._bad_input(f"set_user_attributes takes a dict, got {type(attributes).__name__}")
            return
        try:
            items = list(attributes.items())
        except TrackingInputError:
            raise
        except Exception as exc:
            self._failed("set_user_attributes", exc)
            return
        for name, value in items:
            self.set_user_attribute(name, value)

    def update_device_token(self, token: str, app_in_distribution: bool | None = None) -> None:
        """Send the push-notification token (FCM or APNs) of this device."""
        if not self._recording():
            return
        try:
            problem = _token_problem(token)
            if problem is not None:
                self._refuse(f"device token {problem}; ignored")
                return
            body: dict[str, Any] = {"deviceToken": token}
            if app_in_distribution is not None:
                if not isinstance(app_in_distribution, (bool, int)):
                    got = inputs.describe(app_in_distribution)
                    self._refuse(f"app_in_distribution must be True, False or None, got {got}")
                    return
                body["appInDistribution"] = bool(app_in_distribution)
            elif self.settings.platform == "iOS":
                self._refuse("update_device_token needs app_in_distribution on platform iOS; ignored")
                return
            actor = self._current_actor()
            self._emit(DEVICE_TOKEN, actor, actor.session_id, body, time.time())
        except TrackingInputError:
            raise
        except Refused as refused:
            self._refuse(f"device token refused: {refused}")
        except Exception as exc:
            self._failed("update_device_token", exc)

    # -- identity -----------------------------------------------------------------------------------

    def set_user(
        self, user_id: str, customer_account_id: str | None = None, product_id: str | None = None
    ) -> None:
        """The user logged in: later records are theirs, and so is what their guest logged."""
        if not self._live():
            return
        try:
            if not isinstance(user_id, str) or not user_id.strip():
                self._refuse(
                    f"user id must be a non-empty string, got {inputs.describe(user_id)}; call ignored"
                )
                return
            user, account, product = self._checked_ids(user_id, customer_account_id, product_id)
        except TrackingInputError:
            raise
        except Refused as refused:
            self._refuse(f"set_user refused: {refused}; the user is unchanged")
            return
        try:
            with self._identity_lock:
                previous = self._actor
                account = account or self.settings.customer_account_id
                product = product or self._product_override or self.settings.product_id
                actor = Actor(user, False, account, product, PROCESS)
                if actor == previous:
                    return
                if not previous.guest and previous.user_id != user:
                    self._sessions.end(PROCESS)
                    self._history.end(PROCESS)
                self._actor = actor
            self._announce_process_user = False
            self._queue_user_upsert(actor, previous_guest=previous.user_id if previous.guest else None)
            self._persist_identity()
            self._signal(signals.user_changed, user_id=user, previous_user_id=previous.user_id, guest=False)
        except TrackingInputError:
            raise
        except Exception as exc:
            self._failed("set_user", exc)

    def _checked_ids(self, user_id: Any, account: Any, product: Any) -> tuple[str, str | None, str | None]:
        user, note = inputs.clean_id("user id", user_id)
        checked: list[str | None] = []
        notes = [note]
        for what, value in (("customer_account_id", account), ("product_id", product)):
            if value is None:
                checked.append(None)
                continue
            cleaned, note = inputs.clean_id(what, value)
            checked.append(cleaned)
            notes.append(note)
        for note in notes:
            if note:
                self._bad_input(note)
        return user, checked[0], checked[1]

    def reset_user(self) -> None:
        """The user logged out: end their session and continue as a new guest. Called while a
        captured web request runs (a logout view), it is that browser that becomes a new guest."""
        if not self._live():
            return
        try:
            from .webcapture import logout_in_request

            if logout_in_request():
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
            self._pipeline.submit(lambda: self._state.set("guest_id", guest))
            self._announce_process_user = False
            self._queue_user_upsert(self._actor, previous_guest=None)
            self._persist_identity()
            self._signal(signals.user_changed, user_id=guest, previous_user_id=previous.user_id, guest=True)
        except TrackingInputError:
            raise
        except Exception as exc:
            self._failed("reset_user", exc)

    def set_product_id(self, product_id: str) -> None:
        """The user switched to another product."""
        if not self._live():
            return
        try:
            product, note = inputs.clean_id("product id", product_id)
        except Refused as refused:
            self._bad_input(f"set_product_id refused: {refused}; the product is unchanged")
            return
        if note:
            self._bad_input(note)
        with self._identity_lock:
            self._product_override = product
            self._actor = self._actor._replace(product_id=product)
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
        self._pipeline.submit(lambda: self._state.set("identity", encoded))

    def _queue_user_upsert(self, actor: Actor, previous_guest: str | None) -> None:
        body: dict[str, Any] = {
            "status": "Active",
            "loginMechanism": "GUEST" if actor.guest else "AUTH",
        }
        if self.settings.bundle_id:
            body["bundleId"] = self.settings.bundle_id
        if previous_guest:
            body["lastLoggedInUserId"] = previous_guest
        self._emit(USER, actor, self._active_session(actor), body, time.time())

    # -- sessions -----------------------------------------------------------------------------------

    def _on_session_start(self, session: Session, wall: float) -> None:
        actor: Actor = session.actor
        if self._before_send is not None and not self._session_event_kept(
            wire.SESSION_START, actor, {"sessionId": session.id, "startTime": _utc(session.started)}, wall
        ):
            return
        self._emit(
            EVENT,
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
        if self._before_send is not None and not self._session_event_kept(
            wire.SESSION_END, actor, {"sessionId": session.id, "endTime": _utc(wall)}, wall
        ):
            return
        self._emit(
            EVENT,
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
        if self._may_record():
            try:
                self._current_actor()
            except TrackingInputError:
                raise
            except Refused as refused:
                self._refuse(f"identify refused: {refused}")
            except Exception as exc:
                self._failed("identify", exc)

    def start_session(self) -> str | None:
        """Start the current actor's session now if none is active (an app's launch, say).

        Sessions otherwise start with the first event. Returns the session id.
        """
        if not self._may_record():
            return None
        try:
            actor = self._current_actor()
            return self._session_for(actor, time.time())
        except TrackingInputError:
            raise
        except Refused as refused:
            self._refuse(f"start_session refused: {refused}")
        except Exception as exc:
            self._failed("start_session", exc)
        return None

    def end_session(self) -> None:
        """End the current actor's session now (the next activity starts a new one)."""
        if not self._live():
            return
        try:
            self._sessions.end(self._current_actor().session_key)
        except TrackingInputError:
            raise
        except Refused as refused:
            self._bad_input(f"end_session ignored: {refused}")
        except Exception as exc:
            self._failed("end_session", exc)

    # -- the app in front or not (desktop integrations) --------------------------------------------
    # One self-contained block (issue 9): the Qt integration calls it on
    # QGuiApplication.applicationStateChanged; apps on other GUI toolkits may call it too.

    def set_app_active(self, active: bool | None) -> None:
        """Tell the client whether the app is in front, as the mobile SDKs follow foreground.

        ``True`` (the app has the active window): the session starts if needed and never times
        out meanwhile, however long nothing is logged. ``False``: the session ends
        ``session_timeout`` seconds later, its end time the moment the app went inactive, unless
        the app is active again first (then it goes on). ``None``: back to plain inactivity.
        """
        if not self._may_record():
            return
        try:
            actor = self._current_actor()
            if not actor.session_id:  # a context that manages its own sessions is left alone
                self._sessions.set_foreground(actor.session_key, actor, active, time.time())
        except Exception:  # no record is at stake: log it, never into the app
            logger.exception("usageanalytics: set_app_active failed")

    # -----------------------------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The current actor's session id, if a session is active."""
        if not self._active:
            return None
        try:
            return self._active_session(self._peek_actor())  # reading it announces no one
        except Exception:
            return None

    def _active_session(self, actor: Actor) -> str | None:
        """The actor's session id if one is running; unlike an event, this starts none."""
        if actor.session_id:
            return actor.session_id
        session = self._sessions.current(actor.session_key)
        return session.id if session else None

    # -- background work ----------------------------------------------------------------------------

    def _send_device_attributes(self) -> None:
        if self._opted_out:
            return  # sent by opt_in()
        attributes = device.collect(self.settings, self.device_id)
        fingerprint = device.fingerprint(attributes)
        if self._state.get("device_fingerprint") == fingerprint:
            return
        actor = self._actor
        self._emit(DEVICE_ATTRIBUTE, actor, None, {"deviceAttributes": attributes}, time.time())
        if not self._opted_out:  # dropped by an opt-out meanwhile: sent again after opt_in()
            self._state.set("device_fingerprint", fingerprint)

    def _tick(self) -> None:
        self._sessions.expire()
        self._history.expire()
        self._follow_consent()

    def _signal(self, signal: Any, **info: Any) -> None:
        if not signal.receivers:
            return
        try:
            signal.send(self, **info)
        except Exception:
            logger.exception("usageanalytics signal receiver failed")

    # -- consent and erasure ------------------------------------------------------------------------

    def opt_out(self) -> None:
        """The user opted out: record, write and send nothing from now on, here and in every
        process sharing the data folder (within a second), across restarts, until :meth:`opt_in`.

        What the data folder still has queued (in memory, this process's queue, dead processes'
        queues, held records) is discarded, counted as dropped with reason "opted out".
        """
        if self.settings.disabled:
            return
        with self._consent_lock:
            self._save_consent("out")
            if not self._active:
                return  # the next process to start on this folder discards what is left
            try:
                count = self._set_opted_out(True)
            except Exception:
                logger.exception("usageanalytics: discarding the queue at opt_out() failed; it is not sent")
                return
        logger.info("usageanalytics: opted out; %d queued records discarded", count)

    def opt_in(self) -> None:
        """The user opted in (again): record from now on, here and in every process sharing the
        data folder, across restarts. Nothing from the opted-out time is recorded after the fact."""
        if self.settings.disabled:
            return
        with self._consent_lock:
            self._save_consent("in")
            if self._active:
                self._set_opted_out(False)

    def is_opted_out(self) -> bool:
        """Whether the user opted out (or, with ``opt_out_by_default``, has not opted in)."""
        return not self.settings.disabled and self._opted_out

    def _saved_choice(self) -> bool | None:
        """The choice saved in the data folder: True opted out, False opted in, None none."""
        saved = self._state.get(CONSENT_KEY)
        return None if saved not in ("out", "in") else saved == "out"

    def _save_consent(self, value: str) -> None:
        try:
            self._state.set(CONSENT_KEY, value)
        except (OSError, sqlite3.Error) as exc:
            logger.error(
                "usageanalytics could not save the opt-%s choice in %s (%s); it holds for this process only",
                value,
                self.data_dir,
                exc,
            )

    def _set_opted_out(self, opted_out: bool) -> int:
        """Apply a change of consent; returns how many queued records were discarded."""
        with self._identity_lock:
            changed = self._opted_out != opted_out
            self._opted_out = opted_out
        if opted_out:
            # No end event may follow: the sessions are forgotten, not ended.
            self._sessions.forget(lambda session: True)
            self._history.forget(lambda session: True)
            return self._discard_opted_out()
        if changed:
            # Users and the device are announced again with the first records that follow.
            with self._identity_lock:
                self._announce_process_user = True
                self._known_users.clear()
                self._context_actors.clear()
                self._actors_by_scope.clear()
            if self.settings.collect_device_attributes:
                self._pipeline.submit(self._send_device_attributes)
        return 0

    def _discard_opted_out(self) -> int:
        """Discard everything queued, if the user is (still) opted out; returns how many."""
        with self._consent_lock:
            return self._pipeline.erase(lambda record: True, OPTED_OUT) if self._opted_out else 0

    def _discard_left_behind(self) -> None:
        """Started opted out: what earlier processes left queued in the folder is not sent."""
        self._discard_opted_out()

    def _follow_consent(self) -> None:
        """Once a second (writer thread): follow a choice another process made on the folder,
        and, while opted out, discard what reached the queue since (a call that raced
        opt_out(), a dead process's queue)."""
        with self._consent_lock:
            try:
                choice = self._saved_choice()
            except (OSError, sqlite3.Error):
                logger.debug("usageanalytics could not read the saved consent", exc_info=True)
                return  # the last known state stands
            saved = self.settings.opt_out_by_default if choice is None else choice
            if saved != self._opted_out:
                count = self._set_opted_out(saved)
                logger.info(
                    "usageanalytics: opted %s in another process%s",
                    "out" if saved else "in",
                    f"; {count} queued records discarded" if count else "",
                )
            elif saved:
                stats = self._pipeline.stats()
                if stats.queued or stats.held or stats.in_memory:
                    self._discard_opted_out()

    def forget_user(self, user_id: str) -> int:
        """Drop every record of ``user_id`` still on this machine; returns how many.

        For a GDPR erasure request: records in memory, in this process's queue, in the queues
        it adopted from dead processes and held records, those of the guests who became this
        user, and their dead letters (rewritten or deleted) are dropped, counted as dropped with
        reason "forgotten", with no trace left in the queue's files; the guest-to-user aliases
        naming them are deleted. Data already delivered must be erased on the SmartKarrot side.
        Another live process on the same data folder keeps its own queue: call it there too.
        """
        if self.settings.disabled:
            return 0
        try:
            user, note = inputs.clean_id("user id", user_id)
        except Refused as refused:
            self._bad_input(f"forget_user ignored: {refused}")
            return 0
        if note:
            self._bad_input(note)
        if not self._active:
            logger.warning("usageanalytics: forget_user() after shutdown() does nothing")
            return 0
        try:
            ids = self._ids_of(user)
            count = 0
            for _ in range(4):  # each pass may name guests of the user found in queued logins
                learned: set[str] = set()
                count += self._pipeline.erase(_of_users(ids, learned), FORGOTTEN, self.settings.timeout + 2)
                if learned <= ids:
                    break
                ids |= learned
            self._forget_in_memory(ids)
            self._state.forget(ids, keys=self._saved_identity_of(ids))
        except Exception:
            logger.exception("usageanalytics: forget_user(%r) failed", user)
            raise
        logger.info("usageanalytics: forgot user %r: %d records dropped", user, count)
        return count

    def _ids_of(self, user: str) -> set[str]:
        """``user`` and the guest ids known to have become them (aliases, this process's logins)."""
        ids = {user}
        ids.update(guest for guest, alias in self._state.aliases().items() if alias.user_id == user)
        ids.update(guest for known, guest in list(self._known_users) if known == user and guest)
        return ids

    def _saved_identity_of(self, ids: set[str]) -> list[str]:
        """``["identity"]`` when the user logged in on this folder is one of ``ids``: the folder
        stops remembering them (a process using them now keeps them until reset_user())."""
        saved = self._state.get("identity")
        try:
            user = json.loads(saved).get("user_id") if saved else None
        except (ValueError, AttributeError):
            return []
        return ["identity"] if user in ids else []

    def _forget_in_memory(self, ids: set[str]) -> None:
        """No later record may name a forgotten user by accident: their sessions are forgotten
        (no end event), and the caches that would skip announcing them again are cleared."""
        self._sessions.forget(lambda session: session.actor.user_id in ids)
        self._history.forget(lambda session: session.actor.user_id in ids)
        with self._identity_lock:
            for key in [key for key in self._known_users if key[0] in ids or key[1] in ids]:
                del self._known_users[key]
            self._context_actors.clear()
            self._actors_by_scope.clear()
            if self._actor.user_id in ids:
                self._announce_process_user = True
        self._debouncer = Debouncer(self.settings.debounce_window)

    # -- the ledger, flushing and shutdown ----------------------------------------------------------

    def stats(self) -> Stats:
        """The ledger: how many records were logged, delivered, dead-lettered, dropped (by
        reason), and how many are still queued, held or in memory. See ``Stats``."""
        if self.settings.disabled:
            return Stats()
        return self._pipeline.stats()

    def discard_queued(self, predicate: RecordFilter, reason: str) -> int:
        """Drop every record still queued (in memory, on disk, held, in adopted queues) for
        which ``predicate(record)`` is true, counted as dropped with ``reason``; returns how many.

        ``record`` is a :class:`usageanalytics.records.Record` (``kind``, ``envelope`` with the
        wire fields such as ``userId``, ``body``). For privacy controls (forget a user, opt out).
        """
        if self.settings.disabled:
            return 0
        if not callable(predicate):
            self._bad_input(f"discard_queued: predicate must be callable, got {inputs.describe(predicate)}")
            return 0
        if type(reason) is not str or not reason.strip():
            self._bad_input(
                f"discard_queued: reason must be a non-empty string, got {inputs.describe(reason)}"
            )
            return 0
        reason, _ = inputs.clean_text("discard reason", reason, MAX_REASON_LENGTH)
        try:
            return self._pipeline.discard(predicate, reason)
        except Exception:
            logger.exception("usageanalytics: discard_queued failed; what it dropped before is counted")
            return 0

    def flush(self, timeout: float = 10.0) -> bool:
        """Send everything queued now; True when nothing is left queued before ``timeout`` seconds.

        Records held for a guest with no customer account count as not sent (and are logged).
        """
        if not self._active:
            # Disabled: nothing was recorded. Shut down: True only if shutdown() sent everything
            # (what it could not send stays queued on disk); False while it is still running.
            return self.settings.disabled or (self._closed and self._shutdown_result)
        seconds = self._seconds("flush timeout", timeout, 10.0)
        if self._opted_out:
            self._discard_opted_out()  # whatever raced opt_out(): it is not sent
        done = self._pipeline.flush(seconds)
        if not done and self._pipeline.held_count():
            logger.warning(
                "usageanalytics: records of a guest without a customer account are held until "
                "set_user(..., customer_account_id=...) or configure(customer_account_id=...)"
            )
        return done

    def shutdown(self, timeout: float = 10.0) -> bool:
        """End sessions, flush for up to ``timeout`` seconds and stop the threads.

        Returns whether everything was sent; what was not stays on disk for the next start.
        Idempotent and safe from any thread (a second call returns the first one's result):
        this is the exit path, also run at interpreter exit and on SIGTERM. A SIGTERM that
        interrupts it on the main thread lets it finish before it ends the process.
        """
        if self.settings.disabled:
            return True
        seconds = self._seconds("shutdown timeout", timeout, 10.0)  # may raise (strict): still open
        with lifecycle.exit_scope(), self._shutdown_lock:
            if self._closed:
                return self._shutdown_result
            if not self._active:
                self._closed = True
                return True
            self._shutdown_result = False  # until the pipeline says everything was sent
            self._closed = True
            self._active = False  # calls from other threads from now on are ignored
            try:
                self._sessions.end_all()
                self._history.end_all()
            except Exception:
                logger.exception("usageanalytics: ending sessions at shutdown failed")
            self._shutdown_result = self._pipeline.shutdown(seconds)
            return self._shutdown_result

    def _seconds(self, what: str, value: Any, default: float) -> float:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value < 0
        ):
            self._bad_input(
                f"{what} must be a number of seconds, got {inputs.describe(value)}; using {default}"
            )
            return default
        return float(value)

    def replay_dead_letters(self) -> int:
        """Queue every dead-lettered batch again (after fixing the cause); returns the count."""
        if not self._active:
            return 0
        return self._pipeline.replay_dead_letters()

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
        self._pipeline.after_fork_in_child()
        self._identity_lock = threading.RLock()
        self._consent_lock = threading.RLock()
        self._shutdown_lock = threading.Lock()
        self._sessions = SessionTracker(
            self.settings.session_timeout, self._on_session_start, self._on_session_end
        )
        self._history = backfill.HistoricalSessions(
            self.settings.session_timeout, self._on_session_start, self._on_session_end
        )
        self._debouncer = Debouncer(self.settings.debounce_window)


def _same_pairs(attributes: Any, pairs: Pairs) -> bool:
    """Whether ``attributes`` holds exactly ``pairs``, the very same value objects (attribute
    values are immutable, so the same objects are the same checked values)."""
    if type(attributes) is not dict or len(attributes) != len(pairs):
        return False
    get = attributes.get
    for name, value in pairs:  # noqa: SIM110 - all() over a generator costs twice this, per event
        if get(name, _MISSING) is not value:
            return False
    return True


_MISSING = object()


def _of_users(ids: set[str], learned: set[str]) -> RecordFilter:
    """A filter for the records of ``ids``; the guests their queued logins name go in ``learned``."""

    def matches(record: Record) -> bool:
        if record["envelope"].get("userId") not in ids:
            return False
        if record["kind"] == USER:
            guest = record["body"].get("lastLoggedInUserId")
            if isinstance(guest, str) and guest:
                learned.add(guest)
        return True

    return matches


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, _UTC)


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _page_load_problem(page_url: Any, load_time_ms: Any, request_count: Any) -> str | None:
    """Why a page load cannot be sent (the spec requires all three fields, typed)."""
    if not isinstance(page_url, str) or not page_url:
        return f"page_url must be a non-empty string, got {inputs.describe(page_url)}"
    for what, value in (("load_time_ms", load_time_ms), ("request_count", request_count)):
        if (
            wire.value_problem(value) is not None
            or isinstance(value, bool)
            or not isinstance(value, (int, float))
        ):
            return f"{what} must be a number, got {inputs.describe(value)}"
    return None


def _token_problem(token: Any) -> str | None:
    if not isinstance(token, str) or not token.strip():
        return f"must be a non-empty string, got {inputs.describe(token)}"
    if len(token) > MAX_VALUE_LENGTH:
        return f"is longer than {MAX_VALUE_LENGTH} characters"
    if inputs.escape_surrogates(token) is not token:
        return "is not valid Unicode (it has lone surrogates)"
    return None


def _after_fork(ref: weakref.ReferenceType[Client]) -> None:
    client = ref()
    if client is not None:
        client._after_fork_in_child()
