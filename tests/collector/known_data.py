"""A small, fully known dataset (three days of an app called "shop") and the figures it must give.

Sent as the SDK would send it: user upserts, session start/end events, screen views, page loads,
attributes and devices, with a guest who logs in as carol on the third day.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx

APP = "shop"
_ids = itertools.count()

PERIOD = {"from": "2024-04-20", "to": "2024-05-03"}  # the 14 days up to the data's last day

EXPECTED: dict[str, Any] = {
    "start": "2024-04-20",
    "end": "2024-05-03",
    "users": 3,
    "totals": {
        "active_users": 3,  # alice, bob, carol (the guest counts as carol)
        "sessions": 5,
        "avg_session_seconds": 270.0,  # (300 + 600 + 60 + 120) / 4; s4 has not ended
        "events": 12,  # custom events and screen views; not session starts/ends or page loads
        "screen_views": 6,
        "page_loads": 6,
    },
    "avg_session_text": "4m 30s",
    "sdk_events": {"app_session_start": 5, "app_session_end": 4, "page_load_event": 6},
    "series_active_users": [0] * 11 + [1, 2, 2],
    "series_sessions": [0] * 11 + [1, 2, 2],
    "series_events": [0] * 11 + [5, 4, 3],
    "series_avg_session_seconds": [None] * 11 + [300.0, 330.0, 120.0],
    "top_screens": [["Home", 4], ["Cart", 1], ["Settings", 1]],
    "top_events": [
        ["Screen View", 6],
        ["Viewed Offer", 2],
        ["Added To Cart", 1],
        ["Checkout", 1],
        ["Scrolled", 1],
        ["Signed In", 1],
    ],
    # /home: 100, 200, 300, 400, 500 ms -> median 300, p95 480 (inclusive interpolation)
    "page_loads": [
        {"page": "/home", "count": 5, "median_ms": 300.0, "p95_ms": 480.0},
        {"page": "/cart", "count": 1, "median_ms": 250.0, "p95_ms": 250.0},
    ],
    "modules": [
        {"module": "Login", "users": 1, "events": 1, "adoption": 0.3333},
        {"module": "Shop", "users": 1, "events": 1, "adoption": 0.3333},
    ],
    "accounts": {
        "acme": {"name": "Acme Corp", "users": 2, "sessions": 4, "events": 10},
        "globex": {"name": "Globex", "users": 1, "sessions": 1, "events": 2},
        "initech": {"name": "Initech", "users": 0, "sessions": 0, "events": 0},
    },
    "recent_users": ["carol", "bob", "alice"],
    "attributes": {"alice": {"Language": "en-us", "Plan": "Pro"}, "carol": {"Plan": "Free", "Theme": "dark"}},
}
ALL_EVENTS = 27  # everything stored, the SDK's own events included


def typed(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"dataType": "Boolean", "booleanValue": value}
    if isinstance(value, (int, float)):
        return {"dataType": "Number", "numberValue": value}
    return {"dataType": "String", "stringValue": value}


def event(name: str, at: str, **parameters: Any) -> dict[str, Any]:
    event: dict[str, Any] = {"name": name, "loggedAtTime": at}
    if parameters:
        event["parameters"] = [{"attributeName": k, **typed(v)} for k, v in parameters.items()]
    return event


class Sender:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def post(self, path: str, body: dict[str, Any]) -> None:
        body = {"appId": APP, "platform": "Web", "idempotencyId": f"known-{next(_ids)}", **body}
        response = self.client.post(f"/v4/usageanalytics/{path}", json=body)
        assert response.status_code == 200, response.text

    def user(self, user_id: str, account: str, mechanism: str = "AUTH", **extra: Any) -> None:
        self.post(
            "user",
            {
                "userId": user_id,
                "customerAccountId": account,
                "status": "Active",
                "loginMechanism": mechanism,
                **extra,
            },
        )

    def session(
        self,
        user_id: str,
        account: str,
        session_id: str,
        day: str,
        start: str,
        end: str | None,
        events: list[tuple[str, str, dict[str, Any]]],
    ) -> None:
        """A session's events in one batch: start, the events (name, HH:MM:SS, attributes), end."""
        at = f"{day}T{start}.000Z"
        batch = [event("app_session_start", at, sessionId=session_id, startTime=at)]
        batch += [event(name, f"{day}T{time}.000Z", **attrs) for name, time, attrs in events]
        if end:
            finished = f"{day}T{end}.000Z"
            batch.append(event("app_session_end", finished, sessionId=session_id, endTime=finished))
        self.post(
            "event",
            {"userId": user_id, "customerAccountId": account, "sessionId": session_id, "events": batch},
        )


