"""The writer thread: moves records from memory to the disk queue, a chunk every ~100 ms.

Tracking calls only append to an in-memory deque (no lock, no I/O). persist-queue syncs to disk on
every put (about 300 us), so writing record by record would cap the SDK at ~3,000 records/s and
put disk latency in the caller's path; the writer instead stores everything logged since its last
pass as one queue item. A process killed with SIGKILL loses at most the last ``write_interval``
(0.1 s by default) of records; ``durable=True`` makes each call write before it returns.

The writer is also the SDK's clock: it runs small background tasks (persisting ids, collecting
device attributes) and ends idle sessions.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable

from .records import Pending, encode_chunk
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


class Writer:
    """Owns the in-memory handoff and the thread that persists it."""

    def __init__(
        self,
        store: QueueStore,
        interval: float,
        max_pending: int,
        on_persisted: Callable[[list[Pending]], None],
        on_dropped: Callable[[int, str], None],
        on_tick: Callable[[], None],
    ) -> None:
        self.store = store
        self.pending: collections.deque[Pending] = collections.deque()
        self._interval = interval
        self._max_pending = max_pending
        self._on_persisted = on_persisted
        self._on_dropped = on_dropped
        self._on_tick = on_tick
        self._tasks: collections.deque[Task] = collections.deque()
        self._wake = threading.Event()
        self._stopping = False
        self._write_lock = threading.Lock()
        self._passes = 0
        self._passes_done = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="usageanalytics-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

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
            try:
                self.pending.popleft()
            except IndexError:
                return
            self._on_dropped(1, "in-memory buffer full (the disk writer is not keeping up)")

    def write_through(self, record: Pending) -> None:
        """Persist ``record`` before returning (``durable=True``), after anything still pending."""
        with self._write_lock:
            batch = self._take_pending()
            batch.append(record)
            self._put(batch)
        self._on_persisted(batch)

    def submit(self, task: Task) -> None:
        """Run ``task`` on the writer thread soon (disk work a tracking call must not wait on)."""
        self._tasks.append(task)
        self._wake.set()

    def persist_now(self, timeout: float) -> bool:
        """Wait until everything appended before this call is on disk; False on timeout."""
        if not self._thread.is_alive():
            self._write_pending()
            return True
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
        """Write what is pending, run queued tasks and stop the thread."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._write_pending()

    def _take_pending(self, limit: int | None = None) -> list[Pending]:
        batch = []
        pending = self.pending
        for _ in range(min(len(pending), limit or len(pending))):
            try:
                batch.append(pending.popleft())
            except IndexError:
                break
        return batch

    def _put(self, batch: list[Pending]) -> None:
        if batch:
            self.store.inbox.put(encode_chunk(batch))

    def _write_pending(self) -> None:
        """Persist everything pending, in chunks of at most ``CHUNK_RECORDS``."""
        while self.pending:
            with self._write_lock:
                batch = self._take_pending(CHUNK_RECORDS)
                try:
                    self._put(batch)
                except Exception:
                    # Disk full or the folder removed: keep the records in memory and try again
                    # next pass rather than lose them.
                    logger.exception("usageanalytics could not write %d records to disk", len(batch))
                    self.pending.extendleft(reversed(batch))
                    return
            self._on_persisted(batch)

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
            self._write_pending()
            with self._passes_done:
                self._passes += 1
                self._passes_done.notify_all()
            if self._stopping:
                self._run_tasks()
                self._write_pending()
                return
