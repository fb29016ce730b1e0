"""The application-wide event filter and session keeper for one Qt binding (PySide6 or PyQt6).

Both bindings expose the same classes under the same names, so one implementation serves both:
:class:`Binding` imports ``<binding>.QtCore`` and builds the filter class on that binding's
``QObject``.
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
_KEEPALIVE_MAX_MS = 60_000
_Method = TypeVar("_Method", bound=Callable[..., Any])


class Binding:
    """Auto-capture for one binding: the ``QApplication`` patch and the filter on the app."""

    def __init__(self, name: str, qt_widgets: ModuleType) -> None:
        self.name = name
        self.widgets = qt_widgets
        self.core = importlib.import_module(f"{name}.QtCore")
        self.patcher = Patcher(f"{name}.QApplication")
        self.filter: Any = None
        self._filter_class: Any = None

    def install(self) -> None:
        """Attach to the running application, or patch ``QApplication`` to attach when it starts."""
        app_class = self.widgets.QApplication
        app = app_class.instance()
        if isinstance(app, app_class):
            self.attach(app)
        self.patcher.wrap(app_class, "__init__", self._after_app_init)

    def uninstall(self) -> None:
        self.patcher.restore()
        capture, self.filter = self.filter, None
        if capture is not None:
            capture.detach()

    def _after_app_init(self, wrapped: Any, app: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        if isinstance(app, self.widgets.QApplication):
            call_safely("attaching to the Qt application", self.attach, app)
        return result

    def attach(self, app: Any) -> None:
        if self.filter is not None and self.filter.app is app:
            return
        if self.filter is not None:
            self.filter.detach()
        if self._filter_class is None:
            self._filter_class = _filter_class(self.core, self.widgets)
        self.filter = self._filter_class(app)
        logger.debug("usageanalytics: Qt auto-capture attached (%s)", self.name)


def _filter_class(core: ModuleType, widgets: ModuleType) -> Any:
    """Build the filter class on this binding's QObject."""
    QEvent, Qt = core.QEvent, core.Qt
    show, polish = QEvent.Type.Show, QEvent.Type.Polish
    release = QEvent.Type.MouseButtonRelease
    left_button = Qt.MouseButton.LeftButton
    screen_window_types = {Qt.WindowType.Window, Qt.WindowType.Dialog, Qt.WindowType.Sheet}
    active = Qt.ApplicationState.ApplicationActive
    QWidget, QAbstractButton = widgets.QWidget, widgets.QAbstractButton
    QStackedWidget, QTabWidget = widgets.QStackedWidget, widgets.QTabWidget
    built_in_dialogs = tuple(getattr(widgets, name) for name in _BUILT_IN_DIALOGS if hasattr(widgets, name))
    slot = cast("Callable[[], Callable[[_Method], _Method]]", getattr(core, "Slot", None) or core.pyqtSlot)

    class CaptureFilter(core.QObject):  # type: ignore[misc, name-defined]
        """Watches the whole application; never consumes an event."""

        def __init__(self, app: Any) -> None:
            super().__init__(app)
            self.app = app
            self.token = uuid.uuid4().hex  # marks the buttons this filter is connected to
            self.tapped: list[Any] = []  # buttons whose mouse click is recorded, clicked() to come
            self._failures = 0
            self.keepalive = core.QTimer(self)
            self.keepalive.timeout.connect(self.keep_session)
            client = autocapture.current_client()
            timeout_ms = int(client.settings.session_timeout * 1000 / 3) if client else _KEEPALIVE_MAX_MS
            self.keepalive.setInterval(max(100, min(_KEEPALIVE_MAX_MS, timeout_ms)))
            app.installEventFilter(self)
            app.aboutToQuit.connect(self.on_quit)
            app.applicationStateChanged.connect(self.on_state)
            for widget in app.allWidgets():
                if isinstance(widget, QAbstractButton):
                    self.watch_button(widget)
            if client is not None:
                client.start_session()
                self.keepalive.start()
            for window in app.topLevelWidgets():  # already on screen when auto-capture began
                if window.isVisible():
                    for stack in window.findChildren(QStackedWidget):
                        page = stack.currentWidget()
                        if page is not None and page.isVisible():
                            self.screen_shown(page)
                    self.screen_shown(window)

        def detach(self) -> None:
            try:
                self.keepalive.stop()
                self.app.removeEventFilter(self)
                self.app.aboutToQuit.disconnect(self.on_quit)
                self.app.applicationStateChanged.disconnect(self.on_state)
                self.deleteLater()  # its button connections go with it
            except RuntimeError:
                pass  # the application, and this filter with it, was already deleted

        def eventFilter(self, watched: Any, event: Any) -> bool:
            try:
                kind = event.type()
                if kind == show:
                    if not event.spontaneous() and isinstance(watched, QWidget):
                        self.screen_shown(watched)
                elif kind == release and isinstance(watched, QAbstractButton):
                    self.mouse_released(watched, event)
                elif kind == polish and isinstance(watched, QAbstractButton):
                    self.watch_button(watched)
            except Exception:
                self._failed("handling a Qt event")
            return False

        def _failed(self, what: str) -> None:
            self._failures += 1
            if self._failures <= 3:  # an event filter runs constantly: say it, do not flood
                logger.exception("usageanalytics: auto-capture %s failed; the app is unaffected", what)

        def screen_shown(self, widget: Any) -> None:
            screen = self.screen_of_shown(widget)
            if screen is None or naming.ignored(widget):
                return
            client = autocapture.current_client()
            if client is not None:
                client.log_screen_view(screen, debounce=True)

        def screen_of_shown(self, widget: Any) -> str | None:
            """The name of ``widget`` if it is a screen: a real window, or a stacked page."""
            if widget.isWindow():
                return naming.screen_name(widget) if widget.windowType() in screen_window_types else None
            if self.is_page(widget):
                return naming.screen_name(widget, self.tab_text(widget))
            return None

        def is_page(self, widget: Any) -> bool:
            return isinstance(widget.parentWidget(), QStackedWidget) and not isinstance(
                widget.window(), built_in_dialogs
            )

        @staticmethod
        def tab_text(page: Any) -> str | None:
            tabs = page.parentWidget().parentWidget()
            if isinstance(tabs, QTabWidget):
                index = tabs.indexOf(page)
                if index >= 0:
                    return str(tabs.tabText(index))
            return None

        def screen_of(self, widget: Any) -> str:
            """The screen a control is on: its innermost page, else its window."""
            current = widget.parentWidget()
            while current is not None and not current.isWindow():
                if self.is_page(current):
                    return naming.screen_name(current, self.tab_text(current))
                current = current.parentWidget()
            return naming.screen_name(current if current is not None else widget.window())

        def watch_button(self, button: Any) -> None:
            if button.property(_CONNECTED_PROPERTY) != self.token:
                button.setProperty(_CONNECTED_PROPERTY, self.token)
                button.clicked.connect(self.on_click)

        def mouse_released(self, button: Any, event: Any) -> None:
            """A click by mouse is recorded here, before the app's own handlers run (a modal
            dialog the click opens comes after its Tap); ``on_click`` then skips it."""
            if (
                event.button() == left_button
                and button.isDown()
                and button.isEnabled()
                and button.rect().contains(event.position().toPoint())
            ):
                if button in self.tapped:  # its last release never became a click
                    self.tapped.remove(button)
                self.tap(button)
                self.tapped = [*self.tapped[-7:], button]

        @slot()
        def on_click(self) -> None:
            """Clicks by keyboard, shortcut or ``click()`` arrive here only."""
            try:
                button = self.sender()
                if button in self.tapped:
                    self.tapped.remove(button)
                elif isinstance(button, QAbstractButton):
                    self.tap(button)
            except Exception:
                self._failed("recording a tap")

        def tap(self, button: Any) -> None:
            client = autocapture.current_client()
            if client is None or naming.ignored(button):
                return
            client.log_event(
                TAP,
                {
                    EventAttribute.SCREEN_NAME.value: self.screen_of(button),
                    CONTROL: naming.control_name(button),
                },
                debounce=True,
            )

        @slot()
        def keep_session(self) -> None:
            """While the app is in front the session lasts, even with no event to log."""
            client = autocapture.current_client()
            if client is not None and self.app.applicationState() == active:
                call_safely("keeping the session", client.start_session)

        def on_state(self, state: Any) -> None:
            client = autocapture.current_client()
            if client is None:
                return
            # Either way this marks the moment as activity: on leaving, the session's last; on
            # coming back, a new session if the app stayed away longer than the timeout.
            call_safely("pausing or resuming the session", client.start_session)
            if state == active:
                self.keepalive.start()
            else:
                self.keepalive.stop()

        @slot()
        def on_quit(self) -> None:
            self.keepalive.stop()
            client = autocapture.current_client()
            if client is not None:
                call_safely("ending the session", client.end_session)

    return CaptureFilter
