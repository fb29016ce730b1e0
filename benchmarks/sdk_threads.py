"""The CPU the SDK's threads spend per page over a continuous stretch of pages, two releases
alternated.

    .venv/bin/python benchmarks/sdk_threads.py [--only flask ...] [--pages 20000] [--pairs 4]
                                               [--visitors 100] [--before /path/to/a/checkout]

``hooks_overhead.py`` times turns with pauses between them, and its figures move by 10 to 20
µs per page between runs on a shared machine: it cannot see a change of a few microseconds in
the SDK's threads. This one serves ``--pages`` pages of 1 ms with capture on, without a
pause, as a busy server does, and reads the CPU clocks of the SDK's writer and sender threads
over those pages and the flush that ends them (all their work for those pages); the request
thread's CPU and the wall clock per page are printed beside it. Each run is a process of its
own (the same app and receiver as ``hooks_overhead.py``), and with ``--before DIR`` (another
checkout, ``git worktree add /tmp/before <commit>``) the two releases run in turn, before
first, ``--pairs`` times: a difference that every pair shows is the change's, not the
machine's. Each run takes about 25 seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
FRAMEWORKS = {"flask": "Flask", "django": "Django", "fastapi": "FastAPI"}
WARM_PAGES = 2000


def child(framework: str, pages: int, visitors: int) -> None:
    """One run: warm up, flush, then ``pages`` pages and a flush; prints its figures as JSON."""
    sys.path.insert(0, str(HERE))
    import hooks_overhead as bench

    import usageanalytics as ua

    with bench.production_client():
        app = bench.APPS[framework](1.0)
        serve = bench.SERVERS[framework]
        names = [f"{n:032x}" for n in range(1, visitors + 1)]
        bench.attach(framework, True)
        serve(app, names, WARM_PAGES, "/hello/world")
        assert ua.flush(timeout=600)
        bench.settle()
        before = bench.sdk_cpu()
        turn = serve(app, names, pages, "/hello/world")
        assert ua.flush(timeout=600)
        spent = bench.sdk_cpu() - before
        per_page = {"sdk": spent / pages, "request": turn.cpu / pages, "wall": turn.wall / pages}
        print(json.dumps({name: value * 1e6 for name, value in per_page.items()}))


def run(framework: str, args: argparse.Namespace, path: str | None) -> dict[str, float]:
    import hooks_overhead as bench

    env = bench.checkout_env(path)
    command = [sys.executable, __file__, "--child", framework, str(args.pages), str(args.visitors)]
    done = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20_000)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--visitors", type=int, default=100)
    parser.add_argument("--only", choices=list(FRAMEWORKS), action="append")
    parser.add_argument("--before", help="another checkout, run in turn with this one")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        framework, pages, visitors = args.child
        child(framework, int(pages), int(visitors))
        return
    print(
        f"{time.strftime('%Y-%m-%d')}, Python {sys.version.split()[0]}, load average "
        f"{os.getloadavg()[0]:.1f}; {args.pages:,} pages of 1 ms per run, {args.visitors} visitors; "
        "µs per page: the SDK's threads' CPU (request thread's CPU, wall clock)"
    )
    releases = {"before": args.before, "now": None} if args.before else {"now": None}
    for name in args.only or list(FRAMEWORKS):
        framework = FRAMEWORKS[name]
        runs: dict[str, list[dict[str, float]]] = {release: [] for release in releases}
        for _ in range(args.pairs):
            for release, path in releases.items():
                figures = run(framework, args, path)
                runs[release].append(figures)
                print(
                    f"  {framework} {release}: {figures['sdk']:.1f} "
                    f"({figures['request']:.1f}, {figures['wall']:.1f})",
                    flush=True,
                )
        means = {release: statistics.mean(f["sdk"] for f in found) for release, found in runs.items()}
        line = " → ".join(f"{release} {mean:.1f}" for release, mean in means.items())
        if args.before:
            lower = sum(n["sdk"] < b["sdk"] for b, n in zip(runs["before"], runs["now"], strict=True))
            line += f" µs (now lower in {lower} of {args.pairs} pairs)"
        print(f"{framework}, the SDK's threads, mean: {line}", flush=True)


if __name__ == "__main__":
    main()
