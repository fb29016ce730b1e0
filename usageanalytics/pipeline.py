"""The pipeline: everything between a tracking call and SmartKarrot, owned in one place.

It owns the writer thread (memory to disk), the sender thread (disk to the server), the queue
stores (this process's and those adopted from dead processes), the wake policy, the ledger, and
the life cycle: shutdown, fork, replay of dead letters, and discarding queued records. The client
in front of it keeps identity, sessions and input checks, and hands it finished records.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from operator import itemgetter
from pathlib import Path
from typing import Any

import orjson

from . import signals
from .deadletters import DeadLetters
from .ledger import CORRUPT, INVALID_INPUT, Ledger, Stats
from .records import (
    CorruptItem,
    OutboxItem,
    Pending,
    Record,
    Request,
    body_json,
    decode_chunk,
    decode_outbox,
    decode_plan,
    encode_outbox,
    encode_plan,
    encode_records,
    records_of_request,
    request_from_disk,
    request_on_disk,
    without_entries,
)
from .retry import RetryPolicy
from .sender import RECORDS_PER_ROUND as WAKE_RECORDS
from .sender import Sender, SenderCallbacks, SenderSettings, finish_interrupted_rounds
from .settings import Settings
from .state import StateStore
from .storage import (
    DB_FILE,
    QUARANTINE_DIR,
    AckQueue,
    QueueStore,
    StoredItem,
    Stores,
    abandon,
    create_own_store,
    orphaned_folders,
    quarantine_folder,
    salvage,
    wal_problem,
)
from .transport import Transport
from .writer import WAKE_AT, Writer

logger = logging.getLogger("usageanalytics")

MAX_PENDING_IN_MEMORY = 100_000  # records; only reached if the disk refuses writes
_ENVELOPE_KEY = itemgetter(0)  # of a Pending
SAVE_TOTALS_EVERY = 1.0  # seconds between additions to the data folder's ledger totals

Signal = Callable[..., None]  # (blinker signal, **info): sends it with the client as sender
RecordFilter = Callable[[Record], bool]


class Pipeline:
    """See the module docstring. Threads start at construction; :meth:`shutdown` stops them."""

    def __init__(
        self,
        settings: Settings,
        data_dir: Path,
        state: StateStore,
        dead_letters: DeadLetters,
        *,
        on_tick: Callable[[], None],
        signal: Signal,
        transport_factory: Callable[[], Transport] | None = None,
        paused: Callable[[], bool] = lambda: False,
    ) -> None:
        self.settings = settings
        self._paused = paused  # True: the sender sends nothing (the user opted out)
        self.data_dir = data_dir
        self.quarantine_dir = data_dir / QUARANTINE_DIR
        self._state = state
        self._dead_letters = dead_letters
        self._on_tick = on_tick
        self._signal = signal
        self._transport_factory = transport_factory or (
            lambda: Transport(settings.endpoint, settings.api_key, settings.timeout)
        )
        self._lock = threading.Lock()  # start, fork restart and shutdown
        self._closed = False
        self._shutdown_result = True
        self._next_save = 0.0
        self._start()

    # -- set-up ----------------------------------------------------------------------------------

    def _start(self) -> None:
        settings = self.settings
        self.ledger = Ledger(on_dropped=self._on_dropped)
        self._disk_lock = threading.RLock()
        self.stores = Stores(create_own_store(self.data_dir))
        self._since_wake = self._fullest = 0
        self._waiting: dict[str, int] = {}  # records persisted since the sender's last wake, per envelope
        self.writer: Writer | None = Writer(
            self.stores.own,
            settings.write_interval,
            MAX_PENDING_IN_MEMORY,
            self.ledger,
            on_persisted=self._on_persisted,
            on_tick=self._tick,
        )
        self.sender: Sender | None = Sender(
            stores=self.stores,
            ledger=self.ledger,
            state=self._state,
            dead_letters=self._dead_letters,
            transport_factory=self._transport_factory,
            policy=RetryPolicy(settings.retry_base, settings.retry_cap),
            settings=SenderSettings(
                settings.flush_interval,
                settings.batch_size,
                settings.max_request_bytes,
                settings.max_record_age,
            ),
            callbacks=SenderCallbacks(
                sent=self._sent,
                failed=self._failed,
                rejected=self._rejected,
                adopt=self.adopt_orphans,
                quarantined=self._quarantined,
                paused=self._paused,
            ),
            disk_lock=self._disk_lock,
        )
        # append: queue one record (the caller's thread: no lock, no I/O). Bound to the writer
        # itself, so a tracking call pays for no extra call on its way.
        self.append: Callable[[Pending], None] = self.writer.append
        self.writer.start()
        self.sender.start()

    def _restart(self) -> Writer:
        """The first call in a forked child starts its own queue folder and threads."""
        with self._lock:
            if self.writer is None:
                self._start()
            assert self.writer is not None
            return self.writer

    # -- the caller's side -----------------------------------------------------------------------

    def _append_after_fork(self, pending: Pending) -> None:
        self._restart().append(pending)

    def write_through(self, pending: Pending) -> None:
        """Queue one record and write it to disk before returning (``durable=True``)."""
        (self.writer or self._restart()).write_through(pending)

    def submit(self, task: Callable[[], None]) -> None:
        """Run ``task`` on the writer thread (disk work a tracking call must not wait on)."""
        (self.writer or self._restart()).submit(task)

    def refused(self, count: int, reason: str = INVALID_INPUT, detail: str | None = None) -> None:
        """Records a call produced but could not queue: counted as dropped, and signalled.

        The call has logged why (``detail`` adds to the ledger's own once-a-minute line).
        """
        self.ledger.refused(count, reason, detail, quiet=detail is None)

    # -- wake policy (writer thread) -------------------------------------------------------------

    def _on_persisted(self, batch: list[Pending]) -> None:
        """Wake the sender when one envelope has ``batch_size`` records waiting, or when
        ``WAKE_RECORDS`` of any kind are: waking it for every hundred records of a web server's
        many visitors would post a request for every record or two, and the cost of a request
        is in the request, not in its events."""
        sender = self.sender
        if sender is None:
            return
        settings = self.settings
        if self.ledger.queued + self.ledger.held > settings.max_queued_records:
            sender.request_trim(settings.max_queued_records)
        waiting = self._waiting
        fullest = self._fullest
        for key, count in Counter(map(_ENVELOPE_KEY, batch)).items():  # counted in C
            waiting[key] = size = waiting.get(key, 0) + count
            if size > fullest:
                fullest = size
        self._since_wake += len(batch)
        self._fullest = fullest
        writer = self.writer
        # Not in the middle of a burst the writer is still catching up with, either: sending
        # then would hold a decoded chunk in memory beside the backlog; its last write wakes it.
        if (self._fullest >= settings.batch_size or self._since_wake >= WAKE_RECORDS) and (
            writer is None or len(writer.pending) < WAKE_AT
        ):
            self._since_wake = self._fullest = 0
            waiting.clear()
            sender.wake()

    def _tick(self) -> None:
        try:
            self._on_tick()
        finally:
            now = time.monotonic()
            if now >= self._next_save:
                self._next_save = now + SAVE_TOTALS_EVERY
                self.save_totals()

    def save_totals(self) -> None:
        """Add the ledger's new counts to the data folder's totals (for ``status``)."""
        unsaved = self.ledger.take_unsaved()
        if not unsaved:
            return
        try:
            self._state.add_totals(unsaved)
        except Exception:
            self.ledger.restore_unsaved(unsaved)
            logger.debug("usageanalytics could not save the ledger's totals", exc_info=True)

    # -- sender callbacks ------------------------------------------------------------------------

    def _sent(self, request: Request) -> None:
        self._signal(
            signals.batch_sent, path=request["path"], count=request["count"], idempotency_id=request["id"]
        )

    def _failed(self, request: Request, reason: str, retry_in: float) -> None:
        self._signal(
            signals.batch_failed,
            path=request["path"],
            count=request["count"],
            idempotency_id=request["id"],
            reason=reason,
            retry_in=retry_in,
        )

    def _rejected(self, request: Request, reason: str, dead_letter: Path) -> None:
        self._signal(
            signals.batch_rejected,
            path=request["path"],
            count=request["count"],
            idempotency_id=request["id"],
            reason=reason,
            dead_letter=str(dead_letter),
        )

    def _on_dropped(self, count: int, reason: str) -> None:
        self._signal(signals.record_dropped, count=count, reason=reason)

    def _quarantined(self, message: str) -> None:
        logger.warning("usageanalytics: %s", message)

    # -- adoption ----------------------------------------------------------------------------------

    def adopt_orphans(self) -> int:
        """Adopt the queue folders of dead processes sharing the data folder; returns how many."""
        adopted = 0
        with self._disk_lock:
            own = self.stores.folders()
            for folder, lock in orphaned_folders(self.data_dir):
                if folder in own:
                    lock.release()
                    continue
                try:
                    store = self._open_orphan(folder, lock)
                except Exception:
                    logger.exception("usageanalytics could not adopt the orphaned queue %s", folder)
                    lock.release()
                    continue
                if store is not None:
                    adopted += 1
        return adopted

    def _open_orphan(self, folder: Path, lock: Any) -> QueueStore | None:
        problem = wal_problem(folder)
        if problem is not None:
            copy = quarantine_folder(folder, self.quarantine_dir, keep=True)
            self.ledger.quarantine()
            logger.warning(
                "usageanalytics: the queue in %s is damaged: %s. Records in its last writes may be "
                "lost and cannot be counted; a copy is kept in %s. What can be read is sent.",
                folder,
                problem,
                copy,
            )
        store: QueueStore | None = None
        try:
            store = QueueStore(folder, lock, self.quarantine_dir, adopted=True)
            finish_interrupted_rounds(store)
            queued, held = store.record_counts()
        except sqlite3.DatabaseError as exc:
            if store is not None:
                store.close()
            return self._salvage(folder, lock, exc)
        self._adopt(store, queued, held)
        logger.info("usageanalytics adopted %d queued records from %s", queued + held, folder.name)
        return store

    def _adopt(self, store: QueueStore, queued: int, held: int) -> None:
        self.ledger.adopted_from(queued, held)
        self.stores.add(store)
        if self.sender is not None:
            self.sender.wake(forced=True)

    def _salvage(self, folder: Path, lock: Any, error: Exception) -> QueueStore | None:
        """A queue database SQLite cannot use: move it aside, and queue what can be read."""
        found, problems = salvage(folder / DB_FILE)
        target = quarantine_folder(folder, self.quarantine_dir)
        lock.release(unlink=True)
        self.ledger.quarantine()
        recovered = sum(len(items) for items in found.values())
        store: QueueStore | None = None
        if recovered:
            store = create_own_store(self.data_dir)
            store.adopted = True
            ids: dict[int, int] = {}
            for item in found["inbox"]:
                ids[item.id] = store.inbox.put(item.data)
            for name, queue in (("outbox", store.outbox), ("held", store.held), ("rounds", store.rounds)):
                for item in found[name]:
                    data = _renumbered(name, item.data, ids)
                    if data is not None:
                        queue.put(data)
            finish_interrupted_rounds(store)
            queued, held = store.record_counts()
            self._adopt(store, queued, held)
        logger.warning(
            "usageanalytics: the queue database in %s is damaged (%s) and was moved to %s; %d items "
            "were recovered and will be sent%s.",
            folder,
            error,
            target,
            recovered,
            f"; unreadable, not counted: {'; '.join(problems)}" if problems else "",
        )
        return store

    # -- flushing, stats, shutdown ---------------------------------------------------------------

    def flush(self, timeout: float) -> bool:
        """Send everything queued; True only when nothing is left in memory or on disk."""
        writer, sender = self.writer, self.sender
        if writer is None or sender is None:
            return True  # a forked child that has logged nothing yet
        deadline = time.monotonic() + timeout
        if not writer.persist_now(timeout):
            return False
        if writer.failing:
            return False
        return sender.flush(max(0.0, deadline - time.monotonic()))

    def held_count(self) -> int:
        if self.writer is None:
            return 0
        with self._disk_lock:  # not while the sender retires (closes) an adopted store
            return sum(store.held_items() for store in self.stores)

    def stats(self) -> Stats:
        """The ledger now: every record this pipeline was given, and where it is."""
        writer = self.writer
        if writer is None:
            return self.ledger.snapshot(0)
        with writer.write_lock:
            return self.ledger.snapshot(len(writer.pending))

    def shutdown(self, timeout: float) -> bool:
        """Flush for up to ``timeout`` seconds, then stop the threads; idempotent, any thread.

        Returns whether everything was sent; what was not stays on disk for the next start
        (and what could not even be written is counted as dropped).
        """
        with self._lock:
            if self._closed:
                return self._shutdown_result
            self._closed = True
            deadline = time.monotonic() + timeout
            sent = self.flush(timeout)
            writer, sender = self.writer, self.sender
            if writer is not None:
                writer.stop(max(0.1, min(1.0, deadline - time.monotonic())))
            if sender is not None:
                # A request still waiting on the server when time is up: the queues are closed
                # when it ends, so another process can adopt them.
                sender.stop(max(0.1, min(1.0, deadline - time.monotonic())), then=self._close_stores)
            self.save_totals()
            self._shutdown_result = sent
            return sent

    def _close_stores(self) -> None:
        """After the sender stopped: remove emptied queue folders, release the others."""
        if self.sender is not None:
            self.sender.close()
        for store in self.stores:
            try:
                if store.pending() == 0 and store.held_items() == 0:
                    store.remove()
                else:
                    store.release()
            except Exception:
                logger.exception("usageanalytics could not close the queue in %s", store.folder)

    # -- dead letters ----------------------------------------------------------------------------

    def replay_dead_letters(self) -> int:
        """Queue every dead-lettered batch again (after fixing the cause); returns the count."""
        replayed = 0
        for letter in self._dead_letters.list():
            try:
                request = request_from_disk(letter.request)
            except CorruptItem:
                logger.warning("usageanalytics: %s is not a dead letter this SDK can replay", letter.path)
                continue
            request["attempts"] = 0
            # A new id: the server refused the old one, and this process remembers it as settled.
            request["id"] = str(uuid.uuid4())
            with self._disk_lock:
                item = OutboxItem(requests=[request], sources=[], round=None, held=0)
                self.stores.own.outbox.put(encode_outbox(item))
                self.ledger.replayed_letters(request["count"])
            letter.path.unlink()
            replayed += 1
        if replayed and self.sender is not None:
            self.sender.wake(forced=True)
        return replayed

    # -- discarding ------------------------------------------------------------------------------

    def discard(self, predicate: RecordFilter, reason: str) -> int:
        """Drop every queued record for which ``predicate(record)`` is true; returns how many.

        Searches memory, and the inbox, held records and outbox of this process's queue and of
        every queue it adopted (dead processes' queues are adopted first). Each dropped record is
        counted in the ledger under ``reason`` and signalled as ``record_dropped``. A request the
        sender is posting at this very moment is not recalled. ``predicate`` must not raise;
        if it does, the record is kept.
        """
        if self.writer is None:
            self._restart()  # a forked child: its own queue (the parent's is not its to change)
        self.adopt_orphans()
        total = self._discard_in_memory(predicate, reason)
        with self._disk_lock:
            for store in self.stores:
                total += self._discard_chunks(store, store.inbox, predicate, reason)
                total += self._discard_chunks(store, store.held, predicate, reason)
                total += self._discard_requests(store.outbox, predicate, reason)
        return total

    def erase(self, predicate: RecordFilter, reason: str, wait: float = 0.0) -> int:
        """:meth:`discard`, then the dead letters too, leaving no trace of the dropped records on
        disk (deleted rows zeroed, write-ahead logs emptied, dead-letter files overwritten).

        Records the sender holds in flight (a request being posted) are out of a discard's
        reach: they are either delivered, or put back when the post fails. ``wait`` seconds at
        most are given to those to settle, then what was put back is discarded too.
        """
        if self.writer is None:
            self._restart()
        self.adopt_orphans()
        with self._disk_lock:  # the sender retires (closes) an emptied store under this lock
            stores = list(self.stores)
            for store in stores:
                store.erasing(True)
        try:
            total = self.discard(predicate, reason)
            sender = self.sender
            if wait > 0 and sender is not None and sender.in_flight():
                deadline = time.monotonic() + wait
                held = sender.in_flight()
                while held & sender.in_flight() and time.monotonic() < deadline:
                    time.sleep(0.02)
                total += self.discard(predicate, reason)
            total += self.discard_dead_letters(predicate, reason)
            writer = self.writer
            with self._disk_lock, writer.write_lock if writer is not None else contextlib.nullcontext():
                for store in self.stores:
                    store.compact()
        finally:
            with self._disk_lock:
                live = set(map(id, self.stores))
                for store in stores:
                    if id(store) in live:  # not retired (emptied, closed) by the sender meanwhile
                        store.erasing(False)
        return total

    def discard_dead_letters(self, predicate: RecordFilter, reason: str) -> int:
        """Drop the dead-lettered records ``predicate`` selects: a letter left with none is
        deleted, one with others is rewritten without them. Counted as taken back (``replayed``)
        and dropped with ``reason``; returns how many."""
        total = 0
        for letter in self._dead_letters.list():
            try:
                request = request_from_disk(letter.request)
            except CorruptItem:
                continue
            records = records_of_request(request)
            matched = {index for index, record in enumerate(records) if _matches(predicate, record)}
            if not matched:
                continue
            remaining = without_entries(request, matched) if len(records) > 1 else None
            dropped = request["count"] - (remaining["count"] if remaining else 0)
            try:
                if remaining is None:
                    self._dead_letters.erase(letter)
                else:
                    self._dead_letters.rewrite(letter, request_on_disk(remaining))
            except FileNotFoundError:
                continue  # replayed or erased by another process meanwhile: not ours to count
            self.ledger.letters_dropped(dropped, reason)
            total += dropped
        return total

    def _discard_in_memory(self, predicate: RecordFilter, reason: str) -> int:
        writer = self.writer
        if writer is None:
            return 0
        with writer.write_lock:
            pending = writer.pending
            taken = [pending.popleft() for _ in range(len(pending))]
            kept = []
            for entry in taken:
                _, envelope, kind, logged_at, guest, _ = entry
                try:
                    record = Record(
                        kind=kind,
                        envelope=envelope,
                        body=orjson.loads(body_json(entry)),
                        logged_at=logged_at,
                        guest=bool(guest),
                    )
                    drop = bool(predicate(record))
                except Exception:
                    drop = False
                if not drop:
                    kept.append(entry)
            pending.extendleft(reversed(kept))
            dropped = len(taken) - len(kept)
            if dropped:
                self.ledger.not_persisted(dropped, reason)
        return dropped

    def _discard_chunks(
        self, store: QueueStore, queue: AckQueue, predicate: RecordFilter, reason: str
    ) -> int:
        held = queue is store.held
        total = 0
        for stored in _each_ready(queue):
            try:
                chunk = decode_chunk(stored.data)
            except CorruptItem:
                queue.nack(stored.id)  # the sender quarantines it when it reads it
                continue
            kept = [record for record in chunk.records if not _matches(predicate, record)]
            dropped = len(chunk.records) - len(kept)
            if not dropped:
                queue.nack(stored.id)
                continue
            if kept:
                queue.update(
                    stored.id, encode_records(kept, chunk.id, round_id=chunk.round, sources=chunk.sources)
                )
                queue.nack(stored.id)
            else:
                queue.ack(stored.id)
            if chunk.bad_rows:
                self.ledger.discarded(chunk.bad_rows, CORRUPT, "malformed rows", held=held)
            self.ledger.discarded(dropped, reason, held=held)
            total += dropped
        return total

    def _discard_requests(self, queue: AckQueue, predicate: RecordFilter, reason: str) -> int:
        total = 0
        for stored in _each_ready(queue):
            try:
                item = decode_outbox(stored.data)
            except CorruptItem:
                queue.nack(stored.id)
                continue
            requests: list[Request] = []
            dropped = 0
            for request in item["requests"]:
                records = records_of_request(request)
                matched = {index for index, record in enumerate(records) if _matches(predicate, record)}
                if not matched:
                    requests.append(request)
                    continue
                remaining = without_entries(request, matched) if len(records) > 1 else None
                dropped += request["count"] - (remaining["count"] if remaining else 0)
                if remaining is not None:
                    requests.append(remaining)
            if not dropped:
                queue.nack(stored.id)
                continue
            if requests:
                queue.update(
                    stored.id,
                    encode_outbox(
                        OutboxItem(
                            requests=requests, sources=item["sources"], round=item["round"], held=item["held"]
                        )
                    ),
                )
                queue.nack(stored.id)
            else:
                queue.ack(stored.id)
            self.ledger.discarded(dropped, reason)
            total += dropped
        return total

    # -- fork ------------------------------------------------------------------------------------

    def after_fork_in_child(self) -> None:
        """The child of ``os.fork()`` gets its own queue and threads, started on first use.

        The parent's stores, threads and connections are abandoned, never closed: closing SQLite
        connections inherited across fork can corrupt the parent's database.
        """
        for store in self.stores:
            store.forget_after_fork()
        abandon(self.writer)
        abandon(self.sender)
        self.writer = None
        self.sender = None
        self.append = self._append_after_fork
        self._lock = threading.Lock()
        self.ledger = Ledger(on_dropped=self._on_dropped)


def _each_ready(queue: AckQueue) -> Iterator[StoredItem]:
    """Take the queue's waiting items one at a time (so memory holds one), in flight until the
    caller acks or nacks each."""
    for item_id in queue.ready_ids():
        item = queue.take(item_id)
        if item is not None:
            yield item


def _matches(predicate: RecordFilter, record: Record) -> bool:
    try:
        return bool(predicate(record))
    except Exception:
        logger.exception("usageanalytics: a discard filter raised; the record is kept")
        return False


def _renumbered(queue: str, data: bytes, ids: dict[int, int]) -> bytes | None:
    """A salvaged outbox or held item with its source chunk ids mapped to their new ids."""
    try:
        if queue == "rounds":
            plan = decode_plan(data)
            if not all(source in ids for source in plan["sources"]):
                return None  # formed again without a lost chunk, it would not be the same round
            plan["sources"] = [ids[source] for source in plan["sources"]]
            return encode_plan(plan, done=plan["done"])
        if queue == "outbox":
            item = decode_outbox(data)
            item["sources"] = [ids[s] for s in item["sources"] if s in ids]
            return encode_outbox(item)
        chunk = decode_chunk(data)
        sources = [ids[s] for s in chunk.sources if s in ids]
        return encode_records(chunk.records, chunk.id, round_id=chunk.round, sources=sources)
    except CorruptItem:
        return data  # quarantined when the sender reads it
