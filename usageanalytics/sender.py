"""The sender thread: turns queued records into requests, posts them, and never loses one.

Every ``flush_interval`` (and sooner when a batch fills, or on ``flush()``) it, for each store
(its own, and those adopted from dead processes):

1. sends the outbox: requests persisted earlier, each under the idempotency id it was formed with;
2. moves a *round* of inbox chunks (at most :data:`RECORDS_PER_ROUND` records) into the outbox:
   decodes them once, re-attributes guests who logged in, holds records that lack a customer
   account, forms requests bounded in records and bytes, persists them, then acknowledges the
   chunks; then sends them. A request is on disk before its first post, so whoever retries it (a
   later round, the next process, a process with another ``batch_size``) resends the same
   records under the same id, and a server that drops repeated ids loses nothing. Rounds go on
   while they come out full (a backlog); what is logged while one is sent waits for the next
   wake, unless this is a flush;
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
    EnvelopesRead,
    OutboxItem,
    Record,
    Request,
    RoundPlan,
    Run,
    decode_chunk,
    decode_outbox,
    decode_plan,
    encode_outbox,
    encode_plan,
    encode_records,
    record_count,
    request_on_disk,
    valid_runs,
)
from .retry import RetryPolicy
from .state import Alias, StateStore
from .storage import AckQueue, QueueStore, StoredItem, Stores
from .transport import Outcome, Result, Transport

logger = logging.getLogger("usageanalytics")

AUTH_PAUSE = 600.0
ADOPT_EVERY = 30.0
RECORDS_PER_ROUND = 20_000  # records read and formed at once: bounds the sender's memory
ENVELOPES_KEPT = 10_000  # envelopes read, kept for the rounds to come (a visitor's is in each)
# Records per outbox item: what a retry decodes at once (its bodies as Python objects: about
# 4 KB a record at the peak, so 20 MB), however large the round that left it.
OUTBOX_ITEM_RECORDS = 5000
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
    paused: Callable[[], bool] = lambda: False  # True: send nothing (the user opted out)


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
        self._bodies: dict[str, bytes] = {}  # request id -> its body's JSON, for this round's requests
        self._envelopes: EnvelopesRead = {}
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

    def in_flight(self) -> set[tuple[int, int]]:
        """The queue items this thread holds in flight now (a round or an outbox item being
        posted), as ``(id(queue), item id)``: a discard cannot reach them until they settle."""
        return {(id(queue), item_id) for queue, item_id in list(self._taken)}

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
        if self._callbacks.paused():
            return
        for store in self._stores:
            if store.folder in self._repair:
                self._repair.discard(store.folder)
                with self._disk_lock:
                    self._repair_now(store)
        self._refresh_aliases()
        try:
            for store in self._stores:
                self._drain(store, everything=forced)
                self._release_held(store, everything=forced)
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

    def _done_all(self, queue: AckQueue, item_ids: list[int]) -> None:
        """Acknowledge items this round took, in one transaction."""
        queue.ack_many(item_ids)
        done = {(queue, item_id) for item_id in item_ids}
        self._taken = [taken for taken in self._taken if taken not in done]

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
        with self._disk_lock:  # not while a discard is going through the store
            self._stores.remove(store)
            store.remove()

    def _refresh_aliases(self) -> None:
        version = self._state.alias_version()
        if version != self._alias_version:
            self._aliases = self._state.aliases()
            self._alias_version = version

    def _learn_aliases(self, users: list[Run]) -> None:
        """A login in these user upserts makes its guest an alias before anything else is formed."""
        learned = False
        for run in users:
            envelope = run.envelope
            for body in run.bodies:
                guest = body.get("lastLoggedInUserId")
                if isinstance(guest, str) and guest and guest not in self._aliases:
                    alias = Alias(
                        str(envelope.get("userId")),
                        envelope.get("customerAccountId"),
                        envelope.get("productId"),
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
            body = batching.wire_body(request, self._bodies.get(request["id"]))
            return self._transport.post(request["path"], body)
        except Exception as exc:
            logger.debug("usageanalytics transport raised", exc_info=True)
            return Result(Outcome.RETRY, None, f"unexpected {type(exc).__name__}: {str(exc)[:200]}")

    def _too_old(self, request: Request) -> bool:
        return time.time() - request["first"] > self._settings.max_record_age

    def _drain(self, store: QueueStore, *, everything: bool) -> None:
        """Send the outbox, then the inbox in rounds: while each round comes out full (a
        backlog), and for a flush (``everything``) until the inbox is empty.

        What is logged while a round is being sent waits for the next wake. On a web server
        whose many visitors each have an envelope (a request each), chasing those records
        would post a request per visitor for a few records each, round after round.
        """
        self._send_outbox(store)
        while not self._halted():
            taken = self._round(store)
            if not taken or (taken < RECORDS_PER_ROUND and not everything):
                return

    def _halted(self) -> bool:
        return self._stopping or self._callbacks.paused()

    def _send_outbox(self, store: QueueStore) -> None:
        while not self._halted():
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
        changed, failure = self._post_requests(todo)
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

    def _post_requests(self, todo: collections.deque[Request]) -> tuple[bool, tuple[Request, Result] | None]:
        """Post requests in order until one must wait; ``todo`` keeps what is left (that one
        first). Returns whether anything was settled or changed, and the failure if any."""
        changed = False
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
            size = batching.body_size(request, self._bodies.get(request["id"])) if count == 1 else 0
            if size > self._settings.max_request_bytes:
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
                logger.debug("usageanalytics: delivered %d records to %s", count, request["path"])
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
            return True, (request, result)
        return changed, None

    def _settle(self, request: Request) -> None:
        self._settled[request["id"]] = None
        if len(self._settled) > _SETTLED_MEMORY:
            self._settled.popitem(last=False)

    def _dead_letter(self, request: Request, status_code: int | None, reason: str) -> None:
        path = self._dead_letters.add(request_on_disk(request), status_code, reason)
        self._settle(request)
        self._ledger.rejected(request["count"])
        logger.error(
            "usageanalytics: %s %d records (%s); kept in %s. Fix the cause, "
            "then run `usageanalytics replay-dead-letters`.",
            "SmartKarrot rejected" if status_code is not None else "could not send",
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

    def _round(self, store: QueueStore) -> int:
        """Form a round of inbox chunks into requests and send them; the records it took (0:
        the inbox is empty).

        The round's plan goes to disk first and its chunks stay in the inbox (in flight) until
        the round is settled: sent, or what is left moved to the outbox. A process that dies in
        between leaves the plan, and whoever adopts the queue re-forms the same requests.
        """
        with self._disk_lock:
            taken, runs, took = self._take_chunks(store)
            if not taken:
                return 0
            plan = RoundPlan(
                id=uuid.uuid4().hex,
                at=time.time(),
                batch_size=self._settings.batch_size,
                max_bytes=self._settings.max_request_bytes,
                max_age=self._settings.max_record_age,
                aliases={},
                sources=[stored.id for stored in taken],
                done=False,
            )
            try:
                too_old, formed = self._form(runs, plan)
            except Exception:
                # A row with fields of the wrong type (damaged on disk): drop those, form the rest.
                runs, bad = valid_runs(runs)
                self._ledger.discarded(bad, CORRUPT, f"{bad} malformed rows")
                too_old, formed = self._form(runs, plan)
            plan_id = store.rounds.put(encode_plan(plan)) if formed.requests else None
        self._bodies = {
            request["id"]: body for request, body in zip(formed.requests, formed.bodies, strict=True)
        }
        try:
            todo = collections.deque(formed.requests)
            _, failure = self._post_requests(todo)
            with self._disk_lock:
                if todo:  # a failure (or stopping): the rest waits in the outbox, under its ids
                    bodies = [self._bodies.get(r["id"]) for r in todo]
                    store.outbox.put_many(outbox_items(list(todo), bodies, plan, len(formed.held)))
                if formed.held:
                    held = encode_records(
                        formed.held, plan["id"], round_id=plan["id"], sources=plan["sources"]
                    )
                    store.held.put(held)
                if plan_id is not None:
                    store.rounds.update(plan_id, encode_plan(plan, done=True))
                self._done_all(store.inbox, [stored.id for stored in taken])
                if plan_id is not None:
                    store.rounds.ack(plan_id)
                self._ledger.discarded(too_old, TOO_OLD)
                self._ledger.discarded(formed.superseded, SUPERSEDED)
                if formed.held:
                    self._ledger.hold(len(formed.held))
        except Exception:
            with self._disk_lock:
                self._release_taken()
                self._repair_now(store)
            raise
        finally:
            self._bodies = {}
        if failure is not None:
            self._fail(*failure)
            raise Stop
        return took

    def _take_chunks(self, store: QueueStore) -> tuple[list[StoredItem], list[Run], int]:
        """A round's inbox items, their runs, and how many records those hold."""
        taken: list[StoredItem] = []
        runs: list[Run] = []
        count = 0
        if len(self._envelopes) > ENVELOPES_KEPT:
            self._envelopes.clear()
        while count < RECORDS_PER_ROUND:
            some = store.inbox.take_many(RECORDS_PER_ROUND - count)
            if not some:
                break
            self._taken.extend((store.inbox, stored.id) for stored in some)
            for stored in some:
                try:
                    chunk = decode_chunk(stored.data, raw_bodies=True, read=self._envelopes)
                except CorruptItem as exc:
                    self._quarantine(store, store.inbox, stored, str(exc))
                    continue
                if chunk.bad_rows:
                    self._ledger.discarded(chunk.bad_rows, CORRUPT, f"{chunk.bad_rows} malformed rows")
                taken.append(stored)
                runs.extend(chunk.runs)
                count += record_count(chunk.runs)
        return taken, runs, count

    def _form(self, runs: list[Run], plan: RoundPlan) -> tuple[int, batching.Formed]:
        """Learn the logins in the round, note the aliases it uses in its plan, and form it."""
        cutoff = plan["at"] - plan["max_age"]
        self._learn_aliases(batching.fresh_runs([run for run in runs if run.kind == USER], cutoff))
        aliases = self._aliases
        if aliases:
            guests = {run.envelope.get("userId") for run in runs if run.guest}
            plan["aliases"] = {
                guest: [alias.user_id, alias.customer_account_id, alias.product_id]
                for guest in guests
                if isinstance(guest, str) and (alias := aliases.get(guest)) is not None
            }
        return form_round(runs, plan)

    def _repair_now(self, store: QueueStore) -> None:
        try:
            repaired = finish_interrupted_rounds(store)
        except Exception:
            logger.exception("usageanalytics could not finish an interrupted round; will retry")
            self._repair.add(store.folder)
            return
        self._book(repaired)

    def _book(self, repaired: Repaired) -> None:
        """Book what re-forming a round of this process decided (the round itself did not)."""
        self._ledger.discarded(repaired.too_old, TOO_OLD)
        self._ledger.discarded(repaired.superseded, SUPERSEDED)
        self._ledger.hold(repaired.held)

    def _release_held(self, store: QueueStore, *, everything: bool) -> None:
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
            self._drain(store, everything=everything)

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
                records = sorted(chunk.records, key=_logged_at)  # a chunk is in runs, not in time
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
        candidates.sort(key=lambda found: _oldest_record_time(*found))
        for _, queue, item in candidates[1:]:
            self._done(queue, item.id, ack=False)
        return candidates[0]


