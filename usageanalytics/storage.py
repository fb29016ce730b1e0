"""On-disk queues: one locked folder per process, adopted by a live process when its owner dies.

Each folder holds three persist-queue ``SQLiteAckQueue`` tables in one SQLite file:

- ``inbox``: chunks of records as the writer thread persisted them (one item per ~100 ms);
- ``outbox``: requests formed from inbox chunks that failed once, with their idempotency id and
  attempt count, so a retry (even by another process after a crash) reuses the same id;
- ``held``: records that cannot be sent yet (a guest with no customer account), kept until the
  user logs in or they age out.

persist-queue does not support several processes on one file (a second opener re-releases the
first one's unacknowledged items), hence the folder per process guarded by a :class:`FileLock`.
Items are JSON (never pickle: a queue file must not be able to run code).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import orjson
from persistqueue import SQLiteAckQueue
from persistqueue.exceptions import Empty

from .lockfile import FileLock

logger = logging.getLogger("usageanalytics")

DB_FILE = "queue.sqlite"
QUEUES_DIR = "queues"


_ACKED = 5  # persist-queue's status of an acknowledged item
_COUNT = re.compile(rb'"n":(\d+)')


def count_records(connection: sqlite3.Connection, table: str) -> tuple[int, float | None]:
    """Records waiting in one persist-queue table, and the oldest item's time.

    Every item starts with its record count (``{"id":...,"n":N`` or ``{"n":N``), so only the first
    bytes of each are read: decoding whole chunks would take tens of megabytes for a big backlog.
    """
    try:
        rows = connection.execute(
            f"SELECT substr(data, 1, 64), timestamp FROM `{table}` WHERE status < ?", (_ACKED,)
        ).fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return 0, None
    total = 0
    for head, _ in rows:
        found = _COUNT.search(head if isinstance(head, bytes) else str(head).encode())
        total += int(found.group(1)) if found else 1
    return total, min((row[1] for row in rows), default=None)


class CompactJSON:
    """persist-queue serializer: compact UTF-8 JSON by orjson (20x faster than json here, which
    is what lets the writer thread keep pace with a burst of tracking calls)."""

    @staticmethod
    def dumps(value: Any, sort_keys: bool = False) -> bytes:
        if isinstance(value, bytes):  # already encoded (the writer's chunks)
            return value
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS if sort_keys else 0)

    @staticmethod
    def loads(data: bytes | str) -> Any:
        return orjson.loads(data)


class AckQueue:
    """A persist-queue ack queue with the calls this SDK needs, and drained rows cleared.

    ``get`` uses raw items and ``ack``/``nack`` by id: persist-queue matches plain items by
    identity, which breaks as soon as an item is copied.
    """

    def __init__(self, folder: Path, name: str) -> None:
        self.name = name
        self._queue = SQLiteAckQueue(
            str(folder),
            name=name,
            multithreading=True,
            auto_resume=True,
            serializer=CompactJSON,
            db_file_name=DB_FILE,
            timeout=30.0,
        )
        self._acked_since_clear = 0
        # Items are written once and read once: a small page cache per connection (SQLite's
        # default is 2 MB, and there are six connections) saves memory and costs nothing.
        connections: list[Any] = [self._queue._putter, self._queue._getter]
        for connection in {id(c): c for c in connections if c is not None}.values():
            connection.execute("PRAGMA cache_size=-256")

    def put(self, item: Any) -> int:
        item_id = self._queue.put(item)
        assert item_id is not None
        return int(item_id)

    def get(self) -> tuple[int, Any, float] | None:
        """The oldest ready item as (id, data, enqueue time), marked in flight; None if empty."""
        try:
            raw = self._queue.get(block=False, raw=True)
        except Empty:
            return None
        return int(raw["pqid"]), raw["data"], float(raw["timestamp"])

    def ack(self, item_id: int) -> None:
        self._queue.ack(id=item_id)
        self._acked_since_clear += 1
        if self._acked_since_clear >= 64:
            self.clear_acked()

    def nack(self, item_id: int) -> None:
        self._queue.nack(id=item_id)

    def update(self, item_id: int, data: Any) -> None:
        self._queue.update(data, id=item_id)

    def clear_acked(self) -> None:
        """Delete acknowledged rows: left in place, they make every ``get`` scan them."""
        self._queue.clear_acked_data(max_delete=None, keep_latest=None)
        self._acked_since_clear = 0

    def ready(self) -> int:
        """Items waiting (not in flight)."""
        return max(0, int(self._queue.qsize()))

    def in_flight(self) -> int:
        return int(self._queue.unack_count())

    def records(self) -> int:
        """Records (not items) waiting or in flight, counted without decoding the items."""
        getter = cast(sqlite3.Connection, self._queue._getter)  # persist-queue's reading connection
        return count_records(getter, f"ack_queue_{self.name}")[0]

    def items(self) -> list[dict[str, Any]]:
        """Every item not yet acknowledged, oldest first, without taking them."""
        return [row for row in self._queue.queue() if str(row["status"]) < "5"]

    def close(self) -> None:
        self._queue.close()


class QueueStore:
    """One queue folder and its lock; see the module docstring."""

    def __init__(self, folder: Path, lock: FileLock, *, adopted: bool = False) -> None:
        self.folder = folder
        self.lock = lock
        self.adopted = adopted
        _create_private_file(folder / DB_FILE)
        self.inbox = AckQueue(folder, "inbox")
        self.outbox = AckQueue(folder, "outbox")
        self.held = AckQueue(folder, "held")
        if adopted:
            self._finish_interrupted_moves()

    @property
    def queues(self) -> tuple[AckQueue, AckQueue, AckQueue]:
        return (self.outbox, self.inbox, self.held)

    def _finish_interrupted_moves(self) -> None:
        """Ack inbox chunks whose requests reached the outbox before their owner died.

        Moving chunks to the outbox is put-then-ack; a crash in between would otherwise send
        those records twice (once from each table).
        """
        for row in self.outbox.items():
            for source in row["data"].get("sources", ()):
                self.inbox.ack(int(source))
        self.inbox.clear_acked()

    def pending(self) -> int:
        """Items waiting to be sent (held records excluded), in flight included."""
        return sum(q.ready() + q.in_flight() for q in (self.inbox, self.outbox))

    def held_items(self) -> int:
        return self.held.ready() + self.held.in_flight()

    def close(self) -> None:
        for queue in self.queues:
            try:
                queue.close()
            except Exception:  # pragma: no cover - closing is best effort
                logger.debug("closing queue %s failed", queue.name, exc_info=True)

    def remove(self) -> None:
        """Delete the folder (it must be empty of pending records) and give the lock up."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.lock.release(unlink=True)

    def forget_after_fork(self) -> None:
        """In a forked child: drop the parent's store without touching its files or lock."""
        self.lock.forget()
        _ABANDONED.append(self)


# Objects a forked child must neither use nor close (closing SQLite connections inherited across
# fork can corrupt the parent's database); kept referenced so their finalizers never run.
_ABANDONED: list[Any] = []


def _create_private_file(path: Path) -> None:
    """Create ``path`` readable by its owner only; SQLite's -wal/-shm files copy its mode."""
    if not path.exists():
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700, and tighten it if it already existed."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:  # pragma: no cover - not our folder to change
        logger.debug("cannot chmod %s", path)
    return path


def create_own_store(data_dir: Path) -> QueueStore:
    """A new queue folder for this process, locked before anyone can mistake it for orphaned."""
    root = private_dir(data_dir / QUEUES_DIR)
    for _ in range(10):
        name = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        lock = FileLock(root / f"{name}.lock")
        if lock.try_acquire():
            folder = private_dir(root / name)
            return QueueStore(folder, lock)
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
