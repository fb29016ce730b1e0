"""Qt auto-capture (PySide6 and PyQt6): screen views, taps and the app's session, no app code.

The core attaches this when ``PySide6.QtWidgets`` or ``PyQt6.QtWidgets`` is imported. One
application-wide event filter (installed on the ``QApplication`` as soon as it exists: at once
if it already does, else right after its ``__init__``) sees every widget's events, including
dialogs and menus Qt creates in C++ (``QMessageBox.warning()``, an editor's context menu):

- a "Screen View" when a window, dialog or message box is shown, and when a page of a
  ``QStackedWidget`` or ``QTabWidget`` or a ``QWizard`` page becomes current;
- a "Tap" (with "Screen Name" and "Control") when a person clicks a button or triggers an
  action: a menu item, a toolbar button, a shortcut, a context-menu entry. The app's own
  ``action.trigger()`` calls are not Taps (``QAction.trigger``/``activate`` are wrapped to tell);
- the session follows the app in and out of the foreground (``Client.set_app_active``).

Names: see :mod:`usageanalytics_qt.naming`. A widget opts out, with everything inside it, with
``widget.setProperty("usageanalytics_ignore", True)``; so does an action.
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
