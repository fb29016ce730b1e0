"""The application-wide event filter for one Qt binding (PySide6 or PyQt6).

Both bindings expose the same classes under the same names, so one implementation serves both:
:class:`Binding` imports the binding's ``QtCore`` and ``QtGui`` and builds the filter class on
that binding's ``QObject``.

An event filter on the application sees every event of every object, so its hot path is one dict
lookup on the event's type; the few types it acts on are rare (a show, a click, a shortcut).
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar, cast

from usageanalytics import autocapture
from usageanalytics.patching import Patcher, call_safely
from usageanalytics.wire import EventAttribute

from . import naming

logger = logging.getLogger("usageanalytics")

TAP = "Tap"
CONTROL = "Control"
_CONNECTED_PROPERTY = "_usageanalytics_tap"
# Qt's own dialogs whose internal stacked widgets are not the app's screens.
_BUILT_IN_DIALOGS = (
    "QFileDialog",
    "QColorDialog",
    "QFontDialog",
    "QInputDialog",
    "QMessageBox",
    "QErrorMessage",
    "QProgressDialog",
)
_RECENT = 8  # clicks and triggers recorded ahead of their signal, awaiting it
_Method = TypeVar("_Method", bound=Callable[..., Any])


class Binding:
    """Auto-capture for one binding: its patches and the filter on the running application."""

    def __init__(self, name: str, qt_widgets: ModuleType) -> None:
        self.name = name
        self.widgets = qt_widgets
        self.core = importlib.import_module(f"{name}.QtCore")
        self.gui = importlib.import_module(f"{name}.QtGui")
        self.patcher = Patcher(f"{name}.QtWidgets")
        self.filter: Any = None
        self._filter_class: Any = None
        # Actions the app's own code is triggering right now (``action.trigger()``): not Taps.
        self.programmatic: list[Any] = []
        self._action_originals: dict[str, Any] = {}
        self._action_patches: dict[str, Any] = {}

    def install(self) -> None:
        """Attach to the running application, or patch ``QApplication`` to attach when it starts."""
        app_class = self.widgets.QApplication
        self._mark_calls_by_the_app()
        app = app_class.instance()
        if isinstance(app, app_class):
            self.attach(app)
        self.patcher.wrap(app_class, "__init__", self._after_app_init)

    def uninstall(self) -> None:
        self.patcher.restore()
        for name, original in self._action_originals.items():
            if vars(self.gui.QAction).get(name) is self._action_patches.get(name):
                setattr(self.gui.QAction, name, original)
        self._action_originals.clear()
        self._action_patches.clear()
        capture, self.filter = self.filter, None
        if capture is not None:
            capture.detach()

    def _after_app_init(self, wrapped: Any, app: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        if isinstance(app, self.widgets.QApplication):
            call_safely("attaching to the Qt application", self.attach, app)
        return result

    def _mark_calls_by_the_app(self) -> None:
        """Wrap ``QAction.trigger``/``activate`` so Python code calling them is known; Qt's own
        calls (a menu, a shortcut, a tool button) never pass through Python.

        Plain functions rather than wrapt: a wrapt proxy around a PySide6 method makes PySide
        parse signatures early and print warnings into the app's stderr."""
        action_class = self.gui.QAction
        programmatic = self.programmatic
        for name in ("trigger", "activate"):
            if name in self._action_originals:
                continue
            original = getattr(action_class, name)  # callable as original(action, ...) in both

            # trigger() takes nothing: a signal connected to it (clicked(bool)) passes more,
            # which a Qt slot drops, and so does this.
            takes = 0 if name == "trigger" else 1

            def called_by_the_app(action: Any, *args: Any, _call: Any = original, _takes: int = takes) -> Any:
                programmatic.append(action)
                try:
                    return _call(action, *args[:_takes])
                finally:
                    programmatic.pop()

            called_by_the_app.__name__ = name
            self._action_originals[name] = vars(action_class).get(name, original)
            self._action_patches[name] = called_by_the_app
            setattr(action_class, name, called_by_the_app)

    def attach(self, app: Any) -> None:
        if self.filter is not None and self.filter.app is app:
            return
        if self.filter is not None:
            self.filter.detach()
        if self._filter_class is None:
            self._filter_class = _filter_class(self)
        self.filter = self._filter_class(app)
        logger.debug("usageanalytics: Qt auto-capture attached (%s)", self.name)


