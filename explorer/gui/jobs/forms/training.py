"""Supernet training (progressive shrinking): space, data, phases and budget."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ....supernet.ofa_mbv3 import supernet_spaces
from ....supernet.trainer import PHASE_ORDER
from . import data_combo, labelled_row


class TrainingForm(QWidget):
    startRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        f = QFormLayout(self)
        self.space = QComboBox()
        self.space.addItems(supernet_spaces())  # the registry's default first
        self.data = data_combo()
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse_data)
        row = QHBoxLayout()
        row.addWidget(self.data, 1)
        row.addWidget(browse)
        self.phases: dict[str, QCheckBox] = {}
        ph = QHBoxLayout()
        for name in PHASE_ORDER:
            cb = QCheckBox(name)
            cb.setChecked(True)
            self.phases[name] = cb
            ph.addWidget(cb)
        ph.addStretch(1)
        self.epochs = QDoubleSpinBox(minimum=0.01, maximum=1000, value=1.0, decimals=2)
        self.epochs.setToolTip("epochs of every phase")
        self.batch = QSpinBox(minimum=2, maximum=4096, value=64)
        self.subset = QSpinBox(minimum=0, maximum=10_000_000, value=0, specialValueText="all")
        self.device = QComboBox(editable=True)
        self.device.addItems(["cpu", "cuda"])
        self.start_btn = QPushButton("Start training")
        self.start_btn.clicked.connect(self.startRequested)
        hp = labelled_row(
            ("epochs", self.epochs), ("batch", self.batch), ("images", self.subset), ("device", self.device)
        )
        hp.addStretch(1)
        hp.addWidget(self.start_btn)
        f.addRow("Space", self.space)
        f.addRow("Data", row)
        f.addRow("Phases", ph)
        f.addRow(hp)

    def params(self) -> dict:
        return {
            "space": self.space.currentText(),
            "data": self.data.currentText().strip() or "builtin",
            "phases": [n for n, cb in self.phases.items() if cb.isChecked()],
            "epochs": self.epochs.value(),
            "batch_size": self.batch.value(),
            "subset": self.subset.value() or None,
            "device": self.device.currentText().strip() or "cpu",
        }

    def _browse_data(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Image folder (one subfolder per class)")
        if d:
            self.data.setCurrentText(d)
