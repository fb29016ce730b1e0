"""The sender's HTTP layer against a hostile server on 127.0.0.1: deadlines, hostile answers, Retry-After.

Deadline tests assert an upper bound with a wide margin (the server would otherwise keep the
call for 20 s or more), never a speed figure.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support import hostile_server as hostile
from tests.support.hostile_server import HostileServer, Resources
from usageanalytics.transport import (
    MAX_ANSWER_BYTES,
    MAX_RETRY_AFTER,
    Outcome,
    Result,
    Transport,
    classify,
    parse_retry_after,
)

TIMEOUT = 1.0
MARGIN = 5.0  # generous: a loaded 2-core machine; without a deadline these calls take 20 s
BODY: dict[str, Any] = {"events": [{"name": "Signed In"}]}


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.fixture
def hostile_server() -> Iterator[HostileServer]:
    with HostileServer() as running:
        yield running


@pytest.fixture
def transport(hostile_server: HostileServer) -> Iterator[Transport]:
    made = Transport(hostile_server.endpoint, "key", TIMEOUT)
    yield made
    made.close()


def timed_post(transport: Transport, body: dict[str, Any] = BODY) -> tuple[Result, float]:
    started = time.monotonic()
    result = transport.post("events", body)
    return result, time.monotonic() - started


# -- the total deadline ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour", [hostile.drip_headers, hostile.drip_body, hostile.hang_after_headers, hostile.silence]
)
def test_a_slow_server_cannot_hold_a_post_past_its_deadline(
    hostile_server: HostileServer, transport: Transport, behaviour: Any
) -> None:
    hostile_server.then(behaviour())
    result, took = timed_post(transport)
    assert took < TIMEOUT + MARGIN
    assert result.outcome is Outcome.RETRY
    assert result.status_code is None
    assert not result.unprocessed  # the request went out: the server may have processed it
    assert "timed out" in result.reason
    assert transport.post("events", BODY).outcome is Outcome.SENT  # the next one gets through


def test_a_post_can_be_given_a_shorter_deadline(hostile_server: HostileServer) -> None:
    transport = Transport(hostile_server.endpoint, "key", 60.0)  # one read would wait a minute
    try:
        hostile_server.then(hostile.silence())
        started = time.monotonic()
        result = transport.post("events", BODY, timeout=TIMEOUT)
        assert time.monotonic() - started < TIMEOUT + MARGIN
        assert result.reason == "timed out after 1 s (ReadTimeout)"
    finally:
        transport.close()


def test_a_server_that_never_reads_the_request_cannot_stall_the_write() -> None:
    with HostileServer(read_requests=False, receive_buffer=4096) as server:
        transport = Transport(server.endpoint, "key", TIMEOUT)
        try:
            result, took = timed_post(transport, {"events": ["x" * 1_000_000] * 16})
        finally:
            transport.close()
    assert took < TIMEOUT + MARGIN
    assert result.outcome is Outcome.RETRY
    assert "timed out" in result.reason


def test_timed_out_posts_leave_no_threads_or_sockets_behind(
    hostile_server: HostileServer, transport: Transport
) -> None:
    hostile_server.then(hostile.drip_headers())
    transport.post("events", BODY)
    assert hostile_server.wait_idle()
    before = Resources()
    for behaviour in (hostile.drip_headers, hostile.drip_body, hostile.hang_after_headers) * 2:
        hostile_server.then(behaviour())
        assert transport.post("events", BODY).outcome is Outcome.RETRY
    assert hostile_server.wait_idle()
    after = Resources()
    assert after.threads <= before.threads
    assert after.fds <= before.fds


def test_the_deadline_holds_over_https(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))  # trusted as a user would
    with HostileServer(tls=server_context) as server:
        transport = Transport(server.endpoint, "key", TIMEOUT)
        try:
            assert transport.post("events", BODY).outcome is Outcome.SENT
            for behaviour in (hostile.drip_headers, hostile.drip_body):
                server.then(behaviour())
                result, took = timed_post(transport)
                assert took < TIMEOUT + MARGIN
                assert (result.outcome, result.status_code) == (Outcome.RETRY, None)
            assert transport.post("events", BODY).outcome is Outcome.SENT
        finally:
            transport.close()
        assert server.requests[0].path == "/v4/events"


# -- hostile answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, deep(100_000), Outcome.RETRY),  # nested 100,000 deep: not an answer, not acknowledged
        (200, b'{"status": "SUCCESS", "x": ' + deep(500) + b"}", Outcome.RETRY),
        (200, b'{"status": "SUCC\xff\xfeESS"}', Outcome.RETRY),  # invalid UTF-8
        (200, b"<html>captive portal</html>", Outcome.RETRY),
        (200, b"[1, 2, 3]", Outcome.RETRY),
        (200, b"42", Outcome.RETRY),
        (200, b"", Outcome.RETRY),
        (200, b'{"status": ["SUCCESS"]}', Outcome.RETRY),
        (200, b'{"status": "SUCCESS", "message": ' + deep(50) + b"}", Outcome.SENT),
        (200, b'\xef\xbb\xbf{"status": "SUCCESS"}', Outcome.SENT),  # a UTF-8 byte order mark
        (400, deep(100_000), Outcome.REJECTED),
        (400, b'{"status": "INVALID_INPUT", "message": "\xff"}', Outcome.REJECTED),
        (503, b"\x00\xff garbage", Outcome.RETRY),
        (401, deep(100_000), Outcome.AUTH),
    ],
)
def test_a_hostile_answer_is_classified_never_raised(
    hostile_server: HostileServer, transport: Transport, status: int, body: bytes, outcome: Outcome
) -> None:
    hostile_server.then(hostile.answer(status, body))
    result = transport.post("events", BODY)
    assert result.outcome is outcome
    assert result.status_code == status
    assert len(result.reason) <= 600


def test_a_huge_answer_is_cut_at_the_cap(hostile_server: HostileServer, transport: Transport) -> None:
    hostile_server.then(hostile.endless_body(200))
    result = transport.post("events", BODY)
    assert result.outcome is Outcome.RETRY
    assert f"larger than {MAX_ANSWER_BYTES}" in result.reason
    assert transport.post("events", BODY).outcome is Outcome.SENT


def test_a_huge_error_answer_keeps_its_status(hostile_server: HostileServer, transport: Transport) -> None:
    hostile_server.then(hostile.endless_body(413, b"x" * 65536))
    result = transport.post("events", BODY)
    assert result.outcome is Outcome.REJECTED
    assert result.status_code == 413


def test_classify_reads_an_httpx_response_too() -> None:
    response = httpx.Response(200, content=deep(100_000))
    assert classify(response).outcome is Outcome.RETRY
    assert classify(httpx.Response(200, json={"status": "SUCCESS"})).outcome is Outcome.SENT
    ok = httpx.Response(429, headers={"Retry-After": "nan"}, json={})
    assert classify(ok) == Result(Outcome.RETRY, 429, "HTTP 429", None, unprocessed=True)


# -- Retry-After ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-5", "-0.5", "9" * 5000, "", " ", "soon", "5 s",
     None],
)  # fmt: skip
def test_retry_after_ignores_what_is_not_a_sane_wait(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after(" 7 ") == 7.0
    assert parse_retry_after("0") == 0.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after(str(int(MAX_RETRY_AFTER))) == MAX_RETRY_AFTER
    soon = format_datetime(datetime.fromtimestamp(now, timezone.utc) + timedelta(seconds=120), usegmt=True)
    assert parse_retry_after(soon, now) == pytest.approx(120, abs=1)
    past = format_datetime(datetime.fromtimestamp(now, timezone.utc) - timedelta(days=3), usegmt=True)
    assert parse_retry_after(past, now) == 0.0  # a moment already gone: try now
    naive = "Sun, 06 Nov 1994 08:49:37 -0000"  # no zone: HTTP dates are GMT
    assert parse_retry_after(naive, 784111777.0 - 60) == pytest.approx(60)


def test_retry_after_cap() -> None:
    assert parse_retry_after("600", cap=300) == 300
    assert parse_retry_after("30", cap=300) == 30
    assert parse_retry_after("nan", cap=300) is None
    assert parse_retry_after("999999999", cap=300) == 300  # a very long wait is capped, not ignored
    assert parse_retry_after("999999999") == MAX_RETRY_AFTER
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT") == MAX_RETRY_AFTER


@settings(max_examples=500, derandomize=True, deadline=None, database=None)
@given(st.one_of(st.text(), st.floats().map(repr), st.integers().map(str), st.datetimes().map(str)))
def test_retry_after_never_raises_and_is_finite(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= MAX_RETRY_AFTER)


def test_a_429_with_nan_retry_after_is_a_plain_retry(
    hostile_server: HostileServer, transport: Transport
) -> None:
    for value in ("nan", "inf", "-1"):
        hostile_server.then(hostile.answer(429, b"{}", {"Retry-After": value}))
        result = transport.post("events", BODY)
        assert (result.outcome, result.retry_after, result.unprocessed) == (Outcome.RETRY, None, True)
    hostile_server.then(hostile.answer(503, b"{}", {"Retry-After": "12"}))
    assert transport.post("events", BODY).retry_after == 12.0


# -- proxies --------------------------------------------------------------------------------------

PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def test_the_proxy_environment_variables_are_honoured(
    hostile_server: HostileServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("http_proxy", hostile_server.base)  # the hostile server answers as the proxy
    nowhere = "http://127.0.0.1:9/v4/"  # nothing listens there: only the proxy can answer
    proxied = Transport(nowhere, "key", TIMEOUT)
    try:
        assert proxied.post("events", BODY).outcome is Outcome.SENT
    finally:
        proxied.close()
    assert hostile_server.requests[-1].path == "http://127.0.0.1:9/v4/events"

    monkeypatch.setenv("no_proxy", "127.0.0.1")
    direct = Transport(nowhere, "key", TIMEOUT)
    try:
        result = direct.post("events", BODY)
    finally:
        direct.close()
    assert (result.outcome, result.unprocessed) == (Outcome.RETRY, True)
    assert len(hostile_server.requests) == 1
