"""The dashboard in Debian's Chromium, driven by Playwright: overview → account → user →
debugger, the filters, a refused request's reason, an SDK event arriving live, hostile names.

Each page is screenshotted at 1400 px wide into artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.collector import known_data
from tests.collector.browser import screenshot
from tests.collector.conftest import API_KEY
from usageanalytics import Client
from usageanalytics.collector import demo
from usageanalytics.collector.server import RunningCollector, run_in_thread
from usageanalytics.collector.templating import duration

TIMEOUT = 30_000  # ms: generous, the machine is shared


@pytest.fixture(scope="module")
def demo_collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCollector]:
    """A collector holding the demo's four weeks (seeded once for this module)."""
    with run_in_thread(tmp_path_factory.mktemp("demo") / "demo.sqlite", api_key=None) as collector:
        seeded = demo.seed(collector, lambda _: None)
        assert seeded.all_sent
        yield collector


def figure(page: Any, name: str) -> str:
    return str(page.locator(f'[data-figure="{name}"]').first.inner_text()).strip()


def test_overview_account_user_debugger(page: Any, demo_collector: RunningCollector) -> None:
    page.goto(demo_collector.dashboard_url)
    assert int(figure(page, "active-users")) >= 20
    assert int(figure(page, "events").replace(",", "")) > 1000
    assert re.fullmatch(r"\d+m \d\ds", figure(page, "avg-session")), figure(page, "avg-session")
    # Every chart has data and readable axes (no "0.0 0.0 0.1"-style labels).
    for chart in ("active-users", "sessions", "session-length", "events", "top-screens", "top-events"):
        panel = page.locator(f'[data-chart="{chart}"]')
        assert panel.locator("svg").count() == 1, chart
        labels = [t.strip() for t in panel.locator(".axis.y text").all_text_contents() if t.strip()]
        assert len(labels) == len(set(labels)), (chart, labels)
    assert page.locator('[data-chart="page-loads"] svg').count() == 1
    assert page.locator('[data-chart="modules"] svg').count() == 1
    screenshot(page, "overview")

    page.locator('table[data-table="accounts"] a', has_text="acme").click()
    page.wait_for_url(re.compile(r"/accounts/acme"), timeout=TIMEOUT)
    assert figure(page, "account") == "Acme Corp"
    modules = page.locator('table[data-table="modules"] tbody tr')
    assert modules.count() >= 3
    assert "%" in modules.first.inner_text()
    screenshot(page, "account")

    user_link = page.locator('table[data-table="account-users"] a').first
    user_id = user_link.inner_text()
    user_link.click()
    page.wait_for_url(re.compile(r"/users/"), timeout=TIMEOUT)
    assert figure(page, "user").startswith(user_id)
    timeline = page.locator('table[data-table="timeline"] tbody tr')
    assert timeline.count() == 200  # one page of the timeline
    assert page.locator('table[data-table="sessions"] tbody tr').count() >= 3  # a returning user
    assert "Module:" in page.locator('table[data-table="timeline"]').inner_text()
    assert page.locator('table[data-table="attributes"] [data-attribute="Plan"]').count() == 1
    screenshot(page, "user")

    page.locator('[data-link="debugger"]').click()
    page.wait_for_url(re.compile(r"/debugger\?"), timeout=TIMEOUT)
    assert page.locator('[data-filter="user_id"]').input_value() == user_id
    rows = page.locator("#rows tr.request")
    rows.first.wait_for(timeout=TIMEOUT)
    users = set(page.locator('#rows td[data-col="user"]').all_inner_texts())
    assert users == {user_id}
    screenshot(page, "debugger")


def test_overview_filters(page: Any, demo_collector: RunningCollector) -> None:
    page.goto(demo_collector.dashboard_url)
    everyone = int(figure(page, "active-users"))
    page.select_option('[data-filter="account"]', "umbrella")
    page.click('[data-filter="apply"]')
    page.wait_for_url(re.compile(r"account=umbrella"), timeout=TIMEOUT)
    assert 0 < int(figure(page, "active-users")) < everyone
    accounts = page.locator('table[data-table="accounts"] tbody tr')
    assert accounts.count() == 1 and "umbrella" in accounts.first.inner_text()

    page.click('.presets a:has-text("2 days")')
    page.wait_for_url(re.compile(r"days=2"), timeout=TIMEOUT)
    assert "by the hour" in page.locator(".sub").first.inner_text()
    screenshot(page, "overview-two-days")

    page.goto(f"{demo_collector.dashboard_url}?days=abc")
    assert "days must be a whole number" in page.locator("[data-error]").inner_text()


