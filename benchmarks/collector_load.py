"""Collector load: events per second ingested from concurrent clients posting 100-event batches.

    .venv/bin/python benchmarks/collector_load.py [--clients 4] [--batch 100] [--requests 200]
    .venv/bin/python benchmarks/collector_load.py --request-log-size 0   # the debugger's log off

Starts ``usageanalytics collector`` as its own process on a free port of 127.0.0.1 with a fresh
database, lets each client thread post ``--requests`` batches (each a new idempotency id, as the
SDK sends them) over one keep-alive connection, then checks every event was stored exactly once
and prints throughput and latency percentiles. Bounded: it stops after ``--max-seconds`` anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

from usageanalytics.collector.query import Received


def batch_body(client: int, number: int, size: int) -> bytes:
    """One request as the SDK would send it: an envelope and ``size`` events with attributes."""
    events = [
        {
            "name": ("Screen View", "Added To Cart", "Checkout")[i % 3],
            "loggedAtTime": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "parameters": [
                {"attributeName": "Screen Name", "dataType": "String", "stringValue": f"Screen {i % 7}"},
                {"attributeName": "Price", "dataType": "Number", "numberValue": 19.99},
                {"attributeName": "Discount Applied", "dataType": "Boolean", "booleanValue": i % 2 == 0},
            ],
        }
        for i in range(size)
    ]
    body = {
        "appId": "load-test",
        "userId": f"user-{client}-{number % 50}",
        "customerAccountId": f"account-{client}",
        "platform": "Web",
        "sessionId": f"session-{client}-{number // 20}",
        "deviceId": f"device-{client}",
        "idempotencyId": str(uuid.uuid4()),
        "events": events,
    }
    return json.dumps(body).encode()


def start_collector(db: Path, extra: list[str]) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "usageanalytics",
            "collector",
            "--port",
            "0",
            "--db",
            str(db),
            "--log-level",
            "warning",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("usageanalytics collector listening on "):
            return process, line.split()[-1]
    raise SystemExit(f"the collector did not start (exit {process.wait()})")


def client_loop(
    url: str,
    client: int,
    requests: int,
    size: int,
    start: threading.Barrier,
    max_seconds: float,
    latencies: list[float],
    errors: list[str],
) -> None:
    bodies = [batch_body(client, n, size) for n in range(requests)]  # built before the clock runs
    headers = {"Content-Type": "application/json"}
    with httpx.Client(base_url=url, auth=("apikey", "bench"), timeout=60) as http:
        start.wait()
        deadline = time.monotonic() + max_seconds
        for body in bodies:
            if time.monotonic() > deadline:
                return
            started = time.perf_counter()
            response = http.post("/v4/usageanalytics/event", content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors.append(f"{response.status_code} {response.text[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--requests", type=int, default=200, help="batches per client")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    parser.add_argument(
        "--request-log-size", type=int, help="the collector's debugger log (0: off; its default otherwise)"
    )
    options = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="collector-load-") as folder:
        db = Path(folder) / "load.sqlite"
        extra = (
            [] if options.request_log_size is None else ["--request-log-size", str(options.request_log_size)]
        )
        process, url = start_collector(db, extra)
        try:
            with httpx.Client(base_url=url, auth=("apikey", "bench")) as warm:
                for n in range(5):
                    warm.post(
                        "/v4/usageanalytics/event",
                        content=batch_body(99, n, options.batch),
                        headers={"Content-Type": "application/json"},
                    ).raise_for_status()
            per_client: list[list[float]] = [[] for _ in range(options.clients)]
            errors: list[str] = []
            start = threading.Barrier(options.clients + 1)
            threads = [
                threading.Thread(
                    target=client_loop,
                    args=(
                        url,
                        c,
                        options.requests,
                        options.batch,
                        start,
                        options.max_seconds,
                        per_client[c],
                        errors,
                    ),
                )
                for c in range(options.clients)
            ]
            for thread in threads:
                thread.start()
            start.wait()  # every client built its bodies: the clock starts when they all send
            began = time.perf_counter()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - began
        finally:
            process.terminate()
            # The collector's own CPU time (user + system), which the other processes sharing the
            # machine do not inflate the way they inflate wall time.
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)
            cpu = usage.ru_utime + usage.ru_stime
        latencies = sorted(x for client in per_client for x in client)
        sent = len(latencies) * options.batch
        with Received(db) as received:
            counts = received.counts()
            stored = counts["events"] - 5 * options.batch

    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    rows = [
        ("machine", f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"),
        ("clients x batch", f"{options.clients} x {options.batch} events"),
        ("requests", f"{len(latencies):,}"),
        ("events sent / stored", f"{sent:,} / {stored:,}" + ("" if stored == sent else "  MISMATCH")),
        ("wall time", f"{elapsed:.2f} s"),
        ("events/s", f"{sent / elapsed:,.0f}"),
        ("collector CPU per 1,000 events", f"{cpu / (sent + 5 * options.batch) * 1000 * 1000:,.1f} ms"),
        ("requests/s", f"{len(latencies) / elapsed:,.1f}"),
        ("latency p50", f"{cuts[49] * 1000:.1f} ms"),
        ("latency p90", f"{cuts[89] * 1000:.1f} ms"),
        ("latency p99", f"{cuts[98] * 1000:.1f} ms"),
        ("latency max", f"{latencies[-1] * 1000:.1f} ms"),
        ("errors", str(len(errors)) + (f" (first: {errors[0]})" if errors else "")),
        ("requests in the debugger log", f"{counts.get('request_log', 0):,}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'collector load':<{width}}  result")
    print(f"{'-' * width}  {'-' * 40}")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if errors or stored != sent:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
