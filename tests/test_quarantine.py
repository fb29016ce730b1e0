"""Damaged queue data is moved aside (one log line, its records counted); the rest is delivered.

Issue 12, case 5: a corrupt item stranded its intact neighbour forever; a malformed database was
logged every 30 s and never set aside; a truncated write-ahead log made a queue look empty and
its records were deleted without a word.
"""

from __future__ import annotations

import signal
import sqlite3
import zlib
from pathlib import Path

import orjson
import pytest

import usageanalytics as ua
from tests.support.strict_server import StrictServer
from tests.test_delivery import free_port
from tests.test_processes import FAST, read_until, start_child
from usageanalytics.ledger import CORRUPT
from usageanalytics.status import read_status


def _indexes(server: StrictServer, name: str) -> list[int]:
    return sorted(e["parameters"][0]["numberValue"] for e in server.events(name))


def _crashed_offline(data: Path, bursts: int = 4) -> Path:
    """A process that wrote ``bursts`` inbox items while offline, then died (SIGKILL); returns
    its queue database, left as it was."""
    child = start_child(
        "log",
        {
            "configure": {
                "endpoint": f"http://127.0.0.1:{free_port()}/v4/", "data_dir": str(data),
                "flush_interval": 3600, **FAST,
            },
            "count": 10,
            "name": "Batch 0",
            "bursts": [{"name": f"Batch {n}", "count": 10} for n in range(1, bursts)],
            "linger": True, "persist": True,
        },
    )  # fmt: skip
    try:
        read_until(child.stdout, lambda line: line == "PERSISTED")  # type: ignore[arg-type]
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    (db,) = data.glob("queues/*/queue.sqlite")
    return db


def _checkpoint(db: Path) -> None:
    """Move the write-ahead log into the database file (else damage to the file is masked)."""
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


def _deliver(server: StrictServer, data: Path) -> ua.Client:
    return ua.Client(
        "app-1", api_key="test-key", endpoint=server.endpoint, data_dir=str(data),
        customer_account_id="acct-1", collect_device_attributes=False, retry_base=0.05, retry_cap=0.2,
    )  # fmt: skip


def test_a_corrupt_item_is_quarantined_and_its_neighbours_delivered(
    server: StrictServer, tmp_path: Path, sdk_log: pytest.LogCaptureFixture
) -> None:
    db = _crashed_offline(tmp_path)
    with sqlite3.connect(db) as connection:
        ids = [
            row[0]
            for row in connection.execute("SELECT _id FROM ack_queue_inbox WHERE status < 5 ORDER BY _id")
        ]
        assert len(ids) == 4
        connection.execute(
            "UPDATE ack_queue_inbox SET data = ? WHERE _id = ?", (b'{"id": "broken", "n": 10, "r": [', ids[1])
        )
    client = _deliver(server, tmp_path)
    try:
        assert client.flush(30), "nothing stays stuck in flight"
        for batch in (2, 3):
            assert _indexes(server, f"Batch {batch}") == list(range(10))
        assert _indexes(server, "Batch 0") == list(range(10)), "the intact neighbour is delivered"
        assert server.events("Batch 1") == []
        stats = client.stats()
        assert stats.dropped == {CORRUPT: 10} and stats.quarantined == 1 and stats.balanced
        (aside,) = (tmp_path / "quarantine").glob("*.item")
        assert aside.read_bytes().startswith(b'{"id": "broken"')
        lines = [r.getMessage() for r in sdk_log.records if "damaged inbox item" in r.getMessage()]
        assert len(lines) == 1 and str(aside) in lines[0]
    finally:
        client.shutdown(5)
    assert read_status(tmp_path).quarantined == 1


def test_a_malformed_queue_database_is_moved_aside_once(
    server: StrictServer, tmp_path: Path, sdk_log: pytest.LogCaptureFixture
) -> None:
    db = _crashed_offline(tmp_path)
    folder = db.parent
    _checkpoint(db)
    db.write_bytes(b"this is not a database" * 100)
    client = _deliver(server, tmp_path)
    try:
        assert client.flush(30)
        assert not folder.exists(), "the damaged folder was moved out of the queues"
        (aside,) = (tmp_path / "quarantine").iterdir()
        assert (aside / "queue.sqlite").read_bytes().startswith(b"this is not a database")
        messages = [r.getMessage() for r in sdk_log.records if "is damaged" in r.getMessage()]
        assert len(messages) == 1 and str(aside) in messages[0]
        assert client.stats().quarantined == 1
    finally:
        client.shutdown(5)


