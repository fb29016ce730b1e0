"""Instructions per page that web auto-capture adds, counted per thread under valgrind.

    .venv/bin/python benchmarks/instructions.py [--pages 10000] [--only flask ...]
                                                [--before /path/to/an/older/checkout]

Needs valgrind (Debian: ``apt-get install valgrind``). The timed benchmark
(``hooks_overhead.py``) moves by 20 to 30 µs per page between runs on a shared machine: more
than most changes. Instructions counted by callgrind move far less, so this is the figure to
compare two releases by, with two cautions. The writer writes every 0.1 s, so under valgrind
(tens of times slower) its chunks are smaller and its count per page larger than in a real
run, the more so when other processes slow valgrind further (Flask's SDK threads: 137,000 per
page with three runs side by side, 110,000 alone): run it alone, and compare runs alike. And
every instruction counts alike: some C code costs less time than its count says (``repr`` of
the rows' times is a quarter of the writer's count, yet about 0.5 µs a row, and formatting
them as integers instead took as long), so confirm a gain in time before you keep it.

For each framework, two processes run under callgrind, one thread per output file: each warms
up (capture on, ``--warm`` pages, flushed), then serves ``--pages`` pages with capture off or
on, and flushes. The same app as ``hooks_overhead.py`` (with no render time: it would add the
same count to both) for 100 returning visitors, sending to a receiver in another process
(not counted). Everything but those pages is the same in both, so on minus off, per page, is
what capture costs: on the request's thread (the hooks and the tracking calls), and on the
SDK's threads (writing, sending, their final flush).

The default is a sender's round (20,000 records, 10,000 pages: each visitor's request carries
100 pages, as on a busy server). Fewer pages count the sender's requests more heavily: its
final flush posts one per visitor however few pages there were. Each framework takes about 2
minutes (4 with ``--before``).

``--before DIR``: the same counts with the package and integrations of another checkout
(``git worktree add /tmp/before <commit>``) first on the path, side by side.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
FRAMEWORKS = {"flask": "Flask", "django": "Django", "fastapi": "FastAPI"}


def child(framework: str, mode: str, warm: int, pages: int) -> None:
    """The counted process: warm up, then ``pages`` pages with capture ``mode``, flushed."""
    sys.path.insert(0, str(HERE))
    import hooks_overhead as bench

    import usageanalytics as ua

    with bench.production_client():
        app = bench.APPS[framework](0.0)
        serve = bench.SERVERS[framework]
        visitors = [f"{n:032x}" for n in range(1, 101)]
        bench.attach(framework, True)
        serve(app, visitors, warm, "/hello/world")
        assert ua.flush(timeout=600)
        bench.attach(framework, mode == "on")
        serve(app, visitors, pages, "/hello/world")
        assert ua.flush(timeout=600)


def count(framework: str, mode: str, args: argparse.Namespace, path: str | None) -> tuple[int, int]:
    """(the main thread's instructions, the other threads'), for one counted process."""
    import hooks_overhead as bench

    with tempfile.TemporaryDirectory() as out:
        env = bench.checkout_env(path)
        command = [
            "valgrind",
            "--tool=callgrind",
            "--separate-threads=yes",
            "--dump-instr=no",
            f"--callgrind-out-file={out}/cg.out",
            sys.executable,
            __file__,
            "--child",
            framework,
            mode,
            str(args.warm),
            str(args.pages),
        ]
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        main = other = 0
        for file in sorted(Path(out).glob("cg.out-*")):
            found = re.search(r"^totals: (\d+)", file.read_text(errors="replace"), re.MULTILINE)
            total = int(found.group(1)) if found else 0
            if file.name.endswith("-01"):  # the first thread: the requests'
                main += total
            else:
                other += total
        return main, other


def per_page(framework: str, args: argparse.Namespace, path: str | None) -> tuple[float, float]:
    (main_on, sdk_on), (main_off, sdk_off) = (count(framework, mode, args, path) for mode in ("on", "off"))
    return (main_on - main_off) / args.pages, (sdk_on - sdk_off) / args.pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--warm", type=int, default=200)
    parser.add_argument("--only", choices=list(FRAMEWORKS), action="append")
    parser.add_argument("--before", help="another checkout to count side by side")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        framework, mode, warm, pages = args.child
        child(framework, mode, int(warm), int(pages))
        return
    print(f"instructions added per page ({args.pages:,} pages, capture on minus off, final flush included)")
    columns = ["before", "now"] if args.before else ["now"]
    print("| app | thread | " + " | ".join(columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for name in args.only or list(FRAMEWORKS):
        framework = FRAMEWORKS[name]
        figures = [per_page(framework, args, args.before)] if args.before else []
        figures.append(per_page(framework, args, None))
        rows = {
            "the request's": [request for request, _ in figures],
            "the SDK's": [sdk for _, sdk in figures],
            "in all": [request + sdk for request, sdk in figures],
        }
        for thread, values in rows.items():
            print(
                f"| {framework} | {thread} | " + " | ".join(f"{value:,.0f}" for value in values) + " |",
                flush=True,
            )


if __name__ == "__main__":
    main()