def screen(name: str, time: str) -> tuple[str, str, dict[str, Any]]:
    return ("Screen View", time, {"Screen Name": name})


def page(url: str, time: str, load_ms: float) -> tuple[str, str, dict[str, Any]]:
    return ("page_load_event", time, {"requestCount": 3, "loadTime": load_ms, "pageUrl": url})


def fill(client: httpx.Client) -> None:
    """Send the whole dataset to the collector behind ``client`` (Basic auth already set)."""
    send = Sender(client)
    for account, name in (("acme", "Acme Corp"), ("globex", "Globex"), ("initech", "Initech")):
        response = client.post(
            "/v4/usageanalytics/customer",
            json={"appId": APP, "accountId": account, "name": name, "status": "Active"},
        )
        assert response.status_code == 200
    send.user("alice", "acme")
    send.user("bob", "acme")
    send.user("guest-1", "globex", "GUEST")
    # 2024-05-01: alice, s1, 300 s; 9 events
    send.session(
        "alice",
        "acme",
        "s1",
        "2024-05-01",
        "10:00:00",
        "10:05:00",
        [
            screen("Home", "10:00:01"),
            page("/home", "10:00:02", 100),
            screen("Cart", "10:01:00"),
            page("/cart", "10:01:01", 250),
            ("Added To Cart", "10:02:00", {"Module": "Shop", "Price": 9.5}),
            ("Viewed Offer", "10:03:00", {"Offer": "spring"}),
            ("Viewed Offer", "10:04:00", {"Offer": "summer"}),
        ],
    )
    send.post(
        "user/attribute",
        {
            "userId": "alice",
            "userAttributes": [
                {"name": "Language", **typed("en-us"), "loggedAtTime": "2024-05-01T10:00:03.000Z"},
                {"name": "Plan", **typed("Pro"), "loggedAtTime": "2024-05-01T10:00:03.000Z"},
            ],
        },
    )
    send.post(
        "device/attribute",
        {"userId": "alice", "deviceId": "d-alice", "deviceAttributes": {"OS": "Linux", "OS Version": "6.1"}},
    )
    send.post("device/token", {"userId": "alice", "deviceId": "d-alice", "deviceToken": "push-alice"})
    # 2024-05-02: alice s2 600 s (5 events), bob s3 60 s (5 events)
    send.session(
        "alice",
        "acme",
        "s2",
        "2024-05-02",
        "09:00:00",
        "09:10:00",
        [screen("Home", "09:00:01"), page("/home", "09:00:02", 300), ("Checkout", "09:05:00", {})],
    )
    send.session(
        "bob",
        "acme",
        "s3",
        "2024-05-02",
        "12:00:00",
        "12:01:00",
        [screen("Home", "12:00:01"), page("/home", "12:00:02", 400), ("Scrolled", "12:00:30", {})],
    )
    # 2024-05-03: bob s4, not ended (3 events); the guest's s5 (120 s) becomes carol's (5 events)
    send.session(
        "bob",
        "acme",
        "s4",
        "2024-05-03",
        "08:00:00",
        None,
        [screen("Settings", "08:00:01"), page("/home", "08:00:02", 500)],
    )
    send.session(
        "guest-1",
        "globex",
        "s5",
        "2024-05-03",
        "15:00:00",
        "15:02:00",
        [
            screen("Home", "15:00:01"),
            page("/home", "15:00:02", 200),
            ("Signed In", "15:01:00", {"Module": "Login"}),
        ],
    )
    send.post(
        "user/attribute",
        {
            "userId": "guest-1",
            "userAttributes": [
                {"name": "Theme", **typed("dark"), "loggedAtTime": "2024-05-03T15:00:03.000Z"}
            ],
        },
    )
    send.post(
        "device/attribute",
        {
            "userId": "guest-1",
            "deviceId": "d-carol",
            "deviceAttributes": {"OS": "macOS", "OS Version": "14.4"},
        },
    )
    send.user("carol", "globex", lastLoggedInUserId="guest-1")
    send.post(
        "user/attribute",
        {
            "userId": "carol",
            "userAttributes": [{"name": "Plan", **typed("Free"), "loggedAtTime": "2024-05-03T15:01:30.000Z"}],
        },
    )
