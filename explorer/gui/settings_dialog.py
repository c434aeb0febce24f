"""Settings for the live metrics: which registered proxies are shown (every one the registry has,
with its batch), resolution, seed, latency (live defaults or the papers')."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from ..live_metrics import DEFAULT_PROXIES, LiveSettings, live_proxies
from ..proxies.reference import load as load_reference
from ..spaces import list_spaces


def reference_note() -> str:
    """Which spaces ship a reference sample for the population proxies' percentiles."""
    have = [(s.name, len(load_reference(s.name) or ())) for s in list_spaces()]
    have = [f"{name} ({n} nets)" for name, n in have if n]
    where = ", ".join(have) if have else "no space yet"
    return f"percentile in its space's reference sample: {where}; a custom graph has none"


class SettingsDialog(QDialog):
    def __init__(self, settings: LiveSettings, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Live metric settings")
        lay = QVBoxLayout(self)
        intro = QLabel(
            "Live defaults follow edits within about a second (each proxy's live batch, at most 64 px). "
            "Paper settings (each proxy's official batch, the architecture's own resolution) are slower "
            "but comparable with published numbers. AZ-NAS and the ensemble rank within a population: "
            "the live view places the graph in its space's reference sample, scored as that sample was."
        )
        intro.setWordWrap(True)
        lay.addWidget(intro)

        box = QGroupBox("Proxies shown")
        grid = QGridLayout(box)
        grid.addWidget(QLabel("<b>Proxy</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Batch</b>"), 0, 1)
        grid.addWidget(QLabel("<b>Method</b>"), 0, 2)
        self.checks: dict[str, QCheckBox] = {}
        self.batches: dict[str, QSpinBox] = {}
        note = reference_note()
        # the defaults first, then the other per-network proxies, then the population ones
        shown = sorted(
            live_proxies(), key=lambda p: (p.population, p.name not in DEFAULT_PROXIES, p.label.lower())
        )
        for r, p in enumerate(shown, start=1):
            check = QCheckBox(p.label)
            check.setToolTip(p.summary)
            self.checks[p.name] = check
            grid.addWidget(check, r, 0)
            if p.population:
                what = QLabel("reference")
                what.setToolTip("the reference sample's settings (live batches, at most 64 px)")
                grid.addWidget(what, r, 1)
                text = f"{p.summary}; {note}"
            else:
                spin = QSpinBox()
                spin.setRange(1, 1024)
                spin.setToolTip(f"{p.label}: live batch {p.live_batch}, official {p.official_batch}")
                self.batches[p.name] = spin
                check.toggled.connect(spin.setEnabled)
                grid.addWidget(spin, r, 1)
                text = p.summary
            label = QLabel(text)
            label.setWordWrap(True)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.NoTextInteraction)
            grid.addWidget(label, r, 2)
        grid.setColumnStretch(2, 1)
        lay.addWidget(box)

        form = QFormLayout()
        self.zen_repeats = QSpinBox()
        self.zen_repeats.setRange(1, 64)
        self.own_res = QCheckBox("use the architecture's own input resolution")
        self.resolution = QSpinBox()
        self.resolution.setRange(16, 1024)
        self.resolution.setSingleStep(16)
        self.own_res.toggled.connect(lambda on: self.resolution.setEnabled(not on))
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.lat_on = QCheckBox("predict latency on the devices checked in the Devices dock")
        if "zen" in self.checks:
            form.addRow("Zen-Score repeats", self.zen_repeats)
        form.addRow("Proxy resolution (at most)", self.resolution)
        form.addRow("", self.own_res)
        form.addRow("Seed", self.seed)
        form.addRow("Latency", self.lat_on)
        lay.addLayout(form)
        presets = QHBoxLayout()
        live = QPushButton("Live defaults")
        paper = QPushButton("Paper settings")
        live.clicked.connect(lambda: self.load(self._preset(LiveSettings.live())))
        paper.clicked.connect(lambda: self.load(self._preset(LiveSettings.paper())))
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
        self.preset, self.order = settings.preset, settings.proxies
        self.load(settings)

    def _preset(self, s: LiveSettings) -> LiveSettings:
        """A preset's batches and resolution, keeping the proxies shown and the latency switch."""
        return LiveSettings(
            proxies=self.chosen(),
            preset=s.preset,
            resolution=s.resolution,
            seed=self.seed.value(),
            latency=self.lat_on.isChecked(),
        )

    def chosen(self) -> tuple[str, ...]:
        """The proxies checked: those shown before keep their order, new ones follow (registry order)."""
        on = [n for n, c in self.checks.items() if c.isChecked()]
        return tuple([n for n in self.order if n in on] + [n for n in on if n not in self.order])

    def load(self, s: LiveSettings) -> None:
        self.preset, self.order = s.preset, s.proxies
        for name, check in self.checks.items():
            check.setChecked(name in s.proxies)
        for name, spin in self.batches.items():
            spin.setValue(s.batch_of(name))
            spin.setEnabled(name in s.proxies)
        self.zen_repeats.setValue(s.zen_repeats)
        self.own_res.setChecked(s.resolution is None)
        self.resolution.setValue(s.resolution or 64)
        self.resolution.setEnabled(s.resolution is not None)
        self.seed.setValue(s.seed)
        self.lat_on.setChecked(s.latency)

    def settings(self) -> LiveSettings:
        return LiveSettings(
            proxies=self.chosen(),
            preset=self.preset,
            batch={n: spin.value() for n, spin in self.batches.items()},
            resolution=None if self.own_res.isChecked() else self.resolution.value(),
            seed=self.seed.value(),
            zen_repeats=self.zen_repeats.value(),
            latency=self.lat_on.isChecked(),
        )
