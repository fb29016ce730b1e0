"""The figures the dashboard shows, computed from a collector database (also served as JSON).

Everything comes from the rollups (:mod:`.rollups`) and the sessions and users tables, never from
a scan of the events, so the overview answers in milliseconds on millions of events.

What is counted, in one place so the cards, the charts and the lists agree:

- **events** are the app's own events (custom events, "Screen View" included); the SDK's own
  (``app_session_start``, ``app_session_end``, ``page_load_event``) are counted apart, as
  sessions and page loads;
- **active users** had at least one event (of any kind) in the period;
- a **session** belongs to the period it started in; its length needs a start and an end;
- page-load **percentiles** interpolate between closest ranks (``statistics.quantiles``,
  inclusive), so p95 of 100, 200, 300, 400, 500 ms is 480 ms. Past
  :data:`EXACT_PAGE_LOADS` loads in a period they come from a histogram with 2 % wide buckets.
"""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from . import rollups
from .period import Period

SESSION_EVENTS = ("app_session_start", "app_session_end")
PAGE_LOAD = rollups.PAGE_LOAD
SDK_EVENTS = (*SESSION_EVENTS, PAGE_LOAD)
SCREEN_VIEW = "Screen View"
TOP = 10
RECENT_USERS = 20
EXACT_PAGE_LOADS = 20_000


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
    app_id: str
    customer_account_id: str | None
    guest: bool
    last_active: str | None
    attributes: dict[str, Any]
    devices: list[dict[str, Any]]


@dataclass
class Module:
    module: str
    users: int
    events: int
    adoption: float  # users of the module / active users in the period


@dataclass
class Totals:
    active_users: int = 0
    sessions: int = 0
    avg_session_seconds: float | None = None
    events: int = 0
    screen_views: int = 0
    page_loads: int = 0


@dataclass
class Summary:
    """Everything on the overview, for one app (or all) and one account (or all), over a period."""

    app_ids: list[str]
    app_id: str | None
    account_id: str | None
    start: str
    end: str
    bucket: str  # "day" or "hour"
    totals: Totals
    previous: Totals
    previous_start: str
    previous_end: str
    users: int = 0
    sdk_events: dict[str, int] = field(default_factory=dict)
    buckets: list[str] = field(default_factory=list)
    series_active_users: list[int] = field(default_factory=list)
    series_events: list[int] = field(default_factory=list)
    series_sessions: list[int] = field(default_factory=list)
    series_avg_session_seconds: list[float | None] = field(default_factory=list)
    top_screens: list[tuple[str, int]] = field(default_factory=list)
    top_events: list[tuple[str, int]] = field(default_factory=list)
    event_names: int = 0
    page_loads: list[PageLoads] = field(default_factory=list)
    modules: list[Module] = field(default_factory=list)
    recent_users: list[RecentUser] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    latest_activity: str | None = None

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile, interpolating between closest ranks (inclusive method)."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(fraction * 100) - 1]


def histogram_percentile(counts: list[tuple[float, int]], fraction: float) -> float:
    """The same quantile from ``(value, count)`` pairs sorted by value (a histogram)."""
    total = sum(count for _, count in counts)
    rank = fraction * (total - 1)  # the inclusive method's rank, counted from 0
    low = math.floor(rank)

    def value_at(index: int) -> float:
        seen = 0
        for value, count in counts:
            seen += count
            if index < seen:
                return value
        return counts[-1][0]

    below = value_at(low)
    return below + (value_at(low + 1) - below) * (rank - low) if rank > low else below


