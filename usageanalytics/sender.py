"""The sender thread: turns queued records into requests, posts them, and never loses one.

Every ``flush_interval`` (and sooner when a batch fills, or on ``flush()``) it:

1. adopts the queue folders of dead processes sharing the data folder;
2. retries the outbox, oldest first, with each request's persisted idempotency id;
3. forms requests from inbox chunks (re-attributing guests who logged in, holding records that
   lack a customer account), posts them, and acknowledges the chunks once every request made from
   them is settled: sent, dead-lettered, or persisted to the outbox for retry;
4. re-examines held records when a guest has logged in.

Network errors, 429 and 5xx back off exponentially with jitter (honouring Retry-After) for as long
as the records are within the age bound; 401/403 pause sending; INVALID_INPUT and other 4xx go to
the dead-letter folder.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import batching, signals
from .deadletters import DeadLetters
from .records import chunk_of, chunk_records
from .state import Alias, StateStore
from .storage import AckQueue, QueueStore, orphaned_folders
from .transport import Outcome, Result, Transport

logger = logging.getLogger("usageanalytics")

AUTH_PAUSE = 600.0
ADOPT_EVERY = 30.0
RECORDS_PER_ROUND = 5000  # records decoded and formed at once: bounds the sender's memory


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random, capped at ``cap``."""
    delay = min(cap, base * 2.0 ** max(0, attempt - 1))
    jitter = float((rng or random).uniform(0, delay / 2))
    return delay / 2 + jitter


