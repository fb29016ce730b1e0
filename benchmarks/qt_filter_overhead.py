"""What Qt auto-capture's application-wide event filter adds to each event a Qt app processes.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/qt_filter_overhead.py [--events 200000] [--rounds 5]

An event filter on the application runs for every event of every object (paints, timers, mouse
moves), so it must cost next to nothing for the events it ignores. For each binding (a process
of its own), events of a few kinds are sent to a widget through ``QCoreApplication.sendEvent``
(which runs the application's event filters, as the event loop does) with: no filter; an empty
Python filter that only returns False (the floor of any Python event filter); and
usageanalytics' filter. Rounds alternate the three; the figure is the median of the rounds, in
nanoseconds per event, and the filter's cost is the difference from "no filter".
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

CHILD = "--child"


def measure(binding: str, events: int, rounds: int) -> dict[str, dict[str, float]]:
    import usageanalytics as ua

    data_dir = tempfile.mkdtemp()
    ua.configure(
        "bench-qt",
        api_key="k",
        endpoint="http://127.0.0.1:9/v4/",
        data_dir=data_dir,
        customer_account_id="acct",
        collect_device_attributes=False,
    )
    core = importlib.import_module(f"{binding}.QtCore")
    gui = importlib.import_module(f"{binding}.QtGui")
    widgets = importlib.import_module(f"{binding}.QtWidgets")
    app = widgets.QApplication([])
    import usageanalytics_qt

    ours = usageanalytics_qt._bindings[binding].filter
    app.removeEventFilter(ours)

    class Empty(core.QObject):  # type: ignore[misc, name-defined]
        def eventFilter(self, watched: Any, event: Any) -> bool:
            return False

    empty = Empty()
    window = widgets.QWidget()
    label = widgets.QLabel("x", window)
    window.show()
    app.processEvents()
    point = core.QPointF(1, 1)
    kinds = {
        "timer-like (User)": (window, core.QEvent(core.QEvent.Type.User)),
        "mouse move": (
            label,
            gui.QMouseEvent(
                core.QEvent.Type.MouseMove,
                point,
                point,
                core.Qt.MouseButton.NoButton,
                core.Qt.MouseButton.NoButton,
                core.Qt.KeyboardModifier.NoModifier,
            ),
        ),
        "key press (a keystroke)": (
            label,
            gui.QKeyEvent(core.QEvent.Type.KeyPress, core.Qt.Key.Key_A, core.Qt.KeyboardModifier.NoModifier),
        ),
        "hide (not a screen)": (label, gui.QHideEvent()),
    }
    send = core.QCoreApplication.sendEvent
    results: dict[str, dict[str, list[float]]] = {kind: {} for kind in kinds}
    for _ in range(rounds):
        for mode, installed in (("no filter", None), ("empty filter", empty), ("usageanalytics", ours)):
            if installed is not None:
                app.installEventFilter(installed)
            for kind, (target, event) in kinds.items():
                start = time.perf_counter_ns()
                for _ in range(events):
                    send(target, event)
                elapsed = time.perf_counter_ns() - start
                results[kind].setdefault(mode, []).append(elapsed / events)
            if installed is not None:
                app.removeEventFilter(installed)
    ua.shutdown(timeout=5)
    return {kind: {mode: statistics.median(v) for mode, v in by.items()} for kind, by in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(CHILD, default=None)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.events, args.rounds)))
        return
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    print(f"{'binding':8} {'event':26} {'no filter':>10} {'empty':>10} {'ours':>10} {'ours - none':>12}")
    for binding in ("PySide6", "PyQt6"):
        sizes = ["--events", str(args.events), "--rounds", str(args.rounds)]
        done = subprocess.run(
            [sys.executable, __file__, CHILD, binding, *sizes],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        for kind, modes in figures.items():
            none, empty, ours = modes["no filter"], modes["empty filter"], modes["usageanalytics"]
            print(f"{binding:8} {kind:26} {none:8.0f}ns {empty:8.0f}ns {ours:8.0f}ns {ours - none:10.0f}ns")


if __name__ == "__main__":
    main()
