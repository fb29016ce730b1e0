"""``usageanalytics collector``, ``demo`` and ``export``, run for real."""

from __future__ import annotations

import csv
import io
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from tests.collector import known_data
from tests.collector.conftest import sample
from tests.collector.processes import Command, collector_url
from usageanalytics.cli import main
from usageanalytics.collector.demo_data import APP_ID
from usageanalytics.collector.query import Received
from usageanalytics.collector.server import RunningCollector


@pytest.fixture
def commands() -> Iterator[list[Command]]:
    """Commands started by a test; any still running at the end are killed."""
    started: list[Command] = []
    yield started
    for command in started:
        command.kill()


def test_collector_command_serves_stores_and_stops_cleanly(tmp_path: Path, commands: list[Command]) -> None:
    db = tmp_path / "served.sqlite"
    command = Command("collector", "--port", "0", "--db", str(db), "--api-key", "k", "--log-level", "warning")
    commands.append(command)
    url = collector_url(command)
    assert url.startswith("http://127.0.0.1:")
    assert str(db.resolve()) in command.wait_for_line("  database")
    response = httpx.post(f"{url}/v4/usageanalytics/event", json=sample("event"), auth=("apikey", "k"))
    assert response.json() == {"status": "SUCCESS"}
    assert (
        httpx.post(f"{url}/v4/usageanalytics/event", json=sample("event"), auth=("apikey", "x")).status_code
        == 401
    )
    assert command.stop(signal.SIGTERM) == 0
    with Received(db) as received:
        assert [e["name"] for e in received.events()] == ["Purchase Product"]


def test_demo_seeds_and_exits_without_serving(tmp_path: Path, commands: list[Command]) -> None:
    db = tmp_path / "demo.sqlite"
    command = Command("demo", "--no-serve", "--port", "0", "--db", str(db))
    commands.append(command)
    assert command.finish(180) == 0, command.lines
    assert not any("http://" in line for line in command.lines), command.lines  # nothing serves a URL
    assert any(
        line.startswith("done: the data is in ") and str(db.resolve()) in line for line in command.lines
    )
    with Received(db) as received:
        assert len(received.users(app_id=APP_ID)) == 24


def test_demo_keeps_serving_the_dashboard_until_interrupted(tmp_path: Path, commands: list[Command]) -> None:
    command = Command("demo", "--port", "0", "--db", str(tmp_path / "demo.sqlite"))
    commands.append(command)
    url = command.wait_for_line("open the dashboard: ", timeout=180).split(": ", 1)[1]
    command.wait_for_line("serving until Ctrl-C")
    summary = httpx.get(f"{url}api/summary").json()
    assert summary["totals"]["events"] > 1000 and summary["totals"]["active_users"] >= 20
    assert summary["totals"]["sessions"] > 100
    assert command.stop(signal.SIGINT) == 0


def test_demo_runs_an_example_app_live_beside_the_dashboard(tmp_path: Path, commands: list[Command]) -> None:
    command = Command("demo", "--port", "0", "--db", str(tmp_path / "demo.sqlite"), "--app", "fastapi")
    commands.append(command)
    url = command.wait_for_line("open the dashboard: ", timeout=180).split(": ", 1)[1].rstrip("/")
    app = command.wait_for_line("the fastapi example app: ", timeout=120).split(": ", 1)[1].split("/ ")[0]
    with httpx.Client(base_url=app, timeout=30) as browser:  # keeps the visitor cookie
        assert browser.get("/").status_code == 200
        assert browser.get("/articles/2").status_code == 200

    def screens() -> list[str]:
        answer = httpx.get(f"{url}/api/requests", params={"app_id": "example-fastapi", "limit": 100})
        return [
            event["parameters"][0]["stringValue"]
            for request in answer.json()["requests"]
            for event in (request["body"] or {}).get("events", [])
            if event["name"] == "Screen View"
        ]

    deadline = time.monotonic() + 60  # the example flushes every 5 s
    while sorted(screens()) != ["/", "/articles/{article_id}"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sorted(screens()) == ["/", "/articles/{article_id}"]
    assert command.stop(signal.SIGINT) == 0
    with pytest.raises(httpx.TransportError):  # the example app stopped with the demo
        httpx.get(app, timeout=5)


def test_demo_app_needs_the_dashboard_served(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["demo", "--no-serve", "--app", "fastapi", "--db", str(tmp_path / "d")])
    assert result.exit_code == 2 and "--app needs the dashboard served" in result.output


@pytest.fixture
def known_db(api: httpx.Client, collector: RunningCollector) -> Path:
    known_data.fill(api)
    return collector.db_path


def test_export_jsonl_and_csv(known_db: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--db", str(known_db), "--format", "jsonl"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == known_data.ALL_EVENTS
    added = [e for e in lines if e["name"] == "Added To Cart"]
    assert added[0]["attributes"] == {"Module": "Shop", "Price": 9.5}
    assert "exported 27 rows" in result.stderr

    result = runner.invoke(main, ["export", "--db", str(known_db), "--format", "csv", "--table", "users"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert sorted(r["user_id"] for r in rows) == ["alice", "bob", "carol", "guest-1"]
    assert {r["user_id"]: r["merged_into"] for r in rows}["guest-1"] == "carol"
    assert {r["user_id"]: r["merged_into"] for r in rows}["alice"] == ""


def test_export_everything_to_a_file(known_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "all.jsonl"
    result = CliRunner().invoke(main, ["export", "--db", str(known_db), "--table", "all", "-o", str(out)])
    assert result.exit_code == 0, result.output
    tables = [json.loads(line)["table"] for line in out.read_text().splitlines()]
    assert tables.count("events") == 27 and tables.count("customers") == 3 and "requests" in tables


def test_export_refuses_what_it_cannot_do(known_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["export", "--db", str(known_db), "--format", "csv", "--table", "all"])
    assert result.exit_code == 2 and "one table at a time" in result.output
    result = runner.invoke(main, ["export", "--db", str(known_db), "--table", "nothing"])
    assert result.exit_code == 2 and "no table 'nothing'" in result.output
    result = runner.invoke(main, ["export", "--db", str(tmp_path / "missing.sqlite")])
    assert result.exit_code == 1 and "no collector database" in result.output


def test_help_lists_the_collector_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for name in ("collector", "demo", "export"):
        assert name in result.output