def overview_figures(page: Any) -> dict[str, Any]:
    """The overview's period, cards and accounts table, as the page shows them."""
    rows = page.locator('table[data-table="accounts"] tbody tr[data-account]')
    accounts = {}
    for n in range(rows.count()):
        row = rows.nth(n)
        accounts[row.get_attribute("data-account")] = (
            int(row.locator("[data-users]").inner_text()),
            int(row.locator("[data-sessions]").inner_text()),
            int(row.locator("[data-events]").inner_text().replace(",", "")),
        )
    return {
        "period": figure(page, "period"),
        "active_users": int(figure(page, "active-users")),
        "sessions": int(figure(page, "sessions")),
        "avg_session": figure(page, "avg-session"),
        "events": int(figure(page, "events").replace(",", "")),
        "screen_views": int(figure(page, "screen-views").replace(",", "")),
        "page_loads": int(figure(page, "page-loads").replace(",", "")),
        "accounts": accounts,
    }


def summary_figures(collector: RunningCollector, **params: str) -> dict[str, Any]:
    """The same figures from the JSON API, for the same filter."""
    answer = httpx.get(f"{collector.url}/api/summary", params=params, timeout=30, trust_env=False)
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    totals = summary["totals"]
    return {
        "period": f"{summary['start']} \N{EN DASH} {summary['end']} (UTC)",
        "active_users": totals["active_users"],
        "sessions": totals["sessions"],
        "avg_session": duration(totals["avg_session_seconds"]),
        "events": totals["events"],
        "screen_views": totals["screen_views"],
        "page_loads": totals["page_loads"],
        "accounts": {a["account_id"]: (a["users"], a["sessions"], a["events"]) for a in summary["accounts"]},
    }


def send_a_second_app(api: httpx.Client) -> None:
    """App "blog": dave (acme), one 10-minute session on 2024-05-02 with a screen view and an event."""
    send = known_data.Sender(api)
    send.post("user", {"appId": "blog", "userId": "dave", "customerAccountId": "acme", "status": "Active",
                       "loginMechanism": "AUTH"})  # fmt: skip
    start, end = "2024-05-02T11:00:00.000Z", "2024-05-02T11:10:00.000Z"
    events = [
        known_data.event("app_session_start", start, sessionId="b1", startTime=start),
        known_data.event("Screen View", "2024-05-02T11:00:01.000Z", **{"Screen Name": "Post"}),
        known_data.event("Commented", "2024-05-02T11:03:00.000Z"),
        known_data.event("app_session_end", end, sessionId="b1", endTime=end),
    ]
    send.post("event", {"appId": "blog", "userId": "dave", "customerAccountId": "acme", "sessionId": "b1",
                        "events": events})  # fmt: skip


def choose_filters(page: Any, app: str, start: str, end: str) -> None:
    """Choose an app and a date range in the overview's form, as a user would, and apply them."""
    page.select_option('[data-filter="app"]', app)
    page.fill('[data-filter="from"]', start)
    page.fill('[data-filter="to"]', end)
    page.click('[data-filter="apply"]')
    wanted = {"app": [app], "from": [start], "to": [end]}
    page.wait_for_url(lambda url: parse_qs(urlsplit(url).query) == wanted, timeout=TIMEOUT)
    assert page.locator('[data-filter="app"]').input_value() == app
    assert page.locator('[data-filter="from"]').input_value() == start
    assert page.locator('[data-filter="to"]').input_value() == end


