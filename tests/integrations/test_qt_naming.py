"""How actions are named, read in a Qt process of its own (offscreen): as a person sees them,
and an icon-only action by its shortcut rather than a class name every such action shares."""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = """
import json
from PySide6 import QtGui, QtWidgets
from usageanalytics_qt import naming

app = QtWidgets.QApplication([])
save_as = QtGui.QAction("Save &As...")
refresh = QtGui.QAction(QtGui.QIcon(), "")
refresh.setShortcut(QtGui.QKeySequence("Ctrl+R"))
designer = QtGui.QAction(QtGui.QIcon(), "")
designer.setObjectName("actionZoomIn")
print(json.dumps([naming.action_name(a) for a in (save_as, refresh, designer, QtGui.QAction())]))
"""


def test_actions_are_named_as_a_person_sees_them_and_icon_only_ones_by_their_shortcut() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout.splitlines()[-1]) == ["Save As", "Ctrl+R", "actionZoomIn", "QAction"]
