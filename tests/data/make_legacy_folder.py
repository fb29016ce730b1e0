"""Write ``tests/data/legacy_folder``: a data folder as usageanalytics 0.1 (before the pipeline
rewrite, commit 50a1a34) left it after a crash, with every kind of queue item it wrote.

Run against that release's code, not this one's::

    git archive 50a1a34 | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python tests/data/make_legacy_folder.py tests/data/legacy_folder

- ``Outboxed`` events: a request the server answered 500, kept in the outbox (one request per
  item, with its ``sources``);
- ``Held`` events: a guest without a customer account, in the held queue (one-letter dicts);
- ``Inboxed`` events: written to the inbox, never sent.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from pathlib import Path

import usageanalytics as ua
from tests.support.strict_server import StrictServer

target = Path(sys.argv[1])
shutil.rmtree(target, ignore_errors=True)
with StrictServer("test-key") as server:
    server.fault = lambda path, body: (500, {}, {"status": "ERROR"}) if path.endswith("event") else None
    options = {
        "api_key": "test-key", "endpoint": server.endpoint, "data_dir": str(target),
        "collect_device_attributes": False, "flush_interval": 3600, "retry_base": 1000, "retry_cap": 1000,
    }  # fmt: skip
    with_account = ua.Client("app-1", customer_account_id="acct-1", **options)
    for i in range(10):
        with_account.log_event("Outboxed", {"i": i})
    assert not with_account.flush(5)
    guest = ua.Client("app-1", **options)  # the same guest, with no account: held
    for i in range(10):
        guest.log_event("Held", {"i": i})
    assert not guest.flush(5)
    for i in range(10):
        with_account.log_event("Inboxed", {"i": i})
    assert with_account._writer.persist_now(10)
    assert guest._writer.persist_now(10)
for db in target.glob("queues/*/queue.sqlite"):  # as after a crash, minus the WAL
    connection = sqlite3.connect(db)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
for name in ("state.sqlite",):
    connection = sqlite3.connect(target / name)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
for leftover in [*target.rglob("*-wal"), *target.rglob("*-shm"), *target.rglob("*.lock")]:
    leftover.unlink()
os._exit(0)  # no exit flush: the folder stays as a crashed process left it
