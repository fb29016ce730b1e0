"""A first end-to-end pass: configure, track, flush, and what the strict server received."""

from __future__ import annotations

from typing import Any

from tests.support.strict_server import StrictServer


def test_events_reach_the_server_with_a_session(server: StrictServer, make_client: Any) -> None:
    client = make_client()
    client.log_event("Signed In", {"Module": "Login"})
    assert client.flush(timeout=30)
    names = [event["name"] for event in server.events()]
    assert names == ["app_session_start", "Signed In"]
    assert server.rejected == []
