"""The dashboard's figures for the known dataset, computed straight from the database."""

from __future__ import annotations

import httpx
import pytest

from tests.collector import known_data
from tests.collector.known_data import EXPECTED
from usageanalytics.collector.dashboard import duration
from usageanalytics.collector.server import RunningCollector
from usageanalytics.collector.stats import percentile


@pytest.fixture
def known(api: httpx.Client, collector: RunningCollector) -> RunningCollector:
    known_data.fill(api)
    return collector


def test_summary_of_the_known_data(known: RunningCollector, api: httpx.Client) -> None:
    summary = api.get("/api/summary").json()
    for key in (
        "start",
        "end",
        "active_users",
        "users",
        "sessions",
        "avg_session_seconds",
        "events",
        "daily_active_users",
        "daily_sessions",
        "daily_events",
        "daily_avg_session_seconds",
        "top_screens",
        "top_events",
        "page_loads",
    ):
        assert summary[key] == EXPECTED[key], key
    accounts = {a["account_id"]: a for a in summary["accounts"]}
    for account, figures in EXPECTED["accounts"].items():
        assert {k: accounts[account][k] for k in figures} == figures
    recent = summary["recent_users"]
    assert [u["user_id"] for u in recent] == EXPECTED["recent_users"]
    attributes = {u["user_id"]: u["attributes"] for u in recent}
    for user, expected in EXPECTED["attributes"].items():
        assert attributes[user] == expected
    devices = {u["user_id"]: u["devices"] for u in recent}
    assert devices["alice"] == [
        {"device": "d-alice", "attributes": {"OS": "Linux", "OS Version": "6.1"}, "token": True}
    ]
    assert devices["carol"][0]["device"] == "d-carol"


def test_period_and_app_filters(known: RunningCollector, api: httpx.Client) -> None:
    two_days = api.get("/api/summary", params={"days": 2}).json()
    assert (two_days["start"], two_days["events"], two_days["sessions"]) == ("2024-05-02", 18, 4)
    other = api.get("/api/summary", params={"app": "another-app"}).json()
    assert (other["events"], other["users"], other["accounts"]) == (0, 0, [])
    assert api.get("/api/summary", params={"app": known_data.APP}).json()["events"] == EXPECTED["events"]


@pytest.mark.parametrize(
    ("values", "median_p95"),
    [([100, 200, 300, 400, 500], 480), ([42], 42), ([10, 20], 19.5)],
)
def test_percentile(values: list[float], median_p95: float) -> None:
    assert percentile([float(v) for v in values], 0.95) == pytest.approx(median_p95)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.25, "0.2s"), (42, "42s"), (270, "4m 30s"), (3725, "1h 02m")],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text
