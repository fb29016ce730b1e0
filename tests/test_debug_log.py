"""``debug=True`` shows what the SDK does: bad input, and each delivery with its count."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.support.strict_server import StrictServer


def test_debug_shows_each_delivery(
    make_client: Any, server: StrictServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="usageanalytics")
    client = make_client(debug=True)
    client.log_event("Seen")
    client.log_event("Seen")
    assert client.flush(30)
    delivered = [r.getMessage() for r in caplog.records if "delivered" in r.getMessage()]
    assert any("records to usageanalytics/event" in message for message in delivered), delivered
    assert [e["name"] for e in server.events("Seen")] == ["Seen", "Seen"]
