"""The main window: graph editor in the centre, docks around it (space, palette, devices,
metrics, inspector, estimators, errors), live metrics in a worker. Its menus (window_menus.py),
architecture files (window_files.py) and project (window_project.py) are mixed in."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QWidget

from ..arch import ArchGraph
from ..live_metrics import LiveSettings, covering_names, default_devices, device_names
from ..spaces import default_space
from .document import Document
from .estimators_panel import EstimatorsPanel
from .heat import install_heat
from .inspector import Inspector
from .interaction import GraphView
from .layout import auto_layout, collapsible, default_collapsed, view_graph
from .metrics_panel import MetricsPanel
from .metrics_worker import MetricsController
from .palette import PaletteTree
from .panels import DeviceList, ErrorsList
from .scene import GraphScene
from .settings_dialog import SettingsDialog
from .space_panel import SpacePanel
from .window_files import FileActions
from .window_menus import MenuActions
from .window_project import ProjectActions

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICON = RESOURCES / "icons" / "nas-explorer.svg"
STATE_VERSION = 1
DEFAULT_SEED = 0  # the default project: this sample of the registry's first space


def app_settings() -> QSettings:
    return QSettings("nas-explorer", "NAS Explorer")


def default_graph() -> ArchGraph:
    space = default_space()
    return space.encode(space.sample(DEFAULT_SEED))


class MainWindow(MenuActions, FileActions, ProjectActions, QMainWindow):
    def __init__(
        self,
        graph: ArchGraph | None = None,
        path: str | None = None,
        *,
        settings: LiveSettings | None = None,
        devices: list[str] | None = None,
        restore_state: bool = True,
        debounce_ms: int = 300,
        torch_threads: int | None = 1,
        ask_to_save: bool = True,
        project: str | None = None,
    ):
        super().__init__()
        self.setObjectName("MainWindow")
        self.ask_to_save = ask_to_save
        self.weights_task = None  # saving or loading NAME.weights.pt beside the file (window_files)
        self.weights_error: str | None = None
        self.setWindowTitle("NAS Explorer")
        if ICON.exists():
            self.setWindowIcon(QIcon(str(ICON)))
        self.qsettings = app_settings()
        self.live = settings or LiveSettings.from_dict(self._stored_dict("live_settings"))
        self.doc = Document(graph or default_graph(), self)
        self.doc.path = path
        self.scene = GraphScene(self.doc, self)
        self.view = GraphView(self.scene, self)
        self.setCentralWidget(self.view)
        self.controller = MetricsController(self, debounce_ms=debounce_ms, torch_threads=torch_threads)
        self._t_request = 0.0
        self.last_metrics_seconds: float | None = None
        self.project = None
        self._build_docks()
        self._build_actions()
        self._wire()
        self._install_project_docks()
        self.heat = install_heat(self)  # View > Heat Overlay and the Layers dock
        if project:
            self.open_project(project)

        names, note = device_names()
        if devices is None:
            stored = self.qsettings.value("devices")
            devices = [d for d in (stored or []) if d in names] if isinstance(stored, list) else []
            devices = devices or default_devices(names, self.doc.graph.meta.get("space"))
        self.device_list.set_devices(names, devices, note)
        self._mark_coverage()
        self.metrics.set_proxies(self.live.proxies)
        self.metrics.set_devices(self.device_list.checked())

        self.resize(1280, 800)
        self._restored = restore_state and self._restore_state()
        self._prepare_view(self.doc.graph)
        self.errors.show_report(self.doc.report)
        self._update_title()
        self.status_label.setText(self._summary())
        self.request_metrics(immediate=True)

    # -- construction ------------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        self.addDockWidget(area, d)
        return d

    def _build_docks(self) -> None:
        L, R, B = (
            Qt.DockWidgetArea.LeftDockWidgetArea,
            Qt.DockWidgetArea.RightDockWidgetArea,
            Qt.DockWidgetArea.BottomDockWidgetArea,
        )
        self.space_panel = SpacePanel(lambda: self.doc.graph)
        self.palette = PaletteTree()
        self.device_list = DeviceList()
        self.metrics = MetricsPanel()
        self.inspector = Inspector(self.scene)
        self.errors = ErrorsList()
        self.estimators = EstimatorsPanel()
        self.space_dock = self._dock("Space", "SpaceDock", self.space_panel, L)
        self.palette_dock = self._dock("Palette", "PaletteDock", self.palette, L)
        self.tabifyDockWidget(self.space_dock, self.palette_dock)
        self.space_dock.raise_()
        self.devices_dock = self._dock("Devices", "DevicesDock", self.device_list, L)
        self.metrics_dock = self._dock("Metrics", "MetricsDock", self.metrics, R)
        self.inspector_dock = self._dock("Inspector", "InspectorDock", self.inspector, R)
        self.estimators_dock = self._dock("Estimators", "EstimatorsDock", self.estimators, R)
        self.tabifyDockWidget(self.inspector_dock, self.estimators_dock)
        self.inspector_dock.raise_()
        self.errors_dock = self._dock("Errors", "ErrorsDock", self.errors, B)
        self.status_label = QLabel("")
        self.statusBar().addPermanentWidget(self.status_label)

    def _wire(self) -> None:
        """Bound-method slots only: Qt disconnects them when the window goes, lambdas it cannot."""
        self.doc.changed.connect(self._on_changed)
        self.doc.undo.cleanChanged.connect(self._update_title)
        self.doc.pathChanged.connect(self._update_title)
        self.scene.status.connect(self.show_status)
        self.inspector.status.connect(self.show_status)
        self.space_panel.status.connect(self.show_status)
        self.space_panel.graphRequested.connect(self.apply_space_graph)
        self.palette.addRequested.connect(self.add_from_palette)
        self.errors.nodesActivated.connect(self._select_issue_nodes)
        self.device_list.selectionChangedDevices.connect(self._devices_changed)
        self.estimators.rowChanged.connect(self.metrics.set_estimator)
        self.estimators.status.connect(self.show_status)
        self.estimators.set_graph(self.doc.graph)
        c = self.controller
        c.started.connect(self._metrics_started)
        c.entry.connect(self._metrics_entry)
        c.finished.connect(self._metrics_done)
        c.invalid.connect(self._metrics_invalid)
        c.failed.connect(self._metrics_failed)

    def show_status(self, message: str) -> None:
        self.statusBar().showMessage(message, 5000)

    def _metrics_started(self, gen: int, keys: list) -> None:
        self.metrics.start(keys, gen, self.controller.digest)

    def _metrics_entry(self, _gen: int, key: str, entry: dict) -> None:
        self.metrics.put(key, entry)

    def _metrics_invalid(self, _gen: int, report) -> None:
        self.metrics.mark_invalid(report)

    def _metrics_failed(self, _gen: int, message: str) -> None:
        self.metrics.mark_failed(message)

    # -- document flow -----------------------------------------------------------------------
    def _on_changed(self, structural: bool) -> None:
        report = self.doc.report
        self.errors.show_report(report)
        self.estimators.set_graph(self.doc.graph)
        n = len(report.issues)
        self.errors_dock.setWindowTitle(f"Errors ({n})" if n else "Errors")
        if structural:
            self._mark_coverage()
            cfg = self.space_panel.follow(self.doc.graph)
            if cfg is not None and self.doc.graph.meta.get("config") != cfg:
                self.doc.graph.meta["config"] = cfg  # derived: keep meta in step with edited blocks
            self.request_metrics()
        self.status_label.setText(self._summary())
        self._update_title()

    def _mark_coverage(self) -> None:
        """Grey the devices that do not predict the graph's space (when the space changed)."""
        space = self.doc.graph.meta.get("space")
        if space != self.device_list.space or not self.device_list.marked:
            self.device_list.mark_coverage(space, covering_names(space))

    def _summary(self) -> str:
        g, r = self.doc.graph, self.doc.report
        state = "valid" if r.ok else f"{len(r.issues)} problem(s)"
        return f"{len(g)} nodes, {g.g.number_of_edges()} edges \u2013 {state}"

    def request_metrics(self, immediate: bool = False) -> None:
        self._t_request = time.perf_counter()
        self.controller.request(
            self.doc.graph, self.live, self.device_list.checked(), immediate=immediate, report=self.doc.report
        )

    def _metrics_done(self, _gen: int, res: dict) -> None:
        self.metrics.set_result(res, self.controller.digest)
        self.last_metrics_seconds = time.perf_counter() - self._t_request
        self.metrics.finish(self.last_metrics_seconds)
        self.statusBar().showMessage(f"metrics updated in {self.last_metrics_seconds:.2f} s", 4000)

    def _devices_changed(self, devices: list[str]) -> None:
        self.metrics.set_devices(devices)
        self.qsettings.setValue("devices", devices)
        self.request_metrics()

    def _prepare_view(self, graph: ArchGraph, relayout: bool | None = None) -> None:
        """Collapse repeated blocks of big graphs, lay out graphs without positions, fit the view."""
        self.scene.collapsed = default_collapsed(graph.g, graph.meta.get("space"))
        missing = any("pos" not in d for _, d in graph.g.nodes(data=True))
        self._auto_laid_out = bool(relayout or (relayout is None and (missing or graph.meta.get("space"))))
        if self._auto_laid_out:
            self._layout_positions(graph, self.scene.collapsed)
        self.scene.rebuild()
        QTimer.singleShot(0, self.view.zoom_to_fit)

    def _layout_positions(self, graph: ArchGraph, collapsed: set[str]) -> None:
        pos = auto_layout(graph.g, collapsed, aspect=self._view_aspect())
        _, rep = view_graph(graph.g, collapsed)
        for n in graph.g.nodes:
            graph.g.nodes[n]["pos"] = tuple(float(c) for c in pos[rep[n]])

    def _view_aspect(self) -> float:
        vp = self.view.viewport().size()
        return max(0.8, min(3.0, vp.width() / max(1, vp.height()))) if vp.height() > 50 else 1.6

    def apply_space_graph(self, graph: ArchGraph, text: str) -> None:
        """A sampled, mutated or form-edited graph enters as one undoable edit."""
        keep = self.doc.graph.meta.get("space") == graph.meta.get("space")
        collapsed = (
            (self.scene.collapsed & set(collapsible(graph.g)))
            if keep
            else default_collapsed(graph.g, graph.meta.get("space"))
        )
        self._layout_positions(graph, collapsed)
        self.scene.collapsed = collapsed
        self.doc.set_graph_undoable(text, graph)
        if not keep:
            QTimer.singleShot(0, self._first_fit)

    def add_from_palette(self, op: str) -> str | None:
        center = self.view.mapToScene(self.view.viewport().rect().center())
        return self.scene.add_node(op, center)

    def relayout(self) -> None:
        pos_aspect = self._view_aspect()
        g = self.doc.graph
        pos = auto_layout(g.g, self.scene.collapsed, aspect=pos_aspect)
        _, rep = view_graph(g.g, self.scene.collapsed)

        def fn(gr: ArchGraph) -> None:
            for n in gr.g.nodes:
                gr.g.nodes[n]["pos"] = tuple(float(c) for c in pos[rep[n]])

        self.doc.edit("Automatic layout", fn)
        QTimer.singleShot(0, self.view.zoom_to_fit)

    def _collapse(self, on: bool) -> None:
        self.scene.collapsed = set(self.scene.model_groups()) if on else set()
        self._layout_positions(self.doc.graph, self.scene.collapsed)
        self.scene.rebuild()
        QTimer.singleShot(0, self.view.zoom_to_fit)

    def _select_issue_nodes(self, nodes: list[str]) -> None:
        self.scene.select_nodes(nodes)
        items = [
            self.scene.nodes[k]
            for k in {i.key for i in self.scene.selectedItems() if hasattr(i, "key")}
            if k in self.scene.nodes
        ]
        if items:
            self.view.centerOn(items[0])

    # -- files -------------------------------------------------------------------------------

    # -- settings ----------------------------------------------------------------------------
    def _stored_dict(self, key: str) -> dict:
        import json

        raw = self.qsettings.value(key)
        try:
            return json.loads(raw) if raw else {}
        except (TypeError, ValueError):
            return {}

    def set_live_settings(self, s: LiveSettings) -> None:
        import json

        self.live = s
        self.qsettings.setValue("live_settings", json.dumps(s.to_dict()))
        self.metrics.set_proxies(s.proxies)
        self.request_metrics(immediate=True)

    def open_settings(self) -> None:
        dlg = SettingsDialog(self.live, self)
        if dlg.exec():
            self.set_live_settings(dlg.settings())

    def about(self) -> None:
        QMessageBox.about(
            self,
            "About NAS Explorer",
            "NAS Explorer: draw or sample architectures and see Zen-Score, GradSign, params, MACs and "
            "predicted latency per device while you edit.",
        )

    def _restore_state(self) -> bool:
        geo = self.qsettings.value("geometry")
        state = self.qsettings.value("window_state")
        ok = False
        if isinstance(geo, QByteArray):
            ok = self.restoreGeometry(geo)
        if isinstance(state, QByteArray):
            ok = self.restoreState(state, STATE_VERSION) and ok
        return ok

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not getattr(self, "_shown", False):
            self._shown = True
            if not self._restored:  # first start: proportions for the window's actual size
                w = self.width()
                side = max(230, min(300, w // 5))
                self.resizeDocks(
                    [self.space_dock, self.metrics_dock],
                    [side, max(360, int(w / 3.4))],
                    Qt.Orientation.Horizontal,
                )
                self.resizeDocks([self.errors_dock], [70], Qt.Orientation.Vertical)
                self.resizeDocks(
                    [self.space_dock, self.devices_dock],
                    [int(self.height() * 0.55), 150],
                    Qt.Orientation.Vertical,
                )
            QTimer.singleShot(0, self._first_fit)

    def _first_fit(self) -> None:
        """Now that the canvas has its real size, wrap an auto-laid-out graph to its shape."""
        if getattr(self, "_auto_laid_out", False) and self.doc.undo.count() == 0:
            self._layout_positions(self.doc.graph, self.scene.collapsed)
            self.scene.rebuild()
        self.view.zoom_to_fit()

    # -- project (candidates database) ------------------------------------------------------------

    def closeEvent(self, event) -> None:
        if not self.maybe_save():
            event.ignore()
            return
        writes = self.pdocks.writes
        if writes.pending() and not writes.flush(3.0):
            answer = QMessageBox.question(
                self,
                "Close",
                f"{len(writes.pending())} change(s) to the project are not saved yet "
                f"({writes.last_message or 'the project is busy'}). Close anyway and lose them?",
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
        self.pdocks.shutdown()
        self.qsettings.setValue("geometry", self.saveGeometry())
        self.qsettings.setValue("window_state", self.saveState(STATE_VERSION))
        self.qsettings.sync()
        self.controller.shutdown()
        self.heat.shutdown()
        self.estimators.shutdown()
        super().closeEvent(event)
