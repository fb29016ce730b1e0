"""A child process for the multi-process tests: ``python -m tests.support.child MODE JSON``.

Modes:
  log      configure, log ``count`` events named ``name`` with attribute ``i``; print ``i`` after
           each call returns when ``report_each``; for each of ``bursts``, once what was logged
           before is on disk, log its ``count`` events named its ``name``; with ``persist``, print
           ``PERSISTED`` once everything is on disk; print ``DONE``; then wait to be killed
           (``linger``) or exit normally (the atexit handler flushes).
  deliver  configure and flush everything queued in the data folder (adopting dead queues).
  fork     configure, log, ``os.fork()``; parent and child each log and flush their own events.
  sigterm  (``own_handler``: install a SIGTERM handler first; ``from_thread``: configure on a
           thread) configure, log ``count`` events, print the SIGTERM handler's module and
           ``READY``, then wait for a signal (or ``stop_file``); with ``exit``, exit at once
           instead (the exit flush runs at interpreter exit); with ``in_registry_lock``, signal
           itself while holding the lock that registers clients; with ``trace_handler``, write
           ``SIGTERM`` each time the SDK's handler is called.
  disk_full  configure, limit the file size to ``max_file_bytes`` (as ``ulimit -f``), log
           ``count`` events, shut down and print the ledger and the drops signalled as JSON.
  consent  configure, print whether it starts opted out, log ``count`` events (named ``name``),
           flush, shut down and print the ledger as JSON.

``log`` logs as the process's guest, or as ``user`` (``set_user``) when the payload names one.
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


def persist(client: ua.Client) -> None:
    """Return once everything logged so far had its write to disk (or exit 3: it had not in
    60 s, and the test must not go on as if it had)."""
    writer = client._pipeline.writer
    if writer is None or not writer.persist_now(60):
        print("NOT PERSISTED", flush=True)
        os._exit(3)


def log(options: dict[str, Any]) -> None:
    client = configure(options)
    if options.get("user"):
        ua.set_user(options["user"], customer_account_id="acct-1")
    name = options.get("name", "Logged")
    for i in range(options["count"]):
        ua.log_event(name, {"i": i})
        if options.get("report_each"):
            print(i, flush=True)
    for burst in options.get("bursts", ()):  # more bursts, each its own queue item
        persist(client)
        for i in range(burst["count"]):
            ua.log_event(burst["name"], {"i": i})
    if options.get("persist"):
        persist(client)
        print("PERSISTED", flush=True)
    print("DONE", flush=True)
    if options.get("linger"):
        while True:
            time.sleep(60)


def deliver(options: dict[str, Any]) -> None:
    client = configure(options)
    ok = ua.flush(options.get("timeout", 60))
    print("FLUSHED" if ok else f"NOT FLUSHED {client.stats()}", flush=True)
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


def sigterm(options: dict[str, Any]) -> None:
    import signal
    import threading

    if options.get("own_handler"):
        signal.signal(signal.SIGTERM, lambda signum, frame: print("APP HANDLER", flush=True))
    if options.get("from_thread"):
        worker = threading.Thread(target=configure, args=(options,))
        worker.start()
        worker.join()
    else:
        configure(options)
    for i in range(options["count"]):
        ua.log_event("Before SIGTERM", {"i": i})
    handler = signal.getsignal(signal.SIGTERM)
    print(f"HANDLER {getattr(handler, '__module__', handler)}", flush=True)
    if options.get("trace_handler") and callable(handler):
        sdk_handler = handler

        def traced(signum: int, frame: Any) -> None:
            os.write(1, b"SIGTERM\n")  # not print(): a handler may interrupt a print
            sdk_handler(signum, frame)

        signal.signal(signal.SIGTERM, traced)
    print("READY", flush=True)
    if options.get("exit"):
        return
    if options.get("in_registry_lock"):
        from usageanalytics import lifecycle

        with lifecycle._lock:  # as while a client registers: the handler runs right here
            signal.raise_signal(signal.SIGTERM)
            time.sleep(120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if options.get("own_handler") and os.path.exists(options["stop_file"]):
            break
    print("EXITING", flush=True)


def disk_full(options: dict[str, Any]) -> None:
    """Log with the file size limited (``ulimit -f``), then print the ledger and the drops
    signalled, as JSON."""
    import logging
    import resource

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    client = configure(options)
    signalled = {"count": 0}

    def on_dropped(sender: Any, **info: Any) -> None:
        signalled["count"] += info["count"]

    ua.signals.record_dropped.connect(on_dropped, sender=client)
    resource.setrlimit(resource.RLIMIT_FSIZE, (options["max_file_bytes"], resource.RLIM_INFINITY))
    for i in range(options["count"]):
        ua.log_event("Disk Full", {"i": i, "padding": "x" * 100})
    ua.shutdown(options.get("shutdown_timeout", 2.0))
    stats = client.stats()
    print(json.dumps({"stats": stats.as_dict(), "signalled": signalled["count"]}), flush=True)
    os._exit(0)


def consent(options: dict[str, Any]) -> None:
    client = configure(options)
    print(f"OPTED OUT {ua.is_opted_out()}", flush=True)
    for i in range(options["count"]):
        ua.log_event(options.get("name", "Logged"), {"i": i})
    flushed = ua.flush(30)
    ua.shutdown(5)
    print(json.dumps({"flushed": flushed, "stats": client.stats().as_dict()}), flush=True)


if __name__ == "__main__":
    mode, payload = sys.argv[1], json.loads(sys.argv[2])
    modes = {
        "log": log,
        "deliver": deliver,
        "fork": fork,
        "sigterm": sigterm,
        "disk_full": disk_full,
        "consent": consent,
    }
    modes[mode](payload)
