"""The project docks (candidates, compare, diff, jobs) added to a main window in one call.

    docks = install_project_docks(win, lambda: win.project, lambda: win.doc.graph, win.open_graph)
    ...  # after opening / creating a project:
    docks.refresh()
    ...  # in closeEvent:
    docks.shutdown()

The docks only read the project through `project_getter()` and hand a candidate's graph to the
editor through `set_current_graph(graph)` (its `meta["candidate_id"]` names the row it came from).
They write to it only through `docks.writes` (one background writer: the window never waits on a
locked project; a lock is shown with Retry and the write is kept).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMainWindow, QMessageBox

from ..arch import ArchGraph
from ..errors import ExplorerError
from ..keep import check_keepable, keep_candidate, stale_reason
from ..project_writer import WriteItem
from ..store import Project, StoreError
from .candidates_view import CandidatesView
from .compare_plot import ComparePlot
from .diff_view import DiffView
from .export_dialog import ExportDialog
from .jobs import JobsPanel
from .project_writes import ProjectWrites


class ProjectDocks:
    def __init__(self, win: QMainWindow, project_getter, current_graph_getter, set_current_graph):
        self.win = win
        self.project_getter: Callable[[], Project | None] = project_getter
        self.current_graph_getter = current_graph_getter
        self.set_current_graph = set_current_graph
        self.writes = ProjectWrites(win)
        self.candidates = CandidatesView(project_getter)
        self.compare = ComparePlot(self.candidates.model)
        self.diff = DiffView(project_getter)
        self.jobs = JobsPanel(
            project_getter, current_graph_getter, self.candidates.selected_ids, writes=self.writes
        )
        self.candidates.settings_getter = lambda: getattr(win, "live", None)
        self.candidates.devices_getter = self._devices
        self.export_dialog: ExportDialog | None = None

        B, R = Qt.DockWidgetArea.BottomDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        self.docks = {
            "candidates": self._dock("Candidates", "CandidatesDock", self.candidates, B),
            "compare": self._dock("Compare", "CompareDock", self.compare, R),
            "diff": self._dock("Diff", "DiffDock", self.diff, B),
            "jobs": self._dock("Jobs", "JobsDock", self.jobs, B),
        }
        win.tabifyDockWidget(self.docks["candidates"], self.docks["diff"])
        win.tabifyDockWidget(self.docks["diff"], self.docks["jobs"])
        self.docks["candidates"].raise_()

        self._linking = False
        self.candidates.selectionChangedIds.connect(self._table_selected)
        self.compare.selectionChangedIds.connect(self._plot_selected)
        self.candidates.candidateActivated.connect(self.open_candidate)
        self.candidates.diffRequested.connect(self.show_diff)
        self.candidates.exportRequested.connect(self.export)
        self.candidates.keepCurrentRequested.connect(self.keep_current)
        self.candidates.candidatesChanged.connect(self.diff.refresh)
        self.candidates.recoverRequested.connect(self._recover)
        self.jobs.candidatesChanged.connect(self.refresh_candidates)

    def _dock(self, title, name, widget, area) -> QDockWidget:
        d = QDockWidget(title, self.win)
        d.setObjectName(name)
        d.setWidget(widget)
        self.win.addDockWidget(area, d)
        return d

    def _devices(self) -> list[str]:
        dl = getattr(self.win, "device_list", None)
        try:
            return list(dl.checked()) if dl is not None else []
        except Exception:  # noqa: BLE001 - the main window's API may differ; sample without latency
            return []

    def _recover(self, path: str) -> None:
        recover = getattr(self.win, "open_recovered_copy", None)
        if recover is not None:
            recover(path)

    # -- refresh ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Reload everything from the project (after open/new project)."""
        devs = self._devices()
        self.compare.set_device(devs[0] if devs else None)
        if self.candidates.refresh():
            self._guard(self.diff.refresh, self.jobs.refresh)

    def refresh_candidates(self) -> None:
        if self.candidates.refresh():
            self._guard(self.diff.refresh)

    def _guard(self, *reads) -> None:
        """A project that stops reading mid-session: the candidates dock says so (and offers a copy)."""
        try:
            for read in reads:
                read()
        except StoreError as e:
            self.candidates.show_problem(e)

    def shutdown(self, kill_jobs: bool = False) -> bool:
        """Stop following; write what is queued (True when nothing had to be left unwritten)."""
        if self.candidates.task is not None:
            self.candidates.task.cancel()
        self.jobs.shutdown(kill=kill_jobs)
        return self.writes.shutdown()

    # -- linked selection -------------------------------------------------------------------
    def _table_selected(self, ids: list[int]) -> None:
        if not self._linking:
            self._linking = True
            try:
                self.compare.set_selection(ids)
            finally:
                self._linking = False

    def _plot_selected(self, ids: list[int]) -> None:
        if not self._linking:
            self._linking = True
            try:
                self.candidates.select_ids(ids)
            finally:
                self._linking = False

    # -- actions ----------------------------------------------------------------------------
    def open_candidate(self, cid: int) -> None:
        project = self.project_getter()
        if project is None:
            return
        try:
            g = project.candidate(cid).graph
        except StoreError as e:
            self.candidates.show_problem(e)
            return
        g.meta["candidate_id"] = cid
        self.set_current_graph(g)

    def show_diff(self, a: int, b: int) -> None:
        self.diff.compare_candidates(a, b)
        self.docks["diff"].show()
        self.docks["diff"].raise_()

    def export(self, ids: list[int]) -> ExportDialog | None:
        project = self.project_getter()
        if project is None or not ids:
            return None
        self.export_dialog = ExportDialog(project, ids, self.win)
        self.export_dialog.show()
        return self.export_dialog

    def keep_current(self) -> WriteItem | None:
        """Keep the editor's graph as a new candidate with its params/MACs and the live metrics shown,
        if they are of this graph (explorer.keep: the one keep path), through the writer; the row
        is selected once written (`item.result`: its id). An invalid graph is refused with a message."""
        project = self.project_getter()
        g: ArchGraph | None = self.current_graph_getter()
        if project is None or g is None:
            return None
        try:
            check_keepable(g)
        except ExplorerError as e:
            QMessageBox.warning(self.win, "Keep current", str(e))
            return None
        g = g.copy()  # the editor may change it while the write waits
        panel = getattr(self.win, "metrics", None)  # the window's Metrics panel: what it shows
        metrics = getattr(panel, "last_result", None)
        metrics = dict(metrics) if isinstance(metrics, dict) else None
        digest = getattr(panel, "last_digest", None)
        refused = stale_reason(g, metrics, digest)
        weights = getattr(getattr(self.win, "doc", None), "weights", None)  # kept by reference
        return self.writes.submit(
            keep_candidate,
            project,
            g,
            metrics,
            metrics_digest=digest,
            weights=weights,
            label=f"keep candidate {g.name or ''}".strip(),
            on_done=lambda cid: self._kept(cid, refused),
        )

    def _kept(self, cid: int, refused: str = "") -> None:
        self.refresh_candidates()
        self.candidates.select_ids([cid])
        note = f" without its live metrics ({refused})" if refused else ""
        self.win.statusBar().showMessage(f"kept as candidate {cid}{note}", 5000)


def install_project_docks(
    main_window: QMainWindow,
    project_getter: Callable[[], Project | None],
    current_graph_getter: Callable[[], ArchGraph | None],
    set_current_graph: Callable[[ArchGraph], None],
) -> ProjectDocks:
    """Create the candidates, compare, diff and jobs docks, add them to `main_window`, link them,
    and return them (`.candidates`, `.compare`, `.diff`, `.jobs`, `.docks[name]`, `.refresh()`)."""
    docks = ProjectDocks(main_window, project_getter, current_graph_getter, set_current_graph)
    docks.refresh()
    return docks
