"""What an SDK data folder holds, read without disturbing the processes that own it.

Opening a live process's queue with persist-queue would re-release its in-flight items, so this
reads the SQLite files directly, read-only.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from .deadletters import DeadLetters
from .lockfile import FileLock
from .storage import DB_FILE, QUEUES_DIR, count_records


@dataclass
class FolderStatus:
    name: str
    owner_alive: bool
    queued: int = 0  # records waiting to be sent (inbox and outbox)
    held: int = 0  # records waiting for a customer account
    oldest: float | None = None  # enqueue time of the oldest item, seconds since the epoch


@dataclass
class DataStatus:
    data_dir: Path
    folders: list[FolderStatus] = field(default_factory=list)
    dead_letters: int = 0
    dead_letter_records: int = 0
    last_error: str | None = None

    @property
    def queued(self) -> int:
        return sum(f.queued for f in self.folders)

    @property
    def held(self) -> int:
        return sum(f.held for f in self.folders)

    @property
    def oldest(self) -> float | None:
        times = [f.oldest for f in self.folders if f.oldest is not None]
        return min(times) if times else None


def read_status(data_dir: Path) -> DataStatus:
    status = DataStatus(data_dir)
    root = data_dir / QUEUES_DIR
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir()):
            probe = FileLock(folder.with_suffix(".lock"))
            alive = folder.with_suffix(".lock").exists() and not probe.try_acquire()
            probe.release()
            entry = FolderStatus(folder.name, alive)
            db = folder / DB_FILE
            if db.exists():
                conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
                try:
                    inbox, t1 = count_records(conn, "ack_queue_inbox")
                    outbox, t2 = count_records(conn, "ack_queue_outbox")
                    entry.held, t3 = count_records(conn, "ack_queue_held")
                finally:
                    conn.close()
                entry.queued = inbox + outbox
                times = [t for t in (t1, t2, t3) if t is not None]
                entry.oldest = min(times) if times else None
            status.folders.append(entry)
    letters = DeadLetters(data_dir).list()
    status.dead_letters = len(letters)
    status.dead_letter_records = sum(letter.count for letter in letters)
    state = data_dir / "state.sqlite"
    if state.exists():
        conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute("SELECT value FROM kv WHERE key = 'last_error'").fetchone()
            status.last_error = row[0] if row else None
        except sqlite3.OperationalError:
            pass
        finally:
            conn.close()
    return status
