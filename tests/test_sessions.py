"""Sessions: start on first activity, end after inactivity, at logout and at shutdown."""

from __future__ import annotations

from typing import Any

from tests.support.strict_server import StrictServer
from usageanalytics.collector.validation import is_iso_timestamp


def _param(event: dict[str, Any], name: str) -> Any:
    (parameter,) = [p for p in event["parameters"] if p["attributeName"] == name]
    return parameter


def test_session_start_and_end_carry_the_spec_parameters(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    client.log_event("Work")
    session_id = client.session_id
    assert session_id
    assert client.shutdown(30)
    (start,) = server.events("app_session_start")
    (end,) = server.events("app_session_end")
    for event, time_name in ((start, "startTime"), (end, "endTime")):
        assert event["_envelope"]["sessionId"] == session_id
        assert _param(event, "sessionId") == {
            "attributeName": "sessionId", "dataType": "String", "stringValue": session_id,
        }  # fmt: skip
        moment = _param(event, time_name)
        assert moment["dataType"] == "Date" and is_iso_timestamp(moment["stringValue"])
    assert _param(start, "startTime")["stringValue"] <= _param(end, "endTime")["stringValue"]
    (work,) = server.events("Work")
    assert work["_envelope"]["sessionId"] == session_id


def test_inactivity_starts_a_new_session(server: StrictServer, make_client: Any) -> None:
    client = make_client(session_timeout=0.3)
    client.log_event("First")
    # The writer's clock ends the idle session; wait until its end event is out.
    assert server.wait_for(lambda: bool(client.flush(5) and server.events("app_session_end")), 60)
    first_session = server.events("First")[0]["_envelope"]["sessionId"]
    client.log_event("Second")
    assert client.flush(30)
    second = server.events("Second")[0]["_envelope"]["sessionId"]
    assert second != first_session
    starts = [e["_envelope"]["sessionId"] for e in server.events("app_session_start")]
    assert starts == [first_session, second]
    (end,) = [e for e in server.events("app_session_end") if e["_envelope"]["sessionId"] == first_session]
    first_event_time = server.events("First")[0]["loggedAtTime"]
    assert _param(end, "endTime")["stringValue"] == first_event_time, "ends at the last activity"


def test_activity_keeps_the_session_alive(server: StrictServer, make_client: Any) -> None:
    client = make_client(session_timeout=60)
    for i in range(5):
        client.log_event("Step", {"i": i})
    assert client.flush(30)
    assert len({e["_envelope"]["sessionId"] for e in server.events("Step")}) == 1
    assert len(server.events("app_session_start")) == 1


def test_start_session_without_an_event(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    session_id = client.start_session()
    assert session_id and client.start_session() == session_id
    assert client.flush(30)
    assert [e["_envelope"]["sessionId"] for e in server.events("app_session_start")] == [session_id]


def test_each_web_visitor_has_a_session(server: StrictServer, make_client: Any) -> None:
    import usageanalytics as ua

    client = make_client()
    for visitor in ("v1", "v2", "v1"):
        with ua.identity(guest_id=visitor):
            client.log_screen_view("Home")
    assert client.shutdown(30)
    starts = server.events("app_session_start")
    ends = server.events("app_session_end")
    assert sorted(e["_envelope"]["userId"] for e in starts) == ["v1", "v2"]
    assert sorted(e["_envelope"]["userId"] for e in ends) == ["v1", "v2"]
