"""Where the cost goes, on the graph: View > Heat Overlay colours each node by its share of the
latency (this machine's layer table, or the device selected in the Devices panel), the MACs or the
params, with a legend in the view's corner; the per-layer table (layer_table.py) shows the same
report (explorer.layer_costs, `arch info --per-layer` is its CLI twin).

The report is computed on a worker, debounced after each structural edit, stale generations
dropped: counts first (at once), then latency; layers this machine's table lacks are measured in
the background (cancellable), one caller at a time on the shared table (the live metrics measure
into it too). A collapsed group shows its members' total. The scale is inferno (perceptually
ordered), pale for the cheapest node shown and dark for the dearest.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QColor, QFont, QFontMetrics, QLinearGradient, QPainter
from PySide6.QtWidgets import QDockWidget, QMenu, QWidget

from ..commands._output import human
from ..errors import ExplorerError
from ..layer_costs import LayerReport, layer_report
from ..live_metrics import LOCAL_CPU
from .workers import Task, first_line, new_pool, run_task

MODES = {
    "off": "&Off",
    "latency": "&Latency on local-cpu",
    "latency-selected": "Latency on the &Selected Device",
    "macs": "&MACs",
    "params": "&Params",
}
METRIC = {"latency": "latency_ms", "latency-selected": "latency_ms", "macs": "macs", "params": "params"}
NO_FIGURE = QColor("#d9d9d9")
_CMAP = pg.colormap.get("inferno")
DARKEST = 0.12  # inferno's black end would hide the node's text


def heat_color(t: float) -> QColor:
    """0 -> pale yellow, 1 -> dark purple (inferno, reversed, without its black end)."""
    t = min(1.0, max(0.0, float(t)))
    return _CMAP.map(1.0 - (1.0 - DARKEST) * t, mode="qcolor")


def format_value(metric: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    if metric == "latency_ms":
        return f"{v:.3g} ms" if v >= 0.001 or v == 0 else f"{v:.2e} ms"
    return human(v) + (" MACs" if metric == "macs" else "")


@dataclass
class HeatResult:
    report: LayerReport
    note: str = ""  # why some or all latency figures are missing
    stopped: bool = False


def compute_report(graph, device: str | None, progress, should_stop, measure_layer=None) -> HeatResult:
    """Counts at once (posted as progress), then latency on `device` (None: counts only). This
    machine's table measures the layers it lacks first, holding the table's lock (`measure_layer`:
    a stand-in for the layer measurement, for tests)."""
    counts = layer_report(graph)
    progress({"report": counts})
    if device is None:
        return HeatResult(counts)
    try:
        if device == LOCAL_CPU:
            return _local(graph, progress, should_stop, measure_layer)
        report = layer_report(graph, device, on_missing="report")
    except ExplorerError as e:
        return HeatResult(counts, f"latency on {device}: {first_line(str(e))}")
    return HeatResult(report, _latency_note(report))


def _local(graph, progress, should_stop, measure_layer=None) -> HeatResult:
    from ..latency.predict import measure_missing
    from ..live_metrics import MEASURE_LOCK, local_lut_device

    lock: threading.Lock = MEASURE_LOCK
    while not lock.acquire(timeout=0.2):  # the live metrics may be measuring into the table
        if should_stop():
            raise ExplorerError("stopped")
    try:
        dev = local_lut_device()
        kw = {"measure": measure_layer} if measure_layer is not None else {}
        res = measure_missing(
            dev,
            graph,
            **kw,
            should_stop=should_stop,
            progress=lambda _key, done, total: progress({"measuring": (done, total)}),
        )
        report = layer_report(graph, dev, on_missing="report")
    finally:
        lock.release()
    note = _latency_note(report)
    if res.stopped and report.missing:
        note = f"measuring stopped: {len(report.missing)} layer(s) without a figure"
    return HeatResult(report, note, res.stopped)


def _latency_note(report: LayerReport) -> str:
    lat = report.latency or {}
    if report.nodes and all(n.latency_ms is None for n in report.nodes):
        why = lat.get("reason") or "it predicts whole networks only"
        ms = lat.get("latency_ms")
        return f"no per-layer figures on {report.device}: {why}" + (f" ({ms:.3g} ms in all)" if ms else "")
    if report.missing:
        return f"{len(report.missing)} layer(s) not in the table of {report.device} (grey)"
    return ""


class HeatLegend(QWidget):
    """The colour scale in the view's top-right corner: what is shown, min and max with the unit,
    and a note (measuring, figures missing). Lives on the view, not the scene, so it stays put."""

    PAD, BAR_W, BAR_H = 8, 180, 12

    def __init__(self, view):
        super().__init__(view)
        self.view = view
        self.title, self.lo, self.hi, self.note = "", "", "", ""
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        view.installEventFilter(self)
        self.hide()

    def set_scale(self, title: str, lo: str, hi: str, note: str = "") -> None:
        self.title, self.lo, self.hi, self.note = title, lo, hi, note
        fm = QFontMetrics(self.font())
        bold = QFont(self.font())
        bold.setBold(True)
        w = max(self.BAR_W, QFontMetrics(bold).horizontalAdvance(title), fm.horizontalAdvance(note))
        w += 2 * self.PAD
        lines = 2 + bool(note)  # title, min/max, note; the bar between
        self.resize(w, lines * fm.height() + self.BAR_H + 4 + 2 * self.PAD)
        self._place()
        self.update()

    def _place(self) -> None:
        vp = self.view.viewport().geometry()
        self.move(vp.right() - self.width() - 10, vp.top() + 10)

    def eventFilter(self, obj, event) -> bool:
        if obj is self.view and event.type() == QEvent.Type.Resize:
            self._place()
        return False

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QColor("#b0b0b0"))
        p.setBrush(QColor(255, 255, 255, 235))
        p.drawRoundedRect(QRectF(0.5, 0.5, self.width() - 1, self.height() - 1), 6, 6)
        fm = QFontMetrics(self.font())
        x, y = self.PAD, self.PAD
        f = QFont(self.font())
        f.setBold(True)
        p.setFont(f)
        p.setPen(QColor("#1a1a1a"))
        p.drawText(QPointF(x, y + fm.ascent()), self.title)
        p.setFont(self.font())
        y += fm.height() + 2
        bar = QRectF(x, y, self.width() - 2 * self.PAD, self.BAR_H)
        grad = QLinearGradient(bar.topLeft(), bar.topRight())
        for k in range(11):
            grad.setColorAt(k / 10, heat_color(k / 10))
        p.setPen(QColor("#808080"))
        p.setBrush(grad)
        p.drawRect(bar)
        y += self.BAR_H + 2
        p.setPen(QColor("#333333"))
        p.drawText(QPointF(x, y + fm.ascent()), self.lo)
        p.drawText(QPointF(bar.right() - fm.horizontalAdvance(self.hi), y + fm.ascent()), self.hi)
        if self.note:
            y += fm.height()
            p.setPen(QColor("#7a5a00"))
            p.drawText(QPointF(x, y + fm.ascent()), self.note)
        p.end()


class HeatController(QObject):
    """The one per-layer report of the edited graph, for the overlay and the table."""

    reportChanged = Signal()  # self.report / self.note changed
    measuring = Signal(int, int)  # done, total (0, 0: not measuring)

    def __init__(self, win, debounce_ms: int = 250):
        super().__init__(win)
        self.win, self.doc, self.scene = win, win.doc, win.scene
        self.mode = "off"
        self.table_visible = False
        self.report: LayerReport | None = None
        self.report_device: str | None = None  # the latency device of `report`
        self.note = ""
        self.stopped = False
        self.gen = 0
        self.task: Task | None = None
        self._dirty = True
        self._scale: tuple[float, float] = (0.0, 0.0)
        self.actions: dict[str, QAction] = {}  # View > Heat Overlay, by mode (install_heat)
        self.pool = new_pool(self, 1)
        self.legend = HeatLegend(win.view)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(debounce_ms)
        self.timer.timeout.connect(self._fire)
        self._after_live = False  # measuring waits for the live metrics (see _live_busy)
        self.measure_layer = None  # a stand-in for the layer measurement (tests); None: the real one
        self.doc.changed.connect(self._graph_changed)
        self.scene.rebuilt.connect(self.apply)
        win.device_list.currentItemChanged.connect(self._device_changed)
        live = getattr(win, "controller", None)
        if live is not None:
            for sig in (live.settled, live.invalid, live.failed):
                sig.connect(self._live_settled)

    # -- what to compute ---------------------------------------------------------------------
    @property
    def metric(self) -> str | None:
        return METRIC.get(self.mode)

    def latency_device(self) -> str:
        """local-cpu, or in 'latency-selected' mode the device highlighted in the Devices panel."""
        if self.mode == "latency-selected":
            it = self.win.device_list.currentItem()
            if it is not None and it.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                return it.text()
        return LOCAL_CPU

    @property
    def wanted(self) -> bool:
        return self.mode != "off" or self.table_visible

    @property
    def wants_latency(self) -> bool:
        return self.metric == "latency_ms" or self.table_visible

    @property
    def busy(self) -> bool:
        return self.timer.isActive() or (self.task is not None and self.task.running)

    def _stale(self) -> bool:
        """The shown report is not the one now wanted (graph edited, another latency device)."""
        device = self.latency_device() if self.wants_latency else None
        return self._dirty or self.report is None or (device is not None and device != self.report_device)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown heat overlay mode {mode!r}")
        self.mode = mode
        if mode in self.actions and not self.actions[mode].isChecked():
            self.actions[mode].setChecked(True)
        self.apply()
        if self.wanted and self._stale():
            self.request(immediate=True)

    def set_table_visible(self, on: bool) -> None:
        self.table_visible = on
        if on and self._stale():
            self.request(immediate=True)

    def _graph_changed(self, structural: bool) -> None:
        if structural:
            self._dirty = True
            self.request()

    def _device_changed(self, *_a) -> None:
        if self.mode == "latency-selected" and self._stale():
            self.request(immediate=True)

    def _live_busy(self) -> bool:
        """The live metrics are due or running: measuring layers now would time them against
        Zen-Score's and GradSign's threads (and store the slowed figures in the table)."""
        c = getattr(self.win, "controller", None)
        return c is not None and not c.idle()

    def _live_settled(self, *_a) -> None:
        if self._after_live and not self._live_busy():
            self._after_live = False
            self.request(immediate=True)

    def request(self, immediate: bool = False) -> None:
        if not self.wanted:
            return
        if immediate:
            self.timer.stop()
            self._fire()
        else:
            self.timer.start()

    def _fire(self) -> None:
        self.gen += 1
        if self.task is not None:
            self.task.cancel()  # a stale generation: its measuring stops between layers
        self._dirty = False
        self.stopped = False
        if not self.doc.report.ok:
            self.task = None
            self.report, self.note = None, "the graph is invalid: no figures"
            self.measuring.emit(0, 0)
            self.apply()
            self.reportChanged.emit()
            return
        graph = self.doc.graph.copy()
        device = self.latency_device() if self.wants_latency else None
        self.report_device = device
        self.note = ""
        self._after_live = device == LOCAL_CPU and self._live_busy()
        if self._after_live:  # counts now, latency once the live metrics are in
            device, self.note = None, "latency: after the live metrics\u2026"
        measure_layer = self.measure_layer
        self.task = run_task(
            lambda progress, stop: compute_report(graph, device, progress, stop, measure_layer),
            self,
            pool=self.pool,
            generation=self.gen,
        )
        self.task.progress.connect(self._progress)
        self.task.result.connect(self._result)
        self.task.error.connect(self._error)
        self.task.finished.connect(self._finished)

    def stop_measuring(self) -> None:
        """The user's stop: the layers measured so far count, the rest show no figure."""
        if self.task is not None and self.task.running:
            self.task.cancel()
            self.stopped = True

    def measure_rest(self) -> None:
        """After a stop: measure the layers still without a figure."""
        self.stopped = False
        self.request(immediate=True)

    # -- results -----------------------------------------------------------------------------
    def _progress(self, gen: int, payload: dict) -> None:
        if gen != self.gen:
            return
        if "report" in payload:
            if self.metric == "latency_ms" and self.report is not None:
                return  # the latency overlay keeps the last figures until the new ones are in
            self.report = payload["report"]
            if not self._after_live:
                self.note = "latency: computing\u2026"
            self.apply()
            self.reportChanged.emit()
        elif "measuring" in payload:
            done, total = payload["measuring"]
            self.note = f"measuring layer {done}/{total} on {LOCAL_CPU}\u2026"
            self.measuring.emit(done, total)
            self._update_legend()

    def _result(self, gen: int, res: HeatResult) -> None:
        if gen != self.gen:
            return
        if self._after_live:  # the counts of a request whose latency comes later
            if self.metric == "latency_ms" and self.report is not None:
                self._update_legend()  # keep the last latency figures meanwhile
                return
            res.note = self.note
        self.report, self.note = res.report, res.note
        self.stopped = self.stopped or res.stopped
        self.apply()
        self.reportChanged.emit()

    def _error(self, gen: int, text: str) -> None:
        if gen != self.gen:
            return
        self.note = first_line(text)
        self.apply()
        self.reportChanged.emit()

    def _finished(self, gen: int) -> None:
        if gen == self.gen:
            self.measuring.emit(0, 0)
            if self.stopped and self.note.startswith("latency: computing"):
                self.note = "measuring stopped"
                self._update_legend()
                self.reportChanged.emit()

    # -- drawing -----------------------------------------------------------------------------
    def values(self) -> dict[str, float | None]:
        """The overlay's figure per view item: a node's own, a collapsed group's members' total."""
        metric = self.metric
        if metric is None or self.report is None:
            return {}
        own = {n.node: getattr(n, metric) for n in self.report.nodes}
        groups = self.scene.groups()
        out: dict[str, float | None] = {}
        for key in self.scene.nodes:
            if key.startswith("group:"):
                vals = [own.get(m) for m in groups.get(key[6:], [])]
                known = [v for v in vals if v is not None]
                out[key] = float(sum(known)) if known else None
            else:
                out[key] = own.get(key)
        return out

    def apply(self, *_a) -> None:
        """Colour the scene's items (after every rebuild) and refresh the legend."""
        vals = self.values()
        if not vals:
            for item in self.scene.nodes.values():
                item.set_heat(None)
            self._update_legend()
            return
        known = [v for v in vals.values() if v is not None]
        lo, hi = (min(known), max(known)) if known else (0.0, 0.0)
        total = self.report.total(self.metric) if self.report is not None else 0.0
        for key, item in self.scene.nodes.items():
            v = vals.get(key)
            if v is None:
                item.set_heat(NO_FIGURE, "n/a")
                continue
            t = (v - lo) / (hi - lo) if hi > lo else 0.0
            item.set_heat(heat_color(t), f"{100 * v / total:.1f} %" if total else "")
        self._scale = (lo, hi)
        self._update_legend()

    def legend_title(self) -> str:
        if self.metric == "latency_ms":
            return f"Latency on {self.report_device or self.latency_device()} (% of the layer sum)"
        return {"macs": "MACs", "params": "Params"}.get(self.metric or "", "") + " (% of the total)"

    def _update_legend(self) -> None:
        if self.mode == "off":
            self.legend.hide()
            return
        lo, hi = self._scale
        metric = self.metric
        if self.report is None or not any(getattr(n, metric) is not None for n in self.report.nodes):
            lo = hi = None
        self.legend.set_scale(
            self.legend_title(), format_value(metric, lo), format_value(metric, hi), self.note
        )
        self.legend.show()
        self.legend.raise_()

    def shutdown(self) -> None:
        self.timer.stop()
        if self.task is not None:
            self.task.cancel()
        self.pool.waitForDone(5000)


