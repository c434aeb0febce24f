"""Sample from a search space and edit its native config in a form; the graph follows the form,
and the form follows the graph (it decodes the current graph after every edit)."""

from __future__ import annotations

import json
from collections.abc import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..arch import ArchGraph
from ..errors import ExplorerError
from ..spaces import get_space, list_spaces


class SpacePanel(QWidget):
    graphRequested = Signal(object, str)  # an encoded ArchGraph and the undo text
    status = Signal(str)

    def __init__(self, get_graph: Callable[[], ArchGraph], parent=None):
        super().__init__(parent)
        self.get_graph = get_graph
        self._mutations = 0
        self.widgets: dict[str, QComboBox] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QGridLayout()
        self.space = QComboBox()
        for s in list_spaces():
            self.space.addItem(s.name)
            self.space.setItemData(self.space.count() - 1, s.description, Qt.ItemDataRole.ToolTipRole)
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.sample_btn = QPushButton("Sample")
        self.mutate_btn = QPushButton("Mutate")
        self.sample_btn.setToolTip("a seeded uniform sample from the space")
        self.mutate_btn.setToolTip("mutate the current candidate (OFA: kernel/expand/depth, resolution)")
        top.addWidget(QLabel("Space"), 0, 0)
        top.addWidget(self.space, 0, 1, 1, 2)
        top.addWidget(QLabel("Seed"), 1, 0)
        top.addWidget(self.seed, 1, 1)
        row = QHBoxLayout()
        row.addWidget(self.sample_btn)
        row.addWidget(self.mutate_btn)
        top.addLayout(row, 2, 0, 1, 3)
        lay.addLayout(top)
        self.note = QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #666;")
        lay.addWidget(self.note)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        lay.addWidget(self.scroll, 1)
        self.sample_btn.clicked.connect(self.sample)
        self.mutate_btn.clicked.connect(self.mutate)
        self.space.currentTextChanged.connect(self._build_form)
        self._form_space = ""
        self._build_form(self.space.currentText())

    # -- form --------------------------------------------------------------------------------
    def _combo(self, key: str, values, tip: str = "") -> QComboBox:
        c = QComboBox()
        for v in values:
            c.addItem(str(v), v)
        c.setToolTip(tip)
        c.activated.connect(lambda _i: self._form_edited())
        self.widgets[key] = c
        return c

    def _build_form(self, name: str) -> None:
        self.widgets = {}
        self._form_space = name
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setVerticalSpacing(2)
        space = get_space(name)
        if name.startswith("ofa-mbv3"):
            from ..spaces.ofa_geometry import DEPTHS, EXPANDS, KERNELS, MAX_DEPTH, N_STAGES

            grid.addWidget(QLabel("resolution"), 0, 0)
            grid.addWidget(self._combo("r", space.geo.resolutions, "input resolution"), 0, 1, 1, 2)
            r = 1
            for s in range(N_STAGES):
                lab = QLabel(f"<b>stage{s + 1}</b>  depth")
                grid.addWidget(lab, r, 0)
                grid.addWidget(self._combo(f"d{s}", DEPTHS, "blocks in this stage"), r, 1, 1, 2)
                r += 1
                for j in range(MAX_DEPTH):
                    i = s * MAX_DEPTH + j
                    grid.addWidget(QLabel(f"   block{i}"), r, 0)
                    grid.addWidget(self._combo(f"k{i}", KERNELS, "kernel size"), r, 1)
                    grid.addWidget(self._combo(f"e{i}", EXPANDS, "expand ratio"), r, 2)
                    r += 1
            grid.addWidget(QLabel("k = kernel, e = expand ratio"), r, 0, 1, 3)
        elif name == "nb201":
            from ..arch.ops.nb201 import NB201_OPS
            from ..spaces.nb201 import EDGES

            for k, (to, frm) in enumerate(EDGES):
                grid.addWidget(QLabel(f"edge {frm}\u2192{to}"), k, 0)
                grid.addWidget(self._combo(f"op{k}", NB201_OPS, "the op on this cell edge"), k, 1)
        else:  # a space without a dedicated form: its config as JSON
            edit = QLineEdit()
            edit.editingFinished.connect(self._form_edited)
            self._json = edit
            grid.addWidget(QLabel("config (JSON)"), 0, 0)
            grid.addWidget(edit, 1, 0)
        grid.setRowStretch(grid.rowCount(), 1)
        self.scroll.setWidget(box)
        self.follow(self.get_graph())

    def _set(self, key: str, value) -> None:
        w = self.widgets.get(key)
        if w is not None:
            w.blockSignals(True)
            idx = w.findData(value)
            if idx < 0 and isinstance(value, float) and value.is_integer():
                idx = w.findData(int(value))
            w.setCurrentIndex(max(0, idx))
            w.blockSignals(False)

    def show_config(self, cfg: dict) -> None:
        name = self._form_space
        if name.startswith("ofa-mbv3"):
            from ..spaces.ofa_geometry import MAX_DEPTH

            self._set("r", cfg["r"])
            for s, d in enumerate(cfg["d"]):
                self._set(f"d{s}", d)
                for j in range(MAX_DEPTH):
                    i = s * MAX_DEPTH + j
                    self._set(f"k{i}", cfg["ks"][i])
                    self._set(f"e{i}", cfg["e"][i])
                    for key in (f"k{i}", f"e{i}"):
                        self.widgets[key].setEnabled(j < d)
        elif name == "nb201":
            from ..spaces.nb201 import parse_arch_str

            for k, op in enumerate(parse_arch_str(cfg["arch_str"])):
                self._set(f"op{k}", op)
        elif hasattr(self, "_json"):
            self._json.setText(json.dumps(cfg))

    def config_from_form(self) -> dict:
        name = self._form_space
        if name.startswith("ofa-mbv3"):
            from ..spaces.ofa_geometry import N_BLOCKS, N_STAGES

            return {
                "ks": [self.widgets[f"k{i}"].currentData() for i in range(N_BLOCKS)],
                "e": [self.widgets[f"e{i}"].currentData() for i in range(N_BLOCKS)],
                "d": [self.widgets[f"d{s}"].currentData() for s in range(N_STAGES)],
                "r": self.widgets["r"].currentData(),
            }
        if name == "nb201":
            from ..spaces.nb201 import arch_str_of

            return {"arch_str": arch_str_of([self.widgets[f"op{k}"].currentData() for k in range(6)])}
        return json.loads(self._json.text() or "{}")

    # -- graph <-> form ----------------------------------------------------------------------
    def follow(self, graph: ArchGraph) -> dict | None:
        """Show the current graph's config (decoded from its nodes); disable the form when the
        graph no longer belongs to the chosen space."""
        space_name = graph.meta.get("space")
        if space_name and space_name != self._form_space and self.space.findText(space_name) >= 0:
            self.space.blockSignals(True)
            self.space.setCurrentText(space_name)
            self.space.blockSignals(False)
            self._build_form(space_name)
            return None if space_name != self._form_space else self._decoded
        self._decoded = None
        try:
            if space_name != self._form_space:
                raise ExplorerError(f"the graph is not from {self._form_space}")
            cfg = get_space(self._form_space).decode(graph)
        except (ExplorerError, ValueError, KeyError) as e:
            self.note.setText(f"Form shows the space's last config: {e}. Sample to start from the space.")
            self._enable_form(False)
            self.mutate_btn.setEnabled(False)
            return None
        self._decoded = cfg
        self._enable_form(True)
        self.mutate_btn.setEnabled(True)
        self.note.setText(get_space(self._form_space).description)
        self.show_config(cfg)
        return cfg

    def _enable_form(self, on: bool) -> None:
        for w in self.widgets.values():
            w.setEnabled(on)

    def _emit(self, cfg: dict, text: str) -> None:
        space = get_space(self._form_space)
        try:
            graph = space.encode(cfg)
        except ExplorerError as e:
            self.status.emit(str(e))
            return
        self.graphRequested.emit(graph, text)

    def _form_edited(self) -> None:
        try:
            cfg = self.config_from_form()
        except (ValueError, KeyError) as e:
            self.status.emit(f"config: {e}")
            return
        self._emit(cfg, f"Edit {self._form_space} config")

    def sample(self) -> None:
        name = self.space.currentText()
        cfg = get_space(name).sample(self.seed.value())
        self._emit(cfg, f"Sample {name} seed {self.seed.value()}")

    def mutate(self) -> None:
        cfg = getattr(self, "_decoded", None)
        if cfg is None:
            self.status.emit("the current graph is not from this space: sample first")
            return
        self._mutations += 1
        space = get_space(self._form_space)
        new = space.mutate(cfg, seed=self.seed.value() * 1000 + self._mutations)
        self._emit(new, f"Mutate {self._form_space}")
