"""The edges of a client's life: flush() and shutdown() never say True while records are queued,
a shutdown() given a bad timeout leaves the client whole, calls after shutdown are counted and
said once, and no public call raises on a value whose repr() fails or that is nested past the
recursion limit."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

import usageanalytics as ua
from tests.support.strict_server import StrictServer
from usageanalytics.errors import TrackingInputError
from usageanalytics.ledger import AFTER_SHUTDOWN
from usageanalytics.status import read_status


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")

    __str__ = __repr__


def deeply_nested(depth: int = 100_000) -> list[Any]:
    outer: list[Any] = []
    inner = outer
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return outer


HOSTILE = [Unprintable(), deeply_nested(), {"k": deeply_nested()}]


def _down_client(tmp_path: Path, **options: Any) -> ua.Client:
    with socket.socket() as probe:  # a port nobody listens on: every send fails
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return ua.Client(
        "app-1", api_key="k", endpoint=f"http://127.0.0.1:{port}/v4/", data_dir=str(tmp_path),
        customer_account_id="acct-1", collect_device_attributes=False, retry_base=0.05, retry_cap=0.2,
        **options,
    )  # fmt: skip


def test_flush_after_a_shutdown_that_could_not_send_says_false(tmp_path: Path) -> None:
    client = _down_client(tmp_path)
    for i in range(20):
        client.log_event("Queued", {"i": i})
    assert client.shutdown(0.5) is False
    assert read_status(tmp_path).queued > 0
    assert client.flush(1) is False, "records are still queued on disk"
    assert client.shutdown(1) is False, "a second shutdown repeats the first one's answer"


def test_flush_after_a_shutdown_that_sent_everything_says_true(
    make_client: Any, server: StrictServer
) -> None:
    client = make_client()
    client.log_event("Sent")
    assert client.shutdown(30) is True
    assert client.flush(1) is True
    assert [e["name"] for e in server.events("Sent")] == ["Sent"]


@pytest.mark.parametrize("timeout", HOSTILE, ids=["unprintable", "nested", "dict"])
def test_a_bad_shutdown_timeout_uses_the_default_and_really_shuts_down(
    make_client: Any, server: StrictServer, timeout: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.log_event("Before Exit")
    assert client.shutdown(timeout) is True
    assert [e["name"] for e in server.events("Before Exit")] == ["Before Exit"]
    assert "shutdown timeout must be a number of seconds" in sdk_log.text


def test_a_bad_timeout_in_strict_mode_raises_and_the_client_stays_open(
    make_client: Any, server: StrictServer
) -> None:
    client = make_client(strict=True)
    with pytest.raises(TrackingInputError):
        client.shutdown(Unprintable())
    client.log_event("Still Open")
    assert client.shutdown(30) is True
    assert [e["name"] for e in server.events("Still Open")] == ["Still Open"]


def test_calls_after_shutdown_are_counted_and_said_once(
    make_client: Any, server: StrictServer, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.log_event("In Time")
    assert client.shutdown(30)
    client.log_event("Too Late")
    client.log_screen_view("Too Late Screen")
    client.set_user_attribute("Plan", "Pro")
    dropped = client.stats().dropped
    assert dropped.get(AFTER_SHUTDOWN) == 3, dropped
    warnings = [r.getMessage() for r in sdk_log.records if "after shutdown()" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert server.events("Too Late") == []


@pytest.mark.parametrize("value", HOSTILE, ids=["unprintable", "nested", "dict"])
def test_no_public_call_raises_on_a_value_it_cannot_print(
    make_client: Any, server: StrictServer, value: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.log_event(value)
    client.log_event("Event", value)
    client.log_event("Event", {"a": value})
    client.log_screen_view(value)
    client.log_page_load(value, value, value)
    client.set_user_attribute(value, value)
    client.set_user_attributes(value)
    client.set_product_id(value)
    client.set_user(value)
    client.set_user("user-1", customer_account_id=value)
    client.update_device_token(value, value)
    client.forget_user(value)
    client.opt_in()
    client.log_event("Kept")
    assert client.flush(value) is True  # the default timeout, said in the log
    assert [e["name"] for e in server.events("Kept")] == ["Kept"]
    assert client.stats().balanced, client.stats()
    assert "flush timeout must be a number of seconds" in sdk_log.text


@pytest.mark.parametrize("reason", [["a list"], {"a": "dict"}, b"bytes", None, "", "   "])
def test_discard_queued_with_an_unusable_reason_discards_nothing_and_says_why(
    make_client: Any, server: StrictServer, reason: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.log_event("Kept")
    assert client.discard_queued(lambda record: True, reason) == 0
    assert "reason must be a non-empty string" in sdk_log.text
    assert client.flush(30)
    assert [e["name"] for e in server.events("Kept")] == ["Kept"]
    stats = client.stats()
    assert stats.balanced and stats.dropped == {}, stats


def test_discard_queued_with_a_text_reason_counts_under_it_as_valid_text(make_client: Any) -> None:
    client = make_client()
    client.log_event("Dropped")
    reason = "cleanup \udc80 " + "x" * 500
    assert client.discard_queued(lambda record: record["kind"] == "event", reason) >= 1
    (key,) = client.stats().dropped
    assert len(key) < 220 and "\\udc80" in key  # trimmed to 200 characters, then escaped
    assert client.stats().balanced
    __import__("json").dumps(client.stats().as_dict())  # a health endpoint can serve it
