"""Delivery: retries with the same idempotency id, dead letters, pauses, bounds and timeouts."""

from __future__ import annotations

import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import usageanalytics as ua
from tests.support.strict_server import StrictServer
from usageanalytics import sender as sender_module
from usageanalytics.status import read_status

FAST_RETRY = {"retry_base": 0.05, "retry_cap": 0.2}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _eventually(predicate: Any, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _ids(server: StrictServer, path: str) -> list[str]:
    return [a.body["idempotencyId"] for a in server.attempts if a.path == path]


def _indexes(server: StrictServer, name: str) -> list[int]:
    return [e["parameters"][0]["numberValue"] for e in server.events(name)]


def test_server_down_then_up_delivers_everything_once(tmp_path: Path) -> None:
    port = free_port()
    failures: list[dict[str, Any]] = []
    client = ua.Client(
        "app-1", api_key="test-key", endpoint=f"http://127.0.0.1:{port}/v4/",
        data_dir=str(tmp_path), customer_account_id="acct-1", collect_device_attributes=False,
        **FAST_RETRY,
    )  # fmt: skip
    try:
        with ua.signals.batch_failed.connected_to(lambda s, **i: failures.append(i), sender=client):
            for i in range(50):
                client.log_event("Offline", {"i": i})
            assert client.flush(1) is False
        assert failures and "ConnectError" in failures[0]["reason"]
        assert read_status(tmp_path).queued > 0
        _comes_up_and_gets_everything_once(client, port, 50)
    finally:
        client.shutdown(2)


def _comes_up_and_gets_everything_once(client: ua.Client, port: int, count: int) -> None:
    with StrictServer(port=port) as server:
        assert client.flush(60)
        assert sorted(_indexes(server, "Offline")) == list(range(count))
        assert server.duplicates == 0


def test_a_large_round_that_fails_waits_in_small_outbox_items_and_is_delivered_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round is read and formed whole (up to RECORDS_PER_ROUND records, bodies not decoded),
    but what a failed round leaves in the outbox is split into items a retry can decode without
    a memory spike, queued together; after the outage every record arrives once."""
    from usageanalytics import records, sender

    monkeypatch.setattr(sender, "OUTBOX_ITEM_RECORDS", 700)
    port = free_port()
    client = ua.Client(
        "app-1", api_key="test-key", endpoint=f"http://127.0.0.1:{port}/v4/",
        data_dir=str(tmp_path), customer_account_id="acct-1", collect_device_attributes=False,
        flush_interval=3600, retry_base=600, retry_cap=600,  # no retry rewrites an item meanwhile
    )  # fmt: skip
    failures: list[dict[str, Any]] = []
    try:
        with ua.signals.batch_failed.connected_to(lambda s, **i: failures.append(i), sender=client):
            for visitor in range(30):
                with ua.identity(guest_id=f"visitor-{visitor}"):
                    for i in range(100):
                        client.log_event("Offline", {"i": visitor * 100 + i})
            client.flush(0.1)
            assert _eventually(lambda: failures, timeout=60)  # the round failed: its rest is stored
        store = client._pipeline.stores.own
        items = [records.decode_outbox(item.data) for item in store.outbox.rows()]
        sizes = [sum(request["count"] for request in item["requests"]) for item in items]
        assert len(items) > 1 and max(sizes) <= 700 and sum(sizes) >= 3000, sizes
        assert len({item["round"] for item in items}) == 1 and sum(item["held"] for item in items) == 0
        _comes_up_and_gets_everything_once(client, port, 3000)
    finally:
        client.shutdown(2)


def test_503_storm_is_retried_with_the_same_idempotency_id(server: StrictServer, make_client: Any) -> None:
    remaining = {"failures": 6}

    def storm(path: str, body: dict[str, Any]) -> Any:
        if path == "usageanalytics/event" and remaining["failures"] > 0:
            remaining["failures"] -= 1
            return 503, {}, {"status": "ERROR", "message": "overloaded"}
        return None

    server.fault = storm
    client = make_client(**FAST_RETRY)
    for i in range(10):
        client.log_event("Stormy", {"i": i})
    assert client.flush(60)
    assert sorted(_indexes(server, "Stormy")) == list(range(10))
    ids = _ids(server, "usageanalytics/event")
    assert len(ids) == 7 and len(set(ids)) == 1, "every retry reuses the batch's idempotency id"


def test_200_with_error_status_is_not_an_acknowledgement(server: StrictServer, make_client: Any) -> None:
    remaining = {"errors": 2}

    def error_once(path: str, body: dict[str, Any]) -> Any:
        if path == "usageanalytics/event" and remaining["errors"]:
            remaining["errors"] -= 1
            return 200, {}, {"status": "ERROR"}
        return None

    server.fault = error_once
    client = make_client(**FAST_RETRY)
    client.log_event("Eventually")
    assert client.flush(60)
    assert len(server.events("Eventually")) == 1
    assert len(set(_ids(server, "usageanalytics/event"))) == 1


def test_429_retry_after_is_honoured(server: StrictServer, make_client: Any) -> None:
    answered = {"count": 0}

    def limited(path: str, body: dict[str, Any]) -> Any:
        if path == "usageanalytics/event" and answered["count"] == 0:
            answered["count"] += 1
            return 429, {"Retry-After": "2"}, {"status": "ERROR", "message": "slow down"}
        return None

    server.fault = limited
    client = make_client(retry_base=0.05, retry_cap=5.0)  # Retry-After is honoured up to retry_cap
    client.log_event("Limited")
    assert client.flush(60)
    attempts = [a for a in server.attempts if a.path == "usageanalytics/event"]
    assert len(attempts) == 2
    assert attempts[1].at - attempts[0].at >= 2.0, "not before Retry-After, even with fast backoff"


def test_401_pauses_sending_and_keeps_the_queue(
    server: StrictServer, make_client: Any, sdk_log: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    server.api_key = "the-right-key"
    client = make_client(**FAST_RETRY)  # sends "test-key"
    for i in range(5):
        client.log_event("Unauthorised", {"i": i})
    assert client.flush(2) is False
    messages = [r.getMessage() for r in sdk_log.records]
    assert any("refused the API key" in m and "paused" in m for m in messages)
    assert not any("test-key" in m for m in messages), "the key never appears in logs"
    # With a 50 ms backoff, two seconds of retrying would be dozens of attempts: paused, it is one.
    assert len(server.attempts) == 1
    assert read_status(tmp_path / "data").queued >= 5
    server.api_key = "test-key"  # the operator fixed the key: flush() tries again at once
    assert client.flush(30)
    assert sorted(_indexes(server, "Unauthorised")) == list(range(5))


@pytest.mark.parametrize(
    "answer",
    [
        (400, {"status": "INVALID_INPUT", "message": "events[0].name: bad"}),
        (200, {"status": "INVALID_INPUT"}),
    ],
)
def test_rejected_batch_goes_to_dead_letters_and_can_be_replayed(
    server: StrictServer, make_client: Any, answer: tuple[int, dict[str, Any]]
) -> None:
    rejections = {"left": 1}

    def reject_once(path: str, body: dict[str, Any]) -> Any:
        if path == "usageanalytics/event" and rejections["left"]:
            rejections["left"] -= 1
            return answer[0], {}, answer[1]
        return None

    server.fault = reject_once
    client = make_client(**FAST_RETRY)
    rejected: list[dict[str, Any]] = []
    with ua.signals.batch_rejected.connected_to(lambda s, **i: rejected.append(i), sender=client):
        client.log_event("Refused", {"i": 1})
        assert client.flush(30), "a dead-lettered batch is settled, not pending"
    assert server.events("Refused") == []
    (letter,) = client.dead_lettered()
    assert letter.status_code == answer[0] and "INVALID_INPUT" in letter.reason
    assert letter.path.exists() and oct(letter.path.stat().st_mode & 0o777) == "0o600"
    assert rejected[0]["dead_letter"] == str(letter.path)
    assert read_status(client.data_dir).dead_letters == 1
    assert client.replay_dead_letters() == 1
    assert client.flush(30)
    assert [e["name"] for e in server.events("Refused")] == ["Refused"]
    assert client.dead_lettered() == []


def test_size_bound_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    port = free_port()
    dropped: Counter[str] = Counter()
    client = ua.Client(
        "app-1", api_key="test-key", endpoint=f"http://127.0.0.1:{port}/v4/",
        data_dir=str(tmp_path), customer_account_id="acct-1", collect_device_attributes=False,
        max_queued_records=100, **FAST_RETRY,
    )  # fmt: skip
    try:
        with ua.signals.record_dropped.connected_to(
            lambda s, **i: dropped.update({"records": i["count"]}), sender=client
        ):
            for batch in range(3):
                for i in range(100):
                    client.log_event("Bounded", {"i": batch * 100 + i})
                assert client._pipeline.writer.persist_now(30)
            assert client.flush(0.5) is False
        assert _eventually(lambda: read_status(tmp_path).queued <= 100)
        with StrictServer(port=port) as server:
            assert client.flush(30)
            received = sorted(_indexes(server, "Bounded"))
        total_records = 300 + 2  # the events, the guest's user upsert, the session start
        assert len(server.events()) + len(server.bodies("usageanalytics/user")) + dropped["records"] == (
            total_records
        )
        assert received == list(range(300 - len(received), 300)), "the newest records are kept"
        assert len(received) >= 90
    finally:
        client.shutdown(2)


def test_records_older_than_the_age_bound_are_dropped(tmp_path: Path) -> None:
    port = free_port()
    dropped: list[int] = []
    client = ua.Client(
        "app-1", api_key="test-key", endpoint=f"http://127.0.0.1:{port}/v4/",
        data_dir=str(tmp_path), customer_account_id="acct-1", collect_device_attributes=False,
        max_record_age=0.5, **FAST_RETRY,
    )  # fmt: skip
    try:
        with ua.signals.record_dropped.connected_to(lambda s, **i: dropped.append(i["count"]), sender=client):
            client.log_event("Stale")
            assert client.flush(0.2) is False
            deadline = time.time() + 0.6
            while time.time() < deadline:  # let the records age past the bound
                time.sleep(0.05)
            with StrictServer(port=port) as server:
                assert client.flush(30)
                assert server.events("Stale") == []
        assert sum(dropped) >= 2
    finally:
        client.shutdown(2)


def test_flush_and_shutdown_return_within_their_timeout_when_the_server_hangs(
    server: StrictServer, make_client: Any
) -> None:
    server.hang.set()
    client = make_client(timeout=30.0)
    client.log_event("Hanging")
    started = time.monotonic()
    assert client.flush(1.0) is False
    assert client.shutdown(1.0) is False
    assert time.monotonic() - started < 20.0  # 1 s + 1 s asked; generous for a loaded machine


def test_a_retry_after_restart_keeps_the_idempotency_id(server: StrictServer, make_client: Any) -> None:
    server.fault = lambda path, body: (503, {}, {"status": "ERROR"}) if path.endswith("event") else None
    first = make_client(**FAST_RETRY)
    first.log_event("Persistent Retry")
    assert first.flush(1) is False
    assert first.shutdown(1) is False
    failed_ids = set(_ids(server, "usageanalytics/event"))
    assert len(failed_ids) == 1
    server.fault = None
    second = make_client(**FAST_RETRY)
    assert second.flush(30)
    assert len(server.events("Persistent Retry")) == 1
    sent = {body["idempotencyId"] for body in server.bodies("usageanalytics/event")}
    assert failed_ids <= sent, "the batch that failed before the restart went out under its id"


def test_a_full_batch_is_sent_without_waiting_for_the_interval(
    server: StrictServer, make_client: Any
) -> None:
    client = make_client(flush_interval=3600, batch_size=50)
    for i in range(60):
        client.log_event("Burst", {"i": i})
    assert server.wait_for(lambda: len(server.events("Burst")) >= 50, 30), "no flush() was called"


def test_many_visitors_wake_the_sender_per_full_batch_not_per_record(make_client: Any) -> None:
    client = make_client(flush_interval=3600, batch_size=50)
    wakes: list[bool] = []
    original = client._pipeline.sender.wake

    def counting_wake(forced: bool = False) -> None:
        wakes.append(forced)
        original(forced)

    client._pipeline.sender.wake = counting_wake
    for visitor in range(200):  # 400 records over 200 envelopes: no envelope has a full batch
        with ua.identity(guest_id=f"visitor-{visitor}"):
            client.log_screen_view("Home")
    assert client._pipeline.writer.persist_now(30)
    assert wakes == []
    with ua.identity(guest_id="visitor-7"):
        for i in range(60):
            client.log_event("Busy Visitor", {"i": i})
    assert client._pipeline.writer.persist_now(30)
    assert wakes == [False]


def test_records_logged_while_a_round_is_posted_wait_for_the_next_wake(
    server: StrictServer, make_client: Any
) -> None:
    """A busy server's visitors go on logging while the sender posts a round. Those records wait
    for the next wake (a full batch, the interval, flush()); a round of their own at once would
    post a request per visitor for a few records each, round after round."""
    client = make_client(flush_interval=3600, batch_size=50)
    sender = client._pipeline.sender
    server.hang.set()
    for i in range(50):  # a full batch: wakes the sender
        client.log_event("Burst", {"i": i})
    assert server.held.wait(30)
    for i in range(5):
        client.log_event("Meanwhile", {"i": i})
    assert client._pipeline.writer.persist_now(30)
    cycles = sender._cycles
    server.release()
    assert _eventually(lambda: sender._cycles > cycles)
    assert len(server.events("Burst")) == 50
    assert server.events("Meanwhile") == []
    assert client.stats().queued == 5
    assert client.flush(30)
    assert sorted(_indexes(server, "Meanwhile")) == list(range(5))


def test_a_backlog_goes_out_round_after_round_on_one_wake(
    server: StrictServer, make_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round that comes out full means more is waiting (an offline hour, say): the sender goes
    on with the next round at once, until one is not full."""
    monkeypatch.setattr(sender_module, "RECORDS_PER_ROUND", 20)
    client = make_client(flush_interval=3600, batch_size=500)
    sender = client._pipeline.sender
    for chunk in range(5):  # five chunks of ten records: rounds of 20, 20 and 10
        for i in range(10):
            client.log_event("Backlog", {"i": chunk * 10 + i})
        assert client._pipeline.writer.persist_now(30)
    assert server.events("Backlog") == []
    cycles = sender._cycles
    sender.wake()  # as a full batch or the interval wakes it: not a flush
    assert _eventually(lambda: sender._cycles > cycles)
    assert sorted(_indexes(server, "Backlog")) == list(range(50))
    assert server.duplicates == 0


def test_size_bound_drops_records_formed_for_sending_before_newer_ones_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The oldest records go first even when they already sit in a formed request (the outbox)
    and newer ones wait in the inbox: the item's own enqueue time is not their age."""
    from usageanalytics import sender

    monkeypatch.setattr(sender, "RECORDS_PER_ROUND", 100)  # a round takes the first chunk only
    port = free_port()
    dropped: Counter[str] = Counter()
    client = ua.Client(
        "app-1", api_key="test-key", endpoint=f"http://127.0.0.1:{port}/v4/",
        data_dir=str(tmp_path), customer_account_id="acct-1", collect_device_attributes=False,
        max_queued_records=250, **FAST_RETRY,
    )  # fmt: skip
    own = client._pipeline.stores.own
    try:
        with ua.signals.record_dropped.connected_to(
            lambda s, **i: dropped.update({"records": i["count"]}), sender=client
        ):
            for batch in range(2):  # 202 records with the user upsert and the session start
                for i in range(100):
                    client.log_event("Bounded", {"i": batch * 100 + i})
                assert client._pipeline.writer.persist_now(30)
            assert client.flush(0.5) is False  # the server is down: the first chunk is formed
            assert _eventually(lambda: own.outbox.ready() + own.outbox.in_flight() == 1)
            assert own.inbox.ready() == 1, "the second chunk still waits, enqueued before the outbox item"
            for i in range(200, 300):
                client.log_event("Bounded", {"i": i})
            assert client._pipeline.writer.persist_now(30)
            assert _eventually(lambda: read_status(tmp_path).queued <= 250)
        with StrictServer(port=port) as server:
            assert client.flush(30)
            received = sorted(_indexes(server, "Bounded"))
        assert len(server.events()) + len(server.bodies("usageanalytics/user")) + dropped["records"] == 302
        assert received == list(range(300 - len(received), 300)), "the oldest records went first"
        assert len(received) >= 148
    finally:
        client.shutdown(5)
