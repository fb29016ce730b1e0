"""The dashboard in headless Chromium shows the right figures for the known dataset."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.collector import chromium, known_data
from tests.collector.known_data import EXPECTED
from usageanalytics.collector.server import RunningCollector

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture
def known(api: httpx.Client, collector: RunningCollector) -> RunningCollector:
    known_data.fill(api)
    return collector


def test_dashboard_in_chromium_shows_the_known_figures(known: RunningCollector, tmp_path: Path) -> None:
    dom = chromium.dump_dom(known.dashboard_url, tmp_path / "profile")
    page = chromium.parse(dom)
    text = page.texts

    assert text[("figure", "period")] == f"{EXPECTED['start']} \N{EN DASH} {EXPECTED['end']} (UTC)"
    assert text[("figure", "active-users")] == str(EXPECTED["active_users"])
    assert text[("figure", "sessions")] == str(EXPECTED["sessions"])
    assert text[("figure", "avg-session")] == EXPECTED["avg_session_text"]
    assert text[("figure", "events")] == str(EXPECTED["events"])
    assert text[("figure", "users")] == str(EXPECTED["users"])
    assert text[("figure", "accounts")] == "3"

    # The charts carry the day-by-day values (pygal writes each point's value into the SVG).
    def numbers(chart: str) -> list[float]:
        return [float(v.replace(",", "").removesuffix(" ms")) for v in page.chart_values[chart] if v]

    assert numbers("active-users") == EXPECTED["daily_active_users"]
    assert numbers("sessions") == EXPECTED["daily_sessions"]
    assert numbers("events") == EXPECTED["daily_events"]
    minutes = [s / 60 for s in EXPECTED["daily_avg_session_seconds"] if s is not None]
    assert numbers("session-length") == pytest.approx([round(m, 1) for m in minutes])
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
    assert "guest-1" not in users_table  # the guest is carol now

    # Offline: nothing on the page comes from another host.
    for attributes in page.attributes:
        for name in ("src", "href"):
            value = attributes.get(name) or ""
            assert not value.startswith(("http://", "https://", "//")) or known.url in value, value

    shot = chromium.screenshot(known.dashboard_url, ARTIFACTS / "dashboard.png", tmp_path / "profile")
    assert shot.stat().st_size > 50_000


def test_an_empty_collector_says_how_to_start(collector: RunningCollector, tmp_path: Path) -> None:
    html = httpx.get(collector.dashboard_url).text
    assert "Nothing logged in this period yet" in html
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
    html = api.get("/").text
    assert evil not in html and "&lt;script&gt;" in html


def test_short_sessions_are_charted_in_seconds() -> None:
    from usageanalytics.collector.dashboard import _session_lengths

    assert _session_lengths([None, 4.5, 90.0]) == ("seconds", [None, 4.5, 90.0])
    assert _session_lengths([None, 60.0, 600.0]) == ("minutes", [None, 1.0, 10.0])
    assert _session_lengths([None, None]) == ("seconds", [None, None])
