"""A small text editor written the way Qt's own examples teach, and nothing else.

It follows Qt's "Application", "Config Dialog" and "Class Wizard" examples: a ``QMainWindow``
whose File/Edit/Tools/Help menus are built with ``addAction``, toolbars sharing the same
actions, shortcuts from ``QKeySequence.StandardKey``, a status bar, a settings dialog whose
pages are a ``QStackedWidget`` switched by a ``QListWidget``, and a ``QWizard`` with titled
pages and required fields. It knows nothing about analytics: the tests drive it with real input
(``tests/integrations/apps/qt_drive.py``) and read what auto-capture made of it.

The Qt binding comes from ``QT_APP_BINDING`` (PySide6 or PyQt6), as an app would pick one.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

BINDING = os.environ.get("QT_APP_BINDING", "PySide6")
QtCore: Any = importlib.import_module(f"{BINDING}.QtCore")
QtGui: Any = importlib.import_module(f"{BINDING}.QtGui")
QtWidgets: Any = importlib.import_module(f"{BINDING}.QtWidgets")

QAction, QKeySequence = QtGui.QAction, QtGui.QKeySequence
Qt = QtCore.Qt


class ConfigurationPage(QtWidgets.QWidget):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        group = QtWidgets.QGroupBox("Server configuration")
        self.server = QtWidgets.QComboBox()
        self.server.addItems(["Qt (Australia)", "Qt (Germany)", "Qt (Norway)"])
        layout = QtWidgets.QHBoxLayout(group)
        layout.addWidget(QtWidgets.QLabel("Server:"))
        layout.addWidget(self.server)
        QtWidgets.QVBoxLayout(self).addWidget(group)


class UpdatePage(QtWidgets.QWidget):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        group = QtWidgets.QGroupBox("Package selection")
        self.system = QtWidgets.QCheckBox("Update system")
        self.apps = QtWidgets.QCheckBox("Update applications")
        self.start = QtWidgets.QPushButton("Start update")
        layout = QtWidgets.QVBoxLayout(group)
        for widget in (self.system, self.apps, self.start):
            layout.addWidget(widget)
        QtWidgets.QVBoxLayout(self).addWidget(group)


class QueryPage(QtWidgets.QWidget):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.package = QtWidgets.QLineEdit("Qt")
        self.search = QtWidgets.QPushButton("Start query")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(QtWidgets.QLabel("Package name:"))
        layout.addWidget(self.package)
        layout.addWidget(self.search)


class ConfigDialog(QtWidgets.QDialog):  # type: ignore[misc]
    """Qt's "Config Dialog": a list of sections on the left, their pages stacked on the right."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.contents = QtWidgets.QListWidget()
        self.contents.setMaximumWidth(128)
        self.pages = QtWidgets.QStackedWidget()
        for title, page in (
            ("Configuration", ConfigurationPage()),
            ("Update", UpdatePage()),
            ("Query", QueryPage()),
        ):
            QtWidgets.QListWidgetItem(title, self.contents)
            self.pages.addWidget(page)
        self.contents.currentItemChanged.connect(self.change_page)
        self.contents.setCurrentRow(0)
        close = QtWidgets.QPushButton("Close")
        close.clicked.connect(self.close)
        horizontal = QtWidgets.QHBoxLayout()
        horizontal.addWidget(self.contents)
        horizontal.addWidget(self.pages, 1)
        buttons = QtWidgets.QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(close)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addLayout(horizontal)
        layout.addLayout(buttons)
        self.setWindowTitle("Config Dialog")

    def change_page(self, current: Any, previous: Any) -> None:
        if current is None:
            current = previous
        self.pages.setCurrentIndex(self.contents.row(current))


class IntroPage(QtWidgets.QWizardPage):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Introduction")
        label = QtWidgets.QLabel("This wizard will generate a skeleton C++ class definition.")
        label.setWordWrap(True)
        QtWidgets.QVBoxLayout(self).addWidget(label)


class ClassInfoPage(QtWidgets.QWizardPage):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Class Information")
        self.setSubTitle("Specify basic information about the class.")
        self.class_name = QtWidgets.QLineEdit()
        self.base_class = QtWidgets.QLineEdit()
        self.qobject_macro = QtWidgets.QCheckBox("Generate Q_OBJECT &macro")
        self.registerField("className*", self.class_name)  # Next stays disabled until typed
        self.registerField("baseClass", self.base_class)
        self.registerField("qobjectMacro", self.qobject_macro)
        layout = QtWidgets.QFormLayout(self)
        layout.addRow("&Class name:", self.class_name)
        layout.addRow("B&ase class:", self.base_class)
        layout.addRow(self.qobject_macro)


class CodeStylePage(QtWidgets.QWizardPage):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Code Style Options")
        self.comment = QtWidgets.QCheckBox("&Start generated files with a comment")
        self.comment.setChecked(True)
        self.protect = QtWidgets.QCheckBox("&Protect header file against multiple inclusions")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.comment)
        layout.addWidget(self.protect)


class ConclusionPage(QtWidgets.QWizardPage):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.setTitle("Conclusion")
        self.label = QtWidgets.QLabel()
        QtWidgets.QVBoxLayout(self).addWidget(self.label)

    def initializePage(self) -> None:
        self.label.setText(f"Click Finish to generate {self.field('className')}.")