def _filter_class(binding: Binding) -> Any:
    """Build the filter class on this binding's QObject."""
    core, widgets = binding.core, binding.widgets
    QEvent, Qt = core.QEvent, core.Qt
    Type = QEvent.Type
    left_button = Qt.MouseButton.LeftButton
    menu_keys = {Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Select, Qt.Key.Key_Space}
    modifier = Qt.KeyboardModifier
    mnemonic_modifiers = (modifier.NoModifier, modifier.AltModifier, modifier.ShiftModifier)
    keyboard_search = widgets.QStyle.StyleHint.SH_Menu_KeyboardSearch
    screen_window_types = {Qt.WindowType.Window, Qt.WindowType.Dialog, Qt.WindowType.Sheet}
    active = Qt.ApplicationState.ApplicationActive
    QAction = binding.gui.QAction
    QWidget, QAbstractButton, QToolButton = widgets.QWidget, widgets.QAbstractButton, widgets.QToolButton
    QPushButton = widgets.QPushButton
    QMenu, QStackedWidget, QTabWidget = widgets.QMenu, widgets.QStackedWidget, widgets.QTabWidget
    QWizard, QWizardPage = widgets.QWizard, widgets.QWizardPage
    built_in_dialogs = tuple(getattr(widgets, name) for name in _BUILT_IN_DIALOGS if hasattr(widgets, name))
    # Every connected method is a declared slot: in PySide6 an undeclared one connected to a
    # signal with arguments leaves sender() returning None in the other slots.
    slot = cast("Callable[..., Callable[[_Method], _Method]]", getattr(core, "Slot", None) or core.pyqtSlot)
    programmatic = binding.programmatic

    def opens_menu(button: Any) -> bool:
        """A push button with a menu only opens it (Qt says clicked once it closes): the item
        chosen in it is the Tap, not the button."""
        return isinstance(button, QPushButton) and button.menu() is not None

    class CaptureFilter(core.QObject):  # type: ignore[misc, name-defined]
        """Watches the whole application; never consumes an event."""

        def __init__(self, app: Any) -> None:
            super().__init__(app)
            self.app = app
            self.token = uuid.uuid4().hex  # marks the buttons and actions this filter is connected to
            self.clicked: list[Any] = []  # buttons whose mouse click is recorded, clicked() to come
            self.announced: list[Any] = []  # actions whose Tap is recorded, triggered() to come
            self.menu_choice: tuple[Any, Any] | None = None  # (menu, action) a release or key chose
            # The wizard page a click is leaving: Back, Next and Finish switch pages before
            # their clicked() reaches us, and their Tap belongs to the page they were used on.
            self.page_left: Any = None
            self.wizard_pages: dict[Any, Any] = {}  # each open wizard's page last viewed
            self._failures = 0
            self.handlers: dict[Any, Callable[[Any, Any], None]] = {
                Type.Show: self.shown,
                Type.Hide: self.hidden,
                Type.MouseButtonRelease: self.mouse_released,
                Type.KeyPress: self.key_pressed,
                Type.Shortcut: self.shortcut,
                Type.Polish: self.polished,
                Type.ActionAdded: self.action_added,
            }
            app.installEventFilter(self)
            app.aboutToQuit.connect(self.on_quit)
            app.applicationStateChanged.connect(self.on_state)
            for widget in app.allWidgets():
                if isinstance(widget, QAbstractButton):
                    self.watch_button(widget)
                for action in widget.actions():
                    self.watch_action(action)
            client = autocapture.current_client()
            if client is not None:
                client.start_session()
                client.set_app_active(app.applicationState() == active)
            for window in app.topLevelWidgets():  # already on screen when auto-capture began
                if window.isVisible():
                    for page in window.findChildren(QWidget):
                        if self.is_page(page) and page.isVisible():
                            self.screen_shown(page)
                    self.screen_shown(window)

        def detach(self) -> None:
            try:
                self.app.removeEventFilter(self)
                self.app.aboutToQuit.disconnect(self.on_quit)
                self.app.applicationStateChanged.disconnect(self.on_state)
                self.deleteLater()  # its button and action connections go with it
            except RuntimeError:
                pass  # the application, and this filter with it, was already deleted

        def eventFilter(self, watched: Any, event: Any) -> bool:
            handler = self.handlers.get(event.type())
            if handler is not None:
                try:
                    handler(watched, event)
                except Exception:
                    self._failed("handling a Qt event")
            return False

        def _failed(self, what: str) -> None:
            self._failures += 1
            if self._failures <= 3:  # an event filter runs constantly: say it, do not flood
                logger.exception("usageanalytics: auto-capture %s failed; the app is unaffected", what)

        # -- screens -----------------------------------------------------------------------------

        def shown(self, widget: Any, event: Any) -> None:
            if event.spontaneous() or not isinstance(widget, QWidget):
                return
            if isinstance(widget, QWizardPage):
                # A wizard hides and shows its page frame as it lays itself out (a page change,
                # a keystroke in a field): a page is viewed when it becomes the current one.
                wizard = widget.wizard()
                if wizard is not None:
                    if self.wizard_pages.get(wizard) == widget:
                        return
                    self.wizard_pages[wizard] = widget
            self.screen_shown(widget)

        def screen_shown(self, widget: Any) -> None:
            screen = self.screen_of_shown(widget)
            if screen is None or naming.ignored(widget):
                return
            client = autocapture.current_client()
            if client is not None:
                client.log_screen_view(screen, debounce=True)

        def screen_of_shown(self, widget: Any) -> str | None:
            """The name of ``widget`` if it is a screen: a real window, or a page."""
            if widget.isWindow():
                return naming.screen_name(widget) if widget.windowType() in screen_window_types else None
            if self.is_page(widget):
                return self.page_name(widget)
            return None

        def is_page(self, widget: Any) -> bool:
            """A wizard page, or a page of a stacked widget (a tab widget's among them) that is
            not inside one of Qt's own dialogs."""
            if isinstance(widget, QWizardPage):
                return True
            return isinstance(widget.parentWidget(), QStackedWidget) and not isinstance(
                widget.window(), built_in_dialogs
            )

        @staticmethod
        def page_name(page: Any) -> str:
            if isinstance(page, QWizardPage):
                return naming.screen_name(page, page.title())
            tabs = page.parentWidget().parentWidget()
            if isinstance(tabs, QTabWidget):
                index = tabs.indexOf(page)
                if index >= 0:
                    return naming.screen_name(page, tabs.tabText(index))
            return naming.screen_name(page)

        def screen_around(self, widget: Any) -> str:
            """The screen ``widget`` is on: its innermost page (itself included); a wizard's own
            parts are on its current page; else its window."""
            current = widget
            while not current.isWindow():
                if self.is_page(current):
                    return self.page_name(current)
                parent = current.parentWidget()
                if parent is None:
                    break
                current = parent
            if isinstance(current, QWizard):
                left = self.page_left
                page = left if left is not None and left.wizard() == current else current.currentPage()
                if page is not None:
                    return self.page_name(page)
            return naming.screen_name(current)

        def screen_of_control(self, widget: Any) -> str:
            """The screen a control (never a screen itself) is on."""
            return self.screen_around(widget.parentWidget() or widget)

        # -- buttons -----------------------------------------------------------------------------

        def polished(self, widget: Any, event: Any) -> None:
            if isinstance(widget, QAbstractButton):
                self.watch_button(widget)

        def watch_button(self, button: Any) -> None:
            if button.property(_CONNECTED_PROPERTY) != self.token:
                button.setProperty(_CONNECTED_PROPERTY, self.token)
                button.clicked.connect(self.on_click)

        def mouse_released(self, widget: Any, event: Any) -> None:
            self.page_left = None  # a new input: the page it leaves is still to come
            if isinstance(widget, QAbstractButton):
                self.button_released(widget, event)
            elif isinstance(widget, QMenu):
                action = widget.actionAt(event.position().toPoint())
                self.choose_in_menu(widget, action if action == widget.activeAction() else None)

        def button_released(self, button: Any, event: Any) -> None:
            """A click by mouse is recorded here, before the app's own handlers run (a modal
            dialog the click opens comes after its Tap); ``on_click`` then skips it."""
            if not (
                event.button() == left_button
                and button.isDown()
                and button.isEnabled()
                and button.rect().contains(event.position().toPoint())
            ):
                return
            action = button.defaultAction() if isinstance(button, QToolButton) else None
            if action is not None:  # a tool button is its action: the action's Tap, once
                if action.isEnabled() and action.menu() is None:
                    self.action_tap(action, button, ahead=True)
                return
            if opens_menu(button):
                return
            if button in self.clicked:  # its last release never became a click
                self.clicked.remove(button)
            self.tap(button)
            self.clicked = [*self.clicked[-_RECENT + 1 :], button]

        @slot()
        def on_click(self) -> None:
            """Clicks by keyboard, shortcut or ``click()`` arrive here only."""
            try:
                button = self.sender()
                if button in self.clicked:
                    self.clicked.remove(button)
                elif isinstance(button, QAbstractButton) and not (
                    (isinstance(button, QToolButton) and button.defaultAction() is not None)
                    or opens_menu(button)
                ):
                    self.tap(button)
            except Exception:
                self._failed("recording a tap")

        def tap(self, button: Any) -> None:
            client = autocapture.current_client()
            if client is None or naming.ignored(button):
                return
            window = button.window()
            if naming.is_qt_chrome(button, isinstance(window, QWizard)):
                return
            client.log_event(
                TAP,
                {
                    EventAttribute.SCREEN_NAME.value: self.screen_of_control(button),
                    CONTROL: naming.control_name(button),
                },
                debounce=True,
            )

        # -- actions -----------------------------------------------------------------------------

        def action_added(self, widget: Any, event: Any) -> None:
            self.watch_action(event.action())

        def watch_action(self, action: Any) -> None:
            if action is not None and action.property(_CONNECTED_PROPERTY) != self.token:
                action.setProperty(_CONNECTED_PROPERTY, self.token)
                action.triggered.connect(self.on_triggered)

        def shortcut(self, action: Any, event: Any) -> None:
            """A key sequence about to trigger an action (ambiguous ones trigger nothing)."""
            if isinstance(action, QAction) and action.isEnabled() and not event.isAmbiguous():
                focus = self.app.focusWidget()
                self.action_tap(action, focus, ahead=True)

        def key_pressed(self, widget: Any, event: Any) -> None:
            self.page_left = None  # a new input: the page it leaves is still to come
            if not isinstance(widget, QMenu):
                return
            if event.key() in menu_keys:
                self.choose_in_menu(widget, widget.activeAction())
                return
            text = str(event.text())
            if (
                len(text) == 1
                and event.modifiers() in mnemonic_modifiers
                and not widget.style().styleHint(keyboard_search, None, widget)
            ):
                letter = text.upper()
                chosen = [
                    action
                    for action in widget.actions()
                    if action.isEnabled()
                    and action.isVisible()
                    and not action.isSeparator()
                    and naming.mnemonic(str(action.text())) == letter
                ]
                # Qt triggers the item whose mnemonic is the letter, if only one has it.
                self.choose_in_menu(widget, chosen[0] if len(chosen) == 1 else None)

        def choose_in_menu(self, menu: Any, action: Any) -> None:
            """The item a release or Return picked. The menu triggers it only if it then hides
            (it stays open on a separator, a disabled item or a submenu), so the Tap waits for that."""
            if action is None or not action.isEnabled() or action.isSeparator() or action.menu() is not None:
                self.menu_choice = None
                return
            self.menu_choice = (menu, action)
            # Only within this event's handling: the hide, if any, comes before it returns.
            core.QTimer.singleShot(0, self.forget_menu_choice)

        @slot()
        def forget_menu_choice(self) -> None:
            self.menu_choice = None

        def hidden(self, widget: Any, event: Any) -> None:
            if isinstance(widget, QWizardPage):
                if self.page_left is None:  # the first to hide is the page the user was on
                    self.page_left = widget
                    core.QTimer.singleShot(0, self.forget_page_left)
                return
            if isinstance(widget, QWizard):  # closed: its next opening is a new visit
                self.wizard_pages.pop(widget, None)
                return
            choice = self.menu_choice
            if choice is not None and choice[0] == widget:
                self.menu_choice = None
                origin, action = choice
                while isinstance(origin, QMenu):  # up from a submenu to its menu bar or widget
                    origin = origin.parentWidget()
                self.action_tap(action, origin, ahead=True)

        @slot()
        def forget_page_left(self) -> None:
            self.page_left = None

        @slot()
        def on_triggered(self) -> None:
            """Every trigger arrives here, after the app's own slots. Those recorded ahead are
            skipped, and so are the app's own ``trigger()`` calls; what remains is a person's
            trigger by a path without an event to see first (a menu mnemonic, a native menu bar,
            a tool button by keyboard, an accessibility tool)."""
            try:
                action = self.sender()
                if action in programmatic:
                    return
                if action in self.announced:
                    self.announced.remove(action)
                    return
                if isinstance(action, QAction):
                    self.action_tap(action, self.app.focusWidget() or self.placed_in(action), ahead=False)
            except Exception:
                self._failed("recording a tap")

        @staticmethod
        def placed_in(action: Any) -> Any:
            """A widget the action is in (the widget a menu of it belongs to), or None."""
            for item in action.associatedObjects():
                while isinstance(item, QMenu):
                    item = item.parentWidget()
                if isinstance(item, QWidget):
                    return item
            return None

        def action_tap(self, action: Any, origin: Any, ahead: bool) -> None:
            """Log the Tap of ``action``, used from ``origin`` (a widget, or None)."""
            if action in programmatic:
                return
            if ahead:
                if action in self.announced:  # its trigger never came
                    self.announced.remove(action)
                self.announced = [*self.announced[-_RECENT + 1 :], action]
            client = autocapture.current_client()
            if client is None or action.property(naming.IGNORE_PROPERTY):
                return
            if origin is None:
                origin = self.app.activeWindow()
            if origin is not None and naming.ignored(origin):
                return
            client.log_event(
                TAP,
                {
                    EventAttribute.SCREEN_NAME.value: (
                        self.screen_around(origin) if origin is not None else naming.qt_class(self.app)
                    ),
                    CONTROL: naming.action_name(action),
                },
                debounce=True,
            )

        # -- the session follows the app in and out of the foreground ------------------------------

        @slot(Qt.ApplicationState)
        def on_state(self, state: Any) -> None:
            client = autocapture.current_client()
            if client is not None:
                call_safely("following the app's state", client.set_app_active, state == active)

        @slot()
        def on_quit(self) -> None:
            client = autocapture.current_client()
            if client is not None:
                call_safely("ending the session", client.end_session)
                call_safely("following the app's state", client.set_app_active, None)

    return CaptureFilter
