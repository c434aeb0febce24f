"""Comparison plots: a scatter of any metric against any other with the Pareto front and points
coloured by Pareto rank, log axes, brush selection linked with the table; a parallel-coordinates
view of the selected candidates; and one candidate's latency across devices as bars.

Drawing stays fast for 10,000 points: the scatter is one ScatterPlotItem whose brushes are set as
an array (one shared QBrush per rank colour) only when the axes or data change; a selection change
redraws only a small highlight item on top and the two side plots.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPen
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsItem,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..pareto import MAX, MIN, pareto_ranks, staircase
from .candidates_view import CandidatesModel, lower_is_better, metric_label

MAX_PARALLEL_LINES = 200
N_RANK_COLOURS = 8


def rank_colours(n: int = N_RANK_COLOURS) -> list[QColor]:
    """Rank 0 dark red through to pale blue for deep ranks (viridis-like, readable on white)."""
    cmap = pg.colormap.get("plasma")
    cols = cmap.getLookupTable(0.0, 0.85, n, alpha=False)
    return [QColor(int(r), int(g), int(b), 200) for r, g, b in cols]


def default_axes(keys: list[str], device: str | None = None) -> tuple[str | None, str | None]:
    """Latency on the selected device (else MACs) vs predicted accuracy (else Zen-Score)."""
    x = None
    if device and f"latency:{device}" in keys:
        x = f"latency:{device}"
    x = x or next((k for k in keys if k.startswith("latency:")), None)
    x = x or ("complexity:macs" if "complexity:macs" in keys else (keys[0] if keys else None))
    y = next((k for k in keys if k.startswith("accuracy:")), None)
    y = y or ("proxy:zen" if "proxy:zen" in keys else None)
    y = y or next((k for k in keys if k != x), x)
    return x, y


def axis_label(key: str) -> str:
    """A short label for a crowded axis: a device's last name part (help-nb201-pixel3 -> pixel3)."""
    kind, _, name = key.partition(":")
    if kind == "latency":
        return name.split("-")[-1] if len(name) > 12 else name
    return metric_label(key)


class BrushViewBox(pg.ViewBox):
    """Left-drag draws a selection rectangle (emits it in data coordinates, with the modifiers);
    right-drag pans, the wheel zooms."""

    rectSelected = Signal(QRectF, object)

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.setMouseMode(pg.ViewBox.PanMode)
        self._band = QGraphicsRectItem()
        self._band.setPen(QPen(QColor(30, 110, 220), 0))
        self._band.setBrush(QBrush(QColor(30, 110, 220, 40)))
        self._band.setZValue(1e9)
        self._band.hide()
        self.addItem(self._band, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802 - pyqtgraph API
        if ev.button() != Qt.MouseButton.LeftButton:
            if ev.button() == Qt.MouseButton.RightButton:
                ev.accept()
                d = self.mapToView(ev.lastPos()) - self.mapToView(ev.pos())
                self.translateBy(x=d.x(), y=d.y())
                return
            return super().mouseDragEvent(ev, axis)
        ev.accept()
        a, b = self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos())
        rect = QRectF(a, b).normalized()
        if ev.isFinish():
            self._band.hide()
            self.rectSelected.emit(rect, ev.modifiers())
        else:
            self._band.setRect(rect)
            self._band.show()


