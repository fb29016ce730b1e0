"""Pre-aggregated counts the dashboard reads, kept up to date as requests are stored.

The overview must answer in well under a second on millions of events, so it never scans the
events table: ingestion adds each request's events to small tables keyed by hour (or day), app and
customer account, and the dashboard sums those. A guest who logs in moves their share from the
guest's rows to the user's (:func:`move_user`), so the counts stay exact.

- ``activity_hourly``: events per hour, account, name, "Screen Name" and "Module";
- ``users_hourly`` and ``users_daily``: who was active in each hour and day (distinct active
  users of any period);
- ``module_users_daily``: who used each "Module" each day, with their event counts;
- ``page_loads_daily``: page-load times per page as a histogram with 2 % wide buckets, for the
  median and p95 of periods too large to read every load.
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

SCHEMA_VERSION = 2

# Every rollup's key starts with its time bucket, so a period is one range of its primary key;
# users are integer keys (``user_keys``), so counting distinct users is cheap.
SCHEMA = """
CREATE TABLE IF NOT EXISTS user_keys (
    user_key INTEGER PRIMARY KEY,
    app_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    UNIQUE (app_id, user_id)
);
CREATE TABLE IF NOT EXISTS activity_hourly (
    hour TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    screen TEXT NOT NULL,
    module TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (hour, app_id, account, name, screen, module)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users_hourly (
    hour TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    user_key INTEGER NOT NULL,
    PRIMARY KEY (hour, app_id, account, user_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_hourly_by_user ON users_hourly (user_key);
CREATE TABLE IF NOT EXISTS users_daily (
    day TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    user_key INTEGER NOT NULL,
    PRIMARY KEY (day, app_id, account, user_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS users_daily_by_user ON users_daily (user_key);
CREATE TABLE IF NOT EXISTS module_users_daily (
    day TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    module TEXT NOT NULL,
    user_key INTEGER NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (day, app_id, account, module, user_key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS module_users_by_user ON module_users_daily (user_key);
CREATE TABLE IF NOT EXISTS page_loads_daily (
    day TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    page TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    loads INTEGER NOT NULL,
    PRIMARY KEY (day, app_id, account, page, bucket)
) WITHOUT ROWID;
"""

ROLLUP_TABLES = ("activity_hourly", "users_hourly", "users_daily", "module_users_daily", "page_loads_daily")

# Upserts that add a request's counts to a rollup row (conflict targets spelled out, as SQLite
# before 3.35 requires).
ADD_ACTIVITY = (
    " ON CONFLICT (hour, app_id, account, name, screen, module) "
    "DO UPDATE SET events = events + excluded.events"
)
ADD_MODULE_EVENTS = (
    " ON CONFLICT (day, app_id, account, module, user_key) DO UPDATE SET events = events + excluded.events"
)
ADD_LOADS = " ON CONFLICT (day, app_id, account, page, bucket) DO UPDATE SET loads = loads + excluded.loads"

PAGE_LOAD = "page_load_event"
_BUCKETS_PER_E = 50  # log1p(ms) * 50: neighbouring buckets differ by 2 %


def bucket(load_ms: float) -> int:
    """The histogram bucket of a load time (2 % wide; exact enough for a median or a p95)."""
    return round(math.log1p(max(0.0, load_ms)) * _BUCKETS_PER_E)


def bucket_value(index: int) -> float:
    """The load time a bucket stands for."""
    return math.expm1(index / _BUCKETS_PER_E)


def user_key(db: sqlite3.Connection, app_id: str, user_id: str) -> int:
    """The integer that stands for a user in the rollups (made on first use, never changed)."""
    db.execute("INSERT OR IGNORE INTO user_keys (app_id, user_id) VALUES (?, ?)", (app_id, user_id))
    row = db.execute("SELECT user_key FROM user_keys WHERE app_id = ? AND user_id = ?", (app_id, user_id))
    return int(row.fetchone()[0])


@dataclass
class Batch:
    """One request's contributions, summed in memory so each key costs one upsert."""

    app_id: str
    activity: Counter[tuple[str, str, str, str, str]] = field(default_factory=Counter)
    users: set[tuple[str, str, str]] = field(default_factory=set)
    modules: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    loads: Counter[tuple[str, str, str, int]] = field(default_factory=Counter)

    def add(
        self,
        user_id: str,
        account: str | None,
        logged_at: str,
        name: str,
        screen: str | None,
        module: str | None,
        page_url: str | None,
        load_ms: float | None,
    ) -> None:
        hour, day, account_key = logged_at[:13], logged_at[:10], account or ""
        self.activity[(hour, account_key, name, screen or "", module or "")] += 1
        self.users.add((hour, account_key, user_id))
        if module:
            self.modules[(day, account_key, module, user_id)] += 1
        if name == PAGE_LOAD and page_url is not None and load_ms is not None:
            self.loads[(day, account_key, page_url, bucket(load_ms))] += 1

    def write(self, db: sqlite3.Connection) -> None:
        app = self.app_id
        keys = {user: user_key(db, app, user) for _, _, user in self.users}
        db.executemany(
            "INSERT INTO activity_hourly (hour, app_id, account, name, screen, module, events) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)" + ADD_ACTIVITY,
            [(hour, app, *rest, count) for (hour, *rest), count in self.activity.items()],
        )
        db.executemany(
            "INSERT OR IGNORE INTO users_hourly (hour, app_id, account, user_key) VALUES (?, ?, ?, ?)",
            [(hour, app, account, keys[user]) for hour, account, user in self.users],
        )
        db.executemany(
            "INSERT OR IGNORE INTO users_daily (day, app_id, account, user_key) VALUES (?, ?, ?, ?)",
            list({(hour[:10], app, account, keys[user]) for hour, account, user in self.users}),
        )
        if self.modules:
            db.executemany(
                "INSERT INTO module_users_daily (day, app_id, account, module, user_key, events) "
                "VALUES (?, ?, ?, ?, ?, ?)" + ADD_MODULE_EVENTS,
                [
                    (day, app, account, module, keys[user], count)
                    for (day, account, module, user), count in self.modules.items()
                ],
            )
        if self.loads:
            db.executemany(
                "INSERT INTO page_loads_daily (day, app_id, account, page, bucket, loads) "
                "VALUES (?, ?, ?, ?, ?, ?)" + ADD_LOADS,
                [(day, app, *rest, count) for (day, *rest), count in self.loads.items()],
            )


def _sql_bucket(load_ms: float | None) -> int | None:
    return None if load_ms is None else bucket(float(load_ms))


def _register(db: sqlite3.Connection) -> None:
    db.create_function("ua_bucket", 1, _sql_bucket, deterministic=True)


def _shift_events(db: sqlite3.Connection, app_id: str, user_id: str, sign: int, account: str | None) -> None:
    """Add (sign 1) or take away (-1) the events of ``user_id`` from the hourly and page-load
    rollups, under their stored account or, if given, ``account``."""
    _register(db)
    account_sql = "coalesce(customer_account_id, '')" if account is None else "?"
    account_args: tuple[str, ...] = () if account is None else (account,)
    db.execute(
        "INSERT INTO activity_hourly (hour, app_id, account, name, screen, module, events) "
        f"SELECT substr(logged_at, 1, 13), app_id, {account_sql}, name, coalesce(screen_name, ''), "
        f"coalesce(module, ''), {sign} * count(*) FROM events WHERE app_id = ? AND user_id = ? "
        "GROUP BY 1, 2, 3, 4, 5, 6" + ADD_ACTIVITY,
        (*account_args, app_id, user_id),
    )
    db.execute(
        "INSERT INTO page_loads_daily (day, app_id, account, page, bucket, loads) "
        f"SELECT substr(logged_at, 1, 10), app_id, {account_sql}, page_url, ua_bucket(load_ms), "
        f"{sign} * count(*) FROM events WHERE app_id = ? AND user_id = ? AND name = '{PAGE_LOAD}' "
        "AND page_url IS NOT NULL AND load_ms IS NOT NULL GROUP BY 1, 2, 3, 4, 5" + ADD_LOADS,
        (*account_args, app_id, user_id),
    )


def move_user(db: sqlite3.Connection, app_id: str, guest: str, user: str, account: str) -> None:
    """A guest logged in as ``user`` of ``account``: call before the guest's events change owner."""
    hours = [
        row[0]
        for row in db.execute(
            "SELECT DISTINCT substr(logged_at, 1, 13) FROM events WHERE app_id = ? AND user_id = ?",
            (app_id, guest),
        )
    ]
    _shift_events(db, app_id, guest, -1, None)
    _shift_events(db, app_id, guest, 1, account)
    db.executemany(
        "DELETE FROM activity_hourly WHERE hour = ? AND app_id = ? AND events = 0",
        [(h, app_id) for h in hours],
    )
    db.executemany(
        "DELETE FROM page_loads_daily WHERE day = ? AND app_id = ? AND loads = 0",
        [(day, app_id) for day in {h[:10] for h in hours}],
    )
    old, new = user_key(db, app_id, guest), user_key(db, app_id, user)
    for table, time_column in (("users_hourly", "hour"), ("users_daily", "day")):
        db.execute(
            f"INSERT OR IGNORE INTO {table} ({time_column}, app_id, account, user_key) "
            f"SELECT {time_column}, app_id, ?, ? FROM {table} WHERE user_key = ?",
            (account, new, old),
        )
        db.execute(f"DELETE FROM {table} WHERE user_key = ?", (old,))
    db.execute(
        "INSERT INTO module_users_daily (day, app_id, account, module, user_key, events) "
        "SELECT day, app_id, ?, module, ?, events FROM module_users_daily WHERE user_key = ? AND true"
        + ADD_MODULE_EVENTS,
        (account, new, old),
    )
    db.execute("DELETE FROM module_users_daily WHERE user_key = ?", (old,))


def _parameter(name: str, field_name: str) -> str:
    return (
        f"(SELECT json_extract(value, '$.{field_name}') FROM json_each(parameters) "
        f"WHERE json_extract(value, '$.attributeName') = '{name}')"
    )


def _columns(db: sqlite3.Connection, table: str, hidden: bool = False) -> set[str]:
    """A table's columns (``hidden``: generated ones too)."""
    pragma = "table_xinfo" if hidden else "table_info"
    return {row[1] for row in db.execute(f"PRAGMA {pragma}({table})")}


def migrate(db: sqlite3.Connection) -> None:
    """Bring a database from an earlier version up to date (inside a transaction)."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
        return
    added = {"screen_name": "TEXT", "module": "TEXT", "page_url": "TEXT", "load_ms": "REAL"}
    missing = [name for name in added if name not in _columns(db, "events")]
    for name in missing:
        db.execute(f"ALTER TABLE events ADD COLUMN {name} {added[name]}")
    if "last_event_at" not in _columns(db, "users"):
        db.execute("ALTER TABLE users ADD COLUMN last_event_at TEXT")
    if "begun_at" not in _columns(db, "sessions", hidden=True):
        db.execute(
            "ALTER TABLE sessions ADD COLUMN begun_at TEXT "
            "GENERATED ALWAYS AS (coalesce(started_at, first_event_at)) VIRTUAL"
        )
        db.execute(
            "ALTER TABLE sessions ADD COLUMN seconds REAL GENERATED ALWAYS AS (CASE WHEN started_at IS "
            "NOT NULL AND ended_at IS NOT NULL THEN (julianday(ended_at) - julianday(started_at)) * 86400.0 "
            "END) VIRTUAL"
        )
    if missing:
        db.execute(
            f"UPDATE events SET screen_name = {_parameter('Screen Name', 'stringValue')}, "
            f"module = {_parameter('Module', 'stringValue')}, "
            f"page_url = CASE WHEN name = '{PAGE_LOAD}' THEN {_parameter('pageUrl', 'stringValue')} END, "
            f"load_ms = CASE WHEN name = '{PAGE_LOAD}' THEN {_parameter('loadTime', 'numberValue')} END"
        )
    db.execute(
        "UPDATE users SET last_event_at = (SELECT max(logged_at) FROM events e "
        "WHERE e.app_id = users.app_id AND e.user_id = users.user_id)"
    )
    rebuild(db)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def rebuild(db: sqlite3.Connection) -> None:
    """Recompute every rollup from the events table."""
    _register(db)
    for table in ROLLUP_TABLES:
        db.execute(f"DELETE FROM {table}")
    db.execute(
        "INSERT OR IGNORE INTO user_keys (app_id, user_id) SELECT DISTINCT app_id, user_id FROM events"
    )
    db.execute(
        "INSERT INTO activity_hourly (hour, app_id, account, name, screen, module, events) "
        "SELECT substr(logged_at, 1, 13), app_id, coalesce(customer_account_id, ''), name, "
        "coalesce(screen_name, ''), coalesce(module, ''), count(*) FROM events GROUP BY 1, 2, 3, 4, 5, 6"
    )
    keyed = "FROM events e JOIN user_keys k ON k.app_id = e.app_id AND k.user_id = e.user_id"
    db.execute(
        "INSERT INTO users_hourly (hour, app_id, account, user_key) SELECT DISTINCT "
        f"substr(logged_at, 1, 13), e.app_id, coalesce(customer_account_id, ''), user_key {keyed}"
    )
    db.execute(
        "INSERT INTO users_daily (day, app_id, account, user_key) SELECT DISTINCT "
        f"substr(logged_at, 1, 10), e.app_id, coalesce(customer_account_id, ''), user_key {keyed}"
    )
    db.execute(
        "INSERT INTO module_users_daily (day, app_id, account, module, user_key, events) "
        "SELECT substr(logged_at, 1, 10), e.app_id, coalesce(customer_account_id, ''), module, user_key, "
        f"count(*) {keyed} WHERE module IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
    )
    db.execute(
        "INSERT INTO page_loads_daily (day, app_id, account, page, bucket, loads) "
        "SELECT substr(logged_at, 1, 10), app_id, coalesce(customer_account_id, ''), page_url, "
        f"ua_bucket(load_ms), count(*) FROM events WHERE name = '{PAGE_LOAD}' AND page_url IS NOT NULL "
        "AND load_ms IS NOT NULL GROUP BY 1, 2, 3, 4, 5"
    )
