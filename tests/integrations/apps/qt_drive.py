"""Drive the notepad (``qt_notepad.py``) with real input, as a person would, under auto-capture.

    python -m tests.integrations.apps.qt_drive BINDING ORDER SCENARIO OUTPUT_DIR

Mouse clicks, key presses and typed text go through ``QTest`` to the widgets (the offscreen
platform has no pointer or keyboard of its own); dialogs the app opens with ``exec()`` are
answered from inside their own event loop. SCENARIO: ``actions`` (shortcuts, toolbar, menus by
mouse and keyboard, a context menu, the app's own ``trigger()``), ``wizard``, ``settings``
(the stacked settings pages) or ``session`` (the app inactive and active again, with an injected
clock). ORDER: ``app-first`` (the window is built before ``configure()``) or
``framework-first``. Writes ``OUTPUT_DIR/facts.json`` with what the test needs to check
against the server (times, session ids). The SDK reads its app id, key and endpoint from the
environment.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import usageanalytics as ua

WAIT = 60.0
facts: dict[str, Any] = {}


def configure() -> ua.Client:
    return ua.configure(
        customer_account_id="acct-1",
        collect_device_attributes=False,
        debounce_window=0.0,  # every trigger counts, so a double Tap would show
        flush_interval=3600.0,
    )


class Driver:
    def __init__(self, notepad: Any, output: Path) -> None:
        self.qt = notepad
        self.core, self.widgets = notepad.QtCore, notepad.QtWidgets
        self.test = __import__(f"{notepad.BINDING}.QtTest", fromlist=["QTest"]).QTest
        self.app = self.widgets.QApplication.instance()
        self.output = output
        self.Qt = self.core.Qt

    # -- input --------------------------------------------------------------------------------

    def wait_until(self, condition: Callable[[], Any], what: str) -> Any:
        deadline = time.monotonic() + WAIT
        while True:
            found = condition()
            if found:
                return found
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"timed out waiting for {what} (active window {self.app.activeWindow()}, "
                    f"focus {self.app.focusWidget()}, modal {self.app.activeModalWidget()})"
                )
            self.test.qWait(10)

    def click(self, widget: Any, pos: Any = None, button: Any = None) -> None:
        button = button if button is not None else self.Qt.MouseButton.LeftButton
        no = self.Qt.KeyboardModifier.NoModifier
        if pos is None:
            self.test.mouseClick(widget, button)
        else:
            self.test.mouseMove(widget, pos)  # the pointer comes to the item first, as a hand does
            self.test.mouseClick(widget, button, no, pos)

    def key(self, widget: Any, key: str, modifiers: Any = None) -> None:
        modifiers = modifiers if modifiers is not None else self.Qt.KeyboardModifier.NoModifier
        self.test.keyClick(widget, getattr(self.Qt.Key, f"Key_{key}"), modifiers)

    def ctrl(self, widget: Any, key: str) -> None:
        self.key(widget, key, self.Qt.KeyboardModifier.ControlModifier)

    def alt(self, widget: Any, key: str) -> None:
        self.key(widget, key, self.Qt.KeyboardModifier.AltModifier)

    def popup(self) -> Any:
        return self.wait_until(self.app.activePopupWidget, "a menu to open")

    def choose(self, menu: Any, action: Any) -> None:
        """Point at ``action`` in the open ``menu``, wait for it to light up, and click it."""
        position = menu.actionGeometry(action).center()
        self.test.mouseMove(menu, position)
        self.wait_until(lambda: menu.activeAction() == action, f"{action.text()!r} to be highlighted")
        no = self.Qt.KeyboardModifier.NoModifier
        self.test.mouseClick(menu, self.Qt.MouseButton.LeftButton, no, position)

    def when_modal(self, kind: Any, answer: Callable[[Any], None]) -> None:
        """Answer the next modal dialog of ``kind`` from inside its event loop."""

        def poll() -> None:
            dialog = self.app.activeModalWidget()
            if isinstance(dialog, kind) and dialog.isVisible() and self.app.activeWindow() is dialog:
                answer(dialog)
            else:
                self.core.QTimer.singleShot(10, poll)

        self.core.QTimer.singleShot(10, poll)

    def when_popup(self, answer: Callable[[Any], None]) -> None:
        """Answer the next menu that pops up (a context menu's ``exec()``), from inside its loop."""

        def poll() -> None:
            menu = self.app.activePopupWidget()
            if menu is not None and menu.isVisible():
                answer(menu)
            else:
                self.core.QTimer.singleShot(10, poll)

        self.core.QTimer.singleShot(10, poll)

    def save_in(self, name: str) -> Callable[[Any], None]:
        def answer(dialog: Any) -> None:
            edit = dialog.findChild(self.widgets.QLineEdit, "fileNameEdit")
            edit.setFocus()
            self.test.keyClicks(edit, str(self.output / name))
            self.key(edit, "Return")

        return answer

    def press_ok(self, box: Any) -> None:
        self.key(box, "Return")  # the default button, by keyboard

    def escape(self, dialog: Any) -> None:
        self.key(dialog, "Escape")

    def back_to(self, window: Any, widget: Any) -> None:
        """A closed dialog hands the keyboard back to its window (the window manager's job,
        which the offscreen platform does not do), then to ``widget`` in it."""
        self.wait_until(lambda: self.app.activeModalWidget() is None, "the dialog to close")
        window.activateWindow()
        self.wait_until(window.isActiveWindow, "the window to be active again")
        widget.setFocus()

    # -- scenarios ------------------------------------------------------------------------------

    def actions(self, window: Any) -> None:
        editor = window.text_edit
        editor.setFocus()
        self.test.keyClicks(editor, "Hello Qt")  # typing is not a Tap
        # Ctrl+S: Save has no file yet, so it asks for one (Qt's QFileDialog, answered by typing).
        self.when_modal(self.widgets.QFileDialog, self.save_in("first.txt"))
        self.ctrl(editor, "S")
        self.wait_until(lambda: window.saved, "the file to be saved")
        self.back_to(window, editor)
        # The toolbar's New: a tool button backed by the action.
        self.click(window.file_tool_bar.widgetForAction(window.new_act))
        assert editor.toPlainText() == "", "New did not run"
        # File > Save As... with the mouse; the dialog is cancelled.
        menu_bar = window.menuBar()
        self.click(menu_bar, menu_bar.actionGeometry(window.file_menu.menuAction()).center())
        self.when_modal(self.widgets.QFileDialog, self.escape)
        self.choose(self.popup(), window.save_as_act)
        # Help > About by keyboard: Alt+H opens the menu on its first item, Return chooses it.
        self.back_to(window, editor)
        self.when_modal(self.widgets.QMessageBox, self.press_ok)
        self.alt(editor, "H")
        self.key(self.popup(), "Return")
        # File menu by keyboard, then Save As by its mnemonic letter; cancelled.
        self.back_to(window, editor)
        self.alt(editor, "F")
        self.when_modal(self.widgets.QFileDialog, self.escape)
        self.key(self.popup(), "A")
        # A menu opened and closed is not a Tap; nor is a disabled toolbar button.
        self.back_to(window, editor)
        self.alt(editor, "E")
        self.key(self.popup(), "Escape")
        self.wait_until(lambda: self.app.activePopupWidget() is None, "the menu to close")
        self.back_to(window, editor)
        self.test.keyClicks(editor, "more")
        self.click(window.edit_tool_bar.widgetForAction(window.cut_act))  # disabled: no selection
        # The editor's own context menu (built by Qt in C++): Select All, by mouse.
        self.when_popup(self.select_all)
        position = editor.viewport().rect().center()
        self.send_context_menu(editor.viewport(), position)
        # The editor opens its menu with popup(), not exec(): wait for the choice.
        self.wait_until(lambda: editor.textCursor().hasSelection(), "Select All to run")
        self.back_to(window, editor)
        # Now Cut is enabled: the toolbar button, then Paste by its shortcut.
        self.click(window.edit_tool_bar.widgetForAction(window.cut_act))
        assert editor.toPlainText() == "", "Cut did not run"
        self.ctrl(editor, "V")  # the editor's own paste key (its shortcut override): not the action
        # The app triggering its own action from code is not a person's Tap.
        window.new_act.trigger()
        self.core.QTimer.singleShot(0, window.save_as_act.trigger)
        answered: list[Any] = []
        self.when_modal(self.widgets.QFileDialog, lambda box: (answered.append(box), self.escape(box)))
        self.wait_until(lambda: answered, "the app's own Save As")
        # Ctrl+N: the New action's standard shortcut.
        self.back_to(window, editor)
        self.ctrl(editor, "N")

    def menu_button(self, window: Any) -> None:
        """A push button with a menu (Qt's "Export" button pattern): opening its menu is not a
        Tap, by mouse or by keyboard; the item chosen in it is."""
        gui = __import__(f"{self.qt.BINDING}.QtGui", fromlist=["QAction"])
        menu = self.widgets.QMenu(window)
        export_pdf = gui.QAction("Export &PDF…", window)
        exported: list[bool] = []
        export_pdf.triggered.connect(lambda: exported.append(True))
        menu.addAction(export_pdf)
        button = self.widgets.QPushButton("&Export", window)
        button.setMenu(menu)
        window.statusBar().addPermanentWidget(button)
        self.wait_until(button.isVisible, "the button to show")
        self.when_popup(self.escape)  # opened by mouse, closed: nothing chosen
        self.click(button)
        self.wait_until(lambda: self.app.activePopupWidget() is None, "the menu to close")
        self.back_to(window, button)
        self.when_popup(self.escape)  # opened by keyboard, closed
        self.key(button, "Space")
        self.wait_until(lambda: self.app.activePopupWidget() is None, "the menu to close")
        self.back_to(window, button)
        self.when_popup(lambda opened: self.choose(opened, export_pdf))  # opened, item chosen
        self.click(button)
        self.wait_until(lambda: exported, "Export PDF to run")

    def send_context_menu(self, widget: Any, position: Any) -> None:
        """A right click, as the window system delivers it: press, release, then the
        context-menu event (QTest sends the mouse events; the platform would add the last)."""
        gui = __import__(f"{self.qt.BINDING}.QtGui", fromlist=["QContextMenuEvent"])
        self.click(widget, position, self.Qt.MouseButton.RightButton)
        event = gui.QContextMenuEvent(
            gui.QContextMenuEvent.Reason.Mouse, position, widget.mapToGlobal(position)
        )
        self.app.sendEvent(widget, event)

    def select_all(self, menu: Any) -> None:
        (select_all,) = [a for a in menu.actions() if a.text().startswith("Select All")]
        self.choose(menu, select_all)

    def wizard(self, window: Any) -> None:
        def walk(wizard: Any) -> None:
            next_button = wizard.button(self.widgets.QWizard.WizardButton.NextButton)
            back_button = wizard.button(self.widgets.QWizard.WizardButton.BackButton)
            finish_button = wizard.button(self.widgets.QWizard.WizardButton.FinishButton)
            self.click(next_button)  # Introduction -> Class Information
            page = wizard.currentPage()
            self.click(next_button)  # disabled until the required class name is typed: nothing
            assert wizard.currentPage() is page, "Next worked without the required field"
            page.class_name.setFocus()
            self.test.keyClicks(page.class_name, "Notepad")
            self.key(page.class_name, "Return")  # the default button, Next, by keyboard
            self.wait_until(lambda: wizard.currentId() == 2, "the code style page")
            self.click(back_button)
            self.click(next_button)
            self.click(next_button)
            self.wait_until(lambda: finish_button.isVisible(), "the Finish button")
            self.click(finish_button)

        tools = window.menuBar()
        self.click(tools, tools.actionGeometry(window.tools_menu.menuAction()).center())
        self.when_modal(self.widgets.QWizard, walk)
        self.choose(self.popup(), window.wizard_act)
        self.back_to(window, window.text_edit)
        assert "class Notepad;" in window.text_edit.toPlainText(), "the wizard did not finish"

    def settings(self, window: Any) -> None:
        def browse(dialog: Any) -> None:
            contents = dialog.contents
            for row in (1, 2):  # Update, then Query, with the mouse
                rect = contents.visualItemRect(contents.item(row))
                self.click(contents.viewport(), rect.center())
                if row == 1:
                    self.click(dialog.pages.currentWidget().start)
            contents.setFocus()
            self.key(contents, "Up")  # back to Update with the keyboard
            self.wait_until(lambda: dialog.pages.currentIndex() == 1, "the Update page")
            (close,) = [b for b in dialog.findChildren(self.widgets.QPushButton) if b.text() == "Close"]
            self.click(close)

        editor = window.text_edit
        editor.setFocus()
        self.when_modal(notepad_module().ConfigDialog, browse)
        self.alt(editor, "T")
        menu = self.popup()
        self.key(menu, "Down")  # from New Class... to Settings...
        self.key(menu, "Return")

    def session(self, window: Any, client: ua.Client, clock: FakeClock) -> None:
        """Active for hours with nothing logged; inactive past the timeout; back; inactive
        briefly; back. The platform has no other app to switch to, so the app's state change
        is the signal Qt emits, emitted here; the first activation (at start) was Qt's own."""
        state = self.Qt.ApplicationState
        ended: list[str] = []
        ua.signals.session_ended.connect(lambda sender, **info: ended.append(info["session_id"]), weak=False)
        self.wait_until(lambda: self.app.applicationState() == state.ApplicationActive, "activation")
        facts["first_session"] = client.session_id
        clock.advance(10 * 3600)  # ten hours in front without a single event
        clock.wait_for_expiry_checks(self)
        facts["ended_while_active"] = list(ended)
        self.click(window.file_tool_bar.widgetForAction(window.new_act))
        facts["session_after_idle_hours"] = client.session_id

        facts["left_at"] = [time.time()]
        self.app.applicationStateChanged.emit(state.ApplicationInactive)  # another app in front
        facts["left_at"].append(time.time())
        clock.advance(client.settings.session_timeout - 1)
        clock.wait_for_expiry_checks(self)
        facts["ended_before_timeout"] = list(ended)
        clock.advance(2)
        self.wait_until(lambda: ended, "the session to end")
        facts["ended"] = list(ended)
        facts["session_while_away"] = client.session_id
        self.app.applicationStateChanged.emit(state.ApplicationActive)  # back
        facts["second_session"] = client.session_id
        self.click(window.file_tool_bar.widgetForAction(window.new_act))

        self.app.applicationStateChanged.emit(state.ApplicationInactive)  # away briefly
        clock.advance(client.settings.session_timeout / 2)
        clock.wait_for_expiry_checks(self)
        self.app.applicationStateChanged.emit(state.ApplicationActive)
        clock.advance(client.settings.session_timeout * 3)
        clock.wait_for_expiry_checks(self)
        facts["session_after_brief_absence"] = client.session_id
        facts["ended_at_last"] = list(ended)


class FakeClock:
    """The sessions' monotonic clock, moved by hand; counts the reads of the SDK's own threads
    (its expiry checks run on the writer thread once a second)."""

    def __init__(self) -> None:
        self.now = time.monotonic()
        self.background_reads = 0
        self.main = threading.main_thread()

    def __call__(self) -> float:
        if threading.current_thread() is not self.main:
            self.background_reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def wait_for_expiry_checks(self, driver: Driver) -> None:
        seen = self.background_reads
        driver.wait_until(lambda: self.background_reads >= seen + 2, "two expiry checks")


def notepad_module() -> Any:
    return sys.modules["tests.integrations.apps.qt_notepad"]


def main() -> None:
    binding, order, scenario, output = sys.argv[1:5]
    os.environ["QT_APP_BINDING"] = binding
    client = configure() if order == "framework-first" else None
    from tests.integrations.apps import qt_notepad as notepad

    app = notepad.QtWidgets.QApplication(sys.argv[:1])
    window = notepad.MainWindow()
    window.show()
    if client is None:
        client = configure()
    clock = FakeClock()
    client._sessions.clock = clock  # the session timeout measured on a clock the test moves
    driver = Driver(notepad, Path(output))
    driver.wait_until(window.isActiveWindow, "the window to be active")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            if scenario == "session":
                driver.session(window, client, clock)
            else:
                getattr(driver, scenario)(window)
        except BaseException as error:  # reported after the loop ends
            failure.append(error)
        finally:
            app.quit()

    notepad.QtCore.QTimer.singleShot(0, run)
    app.exec()
    if failure:
        raise failure[0]
    (Path(output) / "facts.json").write_text(json.dumps(facts))
    if not ua.shutdown(timeout=30):
        raise SystemExit("the SDK could not deliver everything")


if __name__ == "__main__":
    main()
