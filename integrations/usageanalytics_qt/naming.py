"""How Qt screens and controls are named, and which widgets are left out.

A screen (a window, a dialog, a page of a stacked or tab widget) is named, first found:

1. by the ``usageanalytics_name`` property the app sets (``page.setProperty(...)``);
2. for a page of a ``QTabWidget``, by its tab's text (nine ``QTableView`` tabs stay nine screens);
3. by the app's own subclass name (``class SettingsDialog(QDialog)``);
4. by its ``objectName``;
5. by its window title;
6. by its Qt class name.

A control (a button) is named by the property, else its ``objectName``, else its text, else its
accessible name, else its class name. The ``usageanalytics_ignore`` property on a widget or any
of its parents leaves it out.
"""

from __future__ import annotations

from typing import Any

NAME_PROPERTY = "usageanalytics_name"
IGNORE_PROPERTY = "usageanalytics_ignore"

_QT_MODULES = ("PySide6", "PyQt6", "shiboken6", "sip", "builtins")


def _text(value: Any) -> str:
    """A Qt string with mnemonic ampersands removed (``&Save`` is "Save", ``&&`` is "&")."""
    return str(value or "").replace("&&", "\0").replace("&", "").replace("\0", "&").strip()


def _own_class(widget: Any) -> str | None:
    """The app's own class name, if the widget is an instance of one."""
    cls = type(widget)
    return None if cls.__module__.split(".")[0] in _QT_MODULES else cls.__name__


def qt_class(widget: Any) -> str:
    """The first Qt class of the widget's type (``QTableView`` for an app's subclass of it)."""
    for cls in type(widget).__mro__:
        if cls.__module__.split(".")[0] in _QT_MODULES and cls.__module__ != "builtins":
            return cls.__name__
    return type(widget).__name__


def property_name(widget: Any) -> str | None:
    value = widget.property(NAME_PROPERTY)
    return str(value).strip() or None if value else None


def screen_name(widget: Any, tab_text: str | None = None) -> str:
    """The name of a window or page; ``tab_text`` is its tab's text if it is a tab page."""
    return (
        property_name(widget)
        or _text(tab_text)
        or _own_class(widget)
        or str(widget.objectName()).strip()
        or _text(widget.windowTitle())
        or qt_class(widget)
    )


def control_name(button: Any) -> str:
    return (
        property_name(button)
        or str(button.objectName()).strip()
        or _text(button.text())
        or str(button.accessibleName()).strip()
        or _own_class(button)
        or qt_class(button)
    )


def ignored(widget: Any) -> bool:
    """True if the widget or one of its parents opted out."""
    while widget is not None:
        if widget.property(IGNORE_PROPERTY):
            return True
        widget = widget.parentWidget()
    return False