def test_what_can_be_read_from_a_damaged_database_is_salvaged(
    server: StrictServer, tmp_path: Path, sdk_log: pytest.LogCaptureFixture
) -> None:
    db = _crashed_offline(tmp_path)
    _checkpoint(db)
    with sqlite3.connect(db) as connection:
        (root,) = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ack_queue_outbox'"
        ).fetchone()
        (page_size,) = connection.execute("PRAGMA page_size").fetchone()
    raw = bytearray(db.read_bytes())
    raw[(root - 1) * page_size : root * page_size] = b"\xff" * page_size  # the outbox table: garbage
    db.write_bytes(bytes(raw))
    client = _deliver(server, tmp_path)
    try:
        assert client.flush(30)
        for batch in range(4):  # the inbox was intact: every batch is recovered
            assert _indexes(server, f"Batch {batch}") == list(range(10))
        (message,) = [r.getMessage() for r in sdk_log.records if "is damaged" in r.getMessage()]
        assert "items were recovered" in message and "outbox" in message
        assert client.stats().quarantined == 1
    finally:
        client.shutdown(5)


def test_a_truncated_write_ahead_log_is_reported_and_kept(
    server: StrictServer, tmp_path: Path, sdk_log: pytest.LogCaptureFixture
) -> None:
    child = start_child(
        "log",
        {
            "configure": {
                "endpoint": f"http://127.0.0.1:{free_port()}/v4/", "data_dir": str(tmp_path),
                "flush_interval": 3600, **FAST,
            },
            "count": 50,
            "name": "Early",
            "bursts": [{"count": 50, "name": "Late"}],
            "linger": True, "persist": True,
        },
    )  # fmt: skip
    try:
        read_until(child.stdout, lambda line: line == "PERSISTED")  # type: ignore[arg-type]
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
    (wal,) = tmp_path.glob("queues/*/queue.sqlite-wal")
    size = wal.stat().st_size
    with wal.open("r+b") as handle:  # cut the last frame in half: the last write is gone
        handle.truncate(size - 2000)
    client = _deliver(server, tmp_path)
    try:
        assert client.flush(30)
        assert _indexes(server, "Early") == list(range(50))
        messages = [
            r.getMessage() for r in sdk_log.records if "write-ahead log is cut short" in r.getMessage()
        ]
        assert len(messages) == 1
        (copy,) = (tmp_path / "quarantine").iterdir()
        assert (copy / "queue.sqlite-wal").stat().st_size == size - 2000, "the evidence is kept"
        assert client.stats().quarantined == 1
    finally:
        client.shutdown(5)


def test_records_whose_envelope_cannot_be_sent_are_counted_and_the_round_goes_on(
    server: StrictServer, tmp_path: Path
) -> None:
    """An item intact by its CRC (rewritten by hand) whose envelope has a list for a user id:
    forming its round fails on it, so its records are counted as malformed and the rest of the
    round is formed and delivered; every cycle failing on the same round would strand them all."""
    db = _crashed_offline(tmp_path)
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT _id, data FROM ack_queue_inbox WHERE status < 5 ORDER BY _id"
        ).fetchall()
        item_id, data = rows[1]
        head_line, _, rest = bytes(data).partition(b"\n")
        head, lines = orjson.loads(head_line), rest.split(b"\n")
        assert head["ne"] == 1, "one process, one user: one envelope"
        lines[0] = orjson.dumps(dict(orjson.loads(lines[0]), userId=["not", "an", "id"]))
        rest = b"\n".join(lines)
        damaged = orjson.dumps(dict(head, c=zlib.crc32(rest))) + b"\n" + rest
        connection.execute("UPDATE ack_queue_inbox SET data = ? WHERE _id = ?", (damaged, item_id))
    client = _deliver(server, tmp_path)
    try:
        assert client.flush(30)
        for batch in (0, 2, 3):
            assert _indexes(server, f"Batch {batch}") == list(range(10))
        assert server.events("Batch 1") == []
        stats = client.stats()
        assert stats.dropped == {CORRUPT: 10} and stats.quarantined == 0 and stats.balanced
    finally:
        client.shutdown(5)
