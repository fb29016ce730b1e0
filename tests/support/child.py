"""A child process for the multi-process tests: ``python -m tests.support.child MODE JSON``.

Modes:
  log      configure, log ``count`` events named ``name`` with attribute ``i``; print ``i`` after
           each call returns when ``report_each``; print ``DONE``; then wait to be killed
           (``linger``) or exit normally (the atexit handler flushes).
  deliver  configure and flush everything queued in the data folder (adopting dead queues).
  fork     configure, log, ``os.fork()``; parent and child each log and flush their own events.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import usageanalytics as ua


def configure(options: dict[str, Any]) -> ua.Client:
    settings = {
        "api_key": "test-key",
        "customer_account_id": "acct-1",
        "collect_device_attributes": False,
        "auto_capture": False,
    }
    settings.update(options["configure"])
    return ua.configure(options.get("app_id", "app-1"), **settings)


def log(options: dict[str, Any]) -> None:
    configure(options)
    name = options.get("name", "Logged")
    for i in range(options["count"]):
        ua.log_event(name, {"i": i})
        if options.get("report_each"):
            print(i, flush=True)
    print("DONE", flush=True)
    if options.get("linger"):
        while True:
            time.sleep(60)


def deliver(options: dict[str, Any]) -> None:
    configure(options)
    ok = ua.flush(options.get("timeout", 60))
    print("FLUSHED" if ok else "NOT FLUSHED", flush=True)
    sys.exit(0 if ua.shutdown(10) and ok else 1)


def fork(options: dict[str, Any]) -> None:
    configure(options)
    count = options["count"]
    for i in range(count):
        ua.log_event("Parent Before Fork", {"i": i})
    pid = os.fork()
    if pid == 0:
        for i in range(count):
            ua.log_event("Child", {"i": i})
        ok = ua.flush(60)
        os._exit(0 if ok else 3)
    for i in range(count):
        ua.log_event("Parent After Fork", {"i": i})
    _, status = os.waitpid(pid, 0)
    ok = ua.flush(60)
    print(f"child={os.waitstatus_to_exitcode(status)} parent={'ok' if ok else 'failed'}", flush=True)
    sys.exit(0 if ok and os.waitstatus_to_exitcode(status) == 0 else 1)


if __name__ == "__main__":
    mode, payload = sys.argv[1], json.loads(sys.argv[2])
    {"log": log, "deliver": deliver, "fork": fork}[mode](payload)
