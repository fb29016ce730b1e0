"""A small Qt mail client whose analytics come from one ``configure()`` call and nothing else.

    python examples/qt_app.py            # PySide6; add --pyqt6 for PyQt6
    python examples/qt_app.py --demo     # clicks through by itself, then quits (works offscreen)

Windows, dialogs, message boxes and the tabs you switch to are "Screen View"s; button clicks and
the menu items, toolbar buttons and shortcuts you use are "Tap"s ("New Message" from File > New
Message..., the toolbar or Ctrl+N); the session runs while the app is in front. Reports to the local collector
(``usageanalytics collector``, http://127.0.0.1:8787) unless ``USAGEANALYTICS_ENDPOINT`` and
``USAGEANALYTICS_API_KEY`` say otherwise.
"""

from __future__ import annotations

import importlib
import os
import sys

import usageanalytics as ua

ua.configure(
    "example-qt",
    api_key=os.environ.get("USAGEANALYTICS_API_KEY", "demo"),
    endpoint=os.environ.get("USAGEANALYTICS_ENDPOINT", "http://127.0.0.1:8787/v4/"),
    customer_account_id="demo-account",
)

BINDING = "PyQt6" if "--pyqt6" in sys.argv else "PySide6"
QtCore = importlib.import_module(f"{BINDING}.QtCore")
QtGui = importlib.import_module(f"{BINDING}.QtGui")
QtWidgets = importlib.import_module(f"{BINDING}.QtWidgets")


class ComposeDialog(QtWidgets.QDialog):  # type: ignore[misc, name-defined]
    """Shown as the screen "ComposeDialog": the app's own class names its screen."""

    def __init__(self, parent: QtWidgets.QWidget) -> None:  # type: ignore[name-defined]
        super().__init__(parent)
        self.setWindowTitle("New message")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QTextEdit())
        self.send = QtWidgets.QPushButton("&Send")
        self.send.clicked.connect(self.accept)
        layout.addWidget(self.send)


class MailWindow(QtWidgets.QMainWindow):  # type: ignore[misc, name-defined]
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Example mail")
        self.tabs = QtWidgets.QTabWidget()
        for folder in ("Inbox", "Archive", "Spam"):
            self.tabs.addTab(QtWidgets.QTableView(), folder)  # screens "Inbox", "Archive", "Spam"
        self.new_message = QtGui.QAction("&New Message...", self)
        self.new_message.setShortcut(QtGui.QKeySequence.StandardKey.New)
        self.new_message.triggered.connect(lambda: ComposeDialog(self).exec())
        self.menuBar().addMenu("&File").addAction(self.new_message)  # a Tap "New Message"
        self.addToolBar("Mail").addAction(self.new_message)  # the same action, the same Tap
        self.compose = QtWidgets.QPushButton("&Compose")
        self.compose.clicked.connect(lambda: ComposeDialog(self).exec())
        self.delete = QtWidgets.QPushButton("&Delete")
        self.delete.clicked.connect(self.confirm_delete)
        central = QtWidgets.QWidget()
        layout = QtWidgets.QVBoxLayout(central)
        for widget in (self.tabs, self.compose, self.delete):
            layout.addWidget(widget)
        self.setCentralWidget(central)

    def confirm_delete(self) -> None:
        QtWidgets.QMessageBox.question(self, "Delete", "Delete the selected messages?")


def demo(app: QtWidgets.QApplication, window: MailWindow) -> None:  # type: ignore[name-defined]
    """Click through the app as a person would, answering each dialog, then quit."""
    test = importlib.import_module(f"{BINDING}.QtTest").QTest
    steps = [
        lambda: test.keyClick(window, QtCore.Qt.Key.Key_N, QtCore.Qt.KeyboardModifier.ControlModifier),
        lambda: window.tabs.setCurrentIndex(1),
        lambda: window.tabs.setCurrentIndex(2),
        window.compose.click,
        window.delete.click,
        app.quit,
    ]

    def answer_dialog() -> None:
        dialog = app.activeModalWidget()
        if isinstance(dialog, ComposeDialog):
            dialog.send.click()
        elif isinstance(dialog, QtWidgets.QMessageBox):
            dialog.button(QtWidgets.QMessageBox.StandardButton.No).click()
        if steps or dialog is not None:
            QtCore.QTimer.singleShot(50, answer_dialog)

    def next_step() -> None:
        if steps:
            step = steps.pop(0)
            QtCore.QTimer.singleShot(100, next_step)
            step()

    QtCore.QTimer.singleShot(100, next_step)
    QtCore.QTimer.singleShot(50, answer_dialog)


def main() -> None:
    app = QtWidgets.QApplication(sys.argv[:1])
    window = MailWindow()
    window.show()
    if "--demo" in sys.argv:
        demo(app, window)
    app.exec()
    ua.shutdown()


if __name__ == "__main__":
    main()
