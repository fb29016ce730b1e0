"""usageanalytics side by side with PostHog and Segment, in one run, on this machine.

    .venv/bin/pip install -e '.[bench]' && .venv/bin/python benchmarks/sdk_peers.py

Three measurements, each SDK in a fresh process with its documented defaults, against the same
local sink (``benchmarks/sink.py``, its own process) that accepts everything:

1. caller-thread cost of one tracking call (mean, median, p99 over 20,000 calls, while the SDK's
   own sender works), with a floor: building a dict and appending it to a deque;
2. end-to-end delivered events per second: 50,000 events logged, then flushed, until the sink
   has counted them all, and the process CPU time (all threads) per delivered event;
3. with the server down, 100,000 events logged: how many each SDK keeps, and its peak memory
   above the baseline measured just before the loop.

The latency measurement also runs usageanalytics with a ``before_send`` hook: a trivial one
(``lambda record: record``, the cost of the call and of checking what it returns) and
``usageanalytics.privacy.scrub_pii``.

Results are printed as a table with ratios to usageanalytics; ``--json FILE`` also saves them.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SDKS = ("usageanalytics", "posthog", "segment")
# usageanalytics with a before_send hook, measured for latency beside the plain client.
HOOKED = ("usageanalytics+hook", "usageanalytics+scrub_pii")
LATENCY_CALLS = 20_000
THROUGHPUT_EVENTS = 50_000
OFFLINE_EVENTS = 100_000


# -- the SDKs, behind one shape ---------------------------------------------------------------------


class Adapter:
    """Make an SDK, track one event with it, flush it, count what it keeps, close it."""

    def __init__(self, name: str, host: str) -> None:
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"bench-{name}-")
        if name.startswith("usageanalytics"):
            import usageanalytics
            from usageanalytics import privacy

            hooks: dict[str, Any] = {"usageanalytics+hook": lambda record: record}
            hooks["usageanalytics+scrub_pii"] = privacy.scrub_pii
            client = usageanalytics.Client(
                "bench-app", api_key="bench-key", endpoint=f"{host}/v4/", data_dir=self.tmp,
                customer_account_id="acct-1", collect_device_attributes=False, auto_capture=False,
                before_send=hooks.get(name),
            )  # fmt: skip
            self.track: Callable[[int], None] = lambda i: client.log_event(
                "Signed In", {"Module": "Login", "Index": i}
            )
            self.flush: Callable[[], Any] = lambda: client.flush(300)
            self.settle: Callable[[], Any] = lambda: client._pipeline.writer.persist_now(300)
            self.kept: Callable[[], int] = lambda: _usageanalytics_kept(client)
            self.close: Callable[[], Any] = lambda: client.shutdown(2)
        elif name == "posthog":
            import logging

            from posthog import Posthog

            logging.getLogger("posthog").setLevel(logging.CRITICAL)
            client = Posthog("phc_bench", host=host)
            self.track = lambda i: client.capture(
                "Signed In", distinct_id="user-1", properties={"Module": "Login", "Index": i}
            )
            self.flush = client.flush
            self.kept = lambda: client.queue.qsize()
            self.settle = lambda: None  # nothing to wait for: it keeps events in memory
            self.close = client.shutdown
        elif name == "segment":
            import logging

            from segment.analytics import Client

            logging.getLogger("segment").setLevel(logging.CRITICAL)
            client = Client("bench_write_key", host=host)
            self.track = lambda i: client.track("user-1", "Signed In", {"Module": "Login", "Index": i})
            self.flush = client.flush
            self.kept = lambda: client.queue.qsize()
            self.settle = lambda: None
            self.close = client.shutdown
        elif name == "floor":
            queue: collections.deque[dict[str, Any]] = collections.deque()
            self.track = lambda i: queue.append(
                {"event": "Signed In", "properties": {"Module": "Login", "Index": i}}
            )
            self.flush = queue.clear
            self.kept = lambda: len(queue)
            self.settle = lambda: None
            self.close = queue.clear
        else:
            raise SystemExit(f"unknown SDK {name}")


def _usageanalytics_kept(client: Any) -> int:
    from usageanalytics.status import read_status

    return read_status(client.data_dir).queued


# -- measurements (run inside a worker process) --------------------------------------------------


def measure_latency(adapter: Adapter) -> dict[str, Any]:
    for i in range(500):
        adapter.track(i)
    samples = []
    clock = time.perf_counter_ns
    for i in range(LATENCY_CALLS):
        start = clock()
        adapter.track(i)
        samples.append(clock() - start)
    adapter.flush()
    adapter.close()
    samples.sort()
    return {
        "mean_us": statistics.fmean(samples) / 1000,
        "median_us": samples[len(samples) // 2] / 1000,
        "p99_us": samples[int(len(samples) * 0.99)] / 1000,
    }


def sink_total(host: str) -> int:
    with urllib.request.urlopen(f"{host}/count", timeout=10) as response:
        return int(json.load(response)["total"])


def measure_throughput(adapter: Adapter, host: str) -> dict[str, Any]:
    before = sink_total(host)
    start = time.perf_counter()
    cpu_start = time.process_time()
    for i in range(THROUGHPUT_EVENTS):
        adapter.track(i)
    adapter.flush()  # returns once every batch is answered: the sink has counted it
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start  # every thread of the process: caller, writer, sender
    delivered = sink_total(host) - before
    adapter.close()
    # Peers keep at most 10,000 events in memory by default and drop the rest while their sender
    # catches up: the rate counts what was delivered, and "delivered" shows what was lost.
    return {
        "events_per_s": delivered / elapsed,
        "delivered": delivered,
        "seconds": elapsed,
        "cpu_us_per_event": cpu * 1e6 / delivered if delivered else None,
    }


class PeakRSS:
    """Samples this process's resident memory every 5 ms and keeps the highest value."""

    def __init__(self) -> None:
        self.peak = self.current()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.current())

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())


