"""The core's commands, run as real processes: status and replay-dead-letters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.strict_server import StrictServer

ROOT = Path(__file__).resolve().parent.parent


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "usageanalytics", *args],
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT), **env),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_status_and_replay_of_dead_letters(server: StrictServer, make_client: Any, tmp_path: Path) -> None:
    server.fault = lambda path, body: (
        (400, {}, {"status": "INVALID_INPUT", "message": "not today"}) if path.endswith("event") else None
    )
    client = make_client()
    for i in range(3):
        client.log_event("Replayed", {"i": i})
    assert client.shutdown(30)
    data = tmp_path / "data"

    status = cli("status", "--data-dir", str(data))
    assert status.returncode == 0, status.stderr
    assert "queued records   0" in status.stdout
    assert "dead letters     1 batches, 5 records" in status.stdout  # with session start and end
    assert "INVALID_INPUT: not today" in status.stdout
    assert "consent          no choice saved" in status.stdout

    server.fault = None
    replay = cli(
        "replay-dead-letters", "--data-dir", str(data), "--endpoint", server.endpoint,
        USAGEANALYTICS_APP_ID="app-1", USAGEANALYTICS_API_KEY="test-key",
    )  # fmt: skip
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "replayed 1 batches; all sent" in replay.stdout
    assert sorted(e["parameters"][0]["numberValue"] for e in server.events("Replayed")) == [0, 1, 2]
    assert "dead letters     0 batches" in cli("status", "--data-dir", str(data)).stdout


def test_status_of_a_missing_folder_says_so(tmp_path: Path) -> None:
    result = cli("status", "--data-dir", str(tmp_path / "nope"))
    assert result.returncode == 1 and "does not exist" in result.stderr


def test_configure_again_flushes_the_previous_client(server: StrictServer, tmp_path: Path) -> None:
    import usageanalytics as ua

    options = {
        "api_key": "test-key", "endpoint": server.endpoint, "customer_account_id": "acct-1",
        "collect_device_attributes": False,
    }  # fmt: skip
    first = ua.configure("app-1", data_dir=str(tmp_path / "one"), **options)
    ua.log_event("From First")
    second = ua.configure("app-2", data_dir=str(tmp_path / "two"), **options)
    assert ua.get_client() is second and first is not second
    ua.log_event("From Second")
    assert ua.flush(30)
    assert [e["_envelope"]["appId"] for e in server.events("From First")] == ["app-1"]
    assert [e["_envelope"]["appId"] for e in server.events("From Second")] == ["app-2"]
