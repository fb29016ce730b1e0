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

Periods longer than two days read coarser copies, kept equal to their sources by SQLite triggers
(:data:`TRIGGERS`), so every write path (ingest, :func:`move_user`) updates them without code of
its own; :func:`derive` recomputes them (after :func:`rebuild`, or for a version 2 database):

- ``activity_daily``: ``activity_hourly`` summed by day (a 20th of its rows);
- ``page_loads_app_daily``: ``page_loads_daily`` summed over the accounts (a third of the rows
  with four accounts, far fewer with many), for the overview without an account filter;
- ``users_monthly`` and ``module_users_monthly``: one row per user (and "Module") per month, with
  the days of the month they were active as bits (1 << day - 1), so the distinct users of any
  range of days are counted from a row per user and month instead of one per user and day;
- ``active_daily`` and ``active_app_daily``: how many users were active each day in each account,
  and in each app whatever their account (a user counts once however many accounts they were
  active in that day), for the chart of active users per day;
- ``sessions_daily``: sessions per day they began, with how many have a length and the sum of
  their lengths in whole milliseconds (exact, so the average never drifts).
"""

from __future__ import annotations

import math
import sqlite3
from collections import Counter
from dataclasses import dataclass, field

SCHEMA_VERSION = 3

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
CREATE TABLE IF NOT EXISTS activity_daily (
    day TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    name TEXT NOT NULL,
    screen TEXT NOT NULL,
    module TEXT NOT NULL,
    events INTEGER NOT NULL,
    PRIMARY KEY (day, app_id, account, name, screen, module)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS page_loads_app_daily (
    day TEXT NOT NULL,
    app_id TEXT NOT NULL,
    page TEXT NOT NULL,
    bucket INTEGER NOT NULL,
    loads INTEGER NOT NULL,
    PRIMARY KEY (day, app_id, page, bucket)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users_monthly (
    month TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    user_key INTEGER NOT NULL,
    days INTEGER NOT NULL,
    PRIMARY KEY (month, app_id, account, user_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS active_daily (
    day TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    users INTEGER NOT NULL,
    PRIMARY KEY (day, app_id, account)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS active_app_daily (
    day TEXT NOT NULL,
    app_id TEXT NOT NULL,
    users INTEGER NOT NULL,
    PRIMARY KEY (day, app_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS module_users_monthly (
    month TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    module TEXT NOT NULL,
    user_key INTEGER NOT NULL,
    days INTEGER NOT NULL,
    PRIMARY KEY (month, app_id, account, module, user_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions_daily (
    day TEXT NOT NULL,
    app_id TEXT NOT NULL,
    account TEXT NOT NULL,
    sessions INTEGER NOT NULL,
    timed INTEGER NOT NULL,
    milliseconds INTEGER NOT NULL,
    PRIMARY KEY (day, app_id, account)
) WITHOUT ROWID;
"""

BASE_TABLES = ("activity_hourly", "users_hourly", "users_daily", "module_users_daily", "page_loads_daily")
DERIVED_TABLES = (
    "activity_daily",
    "page_loads_app_daily",
    "users_monthly",
    "active_daily",
    "active_app_daily",
    "module_users_monthly",
    "sessions_daily",
)
ROLLUP_TABLES = (*BASE_TABLES, *DERIVED_TABLES)


def _day_bit(day: str) -> str:
    """SQL for the bit of a day (``2024-05-03``) in its month's ``days``."""
    return f"(1 << (CAST(substr({day}, 9, 2) AS INTEGER) - 1))"


def _milliseconds(row: str) -> str:
    """SQL for a session's length in whole milliseconds (NULL without a start and an end)."""
    return f"CAST(round((julianday({row}ended_at) - julianday({row}started_at)) * 86400000.0) AS INTEGER)"


def _session_day(row: str) -> str:
    return f"substr(coalesce({row}started_at, {row}first_event_at), 1, 10)"


def _add_session(row: str, sign: str) -> str:
    """SQL that adds (``sign`` '') or takes away ('-') one session row from ``sessions_daily``."""
    return (
        "INSERT INTO sessions_daily (day, app_id, account, sessions, timed, milliseconds) VALUES "
        f"({_session_day(row)}, {row}app_id, coalesce({row}customer_account_id, ''), {sign}1, "
        f"{sign}({_milliseconds(row)} IS NOT NULL), {sign}coalesce({_milliseconds(row)}, 0)) "
        "ON CONFLICT (day, app_id, account) DO UPDATE SET sessions = sessions + excluded.sessions, "
        "timed = timed + excluded.timed, milliseconds = milliseconds + excluded.milliseconds;"
    )


_ACTIVITY_KEY = (
    "day = substr(old.hour, 1, 10) AND app_id = old.app_id AND account = old.account AND name = old.name "
    "AND screen = old.screen AND module = old.module"
)
_LOADS_KEY = "day = old.day AND app_id = old.app_id AND page = old.page AND bucket = old.bucket"
_USERS_KEY = "month = substr(old.day, 1, 7) AND app_id = old.app_id AND account = old.account"

