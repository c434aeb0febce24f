"""ProxylessNAS: a latency-aware differentiable search on a device, with its loss and budget."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QSpinBox,
    QWidget,
)

from ....jobs.commands import proxyless_devices
from . import data_combo, labelled_row


class ProxylessForm(QWidget):
    startRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        f = QFormLayout(self)
        self.device = QComboBox(editable=True)
        self.device.addItems(["local", "synthetic"])
        self.device.setMinimumContentsLength(18)
        self.device.setToolTip(
            "local: this machine (torch, 1 thread; missing layer latencies are measured first);"
            " a device of the ProxylessNAS space (its table must cover the skeleton's geometry);"
            " synthetic: MACs-proportional, not a real device; or a device .json file"
        )
        self._devices_filled = False
        self.target = QDoubleSpinBox(minimum=0.001, maximum=1e5, value=2.0, decimals=3, suffix=" ms")
        self.target.setToolTip("latency target on the device; the result reports the reachable range")
        self.loss = QComboBox()
        self.loss.addItem("CE·(E/T)^β", "mul")
        self.loss.addItem("CE + λ·(E−T)/T", "add")
        self.loss.setToolTip("multiplicative (ProxylessNAS) or additive latency loss")
        self.beta = QDoubleSpinBox(minimum=0.0, maximum=10.0, value=0.6, decimals=2, singleStep=0.1)
        self.lam = QDoubleSpinBox(minimum=0.0, maximum=100.0, value=0.1, decimals=3, singleStep=0.05)
        self.lam.setEnabled(False)
        self.loss.currentIndexChanged.connect(self._loss_changed)
        r1 = QHBoxLayout()
        r1.addWidget(self.device, 1)
        labelled_row(("target", self.target), ("loss", self.loss), ("β", self.beta), ("λ", self.lam), into=r1)
        self.epochs = QSpinBox(minimum=1, maximum=10_000, value=10)
        self.warmup = QDoubleSpinBox(minimum=0.0, maximum=10_000, value=2.0, decimals=1)
        self.warmup.setToolTip("weight-only epochs before the architecture steps start")
        self.batch = QSpinBox(minimum=2, maximum=4096, value=64)
        self.images = QSpinBox(minimum=0, maximum=10_000_000, value=0, specialValueText="all")
        self.resolution = QSpinBox(minimum=8, maximum=512, value=32)
        self.data = data_combo()
        r2 = labelled_row(
            ("epochs", self.epochs),
            ("warm-up", self.warmup),
            ("batch", self.batch),
            ("images", self.images),
            ("resolution", self.resolution),
            ("data", self.data),
        )
        r2.addStretch(1)
        self.arch_lr = QDoubleSpinBox(minimum=1e-5, maximum=10.0, value=0.02, decimals=4, singleStep=0.01)
        self.arch_every = QSpinBox(minimum=1, maximum=1000, value=1)
        self.arch_every.setToolTip("an architecture step every N weight steps")
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.skeleton = QComboBox(editable=True)
        self.skeleton.addItems(["default", "small"])
        self.skeleton.setToolTip("default: 6 searchable layers; small: 4; or a skeleton JSON file / text")
        self.measure = QCheckBox("measure result")
        self.measure.setChecked(True)
        self.measure.setToolTip("measure the derived architecture's latency (local devices only)")
        self.start_btn = QPushButton("Start ProxylessNAS")
        self.start_btn.clicked.connect(self.startRequested)
        r3 = labelled_row(
            ("arch lr", self.arch_lr),
            ("arch every", self.arch_every),
            ("seed", self.seed),
            ("skeleton", self.skeleton),
        )
        r3.addWidget(self.measure)
        r3.addStretch(1)
        r3.addWidget(self.start_btn)
        f.addRow("Device", r1)
        f.addRow("Training", r2)
        f.addRow("Search", r3)

    def params(self) -> dict:
        """The form as job parameters (the keys `proxyless_argv` reads)."""
        return {
            "device": self.device.currentText().strip() or "local",
            "target_ms": self.target.value(),
            "loss": self.loss.currentData(),
            "beta": self.beta.value(),
            "lam": self.lam.value(),
            "epochs": self.epochs.value(),
            "warmup_epochs": self.warmup.value(),
            "batch_size": self.batch.value(),
            "train_images": self.images.value() or None,
            "resolution": self.resolution.value(),
            "data": self.data.currentText().strip() or "builtin",
            "arch_lr": self.arch_lr.value(),
            "arch_every": self.arch_every.value(),
            "seed": self.seed.value(),
            "skeleton": self.skeleton.currentText().strip() or "default",
            "measure": self.measure.isChecked(),
        }

    def _loss_changed(self) -> None:
        mul = self.loss.currentData() == "mul"
        self.beta.setEnabled(mul)
        self.lam.setEnabled(not mul)

    def fill_devices(self) -> None:
        """The registry is read when the tab is first shown, not when the form is built."""
        if self._devices_filled:
            return
        self._devices_filled = True
        cur = self.device.currentText()
        self.device.clear()
        self.device.addItems(proxyless_devices())
        self.device.setCurrentText(cur)
