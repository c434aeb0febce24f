"""Evolutionary search under a latency (or MACs) constraint."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFormLayout, QPushButton, QSpinBox, QWidget

from ....search.predictor import official_space
from ....supernet.ofa_mbv3 import supernet_spaces
from . import labelled_row


class SearchForm(QWidget):
    startRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        f = QFormLayout(self)
        self.space = QComboBox()
        first = official_space()  # the official predictor's and Note10 tables' space
        self.space.addItems([first, *(s for s in supernet_spaces() if s != first)])
        self.constraint = QDoubleSpinBox(minimum=0.01, maximum=1e6, value=25.0, decimals=2)
        self.latency = QComboBox(editable=True)
        self.latency.addItems(["note10", "macs"])
        self.latency.setToolTip("note10: official Note10 tables (ms); macs: constraint in MMACs")
        self.accuracy = QComboBox(editable=True)
        self.accuracy.addItems(["official", "supernet"])
        self.population = QSpinBox(minimum=4, maximum=10000, value=100)
        self.generations = QSpinBox(minimum=1, maximum=10000, value=100)
        self.start_btn = QPushButton("Start search")
        self.start_btn.clicked.connect(self.startRequested)
        r = labelled_row(
            ("≤", self.constraint),
            ("latency", self.latency),
            ("accuracy", self.accuracy),
            ("population", self.population),
            ("generations", self.generations),
        )
        r.addStretch(1)
        r.addWidget(self.start_btn)
        f.addRow("Space", self.space)
        f.addRow("Constraint", r)

    def params(self) -> dict:
        return {
            "space": self.space.currentText(),
            "constraint": self.constraint.value(),
            "latency": self.latency.currentText().strip(),
            "accuracy": self.accuracy.currentText().strip(),
            "population": self.population.value(),
            "generations": self.generations.value(),
        }
