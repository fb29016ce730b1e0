"""The ledger: where every record a tracking call produced has gone.

Each record ends in exactly one state: **delivered** (the server said SUCCESS), **dead-lettered**
(with the server's answer, in the dead-letter folder), **dropped** (with a reason: counted,
logged at most once a minute per reason, and sent as the ``record_dropped`` signal) or still
**queued** (on disk, or in memory for at most the write interval). Every change is a transfer
between these buckets made under one lock, so a snapshot always balances::

    logged + adopted + replayed == delivered + dead_lettered + dropped + queued + held + in_memory

``adopted`` counts records taken over from dead processes' queues and ``replayed`` dead letters
taken back: queued again, or dropped (``forget_user`` erases a user's dead letters too). The
totals are also added to ``state.sqlite`` in the data folder (at most once a second, and at
shutdown), where ``usageanalytics status`` reads them.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

logger = logging.getLogger("usageanalytics")

# Reasons a record is dropped. Callers may pass others (the privacy controls add theirs).
INVALID_INPUT = "invalid input"
OVER_MAX_QUEUED = "queue over max_queued_records"
TOO_OLD = "older than max_record_age"
MEMORY_FULL = "in-memory buffer full"
NOT_WRITTEN = "could not be written to disk"
NOT_ENCODED = "could not be encoded"
CORRUPT = "corrupt queue data"
SUPERSEDED = "superseded by login"
# The privacy controls' reasons (usageanalytics.privacy, the client and the web integrations).
BEFORE_SEND = "before_send"  # the app's before_send hook returned None
BEFORE_SEND_FAILED = "before_send failed"  # it raised, or returned something that is not a record
OPTED_OUT = "opted out"
FORGOTTEN = "forgotten"
AFTER_SHUTDOWN = "after shutdown"  # a tracking call after shutdown() (an atexit handler run after ours)
NO_CONSENT_GPC = "no consent (Global Privacy Control)"
NO_CONSENT_DNT = "no consent (Do Not Track)"
NO_CONSENT = "no consent (consent(request))"
# Expected in normal use (a guest's own upsert replaced by their login, the user's own privacy
# choices): logged at debug only. The client logs a failing before_send itself, with its error.
QUIET_REASONS = frozenset(
    {
        SUPERSEDED,
        BEFORE_SEND,
        BEFORE_SEND_FAILED,
        OPTED_OUT,
        FORGOTTEN,
        AFTER_SHUTDOWN,
        NO_CONSENT_GPC,
        NO_CONSENT_DNT,
        NO_CONSENT,
    }
)
_WARN_EVERY = 60.0


@dataclass(frozen=True)
class Stats:
    """A snapshot of the ledger (see the module docstring); what ``Client.stats()`` returns."""

    logged: int = 0
    adopted: int = 0
    replayed: int = 0
    delivered: int = 0
    dead_lettered: int = 0
    dropped: Mapping[str, int] = field(default_factory=dict)
    queued: int = 0  # on disk, waiting to be sent (held excluded)
    held: int = 0  # on disk, waiting for a customer account
    in_memory: int = 0  # not yet written to disk (at most the write interval)
    quarantined: int = 0  # damaged queue items or folders moved to the quarantine folder

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())

    @property
    def balanced(self) -> bool:
        """Every record accounted for: what came in equals where it went."""
        came_in = self.logged + self.adopted + self.replayed
        went = self.delivered + self.dead_lettered + self.dropped_total
        return came_in == went + self.queued + self.held + self.in_memory

    def as_dict(self) -> dict[str, object]:
        return {
            "logged": self.logged,
            "adopted": self.adopted,
            "replayed": self.replayed,
            "delivered": self.delivered,
            "dead_lettered": self.dead_lettered,
            "dropped": dict(self.dropped),
            "queued": self.queued,
            "held": self.held,
            "in_memory": self.in_memory,
            "quarantined": self.quarantined,
        }


DropCallback = Callable[[int, str], None]


class Ledger:
    """The counts, and the transfers between them; thread-safe.

    ``on_dropped(count, reason)`` is called (outside the lock) after each drop, to signal it.
    """

    def __init__(
        self, on_dropped: DropCallback | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._lock = threading.Lock()
        self._on_dropped = on_dropped
        self._clock = clock
        self.logged = 0  # records out of memory (persisted or dropped) plus those refused at the call
        self.adopted = 0
        self.replayed = 0
        self.delivered = 0
        self.dead_lettered = 0
        self.dropped: collections.Counter[str] = collections.Counter()
        self.queued = 0
        self.held = 0
        self.quarantined = 0
        self._unsaved: collections.Counter[str] = collections.Counter()
        self._warned: dict[str, float] = {}

    # -- inflows ---------------------------------------------------------------------------------

    def refused(
        self, count: int, reason: str = INVALID_INPUT, detail: str | None = None, *, quiet: bool = False
    ) -> None:
        """Records refused at the call (the call logged why unless it passes ``detail``)."""
        with self._lock:
            self.logged += count
            self._unsaved["logged"] += count
            self._drop(count, reason)
        self._after_drop(count, reason, detail, quiet=quiet)

    def persisted(self, count: int) -> None:
        """Memory to disk."""
        with self._lock:
            self.logged += count
            self._unsaved["logged"] += count
            self.queued += count

    def not_persisted(self, count: int, reason: str, detail: str | None = None) -> None:
        """Records that left memory without reaching the disk."""
        with self._lock:
            self.logged += count
            self._unsaved["logged"] += count
            self._drop(count, reason)
        self._after_drop(count, reason, detail)

    def adopted_from(self, queued: int, held: int) -> None:
        with self._lock:
            self.adopted += queued + held
            self.queued += queued
            self.held += held

    def replayed_letters(self, count: int) -> None:
        with self._lock:
            self.replayed += count
            self._unsaved["replayed"] += count
            self.queued += count

    def letters_dropped(self, count: int, reason: str) -> None:
        """Dead-lettered records taken back and dropped (a forgotten user's): like a replay,
        an inflow under ``replayed``, that goes straight to dropped."""
        if count <= 0:
            return
        with self._lock:
            self.replayed += count
            self._unsaved["replayed"] += count
            self._drop(count, reason)
        self._after_drop(count, reason, None)

    # -- outcomes --------------------------------------------------------------------------------

    def sent(self, count: int) -> None:
        with self._lock:
            self.queued -= count
            self.delivered += count
            self._unsaved["delivered"] += count

    def rejected(self, count: int) -> None:
        with self._lock:
            self.queued -= count
            self.dead_lettered += count
            self._unsaved["dead_lettered"] += count

    def discarded(self, count: int, reason: str, detail: str | None = None, *, held: bool = False) -> None:
        """Records dropped from disk (``held``: from the held records)."""
        if count <= 0:
            return
        with self._lock:
            if held:
                self.held -= count
            else:
                self.queued -= count
            self._drop(count, reason)
        self._after_drop(count, reason, detail)

    def hold(self, count: int) -> None:
        with self._lock:
            self.queued -= count
            self.held += count

    def release(self, count: int) -> None:
        with self._lock:
            self.held -= count
            self.queued += count

    def quarantine(self) -> None:
        with self._lock:
            self.quarantined += 1

    # -- reading ---------------------------------------------------------------------------------

    def snapshot(self, in_memory: int) -> Stats:
        with self._lock:
            return Stats(
                logged=self.logged + in_memory,
                adopted=self.adopted,
                replayed=self.replayed,
                delivered=self.delivered,
                dead_lettered=self.dead_lettered,
                dropped=dict(self.dropped),
                queued=self.queued,
                held=self.held,
                in_memory=in_memory,
                quarantined=self.quarantined,
            )

    def take_unsaved(self) -> dict[str, int]:
        """The increments not yet added to the data folder's totals (and forget them)."""
        with self._lock:
            unsaved = {name: count for name, count in self._unsaved.items() if count}
            self._unsaved.clear()
            return unsaved

    def restore_unsaved(self, unsaved: Mapping[str, int]) -> None:
        """Saving failed: keep the increments for the next attempt."""
        with self._lock:
            self._unsaved.update(unsaved)

    # -- internals -------------------------------------------------------------------------------

    def _drop(self, count: int, reason: str) -> None:
        self.dropped[reason] += count
        self._unsaved[f"dropped:{reason}"] += count

    def _after_drop(self, count: int, reason: str, detail: str | None, *, quiet: bool = False) -> None:
        if not quiet:
            level = logging.DEBUG if reason in QUIET_REASONS else logging.WARNING
            now = self._clock()
            with self._lock:
                due = now - self._warned.get(reason, -_WARN_EVERY) >= _WARN_EVERY
                if due:
                    if len(self._warned) > 1000:
                        self._warned.clear()
                    self._warned[reason] = now
            if due or level == logging.DEBUG:
                logger.log(
                    level,
                    "usageanalytics dropped %d record%s: %s%s (such drops are logged once a minute; "
                    "client.stats() counts them all)",
                    count,
                    "" if count == 1 else "s",
                    reason,
                    f" ({detail})" if detail else "",
                )
        if self._on_dropped is not None:
            try:
                self._on_dropped(count, reason)
            except Exception:
                logger.exception("usageanalytics record_dropped receiver failed")
