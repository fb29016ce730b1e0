"""Signals (blinker) to observe the pipeline without patching it.

Connect a receiver to learn what the SDK does, for metrics, logs or tests::

    from usageanalytics import signals

    @signals.batch_rejected.connect
    def alert(sender, **info):
        log.error("SmartKarrot rejected %s records: %s", info["count"], info["reason"])

Every signal is sent with the client as ``sender``; keyword arguments are listed below. Receivers
run on the thread that sends (the caller's for ``event_logged``, the background sender's for batch
signals), so they must be quick and must not raise: an exception in a receiver is logged and
swallowed.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

event_logged = _signals.signal("event-logged", doc="name, attributes (wire list), user_id")
event_debounced = _signals.signal("event-debounced", doc="name, user_id")
batch_sent = _signals.signal("batch-sent", doc="path, count, idempotency_id")
batch_failed = _signals.signal("batch-failed", doc="path, count, idempotency_id, reason, retry_in (seconds)")
batch_rejected = _signals.signal(
    "batch-rejected", doc="path, count, idempotency_id, reason, dead_letter (path)"
)
record_dropped = _signals.signal("record-dropped", doc="count, reason")
session_started = _signals.signal("session-started", doc="session_id, user_id")
session_ended = _signals.signal("session-ended", doc="session_id, user_id")
user_changed = _signals.signal("user-changed", doc="user_id, previous_user_id, guest")

__all__ = [
    "batch_failed",
    "batch_rejected",
    "batch_sent",
    "event_debounced",
    "event_logged",
    "record_dropped",
    "session_ended",
    "session_started",
    "user_changed",
]
