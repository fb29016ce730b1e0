"""Small state shared by every process using one data folder, in ``state.sqlite``.

It holds the ids that must survive restarts and agree between processes (the device id, the guest
id, the logged-in user) and the guest-to-user aliases that let records a guest queued be
re-attributed to the user who logged in. SQLite (stdlib) gives atomic first-writer-wins creation
across processes, which a JSON file cannot.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection
from pathlib import Path

from .storage import create_private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS aliases (
    guest_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    customer_account_id TEXT,
    product_id TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (name TEXT PRIMARY KEY, count INTEGER NOT NULL);
"""


@dataclasses.dataclass(frozen=True)
class Alias:
    """A guest who logged in: their records belong to ``user_id`` (and its account)."""

    user_id: str
    customer_account_id: str | None
    product_id: str | None


def _use_wal(conn: sqlite3.Connection, patience: float = 30.0) -> None:
    """Put the file in WAL mode once. Asking again when it already is would need a lock other
    processes may hold at that instant (the mode change can fail as "database is locked"
    without waiting for the busy timeout), so the mode is read first, and a change retried."""
    deadline = time.monotonic() + patience
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class StateStore:
    """Key-value ids and aliases; safe across threads, processes and fork."""

    def __init__(self, path: Path) -> None:
        self.path = path
        create_private_file(path)
        self._local = threading.local()
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        """One connection per thread and process (a connection must not cross a fork)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            _use_wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    def get(self, key: str) -> str | None:
        row = self._connect().execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        self._connect().execute(
            "INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def get_or_create(self, key: str, factory: Callable[[], str]) -> str:
        """The stored value, or ``factory()`` stored first; the first process to write wins."""
        conn = self._connect()
        conn.execute("INSERT OR IGNORE INTO kv (key, value) VALUES (?, ?)", (key, factory()))
        row = conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return str(row[0])

    def add_alias(self, guest_id: str, alias: Alias) -> None:
        self._connect().execute(
            "INSERT INTO aliases (guest_id, user_id, customer_account_id, product_id, created) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(guest_id) DO UPDATE SET user_id = excluded.user_id,"
            " customer_account_id = excluded.customer_account_id,"
            " product_id = excluded.product_id, created = excluded.created",
            (guest_id, alias.user_id, alias.customer_account_id, alias.product_id, time.time()),
        )

    def aliases(self) -> dict[str, Alias]:
        rows = self._connect().execute(
            "SELECT guest_id, user_id, customer_account_id, product_id FROM aliases"
        )
        return {row[0]: Alias(row[1], row[2], row[3]) for row in rows}

    def forget(self, user_ids: Collection[str], keys: Collection[str] = ()) -> int:
        """Delete the aliases naming any of ``user_ids`` (as the guest or as the user) and the
        values under ``keys``, leaving no trace in the file: deleted rows are zeroed and the
        write-ahead log is emptied. Returns how many aliases were deleted."""
        conn = self._connect()
        ids = sorted(user_ids)
        marks = ",".join("?" * len(ids))
        conn.execute("PRAGMA secure_delete=ON")
        try:
            deleted = 0
            if ids:
                deleted = conn.execute(
                    f"DELETE FROM aliases WHERE guest_id IN ({marks}) OR user_id IN ({marks})", [*ids, *ids]
                ).rowcount
            for key in keys:
                conn.execute("DELETE FROM kv WHERE key = ?", (key,))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.execute("PRAGMA secure_delete=OFF")
        return int(deleted)

    def alias_version(self) -> tuple[int, float]:
        """Changes whenever an alias is added or updated, so callers reload only then."""
        row = self._connect().execute("SELECT COUNT(*), MAX(created) FROM aliases").fetchone()
        return int(row[0]), float(row[1] or 0.0)

    def add_totals(self, increments: dict[str, int]) -> None:
        """Add to the data folder's ledger totals (``logged``, ``delivered``, ``dropped:<reason>``...)."""
        conn = self._connect()
        with conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO ledger (name, count) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET count = count + excluded.count",
                list(increments.items()),
            )

    def totals(self) -> dict[str, int]:
        return {str(row[0]): int(row[1]) for row in self._connect().execute("SELECT name, count FROM ledger")}

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local = threading.local()