def measure_offline(adapter: Adapter) -> dict[str, Any]:
    import gc

    for i in range(100):
        adapter.track(i)
    gc.collect()
    baseline = PeakRSS.current()
    with PeakRSS() as rss:
        for i in range(OFFLINE_EVENTS):
            adapter.track(100 + i)
        adapter.settle()
    kept = adapter.kept()  # outside the window: counting is the benchmark's work, not the SDK's
    result = {"kept": min(kept, OFFLINE_EVENTS + 100), "peak_mb": (rss.peak - baseline) / 2**20}
    threading.Thread(target=adapter.close, daemon=True).start()  # the server is down: don't wait
    return result


def worker(sdk: str, scenario: str, host: str) -> None:
    adapter = Adapter(sdk, host)
    if scenario == "latency":
        result = measure_latency(adapter)
    elif scenario == "throughput":
        result = measure_throughput(adapter, host)
    else:
        result = measure_offline(adapter)
    print(json.dumps(result), flush=True)
    os._exit(0)  # peers' exit handlers would retry a dead server for minutes


# -- orchestration -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_worker(sdk: str, scenario: str, host: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, __file__, "--worker", sdk, scenario, host],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    if output.returncode != 0:
        raise SystemExit(f"{sdk} {scenario} failed:\n{output.stderr[-3000:]}")
    return dict(json.loads(output.stdout.strip().splitlines()[-1]))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, {system}, Python {platform.python_version()}"


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}x" if reference else "-"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--sdk", action="append", choices=SDKS, help="measure only these SDKs")
    parser.add_argument("--latency-only", action="store_true", help="only the caller-thread cost")
    parser.add_argument("--worker", nargs=3, metavar=("SDK", "SCENARIO", "HOST"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    sink = subprocess.Popen([sys.executable, str(HERE / "sink.py")], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout is not None
        host = f"http://127.0.0.1:{sink.stdout.readline().strip()}"
        down = f"http://127.0.0.1:{free_port()}"
        sdks = tuple(args.sdk or SDKS)
        hooked = HOOKED if "usageanalytics" in sdks else ()
        results: dict[str, dict[str, Any]] = {name: {} for name in (*sdks, *hooked, "floor")}
        for sdk in (*sdks, *hooked, "floor"):
            print(f"latency     {sdk} ...", file=sys.stderr, flush=True)
            results[sdk]["latency"] = run_worker(sdk, "latency", host)
        for sdk in () if args.latency_only else sdks:
            print(f"throughput  {sdk} ...", file=sys.stderr, flush=True)
            results[sdk]["throughput"] = run_worker(sdk, "throughput", host)
        for sdk in () if args.latency_only else sdks:
            print(f"offline     {sdk} ...", file=sys.stderr, flush=True)
            results[sdk]["offline"] = run_worker(sdk, "offline", down)
    finally:
        sink.terminate()

    ours = results.get("usageanalytics") or results[sdks[0]]
    print(f"\n{date.today().isoformat()} on {machine()}\n")
    print("Caller-thread cost of one tracking call (20,000 calls, sender running)")
    print(f"{'SDK':24} {'mean µs':>9} {'median µs':>10} {'p99 µs':>9} {'mean vs ours':>13}")
    for sdk in (*sdks, *hooked, "floor"):
        lat = results[sdk]["latency"]
        print(
            f"{sdk:24} {lat['mean_us']:9.2f} {lat['median_us']:10.2f} {lat['p99_us']:9.2f} "
            f"{ratio(lat['mean_us'], ours['latency']['mean_us']):>13}"
        )
    if args.latency_only:
        if args.json:
            args.json.write_text(json.dumps({"machine": machine(), "results": results}, indent=2))
        return
    print(f"\nDelivered events per second ({THROUGHPUT_EVENTS:,} events, log then flush, local sink)")
    print(f"{'SDK':16} {'events/s':>10} {'vs ours':>9} {'delivered':>10} {'CPU µs/event':>13}")
    for sdk in sdks:
        rate = results[sdk]["throughput"]["events_per_s"]
        delivered = results[sdk]["throughput"]["delivered"]
        cpu = results[sdk]["throughput"].get("cpu_us_per_event") or 0.0
        print(
            f"{sdk:16} {rate:10,.0f} {ratio(rate, ours['throughput']['events_per_s']):>9} "
            f"{delivered:10,} {cpu:13.1f}"
        )
    print(f"\nServer down, {OFFLINE_EVENTS:,} events logged")
    print(f"{'SDK':16} {'kept':>9} {'peak MB':>9} {'where':>8}")
    for sdk in sdks:
        off = results[sdk]["offline"]
        where = "disk" if sdk == "usageanalytics" else "memory"
        print(f"{sdk:16} {off['kept']:9,} {off['peak_mb']:9.1f} {where:>8}")
    if args.json:
        args.json.write_text(
            json.dumps({"machine": machine(), "date": date.today().isoformat(), "results": results}, indent=2)
        )


if __name__ == "__main__":
    main()