def test_overview_app_and_date_filters(page: Any, collector: RunningCollector, api: httpx.Client) -> None:
    known_data.fill(api)  # app "shop", 2024-05-01 to 2024-05-03
    send_a_second_app(api)
    page.goto(collector.dashboard_url)  # the last 14 days: nothing of 2024 in them
    assert page.locator("[data-empty]").count() == 1
    both = summary_figures(collector, **known_data.PERIOD)
    assert both["active_users"] == 4 and both["sessions"] == 6  # shop's 3 and 5, blog's dave and b1

    choose_filters(page, "blog", known_data.PERIOD["from"], known_data.PERIOD["to"])
    shown = overview_figures(page)
    assert shown == summary_figures(collector, app="blog", **known_data.PERIOD)
    assert (shown["active_users"], shown["sessions"], shown["avg_session"], shown["events"]) == (
        1, 1, "10m 00s", 2,
    )  # fmt: skip
    assert "app blog" in page.locator(".sub").first.inner_text()
    screenshot(page, "overview-app-blog")

    choose_filters(page, "shop", "2024-05-02", "2024-05-02")  # one day of the other app
    shown = overview_figures(page)
    assert shown == summary_figures(collector, app="shop", **{"from": "2024-05-02", "to": "2024-05-02"})
    # 2024-05-02 in the known data: alice's 600 s session and bob's 60 s one, 4 events
    assert shown["period"] == "2024-05-02 \N{EN DASH} 2024-05-02 (UTC)"
    assert (shown["active_users"], shown["sessions"], shown["avg_session"], shown["events"]) == (
        2, 2, "5m 30s", known_data.EXPECTED["series_events"][12],
    )  # fmt: skip
    assert shown["accounts"]["acme"] == (2, 2, 4)
    assert shown["accounts"].get("globex", (0, 0, 0)) == (0, 0, 0)  # carol's day is the 3rd

    page.select_option('[data-filter="app"]', "")  # all apps, the same day: blog's dave is back
    page.click('[data-filter="apply"]')
    page.wait_for_url(lambda url: "app" not in parse_qs(urlsplit(url).query), timeout=TIMEOUT)
    shown = overview_figures(page)
    assert shown == summary_figures(collector, **{"from": "2024-05-02", "to": "2024-05-02"})
    assert (shown["active_users"], shown["sessions"]) == (3, 3)
    screenshot(page, "overview-one-day")


def test_debugger_shows_a_refused_requests_reason(page: Any, collector: RunningCollector) -> None:
    bad = known_data.event("Checkout", "1999-12-31T23:59:59.000Z")
    body = {
        "appId": "shop",
        "userId": "dana",
        "customerAccountId": "acme",
        "platform": "Web",
        "events": [bad],
    }
    with httpx.Client(base_url=collector.url, timeout=30) as http:
        assert http.post("/v4/usageanalytics/event", json=body, auth=("apikey", API_KEY)).status_code == 400
        assert (
            http.post("/v4/usageanalytics/event", json=body, auth=("apikey", "wrong-key")).status_code == 401
        )
        good = dict(body, events=[known_data.event("Checkout", "2024-05-01T10:00:00.000Z")])
        assert http.post("/v4/usageanalytics/event", json=good, auth=("apikey", API_KEY)).status_code == 200
    page.goto(f"{collector.url}/debugger")
    page.locator("#rows tr.request").nth(2).wait_for(timeout=TIMEOUT)
    page.select_option('[data-filter="outcome"]', "rejected")
    page.wait_for_function(
        """() => {
            const rows = [...document.querySelectorAll('#rows tr.request')];
            return rows.length === 2 && rows.every(row => row.dataset.outcome === 'rejected');
        }""",
        timeout=TIMEOUT,
    )
    rows = page.locator("#rows tr.request")
    reasons = page.locator('#rows td[data-col="reason"]').all_inner_texts()
    assert reasons[0] == "invalid API key"  # newest first
    assert "loggedAtTime" in reasons[1] and "outside the accepted window" in reasons[1]
    rows.nth(1).click()
    detail = page.locator("#rows tr.detail")
    assert '"1999-12-31T23:59:59.000Z"' in detail.locator('[data-part="body"]').inner_text()
    assert "INVALID_INPUT" in detail.locator('[data-part="answer"]').inner_text()
    assert "wrong-key" not in page.content() and API_KEY not in page.content()
    screenshot(page, "debugger-refused")


