"""End to end: the SDK against a collector started as a real subprocess, checked in the database
and on the dashboard in Chromium."""

from __future__ import annotations

import signal
from pathlib import Path

import usageanalytics as ua
from tests.collector import chromium
from tests.collector.processes import Command, collector_url
from usageanalytics.collector.query import Received

API_KEY = "e2e-key"


def test_sdk_session_with_guest_login_attributes_events_and_token(tmp_path: Path) -> None:
    db = tmp_path / "e2e.sqlite"
    command = Command(
        "collector", "--port", "0", "--db", str(db), "--api-key", API_KEY, "--log-level", "warning"
    )
    try:
        url = collector_url(command)
        client = ua.Client(
            "e2e-app",
            api_key=API_KEY,
            endpoint=f"{url}/v4/",
            data_dir=str(tmp_path / "sdk"),
            customer_account_id="acct-guest",
            auto_capture=False,
            app_version="2.0.1",
        )
        guest = client.user_id
        assert guest is not None and client.is_guest
        client.start_session()
        client.log_screen_view("Welcome")
        client.log_event("Opened App", {"Source": "push"})
        assert client.flush(timeout=30)  # the guest's records reach the collector as the guest's

        client.set_user("user-42", customer_account_id="acct-42")
        client.set_user_attribute(ua.UserAttribute.NAME, "Dana")
        client.set_user_attribute("Employee Id", 96)
        client.set_user_attribute("Beta", True)
        client.log_event("Signed In", {"Module": "Login", "Discount Applied": True})
        client.log_page_load("/dashboard", 123.0, 4)
        client.update_device_token("tok-42", app_in_distribution=True)
        assert client.shutdown(timeout=30)

        with Received(db) as received:
            [user] = received.users()
            assert (user["user_id"], user["customer_account_id"], user["login_mechanism"]) == (
                "user-42",
                "acct-42",
                "AUTH",
            )
            assert user["last_logged_in_user_id"] == guest
            assert received.user(guest)["user_id"] == "user-42"  # type: ignore[index]

            events = received.events()
            assert [e["name"] for e in events] == [
                "app_session_start",
                "Screen View",
                "Opened App",
                "Signed In",
                "page_load_event",
                "app_session_end",
            ]
            assert {e["user_id"] for e in events} == {"user-42"}
            assert {e["customer_account_id"] for e in events} == {"acct-42"}
            assert [e["original_user_id"] for e in events[:3]] == [guest] * 3
            assert {e["app_version"] for e in events} == {"2.0.1"}
            assert events[1]["attributes"] == {"Screen Name": "Welcome"}
            assert events[3]["attributes"] == {"Module": "Login", "Discount Applied": True}
            assert events[4]["attributes"] == {"requestCount": 4, "loadTime": 123.0, "pageUrl": "/dashboard"}

            assert received.user_attributes("user-42") == {"Name": "Dana", "Employee Id": 96, "Beta": True}
            [device] = received.devices()
            assert (device["user_id"], device["device_token"], device["app_in_distribution"]) == (
                "user-42",
                "tok-42",
                True,
            )
            assert device["device_id"] == client.device_id and device["attributes"]["OS"]
            [session] = received.sessions()
            assert session["user_id"] == "user-42" and session["ended_at"] and session["event_count"] == 6

        page = chromium.parse(chromium.dump_dom(f"{url}/", tmp_path / "profile"))
        figures = {
            name: page.texts[("figure", name)]
            for name in ("active-users", "sessions", "events", "page-loads", "users")
        }
        # Events count the app's own (a screen view, two custom events); the SDK's session and
        # page-load events are counted apart.
        assert figures == {
            "active-users": "1",
            "sessions": "1",
            "events": "3",
            "page-loads": "1",
            "users": "1",
        }
        row = page.texts[("user", "user-42")]
        assert "acct-42" in row and "Name: Dana" in row and "Employee Id: 96" in row and "push token" in row
        assert guest not in page.texts[("table", "users")]
        assert page.texts[("page", "/dashboard")].split()[1:] == ["1", "123", "ms", "123", "ms"]
        assert command.stop(signal.SIGTERM) == 0
    finally:
        command.kill()