class SummaryQuery:
    """The figures for one app and account filter over one period, from one read connection."""

    def __init__(
        self, db: sqlite3.Connection, period: Period, app_id: str | None = None, account_id: str | None = None
    ) -> None:
        self.db = db
        self.period = period
        self.app_id = app_id
        self.account_id = account_id

    # -- filters ----------------------------------------------------------------------------------

    def _filter(self, app: str = "app_id", account: str = "account") -> tuple[str, list[Any]]:
        sql, args = "", []
        if self.app_id is not None:
            sql += f" AND {app} = ?"
            args.append(self.app_id)
        if self.account_id is not None:
            sql += f" AND {account} = ?"
            args.append(self.account_id)
        return sql, args

    def _hours(self, period: Period) -> tuple[str, list[Any]]:
        sql, args = self._filter()
        return f"hour >= ? AND hour < ?{sql}", [period.lower, period.upper, *args]

    def _days(self, period: Period) -> tuple[str, list[Any]]:
        sql, args = self._filter()
        return f"day >= ? AND day <= ?{sql}", [period.start.isoformat(), period.last_day, *args]

    def _users(self, period: Period) -> tuple[str, str, str, list[Any]]:
        """(table, its time column, where, args) of who was active: by the hour or by the day."""
        if period.hourly:
            return ("users_hourly", "hour", *self._hours(period))
        return ("users_daily", "day", *self._days(period))

    def _sessions_in(self, period: Period) -> tuple[str, list[Any]]:
        sql, args = self._filter(account="customer_account_id")
        return f"begun_at >= ? AND begun_at < ?{sql}", [period.lower, period.upper, *args]

    # -- the parts --------------------------------------------------------------------------------

    def run(self) -> Summary:
        period = self.period
        previous = period.previous()
        app_sql, app_args = self._filter(app="app_id", account="customer_account_id")
        summary = Summary(
            app_ids=[r[0] for r in self.db.execute("SELECT DISTINCT app_id FROM users ORDER BY 1")],
            app_id=self.app_id,
            account_id=self.account_id,
            start=period.start.isoformat(),
            end=period.last_day,
            bucket="hour" if period.hourly else "day",
            totals=Totals(),
            previous=self.totals(previous),
            previous_start=previous.start.isoformat(),
            previous_end=previous.last_day,
            users=self.db.execute(
                f"SELECT count(*) FROM users WHERE merged_into IS NULL{app_sql}", app_args
            ).fetchone()[0],
        )
        per_name, per_account = self._activity(summary)
        summary.totals = self.totals(period, per_name)
        self._series_users(summary)
        self._series_sessions(summary)
        summary.page_loads = self.page_loads()
        summary.modules = self.modules(summary.totals.active_users)
        summary.recent_users = self.recent_users()
        summary.accounts = self.accounts(per_account)
        sql, args = self._filter()
        summary.latest_activity = self.db.execute(
            f"SELECT max(hour) FROM activity_hourly WHERE 1{sql}", args
        ).fetchone()[0]
        return summary

    def _names(self, period: Period) -> Counter[str]:
        where, args = self._hours(period)
        return Counter(
            dict(
                self.db.execute(
                    f"SELECT name, sum(events) FROM activity_hourly WHERE {where} GROUP BY name", args
                )
            )
        )

    def totals(self, period: Period, per_name: Counter[str] | None = None) -> Totals:
        totals = Totals()
        for name, count in (per_name if per_name is not None else self._names(period)).items():
            if name == PAGE_LOAD:
                totals.page_loads += count
            elif name not in SESSION_EVENTS:
                totals.events += count
                if name == SCREEN_VIEW:
                    totals.screen_views += count
        table, _, where, args = self._users(period)
        totals.active_users = self.db.execute(
            f"SELECT count(DISTINCT user_key) FROM {table} WHERE {where}", args
        ).fetchone()[0]
        where, args = self._sessions_in(period)
        totals.sessions, average = self.db.execute(
            f"SELECT count(*), avg(seconds) FROM sessions WHERE {where}", args
        ).fetchone()
        # julianday() is a float of days: round its noise away at millisecond precision.
        totals.avg_session_seconds = None if average is None else round(float(average), 3)
        return totals

    def _activity(self, summary: Summary) -> tuple[Counter[str], Counter[str]]:
        """One pass over the hourly rollup: events per bucket, top events and screens, the SDK's
        own counts; returns the counts per name and the app's own events per account."""
        where, args = self._hours(self.period)
        length = self.period.bucket_length
        per_bucket: Counter[str] = Counter()
        per_name: Counter[str] = Counter()
        per_screen: Counter[str] = Counter()
        per_account: Counter[str] = Counter()
        for bucket, name, screen, account, count in self.db.execute(
            f"SELECT substr(hour, 1, {length}), name, screen, account, sum(events) FROM activity_hourly "
            f"WHERE {where} GROUP BY 1, 2, 3, 4",
            args,
        ):
            per_name[name] += count
            if name not in SDK_EVENTS:
                per_bucket[bucket] += count
                per_account[account] += count
                if name == SCREEN_VIEW and screen:
                    per_screen[screen] += count
        summary.buckets = self.period.buckets()
        summary.series_events = [per_bucket.get(b, 0) for b in summary.buckets]
        summary.sdk_events = {name: per_name.get(name, 0) for name in SDK_EVENTS}

        def ranked(counts: Counter[str]) -> list[tuple[str, int]]:
            return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))

        custom = ranked(Counter({n: c for n, c in per_name.items() if n not in SDK_EVENTS}))
        summary.event_names = len(custom)
        summary.top_events = custom[:TOP]
        summary.top_screens = ranked(per_screen)[:TOP]
        return per_name, per_account

    def _series_users(self, summary: Summary) -> None:
        table, column, where, args = self._users(self.period)
        length = self.period.bucket_length
        found = dict(
            self.db.execute(
                f"SELECT substr({column}, 1, {length}), count(DISTINCT user_key) FROM {table} "
                f"WHERE {where} GROUP BY 1",
                args,
            ).fetchall()
        )
        summary.series_active_users = [int(found.get(b, 0)) for b in summary.buckets]

    def _series_sessions(self, summary: Summary) -> None:
        where, args = self._sessions_in(self.period)
        length = self.period.bucket_length
        found = {
            row[0]: (row[1], row[2])
            for row in self.db.execute(
                f"SELECT substr(begun_at, 1, {length}), count(*), avg(seconds) FROM sessions WHERE {where} "
                "GROUP BY 1",
                args,
            )
        }
        for bucket in summary.buckets:
            count, average = found.get(bucket, (0, None))
            summary.series_sessions.append(int(count))
            summary.series_avg_session_seconds.append(None if average is None else round(float(average), 3))

    def page_loads(self) -> list[PageLoads]:
        where, args = self._days(self.period)
        histograms: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for page, bucket, count in self.db.execute(
            f"SELECT page, bucket, sum(loads) FROM page_loads_daily WHERE {where} "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            args,
        ):
            histograms[page].append((rollups.bucket_value(bucket), int(count)))
        total = sum(count for pairs in histograms.values() for _, count in pairs)
        if total == 0:
            return []
        if total <= EXACT_PAGE_LOADS:
            loads = self._exact_page_loads()
        else:
            loads = [
                PageLoads(
                    page,
                    sum(count for _, count in pairs),
                    round(histogram_percentile(pairs, 0.5), 1),
                    round(histogram_percentile(pairs, 0.95), 1),
                )
                for page, pairs in histograms.items()
            ]
        return sorted(loads, key=lambda p: (-p.count, p.page))[:TOP]

    def _exact_page_loads(self) -> list[PageLoads]:
        sql, args = self._filter(account="customer_account_id")
        times: dict[str, list[float]] = defaultdict(list)
        for page, load_ms in self.db.execute(
            "SELECT page_url, load_ms FROM events WHERE name = ? AND logged_at >= ? AND logged_at < ? "
            f"AND page_url IS NOT NULL AND load_ms IS NOT NULL{sql}",
            [PAGE_LOAD, self.period.lower, self.period.upper, *args],
        ):
            times[page].append(float(load_ms))
        return [
            PageLoads(page, len(values), statistics.median(values), round(percentile(values, 0.95), 3))
            for page, values in times.items()
        ]

    def modules(self, active_users: int) -> list[Module]:
        """Each "Module": how many active users used it, with how many events."""
        where, args = self._days(self.period)
        rows = self.db.execute(
            "SELECT module, count(DISTINCT user_key), sum(events) "
            f"FROM module_users_daily WHERE {where} GROUP BY module ORDER BY 2 DESC, 3 DESC, 1",
            args,
        ).fetchall()
        return [
            Module(str(name), int(users), int(events), round(users / max(1, active_users), 4))
            for name, users, events in rows
        ]

    def recent_users(self, limit: int = RECENT_USERS) -> list[RecentUser]:
        sql, args = self._filter(account="customer_account_id")
        rows = self.db.execute(
            "SELECT app_id, user_id, customer_account_id, login_mechanism, "
            "coalesce(last_event_at, last_seen) AS last_active FROM users "
            f"WHERE merged_into IS NULL AND coalesce(last_event_at, last_seen) < ?{sql} "
            f"ORDER BY last_active DESC, user_id LIMIT {int(limit)}",
            [self.period.upper, *args],
        ).fetchall()
        return [
            RecentUser(
                user_id,
                app_id,
                account,
                mechanism == "GUEST",
                last_active,
                user_attributes(self.db, app_id, user_id),
                user_devices(self.db, app_id, user_id),
            )
            for app_id, user_id, account, mechanism, last_active in rows
        ]

    def accounts(self, events: Counter[str]) -> list[Account]:
        """Each customer account's figures; ``events`` are its own events from :meth:`_activity`."""
        table, column, where, args = self._users(self.period)
        users = {
            row[0]: (row[1], row[2])
            for row in self.db.execute(
                f"SELECT account, count(DISTINCT user_key), max({column}) FROM {table} WHERE {where} "
                "GROUP BY account",
                args,
            )
        }
        where, args = self._sessions_in(self.period)
        sessions = dict(
            self.db.execute(
                f"SELECT customer_account_id, count(*) FROM sessions WHERE {where} GROUP BY 1", args
            ).fetchall()
        )
        sql, args = self._filter(account="account_id")
        names = dict(self.db.execute(f"SELECT account_id, name FROM customers WHERE 1{sql}", args).fetchall())
        found = (set(events) | set(users) | set(names)) - {""}
        accounts = [
            Account(
                account,
                names.get(account),
                int(users.get(account, (0, None))[0]),
                int(sessions.get(account, 0)),
                int(events.get(account, 0)),
                _last_active(users.get(account, (0, None))[1]),
            )
            for account in found
        ]
        return sorted(accounts, key=lambda a: (-a.events, a.account_id))


