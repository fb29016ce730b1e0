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
from .storage import DB_FILE, QUARANTINE_DIR, QUEUES_DIR, read_counts


@dataclass
class FolderStatus:
    name: str
    owner_alive: bool
    queued: int = 0  # records waiting to be sent (inbox and outbox)
    held: int = 0  # records waiting for a customer account
    oldest: float | None = None  # enqueue time of the oldest item, seconds since the epoch
    unreadable: str | None = None  # why the queue could not be read


@dataclass
class DataStatus:
    data_dir: Path
    folders: list[FolderStatus] = field(default_factory=list)
    dead_letters: int = 0
    dead_letter_records: int = 0
    last_error: str | None = None
    consent: str | None = None  # "out" or "in": the user's saved choice (ua.opt_out / opt_in)
    totals: dict[str, int] = field(default_factory=dict)  # the ledger's totals for this folder
    quarantined: int = 0  # damaged items or queue folders set aside

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

    @property
    def dropped(self) -> dict[str, int]:
        """Records dropped so far, by reason."""
        return {
            name.split(":", 1)[1]: count for name, count in self.totals.items() if name.startswith("dropped:")
        }


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
                try:
                    counts = read_counts(db)
                except sqlite3.Error as exc:
                    entry.unreadable = str(exc)
                else:
                    entry.queued = counts["inbox"][0] + counts["outbox"][0]
                    entry.held = counts["held"][0]
                    times = [t for _, t in counts.values() if t is not None]
                    entry.oldest = min(times) if times else None
            status.folders.append(entry)
    letters = DeadLetters(data_dir).list()
    status.dead_letters = len(letters)
    status.dead_letter_records = sum(letter.count for letter in letters)
    quarantine = data_dir / QUARANTINE_DIR
    if quarantine.is_dir():
        status.quarantined = sum(1 for p in quarantine.iterdir() if p.is_dir() or p.suffix == ".item")
    state = data_dir / "state.sqlite"
    if state.exists():
        conn = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=10)
        try:
            row = conn.execute("SELECT value FROM kv WHERE key = 'last_error'").fetchone()
            status.last_error = row[0] if row else None
            row = conn.execute("SELECT value FROM kv WHERE key = 'consent'").fetchone()
            status.consent = row[0] if row else None
            status.totals = {
                str(name): int(count) for name, count in conn.execute("SELECT name, count FROM ledger")
            }
        except sqlite3.Error:
            pass
        finally:
            conn.close()
    return status
