"""The writer thread: moves records from memory to the disk queue, a chunk every ~100 ms.

Tracking calls only append to an in-memory deque (no lock, no I/O). persist-queue syncs to disk on
every put (about 300 us), so writing record by record would cap the SDK at ~3,000 records/s and
put disk latency in the caller's path; the writer instead stores everything logged since its last
pass as one queue item. A process killed with SIGKILL loses at most the last ``write_interval``
(0.1 s by default) of records; ``durable=True`` makes each call write before it returns.

Nothing leaves memory unaccounted: each batch is booked in the ledger as persisted, or dropped
with its reason. A record that cannot be encoded is dropped alone; a disk that refuses writes
(full, a file-size limit) keeps the records in memory for :data:`WRITE_GRACE` seconds of retries,
then drops them with the error, counted and signalled, rather than grow without bound.

The writer is also the SDK's clock: it runs small background tasks (persisting ids, collecting
device attributes), ends idle sessions and saves the ledger's totals.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from .ledger import MEMORY_FULL, NOT_ENCODED, NOT_WRITTEN, Ledger
from .records import EnvelopeTexts, Pending, encode_pending
from .storage import QueueStore

logger = logging.getLogger("usageanalytics")

Task = Callable[[], None]
# Records per queue item. Every SQLite call gives up the GIL, and a busy caller thread keeps it
# for up to 5 ms before the writer gets it back, so puts must be few in a burst; but the sender
# decodes a whole item at once, so items must stay small (5,000 rows are ~1 MB of JSON).
CHUNK_RECORDS = 5000
WAKE_AT = 2000  # pending records that wake the writer before its interval is up
# In a burst of more than this many records ahead of the writer, every YIELD_EVERY-th call gives
# the GIL up for a moment (``time.sleep(0)``): otherwise a caller logging in a tight loop keeps
# the GIL for most of each 5 ms switch interval and its backlog in memory grows without bound.
YIELD_ABOVE = 8192
YIELD_EVERY = 2048
WRITE_GRACE = 5.0  # seconds a failing disk is retried before the records waiting on it go
ENVELOPES_KEPT = 10_000  # envelopes' JSON kept for the chunks to come (a visitor's is in each)


class Writer:
    """Owns the in-memory handoff and the thread that persists it."""

    def __init__(
        self,
        store: QueueStore,
        interval: float,
        max_pending: int,
        ledger: Ledger,
        on_persisted: Callable[[list[Pending]], None],
        on_tick: Callable[[], None],
    ) -> None:
        self.store = store
        self.pending: collections.deque[Pending] = collections.deque()
        self._interval = interval
        self._max_pending = max_pending
        self._ledger = ledger
        self._on_persisted = on_persisted
        self._on_tick = on_tick
        self._tasks: collections.deque[Task] = collections.deque()
        self._envelopes: EnvelopeTexts = {}
        self._wake = threading.Event()
        self._stopping = False
        self.write_lock = threading.Lock()  # held while records are between memory and disk
        self._failing_since: float | None = None
        self._passes = 0
        self._passes_done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="usageanalytics-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    @property
    def failing(self) -> bool:
        """The last write failed: records are waiting in memory for the disk."""
        return self._failing_since is not None

    def append(self, record: Pending) -> None:
        """Hand a record over (caller's thread). Over the memory bound the oldest record goes."""
        pending = self.pending
        pending.append(record)
        size = len(pending)
        if size == WAKE_AT:  # a burst: persist now rather than hold it in memory
            self._wake.set()
        elif size >= YIELD_ABOVE and size % YIELD_EVERY == 0:
            time.sleep(0)  # let the writer catch up (no disk or network wait: a GIL hand-over)
        if size > self._max_pending:
            # Not under write_lock: a caller must never wait on the disk. A snapshot taken at
            # this instant may miss this one record; the next one balances.
            try:
                self.pending.popleft()
            except IndexError:
                return
            self._ledger.not_persisted(1, MEMORY_FULL, "the disk writer is not keeping up")

    def write_through(self, record: Pending) -> None:
        """Persist ``record`` before returning (``durable=True``), after anything still pending."""
        self.pending.append(record)
        self._write_pending(limit=None)
        with self.write_lock:  # the writer thread may have taken it: wait until it is written
            pass

    def submit(self, task: Task) -> None:
        """Run ``task`` on the writer thread soon (disk work a tracking call must not wait on)."""
        self._tasks.append(task)
        self._wake.set()

    def persist_now(self, timeout: float) -> bool:
        """Wait until everything appended before this call had a write attempt; False on timeout."""
        if not self._thread.is_alive():
            self._write_pending()
            return not self.pending
        with self._passes_done:
            target = self._passes + 2  # the pass running now may have started before our call
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._passes_done:
            while self._passes < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return self._passes >= target
                self._passes_done.wait(min(remaining, 0.05))
                self._wake.set()
        return True

    def stop(self, timeout: float) -> None:
        """Write what is pending, run queued tasks and stop the thread; what cannot be written
        is dropped and counted (the process is going away: memory is not a place to keep it)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._run_tasks()
            self._write_pending()
        self.drop_unwritten("the process stopped before they could be written")

    def drop_unwritten(self, why: str) -> int:
        """Drop (and count) whatever is still in memory."""
        with self.write_lock:
            count = len(self.pending)
            self.pending.clear()
            if count:
                self._ledger.not_persisted(count, NOT_WRITTEN, why)
        return count

    def _take(self, limit: int | None) -> list[Pending]:
        batch = []
        pending = self.pending
        for _ in range(min(len(pending), limit or len(pending))):
            try:
                batch.append(pending.popleft())
            except IndexError:
                break
        return batch

    def _encode(self, batch: list[Pending]) -> tuple[bytes | None, list[Pending]]:
        """The chunk for ``batch``; a record that cannot be encoded is dropped alone."""
        if len(self._envelopes) > ENVELOPES_KEPT:
            self._envelopes.clear()
        try:
            return encode_pending(batch, self._envelopes), batch
        except Exception:
            good = []
            for pending in batch:
                try:
                    encode_pending([pending])
                except Exception as exc:
                    self._ledger.not_persisted(1, NOT_ENCODED, f"{type(exc).__name__}: {exc}")
                else:
                    good.append(pending)
            return (encode_pending(good) if good else None), good

    def _write_pending(self, limit: int | None = CHUNK_RECORDS) -> None:
        """Persist what is pending when the pass starts, in chunks of at most ``CHUNK_RECORDS``.

        What is appended meanwhile waits for the next pass: a busy caller appends while a put
        waits on the disk (the GIL released), and chasing those few records would cost a put,
        a sync and, later, the sender's work on one more small chunk, every time.
        """
        remaining = len(self.pending)
        while remaining > 0:
            with self.write_lock:
                batch = self._take(min(remaining, limit or remaining))
                if not batch:
                    return
                remaining -= len(batch)
                try:
                    data, batch = self._encode(batch)
                    if data is not None:
                        self.store.inbox.put(data)
                        self._ledger.persisted(len(batch))
                except Exception as exc:
                    if not self._write_failed(batch, exc):
                        return
                    continue
                self._failing_since = None
            if batch:
                self._on_persisted(batch)

    def _write_failed(self, batch: list[Pending], exc: Exception) -> bool:
        """Keep the batch in memory to retry, or drop it once the disk has failed for too long.

        Returns True when it was dropped (the caller goes on with the next batch).
        """
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            logger.error(
                "usageanalytics could not write %d records to disk (%s: %s); retrying for %.0f s",
                len(batch),
                type(exc).__name__,
                exc,
                WRITE_GRACE,
            )
        if now - self._failing_since < WRITE_GRACE and not self._stopping:
            self.pending.extendleft(reversed(batch))
            return False
        self._ledger.not_persisted(len(batch), NOT_WRITTEN, f"{type(exc).__name__}: {exc}")
        return True

    def _run_tasks(self) -> None:
        while self._tasks:
            task = self._tasks.popleft()
            try:
                task()
            except Exception:
                logger.exception("usageanalytics background task failed")

    def _run(self) -> None:
        next_tick = time.monotonic()
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._run_tasks()
            now = time.monotonic()
            if now >= next_tick:
                next_tick = now + 1.0
                try:
                    self._on_tick()
                except Exception:
                    logger.exception("usageanalytics periodic task failed")
            try:
                self._write_pending()
            except Exception:  # pragma: no cover - _write_pending books its own failures
                logger.exception("usageanalytics writer pass failed")
            with self._passes_done:
                self._passes += 1
                self._passes_done.notify_all()
            if self._stopping:
                self._run_tasks()
                self._write_pending()
                return