def _logged_at(record: Record) -> float:
    at = record["logged_at"]
    return at if type(at) in (int, float) else 0.0  # a damaged one goes first


def _oldest_record_time(store: QueueStore, queue: AckQueue, stored: StoredItem) -> float:
    """When the item's oldest record was logged: what "drop the oldest" orders by. Not the
    item's own enqueue time: an outbox item formed while newer chunks waited holds older
    records than they do. A corrupt item counts by its enqueue time (trimming quarantines it)."""
    try:
        if queue is store.outbox:
            return min(
                (request["first"] for request in decode_outbox(stored.data)["requests"]),
                default=stored.queued_at,
            )
        return min(
            (min(run.times) for run in decode_chunk(stored.data).runs if run.times), default=stored.queued_at
        )
    except CorruptItem:
        return stored.queued_at


@dataclass(frozen=True)
class Repaired:
    """What finishing interrupted rounds decided about records (for the owner's ledger)."""

    too_old: int = 0
    superseded: int = 0
    held: int = 0


def form_round(runs: list[Run], plan: RoundPlan) -> tuple[int, batching.Formed]:
    """Form a round exactly as its plan says (the same requests, under the same ids); and how
    many of its records were too old to send."""
    fresh = batching.fresh_runs(runs, plan["at"] - plan["max_age"])
    aliases = {
        guest: Alias(str(user), account, product)
        for guest, (user, account, product) in plan["aliases"].items()
    }
    formed = batching.form_runs(fresh, aliases, plan["batch_size"], plan["max_bytes"], seed=plan["id"])
    return record_count(runs) - record_count(fresh), formed


