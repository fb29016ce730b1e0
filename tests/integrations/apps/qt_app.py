"""A small Qt app driven through a fixed scenario, for the auto-capture tests (run offscreen).

    python -m tests.integrations.apps.qt_app BINDING ORDER SCENARIO [DEBOUNCE]

BINDING: PySide6 or PyQt6. ORDER: ``app-first`` (the application and its window created and
shown, then ``configure()``), ``framework-first`` (Qt imported, ``configure()``, then the app),
``configure-first`` (``configure()`` before Qt is imported). SCENARIO: ``browse`` (windows,
tabs, stacked pages, buttons, dialogs), ``pause`` (the app goes inactive past the session
timeout, then comes back) or ``toggle`` (auto-capture turned off, then on again, while the app
runs). The SDK reads its app id, key and endpoint from the environment.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable
from typing import Any

import usageanalytics as ua

WAIT = 30.0


def configure(scenario: str, debounce: float) -> None:
    options: dict[str, Any] = {"session_timeout": 1.0} if scenario == "pause" else {}
    ua.configure(
        customer_account_id="acct-1",
        collect_device_attributes=False,
        debounce_window=debounce,
        flush_interval=3600.0,
        **options,
    )


class Qt:
    """The binding's modules, imported on demand (so ``configure-first`` can come first)."""

    def __init__(self, binding: str) -> None:
        self.widgets = importlib.import_module(f"{binding}.QtWidgets")
        self.core = importlib.import_module(f"{binding}.QtCore")
        self.test = importlib.import_module(f"{binding}.QtTest")


def build(qt: Qt) -> dict[str, Any]:
    """The app's main window: nine table tabs, a stack of pages, buttons. Returns its parts."""
    w = qt.widgets

    class MainWindow(w.QMainWindow):  # type: ignore[misc, name-defined]
        pass

    class InboxPage(w.QWidget):  # type: ignore[misc, name-defined]
        pass

    window = MainWindow()
    central = w.QWidget()
    layout = w.QVBoxLayout(central)
    tabs = w.QTabWidget()
    for number in range(1, 10):
        tabs.addTab(w.QTableView(), f"Table &{number}")
    layout.addWidget(tabs)

    stack = w.QStackedWidget()
    inbox = InboxPage()
    refresh = w.QPushButton("Refresh", inbox)
    refresh.setObjectName("refreshButton")
    settings_page = w.QWidget()
    settings_page.setObjectName("settingsPage")
    profile = w.QWidget()
    profile.setProperty("usageanalytics_name", "Profile")
    secret_page = w.QWidget()
    secret_page.setProperty("usageanalytics_ignore", True)
    for page in (inbox, settings_page, profile, secret_page):
        stack.addWidget(page)
    layout.addWidget(stack)

    save = w.QPushButton("&Save")
    save.setObjectName("saveButton")
    export = w.QPushButton("&Export")
    options = w.QPushButton("&Options")
    options.setObjectName("optionsButton")

    class OptionsDialog(w.QDialog):  # type: ignore[misc, name-defined]
        pass

    def open_options() -> None:  # a modal dialog opened by the click: after its Tap
        dialog = OptionsDialog(window)
        ok = w.QPushButton("OK", dialog)
        ok.setObjectName("okButton")
        ok.clicked.connect(dialog.accept)
        qt.core.QTimer.singleShot(10, lambda: click(qt, ok))
        dialog.exec()

    options.clicked.connect(open_options)
    secret = w.QPushButton("Secret")
    secret.setProperty("usageanalytics_ignore", True)
    for button in (save, export, options, secret):
        layout.addWidget(button)
    window.setCentralWidget(central)
    return {
        "window": window,
        "tabs": tabs,
        "stack": stack,
        "refresh": refresh,
        "save": save,
        "export": export,
        "options": options,
        "secret": secret,
    }


