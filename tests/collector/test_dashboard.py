"""The dashboard in headless Chromium shows the right figures for the known dataset."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.collector import chromium, known_data
from tests.collector.browser import screenshot
from tests.collector.known_data import EXPECTED, PERIOD
from usageanalytics.collector.server import RunningCollector


@pytest.fixture
def known(api: httpx.Client, collector: RunningCollector) -> RunningCollector:
    known_data.fill(api)
    return collector


def test_dashboard_in_chromium_shows_the_known_figures(known: RunningCollector, page: Any) -> None:
    page.goto(f"{known.dashboard_url}?from={PERIOD['from']}&to={PERIOD['to']}")
    marked = chromium.parse(page.content())
    text = marked.texts
    totals = EXPECTED["totals"]

    assert text[("figure", "period")] == f"{EXPECTED['start']} \N{EN DASH} {EXPECTED['end']} (UTC)"
    assert text[("figure", "active-users")] == str(totals["active_users"])
    assert text[("figure", "sessions")] == str(totals["sessions"])
    assert text[("figure", "avg-session")] == EXPECTED["avg_session_text"]
    assert text[("figure", "events")] == str(totals["events"])
    assert text[("figure", "screen-views")] == str(totals["screen_views"])
    assert text[("figure", "page-loads")] == str(totals["page_loads"])
    assert text[("figure", "users")] == str(EXPECTED["users"])
    assert text[("figure", "accounts")] == "3"
    assert text[("figure", "sdk-sessions")] == "5 / 4"

    # The charts carry the day-by-day values (pygal writes each point's value into the SVG).
    def numbers(chart: str) -> list[float]:
        return [
            float(v.replace(",", "").removesuffix(" ms").removesuffix(" %"))
            for v in marked.chart_values[chart]
            if v
        ]

    assert numbers("active-users") == EXPECTED["series_active_users"]
    assert numbers("sessions") == EXPECTED["series_sessions"]
    assert numbers("events") == EXPECTED["series_events"]
    seconds = [s for s in EXPECTED["series_avg_session_seconds"] if s is not None]
    assert numbers("session-length") == pytest.approx([round(s / 60, 1) for s in seconds])
    screens = dict(EXPECTED["top_screens"])
    assert sorted(numbers("top-screens")) == sorted(screens.values())
    for name in screens:
        assert name in text[("chart", "top-screens")]
    assert sorted(numbers("top-events")) == sorted(count for _, count in EXPECTED["top_events"])
    loads = EXPECTED["page_loads"]
    assert sorted(numbers("page-loads")) == sorted(
        [p["median_ms"] for p in loads] + [p["p95_ms"] for p in loads]
    )

    for load in loads:
        row = text[("page", load["page"])]
        assert row.split()[1] == str(load["count"])
    assert "300 ms" in text[("page", "/home")] and "480 ms" in text[("page", "/home")]
    for account, figures in EXPECTED["accounts"].items():
        cells = text[("account", account)]
        assert figures["name"] in cells
        assert f"{figures['users']} {figures['sessions']} {figures['events']}" in cells
    users_table = text[("table", "users")]
    order = [users_table.index(user) for user in EXPECTED["recent_users"]]
    assert order == sorted(order)
    assert "Plan: Free" in text[("user", "carol")] and "Theme: dark" in text[("user", "carol")]
    assert "Linux 6.1" in text[("user", "alice")] and "push token" in text[("user", "alice")]
    assert "macOS 14.4" in text[("user", "carol")]
    assert "d-carol" not in text[("user", "carol")]  # the raw device id is a tooltip, not text
    assert "guest-1" not in users_table  # the guest is carol now

    # Offline: nothing on the page comes from another host, and no chart runs a script.
    for attributes in marked.attributes:
        for name in ("src", "href"):
            value = attributes.get(name) or ""
            assert not value.startswith(("http://", "https://", "//")) or known.url in value, value
    assert page.locator("script").count() == 0
    assert screenshot(page, "overview-known").stat().st_size > 50_000


def test_an_empty_collector_says_how_to_start(collector: RunningCollector) -> None:
    html = httpx.get(collector.dashboard_url).text
    assert "Nothing logged in this period yet" in html and "usageanalytics demo" in html
    assert "<svg" not in html and "No events in this period" in html  # no empty axes
    assert f"{collector.url}/v4/" in html
    marked = chromium.parse(html)
    assert marked.texts[("figure", "events")] == "0"


def test_user_text_is_escaped(api: httpx.Client, collector: RunningCollector) -> None:
    evil = "<script>alert(1)</script>"
    body = {
        "appId": "a",
        "userId": evil,
        "platform": "Web",
        "customerAccountId": evil,
        "events": [
            {
                "name": evil,
                "loggedAtTime": "2024-01-01T00:00:00Z",
                "parameters": [{"attributeName": "Screen Name", "dataType": "String", "stringValue": evil}],
            },
            {
                "name": "Screen View",
                "loggedAtTime": "2024-01-01T00:00:00Z",
                "parameters": [{"attributeName": "Screen Name", "dataType": "String", "stringValue": evil}],
            },
        ],
    }
    assert api.post("/v4/usageanalytics/event", json=body).status_code == 200
    for path in ("/?from=2023-12-25&to=2024-01-01", "/users/%3Cscript%3Ealert(1)%3C%2Fscript%3E?app=a"):
        html = api.get(path).text
        assert evil not in html and "&lt;script&gt;" in html, path
    html = api.get("/accounts/%3Cscript%3Ealert(1)%3C%2Fscript%3E?from=2023-12-25&to=2024-01-01").text
    assert evil not in html and "&lt;script&gt;" in html
    assert api.get("/api/users/%3Cscript%3Ealert(1)%3C%2Fscript%3E").json()["user_id"] == evil


def test_an_old_databases_period_is_one_click_away(api: httpx.Client, known: RunningCollector) -> None:
    html = api.get("/").text  # today's window: the 2024 data is not in it
    assert "The latest activity was on 2024-05-03" in html
    assert 'href="?to=2024-05-03"' in html


def test_short_sessions_are_charted_in_seconds() -> None:
    from usageanalytics.collector.dashboard import _session_lengths

    assert _session_lengths([None, 4.5, 90.0]) == ("seconds", [None, 4.5, 90.0])
    assert _session_lengths([None, 60.0, 600.0]) == ("minutes", [None, 1.0, 10.0])
    assert _session_lengths([None, None]) == ("seconds", [None, None])
