"""On-disk queues: one locked folder per process, adopted by a live process when its owner dies.

Each folder holds three persist-queue ``SQLiteAckQueue`` tables in one SQLite file:

- ``inbox``: chunks of records as the writer thread persisted them (one item per ~100 ms);
- ``outbox``: requests that failed once, kept with their idempotency ids so a retry (even by
  another process after a crash) resends the same records under the same id;
- ``held``: records that cannot be sent yet (a guest with no customer account);
- ``rounds``: the plan of each round being sent (see :class:`usageanalytics.records.RoundPlan`).

persist-queue does not support several processes on one file (a second opener re-releases the
first one's unacknowledged items), hence the folder per process guarded by a :class:`FileLock`.
This module is the only one that knows persist-queue: items go in and come out as bytes (JSON
written by :mod:`usageanalytics.records`; never pickle, so a queue file cannot run code), and a
damaged item or database is moved to ``<data dir>/quarantine/`` rather than retried forever.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple, cast

from persistqueue import AckStatus, SQLiteAckQueue
from persistqueue.exceptions import Empty

from .lockfile import FileLock

logger = logging.getLogger("usageanalytics")

DB_FILE = "queue.sqlite"
QUEUES_DIR = "queues"
QUARANTINE_DIR = "quarantine"
TABLES = ("inbox", "outbox", "held", "rounds")

_ACKED = int(AckStatus.acked)
_IN_FLIGHT = int(AckStatus.unack)
_INITED = int(AckStatus.inited)  # a new item's status, as persist-queue's own put writes it
_IDS_PER_STATEMENT = 500  # SQLite before 3.32 allows 999 parameters in a statement
_COUNT = re.compile(rb'"n"\s*:\s*(\d+)')


def table_name(queue: str) -> str:
    """persist-queue's table for the queue called ``queue``."""
    return f"ack_queue_{queue}"


def _head_count(head: bytes | str | None) -> int:
    if head is None:
        return 1
    found = _COUNT.search(head if isinstance(head, bytes) else str(head).encode("utf-8", "replace"))
    return int(found.group(1)) if found else 1


def count_records(connection: sqlite3.Connection, queue: str) -> tuple[int, float | None]:
    """Records waiting in one queue (in flight included), and the oldest item's time.

    Every item starts with its record count (``{"id":...,"n":N`` or ``{"n":N``), so only the first
    bytes of each are read: decoding whole chunks would take tens of megabytes for a big backlog.
    """
    try:
        rows = connection.execute(
            f"SELECT substr(data, 1, 64), timestamp FROM `{table_name(queue)}` WHERE status < ?", (_ACKED,)
        ).fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return 0, None
    total = sum(_head_count(head) for head, _ in rows)
    return total, min((row[1] for row in rows), default=None)


def read_counts(db: Path) -> dict[str, tuple[int, float | None]]:
    """Records and oldest time per queue of one queue database, read-only (safe while in use)."""
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return {queue: count_records(connection, queue) for queue in TABLES}
    finally:
        connection.close()


class _Bytes:
    """persist-queue serializer that stores what it is given: items are encoded JSON bytes.

    Decoding belongs to the caller, so an item that is not valid JSON surfaces there (and is
    quarantined) instead of failing inside persist-queue with the item marked in flight.
    """

    @staticmethod
    def dumps(value: Any, sort_keys: bool = False) -> bytes:
        if isinstance(value, str):
            return value.encode()
        if not isinstance(value, bytes):
            raise TypeError("queue items are bytes")
        return value

    @staticmethod
    def loads(data: bytes | str) -> bytes:
        return data if isinstance(data, bytes) else str(data).encode("utf-8", "surrogateescape")


class StoredItem(NamedTuple):
    id: int
    data: bytes
    queued_at: float  # enqueue time, seconds since the epoch


