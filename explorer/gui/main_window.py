"""The main window: graph editor in the centre, docks around it (space, palette, devices,
metrics, inspector, estimators, errors), menus and shortcuts, live metrics in a worker."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QWidget,
)

from ..arch import ArchGraph, load_arch, save_arch
from ..errors import ExplorerError
from ..live_metrics import LiveSettings, default_devices, list_devices
from ..spaces import get_space
from .document import Document
from .estimators_panel import EstimatorsPanel
from .interaction import GraphView
from .layout import auto_layout, collapsible, default_collapsed, view_graph
from .metrics_worker import MetricsController
from .panels import DeviceList, ErrorsList, Inspector, MetricsPanel, PaletteTree
from .scene import GraphScene
from .settings_dialog import SettingsDialog
from .space_panel import SpacePanel

RESOURCES = Path(__file__).resolve().parents[2] / "resources"
ICON = RESOURCES / "icons" / "nas-explorer.svg"
STATE_VERSION = 1
MAX_RECENT = 8
DEFAULT_SPACE, DEFAULT_SEED = "ofa-mbv3-w1.0", 0


def app_settings() -> QSettings:
    return QSettings("nas-explorer", "NAS Explorer")


def default_graph() -> ArchGraph:
    space = get_space(DEFAULT_SPACE)
    return space.encode(space.sample(DEFAULT_SEED))


class MainWindow(QMainWindow):
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
        if project:
            self.open_project(project)

        names, note = list_devices()
        if devices is None:
            stored = self.qsettings.value("devices")
            devices = [d for d in (stored or []) if d in names] if isinstance(stored, list) else []
            devices = devices or default_devices(names, self.doc.graph.meta.get("space", DEFAULT_SPACE))
        self.device_list.set_devices(names, devices, note)
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

    def _action(self, menu, text, slot, shortcut=None, tip="") -> QAction:
        a = QAction(text, self)
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        a.setStatusTip(tip or text.replace("&", ""))
        a.triggered.connect(slot)
        menu.addAction(a)
        return a

    def _build_actions(self) -> None:
        SK = QKeySequence.StandardKey
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.act_new = self._action(f, "&New", self.new_file, SK.New, "a new, empty architecture")
        self.act_open = self._action(f, "&Open\u2026", self.open_dialog, SK.Open)
        self.recent_menu = f.addMenu("Open &Recent")
        self.act_save = self._action(f, "&Save", self.save, SK.Save)
        self.act_save_as = self._action(f, "Save &As\u2026", self.save_as, SK.SaveAs)
        f.addSeparator()
        self.act_new_project = self._action(f, "New &Project\u2026", self.new_project_dialog)
        self.act_open_project = self._action(f, "Open P&roject\u2026", self.open_project_dialog)
        self.act_save_project_as = self._action(
            f,
            "Save Project As\u2026",
            self.save_project_as_dialog,
            tip="copy the project to a new file and open it",
        )
        self.act_recover_project = self._action(
            f,
            "Open a Recovered Copy…",
            lambda: self.open_recovered_copy(),
            tip="copy the rows of a damaged project that still read into a new project and open it",
        )
        self.act_keep = self._action(
            f,
            "&Keep as Candidate",
            self.keep_candidate,
            "Ctrl+K",
            "store the current architecture in the project",
        )
        f.addSeparator()
        self.act_quit = self._action(f, "&Quit", self.close, SK.Quit)
        e = mb.addMenu("&Edit")
        self.act_undo = self.doc.undo.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence(SK.Undo))
        self.act_redo = self.doc.undo.createRedoAction(self, "&Redo")
        self.act_redo.setShortcut(QKeySequence(SK.Redo))
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)
        e.addSeparator()
        self.act_copy = self._action(e, "&Copy", self.scene.copy_selection, SK.Copy)
        self.act_paste = self._action(e, "&Paste", self.scene.paste, SK.Paste)
        self.act_delete = self._action(e, "&Delete", self.scene.delete_selected, SK.Delete)
        self.act_select_all = self._action(e, "Select &All", self.scene.select_all, SK.SelectAll)
        v = mb.addMenu("&View")
        self.act_fit = self._action(v, "Zoom to &Fit", self.view.zoom_to_fit, "Ctrl+0")
        self._action(v, "Zoom &In", lambda: self.view.zoom(1.25), SK.ZoomIn)
        self._action(v, "Zoom &Out", lambda: self.view.zoom(0.8), SK.ZoomOut)
        v.addSeparator()
        self.act_layout = self._action(v, "Automatic &Layout", self.relayout, "Ctrl+L")
        self._action(v, "&Collapse Repeated Blocks", lambda: self._collapse(True), "Ctrl+Shift+C")
        self._action(v, "&Expand All Blocks", lambda: self._collapse(False), "Ctrl+Shift+E")
        v.addSeparator()
        panels = self.panels_menu = v.addMenu("&Panels")
        for d in (
            self.space_dock,
            self.palette_dock,
            self.devices_dock,
            self.metrics_dock,
            self.inspector_dock,
            self.estimators_dock,
            self.errors_dock,
        ):
            panels.addAction(d.toggleViewAction())
        m = mb.addMenu("&Metrics")
        self._action(m, "&Settings\u2026", self.open_settings, "Ctrl+,")
        self._action(m, "&Recompute Now", lambda: self.request_metrics(immediate=True), "F5")
        h = mb.addMenu("&Help")
        self._action(h, "&About NAS Explorer", self.about)
        tb = self.addToolBar("Main")
        tb.setObjectName("MainToolBar")
        for a in (
            self.act_new,
            self.act_open,
            self.act_save,
            self.act_undo,
            self.act_redo,
            self.act_fit,
            self.act_layout,
        ):
            tb.addAction(a)
        self._refresh_recent()

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

    def _metrics_started(self, _gen: int, keys: list) -> None:
        self.metrics.start(keys)

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
            cfg = self.space_panel.follow(self.doc.graph)
            if cfg is not None and self.doc.graph.meta.get("config") != cfg:
                self.doc.graph.meta["config"] = cfg  # derived: keep meta in step with edited blocks
            self.request_metrics()
        self.status_label.setText(self._summary())
        self._update_title()

    def _summary(self) -> str:
        g, r = self.doc.graph, self.doc.report
        state = "valid" if r.ok else f"{len(r.issues)} problem(s)"
        return f"{len(g)} nodes, {g.g.number_of_edges()} edges \u2013 {state}"

    def request_metrics(self, immediate: bool = False) -> None:
        self._t_request = time.perf_counter()
        self.controller.request(self.doc.graph, self.live, self.device_list.checked(), immediate=immediate)

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
    def maybe_save(self) -> bool:
        if self.doc.undo.isClean() or not self.ask_to_save:
            return True
        ans = QMessageBox.question(
            self,
            "NAS Explorer",
            "Save changes to the current architecture?",
            QMessageBox.StandardButton.Save
            | QMessageBox.StandardButton.Discard
            | QMessageBox.StandardButton.Cancel,
        )
        if ans == QMessageBox.StandardButton.Save:
            return self.save()
        return ans == QMessageBox.StandardButton.Discard

    def new_file(self) -> None:
        if not self.maybe_save():
            return
        g = ArchGraph("untitled")
        g.add_node("input", {"resolution": 32}, pos=(0.0, 0.0))
        g.add_node("output", pos=(380.0, 0.0))
        self.doc.replace(g)
        self._prepare_view(g, relayout=False)

    def open_dialog(self) -> None:
        if not self.maybe_save():
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "Open architecture", "", "Architectures (*.json);;All (*)"
        )
        if path:
            self.open_path(path)

    def open_path(self, path: str) -> bool:
        try:
            graph = load_arch(path)
        except ExplorerError as e:
            QMessageBox.warning(self, "Cannot open", str(e))
            self.statusBar().showMessage(str(e), 8000)
            return False
        self.doc.replace(graph, str(path))
        self._prepare_view(graph, relayout=any("pos" not in d for _, d in graph.g.nodes(data=True)))
        self._add_recent(str(path))
        self.statusBar().showMessage(f"opened {path}", 4000)
        return True

    def save(self) -> bool:
        if not self.doc.path:
            return self.save_as()
        return self._write(self.doc.path)

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save architecture", self.doc.path or "architecture.json", "Architectures (*.json)"
        )
        if not path:
            return False
        return self._write(path)

    def _write(self, path: str) -> bool:
        try:
            save_arch(self.doc.graph, path)
        except OSError as e:
            QMessageBox.warning(self, "Cannot save", f"{path}: {e}")
            return False
        self.doc.path = path
        self.doc.undo.setClean()
        self._add_recent(path)
        self._update_title()
        self.statusBar().showMessage(f"saved {path}", 4000)
        return True

    def _recent(self) -> list[str]:
        v = self.qsettings.value("recent_files", [])
        return [str(x) for x in v] if isinstance(v, list) else ([str(v)] if v else [])

    def _add_recent(self, path: str) -> None:
        path = str(Path(path).resolve())
        items = [path] + [p for p in self._recent() if p != path]
        self.qsettings.setValue("recent_files", items[:MAX_RECENT])
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        items = self._recent()
        for p in items:
            self.recent_menu.addAction(
                Path(p).name, lambda p=p: self.maybe_save() and self.open_path(p)
            ).setStatusTip(p)
        self.recent_menu.setEnabled(bool(items))

    def _update_title(self, *_args) -> None:
        name = Path(self.doc.path).name if self.doc.path else (self.doc.graph.name or "untitled")
        project = f" [{Path(self.project.path).name}]" if getattr(self, "project", None) else ""
        self.setWindowTitle(f"{name}[*]{project} \u2013 NAS Explorer")
        self.setWindowModified(not self.doc.undo.isClean())

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
    def _install_project_docks(self) -> None:
        from .project_docks import install_project_docks

        self.pdocks = install_project_docks(
            self,
            lambda: self.project,
            lambda: self.doc.graph,
            lambda g: self.apply_space_graph(g, "Open candidate"),
        )
        # scrollable and sharing the existing dock areas as tabs, so the window keeps fitting 1280x800
        from PySide6.QtWidgets import QScrollArea

        for dock in self.pdocks.docks.values():
            inner = dock.widget()
            scroll = QScrollArea()
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            inner.setMinimumSize(inner.minimumSizeHint().boundedTo(inner.sizeHint()))
            scroll.setWidget(inner)
            dock.setWidget(scroll)
            self.panels_menu.addAction(dock.toggleViewAction())
        for name in ("candidates", "diff", "jobs"):
            self.tabifyDockWidget(self.errors_dock, self.pdocks.docks[name])
        self.tabifyDockWidget(self.estimators_dock, self.pdocks.docks["compare"])
        self.errors_dock.raise_()
        self.inspector_dock.raise_()

    def open_project(self, path: str) -> None:
        """Open (or create) a project file; every change to it is committed at once (through the
        docks' writer). A damaged file is left as it is, with an offer to open a recovered copy."""
        from ..store import Project, ProjectDamagedError
        from .project_writes import GUI_LOCK_WAIT_S

        try:
            project = Project(path, timeout=GUI_LOCK_WAIT_S)
        except ProjectDamagedError as e:
            self._project_message(str(e), recover=str(e.path))
            return
        except ExplorerError as e:
            self._project_message(str(e))
            return
        if self.project is not None:
            self.project.close()
            # after the writes still queued for it, on the writer's thread (its own connection)
            self.pdocks.writes.submit(self.project.close, label="close the previous project")
        self.project = project
        self.pdocks.refresh()
        self.statusBar().showMessage(f"project {path}: {project.count_candidates()} candidate(s)", 5000)
        self._update_title()

    def new_project_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "New project", "", "NAS Explorer project (*.nasx)")
        if path:
            if not path.endswith(".nasx"):
                path += ".nasx"
            self.open_project(path)

    def open_project_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", "", "NAS Explorer project (*.nasx)")
        if path:
            self.open_project(path)

    def save_project_as_dialog(self) -> None:
        if self.project is None:
            self.statusBar().showMessage("no project open", 4000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save project as", "", "NAS Explorer project (*.nasx)")
        if path:
            self.save_project_as(path if path.endswith(".nasx") else path + ".nasx")

    def _project_message(self, text: str, recover: str | None = None, title: str = "Project") -> QMessageBox:
        """A window-modal message that does not block the caller (`self.project_box`); with
        `recover`, a button that opens a recovered copy of that damaged file."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, self)
        if recover is not None:
            box.setInformativeText(
                "A recovered copy holds the rows that still read; the damaged file is only read."
            )
            btn = box.addButton("Open a Recovered Copy…", QMessageBox.ButtonRole.AcceptRole)
            btn.clicked.connect(lambda: self.open_recovered_copy(recover))
            box.addButton(QMessageBox.StandardButton.Cancel)
        else:
            box.addButton(QMessageBox.StandardButton.Ok)
        self.project_box = box
        box.open()
        return box

    def open_recovered_copy(self, damaged: str | None = None):
        """Copy the rows of a damaged project that still read into `<name>.recovered.nasx` (in the
        background; the damaged file is only read) and open the copy. Returns the worker Task."""
        from ..store import recover_project, recovered_path
        from .workers import first_line, run_task

        if damaged is None:
            damaged, _ = QFileDialog.getOpenFileName(
                self, "Recover a damaged project", "", "NAS Explorer project (*.nasx);;All (*)"
            )
            if not damaged:
                return None
        try:
            dst = recovered_path(damaged)
        except ExplorerError as e:
            self._project_message(str(e), title="Open a recovered copy")
            return None
        self.statusBar().showMessage(f"recovering {Path(damaged).name} into {dst.name}…")
        task = run_task(lambda progress, stop: recover_project(damaged, dst), self)
        task.result.connect(self._recovered)
        task.error.connect(
            lambda _g, text: self._project_message(first_line(text), title="Open a recovered copy")
        )
        self.recovery_task = task
        return task

    def _recovered(self, _gen: int, report) -> None:
        self.open_project(str(report.copy))
        self.statusBar().showMessage(report.summary(), 15000)
        box = QMessageBox(
            QMessageBox.Icon.Information,
            "Recovered copy",
            report.summary(),
            QMessageBox.StandardButton.Ok,
            self,
        )
        box.setInformativeText(f"Now working on {report.copy}; {report.source.name} was not changed.")
        self.project_box = box
        box.open()

    def save_project_as(self, path: str):
        """The project is saved continuously; Save As copies it (on the writer's thread, after the
        writes queued before it) and continues in the copy. Returns the WriteItem."""

        def copy(project=self.project) -> str | None:
            try:
                project.save_as(path).close()
            except (ExplorerError, OSError) as e:
                return str(e)  # said below; a failed copy must not hold the queue
            return None

        def copied(error: str | None) -> None:
            if error:
                self._project_message(error, title="Save project as")
            else:
                self.open_project(path)

        return self.pdocks.writes.submit(copy, label=f"save the project as {path}", on_done=copied)

    def keep_candidate(self):
        """File > Keep as Candidate: the candidates dock's keep (one path, explorer.keep), through
        the docks' writer (the window never waits on a locked project). Returns the WriteItem
        (`.result`: the candidate id once written) or None."""
        if self.project is None:
            self.statusBar().showMessage("open or create a project first (File > New Project)", 5000)
            return None
        self.statusBar().showMessage("keeping the candidate…", 4000)
        return self.pdocks.keep_current()

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
        self.estimators.shutdown()
        super().closeEvent(event)
