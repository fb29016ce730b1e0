"""Input that cannot go on the wire: made valid or refused at the call, never poisoning the queue.

Issue 12, cases 1 (an unencodable identity stalls the queue) and 4 (public calls raise).
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pytest

import usageanalytics as ua
from tests.support.strict_server import StrictServer
from usageanalytics.inputs import MAX_VALUE_LENGTH
from usageanalytics.ledger import INVALID_INPUT


def _indexes(server: StrictServer, name: str) -> list[int]:
    return sorted(e["parameters"][0]["numberValue"] for e in server.events(name))


def test_a_surrogate_in_a_request_identity_is_escaped_and_nothing_stalls(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    with ua.identity("visitor-\udc80", customer_account_id="acme"):  # a cookie, surrogateescape'd
        client.log_event("From Odd Cookie")
    for i in range(100):
        client.log_event("Later", {"i": i})
    assert client.flush(30)
    assert _indexes(server, "Later") == list(range(100))
    (odd,) = server.events("From Odd Cookie")
    assert odd["_envelope"]["userId"] == "visitor-\\udc80"
    assert any("lone surrogates" in r.getMessage() for r in sdk_log.records)
    assert client.stats().balanced and client.stats().dropped == {}


@pytest.mark.parametrize(
    "identity",
    [
        {"user_id": b"visitor"},
        {"user_id": Decimal(7)},
        {"user_id": "ok", "customer_account_id": b"acme"},
        {"user_id": "ok", "customer_account_id": Decimal("1.5")},
        {"guest_id": ["not", "hashable"]},
    ],
)
def test_an_identity_that_is_not_text_is_refused_and_counted(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture, identity: dict[str, Any]
) -> None:
    client = make_client()
    with ua.identity(**identity):
        client.log_event("Refused")
        client.log_screen_view("Refused Too")
    for i in range(100):
        client.log_event("Later", {"i": i})
    assert client.flush(30) and client.shutdown(30)
    assert _indexes(server, "Later") == list(range(100))
    assert server.events("Refused") == [] and server.rejected == []
    stats = client.stats()
    assert stats.dropped == {INVALID_INPUT: 2} and stats.balanced
    assert any(
        "must be a non-empty string" in r.getMessage() or "not strings" in r.getMessage()
        for r in sdk_log.records
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"customer_account_id": b"acme"}, "customer_account_id must be a non-empty string, got bytes"),
        ({"customer_account_id": 42}, "customer_account_id must be a non-empty string, got int 42"),
        ({"product_id": Decimal(7)}, "product_id must be a non-empty string, got Decimal"),
    ],
)
def test_set_user_with_an_id_that_is_not_text_is_refused_and_the_client_is_not_poisoned(
    server: StrictServer,
    make_client: Any,
    sdk_log: pytest.LogCaptureFixture,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    client = make_client()
    guest = client.user_id
    client.set_user("u", **kwargs)  # no TypeError
    assert client.user_id == guest and client.is_guest, "the user is unchanged"
    assert any(message in r.getMessage() for r in sdk_log.records)
    client.set_user("u", customer_account_id="acme")
    for i in range(100):
        client.log_event("After", {"i": i})
    assert client.flush(30)
    assert _indexes(server, "After") == list(range(100))
    assert {e["_envelope"]["customerAccountId"] for e in server.events("After")} == {"acme"}
    assert server.rejected == []
    assert client.stats().dropped == {INVALID_INPUT: 1}


def test_public_calls_never_raise_type_errors(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    client.log_screen_view("Home", attributes=[1, 2])  # type: ignore[arg-type]
    client.log_screen_view("Home", attributes="abc")  # type: ignore[arg-type]
    client.update_device_token("tok\ud800", True)
    client.update_device_token(b"tok", True)  # type: ignore[arg-type]
    client.update_device_token("tok", object())  # type: ignore[arg-type]
    client.set_user("u", customer_account_id=b"acme")  # type: ignore[arg-type]
    client.set_user("u", product_id=Decimal(7))  # type: ignore[arg-type]
    client.set_user(b"u")  # type: ignore[arg-type]
    client.set_product_id(Decimal(1))  # type: ignore[arg-type]
    client.log_event("Big Number", {"n": 10**30, "ok": 1})
    client.log_event("Odd \udcff Name", {"k\ud800": "v\udc00"})
    client.set_user_attribute("When", __import__("datetime").datetime.min)
    client.set_user_attributes([("a", 1)])  # type: ignore[arg-type]
    client.log_page_load(b"/x", "slow", None)  # type: ignore[arg-type]
    assert client.flush(30)
    assert server.rejected == []
    assert [e["name"] for e in server.events("Screen View")] == ["Screen View", "Screen View"]
    (big,) = server.events("Big Number")
    assert [p["attributeName"] for p in big["parameters"]] == ["ok"]
    (odd,) = server.events("Odd \\udcff Name")
    assert odd["parameters"][0] == {
        "attributeName": "k\\ud800",
        "dataType": "String",
        "stringValue": "v\\udc00",
    }
    messages = " | ".join(r.getMessage() for r in sdk_log.records)
    assert "attributes must be a dict, got list" in messages and "got str" in messages
    assert "device token is not valid Unicode" in messages
    stats = client.stats()
    assert stats.balanced, stats


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.log_screen_view("Home", attributes=[1, 2]),
        lambda c: c.set_user("u", customer_account_id=b"acme"),
        lambda c: c.set_user("u", customer_account_id=42),
        lambda c: c.update_device_token("tok\ud800", True),
        lambda c: c.log_event("E", {"n": 10**30}),
        lambda c: c.log_event("E", {"s": "x" * (MAX_VALUE_LENGTH + 1)}),
    ],
)
def test_strict_mode_raises_tracking_input_error_not_type_error(make_client: Any, call: Any) -> None:
    client = make_client(strict=True)
    with pytest.raises(ua.TrackingInputError):
        call(client)


def test_long_string_values_are_trimmed_and_reported(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    trace = "Traceback (most recent call last):\n" + "  File 'x.py', line 1\n" * 800  # ~17 KB
    client.log_event("Crashed", {"Trace": trace})
    client.set_user_attribute("Bio", "b" * 20_000)
    assert client.flush(30)
    (crash,) = server.events("Crashed")
    assert crash["parameters"][0]["stringValue"] == trace[:MAX_VALUE_LENGTH]
    (attributes,) = server.bodies("usageanalytics/user/attribute")
    assert attributes["userAttributes"][0]["stringValue"] == "b" * MAX_VALUE_LENGTH
    messages = " | ".join(r.getMessage() for r in sdk_log.records)
    assert f"trimmed to {MAX_VALUE_LENGTH:,}" in messages


def test_a_failing_call_is_logged_and_counted(
    make_client: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    caplog.set_level(logging.ERROR, logger="usageanalytics")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(client, "_emit", broken)
    client.log_event("Anything")
    assert any("log_event failed" in r.getMessage() for r in caplog.records)
    assert client.stats().dropped == {"could not be recorded": 1}
