"""Subnet extraction from a supernet checkpoint, with or without BN recalibration."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QWidget,
)

from . import data_combo


class ExtractionForm(QWidget):
    startRequested = Signal(bool)  # True: BN recalibration only

    def __init__(self, parent=None):
        super().__init__(parent)
        f = QFormLayout(self)
        self.ckpt = QComboBox(editable=True)
        self.ckpt.setMinimumContentsLength(24)
        b = QPushButton("File…")
        b.clicked.connect(self._browse_ckpt)
        row = QHBoxLayout()
        row.addWidget(self.ckpt, 1)
        row.addWidget(b)
        self.source = QComboBox()
        self.source.addItems(["current candidate", "selected candidates"])
        self.recal = QCheckBox("recalibrate BN on")
        self.recal.setChecked(True)
        self.recal_data = data_combo("")
        r2 = QHBoxLayout()
        r2.addWidget(self.recal)
        r2.addWidget(self.recal_data, 1)
        self.start_btn = QPushButton("Extract")
        self.start_btn.clicked.connect(lambda: self.startRequested.emit(False))
        self.bn_btn = QPushButton("BN recalibration only")
        self.bn_btn.setToolTip("extract with BN statistics recalibrated (a new candidate with weights)")
        self.bn_btn.clicked.connect(lambda: self.startRequested.emit(True))
        r3 = QHBoxLayout()
        r3.addStretch(1)
        r3.addWidget(self.bn_btn)
        r3.addWidget(self.start_btn)
        f.addRow("Checkpoint", row)
        f.addRow("Configs of", self.source)
        f.addRow("BN", r2)
        f.addRow(r3)

    def checkpoint(self) -> str:
        return self.ckpt.currentText().strip()

    def from_selection(self) -> bool:
        """Extract the configs of the candidates selected in the table (else the current one)."""
        return self.source.currentIndex() == 1

    def recalibration_data(self, recalibrate_only: bool = False) -> str | None:
        return self.recal_data.currentText().strip() if (self.recal.isChecked() or recalibrate_only) else None

    def set_checkpoints(self, paths: list[str]) -> None:
        """The project's checkpoints as choices; the text typed or chosen stays."""
        current = self.ckpt.currentText()
        self.ckpt.clear()
        for p in paths:
            if self.ckpt.findText(p) < 0:
                self.ckpt.addItem(p)
        if current:
            self.ckpt.setCurrentText(current)

    def _browse_ckpt(self) -> None:
        p, _ = QFileDialog.getOpenFileName(
            self, "Supernet checkpoint", "", "Checkpoints (*.pt *.pth);;All (*)"
        )
        if p:
            self.ckpt.setCurrentText(p)