class ClassWizard(QtWidgets.QWizard):  # type: ignore[misc]
    """Qt's "Class Wizard", in short."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        for page in (IntroPage(), ClassInfoPage(), CodeStylePage(), ConclusionPage()):
            self.addPage(page)
        self.setWindowTitle("Class Wizard")
        self.generated: str | None = None

    def accept(self) -> None:
        self.generated = f"class {self.field('className')};"
        super().accept()


class MainWindow(QtWidgets.QMainWindow):  # type: ignore[misc]
    """Qt's "Application" example: a text editor with menus, toolbars and a status bar."""

    def __init__(self) -> None:
        super().__init__()
        self.text_edit = QtWidgets.QPlainTextEdit()
        self.setCentralWidget(self.text_edit)
        self.cur_file = ""
        self.saved: list[str] = []
        self.create_actions()
        self.create_menus()
        self.create_tool_bars()
        self.statusBar().showMessage("Ready")
        self.text_edit.document().contentsChanged.connect(self.document_was_modified)
        self.set_current_file("")

    def create_actions(self) -> None:
        self.new_act = QAction("&New", self, shortcut=QKeySequence.StandardKey.New, triggered=self.new_file)
        self.new_act.setStatusTip("Create a new file")
        self.open_act = QAction("&Open...", self, shortcut=QKeySequence.StandardKey.Open)
        self.open_act.triggered.connect(self.open)
        self.save_act = QAction("&Save", self, shortcut=QKeySequence.StandardKey.Save, triggered=self.save)
        self.save_as_act = QAction("Save &As...", self, triggered=self.save_as)
        self.save_as_act.setShortcut(QKeySequence.StandardKey.SaveAs)
        self.exit_act = QAction("E&xit", self, shortcut="Ctrl+Q", triggered=self.close)
        self.cut_act = QAction("Cu&t", self, shortcut=QKeySequence.StandardKey.Cut)
        self.cut_act.triggered.connect(self.text_edit.cut)
        self.copy_act = QAction("&Copy", self, shortcut=QKeySequence.StandardKey.Copy)
        self.copy_act.triggered.connect(self.text_edit.copy)
        self.paste_act = QAction("&Paste", self, shortcut=QKeySequence.StandardKey.Paste)
        self.paste_act.triggered.connect(self.text_edit.paste)
        self.settings_act = QAction("&Settings\u2026", self, triggered=self.show_settings)
        self.wizard_act = QAction("New &Class\u2026", self, triggered=self.show_wizard)
        self.about_act = QAction("&About", self, triggered=self.about)
        self.cut_act.setEnabled(False)
        self.copy_act.setEnabled(False)
        self.text_edit.copyAvailable.connect(self.cut_act.setEnabled)
        self.text_edit.copyAvailable.connect(self.copy_act.setEnabled)

    def create_menus(self) -> None:
        self.file_menu = self.menuBar().addMenu("&File")
        self.file_menu.addAction(self.new_act)
        self.file_menu.addAction(self.open_act)
        self.file_menu.addAction(self.save_act)
        self.file_menu.addAction(self.save_as_act)
        self.file_menu.addSeparator()
        self.file_menu.addAction(self.exit_act)
        self.edit_menu = self.menuBar().addMenu("&Edit")
        self.edit_menu.addAction(self.cut_act)
        self.edit_menu.addAction(self.copy_act)
        self.edit_menu.addAction(self.paste_act)
        self.tools_menu = self.menuBar().addMenu("&Tools")
        self.tools_menu.addAction(self.wizard_act)
        self.tools_menu.addAction(self.settings_act)
        self.menuBar().addSeparator()
        self.help_menu = self.menuBar().addMenu("&Help")
        self.help_menu.addAction(self.about_act)

    def create_tool_bars(self) -> None:
        self.file_tool_bar = self.addToolBar("File")
        self.file_tool_bar.addAction(self.new_act)
        self.file_tool_bar.addAction(self.open_act)
        self.file_tool_bar.addAction(self.save_act)
        self.edit_tool_bar = self.addToolBar("Edit")
        self.edit_tool_bar.addAction(self.cut_act)
        self.edit_tool_bar.addAction(self.copy_act)
        self.edit_tool_bar.addAction(self.paste_act)

    def new_file(self) -> None:
        self.text_edit.clear()
        self.set_current_file("")

    def open(self) -> None:
        name, _ = QtWidgets.QFileDialog.getOpenFileName(self)
        if name:
            with open(name, encoding="utf-8") as file:
                self.text_edit.setPlainText(file.read())
            self.set_current_file(name)

    def save(self) -> bool:
        if self.cur_file:
            return self.save_file(self.cur_file)
        return self.save_as()

    def save_as(self) -> bool:
        dialog = QtWidgets.QFileDialog(self)
        dialog.setWindowModality(Qt.WindowModality.WindowModal)
        dialog.setAcceptMode(QtWidgets.QFileDialog.AcceptMode.AcceptSave)
        if dialog.exec() != QtWidgets.QDialog.DialogCode.Accepted:
            return False
        return self.save_file(dialog.selectedFiles()[0])

    def save_file(self, name: str) -> bool:
        with open(name, "w", encoding="utf-8") as file:
            file.write(self.text_edit.toPlainText())
        self.saved.append(name)
        self.set_current_file(name)
        self.statusBar().showMessage("File saved", 2000)
        return True

    def show_settings(self) -> None:
        ConfigDialog(self).exec()

    def show_wizard(self) -> None:
        wizard = ClassWizard(self)
        if wizard.exec():
            self.text_edit.appendPlainText(wizard.generated or "")

    def about(self) -> None:
        QtWidgets.QMessageBox.about(self, "About Application", "The <b>Application</b> example.")

    def document_was_modified(self) -> None:
        self.setWindowModified(self.text_edit.document().isModified())

    def set_current_file(self, name: str) -> None:
        self.cur_file = name
        self.text_edit.document().setModified(False)
        self.setWindowModified(False)
        self.setWindowFilePath(name or "untitled.txt")


def main() -> int:
    import sys

    app = QtWidgets.QApplication(sys.argv)
    window = MainWindow()
    window.show()
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main())
