"""Settings for the live proxies: batch sizes, resolution, repeats (live defaults or the papers')."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from ..live_metrics import LiveSettings


class SettingsDialog(QDialog):
    def __init__(self, settings: LiveSettings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Live metric settings")
        lay = QVBoxLayout(self)
        intro = QLabel(
            "Live defaults follow edits within about a second (Zen batch 16, 1 repeat; GradSign batch 32; "
            "resolution 64). Paper settings (Zen batch 64; GradSign batch 128; the architecture's own "
            "resolution) are slower but comparable with published numbers."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)
        form = QFormLayout()
        self.zen_batch = QSpinBox()
        self.zen_batch.setRange(2, 512)
        self.zen_repeats = QSpinBox()
        self.zen_repeats.setRange(1, 64)
        self.gs_batch = QSpinBox()
        self.gs_batch.setRange(1, 512)
        self.own_res = QCheckBox("use the architecture's own input resolution")
        self.resolution = QSpinBox()
        self.resolution.setRange(16, 1024)
        self.resolution.setSingleStep(16)
        self.own_res.toggled.connect(lambda on: self.resolution.setEnabled(not on))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.zen_on = QCheckBox("Zen-Score")
        self.gs_on = QCheckBox("GradSign")
        self.lat_on = QCheckBox("Latency")
        form.addRow("Zen-Score batch", self.zen_batch)
        form.addRow("Zen-Score repeats", self.zen_repeats)
        form.addRow("GradSign batch", self.gs_batch)
        form.addRow("Proxy resolution", self.resolution)
        form.addRow("", self.own_res)
        form.addRow("Seed", self.seed)
        row = QHBoxLayout()
        for w in (self.zen_on, self.gs_on, self.lat_on):
            row.addWidget(w)
        form.addRow("Compute", row)
        lay.addLayout(form)
        presets = QHBoxLayout()
        live = QPushButton("Live defaults")
        paper = QPushButton("Paper settings")
        live.clicked.connect(lambda: self.load(LiveSettings.live()))
        paper.clicked.connect(lambda: self.load(LiveSettings.paper()))
        presets.addWidget(live)
        presets.addWidget(paper)
        presets.addStretch(1)
        lay.addLayout(presets)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self.load(settings)

    def load(self, s: LiveSettings) -> None:
        self.zen_batch.setValue(s.zen_batch)
        self.zen_repeats.setValue(s.zen_repeats)
        self.gs_batch.setValue(s.gradsign_batch)
        self.own_res.setChecked(s.resolution is None)
        self.resolution.setValue(s.resolution or 64)
        self.resolution.setEnabled(s.resolution is not None)
        self.seed.setValue(s.seed)
        self.zen_on.setChecked(s.zen)
        self.gs_on.setChecked(s.gradsign)
        self.lat_on.setChecked(s.latency)

    def settings(self) -> LiveSettings:
        return LiveSettings(
            zen_batch=self.zen_batch.value(),
            zen_repeats=self.zen_repeats.value(),
            gradsign_batch=self.gs_batch.value(),
            resolution=None if self.own_res.isChecked() else self.resolution.value(),
            seed=self.seed.value(),
            zen=self.zen_on.isChecked(),
            gradsign=self.gs_on.isChecked(),
            latency=self.lat_on.isChecked(),
        )
