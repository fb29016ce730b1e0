"""The figures the dashboard shows, computed from a collector database (also served as JSON).

The period is the ``days`` UTC days that end with the latest day anything was logged, so a
database filled last month still shows its data. Active users are users with at least one event;
a session belongs to the day it started; page-load percentiles interpolate between the closest
ranks (``statistics.quantiles``, inclusive), so p95 of 100, 200, 300, 400, 500 ms is 480 ms.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any

from .store import parse_utc

RESERVED_EVENTS = ("app_session_start", "app_session_end", "page_load_event")
SCREEN_VIEW = "Screen View"
TOP = 10
RECENT_USERS = 20


@dataclass
class PageLoads:
    page: str
    count: int
    median_ms: float
    p95_ms: float


@dataclass
class Account:
    account_id: str
    name: str | None
    users: int
    sessions: int
    events: int
    last_active: str | None


@dataclass
class RecentUser:
    user_id: str
    customer_account_id: str | None
    guest: bool
    last_active: str
    attributes: dict[str, Any]
    devices: list[dict[str, Any]]


@dataclass
class Summary:
    """Everything on the dashboard, for one app (or all) over ``days`` days."""

    app_ids: list[str]
    app_id: str | None
    start: str
    end: str
    users: int = 0
    active_users: int = 0
    sessions: int = 0
    avg_session_seconds: float | None = None
    events: int = 0
    days: list[str] = field(default_factory=list)
    daily_active_users: list[int] = field(default_factory=list)
    daily_events: list[int] = field(default_factory=list)
    daily_sessions: list[int] = field(default_factory=list)
    daily_avg_session_seconds: list[float | None] = field(default_factory=list)
    top_screens: list[tuple[str, int]] = field(default_factory=list)
    top_events: list[tuple[str, int]] = field(default_factory=list)
    page_loads: list[PageLoads] = field(default_factory=list)
    recent_users: list[RecentUser] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _parameter(name: str, field: str) -> str:
    """SQL for the ``field`` (``stringValue``...) of an event's parameter called ``name``."""
    return (
        f"(SELECT json_extract(value, '$.{field}') FROM json_each(parameters) "
        f"WHERE json_extract(value, '$.attributeName') = '{name}')"
    )


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile, interpolating between closest ranks (inclusive method)."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


