"""Storage: idempotent retries, guest-to-user transfer, sessions, and data that survives a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

from tests.collector.conftest import API_KEY, sample
from tests.collector.known_data import event
from usageanalytics.collector.server import RunningCollector, run_in_thread

APP = "app-1"


def envelope(user_id: str, **extra: Any) -> dict[str, Any]:
    return {"appId": APP, "userId": user_id, "platform": "Web", "customerAccountId": "acct-1", **extra}


def session_start(session_id: str, at: str) -> dict[str, Any]:
    return event("app_session_start", at, sessionId=session_id, startTime=at)


def attribute(name: str, value: str, at: str) -> dict[str, Any]:
    return {"name": name, "dataType": "String", "stringValue": value, "loggedAtTime": at}


def test_a_repeated_idempotency_id_is_acknowledged_and_stored_once(
    api: httpx.Client, collector: RunningCollector
) -> None:
    body = envelope("u1", idempotencyId="batch-1", events=[event("Signed In", "2024-05-01T10:00:00.000Z")])
    for _ in range(3):
        response = api.post("/v4/usageanalytics/event", json=body)
        assert (response.status_code, response.json()) == (200, {"status": "SUCCESS"})
    assert len(collector.events()) == 1
    # A new id with the same content is a new batch (the SDK never reuses ids for new data).
    api.post("/v4/usageanalytics/event", json=dict(body, idempotencyId="batch-2"))
    assert len(collector.events()) == 2
    # The same id on another endpoint is another request.
    attrs = envelope(
        "u1", idempotencyId="batch-1", userAttributes=[attribute("Plan", "Pro", "2024-05-01T10:00:00Z")]
    )
    api.post("/v4/usageanalytics/user/attribute", json=attrs)
    assert collector.user_attributes("u1") == {"Plan": "Pro"}


def test_retries_racing_each_other_store_once(collector: RunningCollector) -> None:
    """Four clients send the same batch at the same moment: exactly one copy is stored."""
    import threading

    body = envelope("u1", idempotencyId="raced", events=[event("E", "2024-05-01T10:00:00Z")] * 50)
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def send() -> None:
        with httpx.Client(base_url=collector.url, auth=("apikey", API_KEY), timeout=30) as client:
            barrier.wait()
            statuses.append(client.post("/v4/usageanalytics/event", json=body).status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 4
    assert len(collector.events()) == 50


def test_guest_history_becomes_the_users_including_late_arrivals(
    api: httpx.Client, collector: RunningCollector
) -> None:
    guest, user = "guest-7", "alice"
    post = api.post
    post(
        "/v4/usageanalytics/user",
        json=envelope(guest, status="Active", loginMechanism="GUEST", sessionId="s1", idempotencyId="g"),
    )
    post(
        "/v4/usageanalytics/event",
        json=envelope(
            guest,
            sessionId="s1",
            idempotencyId="e1",
            events=[
                session_start("s1", "2024-05-01T10:00:00Z"),
                event("Screen View", "2024-05-01T10:00:05Z", **{"Screen Name": "Home"}),
            ],
        ),
    )
    post(
        "/v4/usageanalytics/user/attribute",
        json=envelope(
            guest,
            idempotencyId="a1",
            userAttributes=[
                attribute("Language", "en-us", "2024-05-01T10:00:06Z"),
                attribute("Theme", "dark", "2024-05-01T10:00:06Z"),
            ],
        ),
    )
    post(
        "/v4/usageanalytics/device/token",
        json=envelope(guest, deviceId="dev-1", deviceToken="tok", idempotencyId="t1"),
    )
    # The user already had a newer Language of their own: it must win over the guest's.
    post(
        "/v4/usageanalytics/user/attribute",
        json=envelope(
            user, idempotencyId="a0", userAttributes=[attribute("Language", "fr", "2024-05-01T11:00:00Z")]
        ),
    )
    login = envelope(
        user,
        customerAccountId="acct-alice",
        status="Active",
        loginMechanism="AUTH",
        lastLoggedInUserId=guest,
        idempotencyId="login",
    )
    assert post("/v4/usageanalytics/user", json=login).json() == {"status": "SUCCESS"}
    # Sent by the guest's still-running process after the login: attributed to the user too.
    post(
        "/v4/usageanalytics/event",
        json=envelope(guest, idempotencyId="e2", events=[event("Late", "2024-05-01T10:00:09Z")]),
    )

    events = collector.events()
    assert [e["name"] for e in events] == ["app_session_start", "Screen View", "Late"]
    assert {e["user_id"] for e in events} == {user}
    assert {e["original_user_id"] for e in events} == {guest}
    assert {e["customer_account_id"] for e in events} == {"acct-alice"}
    assert collector.events(user_id=guest) == []
    [session] = collector.sessions()
    assert (session["user_id"], session["customer_account_id"]) == (user, "acct-alice")
    assert collector.user_attributes(user) == {"Language": "fr", "Theme": "dark"}
    assert collector.user_attributes(guest) == {}
    [device] = collector.devices()
    assert device["user_id"] == user
    assert [u["user_id"] for u in collector.users()] == [user]
    merged = {u["user_id"]: u for u in collector.users(include_merged=True)}
    assert merged[guest]["merged_into"] == user
    assert collector.user(guest)["user_id"] == user  # type: ignore[index]


def test_sessions_from_start_end_and_events(api: httpx.Client, collector: RunningCollector) -> None:
    api.post(
        "/v4/usageanalytics/event",
        json=envelope(
            "u1",
            sessionId="s1",
            idempotencyId="1",
            events=[
                session_start("s1", "2024-05-01T10:00:00Z"),
                event("Signed In", "2024-05-01T10:01:00Z"),
                event(
                    "app_session_end",
                    "2024-05-01T10:05:30+02:00",
                    sessionId="s1",
                    endTime="2024-05-01T12:05:30+02:00",
                ),
            ],
        ),
    )
    api.post(
        "/v4/usageanalytics/event",
        json=envelope(
            "u1", sessionId="s2", idempotencyId="2", events=[event("Open", "2024-05-02T09:00:00Z")]
        ),
    )
    first, second = collector.sessions()
    assert (first["session_id"], first["started_at"], first["ended_at"]) == (
        "s1",
        "2024-05-01T10:00:00.000Z",
        "2024-05-01T10:05:30.000Z",
    )
    assert first["duration_seconds"] == 330.0 and first["event_count"] == 3
    assert (second["session_id"], second["started_at"], second["duration_seconds"]) == ("s2", None, None)
    assert second["first_event_at"] == "2024-05-02T09:00:00.000Z"


def test_everything_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "kept.sqlite"
    with (
        run_in_thread(db, api_key=API_KEY) as first,
        httpx.Client(base_url=first.url, auth=("apikey", API_KEY)) as client,
    ):
        assert client.post("/v4/usageanalytics/event", json=sample("event")).status_code == 200
        assert client.post("/v4/tickets", json=sample("create_ticket")).status_code == 201
    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with (
        run_in_thread(db, api_key=API_KEY) as second,
        httpx.Client(base_url=second.url, auth=("apikey", API_KEY)) as client,
    ):
        assert [e["name"] for e in second.events()] == ["Purchase Product"]
        assert len(second.tickets()) == 1
        # The idempotency record survived too: the same request is still a retry.
        assert client.post("/v4/usageanalytics/event", json=sample("event")).status_code == 200
        assert len(second.events()) == 1
