"""The dashboard's figures for the known dataset, from the rollups, and the period rules."""

from __future__ import annotations

import html
from datetime import date, timedelta

import httpx
import pytest

from tests.collector import known_data
from tests.collector.known_data import EXPECTED, PERIOD
from usageanalytics.collector.params import BadQuery
from usageanalytics.collector.period import Period, parse_period, today
from usageanalytics.collector.server import RunningCollector
from usageanalytics.collector.stats import histogram_percentile, month_masks, percentile
from usageanalytics.collector.templating import change, device_label, duration


@pytest.fixture
def known(api: httpx.Client, collector: RunningCollector) -> RunningCollector:
    known_data.fill(api)
    return collector


def test_summary_of_the_known_data(known: RunningCollector, api: httpx.Client) -> None:
    summary = api.get("/api/summary", params=PERIOD).json()
    for key in (
        "start",
        "end",
        "users",
        "totals",
        "sdk_events",
        "series_active_users",
        "series_sessions",
        "series_events",
        "series_avg_session_seconds",
        "top_screens",
        "top_events",
        "page_loads",
        "modules",
    ):
        assert summary[key] == EXPECTED[key], key
    assert summary["bucket"] == "day" and len(summary["buckets"]) == 14
    # The cards and the lists agree: the events card is the sum of every custom event name.
    assert sum(count for _, count in summary["top_events"]) == summary["totals"]["events"]
    assert sum(summary["series_events"]) == summary["totals"]["events"]
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
    assert summary["previous"] == {
        "active_users": 0,
        "sessions": 0,
        "avg_session_seconds": None,
        "events": 0,
        "screen_views": 0,
        "page_loads": 0,
    }
    assert (summary["previous_start"], summary["previous_end"]) == ("2024-04-06", "2024-04-19")


def test_previous_period_comparison(known: RunningCollector, api: httpx.Client) -> None:
    summary = api.get("/api/summary", params={"from": "2024-05-03", "to": "2024-05-03"}).json()
    assert summary["totals"]["events"] == 3 and summary["previous"]["events"] == 4
    assert summary["totals"]["sessions"] == 2 and summary["previous"]["sessions"] == 2
    assert change(3, 4) == "-25 %" and change(2, 0) == "new" and change(0, 0) == "-"


def test_short_ranges_are_hourly(known: RunningCollector, api: httpx.Client) -> None:
    summary = api.get("/api/summary", params={"from": "2024-05-02", "to": "2024-05-03"}).json()
    assert summary["bucket"] == "hour" and len(summary["buckets"]) == 48
    assert summary["buckets"][9] == "2024-05-02T09"
    events = dict(zip(summary["buckets"], summary["series_events"], strict=True))
    assert events["2024-05-02T09"] == 2 and events["2024-05-02T12"] == 2
    assert events["2024-05-03T08"] == 1 and events["2024-05-03T15"] == 2
    assert sum(summary["series_events"]) == 7
    sessions = dict(zip(summary["buckets"], summary["series_sessions"], strict=True))
    assert sessions["2024-05-03T15"] == 1


def test_app_and_account_filters(known: RunningCollector, api: httpx.Client) -> None:
    other = api.get("/api/summary", params={**PERIOD, "app": "another-app"}).json()
    assert (other["totals"]["events"], other["users"], other["accounts"]) == (0, 0, [])
    assert api.get("/api/summary", params={**PERIOD, "app": known_data.APP}).json()["totals"]["events"] == 12
    acme = api.get("/api/summary", params={**PERIOD, "account": "acme"}).json()
    assert acme["totals"]["events"] == 10 and acme["totals"]["active_users"] == 2
    assert acme["totals"]["sessions"] == 4
    assert [a["account_id"] for a in acme["accounts"]] == ["acme"]
    assert {u["user_id"] for u in acme["recent_users"]} == {"alice", "bob"}


