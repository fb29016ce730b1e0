"""The API key stays secret and the data folder stays private."""

from __future__ import annotations

import base64
import logging
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.support.strict_server import StrictServer

SECRET = "s3cr3t-api-key-0123456789"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_key_is_never_logged_or_shown(
    server: StrictServer, make_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, httpx and httpcore included
    server.api_key = "something-else"  # a 401 makes the SDK log an error about the key
    client = make_client(api_key=SECRET, retry_base=0.05)
    client.log_event("Secret Test")
    assert client.flush(2) is False
    server.api_key = SECRET
    assert client.flush(30)
    token = base64.b64encode(f"apikey:{SECRET}".encode()).decode()
    text = "\n".join(f"{r.getMessage()} {r.args}" for r in caplog.records)
    assert "refused the API key" in text
    assert SECRET not in text and token not in text
    assert SECRET not in repr(client) and SECRET not in repr(client.settings)
    assert SECRET not in repr(client._pipeline.sender._transport)


def test_data_folder_and_queue_files_are_private(
    server: StrictServer, make_client: Any, tmp_path: Path
) -> None:
    server.fault = lambda path, body: (
        (400, {}, {"status": "INVALID_INPUT"}) if path.endswith("event") else None
    )
    client = make_client()
    client.log_event("Private")
    assert client.flush(30)
    data = tmp_path / "data"
    assert _mode(data) == 0o700
    assert _mode(data / "queues") == 0o700
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "queue.sqlite" for p in files)
    assert any(p.suffix == ".json" for p in files), "a dead letter was written"
    for path in files:
        assert _mode(path) & 0o077 == 0, f"{path} is readable by others: {oct(_mode(path))}"