def install_heat(win) -> HeatController:
    """The View > Heat Overlay menu and the Layers dock (next to the Errors dock) on `win`."""
    from .layer_table import LayerTable

    heat = HeatController(win)
    menu = QMenu("&Heat Overlay", win)
    menu.setToolTipsVisible(True)
    group = QActionGroup(win)
    group.setExclusive(True)
    for mode, text in MODES.items():
        a = QAction(text, win)
        a.setCheckable(True)
        a.setChecked(mode == "off")
        a.triggered.connect(lambda _c=False, m=mode: heat.set_mode(m))
        group.addAction(a)
        menu.addAction(a)
        heat.actions[mode] = a
    heat.actions["latency-selected"].setToolTip(
        "the device highlighted in the Devices panel (local-cpu when none is)"
    )
    win.view_menu.insertMenu(win.panels_menu.menuAction(), menu)
    win.heat_menu = menu
    table = LayerTable(heat, win.scene)
    dock = QDockWidget("Layers", win)
    dock.setObjectName("LayersDock")
    dock.setWidget(table)
    win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    win.tabifyDockWidget(win.errors_dock, dock)
    win.errors_dock.raise_()
    dock.visibilityChanged.connect(heat.set_table_visible)
    table.nodesActivated.connect(lambda nodes: _show_nodes(win, nodes))
    win.panels_menu.addAction(dock.toggleViewAction())
    win.layers_dock, win.layer_table = dock, table
    return heat


def _show_nodes(win, nodes: list[str]) -> None:
    win.scene.select_nodes(nodes)
    key = next((i.key for i in win.scene.selectedItems() if hasattr(i, "key")), None)
    if key in win.scene.nodes:
        win.view.centerOn(win.scene.nodes[key])