def test_the_window_is_anchored_on_the_present(known: RunningCollector, api: httpx.Client) -> None:
    summary = api.get("/api/summary").json()
    assert summary["end"] == today().isoformat()
    assert summary["totals"]["events"] == 0  # the 2024 data is outside the last 14 days
    assert summary["latest_activity"] == "2024-05-03T15"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"days": "x"}, "days must be a whole number"),
        ({"days": "0"}, "days must be between 1 and 366"),
        ({"days": "9999"}, "days must be between 1 and 366"),
        ({"from": "2024-13-01"}, "from must be a date as YYYY-MM-DD"),
        ({"from": "1999-12-31"}, "from must be between 2000-01-01"),
        ({"from": "2024-05-03", "to": "2024-05-01"}, "must not be after to"),
        ({"from": "2020-01-01", "to": "2024-01-01"}, "at most 366 days"),
        ({"days": "7", "from": "2024-05-01"}, "either days or from/to"),
        ({"dayz": "7"}, "unknown query parameter 'dayz'"),
    ],
)
def test_bad_query_values_are_a_clear_400(api: httpx.Client, query: dict[str, str], message: str) -> None:
    response = api.get("/api/summary", params=query)
    assert response.status_code == 400 and message in response.json()["message"], response.text
    page = api.get("/", params=query)
    assert page.status_code == 400 and message in html.unescape(page.text)


def test_period_rules() -> None:
    assert parse_period({"from": "2024-05-01", "to": "2024-05-03"}) == Period(
        date(2024, 5, 1), date(2024, 5, 3)
    )
    assert parse_period({}).days == 14 and parse_period({}).end == today()
    only_to = parse_period({"to": "2024-05-03"})
    assert only_to.start == date(2024, 5, 3) - timedelta(days=13)
    assert Period(date(2024, 5, 1), date(2024, 5, 2)).hourly
    assert not Period(date(2024, 5, 1), date(2024, 5, 3)).hourly
    assert Period(date(2024, 5, 8), date(2024, 5, 14)).previous() == Period(
        date(2024, 5, 1), date(2024, 5, 7)
    )
    with pytest.raises(BadQuery):
        parse_period({"to": (today() + timedelta(days=2)).isoformat()})


def test_month_masks_name_the_days_of_each_month_in_a_period() -> None:
    """The monthly rollups keep day d of a month as bit d - 1; a period selects these bits."""
    assert month_masks(Period(date(2024, 1, 30), date(2024, 3, 2))) == [
        ("2024-01", 0b11 << 29),  # the 30th and 31st
        ("2024-02", (1 << 29) - 1),  # all 29 days of a leap February
        ("2024-03", 0b11),
    ]
    assert month_masks(Period(date(2024, 5, 3), date(2024, 5, 3))) == [("2024-05", 1 << 2)]
    assert month_masks(Period(date(2023, 12, 31), date(2024, 1, 1))) == [("2023-12", 1 << 30), ("2024-01", 1)]
    year = month_masks(Period(date(2024, 1, 1), date(2024, 12, 31)))
    assert [bin(mask).count("1") for _, mask in year] == [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


@pytest.mark.parametrize(
    ("values", "median_p95"),
    [([100, 200, 300, 400, 500], 480), ([42], 42), ([10, 20], 19.5)],
)
def test_percentile(values: list[float], median_p95: float) -> None:
    assert percentile([float(v) for v in values], 0.95) == pytest.approx(median_p95)
    assert histogram_percentile([(float(v), 1) for v in values], 0.95) == pytest.approx(median_p95)


def test_histogram_percentile_matches_the_exact_one_on_repeated_values() -> None:
    values = [120.0] * 30 + [300.0] * 60 + [900.0] * 10
    pairs = [(120.0, 30), (300.0, 60), (900.0, 10)]
    for fraction in (0.5, 0.9, 0.95):
        assert histogram_percentile(pairs, fraction) == pytest.approx(percentile(values, fraction))


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, "-"), (0.25, "0.2s"), (42, "42s"), (270, "4m 30s"), (3725, "1h 02m")],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize(
    ("attributes", "label"),
    [
        ({"OS": "Linux", "OS Version": "6.1"}, "Linux 6.1"),
        (
            {
                "OS": "Linux",
                "OS Version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
                "Device Name": "box",
            },
            "Linux 6.1.76 · box",
        ),
        ({"OS": "macOS", "OS Version": "14.4", "Model": "MacBookPro18,1"}, "macOS 14.4 · MacBookPro18,1"),
        ({"Device ID": "1f0c2d9e-0000-4000-8000-000000000000"}, "unknown device"),
    ],
)
def test_device_labels_are_readable(attributes: dict[str, str], label: str) -> None:
    assert device_label(attributes) == label