class AckQueue:
    """A persist-queue ack queue with the calls this SDK needs, and drained rows cleared.

    ``get`` uses raw items and ``ack``/``nack`` by id: persist-queue matches plain items by
    identity, which breaks as soon as an item is copied.
    """

    def __init__(self, folder: Path, name: str, *, sync_each_commit: bool = True) -> None:
        self.name = name
        self.folder = folder
        self._queue = SQLiteAckQueue(
            str(folder),
            name=name,
            multithreading=True,
            auto_resume=True,
            serializer=_Bytes,
            db_file_name=DB_FILE,
            timeout=30.0,
        )
        self._acked_since_clear = 0
        # Items are written once and read once: a small page cache per connection (SQLite's
        # default is 2 MB, and there are six connections) saves memory and costs nothing.
        found: list[Any] = [self._queue._putter, self._queue._getter]
        for connection in {id(c): c for c in found if c is not None}.values():
            connection.execute("PRAGMA cache_size=-256")
            if not sync_each_commit:
                connection.execute("PRAGMA synchronous=NORMAL")
        self._ready_sql = self._indexed_status()

    def _indexed_status(self) -> str:
        """Index the status column; returns the query for the waiting items' ids.

        persist-queue's table keeps ``status`` after ``data``, and an item is a chunk of
        records tens of kilobytes long: SQLite reaches the status of a row only by walking the
        item's overflow pages, so every "which items are waiting" read the whole table. The
        index answers it (and the counts) from a few pages. An index is invisible to
        persist-queue and to earlier releases; where it cannot be made (a full disk, a
        read-only file) the queries go without it.
        """
        table = table_name(self.name)
        index = f"{table}_status"
        try:
            with self._queue.tran_lock, cast(sqlite3.Connection, self._queue._putter) as connection:
                connection.execute(f"CREATE INDEX IF NOT EXISTS `{index}` ON `{table}` (status)")
        except sqlite3.Error:
            logger.debug("usageanalytics could not index the %s queue", self.name, exc_info=True)
            return f"SELECT _id FROM `{table}` WHERE status < ? ORDER BY _id"
        return f"SELECT _id FROM `{table}` INDEXED BY `{index}` WHERE status < ? ORDER BY _id"

    def put(self, data: bytes) -> int:
        item_id = self._queue.put(data)
        assert item_id is not None
        return int(item_id)

    def put_many(self, items: list[bytes]) -> list[int]:
        """Queue several items in one transaction: all of them, or none (a crash, a full disk)."""
        if len(items) == 1:
            return [self.put(items[0])]
        sql = f"INSERT INTO `{table_name(self.name)}` (data, timestamp, status) VALUES (?, ?, ?)"
        queue = self._queue
        now = time.time()
        with queue.action_lock, queue.tran_lock, cast(sqlite3.Connection, queue._putter) as connection:
            ids = [int(cast(int, connection.execute(sql, (data, now, _INITED)).lastrowid)) for data in items]
        queue.total += len(ids)
        return ids

    def ready_ids(self, limit: int = -1) -> list[int]:
        """The ids of the items waiting (not in flight), oldest first, without their data."""
        getter = cast(sqlite3.Connection, self._queue._getter)
        with self._queue.tran_lock:
            rows = getter.execute(f"{self._ready_sql} LIMIT ?", (_IN_FLIGHT, limit)).fetchall()
        return [int(row[0]) for row in rows]

    def unacked_ids(self) -> set[int]:
        """The ids of every item not yet acknowledged (waiting or in flight), without data."""
        getter = cast(sqlite3.Connection, self._queue._getter)
        sql = f"SELECT _id FROM `{table_name(self.name)}` WHERE status < ?"
        with self._queue.tran_lock:
            return {int(row[0]) for row in getter.execute(sql, (_ACKED,)).fetchall()}

    def read(self, item_id: int) -> bytes | None:
        """An item's data, without taking it; None if it is gone or acknowledged."""
        getter = cast(sqlite3.Connection, self._queue._getter)
        sql = f"SELECT data FROM `{table_name(self.name)}` WHERE _id = ? AND status < ?"
        with self._queue.tran_lock:
            row = getter.execute(sql, (item_id, _ACKED)).fetchone()
        return None if row is None else _Bytes.loads(row[0])

    def take(self, item_id: int) -> StoredItem | None:
        """The item ``item_id``, marked in flight like :meth:`get`; None if it is not ready."""
        if self._count("_id = ? AND status < ?", item_id, _IN_FLIGHT) == 0:
            return None
        try:
            raw = self._queue.get(block=False, raw=True, id=item_id)
        except Empty:
            return None
        return StoredItem(int(raw["pqid"]), raw["data"], float(raw["timestamp"]))

    def get(self) -> StoredItem | None:
        """The oldest ready item, marked in flight until acked or nacked; None if empty.

        Found through the status index: persist-queue's own ``get`` reads the status of every
        row before it, item data and all.
        """
        while True:
            waiting = self.ready_ids(limit=1)
            if not waiting:
                return None
            item = self.take(waiting[0])
            if item is not None:
                return item  # else another thread took it first: the next one

    def take_many(self, records: int, limit: int = 64) -> list[StoredItem]:
        """The oldest ready items, at least one and at most ``limit``, until they hold
        ``records`` records (each item's count read from its head), marked in flight like
        :meth:`get` but in one transaction: one sync for a round, not one per item."""
        table = table_name(self.name)
        queue = self._queue
        taken: list[StoredItem] = []
        with queue.action_lock, queue.tran_lock, cast(sqlite3.Connection, queue._putter) as connection:
            connection.execute("BEGIN IMMEDIATE")  # no other writer between the read and the mark
            ids = [row[0] for row in connection.execute(f"{self._ready_sql} LIMIT ?", (_IN_FLIGHT, limit))]
            found = 0
            for item_id in ids:
                row = connection.execute(
                    f"SELECT data, timestamp FROM `{table}` WHERE _id = ?", (item_id,)
                ).fetchone()
                data = bytes(row[0])
                taken.append(StoredItem(int(item_id), data, float(row[1])))
                found += _head_count(data[:64])  # as count_records reads it
                if found >= records:
                    break
            if taken:
                marks = ",".join("?" * len(taken))
                connection.execute(
                    f"UPDATE `{table}` SET status = ? WHERE _id IN ({marks})",
                    (_IN_FLIGHT, *(item.id for item in taken)),
                )
        queue.total -= len(taken)
        return taken

    def ack(self, item_id: int) -> None:
        self._queue.ack(id=item_id)
        self._acked_since_clear += 1
        if self._acked_since_clear >= 64:
            self.clear_acked()

    def ack_many(self, item_ids: list[int]) -> None:
        """Acknowledge several items in one transaction (one sync, not one per item).

        They are deleted at once, as :meth:`clear_acked` would delete them later: marking an
        item acknowledged first would rewrite all of its data for one status byte.
        """
        table = table_name(self.name)
        queue = self._queue
        with queue.action_lock, queue.tran_lock, cast(sqlite3.Connection, queue._putter) as connection:
            for start in range(0, len(item_ids), _IDS_PER_STATEMENT):
                part = item_ids[start : start + _IDS_PER_STATEMENT]
                marks = ",".join("?" * len(part))
                connection.execute(f"DELETE FROM `{table}` WHERE _id IN ({marks})", part)
        for item_id in item_ids:
            queue._unack_cache.pop(item_id, None)

    def nack(self, item_id: int) -> None:
        self._queue.nack(id=item_id)

    def update(self, item_id: int, data: bytes) -> None:
        self._queue.update(data, id=item_id)

    def clear_acked(self) -> None:
        """Delete acknowledged rows: left in place, they make every ``get`` scan them."""
        self._queue.clear_acked_data(max_delete=None, keep_latest=None)
        self._acked_since_clear = 0

    def ready(self) -> int:
        """Items waiting (not in flight), counted in the table: persist-queue's own count drifts
        when an item is acknowledged without being taken first (a round finished after a crash)."""
        return self._count("status < ?", _IN_FLIGHT)

    def in_flight(self) -> int:
        return self._count("status = ?", _IN_FLIGHT)

    def _count(self, where: str, *parameters: int) -> int:
        getter = cast(sqlite3.Connection, self._queue._getter)
        with self._queue.tran_lock:
            row = getter.execute(
                f"SELECT COUNT(*) FROM `{table_name(self.name)}` WHERE {where}", parameters
            ).fetchone()
        return int(row[0])

    def rows(self) -> list[StoredItem]:
        """Every item not yet acknowledged, oldest first, without taking them."""
        sql = f"SELECT _id, data, timestamp FROM `{table_name(self.name)}` WHERE status < ? ORDER BY _id"
        getter = cast(sqlite3.Connection, self._queue._getter)
        with self._queue.tran_lock:
            found = getter.execute(sql, (_ACKED,)).fetchall()
        return [StoredItem(int(row[0]), _Bytes.loads(row[1]), float(row[2])) for row in found]

    def close(self) -> None:
        self._queue.close()

    def _connections(self) -> list[sqlite3.Connection]:
        found: list[Any] = [self._queue._putter, self._queue._getter]
        return list({id(c): c for c in found if c is not None}.values())

    def secure_delete(self, on: bool) -> None:
        """Zero what this queue's deletes and updates free in the file (``PRAGMA secure_delete``),
        while erasing records that must leave no trace on disk."""
        with self._queue.tran_lock:
            for connection in self._connections():
                connection.execute(f"PRAGMA secure_delete={'ON' if on else 'OFF'}")

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file and empty it (old page versions, erased
        records among them, live in the log until then)."""
        with self._queue.tran_lock:
            self._connections()[0].execute("PRAGMA wal_checkpoint(TRUNCATE)")


class QueueStore:
    """One queue folder and its lock; see the module docstring."""

    def __init__(self, folder: Path, lock: FileLock, quarantine: Path, *, adopted: bool = False) -> None:
        self.folder = folder
        self.lock = lock
        self.adopted = adopted
        self.quarantine_dir = quarantine
        _create_private_file(folder / DB_FILE)
        self.inbox = AckQueue(folder, "inbox")
        # The outbox and held records are written before the inbox chunks they come from are
        # acknowledged, and that acknowledgement syncs the (shared) write-ahead log: what they
        # hold is on disk before its source is gone, without a sync of their own per commit.
        self.outbox = AckQueue(folder, "outbox", sync_each_commit=False)
        self.held = AckQueue(folder, "held", sync_each_commit=False)
        # Plans of the rounds being sent (records.RoundPlan): no records of their own.
        self.rounds = AckQueue(folder, "rounds", sync_each_commit=False)

    @property
    def queues(self) -> tuple[AckQueue, AckQueue, AckQueue]:
        return (self.outbox, self.inbox, self.held)

    def erasing(self, on: bool) -> None:
        """Zero what deletes and updates free in the queue's file from now on (``on``), or stop."""
        for queue in (self.inbox, self.outbox, self.held, self.rounds):
            queue.secure_delete(on)

    def compact(self) -> None:
        """Delete acknowledged items and empty the write-ahead log: with :meth:`erasing` on,
        records dropped before leave no bytes behind in the queue's files."""
        for queue in (self.inbox, self.outbox, self.held, self.rounds):
            queue.clear_acked()
        self.inbox.checkpoint()

    def pending(self) -> int:
        """Items waiting to be sent (held records excluded), in flight included."""
        return sum(q.ready() + q.in_flight() for q in (self.inbox, self.outbox))

    def held_items(self) -> int:
        return self.held.ready() + self.held.in_flight()

    def record_counts(self) -> tuple[int, int]:
        """(records queued to send, records held), counted from item headers."""
        counts = read_counts(self.folder / DB_FILE)
        return counts["inbox"][0] + counts["outbox"][0], counts["held"][0]

    def quarantine(self, queue: AckQueue, item: StoredItem, why: str) -> tuple[int, Path | None]:
        """Move a damaged item aside (a file in the quarantine folder) and out of the queue.

        Returns the records it claimed to hold (its ``"n"``, else 1) and where it went.
        """
        count = _head_count(item.data[:64])
        path: Path | None = None
        try:
            ensure_dir(self.quarantine_dir)
            path = self.quarantine_dir / f"{self.folder.name}-{queue.name}-{item.id}.item"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(item.data)
            path.with_suffix(".why").write_text(f"{why}\n", encoding="utf-8")
        except OSError:
            logger.exception("usageanalytics could not copy a damaged queue item aside")
            path = None
        queue.ack(item.id)
        return count, path

    def close(self) -> None:
        for queue in (*self.queues, self.rounds):
            try:
                queue.close()
            except Exception:  # pragma: no cover - closing is best effort
                logger.debug("closing queue %s failed", queue.name, exc_info=True)

    def remove(self) -> None:
        """Delete the folder (it must be empty of pending records) and give the lock up."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.lock.release(unlink=True)

    def release(self) -> None:
        """Close the queues and give the lock up, leaving the folder for the next process."""
        self.close()
        self.lock.release()

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's store without touching its files or lock."""
        self.lock.forget()
        abandon(self)