class ComparePlot(QWidget):
    """Scatter + Pareto front over the candidates model; `selectionChangedIds` for linked selection."""

    selectionChangedIds = Signal(list)

    def __init__(self, model: CandidatesModel, parent=None):
        super().__init__(parent)
        self.model = model
        self.selected: list[int] = []
        self.device: str | None = None
        self._x = np.zeros(0)
        self._y = np.zeros(0)
        self._ok = np.zeros(0, dtype=bool)
        self.ranks = np.zeros(0, dtype=np.int64)
        self._colours = rank_colours()
        self._brushes = [QBrush(c) for c in self._colours]
        self._nan_brush = QBrush(QColor(160, 160, 160, 120))

        self.x_combo, self.y_combo = QComboBox(), QComboBox()
        for c in (self.x_combo, self.y_combo):
            c.setMinimumContentsLength(14)
            c.currentIndexChanged.connect(self.redraw)
        self.x_log, self.y_log = QCheckBox("log x"), QCheckBox("log y")
        self.x_log.toggled.connect(self._set_log)
        self.y_log.toggled.connect(self._set_log)
        self.info = QLabel("")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("x"))
        bar.addWidget(self.x_combo, 1)
        bar.addWidget(QLabel("y"))
        bar.addWidget(self.y_combo, 1)
        bar.addWidget(self.x_log)
        bar.addWidget(self.y_log)

        self.vb = BrushViewBox()
        self.plot = pg.PlotWidget(viewBox=self.vb, background="w")
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.getPlotItem().setMenuEnabled(False)
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).setTextPen("k")
            self.plot.getAxis(ax).setPen("k")
        self.scatter = pg.ScatterPlotItem(size=7, pen=None, pxMode=True)
        # 10,000 points are rendered once into a pixmap; a selection change only redraws the
        # small highlight item on top of it
        self.scatter.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.front = pg.PlotDataItem(pen=pg.mkPen(QColor(180, 20, 20), width=2))
        self.highlight = pg.ScatterPlotItem(
            size=12, pen=pg.mkPen(QColor(0, 0, 0), width=2), brush=QBrush(Qt.BrushStyle.NoBrush), pxMode=True
        )
        self.highlight.setZValue(10)
        self.plot.addItem(self.scatter)
        self.plot.addItem(self.front)
        self.plot.addItem(self.highlight)
        self.scatter.sigClicked.connect(self._clicked)
        self.vb.rectSelected.connect(self._rect_selected)
        self.legend = QLabel("")
        self.legend.setTextFormat(Qt.TextFormat.RichText)

        # parallel coordinates
        self.parallel = pg.PlotWidget(background="w")
        self.parallel.getPlotItem().setMenuEnabled(False)
        self.parallel.setMouseEnabled(x=False, y=False)
        self.parallel.getAxis("left").setLabel("normalised (best up)")
        for ax in ("left", "bottom"):
            self.parallel.getAxis(ax).setTextPen("k")
            self.parallel.getAxis(ax).setPen("k")
        self.parallel_lines = pg.PlotDataItem(
            pen=pg.mkPen(QColor(30, 110, 220, 150), width=1.5), connect="finite"
        )
        self.parallel.addItem(self.parallel_lines)
        # latency across devices
        self.bars = pg.PlotWidget(background="w")
        self.bars.getPlotItem().setMenuEnabled(False)
        self.bars.setMouseEnabled(x=False, y=False)
        self.bars.getAxis("left").setLabel("latency (ms)")
        for ax in ("left", "bottom"):
            self.bars.getAxis(ax).setTextPen("k")
            self.bars.getAxis(ax).setPen("k")
        self.bar_item = pg.BarGraphItem(x=[], height=[], width=0.6, brush=QColor(60, 140, 90))
        self.bars.addItem(self.bar_item)
        self.bars_title = QLabel("select a candidate")

        bars_box = QWidget()
        bl = QVBoxLayout(bars_box)
        bl.setContentsMargins(0, 0, 0, 0)
        bl.addWidget(self.bars_title)
        bl.addWidget(self.bars, 1)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.parallel, "Parallel coordinates")
        self.tabs.addTab(bars_box, "Latency by device")
        self.tabs.currentChanged.connect(lambda _i: self._side_plots())

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.addLayout(bar)
        tl.addWidget(self.plot, 1)
        leg = QHBoxLayout()
        leg.addWidget(self.legend, 1)
        leg.addWidget(self.info)
        tl.addLayout(leg)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.tabs)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        model.modelReset.connect(self.reload)
        self.reload()

    # -- axes -------------------------------------------------------------------------------
    def set_device(self, device: str | None) -> None:
        self.device = device

    def set_axes(self, x: str, y: str) -> None:
        for combo, key in ((self.x_combo, x), (self.y_combo, y)):
            i = combo.findData(key)
            if i >= 0:
                combo.setCurrentIndex(i)

    @property
    def x_key(self) -> str | None:
        return self.x_combo.currentData()

    @property
    def y_key(self) -> str | None:
        return self.y_combo.currentData()

    def reload(self) -> None:
        keys = self.model.metric_keys
        old = (self.x_key, self.y_key)
        for combo in (self.x_combo, self.y_combo):
            combo.blockSignals(True)
            combo.clear()
            for k in keys:
                combo.addItem(metric_label(k), k)
        dx, dy = default_axes(keys, self.device)
        x = old[0] if old[0] in keys else dx
        y = old[1] if old[1] in keys else dy
        for combo, k in ((self.x_combo, x), (self.y_combo, y)):
            if k is not None:
                combo.setCurrentIndex(max(0, combo.findData(k)))
            combo.blockSignals(False)
        self.redraw()

    def _set_log(self) -> None:
        # the data are log10-transformed here (so brushing and the front work in one space); only
        # the axes are told, to label ticks as powers of ten
        self.plot.getAxis("bottom").setLogMode(self.x_log.isChecked())
        self.plot.getAxis("left").setLogMode(self.y_log.isChecked())
        self.redraw()

    def directions(self) -> tuple[str, str]:
        return (
            MIN if self.x_key and lower_is_better(self.x_key) else MAX,
            MIN if self.y_key and lower_is_better(self.y_key) else MAX,
        )

    # -- drawing ----------------------------------------------------------------------------
    def _plot_coords(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Data as the view box sees it (log10 under log mode; non-positive values hidden)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.x_log.isChecked():
                x = np.where(x > 0, np.log10(np.where(x > 0, x, 1)), np.nan)
            if self.y_log.isChecked():
                y = np.where(y > 0, np.log10(np.where(y > 0, y, 1)), np.nan)
        return x, y

    def redraw(self) -> None:
        xk, yk = self.x_key, self.y_key
        n = len(self.model.ids)
        if xk is None or yk is None or n == 0:
            self.scatter.clear()
            self.front.setData([], [])
            self.highlight.clear()
            self.ranks = np.full(n, -1)
            self._x = self._y = np.zeros(n)
            self._ok = np.zeros(n, dtype=bool)
            self.info.setText("no metrics yet" if n else "no candidates")
            self.legend.setText("")
            self._side_plots()
            return
        x, y = self.model.column(xk), self.model.column(yk)
        self.ranks = pareto_ranks(np.column_stack([x, y]), self.directions())
        self._x, self._y = self._plot_coords(x, y)
        self._ok = np.isfinite(self._x) & np.isfinite(self._y)
        idx = np.flatnonzero(self._ok)
        r = np.clip(self.ranks[idx], 0, N_RANK_COLOURS - 1)
        brushes = np.array(self._brushes, dtype=object)[r]
        # draw deep ranks first so the front sits on top
        order = np.argsort(-self.ranks[idx], kind="stable")
        idx, brushes = idx[order], brushes[order]
        self._drawn = idx
        self.scatter.setData(x=self._x[idx], y=self._y[idx], brush=list(brushes), data=idx)
        f = np.flatnonzero((self.ranks == 0) & self._ok)
        sx, sy = staircase(x[f], y[f], *self.directions())
        self.front.setData(*self._plot_coords(sx, sy))
        self.plot.setLabel("bottom", metric_label(xk) + (" (log)" if self.x_log.isChecked() else ""))
        self.plot.setLabel("left", metric_label(yk) + (" (log)" if self.y_log.isChecked() else ""))
        self.info.setText(f"{len(idx)} of {n} plotted, {len(f)} on the front")
        sw = "".join(
            f'<span style="color:{c.name()}">&#9679;</span> {k}{"+" if k == N_RANK_COLOURS - 1 else ""} '
            for k, c in enumerate(self._colours)
        )
        self.legend.setText(f"Pareto rank: {sw}")
        self.vb.autoRange(padding=0.05)
        self._draw_selection()

    def _draw_selection(self) -> None:
        rows = [self.model.row_of[c] for c in self.selected if c in self.model.row_of]
        rows = np.array([r for r in rows if r < len(self._ok) and self._ok[r]], dtype=np.int64)
        if len(rows):
            self.highlight.setData(x=self._x[rows], y=self._y[rows])
        else:
            self.highlight.clear()
        self._side_plots()

    def _side_plots(self) -> None:
        """Only the visible side plot is drawn; the other follows when its tab is shown."""
        if self.tabs.currentIndex() == 0:
            self._draw_parallel()
        else:
            self._draw_bars()

    def _draw_parallel(self) -> None:
        """One line per selected candidate across every metric some candidate has, each axis
        scaled to the project's range and flipped so that up is better."""
        vals = self.model.values
        known = [j for j in range(vals.shape[1]) if np.isfinite(vals[:, j]).any()]
        keys = [self.model.metric_keys[j] for j in known]
        rows = [self.model.row_of[c] for c in self.selected if c in self.model.row_of][:MAX_PARALLEL_LINES]
        ax = self.parallel.getAxis("bottom")
        ax.setTicks([[(j, axis_label(k)) for j, k in enumerate(keys)]])
        if not rows or not keys:
            self.parallel_lines.setData([], [])
            return
        sub = vals[:, known]
        lo, hi = np.nanmin(sub, axis=0), np.nanmax(sub, axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        norm = (sub[rows] - lo) / span
        flip = np.array([lower_is_better(k) for k in keys])
        norm[:, flip] = 1.0 - norm[:, flip]
        m = len(keys)
        xs = np.tile(np.append(np.arange(m, dtype=float), np.nan), len(rows))
        ys = np.concatenate([np.append(row, np.nan) for row in norm])
        self.parallel_lines.setData(xs, ys)
        self.parallel.setXRange(-0.3, m - 0.7, padding=0)
        self.parallel.setYRange(-0.05, 1.05, padding=0)

    def _draw_bars(self) -> None:
        lat = [k for k in self.model.metric_keys if k.startswith("latency:")]
        cid = self.selected[0] if self.selected else None
        row = self.model.row_of.get(cid) if cid is not None else None
        if row is None or not lat:
            self.bar_item.setOpts(x=[], height=[])
            self.bars_title.setText("select a candidate" if lat else "no latency measured yet")
            return
        h = np.array([self.model.values[row, self.model.metric_keys.index(k)] for k in lat])
        ok = np.isfinite(h)
        xs = np.arange(len(lat))
        self.bar_item.setOpts(x=xs[ok], height=h[ok], width=0.6)
        self.bars.getAxis("bottom").setTicks([[(j, axis_label(k)) for j, k in enumerate(lat)]])
        self.bars.setXRange(-0.6, len(lat) - 0.4, padding=0)
        self.bars.setYRange(0, float(np.nanmax(h)) * 1.1 if ok.any() else 1.0, padding=0)
        missing = [k.split(":", 1)[1] for k, o in zip(lat, ok) if not o]
        self.bars_title.setText(
            f"#{cid} {self.model.names[row]}" + (f"  (n/a: {', '.join(missing)})" if missing else "")
        )

    # -- selection --------------------------------------------------------------------------
    def set_selection(self, ids) -> None:
        """Highlight these candidates (from the table); does not emit."""
        self.selected = [int(c) for c in ids]
        self._draw_selection()

    def _emit(self, ids: list[int]) -> None:
        self.selected = ids
        self._draw_selection()
        self.selectionChangedIds.emit(list(ids))

    def ids_in_rect(self, rect: QRectF) -> list[int]:
        """Candidates whose plotted point lies in `rect` (view coordinates)."""
        inside = (
            self._ok
            & (self._x >= rect.left())
            & (self._x <= rect.right())
            & (self._y >= rect.top())
            & (self._y <= rect.bottom())
        )
        return [int(c) for c in self.model.ids[inside]]

    def _rect_selected(self, rect: QRectF, modifiers) -> None:
        ids = self.ids_in_rect(rect)
        if modifiers & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
            ids = list(dict.fromkeys(self.selected + ids))
        self._emit(ids)

    def _clicked(self, _item, points, ev=None) -> None:
        if not len(points):
            return
        row = int(points[0].data())
        cid = int(self.model.ids[row])
        mods = ev.modifiers() if ev is not None else Qt.KeyboardModifier.NoModifier
        if mods & Qt.KeyboardModifier.ControlModifier:
            ids = [c for c in self.selected if c != cid] if cid in self.selected else self.selected + [cid]
        else:
            ids = [cid]
        self._emit(ids)

    def point_of(self, cid: int) -> QPointF | None:
        r = self.model.row_of.get(cid)
        if r is None or not self._ok[r]:
            return None
        return QPointF(float(self._x[r]), float(self._y[r]))

    def finite(self, v) -> bool:
        return v is not None and math.isfinite(v)
