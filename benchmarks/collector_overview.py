"""How fast the dashboard answers on a big database: the overview, an account, a user, the debugger.

    .venv/bin/python benchmarks/collector_overview.py [--users-per-account 800] [--db big.sqlite]

Seeds a collector database with the demo's generator scaled up (800 users per account, four
accounts: about a million events over four weeks), written through the collector's own storage
code (the same transaction per request of 500 events the HTTP endpoint runs, without HTTP), then
serves it and times each page over HTTP: the median and the worst of ``--rounds`` requests after
one warm-up. ``--db`` keeps the database for another run (it is reused if it exists).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from usageanalytics.collector import demo_data
from usageanalytics.collector.server import run_in_thread
from usageanalytics.collector.store import Store, record_request, utc_timestamp
from usageanalytics.collector.tracking import Tracking

BATCH = 500


def _stamp(moment: Any) -> str:
    return utc_timestamp(moment.isoformat())


def _typed(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"dataType": "Boolean", "booleanValue": value}
    if isinstance(value, (int, float)):
        return {"dataType": "Number", "numberValue": value}
    return {"dataType": "String", "stringValue": str(value)}


def _event(name: str, at: str, attributes: dict[str, Any]) -> dict[str, Any]:
    parameters = [{"attributeName": key, **_typed(value)} for key, value in attributes.items()]
    return {"name": name, "loggedAtTime": at, "parameters": parameters}


def user_requests(user: demo_data.User) -> list[dict[str, Any]]:
    """What the SDK would send for one user: each visit a session, in batches of 500 events."""
    events: list[dict[str, Any]] = []
    for visit in user.visits:
        session = uuid.uuid4().hex
        start, end = _stamp(visit[0].at), _stamp(visit[-1].at)
        events.append(_event("app_session_start", start, {"sessionId": session, "startTime": start}))
        for step in visit:
            at = _stamp(step.at)
            if step.kind == "screen":
                events.append(_event("Screen View", at, {"Screen Name": step.name, **step.attributes}))
            elif step.kind == "page_load":
                events.append(_event("page_load_event", at, {"pageUrl": step.name, **step.attributes}))
            else:
                events.append(_event(step.name, at, step.attributes))
        events.append(_event("app_session_end", end, {"sessionId": session, "endTime": end}))
    envelope = {
        "appId": demo_data.APP_ID,
        "userId": user.user_id,
        "customerAccountId": user.account.account_id,
        "platform": "Web",
        "deviceId": f"device-{user.user_id}",
    }
    return [
        {**envelope, "idempotencyId": uuid.uuid4().hex, "events": events[i : i + BATCH]}
        for i in range(0, len(events), BATCH)
    ]


def seed(db: Path, users_per_account: int) -> int:
    users = demo_data.generate(users_per_account=users_per_account, seed=11)
    store = Store(db)
    written = 0
    started = time.perf_counter()
    for account in demo_data.ACCOUNTS:
        with store.transaction() as tx:
            body = {"appId": demo_data.APP_ID, "accountId": account.account_id, "name": account.name}
            Tracking(tx, 0, utc_timestamp()).customer({**body, "status": "Active"})
    for number, user in enumerate(users, 1):
        for body in user_requests(user):
            with store.transaction() as tx:
                request_id = record_request(
                    tx, "POST", "/v4/usageanalytics/event", body, body["idempotencyId"], utc_timestamp()
                )
                assert request_id is not None
                Tracking(tx, request_id, utc_timestamp()).apply("usageanalytics/event", body)
            written += len(body["events"])
        if number % 500 == 0:
            print(f"  {number:,} users, {written:,} events, {time.perf_counter() - started:,.0f} s")
    store.close()
    return written


def timed(http: httpx.Client, path: str, rounds: int) -> tuple[float, float]:
    http.get(path).raise_for_status()  # warm-up: SQLite's page cache
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        http.get(path).raise_for_status()
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users-per-account", type=int, default=800)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--db", type=Path, help="keep (or reuse) the database here")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="collector-overview-") as folder:
        db = options.db or Path(folder) / "big.sqlite"
        if not db.exists():
            print(f"seeding {db} ...")
            seed(db, options.users_per_account)
        with run_in_thread(db) as collector, httpx.Client(base_url=collector.url, timeout=120) as http:
            counts = collector.counts()
            user = collector._connections.get().execute("SELECT user_id FROM users LIMIT 1").fetchone()[0]
            pages = [
                ("overview, 14 days (HTML)", "/"),
                ("overview, 14 days (JSON)", "/api/summary"),
                ("overview, 2 days, hourly (JSON)", "/api/summary?days=2"),
                ("overview, 90 days (JSON)", "/api/summary?days=90"),
                ("overview, 90 days (HTML)", "/?days=90"),
                ("overview, one account (HTML)", "/?account=acme"),
                ("account page (HTML)", "/accounts/acme"),
                ("user page (HTML)", f"/users/{user}"),
                ("debugger data (JSON, 100 rows)", "/api/requests"),
            ]
            sizes = f"{counts['events']:,} events, {counts['sessions']:,} sessions, {counts['users']:,} users"
            print(f"database: {sizes}")
            print(f"{'page':<34} {'median':>9} {'worst':>9}  ({options.rounds} requests after a warm-up)")
            for name, path in pages:
                median, worst = timed(http, path, options.rounds)
                print(f"{name:<34} {median:>6.1f} ms {worst:>6.1f} ms")


if __name__ == "__main__":
    main()
