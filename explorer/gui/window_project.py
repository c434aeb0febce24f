"""The main window's project (the candidates database): open, create, save as, recover a damaged
one, and keep the edited graph as a candidate. Every write goes through the project docks' writer,
so the window never waits on a locked project."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from ..errors import ExplorerError


class ProjectActions:
    """Mixed into MainWindow (its `project`, `pdocks`, docks and menus)."""

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
