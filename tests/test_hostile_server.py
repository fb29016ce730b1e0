"""Hostile and odd answers: nothing stranded in flight, Retry-After bounded, flush() ends a pause.

Issue 12, cases 6 (a 200 whose body is JSON nested 100,000 deep left the round's records in
flight for the life of the process), 7 (Retry-After obeyed without limit, ``nan`` logged as a
delay) and the sender's side of 8 (a server that drips one byte a second).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import usageanalytics as ua
from tests.support.strict_server import Drip, StrictServer, deep_json
from usageanalytics.transport import Transport

FAST = {"retry_base": 0.05, "retry_cap": 0.2}


def _indexes(server: StrictServer, name: str) -> list[int]:
    return sorted(e["parameters"][0]["numberValue"] for e in server.events(name))


def _in_flight(client: ua.Client) -> int:
    return sum(queue.in_flight() for store in client._pipeline.stores for queue in store.queues)


def _answer_first(count: int, status: int, headers: dict[str, str], body: Any) -> Any:
    left = {"n": count}

    def fault(path: str, _: dict[str, Any]) -> Any:
        if path.endswith("event") and left["n"] > 0:
            left["n"] -= 1
            return status, headers, body
        return None

    return fault


@pytest.mark.parametrize(
    "body",
    [deep_json(100_000), b"\xff\xfe garbage \x00", b'{"status": "SUCC', b""],
    ids=["nested-100000", "garbage", "cut-short", "empty"],
)
def test_a_hostile_200_strands_nothing(server: StrictServer, make_client: Any, body: bytes) -> None:
    server.fault = _answer_first(2, 200, {}, body)
    client = make_client(**FAST)
    for i in range(20):
        client.log_event("Hostile", {"i": i})
    assert client.flush(60), "retried until the server answered properly"
    assert _indexes(server, "Hostile") == list(range(20))
    assert _in_flight(client) == 0
    ids = {a.body["idempotencyId"] for a in server.attempts if a.path.endswith("event")}
    assert len(ids) == 1, "every retry under the same id: the server can drop repeats"
    assert client.stats().balanced


def test_a_transport_that_raises_strands_nothing(
    server: StrictServer, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real_post = Transport.post

    def flaky(self: Transport, path: str, body: dict[str, Any]) -> Any:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise RecursionError("maximum recursion depth exceeded while decoding a JSON array")
        return real_post(self, path, body)

    monkeypatch.setattr(Transport, "post", flaky)
    client = make_client(**FAST)
    for i in range(10):
        client.log_event("Raised", {"i": i})
    assert client.flush(60)
    assert _indexes(server, "Raised") == list(range(10))
    assert _in_flight(client) == 0 and calls["n"] >= 4
    sender = client._pipeline.sender
    assert sender is not None and "unexpected RecursionError" in (sender.last_error or "")


def test_retry_after_is_capped_at_retry_cap(server: StrictServer, make_client: Any) -> None:
    server.fault = _answer_first(1, 429, {"Retry-After": "999999999"}, {"status": "ERROR"})
    failed: list[float] = []
    client = make_client(retry_base=0.05, retry_cap=1.0, flush_interval=3600)
    with ua.signals.batch_failed.connected_to(lambda s, **i: failed.append(i["retry_in"]), sender=client):
        client.log_event("Limited")
        assert client.flush(0.5) is False
        assert failed == [1.0], "waits retry_cap, not 31 years"
        assert server.wait_for(lambda: bool(server.events("Limited")), 30), "retried on its own"


@pytest.mark.parametrize("value", ["nan", "-5", "inf", "soon"])
def test_an_unusable_retry_after_falls_back_to_backoff(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture, value: str
) -> None:
    server.fault = _answer_first(1, 429, {"Retry-After": value}, {"status": "ERROR"})
    client = make_client(**FAST)
    client.log_event("Odd Retry-After")
    assert client.flush(30)
    assert len(server.events("Odd Retry-After")) == 1
    messages = " ".join(r.getMessage() for r in sdk_log.records)
    assert "retrying in" in messages and "nan" not in messages and "inf s" not in messages


def test_flush_ends_a_pause(server: StrictServer, make_client: Any) -> None:
    server.fault = _answer_first(1, 429, {"Retry-After": "3600"}, {"status": "ERROR"})
    client = make_client(retry_base=0.05, retry_cap=3600, flush_interval=3600)
    client.log_event("Paused")
    assert client.flush(1) is False  # the 429: a pause of an hour, honoured in the background
    started = time.monotonic()
    assert client.flush(30), "an explicit flush() tries at once"
    assert time.monotonic() - started < 20
    assert len(server.events("Paused")) == 1


def test_a_dripping_server_does_not_hold_flush_beyond_its_timeout(
    server: StrictServer, make_client: Any
) -> None:
    server.fault = _answer_first(1, 503, {}, Drip(b'{"status": "ERROR"}' + b" " * 40, interval=0.1))
    client = make_client(timeout=1.0, **FAST)
    for i in range(5):
        client.log_event("Dripped", {"i": i})
    started = time.monotonic()
    assert client.flush(1.0) is False
    assert time.monotonic() - started < 10
    assert client.flush(120), "once the server answers properly, everything goes"
    assert _indexes(server, "Dripped") == list(range(5))