class Backlog:
    """Count of records on disk, for the size bound and ``flush()``; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.records = 0

    def add(self, count: int) -> None:
        with self._lock:
            self.records += count

    def remove(self, count: int) -> None:
        with self._lock:
            self.records = max(0, self.records - count)


class Stop(Exception):
    """Raised inside a cycle to stop it: the server is unreachable or refuses the key."""


class Sender:
    """Owns the stores (its own and adopted ones) and the thread that sends them."""

    def __init__(
        self,
        *,
        client: Any,
        own: QueueStore,
        data_dir: Path,
        state: StateStore,
        transport_factory: Callable[[], Transport],
        dead_letters: DeadLetters,
        backlog: Backlog,
        flush_interval: float,
        batch_size: int,
        max_record_age: float,
        retry_base: float = 1.0,
        retry_cap: float = 300.0,
    ) -> None:
        self._client = client
        self.own = own
        self._stores: list[QueueStore] = [own]
        self._stores_lock = threading.Lock()
        self._data_dir = data_dir
        self._state = state
        self._transport_factory = transport_factory
        self._transport: Transport | None = None
        self._dead_letters = dead_letters
        self.backlog = backlog
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._max_age = max_record_age
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._aliases: dict[str, Alias] = {}
        self._alias_version: tuple[int, float] | None = None
        self._held_versions: dict[Path, tuple[int, float] | None] = {}
        self._wake = threading.Event()
        self._trim_to: int | None = None
        self._forced = False
        self._stopping = False
        self._attempt = 0
        self._retry_at = 0.0
        self._honour_until = 0.0  # a Retry-After even flush() must respect
        self._paused_until = 0.0
        self._next_adopt = 0.0
        self._cycles = 0
        self._cycle_done = threading.Condition()
        self._empty = True
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="usageanalytics-sender", daemon=True)

    # -- control (other threads) -------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def request_trim(self, max_records: int) -> None:
        """The backlog is over ``max_records``: drop the oldest, on this thread, between sends.

        Trimming on the sender's own thread means no item is in flight while it picks the
        oldest, so what goes is really the oldest.
        """
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

    def stop(self, timeout: float) -> bool:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stores(self) -> list[QueueStore]:
        with self._stores_lock:
            return list(self._stores)

    def held_count(self) -> int:
        return sum(store.held_items() for store in self.stores())

    # -- the thread ----------------------------------------------------------------------------

    def _run(self) -> None:
        next_flush = time.monotonic() + self._flush_interval
        try:
            # Queues left by dead processes (a crash, an offline exit) go out now, not in 2 minutes.
            self._next_adopt = time.monotonic() + ADOPT_EVERY
            self._adopt_orphans()
            if len(self.stores()) > 1:
                self._forced = True
                self._wake.set()
        except Exception:
            logger.exception("usageanalytics could not look for orphaned queues")
        while not self._stopping:
            now = time.monotonic()
            due = min(next_flush, self._retry_at or next_flush)
            self._wake.wait(max(0.0, due - now))
            self._wake.clear()
            if self._stopping:
                break
            self._trim()
            forced, self._forced = self._forced, False
            now = time.monotonic()
            if not forced and now < max(self._retry_at, self._paused_until) and now < next_flush:
                continue
            if now >= next_flush or forced:
                next_flush = now + self._flush_interval
            try:
                self._cycle(forced)
            except Exception:
                logger.exception("usageanalytics sender cycle failed; will retry")
                self._schedule_retry("internal error", None)
            finally:
                self._finish_cycle()

    def _finish_cycle(self) -> None:
        stores = self.stores()
        empty = all(store.pending() == 0 and store.held_items() == 0 for store in stores)
        with self._cycle_done:
            self._empty = empty
            self._cycles += 1
            self._cycle_done.notify_all()

    def _cycle(self, forced: bool) -> None:
        now = time.monotonic()
        if now < self._paused_until and not forced:
            return
        if now < self._honour_until:
            return
        if now >= self._next_adopt or forced:
            self._next_adopt = now + ADOPT_EVERY
            self._adopt_orphans()
        self._refresh_aliases()
        try:
            for store in self.stores():
                self._drain_outbox(store)
                self._drain_inbox(store)
                self._release_held(store)
                if store.adopted and store.pending() == 0 and store.held_items() == 0:
                    self._retire(store)
        except Stop:
            return
        self._attempt = 0
        self._retry_at = 0.0
        self._paused_until = 0.0

    # -- adoption --------------------------------------------------------------------------------

    def _adopt_orphans(self) -> None:
        own_folder = self.own.folder
        for folder, lock in orphaned_folders(self._data_dir):
            if folder == own_folder:
                lock.release()
                continue
            try:
                store = QueueStore(folder, lock, adopted=True)
            except Exception:
                logger.exception("usageanalytics could not open the orphaned queue %s", folder)
                lock.release()
                continue
            count = sum(queue.records() for queue in store.queues)
            self.backlog.add(count)
            logger.info("usageanalytics adopted %d queued records from %s", count, folder.name)
            with self._stores_lock:
                self._stores.append(store)

    def _retire(self, store: QueueStore) -> None:
        with self._stores_lock:
            self._stores.remove(store)
        store.remove()

    # -- aliases ---------------------------------------------------------------------------------

    def _refresh_aliases(self) -> None:
        version = self._state.alias_version()
        if version != self._alias_version:
            self._aliases = self._state.aliases()
            self._alias_version = version

    def _learn_aliases(self, records: list[dict[str, Any]]) -> None:
        """A login in these records makes its guest an alias before anything else is formed."""
        for record in records:
            if record["k"] != batching.USER:
                continue
            guest = record["b"].get("lastLoggedInUserId")
            if guest and guest not in self._aliases:
                envelope = record["e"]
                alias = Alias(
                    envelope["userId"], envelope.get("customerAccountId"), envelope.get("productId")
                )
                self._state.add_alias(guest, alias)
                self._aliases[guest] = alias
        self._alias_version = self._state.alias_version()

    # -- sending ---------------------------------------------------------------------------------

    def _transport_for_send(self) -> Transport:
        if self._transport is None:
            self._transport = self._transport_factory()
        return self._transport

    def _post(self, request: dict[str, Any]) -> Result:
        body = batching.with_idempotency(request)
        return self._transport_for_send().post(request["path"], body)

    def _too_old(self, request: dict[str, Any]) -> bool:
        return time.time() - float(request.get("first", time.time())) > self._max_age

    def _settle(self, request: dict[str, Any], result: Result) -> bool:
        """Handle a final answer (sent or rejected); False if the request must be retried."""
        count = int(request.get("n", 1))
        if result.outcome is Outcome.SENT:
            self._send_signal(
                signals.batch_sent, path=request["path"], count=count, idempotency_id=request["id"]
            )
            return True
        if result.outcome is Outcome.REJECTED:
            path = self._dead_letters.add(request, result.status_code, result.reason)
            logger.error(
                "usageanalytics: SmartKarrot rejected %d records (%s); kept in %s. Fix the cause, "
                "then run `usageanalytics replay-dead-letters`.",
                count,
                result.reason,
                path,
            )
            self._note_error(result.reason)
            self._send_signal(
                signals.batch_rejected,
                path=request["path"],
                count=count,
                idempotency_id=request["id"],
                reason=result.reason,
                dead_letter=str(path),
            )
            return True
        return False

    def _note_error(self, reason: str) -> None:
        """Remember the last error, also on disk for ``usageanalytics status``."""
        self.last_error = reason
        try:
            self._state.set("last_error", f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {reason}")
        except Exception:
            logger.debug("could not record the last error", exc_info=True)

    def _fail(self, request: dict[str, Any], result: Result) -> None:
        """A retryable failure: schedule the retry (or pause) and stop this cycle."""
        self._note_error(result.reason)
        if result.outcome is Outcome.AUTH:
            self._paused_until = time.monotonic() + AUTH_PAUSE
            logger.error(
                "usageanalytics: SmartKarrot refused the API key (%s). Sending is paused for %d "
                "minutes; queued records are kept. Check api_key / USAGEANALYTICS_API_KEY.",
                result.reason,
                AUTH_PAUSE // 60,
            )
            retry_in = AUTH_PAUSE
        else:
            retry_in = self._schedule_retry(result.reason, result.retry_after)
        self._send_signal(
            signals.batch_failed,
            path=request["path"],
            count=int(request.get("n", 1)),
            idempotency_id=request["id"],
            reason=result.reason,
            retry_in=retry_in,
        )

    def _schedule_retry(self, reason: str, retry_after: float | None) -> float:
        self._attempt += 1
        delay = backoff_delay(self._attempt, self._retry_base, self._retry_cap)
        if retry_after is not None:
            delay = retry_after
            self._honour_until = time.monotonic() + retry_after
        self._retry_at = time.monotonic() + delay
        logger.warning("usageanalytics: sending failed (%s); retrying in %.1f s", reason, delay)
        return delay

    def _dropped(self, count: int, reason: str) -> None:
        """Records lost to a bound: off the backlog, and counted, logged and signalled."""
        self.backlog.remove(count)
        self._client._record_dropped(count, reason)

    def _drop_expired(self, queue: AckQueue, item_id: int, data: Any) -> None:
        queue.ack(item_id)
        self._dropped(_records_in(data), "older than max_record_age")

    def _drain_outbox(self, store: QueueStore) -> None:
        while not self._stopping:
            self._trim()
            item = store.outbox.get()
            if item is None:
                return
            item_id, request, _ = item
            if self._too_old(request):
                self._drop_expired(store.outbox, item_id, request)
                continue
            result = self._post(request)
            if self._settle(request, result):
                store.outbox.ack(item_id)
                self.backlog.remove(int(request.get("n", 1)))
                continue
            request["attempts"] = int(request.get("attempts", 0)) + 1
            store.outbox.update(item_id, request)
            store.outbox.nack(item_id)
            self._fail(request, result)
            raise Stop

    def _take_chunks(self, queue: AckQueue) -> list[tuple[int, dict[str, Any]]]:
        taken: list[tuple[int, dict[str, Any]]] = []
        records = 0
        while records < RECORDS_PER_ROUND:
            item = queue.get()
            if item is None:
                break
            item_id, chunk, _ = item
            taken.append((item_id, chunk))
            records += _records_in(chunk)
        return taken

    def _drain_inbox(self, store: QueueStore) -> None:
        while not self._stopping:
            self._trim()
            chunks = self._take_chunks(store.inbox)
            if not chunks:
                return
            sources = [item_id for item_id, _ in chunks]
            records = [record for _, chunk in chunks for record in chunk_records(chunk)]
            now = time.time()
            fresh = [r for r in records if now - float(r["t"]) <= self._max_age]
            self._learn_aliases(fresh)
            seed = f"{chunks[0][1]['id']}:{chunks[-1][1]['id']}:{len(chunks)}"
            formed = batching.form_requests(fresh, self._aliases, self._batch_size, seed)
            failure: Result | None = None
            settled = 0
            for request in formed.requests:
                result = self._post(request)
                if not self._settle(request, result):
                    failure = result
                    break
                self.backlog.remove(request["n"])
                settled += 1
            if failure is not None and settled == 0 and failure.unprocessed:
                # Nothing of this round reached the server (it is down, or said "later"): put
                # the chunks back as they were, rather than copy them to the outbox.
                for item_id in sources:
                    store.inbox.nack(item_id)
                self._fail(formed.requests[0], failure)
                raise Stop
            expired = len(records) - len(fresh)
            if expired:
                self._dropped(expired, "older than max_record_age")
            if formed.held:
                store.held.put(chunk_of(formed.held, seed))
            if formed.superseded:
                self.backlog.remove(formed.superseded)
            if failure is not None:
                # Keep the unsent requests, with their idempotency ids, before acking the chunks.
                unsent = formed.requests[settled:]
                unsent[0]["attempts"] = 1
                for request in unsent:
                    store.outbox.put(dict(request, sources=sources))
            for item_id in sources:
                store.inbox.ack(item_id)
            if failure is not None:
                self._fail(formed.requests[settled], failure)
                raise Stop

    def _release_held(self, store: QueueStore) -> None:
        """Send held records whose guest has logged in since they were held."""
        if store.held_items() == 0 or self._held_versions.get(store.folder) == self._alias_version:
            return
        self._held_versions[store.folder] = self._alias_version
        items = []
        while (item := store.held.get()) is not None:
            items.append(item)
        still_held: list[dict[str, Any]] = []
        released: list[dict[str, Any]] = []
        for _, chunk, _ in items:
            for record in chunk_records(chunk):
                resolved = batching.reattribute(record, self._aliases)
                if resolved is None:
                    self.backlog.remove(1)
                elif batching.is_sendable(resolved):
                    released.append(resolved)
                else:
                    still_held.append(record)
        if released:
            store.inbox.put(chunk_of(released, f"released-{time.time()}"))
        if still_held:
            store.held.put(chunk_of(still_held, f"held-{time.time()}"))
        for item_id, _, _ in items:
            store.held.ack(item_id)
        if released:
            self._drain_inbox(store)

    def _send_signal(self, signal: Any, **info: Any) -> None:
        try:
            signal.send(self._client, **info)
        except Exception:
            logger.exception("usageanalytics signal receiver failed")

    # -- bounds ---------------------------------------------------------------------------------------

    def _trim(self) -> None:
        limit, self._trim_to = self._trim_to, None
        if limit is not None:
            self.enforce_bound(limit)

    def enforce_bound(self, max_records: int) -> None:
        """Drop the oldest queued records until the backlog is at most ``max_records``.

        A chunk larger than the excess is trimmed rather than dropped whole, so the bound costs
        exactly the records over it.
        """
        while self.backlog.records > max_records:
            excess = self.backlog.records - max_records
            oldest = self._oldest_item()
            if oldest is None:
                return
            queue, (item_id, data, _) = oldest
            count = _records_in(data)
            if "r" in data and count > excess:
                data["r"] = data["r"][excess:]
                data["n"] = len(data["r"])
                queue.update(item_id, data)
                queue.nack(item_id)
                count = excess
            else:
                queue.ack(item_id)
            self._dropped(count, f"queue over max_queued_records={max_records}")

    def _oldest_item(self) -> tuple[AckQueue, tuple[int, Any, float]] | None:
        """Take the oldest ready item of every store's queues (the others are put back)."""
        candidates = []
        for store in self.stores():
            for queue in store.queues:
                item = queue.get()
                if item is not None:
                    candidates.append((queue, item))
        if not candidates:
            return None
        candidates.sort(key=lambda pair: pair[1][2])
        for queue, (item_id, _, _) in candidates[1:]:
            queue.nack(item_id)
        return candidates[0]

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


def _records_in(data: Any) -> int:
    if isinstance(data, dict):
        return int(data.get("n", 1))
    return 1
