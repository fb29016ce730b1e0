"""Sessions that follow an app in and out of the foreground (``Client.set_app_active``).

A real client against the strict server; the sessions' monotonic clock is a hand-moved one, so
"an hour later" takes no time. Expiry is called here directly as well as by the writer's tick.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from tests.support.strict_server import StrictServer
from usageanalytics.sessions import SessionTracker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _param(event: dict[str, Any], name: str) -> str:
    (value,) = [p["stringValue"] for p in event["parameters"] if p["attributeName"] == name]
    return str(value)


def tracker(clock: Clock) -> tuple[SessionTracker, list[tuple[str, str, float]]]:
    calls: list[tuple[str, str, float]] = []
    sessions = SessionTracker(
        60.0,
        lambda s, wall: calls.append(("start", s.id, wall)),
        lambda s, wall: calls.append(("end", s.id, wall)),
        clock=clock,
    )
    return sessions, calls


def test_in_front_the_session_never_times_out() -> None:
    clock = Clock()
    sessions, calls = tracker(clock)
    sessions.set_foreground("app", None, True, wall=1.0)
    clock.now += 10 * 3600
    assert sessions.expire() == 0
    assert sessions.touch("app", None, wall=2.0).id == calls[0][1]
    assert [kind for kind, _, _ in calls] == ["start"]


def test_in_the_background_it_ends_at_the_moment_it_left() -> None:
    clock = Clock()
    sessions, calls = tracker(clock)
    sessions.set_foreground("app", None, True, wall=1.0)
    sessions.set_foreground("app", None, False, wall=5.0)
    clock.now += 30
    sessions.touch("app", None, wall=6.0)  # logged in the background: does not move the end
    clock.now += 31
    assert sessions.expire() == 1
    first = calls[0][1]
    assert calls[-1] == ("end", first, 5.0)
    sessions.set_foreground("app", None, True, wall=9.0)  # back: a new session
    assert calls[-1][0] == "start" and calls[-1][1] != first


def test_back_before_the_timeout_the_session_goes_on() -> None:
    clock = Clock()
    sessions, calls = tracker(clock)
    sessions.set_foreground("app", None, True, wall=1.0)
    sessions.set_foreground("app", None, False, wall=2.0)
    clock.now += 59
    sessions.set_foreground("app", None, True, wall=3.0)
    clock.now += 3600
    assert sessions.expire() == 0
    assert [kind for kind, _, _ in calls] == ["start"]


def test_back_after_the_timeout_ends_the_old_session_at_the_moment_it_left() -> None:
    clock = Clock()
    sessions, calls = tracker(clock)
    sessions.set_foreground("app", None, True, wall=1.0)
    sessions.set_foreground("app", None, False, wall=2.0)
    clock.now += 61  # no expiry check ran meanwhile
    sessions.set_foreground("app", None, True, wall=70.0)
    assert [(kind, wall) for kind, _, wall in calls] == [("start", 1.0), ("end", 2.0), ("start", 70.0)]


def test_none_returns_to_plain_inactivity_timing() -> None:
    clock = Clock()
    sessions, calls = tracker(clock)
    sessions.set_foreground("app", None, True, wall=1.0)
    sessions.set_foreground("app", None, None, wall=2.0)
    sessions.touch("app", None, wall=3.0)
    clock.now += 61
    assert sessions.expire() == 1
    assert calls[-1][0] == "end" and calls[-1][2] == 3.0


def test_a_logout_in_front_starts_a_session_that_is_held_too() -> None:
    clock = Clock()
    sessions, calls = tracker(clock)
    sessions.set_foreground("app", None, True, wall=1.0)
    sessions.end("app", wall=2.0)
    assert [kind for kind, _, _ in calls] == ["start", "end"]
    sessions.touch("app", None, wall=3.0)
    clock.now += 3600
    assert sessions.expire() == 0
    assert [kind for kind, _, _ in calls] == ["start", "end", "start"]


def test_client_set_app_active_on_the_wire(server: StrictServer, make_client: Any) -> None:
    client = make_client(session_timeout=60)
    clock = Clock()
    client._sessions.clock = clock
    client.set_app_active(True)
    first = client.session_id
    clock.now += 3600
    client.log_event("Still Here")
    assert client.session_id == first
    left = time.time()
    client.set_app_active(False)
    clock.now += 61
    assert server.wait_for(lambda: client.session_id is None, 30)  # the writer's tick ended it
    client.set_app_active(True)
    second = client.session_id
    assert second and second != first
    assert client.flush(30)
    (end,) = [e for e in server.events("app_session_end") if e["_envelope"]["sessionId"] == first]
    ended = datetime.strptime(_param(end, "endTime"), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs(ended.timestamp() - left) < 0.05  # when it left, not when the timeout passed
    assert [e["_envelope"]["sessionId"] for e in server.events("Still Here")] == [first]


def test_set_app_active_never_raises(make_client: Any) -> None:
    client = make_client()
    client.set_app_active("yes")  # type: ignore[arg-type]
    client.shutdown(timeout=5)
    client.set_app_active(True)  # after shutdown: nothing


def test_a_session_begun_in_the_background_is_pinned_at_its_start() -> None:
    """After the last session timed out in the background, a background event (a download
    finishing) starts one that further background activity does not stretch; it ends a timeout
    later, and coming back after that starts a new one."""
    clock = Clock()
    sessions, calls = tracker(clock)
    sessions.set_foreground("app", None, True, wall=1.0)
    sessions.set_foreground("app", None, False, wall=5.0)
    clock.now += 61
    assert sessions.expire() == 1  # ended at 5.0, the moment the app left
    background = sessions.touch("app", None, wall=70.0).id  # a background event: a new session
    clock.now += 40
    assert sessions.touch("app", None, wall=110.0).id == background  # does not move its end
    clock.now += 21
    assert sessions.expire() == 1
    sessions.set_foreground("app", None, True, wall=200.0)
    assert calls[1] == ("end", calls[0][1], 5.0)
    assert calls[2:] == [
        ("start", background, 70.0),
        ("end", background, 70.0),
        ("start", calls[-1][1], 200.0),
    ]
    assert calls[-1][1] != background


def test_coming_back_while_a_background_session_runs_continues_it() -> None:
    clock = Clock()
    sessions, _ = tracker(clock)
    sessions.set_foreground("app", None, True, wall=1.0)
    sessions.set_foreground("app", None, False, wall=5.0)
    clock.now += 61
    sessions.expire()
    background = sessions.touch("app", None, wall=70.0).id
    clock.now += 30  # back within the timeout: the same session goes on, held in front
    sessions.set_foreground("app", None, True, wall=100.0)
    clock.now += 3600
    assert sessions.expire() == 0
    assert sessions.touch("app", None, wall=3700.0).id == background
