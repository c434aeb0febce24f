"""The Jobs dock: a form per job kind, the project's jobs with their status, Cancel and Resume, and
the selected job in detail.

Every job runs in a separate process (`python -m explorer ...`, the command a user can script),
followed through the files in its run folder (`<project>.runs/job_<id>/`): cancel is a real kill, a
crash cannot take the window down, and a job outlives the window. The job row stores the pid; on
reopening, a job whose process still runs is followed again, one whose process is gone is marked
interrupted, and training or a ProxylessNAS search offers Resume (from its last checkpoint). What a
finished job produced becomes project rows in the core (`explorer.jobs.ingest`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QMessageBox,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ...jobs import Progress, ProgressReader
from ...jobs.commands import run_root
from ...jobs.ingest import mark_gone, on_reopen
from ...jobs.status import ACTIVE, BN, EXTRACT, PROXYLESS, SEARCH, TRAIN, progress_text, resumable
from ...spaces import find_space
from ...store import Project
from ..project_writes import ProjectWrites
from .detail import JobDetail
from .forms.extraction import ExtractionForm
from .forms.proxyless import ProxylessForm
from .forms.search import SearchForm
from .forms.training import TrainingForm
from .process import JobProcess

STATUS_COLOURS = {
    "running": QColor(30, 110, 220),
    "done": QColor(20, 130, 40),
    "failed": QColor(190, 30, 30),
    "interrupted": QColor(200, 120, 0),
    "cancelled": QColor(120, 120, 120),
}


def _extractable(space_name) -> bool:
    """Whether a candidate of this space is a subnet of the elastic supernet (the registry says)."""
    space = find_space(space_name)
    return bool(space is not None and space.supports_supernet)


class JobsPanel(QWidget):
    """Start, follow, cancel and resume background jobs of the open project."""

    candidatesChanged = Signal()
    jobEnded = Signal(int, str)

    def __init__(
        self, project_getter=None, current_graph_getter=None, selection_getter=None, parent=None, writes=None
    ):
        super().__init__(parent)
        # the window's writer (asynchronous); on its own the panel writes at once
        self.writes: ProjectWrites = writes if writes is not None else ProjectWrites(self, threaded=False)
        self.project_getter = project_getter or (lambda: None)
        self.current_graph_getter = current_graph_getter or (lambda: None)
        self.selection_getter = selection_getter or (lambda: [])
        self.procs: dict[int, JobProcess] = {}
        self._project_path: Path | None = None

        self.training, self.extraction = TrainingForm(), ExtractionForm()
        self.search, self.proxyless = SearchForm(), ProxylessForm()
        self.training.startRequested.connect(lambda: self.start_training())
        self.extraction.startRequested.connect(lambda bn: self.start_extraction(recalibrate_only=bn))
        self.search.startRequested.connect(lambda: self.start_search())
        self.proxyless.startRequested.connect(lambda: self.start_proxyless())
        self.tabs = QTabWidget()
        self.tabs.addTab(self.training, "Train supernet")
        self.tabs.addTab(self.extraction, "Extract / BN")
        self.tabs.addTab(self.search, "Search")
        self.px_tab = self.tabs.addTab(self.proxyless, "ProxylessNAS")
        self.tabs.currentChanged.connect(lambda i: i == self.px_tab and self.proxyless.fill_devices())

        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(["job", "kind", "status", "progress", "started"])
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._show_selected)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setToolTip("kill the job's process (training can be resumed)")
        self.cancel_btn.clicked.connect(self.cancel_selected)
        self.resume_btn = QPushButton("Resume")
        self.resume_btn.setToolTip("continue training / a ProxylessNAS search from its last checkpoint")
        self.resume_btn.clicked.connect(self.resume_selected)
        self.detail = JobDetail()
        self.log_btn = QPushButton("Log")
        self.log_btn.setCheckable(True)
        self.log_btn.toggled.connect(self.detail.log_view.setVisible)
        btns = QHBoxLayout()
        for b in (self.cancel_btn, self.resume_btn, self.log_btn):
            btns.addWidget(b)
        btns.addStretch(1)
        # the detail's parts, as the panel's (tests, screenshots)
        d = self.detail
        self.history, self.px_history = d.history, d.px_history
        self.status_label, self.plot_stack, self.px_plot = d.status_label, d.plot_stack, d.px_plot

        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addWidget(self.tabs)
        ul.addWidget(self.table, 1)
        ul.addLayout(btns)
        split = QSplitter(Qt.Orientation.Vertical)
        for i, part in enumerate((upper, self.detail)):  # the list above, the selected job below
            split.addWidget(part)
            split.setStretchFactor(i, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self._update_buttons()

    # -- project ----------------------------------------------------------------------------
    def set_project(self, project: Project | None) -> None:
        """Show this project's jobs; running ones are re-attached or marked interrupted."""
        self.refresh()

    def refresh(self) -> None:
        project = self.project_getter()
        if project is None:
            self.table.setRowCount(0)
            return
        if self._project_path != project.path:
            self._project_path = project.path
            for proc in self.procs.values():
                proc.timer.stop()
            self.procs.clear()
            self.detail.forget()
            self._reconcile(project)
        self.extraction.set_checkpoints([c["path"] for c in project.checkpoints()])
        self._fill_table(project)

    def _reconcile(self, project: Project) -> None:
        follow, gone = on_reopen(project)
        for jid in follow:
            self._make_proc(project, jid).attach()
            self.writes.submit(project.log, jid, "re-attached", label=f"job {jid} log")
        for jid in gone:
            self.writes.submit(mark_gone, project, jid, label=f"job {jid} interrupted", on_done=self._refill)

    def _make_proc(self, project: Project, jid: int) -> JobProcess:
        proc = JobProcess(project, jid, self, self.writes)
        proc.progressed.connect(self._on_progress)
        proc.ended.connect(self._on_ended)
        proc.saved.connect(self._refill)
        self.procs[jid] = proc
        return proc

    def _refill(self, *_) -> None:
        """A job row was written: show it (if the project is still the one shown)."""
        project = self.project_getter()
        if project is not None and project.path == self._project_path:
            self._fill_table(project)

    def _fill_table(self, project: Project) -> None:
        sel = self.selected_job()
        jobs = project.jobs()
        self.table.setRowCount(len(jobs))
        for i, job in enumerate(reversed(jobs)):
            started = time.strftime("%H:%M:%S", time.localtime(job["started"])) if job.get("started") else ""
            cells = [str(job["id"]), job["kind"], job["status"], progress_text(job), started]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, job["id"])
                if j == 2:
                    colour = STATUS_COLOURS.get(job["status"])
                    if colour is not None:
                        item.setForeground(colour)
                    if job.get("error"):
                        item.setToolTip(job["error"])
                self.table.setItem(i, j, item)
        if sel is not None:
            self.select_job(sel)
        elif jobs:
            self.table.selectRow(0)
        self._update_buttons()

    # -- starting jobs ----------------------------------------------------------------------
    def _new_job(self, kind: str, params: dict) -> int | None:
        project = self.project_getter()
        if project is None:
            QMessageBox.information(self, "No project", "Open or create a project first.")
            return None

        def create() -> int:  # the writer's thread
            with project.transaction():
                jid = project.add_job(kind, params)
                project.update_job(jid, run_dir=str(run_root(project) / f"job_{jid}"))
            return jid

        item = self.writes.submit(
            create, label=f"new {kind} job", on_done=lambda jid: self._launch(project, jid)
        )
        return item.result if item.done else None  # None: the row is still being written

    def _launch(self, project: Project, jid: int) -> None:
        """The job's row exists: start its process."""
        if project is not self.project_getter():
            return  # another project was opened meanwhile: the job stays queued in its own
        proc = self._make_proc(project, jid)
        self.detail.forget(jid)
        try:
            proc.start()
        except OSError as e:
            self.writes.submit(
                project.update_job,
                jid,
                status="failed",
                error=str(e),
                label=f"job {jid}",
                on_done=self._refill,
            )
        self._fill_table(project)
        self.select_job(jid)

    def start_training(self, **overrides) -> int | None:
        params = dict(self.training.params(), **overrides)
        if not params["phases"]:
            QMessageBox.warning(self, "Training", "Choose at least one phase.")
            return None
        return self._new_job(TRAIN, params)

    def _configs(self) -> list[tuple[int | None, dict]]:
        """(candidate id, OFA config) of what to extract: the selected candidates or the editor's."""
        project = self.project_getter()
        out: list[tuple[int | None, dict]] = []
        if self.extraction.from_selection() and project is not None:
            for cid in self.selection_getter():
                c = project.candidate(cid)
                if c.config is not None and _extractable(c.space):
                    out.append((cid, c.config))
        else:
            g = self.current_graph_getter()
            if g is not None and g.meta.get("config") is not None and _extractable(g.meta.get("space")):
                out.append((g.meta.get("candidate_id"), g.meta["config"]))
        return out

    def start_extraction(
        self, configs=None, checkpoint: str | None = None, recalibrate_only: bool = False
    ) -> list[int]:
        ck = checkpoint or self.extraction.checkpoint()
        configs = configs if configs is not None else self._configs()
        if not ck or not configs:
            QMessageBox.warning(
                self,
                "Extraction",
                "Choose a checkpoint and a candidate of a supernet space (current or selected).",
            )
            return []
        recal = self.extraction.recalibration_data(recalibrate_only)
        kind = BN if recalibrate_only else EXTRACT
        jobs = [
            self._new_job(kind, {"checkpoint": ck, "config": cfg, "candidate_id": cid, "recalibrate": recal})
            for cid, cfg in configs
        ]
        return [j for j in jobs if j is not None]

    def start_search(self, **overrides) -> int | None:
        params = dict(self.search.params(), **overrides)
        if params["accuracy"] == "supernet" and not params.get("supernet"):
            params["supernet"] = self.extraction.checkpoint() or None
        return self._new_job(SEARCH, params)

    def start_proxyless(self, **overrides) -> int | None:
        """Start a ProxylessNAS search (the form's values, then `overrides`, e.g. device="local",
        target_ms=1.5, loss="add", lam=0.2, epochs=5, skeleton="small" or a dict, lut_dir=...);
        the job id. The CLI twin is `nas-explorer search proxyless`."""
        params = dict(self.proxyless.params(), **overrides)
        if params.get("target_ms") is None or float(params["target_ms"]) <= 0:
            QMessageBox.warning(self, "ProxylessNAS", "Give a positive latency target (ms).")
            return None
        return self._new_job(PROXYLESS, params)

    # -- selected job -----------------------------------------------------------------------
    def selected_job(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)

    def select_job(self, jid: int) -> None:
        for r in range(self.table.rowCount()):
            if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == jid:
                self.table.selectRow(r)
                return

    def cancel_selected(self) -> None:
        jid = self.selected_job()
        if jid is not None:
            self.cancel(jid)

    def cancel(self, jid: int) -> None:
        proc = self.procs.get(jid)
        project = self.project_getter()
        if proc is not None and not proc.done:
            proc.cancel()
        elif project is not None and project.job(jid)["status"] in ACTIVE:
            self.writes.submit(
                project.update_job,
                jid,
                status="cancelled",
                finished=time.time(),
                label=f"job {jid} cancelled",
                on_done=self._refill,
            )

    def resume_selected(self) -> None:
        jid = self.selected_job()
        if jid is not None:
            self.resume(jid)

    def resume(self, jid: int) -> bool:
        project = self.project_getter()
        if project is None or not resumable(project.job(jid)):
            return False
        old = self.procs.get(jid)
        if old is not None:
            old.timer.stop()
        proc = self._make_proc(project, jid)
        resume = True
        if proc.kind == PROXYLESS and not (proc.run_dir / "checkpoint.pt").is_file():
            # stopped before its first checkpoint: start the same search afresh
            resume = False
            (proc.run_dir / "progress.jsonl").unlink(missing_ok=True)
        proc.reader = ProgressReader(proc.run_dir / "progress.jsonl")  # re-read: the plot keeps history
        self.detail.forget(jid)
        proc.start(resume=resume)
        self._fill_table(project)
        self.select_job(jid)
        return True

    def _update_buttons(self) -> None:
        project = self.project_getter()
        jid = self.selected_job()
        job = project.job(jid) if (project is not None and jid is not None) else None
        self.cancel_btn.setEnabled(bool(job and job["status"] in ACTIVE))
        self.resume_btn.setEnabled(bool(job and resumable(job)))

    # -- progress ---------------------------------------------------------------------------
    def _kind(self, jid: int) -> str | None:
        proc = self.procs.get(jid)
        if proc is not None:
            return proc.kind
        project = self.project_getter()
        return project.job(jid)["kind"] if project is not None else None

    def _on_progress(self, jid: int, p: Progress) -> None:
        self.detail.add(jid, self._kind(jid), p)
        self.last_progress = p
        project = self.project_getter()
        if project is not None:
            for r in range(self.table.rowCount()):
                if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == jid:
                    job = dict(project.job(jid), progress=json.loads(p.to_json()))  # may be in flight
                    self.table.item(r, 3).setText(progress_text(job))

    def _show_selected(self) -> None:
        self._update_buttons()
        jid = self.selected_job()
        project = self.project_getter()
        self.detail.shown = jid
        if jid is not None and project is not None:
            self.detail.show_job(project.job(jid), project.logs(jid))

    def _on_ended(self, jid: int, status: str) -> None:
        project = self.project_getter()
        if project is not None:
            self._fill_table(project)
            kind = project.job(jid)["kind"]
            if status == "done" and kind != TRAIN:
                self.candidatesChanged.emit()
            if kind == TRAIN:
                self.refresh()
        if jid == self.selected_job():
            self._show_selected()
        self.jobEnded.emit(jid, status)

    def shutdown(self, kill: bool = False) -> None:
        """The window or project closes: stop following. Jobs keep running (re-attached on reopening)
        unless `kill`, which kills them and marks them interrupted (training stays resumable)."""
        project = self.project_getter()
        for jid, proc in list(self.procs.items()):
            proc.timer.stop()
            if kill and not proc.done and proc.running():
                proc.cancel()
                if project is not None:
                    self.writes.submit(
                        project.update_job, jid, status="interrupted", label=f"job {jid} interrupted"
                    )
        self.procs.clear()
        self._project_path = None
