"""A PySide6 app as Qt's tutorials write one, no usageanalytics code; it quits by itself."""

import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QPushButton


class MainWindow(QMainWindow):
    def __init__(self):
        super().__init__()
        self.setWindowTitle("Hello")
        button = QPushButton("Press me")
        button.clicked.connect(lambda: self.setCentralWidget(QLabel("pressed")))
        self.setCentralWidget(button)
        QTimer.singleShot(300, button.click)


app = QApplication(sys.argv)
window = MainWindow()
window.show()
QTimer.singleShot(1000, app.quit)
sys.exit(app.exec())