def wait_until(qt: Qt, condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the app")
        qt.test.QTest.qWait(10)


def click(qt: Qt, button: Any) -> None:
    qt.test.QTest.mouseClick(button, qt.core.Qt.MouseButton.LeftButton)


def browse(qt: Qt, app: Any, parts: dict[str, Any]) -> None:
    w, core = qt.widgets, qt.core
    settle = app.processEvents
    for index in range(1, 9):
        parts["tabs"].setCurrentIndex(index)
        settle()
    for index in (1, 2, 3, 0):
        parts["stack"].setCurrentIndex(index)
        settle()
    for _ in range(3):
        click(qt, parts["save"])  # tap-tap-tap
    parts["export"].setFocus()
    qt.test.QTest.keyClick(parts["export"], core.Qt.Key.Key_Space)  # a tap by keyboard
    click(qt, parts["options"])
    click(qt, parts["secret"])
    click(qt, parts["refresh"])

    class AboutDialog(w.QDialog):  # type: ignore[misc, name-defined]
        pass

    about = AboutDialog(parts["window"])
    close = w.QPushButton("Close", about)
    close.setObjectName("closeButton")
    close.clicked.connect(about.accept)
    for _ in range(2):  # shown twice in a row: one view when debounced
        about.show()
        settle()
        click(qt, close)
        settle()

    def answer_message_box() -> None:
        box = app.activeModalWidget()
        if isinstance(box, w.QMessageBox):
            box.button(w.QMessageBox.StandardButton.Ok).click()
        else:
            core.QTimer.singleShot(10, answer_message_box)

    core.QTimer.singleShot(10, answer_message_box)
    w.QMessageBox.warning(parts["window"], "Careful", "Delete everything?")  # made by Qt, in C++
    settle()
    parts["window"].activateWindow()  # focus back on the main window: not a new view
    settle()


def pause(qt: Qt, app: Any, parts: dict[str, Any]) -> None:
    state = qt.core.Qt.ApplicationState
    ended: list[str] = []
    ua.signals.session_ended.connect(lambda sender, **info: ended.append(info["session_id"]), weak=False)
    app.applicationStateChanged.emit(state.ApplicationInactive)  # another app came to the front
    wait_until(qt, lambda: bool(ended))  # past the timeout, the session ends
    app.applicationStateChanged.emit(state.ApplicationActive)  # back: a new session
    parts["tabs"].setCurrentIndex(4)
    app.processEvents()


def toggle(qt: Qt, app: Any, parts: dict[str, Any]) -> None:
    app_class = qt.widgets.QApplication
    patched_init = vars(app_class)["__init__"]
    ua.configure(customer_account_id="acct-1", collect_device_attributes=False, auto_capture=False)
    assert vars(app_class).get("__init__") is not patched_init, "QApplication still patched"
    parts["tabs"].setCurrentIndex(1)
    click(qt, parts["save"])
    app.processEvents()
    configure("toggle", 60.0)  # on again: attaches to the running app and its visible screens
    parts["tabs"].setCurrentIndex(2)
    click(qt, parts["save"])
    app.processEvents()


def main() -> None:
    binding, order, scenario = sys.argv[1:4]
    debounce = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    if order == "configure-first":
        configure(scenario, debounce)
        assert binding not in sys.modules, "the SDK imported Qt"
    qt = Qt(binding)
    if order == "framework-first":
        configure(scenario, debounce)
    app = qt.widgets.QApplication(sys.argv[:1])
    parts = build(qt)
    parts["window"].show()
    qt.test.QTest.qWait(20)
    if order == "app-first":
        configure(scenario, debounce)
    {"browse": browse, "pause": pause, "toggle": toggle}[scenario](qt, app, parts)
    qt.core.QTimer.singleShot(0, app.quit)
    app.exec()
    if not ua.shutdown(timeout=30):
        raise SystemExit("the SDK could not deliver everything")


if __name__ == "__main__":
    main()