class Stores:
    """This process's own store and the ones it adopted; thread-safe."""

    def __init__(self, own: QueueStore) -> None:
        self.own = own
        self._stores = [own]
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[QueueStore]:
        with self._lock:
            return iter(list(self._stores))

    def add(self, store: QueueStore) -> None:
        with self._lock:
            self._stores.append(store)

    def remove(self, store: QueueStore) -> None:
        with self._lock:
            self._stores.remove(store)

    def folders(self) -> set[Path]:
        with self._lock:
            return {store.folder for store in self._stores}


# Objects a forked child must neither use nor close (closing SQLite connections inherited across
# fork can corrupt the parent's database); kept referenced so their finalizers never run.
_ABANDONED: list[Any] = []


def abandon(thing: Any) -> None:
    """Keep ``thing`` (inherited across fork) referenced forever, never closed or collected."""
    _ABANDONED.append(thing)


def _create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only; SQLite's -wal/-shm files copy its mode."""
    if not path.exists():
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)


def create_private_file(path: Path) -> None:
    _create_private_file(path)


def ensure_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents with mode 0700; an existing folder is left as is.

    Raises OSError (a file in the way, no permission) for the caller to report.
    """
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
    if not path.is_dir():
        raise NotADirectoryError(f"{path} is not a folder")
    return path


def create_own_store(data_dir: Path) -> QueueStore:
    """A new queue folder for this process, locked before anyone can mistake it for orphaned."""
    root = ensure_dir(data_dir / QUEUES_DIR)
    for _ in range(10):
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        lock = FileLock(root / f"{name}.lock")
        if lock.try_acquire():
            folder = ensure_dir(root / name)
            return QueueStore(folder, lock, data_dir / QUARANTINE_DIR)
    raise OSError(f"could not lock a queue folder under {root}")


def orphaned_folders(data_dir: Path) -> Iterator[tuple[Path, FileLock]]:
    """Yield (folder, held lock) for every queue folder whose owner has died."""
    root = data_dir / QUEUES_DIR
    if not root.is_dir():
        return
    for lock_path in sorted(root.glob("*.lock")):
        folder = lock_path.with_suffix("")
        lock = FileLock(lock_path)
        try:
            if not lock.try_acquire():
                continue
        except OSError:
            continue
        if not folder.is_dir():
            lock.release(unlink=True)
            continue
        yield folder, lock
    # A folder without a lock file was left by a crash between mkdir and lock: nobody owns it.
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        lock = FileLock(folder.with_suffix(".lock"))
        if not folder.with_suffix(".lock").exists() and lock.try_acquire():
            yield folder, lock


# -- damaged folders ------------------------------------------------------------------------------


def wal_problem(folder: Path) -> str | None:
    """Why the folder's write-ahead log cannot be whole, or None.

    A WAL is a 32-byte header and whole frames (24 bytes plus a page each); a process killed
    with SIGKILL leaves whole frames. Any other size means the file was cut (a full disk, a
    partial copy): SQLite then silently ignores what follows the last intact transaction.
    """
    wal = folder / f"{DB_FILE}-wal"
    try:
        size = wal.stat().st_size
    except FileNotFoundError:
        return None
    if size == 0:
        return None
    if size < 32:
        return f"its write-ahead log is cut short ({size} bytes, no whole header)"
    with wal.open("rb") as handle:
        header = handle.read(32)
    page_size = int.from_bytes(header[8:12], "big")
    if header[:4] not in (b"\x37\x7f\x06\x82", b"\x37\x7f\x06\x83") or not 512 <= page_size <= 65536:
        return "its write-ahead log has no valid header"
    if (size - 32) % (24 + page_size):
        return f"its write-ahead log is cut short ({size} bytes is not a whole number of frames)"
    return None


def quarantine_folder(folder: Path, quarantine: Path, *, keep: bool = False) -> Path:
    """Move (or with ``keep``, copy) a queue folder into the quarantine folder; returns where."""
    ensure_dir(quarantine)
    target = quarantine / f"{folder.name}-{time.strftime('%Y%m%dT%H%M%S')}"
    if keep:
        shutil.copytree(folder, target)
    else:
        shutil.move(str(folder), str(target))
    for path in target.rglob("*"):
        with contextlib.suppress(OSError):
            path.chmod(0o700 if path.is_dir() else 0o600)
    return target


def salvage(db: Path) -> tuple[dict[str, list[StoredItem]], list[str]]:
    """The unacknowledged items that can still be read from a damaged queue database.

    Returns the items per queue and, for each queue that could not be read, why.
    """
    found: dict[str, list[StoredItem]] = {queue: [] for queue in TABLES}
    problems: list[str] = []
    try:
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        return found, [f"cannot open: {exc}"]
    try:
        for queue in TABLES:
            try:
                rows = connection.execute(  # NOT INDEXED: a damaged index must not hide the rows
                    f"SELECT _id, data, timestamp FROM `{table_name(queue)}` NOT INDEXED "
                    "WHERE status < ? ORDER BY _id",
                    (_ACKED,),
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    problems.append(f"{queue}: {exc}")
                continue
            except sqlite3.DatabaseError as exc:
                problems.append(f"{queue}: {exc}")
                continue
            found[queue] = [StoredItem(int(r[0]), _Bytes.loads(r[1]), float(r[2] or 0.0)) for r in rows]
    finally:
        connection.close()
    return found, problems
