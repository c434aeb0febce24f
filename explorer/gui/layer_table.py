"""The per-layer table (the Layers dock): node, op, group, output shape, params, MACs and latency
with their shares, sortable by any column, the totals above it. Selecting rows selects their
nodes in the editor and selecting nodes selects their rows. It shows the heat controller's report
(heat.py), so table and overlay always agree; `arch info --per-layer --json` is its CLI twin."""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..commands._output import human
from ..layer_costs import LayerReport, NodeShare

SORT_ROLE = Qt.ItemDataRole.UserRole  # the raw number (or text) a column sorts by
NODE_ROLE = Qt.ItemDataRole.UserRole + 1
COLUMNS = (
    "node",
    "op",
    "group",
    "output",
    "params",
    "params %",
    "MACs",
    "MACs %",
    "latency ms",
    "latency %",
)
NUMERIC = {"params": "params", "MACs": "macs", "latency ms": "latency_ms"}
SHARE = {"params %": "params", "MACs %": "macs", "latency %": "latency_ms"}
GREY = QColor("#8a8a8a")
_ROOT = QModelIndex()


class LayerTableModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.report: LayerReport | None = None
        self.rows: list[NodeShare] = []
        self._totals: dict[str, float] = {}

    def set_report(self, report: LayerReport | None) -> None:
        self.beginResetModel()
        self.report = report
        self.rows = list(report.nodes) if report is not None else []
        self._totals = {m: report.total(m) for m in ("params", "macs", "latency_ms")} if report else {}
        self.endResetModel()

    def totals(self) -> dict[str, float]:
        return dict(self._totals)

    def rowCount(self, parent=_ROOT) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent=_ROOT) -> int:  # noqa: N802 - Qt API
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def value(self, row: int, col: str):
        """The raw figure of a cell (what it sorts by): a number, None when there is none, or text."""
        n = self.rows[row]
        if col in NUMERIC:
            return getattr(n, NUMERIC[col])
        if col in SHARE:
            v, total = getattr(n, SHARE[col]), self._totals.get(SHARE[col], 0.0)
            return None if v is None or not total else 100.0 * v / total
        return {"node": n.node, "op": n.op, "group": n.group, "output": "x".join(map(str, n.out_shape))}[col]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        col = COLUMNS[index.column()]
        v = self.value(index.row(), col)
        if role == Qt.ItemDataRole.DisplayRole:
            if v is None:
                return "n/a" if col.startswith("latency") else ""
            if col in SHARE:
                return f"{v:.1f}"
            if col == "latency ms":
                return f"{v:.4f}"
            if col in NUMERIC:
                return f"{int(v):,}"
            return v
        if role == SORT_ROLE:
            if col in NUMERIC or col in SHARE:
                return -1.0 if v is None else float(v)  # no figure sorts below zero
            return v
        if role == NODE_ROLE:
            return self.rows[index.row()].node
        if role == Qt.ItemDataRole.TextAlignmentRole and (col in NUMERIC or col in SHARE):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and v is None:
            return QBrush(GREY)
        return None


class LayerTable(QWidget):
    """The Layers dock's widget: totals, a measuring line with Stop, the sortable table."""

    nodesActivated = Signal(list)  # rows selected by the user: their node ids

    def __init__(self, heat, scene, parent=None):
        super().__init__(parent)
        self.heat, self.scene = heat, scene
        self._syncing = False
        self.model = LayerTableModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.totals_label = QLabel("")
        self.totals_label.setWordWrap(True)
        self.status = QLabel("")
        self.status.setStyleSheet("color: #7a5a00")
        self.stop_btn = QPushButton("Stop measuring")
        self.stop_btn.setToolTip("layers measured so far keep their figures; the rest show n/a")
        self.stop_btn.clicked.connect(heat.stop_measuring)
        self.stop_btn.hide()
        self.rest_btn = QPushButton("Measure the rest")
        self.rest_btn.setToolTip("measure the layers this machine's table still lacks")
        self.rest_btn.clicked.connect(heat.measure_rest)
        self.rest_btn.hide()
        top = QHBoxLayout()
        top.addWidget(self.totals_label, 1)
        top.addWidget(self.status)
        top.addWidget(self.stop_btn)
        top.addWidget(self.rest_btn)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COLUMNS.index("latency ms"), Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(20)
        hh = self.view.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        hh.setStretchLastSection(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        self.view.selectionModel().selectionChanged.connect(self._rows_selected)
        heat.reportChanged.connect(self.refresh)
        heat.measuring.connect(self._measuring)
        scene.selectionChanged.connect(self._scene_selected)

    def refresh(self) -> None:
        report = self.heat.report
        self._syncing = True
        try:
            self.model.set_report(report)
        finally:
            self._syncing = False
        self.totals_label.setText(self.totals_text())
        self.status.setText(self.heat.note)
        self.rest_btn.setVisible(bool(self.heat.stopped and report is not None and report.missing))
        self.view.resizeColumnsToContents()
        self._scene_selected()

    def totals_text(self) -> str:
        report = self.heat.report
        if report is None:
            return self.heat.note or "no figures yet"
        t = self.model.totals()
        text = f"{len(report.nodes)} nodes \u00b7 params {human(t['params'])} \u00b7 MACs {human(t['macs'])}"
        if report.device is not None:
            lat = report.latency or {}
            text += f" \u00b7 latency {t['latency_ms']:.3f} ms (layer sum) on {report.device}"
            if lat.get("latency_ms") is not None and lat.get("method", "").startswith("lut+"):
                text += f", {lat['latency_ms']:.3f} ms calibrated"
        return text

    def _measuring(self, done: int, total: int) -> None:
        self.stop_btn.setVisible(total > 0)
        if total:
            self.rest_btn.hide()
        if total:
            self.status.setText(self.heat.note)

    # -- selection both ways -------------------------------------------------------------------
    def selected_nodes(self) -> list[str]:
        rows = self.view.selectionModel().selectedRows()
        return [self.proxy.data(i, NODE_ROLE) for i in rows]

    def _rows_selected(self, *_a) -> None:
        if self._syncing:
            return
        nodes = self.selected_nodes()
        if nodes:
            self._syncing = True
            try:
                self.nodesActivated.emit(nodes)
            finally:
                self._syncing = False

    def _scene_selected(self) -> None:
        if self._syncing:
            return
        try:
            wanted = set(self.scene.selected_model_nodes())
        except RuntimeError:  # the scene went with its window
            return
        sel = QItemSelection()
        for r in range(self.proxy.rowCount()):
            idx = self.proxy.index(r, 0)
            if self.proxy.data(idx, NODE_ROLE) in wanted:
                sel.select(idx, self.proxy.index(r, len(COLUMNS) - 1))
        self._syncing = True
        try:
            flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            self.view.selectionModel().select(sel, flags)
            if not sel.isEmpty():
                self.view.scrollTo(sel.indexes()[0])
        finally:
            self._syncing = False

    def select_rows_of(self, nodes: list[str]) -> None:
        """Select the rows of `nodes` as a user would (the editor follows)."""
        sel = QItemSelection()
        for r in range(self.proxy.rowCount()):
            idx = self.proxy.index(r, 0)
            if self.proxy.data(idx, NODE_ROLE) in nodes:
                sel.select(idx, self.proxy.index(r, len(COLUMNS) - 1))
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
        self.view.selectionModel().select(sel, flags)
