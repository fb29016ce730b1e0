"""Qt auto-capture: a real PySide6 or PyQt6 app, offscreen, in a process of its own per import order."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integrations.helpers import params, run_script, screen_views, sdk_env, taps
from tests.support.strict_server import StrictServer

TABLES = [f"Table {n}" for n in range(2, 10)]
VIEWS = [
    "Table 1",
    "InboxPage",
    "MainWindow",
    *TABLES,
    "settingsPage",
    "Profile",
    "OptionsDialog",
    "AboutDialog",
    "Careful",
]
# A mouse click's Tap comes before the modal dialog it opens ("optionsButton", "OptionsDialog").
TAPS = [
    ("MainWindow", "saveButton"),
    ("MainWindow", "Export"),
    ("MainWindow", "optionsButton"),
    ("OptionsDialog", "okButton"),
    ("InboxPage", "refreshButton"),
    ("AboutDialog", "closeButton"),
    ("Careful", "OK"),
]
# Without debounce every show and click counts: the stack's return to its first page, the
# three clicks on Save and the dialog shown twice. The main window regaining focus never does.
VIEWS_UNDEBOUNCED = [
    *VIEWS[: VIEWS.index("Profile") + 1],
    "InboxPage",
    "OptionsDialog",
    "AboutDialog",
    "AboutDialog",
    "Careful",
]
TAPS_UNDEBOUNCED = [
    *[("MainWindow", "saveButton")] * 3,
    ("MainWindow", "Export"),
    ("MainWindow", "optionsButton"),
    ("OptionsDialog", "okButton"),
    ("InboxPage", "refreshButton"),
    *[("AboutDialog", "closeButton")] * 2,
    ("Careful", "OK"),
]


def run_app(server: StrictServer, tmp_path: Path, *args: str) -> None:
    env = sdk_env(server, tmp_path / "sdk", QT_QPA_PLATFORM="offscreen")
    done = run_script(["-m", "tests.integrations.apps.qt_app", *args], env)
    assert "usageanalytics" not in done.stderr, done.stderr  # no SDK warning or error
    assert server.rejected == []


def sessions(server: StrictServer) -> list[str]:
    """Session ids in the order their events arrived, each once."""
    seen: list[str] = []
    for event in server.events():
        session = event["_envelope"].get("sessionId")
        if session not in seen:
            seen.append(session)
    return seen


@pytest.mark.parametrize(
    ("binding", "order", "debounce"),
    [
        ("PySide6", "app-first", 0),
        ("PySide6", "framework-first", 60),
        ("PySide6", "configure-first", 60),
        ("PyQt6", "app-first", 60),
        ("PyQt6", "framework-first", 0),
        ("PyQt6", "configure-first", 60),
    ],
)
def test_screens_taps_and_the_apps_session(
    server: StrictServer, tmp_path: Path, binding: str, order: str, debounce: int
) -> None:
    run_app(server, tmp_path, binding, order, "browse", str(debounce))
    views = [name for _, name in screen_views(server)]
    assert views == (VIEWS_UNDEBOUNCED if debounce == 0 else VIEWS)
    assert taps(server) == (TAPS_UNDEBOUNCED if debounce == 0 else TAPS)
    names = [event["name"] for event in server.events()]
    order = [(e["name"], params(e).get("Control") or params(e).get("Screen Name")) for e in server.events()]
    assert order.index(("Tap", "optionsButton")) < order.index(("Screen View", "OptionsDialog"))
    # One session, from the application's start to its quit.
    assert names[0] == "app_session_start"
    assert names[-1] == "app_session_end"
    assert names.count("app_session_start") == names.count("app_session_end") == 1
    assert len(sessions(server)) == 1


@pytest.mark.parametrize(("binding", "order"), [("PySide6", "framework-first"), ("PyQt6", "app-first")])
def test_the_session_pauses_when_the_app_is_inactive_past_the_timeout(
    server: StrictServer, tmp_path: Path, binding: str, order: str
) -> None:
    run_app(server, tmp_path, binding, order, "pause")
    events = server.events()

    def session_of(screen: str) -> str:
        (view,) = [e for e in events if e["name"] == "Screen View" and params(e)["Screen Name"] == screen]
        return str(view["_envelope"]["sessionId"])

    before, after = session_of("MainWindow"), session_of("Table 5")
    assert before != after
    boundaries: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for event in events:
        if event["name"] in ("app_session_start", "app_session_end"):
            key = (event["name"], params(event)["sessionId"])
            boundaries.setdefault(key, []).append(params(event))
    # Every session that started ended exactly once, the one before the pause included, and
    # it ended before the one after it started.
    started = {session for kind, session in boundaries if kind == "app_session_start"}
    assert started == {session for kind, session in boundaries if kind == "app_session_end"}
    assert all(len(found) == 1 for found in boundaries.values())
    (end_before,) = boundaries[("app_session_end", before)]
    (start_after,) = boundaries[("app_session_start", after)]
    assert end_before["endTime"] <= start_after["startTime"]


def test_auto_capture_off_and_on_again_while_the_app_runs(server: StrictServer, tmp_path: Path) -> None:
    run_app(server, tmp_path, "PySide6", "framework-first", "toggle")
    # Off: the tab change to "Table 2" and the click were not captured. On again: the screens
    # on display are, then what follows.
    assert [name for _, name in screen_views(server)] == [
        "Table 1",
        "InboxPage",
        "MainWindow",
        "Table 2",
        "InboxPage",
        "MainWindow",
        "Table 3",
    ]
    assert taps(server) == [("MainWindow", "saveButton")]


def test_a_second_application_after_the_first_is_deleted_is_captured(
    server: StrictServer, tmp_path: Path
) -> None:
    script = """
import gc, sys
import usageanalytics as ua
ua.configure(customer_account_id="acct-1", collect_device_attributes=False)
from PySide6 import QtWidgets
for name in ("first", "second"):
    app = QtWidgets.QApplication(sys.argv[:1])
    dialog = QtWidgets.QDialog()
    dialog.setObjectName(name)
    dialog.show()
    app.processEvents()
    dialog.hide()
    del dialog
    app.shutdown()
    del app
    gc.collect()
assert ua.shutdown(timeout=30)
"""
    env = sdk_env(server, tmp_path / "sdk", QT_QPA_PLATFORM="offscreen")
    done = run_script(["-c", script], env)
    assert "usageanalytics" not in done.stderr, done.stderr
    assert [name for _, name in screen_views(server)] == ["first", "second"]
