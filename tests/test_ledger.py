"""The ledger: every record delivered, dead-lettered, dropped (with a reason) or still queued."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import usageanalytics as ua
from tests.support.strict_server import StrictServer
from tests.test_delivery import free_port
from usageanalytics.ledger import INVALID_INPUT, Stats
from usageanalytics.records import Record
from usageanalytics.status import read_status

ROOT = Path(__file__).resolve().parent.parent
LEGACY = Path(__file__).resolve().parent / "data" / "legacy_folder"
FAST = {"retry_base": 0.05, "retry_cap": 0.2}


def _indexes(server: StrictServer, name: str) -> list[int]:
    return sorted(e["parameters"][0]["numberValue"] for e in server.events(name))


def test_stats_balances_through_delivery_rejection_and_refusal(
    server: StrictServer, make_client: Any
) -> None:
    server.fault = lambda path, body: (
        (400, {}, {"status": "INVALID_INPUT", "message": "no"})
        if path.endswith("event") and body["events"][0]["name"] == "Rejected"
        else None
    )
    dropped: Counter[str] = Counter()
    client = make_client(**FAST)
    with ua.signals.record_dropped.connected_to(
        lambda s, **i: dropped.update({i["reason"]: i["count"]}), sender=client
    ):
        with ua.identity("visitor", customer_account_id="acct-1", session_id="s-1"):
            client.log_event("Rejected")
        client.log_event("Sent", {"n": 1})
        client.log_event("")  # refused at the call
        client.set_user_attribute("Bad", object())  # type: ignore[arg-type]
        assert client.flush(30)
    stats = client.stats()
    assert stats.balanced, stats
    assert stats.dead_lettered == 1  # the "Rejected" event (its request had nothing else)
    assert stats.dropped == {INVALID_INPUT: 2}
    assert dropped == Counter({INVALID_INPUT: 2}), "each drop is signalled"
    assert stats.queued == stats.held == stats.in_memory == 0
    # user upserts (process guest, visitor), session start, "Sent": all delivered
    assert stats.delivered == stats.logged - 1 - 2
    assert stats.logged == stats.delivered + stats.dead_lettered + stats.dropped_total


def test_stats_shape() -> None:
    stats = Stats(logged=5, delivered=2, dead_lettered=1, dropped={"x": 1}, queued=1)
    assert stats.balanced and stats.dropped_total == 1
    assert stats.as_dict() == {
        "logged": 5, "adopted": 0, "replayed": 0, "delivered": 2, "dead_lettered": 1, "dropped": {"x": 1},
        "queued": 1, "held": 0, "in_memory": 0, "quarantined": 0,
    }  # fmt: skip


def test_held_records_are_queued_and_flush_says_false(server: StrictServer, make_client: Any) -> None:
    client = make_client(customer_account_id=None)
    client.log_event("Waiting")
    assert client.flush(2) is False
    stats = client.stats()
    assert stats.held == 3 and stats.queued == 0 and stats.balanced  # user upsert, session start, event
    client.set_user("u-1", customer_account_id="acct-9")
    assert client.flush(30)
    after = client.stats()
    assert after.held == 0 and after.balanced
    assert after.dropped == {"superseded by login": 1}, "the guest's own upsert gives way to the login"


def test_totals_reach_the_data_folder_and_status_shows_them(
    server: StrictServer, make_client: Any, tmp_path: Path
) -> None:
    client = make_client()
    for i in range(3):
        client.log_event("Counted", {"i": i})
    client.log_event("")
    assert client.shutdown(30)
    data = tmp_path / "data"
    totals = read_status(data).totals
    assert totals["delivered"] == 6  # the guest's upsert, session start and end, three events
    assert totals["logged"] == 7 and totals[f"dropped:{INVALID_INPUT}"] == 1
    env = dict(os.environ, PYTHONPATH=str(ROOT), USAGEANALYTICS_DATA_DIR=str(data))
    env.pop("USAGEANALYTICS_APP_ID", None)
    shown = subprocess.run(
        [sys.executable, "-m", "usageanalytics", "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "delivered      6" in shown.stdout and "logged         7" in shown.stdout
    assert f"1  {INVALID_INPUT}" in shown.stdout
    help_text = subprocess.run(
        [sys.executable, "-m", "usageanalytics", "status", "--help"], env=env, capture_output=True, text=True
    ).stdout
    assert "USAGEANALYTICS_DATA_DIR" in help_text and "USAGEANALYTICS_APP_ID" in help_text


def test_a_folder_written_by_the_previous_release_is_read_and_delivered(
    server: StrictServer, tmp_path: Path
) -> None:
    """tests/data/legacy_folder was written by release 0.1 (see make_legacy_folder.py): an outbox
    request, held records of a guest without an account, and inbox chunks, in its formats."""
    data = tmp_path / "legacy"
    shutil.copytree(LEGACY, data)
    client = ua.Client(
        "app-1", api_key="test-key", endpoint=server.endpoint, data_dir=str(data),
        customer_account_id="acct-1", collect_device_attributes=False, **FAST,
    )  # fmt: skip
    try:
        client.set_user("user-1", customer_account_id="acct-1")  # the guest logs in: held go out
        assert client.flush(30)
        for name in ("Outboxed", "Held", "Inboxed"):
            assert _indexes(server, name) == list(range(10)), name
        assert {e["_envelope"]["userId"] for e in server.events("Held")} == {"user-1"}
        assert server.rejected == [] and server.duplicates == 0
        stats = client.stats()
        assert stats.adopted > 0 and stats.balanced, stats
    finally:
        client.shutdown(5)
    assert not list((data / "queues").glob("*/")), "the adopted folders were emptied and removed"


def _user_of(record: Record) -> Any:
    return record["envelope"].get("userId")


def test_discard_reaches_memory_inbox_outbox_held_and_adopted_queues(tmp_path: Path) -> None:
    port = free_port()  # the server is down until the end: everything stays queued
    options: dict[str, Any] = {
        "api_key": "test-key", "endpoint": f"http://127.0.0.1:{port}/v4/", "data_dir": str(tmp_path),
        "flush_interval": 3600, "write_interval": 3600, "collect_device_attributes": False,
        "retry_base": 60, "retry_cap": 60,
    }  # fmt: skip
    forget = {"customer_account_id": "acct-1"}
    # A dead process's queue, to be adopted: "forget" has records there too.
    dead = ua.Client("app-1", **options)
    for user in ("forget", "keep"):
        with ua.identity(user, **forget):
            dead.log_event("In Adopted Queue")
    assert dead.shutdown(0.5) is False
    client = ua.Client("app-1", **options)
    try:
        client.set_user("forget")  # the process user, with no account: their records are held
        client.log_event("Held")
        for user in ("forget", "keep"):
            with ua.identity(user, **forget):
                client.log_event("Outboxed")
        assert client.flush(1) is False  # the round went to the outbox and held; the post failed
        with ua.identity("forget", **forget):
            client.log_event("Inboxed")
        writer = client._pipeline.writer
        assert writer is not None and writer.persist_now(10)
        with ua.identity("forget", **forget):
            client.log_event("In Memory")
        client.set_user("someone-else", customer_account_id="acct-1")  # ends forget's session
        before = client.stats()
        assert before.held >= 2 and before.in_memory >= 1 and before.queued >= 4 and before.adopted >= 2
        dropped: list[int] = []
        with ua.signals.record_dropped.connected_to(lambda s, **i: dropped.append(i["count"]), sender=client):
            count = client.discard_queued(lambda record: _user_of(record) == "forget", "forgotten")
        after = client.stats()
        assert count == sum(dropped) == after.dropped["forgotten"]
        assert after.balanced, after
        assert after.held == 0 and after.in_memory == 0
        # held: upsert + session start + event; memory: 1; adopted: upsert, start, event;
        # outbox: the "Outboxed" event; inbox: the "Inboxed" event
        assert count >= 9
        with StrictServer(port=port) as server:
            assert client.flush(30)
            users = {e["_envelope"]["userId"] for e in server.events()}
            users |= {b["userId"] for b in server.bodies("usageanalytics/user")}
            assert "forget" not in users and "keep" in users
            kept = {e["name"] for e in server.events() if e["_envelope"]["userId"] == "keep"}
            assert kept >= {"In Adopted Queue", "Outboxed"}
        assert client.stats().balanced
    finally:
        client.shutdown(2)


def test_a_failing_discard_filter_keeps_the_record(make_client: Any) -> None:
    client = make_client(flush_interval=3600)
    client.log_event("Kept")

    def broken(record: Record) -> bool:
        raise RuntimeError("filter bug")

    assert client.discard_queued(broken, "forgotten") == 0
    assert client.flush(30)
    assert client.stats().dropped == {}


@pytest.mark.parametrize("timeout", ["soon", None, float("nan"), -1])
def test_flush_and_shutdown_take_any_timeout(make_client: Any, timeout: Any) -> None:
    client = make_client()
    client.log_event("Any Timeout")
    assert client.flush(timeout) is True
    assert client.shutdown(timeout) is True
