"""The main window's menus, toolbar and shortcuts: each action calls a window, scene or view
method, so everything a menu does is also reachable from code and tests."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence


class MenuActions:
    """Mixed into MainWindow (its `doc`, `scene`, `view`, docks and slots)."""

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
        self.act_import = self._action(
            f,
            "&Import Model\u2026",
            lambda: self.import_model_dialog(),
            "Ctrl+I",
            "an ONNX file, a torch.export .pt2 program or a package.module:factory as a graph",
        )
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
        v = self.view_menu = mb.addMenu("&View")
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
