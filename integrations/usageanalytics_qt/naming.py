"""How Qt screens, controls and actions are named, and which are left out.

A screen (a window, a dialog, a page of a stacked or tab widget, a wizard page) is named, first
found:

1. by the ``usageanalytics_name`` property the app sets (``page.setProperty(...)``);
2. for a page of a ``QTabWidget``, by its tab's text (nine ``QTableView`` tabs stay nine screens);
   for a ``QWizardPage``, by its title;
3. by the app's own subclass name (``class SettingsDialog(QDialog)``);
4. by its ``objectName``;
5. by its window title;
6. by its Qt class name.

A control (a button) is named by the property, else its ``objectName``, else its text, else its
accessible name, else its class name. An action by the property, else its text, else its icon
text or tool tip, else its ``objectName``, else its class name.

Texts are read as a person sees them: without mnemonic ampersands, the shortcut Qt shows after a
tab, a trailing "..." or "…", a wizard's "<" and ">" arrows or rich-text tags ("Save &As..." is
"Save As", "&Next >" is "Next"). Names Qt gives its own widgets (``qt_*``, ``__qt__*``) never
name anything. The ``usageanalytics_ignore`` property on a widget or action, or on any parent
widget, leaves it out.
"""

from __future__ import annotations

import html
import re
from typing import Any

NAME_PROPERTY = "usageanalytics_name"
IGNORE_PROPERTY = "usageanalytics_ignore"

_QT_MODULES = ("PySide6", "PyQt6", "shiboken6", "sip", "builtins")
_QT_OWN_NAME = ("qt_", "__qt__")
_TAG = re.compile(r"<[a-zA-Z/!][^>]*>")
_ELLIPSIS = ("...", "\u2026")


def visible_text(value: Any) -> str:
    """A Qt string as a person reads it (see the module's docstring)."""
    text = str(value or "").split("\t", 1)[0]  # "Cu&t\tCtrl+X": after the tab is the shortcut
    if "<" in text and _TAG.search(text):
        text = html.unescape(_TAG.sub("", text))
    text = text.replace("&&", "\0").replace("&", "").replace("\0", "&").strip()
    for ellipsis in _ELLIPSIS:
        if text.endswith(ellipsis):
            text = text[: -len(ellipsis)].rstrip()
    if text.startswith("< ") and len(text) > 2:
        text = text[2:].lstrip()
    if text.endswith(" >") and len(text) > 2:
        text = text[:-2].rstrip()
    return text


def mnemonic(text: str) -> str | None:
    """The upper-cased letter after the first single ``&`` ("Save &As..." has "A")."""
    start = 0
    while True:
        index = text.find("&", start)
        if index < 0 or index + 1 >= len(text):
            return None
        if text[index + 1] != "&":
            return text[index + 1].upper()
        start = index + 2


def is_qt_own_name(name: str) -> bool:
    """True for the object names Qt gives its own parts (``qt_wizard_finish``)."""
    return name.startswith(_QT_OWN_NAME)


def object_name(item: Any) -> str:
    """The ``objectName`` the app gave, or "" (Qt's own names do not count)."""
    name = str(item.objectName()).strip()
    return "" if is_qt_own_name(name) else name


def _own_class(item: Any) -> str | None:
    """The app's own class name, if the item is an instance of one."""
    cls = type(item)
    return None if cls.__module__.split(".")[0] in _QT_MODULES else cls.__name__


def qt_class(item: Any) -> str:
    """The first Qt class of the item's type (``QTableView`` for an app's subclass of it)."""
    for cls in type(item).__mro__:
        if cls.__module__.split(".")[0] in _QT_MODULES and cls.__module__ != "builtins":
            return cls.__name__
    return type(item).__name__


def property_name(item: Any) -> str | None:
    value = item.property(NAME_PROPERTY)
    return str(value).strip() or None if value else None


def screen_name(widget: Any, own_text: str | None = None) -> str:
    """The name of a window or page; ``own_text`` is its tab's text or its wizard page title."""
    return (
        property_name(widget)
        or visible_text(own_text)
        or _own_class(widget)
        or object_name(widget)
        or visible_text(widget.windowTitle())
        or qt_class(widget)
    )


def control_name(button: Any) -> str:
    return (
        property_name(button)
        or object_name(button)
        or visible_text(button.text())
        or str(button.accessibleName()).strip()
        or _own_class(button)
        or qt_class(button)
    )


def action_name(action: Any) -> str:
    return (
        property_name(action)
        or visible_text(action.text())
        or visible_text(action.iconText())
        or visible_text(action.toolTip())
        or object_name(action)
        or str(action.shortcut().toString())  # an icon-only action: "Ctrl+R" tells them apart
        or _own_class(action)
        or qt_class(action)
    )


def is_qt_chrome(button: Any, in_wizard: bool) -> bool:
    """A button Qt made for itself that is not a control a person names: a toolbar's overflow
    arrow, a calendar's month arrows. A wizard's Back/Next/Finish and a dock's Float/Close are
    controls (named by their text or accessible name)."""
    if not is_qt_own_name(str(button.objectName())):
        return False
    if in_wizard:
        return not visible_text(button.text())
    return not str(button.accessibleName()).strip()


def ignored(widget: Any) -> bool:
    """True if the widget or one of its parents opted out."""
    while widget is not None:
        if widget.property(IGNORE_PROPERTY):
            return True
        widget = widget.parentWidget()
    return False
