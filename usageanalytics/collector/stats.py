"""The figures the dashboard shows, computed from a collector database (also served as JSON).

Everything comes from the rollups (:mod:`.rollups`) and the sessions and users tables, never from
a scan of the events, so the overview answers in milliseconds on millions of events.

What is counted, in one place so the cards, the charts and the lists agree:

- **events** are the app's own events (custom events, "Screen View" included); the SDK's own
  (``app_session_start``, ``app_session_end``, ``page_load_event``) are counted apart, as
  sessions and page loads;
- **active users** had at least one event (of any kind) in the period;
- a **session** belongs to the period it started in; its length needs a start and an end; the
  average length is exact to the millisecond (lengths are summed in whole milliseconds, a half
  rounds up);
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
from datetime import timedelta
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
    """The figures for one app and account filter over one period, from one read connection.

    Periods of two days or less read the hourly rollups; longer ones the daily and monthly copies
    (:mod:`.rollups`), so a 90-day overview reads a few thousand rows, not hundreds of thousands.
    """

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

    def _months(self, period: Period) -> tuple[str, list[Any]]:
        """The rows of a monthly rollup with at least one day in ``period`` (see :func:`month_masks`)."""
        masks = month_masks(period)
        cases = " ".join("WHEN ? THEN ?" for _ in masks)
        sql, args = self._filter()
        return (
            f"month >= ? AND month <= ? AND days & (CASE month {cases} ELSE -1 END) != 0{sql}",
            [masks[0][0], masks[-1][0], *(value for pair in masks for value in pair), *args],
        )

    def _sessions_in(self, period: Period) -> tuple[str, list[Any]]:
        sql, args = self._filter(account="customer_account_id")
        return f"begun_at >= ? AND begun_at < ?{sql}", [period.lower, period.upper, *args]

    # -- the rows ---------------------------------------------------------------------------------

    def _activity_rows(self, period: Period) -> list[tuple[str, str, str, str, str, int]]:
        """(bucket, name, screen, account, module, events) of every rollup row in ``period``."""
        if period.hourly:
            where, args = self._hours(period)
            sql = f"SELECT hour, name, screen, account, module, events FROM activity_hourly WHERE {where}"
        else:
            where, args = self._days(period)
            sql = f"SELECT day, name, screen, account, module, events FROM activity_daily WHERE {where}"
        return self._tuples(sql, args)

    def _session_rows(self, period: Period) -> list[tuple[str, str, int, int, int]]:
        """(bucket, account, sessions, sessions with a length, their summed length in ms)."""
        if period.hourly:
            where, args = self._sessions_in(period)
            sql = (
                "SELECT substr(begun_at, 1, 13), coalesce(customer_account_id, ''), count(*), "
                "count(seconds), coalesce(sum(CAST(round(seconds * 1000) AS INTEGER)), 0) "
                f"FROM sessions WHERE {where} GROUP BY 1, 2"
            )
        else:
            where, args = self._days(period)
            sql = f"SELECT day, account, sessions, timed, milliseconds FROM sessions_daily WHERE {where}"
        return self._tuples(sql, args)

    def _tuples(self, sql: str, args: list[Any]) -> list[Any]:
        """The rows as plain tuples (the connection's ``sqlite3.Row`` costs more per row)."""
        cursor = self.db.cursor()
        cursor.row_factory = None
        return cursor.execute(sql, args).fetchall()

    def _names(self, period: Period) -> Counter[str]:
        """Events per name in ``period`` (the previous period's totals need no more)."""
        table, (where, args) = (
            ("activity_hourly", self._hours(period))
            if period.hourly
            else ("activity_daily", self._days(period))
        )
        return Counter(
            dict(self._tuples(f"SELECT name, sum(events) FROM {table} WHERE {where} GROUP BY 1", args))
        )

    def _active_users(self, period: Period, per_account: bool = False) -> list[tuple[str, int]]:
        """Distinct active users in ``period``: in all (one row, account ``""``) or per account."""
        if period.hourly:
            table, (where, args) = "users_hourly", self._hours(period)
        else:
            table, (where, args) = "users_monthly", self._months(period)
        if per_account:
            sql = f"SELECT account, count(DISTINCT user_key) FROM {table} WHERE {where} GROUP BY account"
        else:
            sql = f"SELECT '', count(DISTINCT user_key) FROM {table} WHERE {where}"
        return [(str(account), int(users)) for account, users in self.db.execute(sql, args)]

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
        summary.buckets = period.buckets()
        activity = self._activity(summary)
        sessions = self._session_rows(period)
        summary.totals = self.totals(period, activity.per_name, sessions)
        self._series_users(summary)
        self._series_sessions(summary, sessions)
        summary.page_loads = self.page_loads()
        summary.modules = self.modules(summary.totals.active_users, activity.per_module)
        summary.recent_users = self.recent_users()
        summary.accounts = self.accounts(activity, sessions)
        summary.latest_activity = self._latest_activity()
        return summary

    def _latest_activity(self) -> str | None:
        """The latest hour with an event (the last day from the daily copy, then its hours)."""
        sql, args = self._filter()
        last_day = self.db.execute(f"SELECT max(day) FROM activity_daily WHERE 1{sql}", args).fetchone()[0]
        if last_day is None:
            return None
        latest: str | None = self.db.execute(
            f"SELECT max(hour) FROM activity_hourly WHERE hour >= ?{sql}", [last_day, *args]
        ).fetchone()[0]
        return latest

    def totals(
        self,
        period: Period,
        per_name: Counter[str] | None = None,
        sessions: list[tuple[str, str, int, int, int]] | None = None,
    ) -> Totals:
        totals = Totals()
        for name, count in (self._names(period) if per_name is None else per_name).items():
            if name == PAGE_LOAD:
                totals.page_loads += count
            elif name not in SESSION_EVENTS:
                totals.events += count
                if name == SCREEN_VIEW:
                    totals.screen_views += count
        totals.active_users = self._active_users(period)[0][1]
        rows = self._session_rows(period) if sessions is None else sessions
        totals.sessions = sum(row[2] for row in rows)
        totals.avg_session_seconds = _average(sum(row[4] for row in rows), sum(row[3] for row in rows))
        return totals

    def _activity(self, summary: Summary) -> _Activity:
        """One pass over the activity rollup: events per bucket, top events and screens, the SDK's
        own counts, events per "Module", and per account its own events and last active bucket."""
        activity = _Activity()
        per_bucket: Counter[str] = Counter()
        per_screen: Counter[str] = Counter()
        per_name, per_account, last = activity.per_name, activity.per_account, activity.last_active
        for bucket, name, screen, account, module, count in self._activity_rows(self.period):
            per_name[name] += count
            if module:
                activity.per_module[module] += count
            if bucket > last.get(account, ""):
                last[account] = bucket
            if name not in SDK_EVENTS:
                per_bucket[bucket] += count
                per_account[account] += count
                if name == SCREEN_VIEW and screen:
                    per_screen[screen] += count
        summary.series_events = [per_bucket.get(b, 0) for b in summary.buckets]
        summary.sdk_events = {name: per_name.get(name, 0) for name in SDK_EVENTS}

        def ranked(counts: Counter[str]) -> list[tuple[str, int]]:
            return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))

        custom = ranked(Counter({n: c for n, c in per_name.items() if n not in SDK_EVENTS}))
        summary.event_names = len(custom)
        summary.top_events = custom[:TOP]
        summary.top_screens = ranked(per_screen)[:TOP]
        return activity

    def _series_users(self, summary: Summary) -> None:
        if self.period.hourly:
            where, args = self._hours(self.period)
            sql = f"SELECT hour, count(DISTINCT user_key) FROM users_hourly WHERE {where} GROUP BY 1"
        else:
            # Users are keyed per app, so the apps' counts add up; so do one account's.
            table = "active_app_daily" if self.account_id is None else "active_daily"
            where, args = self._days(self.period)
            sql = f"SELECT day, sum(users) FROM {table} WHERE {where} GROUP BY 1"
        found = dict(self.db.execute(sql, args).fetchall())
        summary.series_active_users = [int(found.get(b, 0)) for b in summary.buckets]

    def _series_sessions(self, summary: Summary, sessions: list[tuple[str, str, int, int, int]]) -> None:
        per_bucket: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
        for bucket, _, count, timed, milliseconds in sessions:
            sums = per_bucket[bucket]
            sums[0] += count
            sums[1] += timed
            sums[2] += milliseconds
        for bucket in summary.buckets:
            count, timed, milliseconds = per_bucket.get(bucket, (0, 0, 0))
            summary.series_sessions.append(count)
            summary.series_avg_session_seconds.append(_average(milliseconds, timed))

    def page_loads(self) -> list[PageLoads]:
        where, args = self._days(self.period)
        # Without an account filter, the copy summed over the accounts has a fraction of the rows.
        table = "page_loads_daily" if self.account_id is not None else "page_loads_app_daily"
        histograms: dict[str, list[tuple[float, int]]] = defaultdict(list)
        for page, bucket, count in self.db.execute(
            f"SELECT page, bucket, sum(loads) FROM {table} WHERE {where} GROUP BY 1, 2 ORDER BY 1, 2",
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
        for page, load_ms in self._tuples(
            "SELECT page_url, load_ms FROM events WHERE name = ? AND logged_at >= ? AND logged_at < ? "
            f"AND page_url IS NOT NULL AND load_ms IS NOT NULL{sql}",
            [PAGE_LOAD, self.period.lower, self.period.upper, *args],
        ):
            times[page].append(float(load_ms))
        return [
            PageLoads(page, len(values), statistics.median(values), round(percentile(values, 0.95), 3))
            for page, values in times.items()
        ]

    def modules(self, active_users: int, events: Counter[str]) -> list[Module]:
        """Each "Module": how many active users used it, with how many events."""
        # Two days or less: the daily rows are fewer than a month's.
        table, (where, args) = (
            ("module_users_daily", self._days(self.period))
            if self.period.hourly
            else ("module_users_monthly", self._months(self.period))
        )
        users = self.db.execute(
            f"SELECT module, count(DISTINCT user_key) FROM {table} WHERE {where} GROUP BY module", args
        ).fetchall()
        found = [(str(name), int(count), int(events.get(name, 0))) for name, count in users]
        return [
            Module(name, count, used, round(count / max(1, active_users), 4))
            for name, count, used in sorted(found, key=lambda m: (-m[1], -m[2], m[0]))
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

    def accounts(self, activity: _Activity, sessions: list[tuple[str, str, int, int, int]]) -> list[Account]:
        """Each customer account's figures, from the activity and sessions already read."""
        users = dict(self._active_users(self.period, per_account=True))
        per_account: Counter[str] = Counter()
        for _, account, count, _, _ in sessions:
            per_account[account] += count
        sql, args = self._filter(account="account_id")
        names = dict(self.db.execute(f"SELECT account_id, name FROM customers WHERE 1{sql}", args).fetchall())
        events = activity.per_account
        found = (set(events) | set(users) | set(names)) - {""}
        accounts = [
            Account(
                account,
                names.get(account),
                users.get(account, 0),
                per_account.get(account, 0),
                events.get(account, 0),
                _last_active(activity.last_active.get(account)),
            )
            for account in found
        ]
        return sorted(accounts, key=lambda a: (-a.events, a.account_id))


@dataclass
class _Activity:
    """What one pass over the activity rollup gathers beyond the summary's own fields."""

    per_name: Counter[str] = field(default_factory=Counter)
    per_module: Counter[str] = field(default_factory=Counter)
    per_account: Counter[str] = field(default_factory=Counter)  # the app's own events
    last_active: dict[str, str] = field(default_factory=dict)  # the latest bucket with any event


def month_masks(period: Period) -> list[tuple[str, int]]:
    """Each month ``period`` touches (``2024-05``) with the bits of its days in the period, as
    the monthly rollups keep them (day ``d`` is ``1 << d - 1``)."""
    masks = []
    first = period.start
    while first <= period.end:
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        last = min(period.end, following - timedelta(days=1))
        masks.append((first.isoformat()[:7], ((1 << last.day) - 1) ^ ((1 << (first.day - 1)) - 1)))
        first = following
    return masks


def _average(milliseconds: int, timed: int) -> float | None:
    """The average session length in seconds, to the millisecond (exact: lengths are summed in
    whole milliseconds, so no float noise decides a half)."""
    if timed == 0:
        return None
    return (2 * milliseconds + timed) // (2 * timed) / 1000  # rounded half up, in whole numbers


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
