"""The rollups the overview reads stay equal to what the events table says: after guests log in
(their history moves to the user and the user's account), late arrivals, repeats; and an older
database is migrated."""

from __future__ import annotations

import random
import sqlite3
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector import known_data
from tests.collector.conftest import API_KEY
from usageanalytics.collector import rollups, stats
from usageanalytics.collector.server import RunningCollector, run_in_thread
from usageanalytics.collector.store import Store, parse_utc

ROLLUPS = rollups.ROLLUP_TABLES


def contents(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    return {table: sorted(tuple(row) for row in db.execute(f"SELECT * FROM {table}")) for table in ROLLUPS}


def rebuilt(db: sqlite3.Connection) -> dict[str, list[tuple[Any, ...]]]:
    """What the rollups would hold if computed from scratch (rolled back afterwards)."""
    db.execute("BEGIN")
    try:
        rollups.rebuild(db)
        return contents(db)
    finally:
        db.execute("ROLLBACK")


def scenario(api: httpx.Client, rng: random.Random) -> None:
    """Guests and users of several accounts, logins moving guests, events arriving late."""
    send = known_data.Sender(api)
    guests = [f"guest-{n}" for n in range(4)]
    users = ["ann", "ben", "cai"]
    accounts = ["acme", "globex", "initech"]
    for step in range(40):
        actor = rng.choice(guests + users)
        account = rng.choice(accounts)
        day = f"2024-05-0{rng.randint(1, 3)}"
        events = []
        for _ in range(rng.randint(1, 6)):
            at = f"{day}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00.000Z"
            kind = rng.random()
            if kind < 0.3:
                events.append(
                    known_data.event("Screen View", at, **{"Screen Name": rng.choice("AB"), "Module": "M1"})
                )
            elif kind < 0.5:
                events.append(
                    known_data.event(
                        "page_load_event",
                        at,
                        requestCount=1,
                        loadTime=rng.uniform(10, 900),
                        pageUrl=rng.choice(["/a", "/b"]),
                    )
                )
            else:
                events.append(
                    known_data.event(rng.choice(["Did", "Made"]), at, Module=rng.choice(["M1", "M2"]))
                )
        send.post(
            "event",
            {"userId": actor, "customerAccountId": account, "sessionId": f"s{step % 7}", "events": events},
        )
        if rng.random() < 0.2:
            guest = rng.choice(guests)
            send.user(rng.choice(users), rng.choice(accounts), lastLoggedInUserId=guest)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_a_rebuild_after_logins_and_late_arrivals(
    api: httpx.Client, collector: RunningCollector, seed: int
) -> None:
    scenario(api, random.Random(seed))
    db = collector._connections.get()
    assert contents(db) == rebuilt(db)
    # And the totals agree with the raw events.
    total = db.execute("SELECT count(*) FROM events").fetchone()[0]
    assert db.execute("SELECT sum(events) FROM activity_hourly").fetchone()[0] == total


def drop_triggers(db: sqlite3.Connection) -> None:
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")


PERIODS = (
    {"from": "2024-05-02", "to": "2024-05-03"},  # hourly
    known_data.PERIOD,
    {"from": "2024-02-05", "to": "2024-05-03"},  # 90 days over four months
    {"from": "2024-04-29", "to": "2024-05-02", "account": "acme"},
)


def test_a_version_2_database_gets_the_daily_and_monthly_copies(tmp_path: Path) -> None:
    """Version 2 had the rollups but not their coarser copies: they are computed on opening, and
    kept up to date from then on."""
    rng = random.Random(5)
    db_path = tmp_path / "v2.sqlite"
    with (
        run_in_thread(db_path, api_key=API_KEY) as first,
        httpx.Client(base_url=first.url, auth=("apikey", API_KEY)) as api,
    ):
        known_data.fill(api)
        scenario(api, rng)
        before = [api.get("/api/summary", params=period).json() for period in PERIODS]
    old = sqlite3.connect(db_path)
    drop_triggers(old)
    for table in rollups.DERIVED_TABLES:
        old.execute(f"DROP TABLE {table}")
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    with (
        run_in_thread(db_path, api_key=API_KEY) as second,
        httpx.Client(base_url=second.url, auth=("apikey", API_KEY)) as api,
    ):
        assert [api.get("/api/summary", params=period).json() for period in PERIODS] == before
        scenario(api, rng)  # written through the triggers the reopened store made
        db = second._connections.get()
        assert db.execute("PRAGMA user_version").fetchone()[0] == rollups.SCHEMA_VERSION
        assert contents(db) == rebuilt(db)
        for table in rollups.DERIVED_TABLES:
            assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0, table


def test_an_older_database_is_migrated(tmp_path: Path) -> None:
    db_path = tmp_path / "old.sqlite"
    with (
        run_in_thread(db_path, api_key=API_KEY) as first,
        httpx.Client(base_url=first.url, auth=("apikey", API_KEY)) as api,
    ):
        known_data.fill(api)
        before = api.get("/api/summary", params=known_data.PERIOD).json()
    # Make it look like a database written before the rollups existed.
    old = sqlite3.connect(db_path)
    drop_triggers(old)
    for table in ROLLUPS:
        old.execute(f"DROP TABLE {table}")
    for column in ("screen_name", "module", "page_url", "load_ms"):
        old.execute(f"ALTER TABLE events DROP COLUMN {column}")
    old.execute("ALTER TABLE users DROP COLUMN last_event_at")
    old.execute("DROP INDEX sessions_by_begin")
    old.execute("ALTER TABLE sessions DROP COLUMN seconds")
    old.execute("ALTER TABLE sessions DROP COLUMN begun_at")
    old.execute("DROP TABLE user_keys")
    old.execute("PRAGMA user_version = 0")
    old.commit()
    old.close()
    with (
        run_in_thread(db_path, api_key=API_KEY) as second,
        httpx.Client(base_url=second.url, auth=("apikey", API_KEY)) as api,
    ):
        after = api.get("/api/summary", params=known_data.PERIOD).json()
        assert after == before
        store = Store(db_path)
        assert store.connection().execute("PRAGMA user_version").fetchone()[0] == rollups.SCHEMA_VERSION
        store.close()


DAYS = ("2024-03-30", "2024-03-31", "2024-04-01", "2024-04-15", "2024-04-29", "2024-04-30", "2024-05-01")


def month_spanning_history(api: httpx.Client, rng: random.Random) -> None:
    """Sessions (some never ended, some continued on another day) over a month boundary, events
    with and without a "Module", users in several accounts, guests who log in."""
    send = known_data.Sender(api)
    guests = [f"guest-{n}" for n in range(3)]
    users = ["ann", "ben", "cai", "dee"]
    for step in range(50):
        day = rng.choice(DAYS)
        events = []
        for n in range(rng.randint(1, 5)):
            attributes = {"Module": rng.choice(["M1", "M2"])} if rng.random() < 0.6 else {}
            if rng.random() < 0.3:
                events.append(known_data.screen(rng.choice("AB"), f"1{n}:0{n}:00"))
            else:
                events.append((rng.choice(["Did", "Made"]), f"1{n}:1{n}:00", attributes))
        send.session(
            rng.choice(guests + users),
            rng.choice(["acme", "globex", "initech"]),
            f"t{step // 2}",  # two batches share a session, sometimes days apart
            day,
            f"0{rng.randint(0, 9)}:{rng.randint(10, 59)}:{rng.randint(10, 59)}",
            None if rng.random() < 0.2 else f"2{rng.randint(0, 3)}:{rng.randint(10, 59)}:00",
            events,
        )
        if rng.random() < 0.15:
            send.user(
                rng.choice(users), rng.choice(["acme", "globex"]), lastLoggedInUserId=rng.choice(guests)
            )


def _milliseconds(started: str, ended: str) -> int:
    return (parse_utc(ended) - parse_utc(started)) // timedelta(milliseconds=1)


def from_the_events(db: sqlite3.Connection, start: str, end: str, account: str | None) -> dict[str, Any]:
    """The overview's counts computed straight from the events and sessions tables."""
    upper = (date.fromisoformat(end) + timedelta(days=1)).isoformat()
    length = 13 if (date.fromisoformat(end) - date.fromisoformat(start)).days < 2 else 10
    where, args = "logged_at >= ? AND logged_at < ?", [f"{start}T", f"{upper}T"]
    if account:
        where, args = f"{where} AND customer_account_id = ?", [*args, account]
    sdk = "('app_session_start', 'app_session_end', 'page_load_event')"

    def one(sql: str) -> Any:
        return db.execute(sql, args).fetchone()[0]

    sessions: dict[str, list[int]] = {}
    session_sql = "coalesce(started_at, first_event_at) >= ? AND coalesce(started_at, first_event_at) < ?"
    for begun, started, ended in db.execute(
        f"SELECT coalesce(started_at, first_event_at), started_at, ended_at FROM sessions WHERE {session_sql}"
        + (" AND customer_account_id = ?" if account else ""),
        args,
    ):
        lengths = sessions.setdefault(begun[:length], [])
        lengths.append(-1 if started is None or ended is None else _milliseconds(started, ended))

    def average(lengths: list[int]) -> float | None:
        timed = [ms for ms in lengths if ms >= 0]
        return None if not timed else (2 * sum(timed) + len(timed)) // (2 * len(timed)) / 1000

    every = [ms for lengths in sessions.values() for ms in lengths]
    per_module = db.execute(
        f"SELECT module, count(DISTINCT user_id), count(*) FROM events WHERE {where} AND module IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1",
        args,
    ).fetchall()
    return {
        "active_users": one(f"SELECT count(DISTINCT user_id) FROM events WHERE {where}"),
        "events": one(f"SELECT count(*) FROM events WHERE {where} AND name NOT IN {sdk}"),
        "sessions": len(every),
        "avg_session_seconds": average(every),
        "series_active_users": dict(
            db.execute(
                f"SELECT substr(logged_at, 1, {length}), count(DISTINCT user_id) FROM events WHERE {where} "
                "GROUP BY 1",
                args,
            ).fetchall()
        ),
        "series_avg_session_seconds": {
            bucket: average(lengths) for bucket, lengths in sessions.items() if average(lengths) is not None
        },
        "modules": [[module, users, events] for module, users, events in per_module],
        "account_users": dict(
            db.execute(
                f"SELECT customer_account_id, count(DISTINCT user_id) FROM events WHERE {where} GROUP BY 1",
                args,
            ).fetchall()
        ),
    }


def from_the_summary(summary: dict[str, Any]) -> dict[str, Any]:
    def nonzero(values: list[Any]) -> dict[str, Any]:
        return {b: v for b, v in zip(summary["buckets"], values, strict=True) if v not in (0, None)}

    return {
        "active_users": summary["totals"]["active_users"],
        "events": summary["totals"]["events"],
        "sessions": summary["totals"]["sessions"],
        "avg_session_seconds": summary["totals"]["avg_session_seconds"],
        "series_active_users": nonzero(summary["series_active_users"]),
        "series_avg_session_seconds": nonzero(summary["series_avg_session_seconds"]),
        "modules": [[m["module"], m["users"], m["events"]] for m in summary["modules"]],
        "account_users": {a["account_id"]: a["users"] for a in summary["accounts"] if a["users"]},
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_the_overview_counts_what_the_events_say_over_any_period(
    api: httpx.Client, collector: RunningCollector, seed: int
) -> None:
    """Distinct users from the monthly day bits, sessions from their daily sums, activity from the
    daily copy: each equal to a count over the raw events, for periods inside a month, across a
    month's end, of one and two days (hourly), with and without an account filter."""
    month_spanning_history(api, random.Random(seed))
    db = collector._connections.get()
    periods = [
        ("2024-03-30", "2024-03-31"),
        ("2024-03-31", "2024-04-01"),
        ("2024-04-01", "2024-04-01"),
        ("2024-03-31", "2024-04-29"),
        ("2024-04-02", "2024-04-29"),
        ("2024-03-01", "2024-05-01"),
        ("2024-04-30", "2024-05-13"),
        ("2024-01-05", "2024-04-03"),
    ]
    timed = modules = 0
    for start, end in periods:
        for account in (None, "acme"):
            params = {"from": start, "to": end, **({"account": account} if account else {})}
            summary = api.get("/api/summary", params=params).json()
            shown, counted = from_the_summary(summary), from_the_events(db, start, end, account)
            assert counted["active_users"], params  # something to count
            for figure, value in counted.items():
                assert shown[figure] == value, (params, figure)
            timed += len(counted["series_avg_session_seconds"])
            modules += len(counted["modules"])
    assert timed and modules
    assert contents(db) == rebuilt(db)


def test_page_loads_past_the_exact_limit_come_from_the_histograms(
    api: httpx.Client, collector: RunningCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past ``EXACT_PAGE_LOADS`` a period's median and p95 come from the histograms: the copy
    summed over the accounts without an account filter, the account's own rows with one. Both
    equal the histogram of the raw loads, after guests' loads moved to the accounts they joined."""
    scenario(api, random.Random(4))
    monkeypatch.setattr(stats, "EXACT_PAGE_LOADS", 0)
    db = collector._connections.get()
    shown = 0
    for start, end in (
        ("2024-05-01", "2024-05-03"),
        ("2024-05-02", "2024-05-03"),
        ("2024-04-20", "2024-05-01"),
    ):
        for account in (None, "acme", "globex"):
            params = {"from": start, "to": end, **({"account": account} if account else {})}
            upper = (date.fromisoformat(end) + timedelta(days=1)).isoformat()
            histograms: dict[str, Counter[int]] = defaultdict(Counter)
            for page, load_ms in db.execute(
                "SELECT page_url, load_ms FROM events WHERE name = 'page_load_event' "
                "AND logged_at >= ? AND logged_at < ? "
                "AND coalesce(customer_account_id, '') = coalesce(?, customer_account_id, '')",
                (f"{start}T", f"{upper}T", account),
            ):
                histograms[page][rollups.bucket(load_ms)] += 1
            expected = []
            for page, counts in histograms.items():
                pairs = [(rollups.bucket_value(b), counts[b]) for b in sorted(counts)]
                median, p95 = (round(stats.histogram_percentile(pairs, f), 1) for f in (0.5, 0.95))
                expected.append(
                    {"page": page, "count": sum(counts.values()), "median_ms": median, "p95_ms": p95}
                )
            expected.sort(key=lambda p: (-p["count"], p["page"]))
            assert api.get("/api/summary", params=params).json()["page_loads"] == expected, params
            shown += len(expected)
    assert shown
