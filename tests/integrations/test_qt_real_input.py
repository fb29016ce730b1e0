"""Qt auto-capture on an app written the way Qt's examples teach, driven with real input.

Each test runs ``tests/integrations/apps/qt_drive.py`` (the notepad in ``qt_notepad.py``,
offscreen, one process per binding) and checks what reached the strict server. Debounce is off
in these runs, so a trigger recorded twice would show as two Taps.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.integrations.helpers import params, run_script, sdk_env
from tests.support.strict_server import StrictServer

BINDINGS = [("PySide6", "framework-first"), ("PyQt6", "app-first")]


def drive(server: StrictServer, tmp_path: Path, binding: str, order: str, scenario: str) -> dict[str, Any]:
    env = sdk_env(server, tmp_path / "sdk", QT_QPA_PLATFORM="offscreen")
    output = tmp_path / "out"
    output.mkdir()
    done = run_script(["-m", "tests.integrations.apps.qt_drive", binding, order, scenario, str(output)], env)
    assert "usageanalytics" not in done.stderr, done.stderr  # no SDK warning or error
    assert "Warning" not in done.stderr, done.stderr  # nor one the SDK's patches make Qt print
    assert server.rejected == []
    facts: dict[str, Any] = json.loads((output / "facts.json").read_text())
    return facts


def timeline(server: StrictServer) -> list[tuple[str, str, str]]:
    """(event, Screen Name, Control) of every Screen View and Tap, in order."""
    return [
        (e["name"], params(e)["Screen Name"], params(e).get("Control", ""))
        for e in server.events()
        if e["name"] in ("Screen View", "Tap")
    ]


def view(screen: str) -> tuple[str, str, str]:
    return ("Screen View", screen, "")


def tap(screen: str, control: str) -> tuple[str, str, str]:
    return ("Tap", screen, control)


def no_qt_internal_names(server: StrictServer) -> None:
    for event in server.events():
        for value in params(event).values():
            assert not str(value).startswith(("qt_", "__qt__")), event


@pytest.mark.parametrize(("binding", "order"), BINDINGS)
def test_menus_toolbars_shortcuts_and_context_menus_are_taps(
    server: StrictServer, tmp_path: Path, binding: str, order: str
) -> None:
    drive(server, tmp_path, binding, order, "actions")
    assert timeline(server) == [
        view("MainWindow"),
        tap("MainWindow", "Save"),  # Ctrl+S (QKeySequence.StandardKey.Save), before its dialog
        view("QFileDialog"),  # Qt's own dialog, answered by typing a file name and Return
        tap("MainWindow", "New"),  # the toolbar's button for the New action: one Tap
        tap("MainWindow", "Save As"),  # File > Save As... by mouse ("Save &As..." as read)
        view("QFileDialog"),
        tap("MainWindow", "About"),  # Alt+H, Return
        view("About Application"),
        tap("About Application", "OK"),  # the message box's default button, by Return
        tap("MainWindow", "Save As"),  # Alt+F, then A, the item's mnemonic
        view("QFileDialog"),
        # Alt+E then Escape (a menu opened, nothing chosen) and the disabled Cut: nothing.
        tap("MainWindow", "Select All"),  # the editor's own context menu, built by Qt in C++
        tap("MainWindow", "Cut"),  # the toolbar's Cut, enabled by the selection
        # Ctrl+V is the editor's own key, not the Paste action; the app's own new_act.trigger()
        # and save_as_act.trigger() are not a person's Taps (its dialog is still a screen).
        view("QFileDialog"),
        tap("MainWindow", "New"),  # Ctrl+N
    ]
    no_qt_internal_names(server)
    names = [e["name"] for e in server.events()]
    assert names.count("app_session_start") == names.count("app_session_end") == 1


@pytest.mark.parametrize(("binding", "order"), BINDINGS)
def test_a_button_that_opens_a_menu_is_not_a_tap_the_item_chosen_is(
    server: StrictServer, tmp_path: Path, binding: str, order: str
) -> None:
    drive(server, tmp_path, binding, order, "menu_button")
    assert timeline(server) == [view("MainWindow"), tap("MainWindow", "Export PDF")]


@pytest.mark.parametrize(("binding", "order"), BINDINGS)
def test_a_wizard_walked_through_with_clicks_and_keys(
    server: StrictServer, tmp_path: Path, binding: str, order: str
) -> None:
    drive(server, tmp_path, binding, order, "wizard")
    assert timeline(server) == [
        view("MainWindow"),
        tap("MainWindow", "New Class"),  # Tools > New Class… by mouse
        view("Introduction"),  # pages by their titles, the wizard by its class
        view("ClassWizard"),
        tap("Introduction", "Next"),  # the wizard's Next: its text, not __qt__passive_wizardbutton1
        view("Class Information"),
        # Next clicked while the required class name is empty: disabled, nothing. Then the name
        # is typed and Return presses Next (recorded after the wizard's own handler).
        view("Code Style Options"),
        tap("Class Information", "Next"),
        tap("Code Style Options", "Back"),
        view("Class Information"),
        tap("Class Information", "Next"),
        view("Code Style Options"),
        tap("Code Style Options", "Next"),
        view("Conclusion"),
        tap("Conclusion", "Finish"),  # not qt_wizard_finish
    ]
    no_qt_internal_names(server)


@pytest.mark.parametrize(("binding", "order"), BINDINGS)
def test_a_stacked_settings_dialog_switched_by_its_list(
    server: StrictServer, tmp_path: Path, binding: str, order: str
) -> None:
    drive(server, tmp_path, binding, order, "settings")
    assert timeline(server) == [
        view("MainWindow"),
        tap("MainWindow", "Settings"),  # Alt+T, Down, Return ("&Settings…" as read)
        view("ConfigurationPage"),  # the stack's current page, then its dialog
        view("ConfigDialog"),
        view("UpdatePage"),  # its list item clicked
        tap("UpdatePage", "Start update"),  # a button on a page is on that page's screen
        view("QueryPage"),
        view("UpdatePage"),  # back with the Up key
        tap("ConfigDialog", "Close"),
    ]


def _time(value: str) -> float:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(("binding", "order"), BINDINGS)
def test_the_session_follows_the_app_in_and_out_of_the_foreground(
    server: StrictServer, tmp_path: Path, binding: str, order: str
) -> None:
    facts = drive(server, tmp_path, binding, order, "session")
    first, second = facts["first_session"], facts["second_session"]
    # Ten hours in front with nothing logged (the expiry check ran meanwhile): the same session.
    assert facts["ended_while_active"] == []
    assert facts["session_after_idle_hours"] == first
    # Inactive: one second short of the timeout, still on; past it, ended, and nothing runs
    # until the app is back, when a new session starts.
    assert facts["ended_before_timeout"] == []
    assert facts["ended"] == [first]
    assert facts["session_while_away"] is None
    assert second and second != first
    # Away for half the timeout, then hours in front again: the second session goes on.
    assert facts["session_after_brief_absence"] == second
    assert facts["ended_at_last"] == [first]

    ends = {params(e)["sessionId"]: params(e)["endTime"] for e in server.events("app_session_end")}
    starts = {params(e)["sessionId"]: params(e)["startTime"] for e in server.events("app_session_start")}
    assert set(starts) == set(ends) == {first, second}
    # The first session's end is the moment the app went inactive (millisecond precision).
    left_from, left_to = facts["left_at"]
    assert left_from - 0.001 <= _time(ends[first]) <= left_to + 0.001
    assert _time(ends[first]) <= _time(starts[second])
    tapped = [(params(e)["Screen Name"], e["_envelope"]["sessionId"]) for e in server.events("Tap")]
    assert tapped == [("MainWindow", first), ("MainWindow", second)]
