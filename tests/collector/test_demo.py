"""The demo's four weeks, seeded through the real SDK, look like a real product's."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from usageanalytics.collector import demo, demo_data
from usageanalytics.collector.query import Received
from usageanalytics.collector.server import RunningCollector, run_in_thread


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningCollector, demo.Seeded]]:
    with run_in_thread(tmp_path_factory.mktemp("demo") / "demo.sqlite") as collector:
        yield collector, demo.seed(collector, lambda _: None)


def test_everything_the_sdk_was_given_arrived(seeded: tuple[RunningCollector, demo.Seeded]) -> None:
    collector, result = seeded
    assert result.all_sent
    custom = [e for e in collector.events() if not e["name"].startswith("app_session_")]
    assert len(custom) == result.events


def test_users_accounts_and_days(seeded: tuple[RunningCollector, demo.Seeded]) -> None:
    collector, _ = seeded
    users = collector.users(app_id=demo_data.APP_ID)
    assert len(users) >= 20
    assert len({u["customer_account_id"] for u in users}) >= 3
    assert {c["name"] for c in collector.customers()} >= {"Acme Corp", "Globex", "Initech"}
    days = {e["logged_at"][:10] for e in collector.events()}
    today = datetime.now(timezone.utc).date()
    window = {(today - timedelta(days=n)).isoformat() for n in range(28)}
    assert days <= window  # four weeks, nothing in the future
    assert len(days) >= 20  # activity on most days (weekends are quieter)
    assert all(u["attributes"].get("Name") and u["attributes"].get("Plan") for u in users)
    assert all(d["attributes"].get("OS") for d in collector.devices())


def test_returning_users_and_sessions_of_minutes(seeded: tuple[RunningCollector, demo.Seeded]) -> None:
    collector, _ = seeded
    sessions = collector.sessions()
    lengths = [s["duration_seconds"] for s in sessions]
    assert all(length is not None for length in lengths)  # every historical session ended
    minutes = [length / 60 for length in lengths if length is not None]
    assert 3 <= statistics.median(minutes) <= 30
    assert statistics.quantiles(minutes, n=10)[0] >= 1  # nine sessions in ten last a minute or more
    assert min(minutes) > 0 and max(minutes) <= 120
    days_per_user: dict[str, set[str]] = defaultdict(set)
    for session in sessions:
        days_per_user[session["user_id"]].add(session["started_at"][:10])
    returning = [user for user, days in days_per_user.items() if len(days) >= 3]
    assert len(returning) >= 15


def test_page_loads_and_modules(seeded: tuple[RunningCollector, demo.Seeded]) -> None:
    collector, _ = seeded
    loads: dict[str, list[float]] = defaultdict(list)
    for event in collector.events(name="page_load_event"):
        loads[event["attributes"]["pageUrl"]].append(event["attributes"]["loadTime"])
    assert len(loads) >= 5
    medians = {page: statistics.median(times) for page, times in loads.items()}
    assert medians["/app/reports"] > 2 * medians["/app/tasks/<id>"]  # pages differ, as real ones do
    for times in loads.values():
        if len(times) >= 20:
            p95 = statistics.quantiles(times, n=20)[-1]
            assert p95 > 1.3 * statistics.median(times)  # a long tail
    custom = [e for e in collector.events() if not e["name"].startswith(("app_session_", "page_load"))]
    with_module = [e for e in custom if "Module" in e["attributes"]]
    assert len(with_module) == len(custom)
    assert len({e["attributes"]["Module"] for e in with_module}) >= 5


def test_the_generator_is_deterministic_and_bounded() -> None:
    end = datetime(2024, 5, 3, 12, 0, tzinfo=timezone.utc)
    first = demo_data.generate(end=end)
    second = demo_data.generate(end=end)
    assert [[s.at for s in u.steps] for u in first] == [[s.at for s in u.steps] for u in second]
    assert all(step.at <= end for user in first for step in user.steps)
    bigger = demo_data.generate(end=end, users_per_account=50)
    assert len(bigger) == 200


def test_the_demo_seeds_a_database_and_reset_starts_afresh(tmp_path: Path) -> None:
    db = tmp_path / "demo.sqlite"
    lines: list[str] = []
    demo.run_demo(port=0, db=db, keep_serving=False, echo=lines.append)
    with Received(db) as received:
        events = len(received.events())
    demo.run_demo(port=0, db=db, keep_serving=False, echo=lines.append)
    assert any("already holds" in line for line in lines)
    with Received(db) as received:
        assert len(received.events()) == events
    demo.run_demo(port=0, db=db, keep_serving=False, echo=lines.append, reset=True)
    with Received(db) as received:
        assert len(received.users(app_id=demo_data.APP_ID)) == 24