def _last_active(bucket: str | None) -> str | None:
    """The start of an hourly (``2024-05-03T15``) or daily (``2024-05-03``) bucket, as a timestamp."""
    if bucket is None:
        return None
    return f"{bucket}:00:00.000Z" if len(bucket) == 13 else f"{bucket}T00:00:00.000Z"


def user_attributes(db: sqlite3.Connection, app_id: str, user_id: str) -> dict[str, Any]:
    return {
        name: json.loads(value)
        for name, value in db.execute(
            "SELECT name, value FROM user_attributes WHERE app_id = ? AND user_id = ? ORDER BY name",
            (app_id, user_id),
        )
    }


def user_devices(db: sqlite3.Connection, app_id: str, user_id: str) -> list[dict[str, Any]]:
    return [
        {"device": device_id or key, "attributes": json.loads(attributes), "token": token is not None}
        for key, device_id, attributes, token in db.execute(
            "SELECT device_key, device_id, attributes, device_token FROM devices "
            "WHERE app_id = ? AND user_id = ? ORDER BY updated_at DESC",
            (app_id, user_id),
        )
    ]


def summarize(
    db: sqlite3.Connection, period: Period, app_id: str | None = None, account_id: str | None = None
) -> Summary:
    """The overview's figures for ``app_id`` and ``account_id`` (None: all) over ``period``."""
    return SummaryQuery(db, period, app_id, account_id).run()