class SummaryQuery:
    """One summary from one read connection; the app filter applies to every query."""

    def __init__(self, db: sqlite3.Connection, app_id: str | None, days: int) -> None:
        self.db = db
        self.app_id = app_id
        self.days = max(1, min(days, 366))

    def _app(self, column: str = "app_id") -> tuple[str, tuple[Any, ...]]:
        return (f" AND {column} = ?", (self.app_id,)) if self.app_id else ("", ())

    def run(self) -> Summary:
        app_ids = [row[0] for row in self.db.execute("SELECT DISTINCT app_id FROM users ORDER BY app_id")]
        app_sql, app_args = self._app()
        latest = self.db.execute(f"SELECT max(logged_at) FROM events WHERE 1{app_sql}", app_args).fetchone()
        latest = latest[0]
        end = parse_utc(latest).date() if latest else date.today()
        start = end - timedelta(days=self.days - 1)
        summary = Summary(app_ids, self.app_id, start.isoformat(), end.isoformat())
        self.lower, self.upper = f"{start.isoformat()}T", f"{(end + timedelta(days=1)).isoformat()}T"
        summary.days = [(start + timedelta(days=i)).isoformat() for i in range(self.days)]
        self._totals(summary)
        self._daily(summary)
        summary.top_screens = self._top_screens()
        summary.top_events = self._top_events()
        summary.page_loads = self._page_loads()
        summary.recent_users = self._recent_users()
        summary.accounts = self._accounts()
        return summary

    def _in_period(self, column: str) -> tuple[str, tuple[Any, ...]]:
        app_sql, app_args = self._app()
        return f"{column} >= ? AND {column} < ?{app_sql}", (self.lower, self.upper, *app_args)

    def _totals(self, summary: Summary) -> None:
        app_sql, app_args = self._app()
        summary.users = self.db.execute(
            f"SELECT count(*) FROM users WHERE merged_into IS NULL{app_sql}", app_args
        ).fetchone()[0]
        where, args = self._in_period("logged_at")
        summary.events, summary.active_users = self.db.execute(
            f"SELECT count(*), count(DISTINCT app_id || char(0) || user_id) FROM events WHERE {where}", args
        ).fetchone()
        where, args = self._in_period("coalesce(started_at, first_event_at)")
        summary.sessions, average = self.db.execute(
            "SELECT count(*), avg(CASE WHEN started_at IS NOT NULL AND ended_at IS NOT NULL THEN "
            f"(julianday(ended_at) - julianday(started_at)) * 86400.0 END) FROM sessions WHERE {where}",
            args,
        ).fetchone()
        # julianday() is a float of days: round its noise away at millisecond precision.
        summary.avg_session_seconds = None if average is None else round(float(average), 3)

    def _daily(self, summary: Summary) -> None:
        where, args = self._in_period("logged_at")
        activity = {
            row[0]: (row[1], row[2])
            for row in self.db.execute(
                "SELECT substr(logged_at, 1, 10), count(DISTINCT app_id || char(0) || user_id), count(*) "
                f"FROM events WHERE {where} GROUP BY 1",
                args,
            )
        }
        where, args = self._in_period("coalesce(started_at, first_event_at)")
        sessions = {
            row[0]: (row[1], row[2])
            for row in self.db.execute(
                "SELECT substr(coalesce(started_at, first_event_at), 1, 10), count(*), avg(CASE WHEN "
                "started_at IS NOT NULL AND ended_at IS NOT NULL THEN "
                f"(julianday(ended_at) - julianday(started_at)) * 86400.0 END) FROM sessions WHERE {where} "
                "GROUP BY 1",
                args,
            )
        }
        for day in summary.days:
            users, events = activity.get(day, (0, 0))
            summary.daily_active_users.append(int(users))
            summary.daily_events.append(int(events))
            count, average = sessions.get(day, (0, None))
            summary.daily_sessions.append(int(count))
            summary.daily_avg_session_seconds.append(None if average is None else round(float(average), 3))

    def _counts(self, sql: str, args: tuple[Any, ...]) -> list[tuple[str, int]]:
        return [(str(name), int(count)) for name, count in self.db.execute(sql, args).fetchall()]

    def _top_screens(self) -> list[tuple[str, int]]:
        where, args = self._in_period("logged_at")
        return self._counts(
            f"SELECT {_parameter('Screen Name', 'stringValue')} AS screen, count(*) FROM events "
            f"WHERE name = ? AND screen IS NOT NULL AND {where} "
            f"GROUP BY screen ORDER BY count(*) DESC, screen LIMIT {TOP}",
            (SCREEN_VIEW, *args),
        )

    def _top_events(self) -> list[tuple[str, int]]:
        where, args = self._in_period("logged_at")
        marks = ", ".join("?" * len(RESERVED_EVENTS))
        return self._counts(
            f"SELECT name, count(*) FROM events WHERE name NOT IN ({marks}) AND {where} "
            f"GROUP BY name ORDER BY count(*) DESC, name LIMIT {TOP}",
            (*RESERVED_EVENTS, *args),
        )

    def _page_loads(self) -> list[PageLoads]:
        where, args = self._in_period("logged_at")
        times: dict[str, list[float]] = {}
        rows = self.db.execute(
            f"SELECT {_parameter('pageUrl', 'stringValue')}, {_parameter('loadTime', 'numberValue')} "
            f"FROM events WHERE name = 'page_load_event' AND {where}",
            args,
        )
        for page, load_time in rows:
            if page is not None and load_time is not None:
                times.setdefault(str(page), []).append(float(load_time))
        loads = [
            PageLoads(page, len(values), statistics.median(values), round(percentile(values, 0.95), 3))
            for page, values in times.items()
        ]
        return sorted(loads, key=lambda p: (-p.count, p.page))[:TOP]

    def _recent_users(self) -> list[RecentUser]:
        app_sql, app_args = self._app("u.app_id")
        rows = self.db.execute(
            "SELECT u.app_id, u.user_id, u.customer_account_id, u.login_mechanism, "
            "coalesce((SELECT max(logged_at) FROM events e "
            "WHERE e.app_id = u.app_id AND e.user_id = u.user_id), u.last_seen) AS last_active "
            f"FROM users u WHERE u.merged_into IS NULL{app_sql} "
            f"ORDER BY last_active DESC, u.user_id LIMIT {RECENT_USERS}",
            app_args,
        ).fetchall()
        recent = []
        for app_id, user_id, account, mechanism, last_active in rows:
            attributes = {
                name: json.loads(value)
                for name, value in self.db.execute(
                    "SELECT name, value FROM user_attributes WHERE app_id = ? AND user_id = ? ORDER BY name",
                    (app_id, user_id),
                )
            }
            devices = [
                {
                    "device": device_id or key,
                    "attributes": json.loads(attributes_json),
                    "token": token is not None,
                }
                for key, device_id, attributes_json, token in self.db.execute(
                    "SELECT device_key, device_id, attributes, device_token FROM devices "
                    "WHERE app_id = ? AND user_id = ? ORDER BY updated_at DESC",
                    (app_id, user_id),
                )
            ]
            guest = mechanism == "GUEST"
            recent.append(RecentUser(user_id, account, guest, last_active, attributes, devices))
        return recent

    def _accounts(self) -> list[Account]:
        where, args = self._in_period("logged_at")
        activity = {
            row[0]: row[1:]
            for row in self.db.execute(
                "SELECT customer_account_id, count(DISTINCT user_id), count(DISTINCT session_id), count(*), "
                f"max(logged_at) FROM events WHERE customer_account_id IS NOT NULL AND {where} GROUP BY 1",
                args,
            )
        }
        app_sql, app_args = self._app()
        names = dict(
            self.db.execute(f"SELECT account_id, name FROM customers WHERE 1{app_sql}", app_args).fetchall()
        )
        accounts = [
            Account(account, names.get(account), *activity.get(account, (0, 0, 0, None)))
            for account in set(activity) | set(names)
        ]
        return sorted(accounts, key=lambda a: (-a.events, a.account_id))


def summarize(db: sqlite3.Connection, app_id: str | None = None, days: int = 14) -> Summary:
    """The dashboard's figures for ``app_id`` (None: every app) over ``days`` days."""
    return SummaryQuery(db, app_id, days).run()
