"""Side-by-side diff of two candidates: both graphs as aligned columns of node boxes (changed nodes
amber with their parameter changes, added green, removed red), and the metric deltas as a table.

Drawn with a QGraphicsScene of its own (boxes, text, connectors) so it does not depend on the
editor's scene classes; the layout is the merged topological order from `explorer.arch.diff`.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..arch import ArchGraph
from ..arch.diff import ADDED, CHANGED, REMOVED, SAME, GraphDiff, diff_graphs
from .candidates_view import fmt_value, metric_label

COLOURS = {
    SAME: QColor(236, 238, 242),
    CHANGED: QColor(255, 214, 130),
    ADDED: QColor(170, 228, 170),
    REMOVED: QColor(245, 170, 170),
}
BOX_W, BOX_H, GAP, COL_GAP = 250.0, 44.0, 10.0, 120.0


def _short(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def fmt_delta(key: str, d: float) -> str:
    if key.startswith("complexity:") and abs(d) >= 1e5:
        return f"{d / 1e6:+.2f}M"
    if key.startswith("complexity:"):
        return f"{d:+,.0f}"
    return f"{d:+.4g}"


class DiffView(QWidget):
    """`set_graphs(a, b, metrics_a, metrics_b)`, or pick two candidates of the project."""

    nodeClicked = Signal(str, str)

    def __init__(self, project_getter=None, parent=None):
        super().__init__(parent)
        self.project_getter = project_getter or (lambda: None)
        self.diff: GraphDiff | None = None
        self.a: ArchGraph | None = None
        self.b: ArchGraph | None = None
        self.labels = ("A", "B")
        self.items: dict[tuple[str, str], object] = {}  # ("a"|"b", node id) -> box item

        self.combo_a, self.combo_b = QComboBox(), QComboBox()
        for c in (self.combo_a, self.combo_b):
            c.setMinimumContentsLength(16)
            c.activated.connect(self._from_combos)
        self.hide_same = QCheckBox("hide unchanged")
        self.hide_same.toggled.connect(self._draw)
        self.summary = QLabel("choose two candidates")
        self.summary.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("A"))
        top.addWidget(self.combo_a, 1)
        top.addWidget(QLabel("B"))
        top.addWidget(self.combo_b, 1)
        top.addWidget(self.hide_same)

        self.scene = QGraphicsScene(self)
        self.view = QGraphicsView(self.scene)
        self.view.setRenderHint(QPainter.RenderHint.Antialiasing)
        self.view.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.view.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.metrics_table = QTableWidget(0, 5)
        self.metrics_table.setHorizontalHeaderLabels(["metric", "A", "B", "Δ", "Δ %"])
        self.metrics_table.verticalHeader().setVisible(False)
        hh = self.metrics_table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.metrics_table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view)
        split.addWidget(self.metrics_table)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([640, 420])
        split.setChildrenCollapsible(False)
        self.view.setMinimumWidth(int(BOX_W + 40))
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.summary)
        lay.addWidget(split, 1)

    # -- project ----------------------------------------------------------------------------
    def refresh(self) -> None:
        project = self.project_getter()
        for c in (self.combo_a, self.combo_b):
            cur = c.currentData()
            c.blockSignals(True)
            c.clear()
            if project is not None:
                for cand in project.candidates():
                    c.addItem(f"#{cand.id} {cand.name}", cand.id)
            i = c.findData(cur)
            if i >= 0:
                c.setCurrentIndex(i)
            c.blockSignals(False)

    def compare_candidates(self, a_id: int, b_id: int) -> None:
        project = self.project_getter()
        if project is None:
            return
        if self.combo_a.findData(a_id) < 0 or self.combo_b.findData(b_id) < 0:
            self.refresh()
        self.combo_a.setCurrentIndex(max(0, self.combo_a.findData(a_id)))
        self.combo_b.setCurrentIndex(max(0, self.combo_b.findData(b_id)))
        table = project.metric_table()
        ca, cb = project.candidate(a_id), project.candidate(b_id)
        self.set_graphs(
            ca.graph,
            cb.graph,
            table.get(a_id, {}),
            table.get(b_id, {}),
            labels=(f"#{a_id} {ca.name}", f"#{b_id} {cb.name}"),
        )

    def _from_combos(self) -> None:
        a, b = self.combo_a.currentData(), self.combo_b.currentData()
        if a is not None and b is not None:
            self.compare_candidates(int(a), int(b))

    # -- diff -------------------------------------------------------------------------------
    def set_graphs(
        self, a: ArchGraph, b: ArchGraph, metrics_a=None, metrics_b=None, labels=("A", "B")
    ) -> GraphDiff:
        self.a, self.b, self.labels = a, b, labels
        self.diff = diff_graphs(a, b, metrics_a, metrics_b)
        self.summary.setText(f"{labels[0]}  ⟷  {labels[1]}:  {self.diff.summary()}")
        self._draw()
        self._fill_metrics()
        return self.diff

    def _box(self, x: float, y: float, side: str, nid: str, op: str, status: str, params: dict) -> None:
        rect = self.scene.addRect(
            QRectF(x, y, BOX_W, BOX_H), QPen(QColor(90, 90, 100), 1), QBrush(COLOURS[status])
        )
        rect.setToolTip(self._tooltip(side, nid))
        self.items[(side, nid)] = rect
        title = self.scene.addSimpleText(f"{nid}  ·  {op}")
        f = QFont()
        f.setPointSize(9)
        f.setBold(True)
        title.setFont(f)
        title.setPos(x + 6, y + 3)
        detail = ""
        if params:
            idx = 0 if side == "a" else 1
            detail = ", ".join(f"{k} {_short(v[idx])}" for k, v in list(params.items())[:4])
            if len(params) > 4:
                detail += " …"
        elif status in (ADDED, REMOVED):
            detail = "added in B" if status == ADDED else "only in A"
        if detail:
            t = self.scene.addSimpleText(detail)
            f2 = QFont()
            f2.setPointSize(8)
            t.setFont(f2)
            t.setPos(x + 6, y + 22)
            # keep text inside its box
            if t.boundingRect().width() > BOX_W - 10:
                t.setScale((BOX_W - 10) / t.boundingRect().width())

    def _tooltip(self, side: str, nid: str) -> str:
        g = self.a if side == "a" else self.b
        if g is None or nid not in g:
            return nid
        return f"{nid} ({g.op(nid)})\n" + "\n".join(f"{k} = {v}" for k, v in g.params(nid).items())

    def _draw(self) -> None:
        self.scene.clear()
        self.items.clear()
        if self.diff is None:
            return
        xa, xb = 0.0, BOX_W + COL_GAP
        head = QFont()
        head.setPointSize(10)
        head.setBold(True)
        for x, text in ((xa, self.labels[0]), (xb, self.labels[1])):
            t = self.scene.addSimpleText(text)
            t.setFont(head)
            if t.boundingRect().width() > BOX_W:
                t.setScale(BOX_W / t.boundingRect().width())
            t.setPos(x, -28)
        y = 0.0
        hidden = 0
        for row in self.diff.rows:
            if self.hide_same.isChecked() and row.status == SAME:
                hidden += 1
                continue
            if row.a is not None:
                self._box(xa, y, "a", row.a, row.op_a, row.status, row.params)
            if row.b is not None:
                self._box(xb, y, "b", row.b, row.op_b, row.status, row.params)
            if row.a is not None and row.b is not None:
                pen = QPen(QColor(120, 120, 130) if row.status == SAME else QColor(200, 120, 0), 1.2)
                if row.matched_by == "position":
                    pen.setStyle(Qt.PenStyle.DashLine)
                self.scene.addLine(xa + BOX_W, y + BOX_H / 2, xb, y + BOX_H / 2, pen)
            y += BOX_H + GAP
        if hidden:
            t = self.scene.addSimpleText(f"{hidden} unchanged nodes hidden")
            t.setPos(xa, y)
        self.scene.setSceneRect(self.scene.itemsBoundingRect().adjusted(-10, -10, 10, 10))

    def _fill_metrics(self) -> None:
        rows = self.diff.metrics if self.diff else []
        self.metrics_table.setRowCount(len(rows))
        for i, m in enumerate(rows):
            d, rel = m.delta, m.relative
            cells = [
                metric_label(m.key),
                fmt_value(m.key, m.a if m.a is not None else math.nan),
                fmt_value(m.key, m.b if m.b is not None else math.nan),
                "n/a" if d is None else fmt_delta(m.key, d),
                "" if rel is None else f"{rel * 100:+.1f}%",
            ]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if j >= 3 and d:
                    better = (d < 0) == (m.key.split(":", 1)[0] in ("latency", "complexity"))
                    item.setForeground(QColor(20, 130, 40) if better else QColor(190, 30, 30))
                self.metrics_table.setItem(i, j, item)
