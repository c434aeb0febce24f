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
        self.mutate_btn.setToolTip("mutate the current candidate with the space's own mutation")
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
        self._json: QLineEdit | None = None
        self._build_form(self.space.currentText())

    # -- form (generated from the space's schema) ----------------------------------------------
    def _combo(self, key: str, values, tip: str = "") -> QComboBox:
        c = QComboBox()
        for v in values:
            c.addItem(str(v), v)
        c.setToolTip(tip)
        c.activated.connect(lambda _i: self._form_edited())
        self.widgets[key] = c
        return c

    def _build_form(self, name: str) -> None:
        """One combo per schema entry, laid out by the schema's rows; a space without a schema
        is edited as JSON."""
        self.widgets = {}
        self._json = None
        self._form_space = name
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(2, 2, 2, 2)
        grid.setVerticalSpacing(2)
        schema = get_space(name).schema()
        if schema is not None:
            rows = schema.layout()
            width = max(len(row.cells) for row in rows)
            for r, row in enumerate(rows):
                grid.addWidget(QLabel(f"<b>{row.label}</b>" if row.heading else row.label), r, 0)
                for c, (key, index) in enumerate(row.cells):
                    f = schema.field(key)
                    span = width - c if c == len(row.cells) - 1 else 1  # the last entry fills the row
                    grid.addWidget(self._combo(f.widget_id(index), f.choices, f.help), r, 1 + c, 1, span)
            if schema.note:
                grid.addWidget(QLabel(schema.note), len(rows), 0, 1, width + 1)
        else:
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
        space = get_space(self._form_space)
        schema = space.schema()
        if schema is None:
            if self._json is not None:
                self._json.setText(json.dumps(cfg))
            return
        values = space.form_values(cfg)
        for f in schema.fields:
            for i in f.indices():
                wid = f.widget_id(i)
                self._set(wid, values[f.key] if i is None else values[f.key][i])
                if not space.form_active(values, f.key, i):
                    self.widgets[wid].setEnabled(False)

    def config_from_form(self) -> dict:
        space = get_space(self._form_space)
        schema = space.schema()
        if schema is None:
            return json.loads(self._json.text() or "{}")
        values = {}
        for f in schema.fields:
            entries = [self.widgets[f.widget_id(i)].currentData() for i in f.indices()]
            values[f.key] = entries if f.length else entries[0]
        return space.config_from_form(values)

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
