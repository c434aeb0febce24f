"""Live view of a ProxylessNAS search job: softmax(alpha) per layer as a heat map (layers x
candidate ops, the argmax path outlined) and the expected / argmax-path latency against the target
over the steps.

Why a heat map: the search's whole state is one distribution per layer; a grid shows at a glance
which layers have settled and which op each one leans to, and how far the latency is from the
target says whether the latency loss is pulling. `ProxylessHistory` collects the job's progress
records (deduplicated by step, so a resumed job that repeats steps draws one curve); `ProxylessPlot`
draws it.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QVBoxLayout, QWidget

LOW, HIGH = QColor(255, 255, 255), QColor(20, 70, 160)
ABSENT = QColor(215, 215, 215)


class ProxylessHistory:
    """What the plot needs from a job's progress records: latest path probabilities and the
    latency curves by step."""

    def __init__(self):
        self.curves: dict[int, tuple[float, float]] = {}  # step -> (expected ms, argmax ms)
        self.probs: list[list[float]] | None = None
        self.labels: list[list[str]] | None = None
        self.target_ms: float | None = None
        self.step = 0
        self.total: int | None = None

    def add(self, phase: str, step: int, total: int | None, extra: dict) -> bool:
        """Take one record; True when it changed what is drawn."""
        if phase == "done" and isinstance(extra.get("result"), dict):
            extra = extra["result"]
        if extra.get("probs") is None:
            return False
        self.probs, self.labels = extra["probs"], extra.get("labels") or self.labels
        if extra.get("target_ms") is not None:
            self.target_ms = float(extra["target_ms"])
        if phase != "done" and extra.get("expected_ms") is not None:
            self.curves[int(step)] = (float(extra["expected_ms"]), float(extra.get("argmax_ms", math.nan)))
        self.step, self.total = int(step), total
        return True


def prob_matrix(probs, labels) -> tuple[np.ndarray, list[str]]:
    """(layers x ops) matrix of probabilities over the union of op labels in first-seen order; NaN
    where a layer does not offer an op (only skippable layers offer `zero`)."""
    ops: list[str] = []
    for row in labels:
        for lab in row:
            if lab not in ops:
                ops.append(lab)
    col = {lab: j for j, lab in enumerate(ops)}
    m = np.full((len(probs), len(ops)), np.nan)
    for i, (row, labs) in enumerate(zip(probs, labels)):
        for p, lab in zip(row, labs):
            m[i, col[lab]] = p
    return m, ops


def _style(plot) -> None:
    plot.setMenuEnabled(False)
    for ax in ("left", "bottom"):
        plot.getAxis(ax).setTextPen("k")
        plot.getAxis(ax).setPen("k")


class ProxylessPlot(QWidget):
    """Heat map of softmax(alpha) (left) and latency vs target over steps (right)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.matrix: np.ndarray | None = None
        self.op_labels: list[str] = []
        self.view = pg.GraphicsLayoutWidget()
        self.view.setBackground("w")
        self.heat = self.view.addPlot(title="softmax(α) per layer")
        self.lat = self.view.addPlot(title="latency (ms)")
        self.view.ci.layout.setColumnStretchFactor(0, 3)
        self.view.ci.layout.setColumnStretchFactor(1, 2)
        _style(self.heat)
        _style(self.lat)
        self.heat.invertY(True)
        self.heat.setMouseEnabled(x=False, y=False)
        self.heat.hideButtons()
        self.heat.getAxis("left").setLabel("layer")
        self.heat.getAxis("bottom").setLabel("candidate op")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.heat.addItem(self.image)
        self._texts: list[pg.TextItem] = []
        self._boxes: list[QGraphicsRectItem] = []
        self.cmap = pg.ColorMap([0.0, 1.0], [LOW, HIGH])

        self.lat.showGrid(x=True, y=True, alpha=0.25)
        self.lat.getAxis("bottom").setLabel("step")
        self.legend = self.lat.addLegend(offset=(-10, 10), labelTextColor="k")
        self.legend.setBrush(pg.mkBrush(255, 255, 255, 210))
        self.expected = self.lat.plot(pen=pg.mkPen(QColor(30, 90, 200), width=2), name="expected")
        self.argmax = self.lat.plot(
            pen=pg.mkPen(QColor(230, 120, 20), width=2, style=Qt.PenStyle.DashLine), name="argmax path"
        )
        self.target = pg.InfiniteLine(
            angle=0,
            pen=pg.mkPen(QColor(200, 30, 30), width=1.5, style=Qt.PenStyle.DotLine),
            label="target",
            labelOpts={"position": 0.97, "color": (200, 30, 30), "anchors": [(1, 1), (1, 1)]},
        )
        self.target.hide()
        self.lat.addItem(self.target)
        dummy = self.lat.plot(pen=pg.mkPen(QColor(200, 30, 30), width=1.5, style=Qt.PenStyle.DotLine))
        self.legend.addItem(dummy, "target")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)

    def clear(self) -> None:
        self.matrix, self.op_labels = None, []
        self.image.clear()
        self._set_cells(0, 0)
        self.expected.setData([], [])
        self.argmax.setData([], [])
        self.target.hide()
        self.heat.setTitle("softmax(α) per layer")

    def show_history(self, h: ProxylessHistory | None) -> None:
        if h is None or h.probs is None:
            self.clear()
            return
        self.set_probs(h.probs, h.labels or [[str(j) for j in range(len(r))] for r in h.probs], h.step)
        steps = sorted(h.curves)
        self.expected.setData(steps, [h.curves[s][0] for s in steps])
        self.argmax.setData(steps, [h.curves[s][1] for s in steps])
        if h.target_ms is not None:
            self.target.setValue(h.target_ms)
            self.target.label.setFormat(f"target {h.target_ms:g} ms")
            self.target.show()

    def set_probs(self, probs, labels, step: int | None = None) -> None:
        m, ops = prob_matrix(probs, labels)
        self.matrix, self.op_labels = m, ops
        n, k = m.shape
        rgba = self.cmap.map(np.nan_to_num(m, nan=0.0).clip(0, 1), mode="byte")
        rgba = rgba.reshape(n, k, 4)
        rgba[np.isnan(m)] = [ABSENT.red(), ABSENT.green(), ABSENT.blue(), 255]
        self.image.setImage(rgba, autoLevels=False)
        self.image.setRect(QRectF(0, 0, k, n))
        self.heat.getAxis("bottom").setTicks([[(j + 0.5, lab) for j, lab in enumerate(ops)]])
        self.heat.getAxis("left").setTicks([[(i + 0.5, f"L{i + 1}") for i in range(n)]])
        self.heat.setRange(xRange=(0, k), yRange=(0, n), padding=0)
        self._set_cells(n, k)
        best = [int(np.nanargmax(r)) if np.isfinite(r).any() else -1 for r in m]
        bold, plain = QFont(), QFont()
        bold.setBold(True)
        for i in range(n):
            for j in range(k):
                t = self._texts[i * k + j]
                v = m[i, j]
                t.setText("–" if math.isnan(v) else f"{v:.2f}")
                t.setColor(QColor(255, 255, 255) if (not math.isnan(v) and v > 0.55) else QColor(20, 20, 20))
                t.setFont(bold if j == best[i] else plain)
            box = self._boxes[i]
            box.setVisible(best[i] >= 0)
            box.setRect(QRectF(best[i] + 0.04, i + 0.06, 0.92, 0.88))
        title = "softmax(α) per layer" + (f" · step {step}" if step else "")
        self.heat.setTitle(title + " · outlined: argmax path")

    def _set_cells(self, n: int, k: int) -> None:
        """Keep one text item per cell and one outline per layer (reused between updates)."""
        while len(self._texts) > n * k:
            self.heat.removeItem(self._texts.pop())
        while len(self._boxes) > n:
            self.heat.removeItem(self._boxes.pop())
        while len(self._texts) < n * k:
            t = pg.TextItem(anchor=(0.5, 0.5))
            self.heat.addItem(t)
            self._texts.append(t)
        while len(self._boxes) < n:
            b = QGraphicsRectItem()
            pen = QPen(QColor(220, 40, 40))
            pen.setWidthF(2.5)
            pen.setCosmetic(True)
            b.setPen(pen)
            self.heat.addItem(b)
            self._boxes.append(b)
        for idx, t in enumerate(self._texts):
            i, j = divmod(idx, k)
            t.setPos(j + 0.5, i + 0.5)