# The user's other rows of that day in that app (any account), through users_daily_by_user.
_SAME_USER_DAY = (
    "SELECT 1 FROM users_daily WHERE user_key = {row}.user_key AND day = {row}.day AND app_id = {row}.app_id"
)

# Created after :func:`migrate` (an older database gets the tables they write first).
TRIGGERS = f"""
CREATE TRIGGER IF NOT EXISTS activity_daily_insert AFTER INSERT ON activity_hourly BEGIN
    INSERT INTO activity_daily (day, app_id, account, name, screen, module, events)
    VALUES (substr(new.hour, 1, 10), new.app_id, new.account, new.name, new.screen, new.module, new.events)
    ON CONFLICT (day, app_id, account, name, screen, module) DO UPDATE SET events = events + excluded.events;
END;
CREATE TRIGGER IF NOT EXISTS activity_daily_update AFTER UPDATE OF events ON activity_hourly BEGIN
    UPDATE activity_daily SET events = events + new.events - old.events WHERE {_ACTIVITY_KEY};
END;
CREATE TRIGGER IF NOT EXISTS activity_daily_delete AFTER DELETE ON activity_hourly BEGIN
    UPDATE activity_daily SET events = events - old.events WHERE {_ACTIVITY_KEY};
    DELETE FROM activity_daily WHERE {_ACTIVITY_KEY} AND events = 0;
END;
CREATE TRIGGER IF NOT EXISTS page_loads_app_insert AFTER INSERT ON page_loads_daily BEGIN
    INSERT INTO page_loads_app_daily (day, app_id, page, bucket, loads)
    VALUES (new.day, new.app_id, new.page, new.bucket, new.loads)
    ON CONFLICT (day, app_id, page, bucket) DO UPDATE SET loads = loads + excluded.loads;
END;
CREATE TRIGGER IF NOT EXISTS page_loads_app_update AFTER UPDATE OF loads ON page_loads_daily BEGIN
    UPDATE page_loads_app_daily SET loads = loads + new.loads - old.loads WHERE {_LOADS_KEY};
END;
CREATE TRIGGER IF NOT EXISTS page_loads_app_delete AFTER DELETE ON page_loads_daily BEGIN
    UPDATE page_loads_app_daily SET loads = loads - old.loads WHERE {_LOADS_KEY};
    DELETE FROM page_loads_app_daily WHERE {_LOADS_KEY} AND loads = 0;
END;
CREATE TRIGGER IF NOT EXISTS users_monthly_insert AFTER INSERT ON users_daily BEGIN
    INSERT INTO users_monthly (month, app_id, account, user_key, days)
    VALUES (substr(new.day, 1, 7), new.app_id, new.account, new.user_key, {_day_bit("new.day")})
    ON CONFLICT (month, app_id, account, user_key) DO UPDATE SET days = days | excluded.days;
END;
CREATE TRIGGER IF NOT EXISTS users_monthly_delete AFTER DELETE ON users_daily BEGIN
    UPDATE users_monthly SET days = days & ~{_day_bit("old.day")}
    WHERE {_USERS_KEY} AND user_key = old.user_key;
    DELETE FROM users_monthly WHERE {_USERS_KEY} AND user_key = old.user_key AND days = 0;
END;
CREATE TRIGGER IF NOT EXISTS active_daily_insert AFTER INSERT ON users_daily BEGIN
    INSERT INTO active_daily (day, app_id, account, users) VALUES (new.day, new.app_id, new.account, 1)
    ON CONFLICT (day, app_id, account) DO UPDATE SET users = users + 1;
    INSERT INTO active_app_daily (day, app_id, users) SELECT new.day, new.app_id, 1
    WHERE NOT EXISTS ({_SAME_USER_DAY.format(row="new")} AND account <> new.account)
    ON CONFLICT (day, app_id) DO UPDATE SET users = users + 1;
END;
CREATE TRIGGER IF NOT EXISTS active_daily_delete AFTER DELETE ON users_daily BEGIN
    UPDATE active_daily SET users = users - 1
    WHERE day = old.day AND app_id = old.app_id AND account = old.account;
    DELETE FROM active_daily
    WHERE day = old.day AND app_id = old.app_id AND account = old.account AND users = 0;
    UPDATE active_app_daily SET users = users - 1
    WHERE day = old.day AND app_id = old.app_id AND NOT EXISTS ({_SAME_USER_DAY.format(row="old")});
    DELETE FROM active_app_daily WHERE day = old.day AND app_id = old.app_id AND users = 0;
END;
CREATE TRIGGER IF NOT EXISTS module_users_monthly_insert AFTER INSERT ON module_users_daily BEGIN
    INSERT INTO module_users_monthly (month, app_id, account, module, user_key, days)
    VALUES (substr(new.day, 1, 7), new.app_id, new.account, new.module, new.user_key, {_day_bit("new.day")})
    ON CONFLICT (month, app_id, account, module, user_key) DO UPDATE SET days = days | excluded.days;
END;
CREATE TRIGGER IF NOT EXISTS module_users_monthly_delete AFTER DELETE ON module_users_daily BEGIN
    UPDATE module_users_monthly SET days = days & ~{_day_bit("old.day")}
    WHERE {_USERS_KEY} AND module = old.module AND user_key = old.user_key;
    DELETE FROM module_users_monthly
    WHERE {_USERS_KEY} AND module = old.module AND user_key = old.user_key AND days = 0;
END;
CREATE TRIGGER IF NOT EXISTS sessions_daily_insert AFTER INSERT ON sessions BEGIN
    {_add_session("new.", "")}
END;
CREATE TRIGGER IF NOT EXISTS sessions_daily_update
AFTER UPDATE OF app_id, customer_account_id, started_at, ended_at, first_event_at ON sessions
WHEN old.app_id IS NOT new.app_id OR old.customer_account_id IS NOT new.customer_account_id
    OR old.started_at IS NOT new.started_at OR old.ended_at IS NOT new.ended_at
    OR old.first_event_at IS NOT new.first_event_at
BEGIN
    {_add_session("old.", "-")}
    {_add_session("new.", "")}
    DELETE FROM sessions_daily WHERE day = {_session_day("old.")} AND app_id = old.app_id
    AND account = coalesce(old.customer_account_id, '') AND sessions = 0;
END;
CREATE TRIGGER IF NOT EXISTS sessions_daily_delete AFTER DELETE ON sessions BEGIN
    {_add_session("old.", "-")}
    DELETE FROM sessions_daily WHERE day = {_session_day("old.")} AND app_id = old.app_id
    AND account = coalesce(old.customer_account_id, '') AND sessions = 0;
END;
"""

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


