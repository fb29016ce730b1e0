"""The collector's SQLite database: one table per kind of record, WAL, safe across threads.

Every write happens in one ``BEGIN IMMEDIATE`` transaction per request, after the request was
validated in full, so a bad request can never leave half its records behind. Readers (the
dashboard, the tests' read API, ``export``) use their own connections, which WAL lets run beside
the writer, in this process or another.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import rollups
from .requestlog import RequestLog
from .validation import parse_moment

logger = logging.getLogger("usageanalytics.collector")

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT UNIQUE,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    app_id TEXT,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customers (
    app_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    product_ids TEXT,
    logo_base64 TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, account_id)
);
CREATE TABLE IF NOT EXISTS users (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    customer_account_id TEXT,
    status TEXT,
    login_mechanism TEXT,
    platform TEXT,
    bundle_id TEXT,
    device_id TEXT,
    session_id TEXT,
    last_logged_in_user_id TEXT,
    merged_into TEXT,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_event_at TEXT,
    PRIMARY KEY (app_id, user_id)
);
CREATE TABLE IF NOT EXISTS user_aliases (
    app_id TEXT NOT NULL,
    guest_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    transferred_at TEXT NOT NULL,
    PRIMARY KEY (app_id, guest_id)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    request_id INTEGER NOT NULL,
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    original_user_id TEXT NOT NULL,
    customer_account_id TEXT,
    product_id TEXT,
    session_id TEXT,
    device_id TEXT,
    platform TEXT NOT NULL,
    app_version TEXT,
    user_source_ip TEXT,
    name TEXT NOT NULL,
    logged_at TEXT NOT NULL,
    parameters TEXT NOT NULL,
    received_at TEXT NOT NULL,
    screen_name TEXT,
    module TEXT,
    page_url TEXT,
    load_ms REAL
);
CREATE INDEX IF NOT EXISTS events_by_name ON events (name, logged_at);
CREATE TABLE IF NOT EXISTS sessions (
    app_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    customer_account_id TEXT,
    device_id TEXT,
    started_at TEXT,
    ended_at TEXT,
    first_event_at TEXT NOT NULL,
    last_event_at TEXT NOT NULL,
    event_count INTEGER NOT NULL DEFAULT 0,
    begun_at TEXT GENERATED ALWAYS AS (coalesce(started_at, first_event_at)) VIRTUAL,
    seconds REAL GENERATED ALWAYS AS (CASE WHEN started_at IS NOT NULL AND ended_at IS NOT NULL
        THEN (julianday(ended_at) - julianday(started_at)) * 86400.0 END) VIRTUAL,
    PRIMARY KEY (app_id, session_id)
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (app_id, user_id);
CREATE TABLE IF NOT EXISTS user_attributes (
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    data_type TEXT NOT NULL,
    value TEXT NOT NULL,
    logged_at TEXT NOT NULL,
    PRIMARY KEY (app_id, user_id, name)
);
CREATE TABLE IF NOT EXISTS devices (
    app_id TEXT NOT NULL,
    device_key TEXT NOT NULL,
    device_id TEXT,
    user_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    attributes TEXT NOT NULL DEFAULT '{}',
    device_token TEXT,
    app_in_distribution INTEGER,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, device_key)
);
CREATE TABLE IF NOT EXISTS orders (
    app_id TEXT NOT NULL,
    order_id TEXT NOT NULL,
    customer_account_id TEXT NOT NULL,
    org_product_id TEXT NOT NULL,
    status TEXT NOT NULL,
    amount REAL NOT NULL,
    effective_date TEXT NOT NULL,
    end_date TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, order_id)
);
CREATE TABLE IF NOT EXISTS app_financial_data (
    app_id TEXT PRIMARY KEY,
    logo_churn_tolerance REAL NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS account_financial_data (
    app_id TEXT NOT NULL,
    customer_account_id TEXT NOT NULL,
    account_start_date TEXT NOT NULL,
    arr_target REAL NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app_id, customer_account_id)
);
CREATE TABLE IF NOT EXISTS contacts (
    contact_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    email_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (app_id, email_key)
);
CREATE INDEX IF NOT EXISTS contacts_by_page ON contacts (app_id, created_at, contact_id);
CREATE TABLE IF NOT EXISTS agents (
    agent_id TEXT PRIMARY KEY,
    app_id TEXT NOT NULL,
    email_key TEXT NOT NULL,
    customer_agent_id TEXT,
    created_at TEXT NOT NULL,
    data TEXT NOT NULL,
    UNIQUE (app_id, email_key)
);
CREATE TABLE IF NOT EXISTS tickets (
    seq INTEGER PRIMARY KEY,
    ticket_id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_by_app ON tickets (app_id);
CREATE TABLE IF NOT EXISTS ticket_comments (
    seq INTEGER PRIMARY KEY,
    comment_id TEXT NOT NULL UNIQUE,
    ticket_id TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_by_ticket ON ticket_comments (ticket_id);
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY,
    received_at TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status_code INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT,
    note TEXT,
    app_id TEXT,
    user_id TEXT,
    account_id TEXT,
    event_names TEXT,
    answer TEXT NOT NULL,
    body TEXT,
    body_bytes INTEGER NOT NULL,
    body_truncated INTEGER NOT NULL DEFAULT 0
);
"""

