"""One job's child process, followed from the GUI: a timer polls its progress and stderr files and
writes what it sees to the project through the window's writer; when the process ends, the core
(`explorer.jobs.ingest.record_end`) turns its outputs into rows on the writer's thread."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from ...jobs import ProgressReader
from ...jobs.commands import job_argv
from ...jobs.ingest import error_tail, read_result, record_end, record_job
from ...jobs.process import StderrTail, pid_alive, search_progress, signal_group, spawn
from ...jobs.status import PROXYLESS, final_status
from ...store import Project
from ..project_writes import ProjectWrites

TERM_GRACE_MS = 20_000  # SIGTERM'd ProxylessNAS job: time to save its checkpoint before SIGKILL


class JobProcess(QObject):
    """One job's child process (started here, or re-attached by pid) and its progress files."""

    progressed = Signal(int, object)  # job id, Progress
    ended = Signal(int, str)  # job id, final status (once its row is written)
    saved = Signal(int)  # job id: its row changed in the project

    def __init__(self, project: Project, jid: int, parent=None, writes: ProjectWrites | None = None):
        super().__init__(parent)
        self.project, self.jid = project, jid
        self.writes = writes if writes is not None else ProjectWrites(parent, threaded=False)
        job = project.job(jid)
        self.kind, self.params = job["kind"], job["params"] or {}
        self.run_dir = Path(job["run_dir"])
        self.popen: subprocess.Popen | None = None
        self.pid: int | None = job.get("pid")
        self.reader = ProgressReader(self.run_dir / "progress.jsonl")
        self.stderr = StderrTail(self.run_dir)
        self.cancelled = False
        self.done = False
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self.poll)

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, resume: bool = False) -> None:
        args = job_argv(self.kind, self.params, self.run_dir, resume)
        self.popen = spawn(args, self.run_dir)
        self.pid = self.popen.pid
        self.stderr.skip_existing()
        line = ("resumed: " if resume else "started: ") + " ".join(["-m", "explorer", *args])
        self.writes.submit(
            record_job,
            self.project,
            self.jid,
            dict(status="running", pid=self.pid, started=time.time(), finished=None, error=None),
            [line],
            label=f"job {self.jid} started",
            on_done=lambda _: self.saved.emit(self.jid),
        )
        self.timer.start()

    def attach(self) -> None:
        """Follow a process started by an earlier window (by pid)."""
        self.timer.start()

    def cancel(self) -> None:
        """A real kill (SIGKILL to the job's process group); training stays resumable. A
        ProxylessNAS search gets SIGTERM first: it saves its checkpoint and stops by itself."""
        self.cancelled = True
        if self.kind == PROXYLESS and self.pid and not self.done and signal_group(self.pid, signal.SIGTERM):
            QTimer.singleShot(TERM_GRACE_MS, self, self._kill_if_running)
        else:
            signal_group(self.pid)
        self.poll()

    def _kill_if_running(self) -> None:
        if not self.done and self.running():
            signal_group(self.pid)
            self.poll()

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    # -- following --------------------------------------------------------------------------
    def poll(self) -> None:
        if self.done:
            return
        recs = self.reader.poll()
        lines = []
        for line in self.stderr.poll():
            rec = search_progress(line)
            if rec is not None:
                recs.append(rec)
            lines.append(line[:500])
        if lines or recs:  # the row keeps the latest progress record
            fields = {"progress": json.loads(recs[-1].to_json())} if recs else None
            self.writes.submit(record_job, self.project, self.jid, fields, lines, label=f"job {self.jid} log")
        for r in recs:
            self.progressed.emit(self.jid, r)
        if not self.running():
            self._finish()

    def _finish(self) -> None:
        self.done = True
        self.timer.stop()
        for r in self.reader.poll():
            self.progressed.emit(self.jid, r)
        code = self.popen.returncode if self.popen is not None else None
        result = read_result(self.run_dir)
        status = final_status(cancelled=self.cancelled, result=result, code=code)
        error = error_tail(self.run_dir, code) if status == "failed" else None
        self.writes.submit(
            record_end,
            self.project,
            self.jid,
            status,
            result,
            error,
            time.time(),
            label=f"job {self.jid} {status}",
            on_done=lambda st: self.ended.emit(self.jid, st),
        )