def _migrate_to_rollups(db: sqlite3.Connection) -> None:
    """From a database written before the rollups existed: their columns, then every rollup."""
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


def migrate(db: sqlite3.Connection) -> None:
    """Bring a database from an earlier version up to date (inside a transaction)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version >= SCHEMA_VERSION:
        return
    if version < 2:
        _migrate_to_rollups(db)  # also computes the coarser copies
    else:
        derive(db)  # version 2 had the rollups, not their coarser copies
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def rebuild(db: sqlite3.Connection) -> None:
    """Recompute every rollup from the events table."""
    _register(db)
    for table in BASE_TABLES:
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
    derive(db)


def derive(db: sqlite3.Connection) -> None:
    """Recompute the coarser copies from the rollups they copy (and the sessions)."""
    for table in DERIVED_TABLES:
        db.execute(f"DELETE FROM {table}")
    db.execute(
        "INSERT INTO activity_daily (day, app_id, account, name, screen, module, events) "
        "SELECT substr(hour, 1, 10), app_id, account, name, screen, module, sum(events) "
        "FROM activity_hourly GROUP BY 1, 2, 3, 4, 5, 6"
    )
    db.execute(
        "INSERT INTO page_loads_app_daily (day, app_id, page, bucket, loads) "
        "SELECT day, app_id, page, bucket, sum(loads) FROM page_loads_daily GROUP BY 1, 2, 3, 4"
    )
    # One row per day and user: the sum of their bits is the bits or-ed together.
    db.execute(
        "INSERT INTO users_monthly (month, app_id, account, user_key, days) "
        f"SELECT substr(day, 1, 7), app_id, account, user_key, sum({_day_bit('day')}) FROM users_daily "
        "GROUP BY 1, 2, 3, 4"
    )
    db.execute(
        "INSERT INTO active_daily (day, app_id, account, users) "
        "SELECT day, app_id, account, count(*) FROM users_daily GROUP BY 1, 2, 3"
    )
    db.execute(
        "INSERT INTO active_app_daily (day, app_id, users) "
        "SELECT day, app_id, count(DISTINCT user_key) FROM users_daily GROUP BY 1, 2"
    )
    db.execute(
        "INSERT INTO module_users_monthly (month, app_id, account, module, user_key, days) "
        f"SELECT substr(day, 1, 7), app_id, account, module, user_key, sum({_day_bit('day')}) "
        "FROM module_users_daily GROUP BY 1, 2, 3, 4, 5"
    )
    db.execute(
        "INSERT INTO sessions_daily (day, app_id, account, sessions, timed, milliseconds) "
        "SELECT day, app_id, account, count(*), count(ms), coalesce(sum(ms), 0) FROM "
        f"(SELECT {_session_day('')} AS day, app_id, coalesce(customer_account_id, '') AS account, "
        f"{_milliseconds('')} AS ms FROM sessions) GROUP BY 1, 2, 3"
    )