# Created after the migration (they name columns an older database gets from it).
INDEXES = """
CREATE INDEX IF NOT EXISTS events_by_user_time ON events (app_id, user_id, logged_at);
CREATE INDEX IF NOT EXISTS sessions_by_begin ON sessions (begun_at, app_id, customer_account_id, seconds);
DROP INDEX IF EXISTS events_by_user;
DROP INDEX IF EXISTS events_by_time;
"""

TABLES = (
    "requests",
    "customers",
    "users",
    "user_aliases",
    "events",
    "sessions",
    "user_attributes",
    "devices",
    "orders",
    "app_financial_data",
    "account_financial_data",
    "contacts",
    "agents",
    "tickets",
    "ticket_comments",
    "request_log",
)


class NotFound(LookupError):
    """The record a request names does not exist (answered with 404)."""


def utc_timestamp(value: str | None = None) -> str:
    """``value`` (any ISO 8601 date or date-time) in UTC as ``2018-09-29T09:58:44.635Z``.

    One format in the database makes time ranges plain string comparisons. Naive times are UTC;
    ``None`` means now.
    """
    moment = datetime.now(timezone.utc) if value is None else parse_moment(value).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_utc(value: str) -> datetime:
    """The inverse of :func:`utc_timestamp`."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with WAL and a busy timeout."""
    connection = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA busy_timeout = 30000")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    return connection


class Connections:
    """One connection per thread to one database file, all closed by :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def get(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = connect(self.path)
            self._local.connection = connection
            with self._lock:
                self._all.append(connection)
        return connection

    def close(self) -> None:
        with self._lock:
            connections, self._all = self._all, []
        for connection in connections:
            connection.close()
        self._local = threading.local()


class Store:
    """The writer side: the schema, and a transaction per request (one writer at a time).

    Each transaction also writes what the request log has waiting, just before it commits.
    """

    def __init__(self, path: str | Path, request_log: RequestLog | None = None) -> None:
        self.path = Path(path).expanduser()
        self.request_log = request_log
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connections = Connections(self.path)
        self._write_lock = threading.Lock()
        db = self.connection()
        db.executescript(SCHEMA)
        db.executescript(rollups.SCHEMA)
        with self.transaction() as db:
            rollups.migrate(db)
        db.executescript(INDEXES)
        db.executescript(rollups.TRIGGERS)

    def connection(self) -> sqlite3.Connection:
        return self._connections.get()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything inside commits together or not at all."""
        with self._write_lock:
            db = self.connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
                if self.request_log is not None:
                    self._write_log(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _write_log(self, db: sqlite3.Connection) -> None:
        """The debugger's log never costs a request its data: a failure here is logged and dropped."""
        assert self.request_log is not None
        try:
            self.request_log.write(db)
        except (sqlite3.Error, ValueError):
            logger.exception("could not write the request log")

    def flush_log(self) -> None:
        """Write the request log's waiting entries now (the debugger reads the latest)."""
        if self.request_log is not None and self.request_log.pending:
            with self.transaction():
                pass

    def close(self) -> None:
        self._connections.close()


def record_request(
    db: sqlite3.Connection, method: str, path: str, body: Any, key: str | None, now: str
) -> int | None:
    """Log an accepted request; None when ``key`` was seen before (a retry: store nothing)."""
    app_id = body.get("appId") if isinstance(body, dict) else None
    cursor = db.execute(
        "INSERT INTO requests (idempotency_key, method, path, app_id, received_at, body) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (idempotency_key) DO NOTHING",
        (key, method, path, app_id if isinstance(app_id, str) else None, now, dumps(body)),
    )
    return cursor.lastrowid if cursor.rowcount else None