def outbox_items(
    requests: list[Request], bodies: list[bytes | None], plan: RoundPlan, held: int
) -> list[bytes]:
    """A round's requests as outbox items of at most :data:`OUTBOX_ITEM_RECORDS` records each
    (a retry decodes a whole item), all naming the round and its chunks (the first also its
    ``held`` count); queue them together (``put_many``), so that a round is in the outbox whole
    or not at all."""
    starts = [0]
    count = 0
    for index, request in enumerate(requests):
        if count and count + request["count"] > OUTBOX_ITEM_RECORDS:
            starts.append(index)
            count = 0
        count += request["count"]
    ends = [*starts[1:], len(requests)]
    return [
        encode_outbox(
            OutboxItem(
                requests=requests[start:end],
                sources=plan["sources"],
                round=plan["id"],
                held=held if start == 0 else 0,
            ),
            bodies[start:end],
        )
        for start, end in zip(starts, ends, strict=True)
    ]


def finish_interrupted_rounds(store: QueueStore) -> Repaired:
    """Complete, or redo, the rounds a process did not finish (it died, or a write failed).

    A round writes its plan, posts its requests, then puts what is left in the outbox and its
    held records aside, marks its plan done and acknowledges its inbox chunks. Found midway:

    - a plan not done, its chunks all there: the round is formed again from its plan (the same
      requests, the same ids: what the server already has it drops as repeats) and its requests
      go to the outbox, unless they already did;
    - a plan done, or an outbox item or held records listing chunks still there: those chunks
      are acknowledged (else they would be sent twice).

    Earlier releases' outbox items list their source chunks too.
    """
    waiting = store.inbox.unacked_ids()  # ids only: an adopted backlog can be large
    plans = store.rounds.rows()
    if not waiting:
        for stored in plans:
            store.rounds.ack(stored.id)
        return Repaired()
    outbox_rounds: set[str] = set()
    done: set[int] = set()
    for stored in store.outbox.rows():
        try:
            item = decode_outbox(stored.data)
        except CorruptItem:
            continue
        if item["round"] is not None:
            outbox_rounds.add(item["round"])
        done.update(source for source in item["sources"] if source in waiting)
    held_rounds: set[str] = set()
    for stored in store.held.rows():
        try:
            chunk = decode_chunk(stored.data)
        except CorruptItem:
            continue
        if chunk.round is not None:
            held_rounds.add(chunk.round)
            done.update(source for source in chunk.sources if source in waiting)
    too_old = superseded = held = 0
    for stored in plans:
        try:
            plan = decode_plan(stored.data)
        except CorruptItem:
            store.rounds.ack(stored.id)
            continue
        live = [source for source in plan["sources"] if source in waiting]
        if plan["done"] or len(live) < len(plan["sources"]) or not live:
            done.update(live)
            store.rounds.ack(stored.id)
            continue
        runs: list[Run] = []
        for source in plan["sources"]:
            data = store.inbox.read(source)
            try:
                runs.extend(decode_chunk(data, raw_bodies=True).runs if data is not None else ())
            except CorruptItem:
                continue  # quarantined when the sender reads it
        stale, formed = form_round(runs, plan)
        if formed.requests and plan["id"] not in outbox_rounds:
            store.outbox.put_many(outbox_items(formed.requests, list(formed.bodies), plan, len(formed.held)))
        if formed.held and plan["id"] not in held_rounds:
            store.held.put(
                encode_records(formed.held, plan["id"], round_id=plan["id"], sources=plan["sources"])
            )
            held += len(formed.held)
        too_old += stale
        superseded += formed.superseded
        done.update(live)
        store.rounds.ack(stored.id)
    for source in sorted(done):
        store.inbox.ack(source)
    if done:
        store.inbox.clear_acked()
    return Repaired(too_old, superseded, held)
