"""Backfills: events with their own time, their historical sessions, and the age bound."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import usageanalytics as ua
from tests.support.strict_server import StrictServer
from usageanalytics.backfill import EARLIEST, MAX_CLOCK_SKEW, HistoricalSessions, event_time
from usageanalytics.sessions import Session

UTC = timezone.utc


def _param(event: dict[str, Any], name: str) -> Any:
    (parameter,) = [p for p in event["parameters"] if p["attributeName"] == name]
    return next(v for k, v in parameter.items() if k.endswith("Value"))


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- the pure pieces --------------------------------------------------------------------------------


def test_event_time_accepts_2000_to_a_small_skew_ahead() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC).timestamp()
    assert event_time(datetime(2000, 1, 1, tzinfo=UTC), now) == (EARLIEST, None)
    ahead = datetime.fromtimestamp(now + MAX_CLOCK_SKEW - 1, UTC)
    assert event_time(ahead, now)[1] is None
    for bad, why in (
        (datetime(1999, 12, 31, 23, 59, tzinfo=UTC), "before 2000-01-01"),
        (datetime.fromtimestamp(now + MAX_CLOCK_SKEW + 1, UTC), "in the future"),
        (datetime(9999, 12, 31, tzinfo=UTC), "in the future"),
        ("2024-01-01", "must be a datetime"),
        (1_700_000_000, "must be a datetime"),
    ):
        epoch, problem = event_time(bad, now)
        assert epoch is None and problem is not None and why in problem, (bad, problem)


def test_event_time_of_a_naive_datetime_is_local_time() -> None:
    naive = datetime(2024, 3, 10, 9, 30)
    assert event_time(naive)[0] == naive.astimezone().timestamp()


class _Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def start(self, session: Session, when: float) -> None:
        self.calls.append(("start", session.id, when))

    def end(self, session: Session, when: float) -> None:
        self.calls.append(("end", session.id, when))


def test_historical_sessions_split_on_gaps_of_event_time() -> None:
    seen = _Recorder()
    history = HistoricalSessions(1800, seen.start, seen.end)
    day = 86_400.0
    times = [0, 60, 120, day, day + 600, 2 * day]
    ids = [history.touch("alice", "actor", t, mono=1.0).id for t in times]
    assert ids[0] == ids[1] == ids[2] != ids[3] == ids[4] != ids[5]
    assert seen.calls[:4] == [
        ("start", ids[0], 0),
        ("end", ids[0], 120),  # ended at its last event's time
        ("start", ids[3], day),
        ("end", ids[3], day + 600),
    ]
    assert history.end_all() == 1 and seen.calls[-1] == ("end", ids[5], 2 * day)


def test_historical_sessions_are_per_actor_and_expire_on_real_idleness() -> None:
    seen = _Recorder()
    history = HistoricalSessions(60, seen.start, seen.end)
    alice = history.touch("alice", "a", 1000, mono=0.0)
    bob = history.touch("bob", "b", 1000, mono=30.0)
    assert alice.id != bob.id
    assert history.expire(mono=70.0) == 1  # alice idle 70 s of real time, bob 40 s
    assert [c for c in seen.calls if c[0] == "end"] == [("end", alice.id, 1000)]
    assert history.touch("bob", "b", 1030, mono=71.0).id == bob.id


# -- end to end ---------------------------------------------------------------------------------------


def test_a_year_old_event_is_sent_whatever_max_record_age(server: StrictServer, make_client: Any) -> None:
    client = make_client(max_record_age=60)
    moment = datetime.now(UTC).replace(microsecond=123_000) - timedelta(days=365)
    client.log_event("Imported", {"Source": "csv"}, timestamp=moment)
    assert client.flush(30)
    (event,) = server.events("Imported")
    assert event["loggedAtTime"] == _stamp(moment)
    assert _param(event, "Source") == "csv"


def test_backfilled_history_makes_sessions_of_minutes_apart_from_the_live_one(
    server: StrictServer, make_client: Any
) -> None:
    client = make_client()
    start = datetime.now(UTC).replace(hour=9, minute=0, second=0, microsecond=0) - timedelta(days=28)
    for day in range(28):
        for step in range(6):  # six screens, two minutes apart: a ten-minute visit a day
            moment = start + timedelta(days=day, minutes=2 * step)
            client.log_screen_view(f"Screen {step}", timestamp=moment)
    assert client.session_id is None, "a backfill does not start the live session"
    client.log_event("Live")
    live = client.session_id
    assert client.shutdown(30)
    views = server.events("Screen View")
    assert len(views) == 28 * 6
    sessions = {v["_envelope"]["sessionId"] for v in views}
    assert len(sessions) == 28 and live not in sessions
    starts = {e["_envelope"]["sessionId"]: e for e in server.events("app_session_start")}
    ends = {e["_envelope"]["sessionId"]: e for e in server.events("app_session_end")}
    assert set(starts) == set(ends) == {*sessions, live}
    for day in range(28):
        first = start + timedelta(days=day)
        (session,) = {v["_envelope"]["sessionId"] for v in views if v["loggedAtTime"] == _stamp(first)}
        assert _param(starts[session], "startTime") == _stamp(first)
        assert _param(ends[session], "endTime") == _stamp(first + timedelta(minutes=10))
        assert starts[session]["loggedAtTime"] == _stamp(first)
    (live_event,) = server.events("Live")
    assert live_event["_envelope"]["sessionId"] == live


def test_a_backfill_does_not_extend_the_live_session(server: StrictServer, make_client: Any) -> None:
    client = make_client(session_timeout=0.5)
    client.log_event("Live")
    live = client.session_id
    for _ in range(3):  # backfills for longer than the timeout: the live session still ends
        client.log_event("Old", timestamp=datetime.now(UTC) - timedelta(days=3))
        time.sleep(0.3)

    def live_session_ended() -> bool:
        ends = server.events("app_session_end")
        return client.flush(5) and any(e["_envelope"]["sessionId"] == live for e in ends)

    assert server.wait_for(live_session_ended, 60)
    assert {e["_envelope"]["sessionId"] for e in server.events("Old")} != {live}


def test_implausible_timestamps_are_refused_with_a_warning(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.log_event("Too Old", timestamp=datetime(1999, 12, 31, tzinfo=UTC))
    client.log_event("Future", timestamp=datetime.now(UTC) + timedelta(hours=1))
    client.log_event("Not A Datetime", timestamp="yesterday")  # type: ignore[arg-type]
    client.log_event("Fine", timestamp=datetime.now(UTC) - timedelta(minutes=5))
    assert client.flush(30)
    assert [e["name"] for e in server.events() if e["name"] != "app_session_start"] == ["Fine"]
    messages = " | ".join(r.getMessage() for r in sdk_log.records)
    assert "'Too Old' refused: timestamp 1999-12-31" in messages
    assert "'Future' refused" in messages and "in the future" in messages
    assert "'Not A Datetime' refused: timestamp must be a datetime" in messages


def test_strict_mode_raises_on_an_implausible_timestamp(make_client: Any) -> None:
    client = make_client(strict=True)
    with pytest.raises(ua.TrackingInputError, match="before 2000-01-01"):
        client.log_event("Ancient", timestamp=datetime(1970, 1, 2))


def test_module_functions_take_a_timestamp(server: StrictServer, tmp_path: Any) -> None:
    ua.configure(
        "app-1", api_key="test-key", endpoint=server.endpoint, data_dir=str(tmp_path),
        customer_account_id="acct-1", collect_device_attributes=False, auto_capture=False,
    )  # fmt: skip
    naive = datetime(2024, 3, 10, 9, 30, 15, 250_000)  # local time
    ua.log_event("Backfilled", {"n": 1}, timestamp=naive)
    ua.log_screen_view("Old Screen", attributes={"Module": "Reports"}, timestamp=naive)
    assert ua.flush(30)
    assert server.events("Backfilled")[0]["loggedAtTime"] == _stamp(naive)
    (view,) = server.events("Screen View")
    assert view["loggedAtTime"] == _stamp(naive) and _param(view, "Module") == "Reports"
