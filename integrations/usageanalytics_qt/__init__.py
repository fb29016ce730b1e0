"""Qt auto-capture (PySide6 and PyQt6): screen views, taps and the app's session, no app code.

The core attaches this when ``PySide6.QtWidgets`` or ``PyQt6.QtWidgets`` is imported. One
application-wide event filter (installed on the ``QApplication`` as soon as it exists: at once
if it already does, else right after its ``__init__``) sees every widget's events, including
dialogs Qt creates in C++ (``QMessageBox.warning()``), which wrapping ``showEvent`` would miss:

- a "Screen View" when a window, dialog or message box is shown, and when a page of a
  ``QStackedWidget`` or ``QTabWidget`` becomes current (being shown counts; regaining focus
  after a dialog closes does not, as nothing is shown again);
- a "Tap" (with "Screen Name" and "Control") when a button is clicked, by mouse, keyboard or
  shortcut (a mouse click is recorded before the app's handlers run, so it precedes the
  dialog it opens);
- the session starts with the application, ends when it quits, and pauses when the application
  stays inactive (another app in front) for longer than the session timeout.

Names: see :mod:`usageanalytics_qt.naming`. A widget opts out, with everything inside it, with
``widget.setProperty("usageanalytics_ignore", True)``.
"""

from __future__ import annotations

from types import ModuleType

from .capture import Binding

_bindings: dict[str, Binding] = {}


def install_pyside6(qt_widgets: ModuleType) -> None:
    """Hook for ``PySide6.QtWidgets``."""
    _install("PySide6", qt_widgets)


def install_pyqt6(qt_widgets: ModuleType) -> None:
    """Hook for ``PyQt6.QtWidgets``."""
    _install("PyQt6", qt_widgets)


def _install(name: str, qt_widgets: ModuleType) -> None:
    binding = _bindings.get(name)
    if binding is None:
        binding = _bindings[name] = Binding(name, qt_widgets)
    binding.install()


def uninstall() -> None:
    """Remove the event filter and the ``QApplication`` patch of every binding."""
    for binding in _bindings.values():
        binding.uninstall()