def test_an_sdk_event_appears_on_the_open_debugger(
    page: Any, collector: RunningCollector, tmp_path: Path
) -> None:
    page.goto(f"{collector.url}/debugger")
    page.locator('#live[data-state="live"]').wait_for(timeout=TIMEOUT)
    with Client(
        "live-app",
        api_key=API_KEY,
        endpoint=collector.endpoint,
        data_dir=str(tmp_path / "sdk"),
        customer_account_id="acme",
        auto_capture=False,
        collect_device_attributes=False,
    ) as client:
        client.set_user("dana")
        client.log_event("Opened Live View", {"Module": "Debugger"})
        assert client.flush(timeout=30)
        # No reload: the open page picks the request up by itself.
        row = page.locator('#rows tr.request:has-text("Opened Live View")')
        row.wait_for(timeout=TIMEOUT)
        assert row.locator('[data-col="app"]').inner_text() == "live-app"
        assert row.locator('[data-col="user"]').inner_text() == "dana"

        # Paused, it shows nothing new; resumed, it catches up.
        page.click("#pause")
        page.locator('#live[data-state="paused"]').wait_for(timeout=TIMEOUT)
        client.log_event("While Paused")
        assert client.flush(timeout=30)
    assert collector.wait_for(lambda: collector.events(name="While Paused"), timeout=30)
    shown = page.locator("#rows tr.request").count()
    ticks = int(page.locator("#live").get_attribute("data-ticks") or 0)
    page.wait_for_function(  # two more polling periods pass, while paused
        f"() => Number(document.getElementById('live').dataset.ticks) >= {ticks + 2}", timeout=TIMEOUT
    )
    assert page.locator("#rows tr.request").count() == shown
    assert page.locator('#rows tr.request:has-text("While Paused")').count() == 0
    page.click("#pause")
    page.locator('#rows tr.request:has-text("While Paused")').wait_for(timeout=TIMEOUT)


HOSTILE = ["<script>alert(1)</script>", "\"quoted' <b>name</b>", "emoji \U0001f600 & more"]


def test_hostile_names_are_shown_as_text(page: Any, collector: RunningCollector) -> None:
    with httpx.Client(base_url=collector.url, auth=("apikey", API_KEY), timeout=30) as http:
        for number, name in enumerate(HOSTILE):
            body = {
                "appId": "shop",
                "userId": name,
                "customerAccountId": name,
                "platform": "Web",
                "sessionId": f"s-{number}",
                "events": [
                    known_data.event(name, "2024-05-01T10:00:00.000Z", Module=name),
                    known_data.event("Screen View", "2024-05-01T10:00:01.000Z", **{"Screen Name": name}),
                ],
            }
            assert http.post("/v4/usageanalytics/event", json=body).status_code == 200
        # A lone surrogate escape is refused (no UTF-8 can carry it), and shown as sent.
        raw = b'{"appId": "shop", "userId": "x\\ud800", "customerAccountId": "a", "platform": "Web", '
        raw += b'"events": []}'
        response = http.post(
            "/v4/usageanalytics/event", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400 and "surrogate" in response.json()["message"]
    period = "?from=2024-04-28&to=2024-05-01"
    pages = [f"{collector.url}/{period}", f"{collector.url}/debugger"]
    pages += [f"{collector.url}/users/{httpx.URL('/x/' + n).raw_path.decode()[3:]}?app=shop" for n in HOSTILE]
    for url in pages:
        page.goto(url)
        if "debugger" in url:
            page.locator("#rows tr.request").nth(len(HOSTILE)).wait_for(timeout=TIMEOUT)
        text = page.locator("body").inner_text()
        shown = [name for name in HOSTILE if name in text]
        assert shown, (url, text[:500])
        assert page.locator("main script").count() <= 1  # only the debugger's own
        assert page.locator("main b").count() == 0  # the <b> in a name stayed text
    page.goto(f"{collector.url}/accounts/{httpx.URL('/x/' + HOSTILE[0]).raw_path.decode()[3:]}{period}")
    assert HOSTILE[0] in page.locator("[data-figure=account]").inner_text()


def test_users_and_accounts_named_like_path_segments_have_reachable_pages(
    page: Any, collector: RunningCollector
) -> None:
    """A browser drops the path segments ``.`` and ``..`` (escaped or not): the links to such
    users and accounts still reach their pages."""
    odd = [".", "..", "~tilde"]
    with httpx.Client(base_url=collector.url, auth=("apikey", API_KEY), timeout=30) as http:
        for number, name in enumerate(odd):
            body = {
                "appId": "shop", "userId": name, "customerAccountId": name, "platform": "Web",
                "sessionId": f"odd-{number}",
                "events": [known_data.event("Opened", "2024-05-01T10:00:00.000Z")],
            }  # fmt: skip
            assert http.post("/v4/usageanalytics/event", json=body).status_code == 200
    for name in odd:
        page.goto(f"{collector.url}/?from=2024-04-28&to=2024-05-01&app=shop")
        page.locator(f'tr[data-user="{name}"] td.id a').first.click()
        heading = page.locator("[data-figure=user]")
        heading.wait_for(timeout=TIMEOUT)
        assert heading.inner_text().split()[0] == name, page.url
        page.locator("[data-link=account]").click()
        account = page.locator("[data-figure=account]")
        account.wait_for(timeout=TIMEOUT)
        assert name in account.inner_text(), page.url
