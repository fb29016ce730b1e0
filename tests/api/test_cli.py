"""The admin commands as a user runs them: ``usageanalytics ...`` in a subprocess, against the collector."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.api.conftest import API_KEY, APP_ID
from usageanalytics.collector.server import RunningCollector


def run(collector: RunningCollector, *args: str, api_key: str = API_KEY) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        USAGEANALYTICS_APP_ID=APP_ID,
        USAGEANALYTICS_API_KEY=api_key,
        USAGEANALYTICS_ENDPOINT=collector.endpoint,
    )
    return subprocess.run(
        [sys.executable, "-m", "usageanalytics", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_contacts_import_saves_in_batches_and_reports_every_unsaved_row(
    collector: RunningCollector, tmp_path: Path
) -> None:
    source = tmp_path / "contacts.csv"
    source.write_text(
        "Email,First Name,last_name,customerContactId,role\n"
        "david.lyon@example.com,David,Lyon,EZ141,Lead Engineer\n"
        ",Andrew,Shaw,EZ143,Data Scientist\n"
        "not-an-email,Bad,Row,,\n"
        "anne@example.com,Anne,Rodriguez,,VP Customer Success\n"
        "arturo@example.com,Arturo,Rains,,\n",
        encoding="utf-8-sig",  # as spreadsheets save it, with a byte order mark
    )
    unsaved = tmp_path / "unsaved.csv"
    done = run(
        collector, "contacts", "import", str(source), "--batch-size", "2", "--unsaved-csv", str(unsaved)
    )
    assert done.returncode == 1, done.stderr
    assert "saved 3 of 5 contacts; 2 unsaved" in done.stdout
    assert "row 3: not sent: email is required" in done.stdout
    assert "row 4: the server did not save it" in done.stdout
    with unsaved.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["First Name"], row["reason"]) for row in rows] == [
        ("Andrew", "not sent: email is required"),
        ("Bad", "the server did not save it"),
    ]
    stored = {c["email"]: c for c in collector.contacts(app_id=APP_ID)}
    assert sorted(stored) == ["anne@example.com", "arturo@example.com", "david.lyon@example.com"]
    assert stored["david.lyon@example.com"]["customerContactId"] == "EZ141"
    assert "role" not in stored["arturo@example.com"]  # empty cells are not sent as ""

    listed = run(collector, "contacts", "list", "--page-size", "2")
    assert listed.returncode == 0, listed.stderr
    assert "3 contacts" in listed.stdout
    assert "Lead Engineer" in listed.stdout


def test_an_import_with_an_unknown_column_stops_before_sending(
    collector: RunningCollector, tmp_path: Path
) -> None:
    source = tmp_path / "agents.csv"
    source.write_text("email,first_name,shoe_size\na@example.com,A,44\n", encoding="utf-8")
    done = run(collector, "agents", "import", str(source))
    assert done.returncode == 2
    assert "unknown column(s) 'shoe_size'" in done.stderr
    assert collector.requests() == []


def test_tickets_create_list_and_delete(collector: RunningCollector) -> None:
    created = run(
        collector,
        "tickets",
        "create",
        "--name",
        "Payment subdue",
        "--priority",
        "High",
        "--due",
        "2021-01-12",
    )
    assert created.returncode == 0, created.stderr
    ticket_id = created.stdout.strip()
    listed = run(collector, "tickets", "list")
    assert listed.returncode == 0, listed.stderr
    assert ticket_id in listed.stdout and "Payment subdue" in listed.stdout and "2021-01-12" in listed.stdout
    as_json = json.loads(run(collector, "tickets", "list", "--json").stdout)
    assert [(t["ticket_id"], t["priority"]) for t in as_json] == [(ticket_id, "High")]
    assert run(collector, "tickets", "delete", ticket_id).returncode == 0
    again = run(collector, "tickets", "delete", ticket_id)
    assert again.returncode == 1
    assert "not found" in again.stderr


def test_a_wrong_key_is_one_clear_line(collector: RunningCollector) -> None:
    done = run(collector, "tickets", "list", api_key="wrong")
    assert done.returncode == 1
    assert "the API key was refused" in done.stderr
    assert "Traceback" not in done.stderr
