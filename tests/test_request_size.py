"""Requests bounded in bytes; a 413 splits a request; a record too large alone is dead-lettered.

Issue 12, case 3: 500 events with a 17 KB attribute each went out as one 8.5 MB request, the
collector answered 413 and all of them were dead-lettered, and replaying them failed the same way.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.support.strict_server import StrictServer
from usageanalytics.batching import MAX_REQUEST_BYTES

TRACE = "Traceback (most recent call last):\n" + "  File 'app.py', line 1, in handler\n" * 480  # 17 KB


def _indexes(server: StrictServer, name: str) -> list[int]:
    return sorted(
        next(p["numberValue"] for p in e["parameters"] if p["attributeName"] == "i")
        for e in server.events(name)
    )


def test_big_events_go_out_in_requests_under_the_cap(server: StrictServer, make_client: Any) -> None:
    server.max_body_bytes = 8 * 1024 * 1024  # the collector's limit
    client = make_client(flush_interval=3600)
    for i in range(500):
        client.log_event("Crashed", {"i": i, "Trace": TRACE})
    assert client.flush(60)
    assert _indexes(server, "Crashed") == list(range(500))
    sizes = [a.size for a in server.attempts if a.path == "usageanalytics/event"]
    assert max(sizes) <= MAX_REQUEST_BYTES and len(sizes) >= 4
    assert server.rejected == [] and client.dead_lettered() == []


def test_a_413_splits_the_request_until_it_fits(server: StrictServer, make_client: Any) -> None:
    server.max_body_bytes = 60_000  # a server whose limit is below the SDK's cap
    client = make_client(flush_interval=3600)
    for i in range(200):
        client.log_event("Medium", {"i": i, "Text": "x" * 1000})
    assert client.flush(60)
    assert _indexes(server, "Medium") == list(range(200))
    assert client.dead_lettered() == []
    accepted_ids = [b["idempotencyId"] for b in server.bodies("usageanalytics/event")]
    assert len(accepted_ids) == len(set(accepted_ids)) > 4
    assert client.stats().balanced


def test_a_record_too_large_alone_is_dead_lettered_alone_with_the_reason(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client(max_request_bytes=20_000, flush_interval=3600)
    client.log_event("Small", {"i": 1})
    client.log_event("Huge", {"i": 2, "a": "x" * 8000, "b": "y" * 8000, "c": "z" * 8000})
    client.log_event("Small", {"i": 3})
    assert client.flush(30)
    assert _indexes(server, "Small") == [1, 3]
    (letter,) = client.dead_lettered()
    assert letter.count == 1 and "over the 20,000-byte cap" in letter.reason
    assert [e["name"] for e in letter.request["body"]["events"]] == ["Huge"]
    stats = client.stats()
    assert stats.dead_lettered == 1 and stats.balanced
    assert "could not send 1 records" in sdk_log.text  # the server never saw it: it rejected nothing
    assert "SmartKarrot rejected" not in sdk_log.text


def test_a_single_record_the_server_finds_too_large_is_dead_lettered_alone(
    server: StrictServer, make_client: Any
) -> None:
    server.max_body_bytes = 6_000
    client = make_client(flush_interval=3600)
    for i in range(20):
        client.log_event("Fits", {"i": i})
    client.log_event("Does Not Fit", {"i": 99, "Text": "x" * 7000})
    assert client.flush(30)
    assert _indexes(server, "Fits") == list(range(20))
    (letter,) = client.dead_lettered()
    assert letter.status_code == 413 and letter.count == 1
    body = letter.request["body"]
    assert [e["name"] for e in body["events"]] == ["Does Not Fit"]
    assert len(orjson.dumps(body)) > 6_000
