"""The sender thread: turns queued records into requests, posts them, and never loses one.

Every ``flush_interval`` (and sooner when a batch fills, or on ``flush()``) it, for each store
(its own, and those adopted from dead processes):

1. sends the outbox: requests persisted earlier, each under the idempotency id it was formed with;
2. moves a *round* of inbox chunks (at most :data:`RECORDS_PER_ROUND` records) into the outbox:
   decodes them once, re-attributes guests who logged in, holds records that lack a customer
   account, forms requests bounded in records and bytes, persists them, then acknowledges the
   chunks; then sends them. A request is on disk before its first post, so whoever retries it (a
   later round, the next process, a process with another ``batch_size``) resends the same
   records under the same id, and a server that drops repeated ids loses nothing;
3. re-examines held records when a guest has logged in.

Answers: SUCCESS settles a request; a 413 splits it in halves (a single record too large is
dead-lettered); INVALID_INPUT and other 4xx dead-letter it; network errors, 429 and 5xx back off
(:mod:`usageanalytics.retry`); 401/403 pause. Anything unexpected (a transport that raises, a
damaged item) ends the round with every item it took put back or quarantined: nothing stays in
flight. Every outcome is booked in the ledger; the pipeline gets the rest through callbacks.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import batching
from .deadletters import DeadLetters
from .ledger import CORRUPT, OVER_MAX_QUEUED, SUPERSEDED, TOO_OLD, Ledger
from .records import (
    USER,
    CorruptItem,
    OutboxItem,
    Record,
    Request,
    decode_chunk,
    decode_outbox,
    encode_outbox,
    encode_records,
    request_on_disk,
)
from .retry import RetryPolicy
from .state import Alias, StateStore
from .storage import AckQueue, QueueStore, StoredItem, Stores
from .transport import Outcome, Result, Transport

logger = logging.getLogger("usageanalytics")

AUTH_PAUSE = 600.0
ADOPT_EVERY = 30.0
RECORDS_PER_ROUND = 5000  # records decoded and formed at once: bounds the sender's memory
_SETTLED_MEMORY = 100_000  # idempotency ids remembered as settled (not booked twice)


class Stop(Exception):
    """Raised inside a cycle to stop it: the server is unreachable or refuses the key."""


@dataclass(frozen=True)
class SenderCallbacks:
    """What the sender tells its owner (the pipeline turns these into signals)."""

    sent: Callable[[Request], None]
    failed: Callable[[Request, str, float], None]  # request, reason, retry in (seconds)
    rejected: Callable[[Request, str, Path], None]  # request, reason, dead letter
    adopt: Callable[[], int]  # adopt dead processes' queues; returns how many
    quarantined: Callable[[str], None]  # a damaged item was set aside (one log line each)


@dataclass(frozen=True)
class SenderSettings:
    flush_interval: float
    batch_size: int
    max_request_bytes: int
    max_record_age: float


class Sender:
    """The thread that sends the stores' records; see the module docstring."""

    def __init__(
        self,
        *,
        stores: Stores,
        ledger: Ledger,
        state: StateStore,
        dead_letters: DeadLetters,
        transport_factory: Callable[[], Transport],
        policy: RetryPolicy,
        settings: SenderSettings,
        callbacks: SenderCallbacks,
        disk_lock: threading.RLock,
    ) -> None:
        self._stores = stores
        self._ledger = ledger
        self._state = state
        self._dead_letters = dead_letters
        self._transport_factory = transport_factory
        self._transport: Transport | None = None
        self.policy = policy
        self._settings = settings
        self._callbacks = callbacks
        self._disk_lock = disk_lock
        self._aliases: dict[str, Alias] = {}
        self._alias_version: tuple[int, float] | None = None
        self._held_versions: dict[Path, tuple[int, float] | None] = {}
        self._taken: list[tuple[AckQueue, int]] = []  # items this round holds in flight
        self._settled: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._repair: set[Path] = set()
        self._wake = threading.Event()
        self._trim_to: int | None = None
        self._forced = False
        self._stopping = False
        self._next_adopt = 0.0
        self._cycles = 0
        self._cycle_done = threading.Condition()
        self._empty = True
        self._exit_lock = threading.Lock()
        self._on_exit: Callable[[], None] | None = None
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._main, name="usageanalytics-sender", daemon=True)

    # -- control (other threads) -------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def request_trim(self, max_records: int) -> None:
        """The backlog is over ``max_records``: drop the oldest, on this thread, between sends."""
        self._trim_to = max_records
        self._wake.set()

    def wake(self, forced: bool = False) -> None:
        if forced:
            self._forced = True
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Ask for a cycle now and wait until the queue is empty; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cycle_done:
            target = self._cycles + 1
        self.wake(forced=True)
        with self._cycle_done:
            while True:
                if self._cycles >= target and self._empty:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._thread.is_alive():
                    return False
                if self._cycles >= target:
                    target = self._cycles + 1  # not empty yet: the next cycle may finish it
                self._cycle_done.wait(min(remaining, 0.25))

    def stop(self, timeout: float, then: Callable[[], None] | None = None) -> bool:
        """Stop the thread, waiting up to ``timeout`` seconds; run ``then`` once it has stopped
        (now, or when a request it is still waiting on ends)."""
        with self._exit_lock:
            self._stopping = True
            self._on_exit = then
        self._wake.set()
        self._thread.join(timeout)
        with self._exit_lock:
            if self._thread.is_alive() or self._on_exit is None:
                return not self._thread.is_alive()
            then, self._on_exit = self._on_exit, None
        then()
        return True

    def _exited(self) -> None:
        with self._exit_lock:
            then, self._on_exit = self._on_exit, None
        if then is not None:
            try:
                then()
            except Exception:
                logger.exception("usageanalytics could not close the queues")

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # -- the thread ----------------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._run()
        finally:
            self._release_taken()
            self._exited()

    def _run(self) -> None:
        next_flush = time.monotonic() + self._settings.flush_interval
        try:
            # Queues left by dead processes (a crash, an offline exit) go out now, not in 2 minutes.
            self._next_adopt = time.monotonic() + ADOPT_EVERY
            if self._callbacks.adopt():
                self._forced = True
                self._wake.set()
        except Exception:
            logger.exception("usageanalytics could not look for orphaned queues")
        while not self._stopping:
            due = next_flush - time.monotonic()
            if self.policy.retry_at:
                due = min(due, self.policy.wait())
            self._wake.wait(max(0.0, due))
            self._wake.clear()
            if self._stopping:
                break
            forced, self._forced = self._forced, False
            try:
                self._trim()
            except Exception:
                logger.exception("usageanalytics could not enforce max_queued_records")
            finally:
                self._release_taken()
            now = time.monotonic()
            if not forced and self.policy.wait() > 0:
                continue  # backing off (a full batch does not override it; flush() does)
            if now >= next_flush or forced:
                next_flush = now + self._settings.flush_interval
            try:
                self._cycle(forced)
            except Exception as exc:
                logger.exception("usageanalytics sender cycle failed; will retry")
                self._note_error(f"internal error: {type(exc).__name__}: {exc}")
                self.policy.failed()
            finally:
                self._release_taken()
                self._finish_cycle()

    def _finish_cycle(self) -> None:
        try:
            empty = all(store.pending() == 0 and store.held_items() == 0 for store in self._stores)
        except Exception:
            logger.exception("usageanalytics could not read the queue's size")
            empty = False
        with self._cycle_done:
            self._empty = empty
            self._cycles += 1
            self._cycle_done.notify_all()

    def _cycle(self, forced: bool) -> None:
        now = time.monotonic()
        if now >= self._next_adopt or forced:
            self._next_adopt = now + ADOPT_EVERY
            self._callbacks.adopt()
        for store in self._stores:
            if store.folder in self._repair:
                finish_interrupted_rounds(store)
                self._repair.discard(store.folder)
        self._refresh_aliases()
        try:
            for store in self._stores:
                self._drain(store)
                self._release_held(store)
                if store.adopted and store.pending() == 0 and store.held_items() == 0:
                    self._retire(store)
        except Stop:
            return
        self.policy.succeeded()

    # -- items in flight ---------------------------------------------------------------------

    def _take(self, queue: AckQueue) -> StoredItem | None:
        item = queue.get()
        if item is not None:
            self._taken.append((queue, item.id))
        return item

    def _done(self, queue: AckQueue, item_id: int, *, ack: bool) -> None:
        if ack:
            queue.ack(item_id)
        else:
            queue.nack(item_id)
        self._taken.remove((queue, item_id))

    def _release_taken(self) -> None:
        """Put back every item still in flight (after an error, or when stopping)."""
        while self._taken:
            queue, item_id = self._taken.pop()
            try:
                queue.nack(item_id)
            except Exception:
                logger.exception("usageanalytics could not put a queue item back")

    def _quarantine(self, store: QueueStore, queue: AckQueue, item: StoredItem, why: str) -> None:
        count, path = store.quarantine(queue, item, why)
        self._taken.remove((queue, item.id))
        self._ledger.discarded(count, CORRUPT, f"{why}; moved to {path}", held=queue is store.held)
        self._ledger.quarantine()
        self._callbacks.quarantined(f"a damaged {queue.name} item ({why}) was moved to {path}")

    # -- adoption, aliases ------------------------------------------------------------------

    def _retire(self, store: QueueStore) -> None:
        self._stores.remove(store)
        store.remove()

    def _refresh_aliases(self) -> None:
        version = self._state.alias_version()
        if version != self._alias_version:
            self._aliases = self._state.aliases()
            self._alias_version = version

    def _learn_aliases(self, records: list[Record]) -> None:
        """A login in these records makes its guest an alias before anything else is formed."""
        learned = False
        for record in records:
            if record["kind"] != USER:
                continue
            guest = record["body"].get("lastLoggedInUserId")
            if isinstance(guest, str) and guest and guest not in self._aliases:
                envelope = record["envelope"]
                alias = Alias(
                    str(envelope.get("userId")), envelope.get("customerAccountId"), envelope.get("productId")
                )
                self._state.add_alias(guest, alias)
                self._aliases[guest] = alias
                learned = True
        if learned:
            self._alias_version = self._state.alias_version()

    # -- sending -----------------------------------------------------------------------------

    def _post(self, request: Request) -> Result:
        """Post ``request``; whatever the transport raises becomes a retryable failure."""
        try:
            if self._transport is None:
                self._transport = self._transport_factory()
            return self._transport.post(request["path"], batching.with_idempotency(request))
        except Exception as exc:
            logger.debug("usageanalytics transport raised", exc_info=True)
            return Result(Outcome.RETRY, None, f"unexpected {type(exc).__name__}: {str(exc)[:200]}")

    def _too_old(self, request: Request) -> bool:
        return time.time() - request["first"] > self._settings.max_record_age

    def _drain(self, store: QueueStore) -> None:
        self._send_outbox(store)
        while not self._stopping and self._move_round(store):
            self._send_outbox(store)

    def _send_outbox(self, store: QueueStore) -> None:
        while not self._stopping:
            self._trim()
            with self._disk_lock:
                stored = self._take(store.outbox)
            if stored is None:
                return
            try:
                item = decode_outbox(stored.data)
            except CorruptItem as exc:
                self._quarantine(store, store.outbox, stored, str(exc))
                continue
            self._send_item(store, stored, item)

    def _send_item(self, store: QueueStore, stored: StoredItem, item: OutboxItem) -> None:
        """Post an item's requests in order; keep what is left on disk, then ack or put back."""
        todo = collections.deque(item["requests"])
        changed = False
        failure: tuple[Request, Result] | None = None
        while todo and not self._stopping:
            request = todo.popleft()
            count = request["count"]
            if request["id"] in self._settled:  # booked already (its item failed to update)
                changed = True
                continue
            if self._too_old(request):
                self._ledger.discarded(count, TOO_OLD)
                changed = True
                continue
            if count == 1 and batching.body_size(request) > self._settings.max_request_bytes:
                size = batching.body_size(request)
                limit = self._settings.max_request_bytes
                self._dead_letter(
                    request, None, f"a single record of {size:,} bytes is over the {limit:,}-byte cap"
                )
                changed = True
                continue
            result = self._post(request)
            if result.outcome is Outcome.SENT:
                self._settle(request)
                self._ledger.sent(count)
                self._callbacks.sent(request)
                changed = True
                continue
            if result.outcome is Outcome.REJECTED and result.status_code == 413:
                halves = batching.split_request(request)
                if halves is not None:
                    todo.extendleft(reversed(halves))
                    changed = True
                    continue
            if result.outcome is Outcome.REJECTED:
                self._dead_letter(request, result.status_code, result.reason)
                changed = True
                continue
            request["attempts"] += 1
            todo.appendleft(request)
            failure = (request, result)
            changed = True
            break
        with self._disk_lock:
            if not todo:
                self._done(store.outbox, stored.id, ack=True)
            else:
                if changed:
                    remaining = OutboxItem(requests=list(todo), sources=[], round=None, held=0)
                    store.outbox.update(stored.id, encode_outbox(remaining))
                self._done(store.outbox, stored.id, ack=False)
        if failure is not None:
            self._fail(*failure)
            raise Stop

    def _settle(self, request: Request) -> None:
        self._settled[request["id"]] = None
        if len(self._settled) > _SETTLED_MEMORY:
            self._settled.popitem(last=False)

    def _dead_letter(self, request: Request, status_code: int | None, reason: str) -> None:
        path = self._dead_letters.add(request_on_disk(request), status_code, reason)
        self._settle(request)
        self._ledger.rejected(request["count"])
        logger.error(
            "usageanalytics: SmartKarrot rejected %d records (%s); kept in %s. Fix the cause, "
            "then run `usageanalytics replay-dead-letters`.",
            request["count"],
            reason,
            path,
        )
        self._note_error(reason)
        self._callbacks.rejected(request, reason, path)

    def _fail(self, request: Request, result: Result) -> None:
        """A retryable failure: schedule the retry (or pause)."""
        self._note_error(result.reason)
        if result.outcome is Outcome.AUTH:
            retry_in = self.policy.pause(AUTH_PAUSE)
            logger.error(
                "usageanalytics: SmartKarrot refused the API key (%s). Sending is paused for %d "
                "minutes; queued records are kept. Check api_key / USAGEANALYTICS_API_KEY.",
                result.reason,
                AUTH_PAUSE // 60,
            )
        else:
            retry_in = self.policy.failed(result.retry_after)
            logger.warning("usageanalytics: sending failed (%s); retrying in %.1f s", result.reason, retry_in)
        self._callbacks.failed(request, result.reason, retry_in)

    def _note_error(self, reason: str) -> None:
        """Remember the last error, also on disk for ``usageanalytics status``."""
        self.last_error = reason
        try:
            self._state.set("last_error", f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {reason}")
        except Exception:
            logger.debug("could not record the last error", exc_info=True)

    # -- rounds: inbox to outbox ---------------------------------------------------------------

    def _move_round(self, store: QueueStore) -> bool:
        """Form one round of inbox chunks into requests and persist them; False if none."""
        with self._disk_lock:
            taken: list[StoredItem] = []
            records: list[Record] = []
            while len(records) < RECORDS_PER_ROUND:
                stored = self._take(store.inbox)
                if stored is None:
                    break
                try:
                    chunk = decode_chunk(stored.data)
                except CorruptItem as exc:
                    self._quarantine(store, store.inbox, stored, str(exc))
                    continue
                if chunk.bad_rows:
                    self._ledger.discarded(
                        chunk.bad_rows, CORRUPT, f"{chunk.bad_rows} malformed rows in a chunk"
                    )
                taken.append(stored)
                records.extend(chunk.records)
            if not taken:
                return False
            now = time.time()
            max_age = self._settings.max_record_age
            fresh = [r for r in records if now - r["logged_at"] <= max_age]
            self._learn_aliases(fresh)
            formed = batching.form_requests(
                fresh, self._aliases, self._settings.batch_size, self._settings.max_request_bytes
            )
            self._persist_round(store, taken, formed)
            try:
                for stored in taken:
                    self._done(store.inbox, stored.id, ack=True)
            except Exception:
                # The round is whole on disk: the repair at the next cycle acknowledges the
                # chunks it lists as its sources, so they are not formed (and sent) again.
                self._repair.add(store.folder)
                raise
            self._ledger.discarded(len(records) - len(fresh), TOO_OLD)
            self._ledger.discarded(formed.superseded, SUPERSEDED)
            if formed.held:
                self._ledger.hold(len(formed.held))
        return True

    def _persist_round(self, store: QueueStore, taken: list[StoredItem], formed: batching.Formed) -> None:
        """Put a round's requests in the outbox, then its held records, or neither."""
        sources = [stored.id for stored in taken]
        round_id = uuid.uuid4().hex
        written: list[tuple[AckQueue, int]] = []
        try:
            if formed.requests:
                item = OutboxItem(
                    requests=formed.requests, sources=sources, round=round_id, held=len(formed.held)
                )
                written.append((store.outbox, store.outbox.put(encode_outbox(item))))
            if formed.held:
                data = encode_records(formed.held, round_id, round_id=round_id, sources=sources)
                written.append((store.held, store.held.put(data)))
        except Exception:
            for queue, item_id in written:
                try:
                    queue.ack(item_id)
                except Exception:
                    self._repair.add(store.folder)
            raise

    def _release_held(self, store: QueueStore) -> None:
        """Send held records whose guest has logged in since they were held."""
        if store.held_items() == 0 or self._held_versions.get(store.folder) == self._alias_version:
            return
        self._held_versions[store.folder] = self._alias_version
        with self._disk_lock:
            items: list[StoredItem] = []
            still_held: list[Record] = []
            released: list[Record] = []
            superseded = 0
            while (stored := self._take(store.held)) is not None:
                try:
                    chunk = decode_chunk(stored.data)
                except CorruptItem as exc:
                    self._quarantine(store, store.held, stored, str(exc))
                    continue
                if chunk.bad_rows:
                    self._ledger.discarded(chunk.bad_rows, CORRUPT, "malformed held rows", held=True)
                items.append(stored)
                for record in chunk.records:
                    resolved = batching.reattribute(record, self._aliases)
                    if resolved is None:
                        superseded += 1
                    elif batching.is_sendable(resolved):
                        released.append(resolved)
                    else:
                        still_held.append(record)
            if not items:
                return
            stamp = uuid.uuid4().hex
            if released:
                store.inbox.put(encode_records(released, f"released-{stamp}"))
            if still_held:
                store.held.put(encode_records(still_held, f"held-{stamp}"))
            for stored in items:
                self._done(store.held, stored.id, ack=True)
            self._ledger.release(len(released))
            self._ledger.discarded(superseded, SUPERSEDED, held=True)
        if released:
            self._drain(store)

    # -- bounds ---------------------------------------------------------------------------------------

    def _trim(self) -> None:
        limit, self._trim_to = self._trim_to, None
        if limit is not None:
            self.enforce_bound(limit)

    def enforce_bound(self, max_records: int) -> None:
        """Drop the oldest queued records until at most ``max_records`` are on disk.

        A chunk larger than the excess is trimmed rather than dropped whole, so the bound costs
        exactly the records over it (an outbox request goes whole).
        """
        with self._disk_lock:
            while True:
                snapshot = self._ledger.snapshot(0)
                excess = snapshot.queued + snapshot.held - max_records
                if excess <= 0:
                    return
                oldest = self._oldest_item()
                if oldest is None:
                    return
                store, queue, stored = oldest
                self._trim_item(store, queue, stored, excess, max_records)

    def _trim_item(
        self, store: QueueStore, queue: AckQueue, stored: StoredItem, excess: int, max_records: int
    ) -> None:
        held = queue is store.held
        try:
            if queue is store.outbox:
                item = decode_outbox(stored.data)
                dropped = 0
                while item["requests"] and dropped < excess:
                    dropped += item["requests"].pop(0)["count"]
                if item["requests"]:
                    queue.update(stored.id, encode_outbox(item))
                    self._done(queue, stored.id, ack=False)
                else:
                    self._done(queue, stored.id, ack=True)
            else:
                chunk = decode_chunk(stored.data)
                records = chunk.records
                dropped = min(excess, len(records)) + chunk.bad_rows
                kept = records[min(excess, len(records)) :]
                if kept:
                    queue.update(stored.id, encode_records(kept, chunk.id))
                    self._done(queue, stored.id, ack=False)
                else:
                    self._done(queue, stored.id, ack=True)
        except CorruptItem as exc:
            self._quarantine(store, queue, stored, str(exc))
            return
        self._ledger.discarded(dropped, OVER_MAX_QUEUED, f"max_queued_records={max_records}", held=held)

    def _oldest_item(self) -> tuple[QueueStore, AckQueue, StoredItem] | None:
        """Take the oldest ready item of every store's queues (the others are put back)."""
        candidates: list[tuple[QueueStore, AckQueue, StoredItem]] = []
        for store in self._stores:
            for queue in store.queues:
                item = self._take(queue)
                if item is not None:
                    candidates.append((store, queue, item))
        if not candidates:
            return None
        candidates.sort(key=lambda found: found[2].queued_at)
        for _, queue, item in candidates[1:]:
            self._done(queue, item.id, ack=False)
        return candidates[0]


def finish_interrupted_rounds(store: QueueStore) -> None:
    """Complete, or undo, a round its process did not finish (it died, or a write failed).

    A round puts its requests in the outbox, then its held records, then acknowledges its inbox
    chunks. Chunks still unacknowledged whose round reached the disk whole are acknowledged now
    (else they would be sent twice); a round whose held records never reached the disk is undone
    (its requests were never posted: the chunks are formed again).
    """
    waiting = {item.id for item in store.inbox.rows()}
    if not waiting:
        return
    held_rounds: dict[str, tuple[int, ...]] = {}
    for item in store.held.rows():
        try:
            chunk = decode_chunk(item.data)
        except CorruptItem:
            continue
        if chunk.round is not None:
            held_rounds[chunk.round] = chunk.sources
    done: set[int] = set()
    for stored in store.outbox.rows():
        try:
            outbox_item = decode_outbox(stored.data)
        except CorruptItem:
            continue
        live = [source for source in outbox_item["sources"] if source in waiting]
        if not live:
            continue
        if outbox_item["held"] and outbox_item["round"] not in held_rounds:
            store.outbox.ack(stored.id)
            continue
        done.update(live)
    for sources in held_rounds.values():
        done.update(source for source in sources if source in waiting)
    for source in sorted(done):
        store.inbox.ack(source)
    if done:
        store.inbox.clear_acked()
