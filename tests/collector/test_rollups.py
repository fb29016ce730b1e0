"""The rollups the overview reads stay equal to what the events table says: after guests log in
(their history moves to the user and the user's account), late arrivals, repeats; and an older
database is migrated."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.collector import known_data
from tests.collector.conftest import API_KEY
from usageanalytics.collector import rollups
from usageanalytics.collector.server import RunningCollector, run_in_thread
from usageanalytics.collector.store import Store

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
