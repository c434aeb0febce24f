"""Jobs panel: supernet training, BN recalibration, subnet extraction, evolutionary search and
ProxylessNAS search, each in a separate process (`python -m explorer ...`), followed through its files.

Why processes and files: cancel is a real kill, a crash cannot take the window down, and a job
outlives the window. Each job gets a run folder beside the project (`<project>.runs/job_<id>/`)
holding the child's stdout/stderr and, for training, the checkpoint and the JSON-lines progress file
that the panel tails. The job row in the project stores the pid; on reopening, a job whose process
still runs is re-attached, one whose process is gone is marked "interrupted" and training offers
Resume (`--resume` continues from the last checkpoint). Extracted subnets become candidates with
their weights; search results become candidates with their accuracy estimate; a ProxylessNAS search's
derived architecture becomes a candidate with its predicted (and, on a local device, measured)
latency. A ProxylessNAS job is cancelled with SIGTERM, on which it saves its checkpoint and stops
(SIGKILL follows if it has not ended after a grace period), so Resume continues where it stopped.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..arch import load_arch
from ..job_commands import (  # noqa: F401 - re-exported for callers of the panel module
    PROXYLESS_SPACES,
    extract_argv,
    package_root,
    pid_alive,
    proxyless_argv,
    proxyless_devices,
    run_root,
    search_argv,
    train_argv,
)
from ..jobs import Progress, ProgressReader
from ..store import Project, StoreError
from .project_writes import ProjectWrites
from .proxyless_plot import ProxylessHistory, ProxylessPlot

TRAIN, EXTRACT, BN, SEARCH = "train", "extract", "bn-recalibrate", "search"
PROXYLESS = "proxyless"
ACTIVE = ("queued", "running")
RESUMABLE = ("cancelled", "interrupted", "failed")
RESUMABLE_KINDS = (TRAIN, PROXYLESS)
TERM_GRACE_MS = 20_000  # SIGTERM'd ProxylessNAS job: time to save its checkpoint before SIGKILL
PHASES = ("teacher", "kernel", "depth1", "depth2", "expand1", "expand2")
_SEARCH_LINE = re.compile(r"\[search\] generation (\d+)/(\d+)\s*(.*)")


def labelled_row(*pairs: tuple[str, QWidget], into: QHBoxLayout | None = None) -> QHBoxLayout:
    """A row of "label widget" pairs (the forms' compact option rows)."""
    row = into if into is not None else QHBoxLayout()
    for label, widget in pairs:
        row.addWidget(QLabel(label))
        row.addWidget(widget)
    return row


def record_job(project: Project, jid: int, fields: dict | None, lines: list[str] = ()) -> None:
    """The writer's thread: a job row's fields and its log lines, in one transaction."""
    with project.transaction():
        if fields:
            project.update_job(jid, **fields)
        for line in lines:
            project.log(jid, line)


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
        self._err_pos = 0
        self.cancelled = False
        self.done = False
        self.timer = QTimer(self)
        self.timer.setInterval(250)
        self.timer.timeout.connect(self.poll)

    # -- lifecycle --------------------------------------------------------------------------
    def argv(self, resume: bool = False) -> list[str]:
        if self.kind == TRAIN:
            return train_argv(self.params, self.run_dir, resume)
        if self.kind in (EXTRACT, BN):
            return extract_argv(self.params, self.run_dir)
        if self.kind == SEARCH:
            return search_argv(self.params, self.run_dir)
        if self.kind == PROXYLESS:
            return proxyless_argv(self.params, self.run_dir, resume)
        raise ValueError(f"unknown job kind {self.kind!r}")

    def start(self, resume: bool = False) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = package_root() + os.pathsep + env.get("PYTHONPATH", "")
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2) - 1)))
        argv = [sys.executable, "-m", "explorer", *self.argv(resume)]
        out = open(self.run_dir / "stdout.txt", "w", encoding="utf-8")  # noqa: SIM115
        err = open(self.run_dir / "stderr.txt", "a", encoding="utf-8")  # noqa: SIM115
        try:
            # a session of its own: the job survives the window, and cancel kills its whole group
            self.popen = subprocess.Popen(
                argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        finally:
            out.close()
            err.close()
        self.pid = self.popen.pid
        self._err_pos = (self.run_dir / "stderr.txt").stat().st_size
        line = ("resumed: " if resume else "started: ") + " ".join(argv[1:])
        self.writes.submit(
            self._record,
            dict(status="running", pid=self.pid, started=time.time(), finished=None, error=None),
            [line],
            label=f"job {self.jid} started",
            on_done=lambda _: self.saved.emit(self.jid),
        )
        self.timer.start()

    def _record(self, fields: dict | None, lines: list[str]) -> None:
        record_job(self.project, self.jid, fields, lines)

    def attach(self) -> None:
        """Follow a process started by an earlier window (by pid)."""
        self.timer.start()

    def cancel(self) -> None:
        """A real kill (SIGKILL to the job's process group); training stays resumable. A
        ProxylessNAS search gets SIGTERM first: it saves its checkpoint and stops by itself."""
        self.cancelled = True
        if self.kind == PROXYLESS and self.pid and not self.done:
            try:
                os.killpg(os.getpgid(self.pid), signal.SIGTERM)
            except OSError:
                pass
            else:
                QTimer.singleShot(TERM_GRACE_MS, self, self._kill_if_running)
                self.poll()
                return
        self._kill()
        self.poll()

    def _kill_if_running(self) -> None:
        if not self.done and self.running():
            self._kill()
            self.poll()

    def _kill(self) -> None:
        if self.pid:
            try:
                os.killpg(os.getpgid(self.pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError, OSError):
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except OSError:
                    pass

    def running(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return pid_alive(self.pid)

    # -- following --------------------------------------------------------------------------
    def _stderr_lines(self) -> list[str]:
        p = self.run_dir / "stderr.txt"
        if not p.exists():
            return []
        with open(p, encoding="utf-8", errors="replace") as f:
            f.seek(self._err_pos)
            text = f.read()
            self._err_pos = f.tell()
        return [ln for ln in text.splitlines() if ln.strip()]

    def poll(self) -> None:
        if self.done:
            return
        recs = self.reader.poll()
        lines = []
        for line in self._stderr_lines():
            m = _SEARCH_LINE.search(line)
            if m:
                recs.append(Progress(phase="search", step=int(m[1]), total=int(m[2]), message=m[3].strip()))
            lines.append(line[:500])
        if lines or recs:  # the row keeps the latest progress record
            fields = {"progress": json.loads(recs[-1].to_json())} if recs else None
            self.writes.submit(self._record, fields, lines, label=f"job {self.jid} log")
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
        result = self._read_result()
        if self.cancelled or (result is not None and "stopped" in result):
            status = "cancelled"  # a SIGTERM'd ProxylessNAS search reports where it stopped
        elif result is not None and (code in (0, None)):
            status = "done"
        elif code is None:
            status = "interrupted"  # an attached process that ended without a result
        else:
            status = "failed"
        error = None
        if status == "failed":
            tail = (self.run_dir / "stderr.txt").read_text(errors="replace").strip().splitlines()[-3:]
            error = " | ".join(tail) or f"exit code {code}"
        self.writes.submit(
            self._record_end,
            status,
            result,
            error,
            time.time(),
            label=f"job {self.jid} {status}",
            on_done=lambda st: self.ended.emit(self.jid, st),
        )

    def _record_end(self, status: str, result: dict | None, error: str | None, finished: float) -> str:
        """The writer's thread: ingest a finished job's files and write its final row, all in one
        transaction (a retry after a lock never adds its candidates twice)."""
        p = self.project
        with p.transaction() as db:
            if status == "done":
                try:
                    with db.atomic():  # a failed ingest leaves no half of its rows behind
                        result = self._ingest(dict(result))
                except StoreError:
                    raise  # the project, not the job: held for Retry
                except Exception as e:  # noqa: BLE001 - reported on the job row
                    status, error = "failed", f"{e.__class__.__name__}: {e}"
            p.update_job(self.jid, status=status, result=result or {}, error=error, finished=finished)
            p.log(self.jid, f"{status}" + (f": {error}" if error else ""))
        return status

    def _read_result(self) -> dict | None:
        p = self.run_dir / "stdout.txt"
        try:
            text = p.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        if not text:
            return None
        try:
            return json.loads(text[text.index("{") :])
        except (ValueError, json.JSONDecodeError):
            return None

    def _ingest(self, result: dict) -> dict:
        """Turn a finished job's files into project rows (checkpoints, candidates)."""
        p = self.project
        if self.kind == TRAIN:
            ck = result.get("checkpoint") or str(self.run_dir / "supernet.pt")
            last = (result.get("metrics") or [{}])[-1]
            p.add_checkpoint(
                ck, job_id=self.jid, phase=str(last.get("phase", "")), step=int(last.get("steps", 0))
            )
        elif self.kind in (EXTRACT, BN):
            graph = load_arch(result["arch"])
            src = self.params.get("candidate_id")
            graph.name = f"extracted from #{src}" if src else "extracted subnet"
            graph.meta.setdefault("provenance", f"extracted from supernet {self.params['checkpoint']}")
            cid = p.add_candidate(
                graph,
                tags=["extracted"] + (["bn-recalibrated"] if self.params.get("recalibrate") else []),
                notes=f"job {self.jid}",
                parent_id=src,
                weights_path=result["weights"],
            )
            p.record_metric(cid, "complexity", "params", result.get("params"))
            p.record_metric(cid, "complexity", "macs", result.get("macs"))
            result["candidate_id"] = cid
        elif self.kind == SEARCH:
            from ..spaces import get_space

            space = get_space(result.get("space") or self.params.get("space", "ofa-mbv3-w1.2"))
            graph = space.encode(result["config"])
            graph.name = f"search ≤{self.params['constraint']}"
            cid = p.add_candidate(graph, tags=["search"], notes=f"job {self.jid}")
            p.record_metric(
                cid, "accuracy", "estimate", result.get("accuracy"), method=self.params.get("accuracy", "")
            )
            lat_name = self.params.get("latency", "note10")
            if lat_name != "macs":  # with "macs" the constraint is in MMACs, recorded below as MACs
                p.record_metric(
                    cid, "latency", lat_name, result.get("latency_ms"), unit="ms", method="search table"
                )
            from ..arch import count_complexity

            c = count_complexity(graph)
            p.record_metric(cid, "complexity", "params", c.params)
            p.record_metric(cid, "complexity", "macs", c.macs)
            result["candidate_id"] = cid
        elif self.kind == PROXYLESS:
            result["candidate_id"] = self._ingest_proxyless(result)
        return result

    def _ingest_proxyless(self, result: dict) -> int:
        """The derived (argmax-path) architecture as a candidate with the supernet's weights of that
        path, its predicted latency on the search's device and, for a local device, measured."""
        from ..arch import count_complexity

        p = self.project
        graph = load_arch(result["arch"])
        dev = (result.get("device") or {}).get("name") or str(self.params.get("device", "local"))
        target = result.get("target_ms", self.params.get("target_ms"))
        graph.name = f"proxyless {target:g} ms on {dev}"
        cid = p.add_candidate(
            graph, tags=["proxyless"], notes=f"job {self.jid}", weights_path=result.get("weights")
        )
        p.record_metric(
            cid, "latency", dev, result.get("predicted_ms"), unit="ms", method="ProxylessNAS layer table"
        )
        m = result.get("measured") or {}
        if m.get("measured_ms") is not None:
            p.record_metric(
                cid,
                "latency",
                f"{dev} measured",
                m["measured_ms"],
                unit="ms",
                method=f"measured median (p10 {m.get('p10_ms')}, p90 {m.get('p90_ms')})",
            )
        if result.get("val_acc_supernet_path") is not None:
            p.record_metric(
                cid,
                "accuracy",
                "proxyless supernet",
                result["val_acc_supernet_path"],
                method="supernet weights of the path, BN recalibrated, held-out split",
            )
        c = count_complexity(graph)
        p.record_metric(cid, "complexity", "params", c.params)
        p.record_metric(cid, "complexity", "macs", c.macs)
        return cid


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
        self.history: dict[int, dict] = {}
        self.px_history: dict[int, ProxylessHistory] = {}
        self._px_redraw: set[int] = set()
        self._project_path: Path | None = None

        self.tabs = QTabWidget()
        self.tabs.addTab(self._train_form(), "Train supernet")
        self.tabs.addTab(self._extract_form(), "Extract / BN")
        self.tabs.addTab(self._search_form(), "Search")
        self.px_tab = self.tabs.addTab(self._proxyless_form(), "ProxylessNAS")
        self.tabs.currentChanged.connect(lambda i: i == self.px_tab and self._fill_px_devices())

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
        self.log_btn = QPushButton("Log")
        self.log_btn.setCheckable(True)
        self.log_btn.toggled.connect(lambda on: self.log_view.setVisible(on))
        btns = QHBoxLayout()
        btns.addWidget(self.cancel_btn)
        btns.addWidget(self.resume_btn)
        btns.addWidget(self.log_btn)
        btns.addStretch(1)

        self.status_label = QLabel("no job selected")
        self.status_label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setFormat("%p%")
        self.plots = pg.GraphicsLayoutWidget()
        self.plots.setBackground("w")
        self.loss_plot = self.plots.addPlot(title="training loss")
        self.acc_plot = self.plots.addPlot(title="accuracy (min / max subnet)")
        for pl in (self.loss_plot, self.acc_plot):
            pl.showGrid(x=True, y=True, alpha=0.25)
            pl.setMenuEnabled(False)
            pl.getAxis("bottom").setLabel("step")
            for ax in ("left", "bottom"):
                pl.getAxis(ax).setTextPen("k")
                pl.getAxis(ax).setPen("k")
        self.loss_curve = self.loss_plot.plot(pen=pg.mkPen(QColor(30, 90, 200), width=2))
        self.acc_min = self.acc_plot.plot(
            pen=pg.mkPen(QColor(200, 80, 30), width=2),
            symbol="o",
            symbolSize=6,
            symbolBrush=QColor(200, 80, 30),
            name="min",
        )
        self.acc_max = self.acc_plot.plot(
            pen=pg.mkPen(QColor(30, 150, 60), width=2),
            symbol="s",
            symbolSize=6,
            symbolBrush=QColor(30, 150, 60),
            name="max",
        )
        self.px_plot = ProxylessPlot()
        self.plot_stack = QStackedWidget()
        self.plot_stack.addWidget(self.plots)
        self.plot_stack.addWidget(self.px_plot)
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.hide()

        detail = QWidget()
        dl = QVBoxLayout(detail)
        dl.setContentsMargins(0, 0, 0, 0)
        dl.addWidget(self.status_label)
        dl.addWidget(self.bar)
        dl.addWidget(self.plot_stack, 1)
        dl.addWidget(self.log_view, 1)
        upper = QWidget()
        ul = QVBoxLayout(upper)
        ul.setContentsMargins(0, 0, 0, 0)
        ul.addWidget(self.tabs)
        ul.addWidget(self.table, 1)
        ul.addLayout(btns)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(detail)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(split)
        self._update_buttons()

    # -- forms ------------------------------------------------------------------------------
    def _train_form(self) -> QWidget:
        w = QWidget()
        f = QFormLayout(w)
        self.t_space = QComboBox()
        self.t_space.addItems(["ofa-mbv3-w1.0", "ofa-mbv3-w1.2"])
        self.t_data = QComboBox(editable=True)
        self.t_data.addItems(["builtin", "cifar-sample"])
        self.t_data.setToolTip(
            "builtin: the shipped CIFAR-10 sample; or an ImageFolder directory / .npz file"
        )
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse_data)
        row = QHBoxLayout()
        row.addWidget(self.t_data, 1)
        row.addWidget(browse)
        self.t_phases: dict[str, QCheckBox] = {}
        ph = QHBoxLayout()
        for name in PHASES:
            cb = QCheckBox(name)
            cb.setChecked(True)
            self.t_phases[name] = cb
            ph.addWidget(cb)
        ph.addStretch(1)
        self.t_epochs = QDoubleSpinBox(minimum=0.01, maximum=1000, value=1.0, decimals=2)
        self.t_epochs.setToolTip("epochs of every phase")
        self.t_batch = QSpinBox(minimum=2, maximum=4096, value=64)
        self.t_subset = QSpinBox(minimum=0, maximum=10_000_000, value=0, specialValueText="all")
        self.t_device = QComboBox(editable=True)
        self.t_device.addItems(["cpu", "cuda"])
        self.t_start = QPushButton("Start training")
        self.t_start.clicked.connect(lambda: self.start_training())
        hp = labelled_row(
            ("epochs", self.t_epochs),
            ("batch", self.t_batch),
            ("images", self.t_subset),
            ("device", self.t_device),
        )
        hp.addStretch(1)
        hp.addWidget(self.t_start)
        f.addRow("Space", self.t_space)
        f.addRow("Data", row)
        f.addRow("Phases", ph)
        f.addRow(hp)
        return w

    def _extract_form(self) -> QWidget:
        w = QWidget()
        f = QFormLayout(w)
        self.e_ckpt = QComboBox(editable=True)
        self.e_ckpt.setMinimumContentsLength(24)
        b = QPushButton("File…")
        b.clicked.connect(self._browse_ckpt)
        row = QHBoxLayout()
        row.addWidget(self.e_ckpt, 1)
        row.addWidget(b)
        self.e_source = QComboBox()
        self.e_source.addItems(["current candidate", "selected candidates"])
        self.e_recal = QCheckBox("recalibrate BN on")
        self.e_recal.setChecked(True)
        self.e_recal_data = QComboBox(editable=True)
        self.e_recal_data.addItems(["builtin", "cifar-sample"])
        r2 = QHBoxLayout()
        r2.addWidget(self.e_recal)
        r2.addWidget(self.e_recal_data, 1)
        self.e_start = QPushButton("Extract")
        self.e_start.clicked.connect(lambda: self.start_extraction())
        self.bn_start = QPushButton("BN recalibration only")
        self.bn_start.setToolTip("extract with BN statistics recalibrated (a new candidate with weights)")
        self.bn_start.clicked.connect(lambda: self.start_extraction(recalibrate_only=True))
        r3 = QHBoxLayout()
        r3.addStretch(1)
        r3.addWidget(self.bn_start)
        r3.addWidget(self.e_start)
        f.addRow("Checkpoint", row)
        f.addRow("Configs of", self.e_source)
        f.addRow("BN", r2)
        f.addRow(r3)
        return w

    def _search_form(self) -> QWidget:
        w = QWidget()
        f = QFormLayout(w)
        self.s_space = QComboBox()
        self.s_space.addItems(["ofa-mbv3-w1.2", "ofa-mbv3-w1.0"])
        self.s_constraint = QDoubleSpinBox(minimum=0.01, maximum=1e6, value=25.0, decimals=2)
        self.s_latency = QComboBox(editable=True)
        self.s_latency.addItems(["note10", "macs"])
        self.s_latency.setToolTip("note10: official Note10 tables (ms); macs: constraint in MMACs")
        self.s_accuracy = QComboBox(editable=True)
        self.s_accuracy.addItems(["official", "supernet"])
        self.s_pop = QSpinBox(minimum=4, maximum=10000, value=100)
        self.s_gen = QSpinBox(minimum=1, maximum=10000, value=100)
        self.s_start = QPushButton("Start search")
        self.s_start.clicked.connect(lambda: self.start_search())
        r = labelled_row(
            ("≤", self.s_constraint),
            ("latency", self.s_latency),
            ("accuracy", self.s_accuracy),
            ("population", self.s_pop),
            ("generations", self.s_gen),
        )
        r.addStretch(1)
        r.addWidget(self.s_start)
        f.addRow("Space", self.s_space)
        f.addRow("Constraint", r)
        return w

    def _proxyless_form(self) -> QWidget:
        w = QWidget()
        f = QFormLayout(w)
        self.p_device = QComboBox(editable=True)
        self.p_device.addItems(["local", "synthetic"])
        self.p_device.setMinimumContentsLength(18)
        self.p_device.setToolTip(
            "local: this machine (torch, 1 thread; missing layer latencies are measured first);"
            " a device of the ProxylessNAS space (its table must cover the skeleton's geometry);"
            " synthetic: MACs-proportional, not a real device; or a device .json file"
        )
        self._px_devices_filled = False
        self.p_target = QDoubleSpinBox(minimum=0.001, maximum=1e5, value=2.0, decimals=3, suffix=" ms")
        self.p_target.setToolTip("latency target on the device; the result reports the reachable range")
        self.p_loss = QComboBox()
        self.p_loss.addItem("CE·(E/T)^β", "mul")
        self.p_loss.addItem("CE + λ·(E−T)/T", "add")
        self.p_loss.setToolTip("multiplicative (ProxylessNAS) or additive latency loss")
        self.p_beta = QDoubleSpinBox(minimum=0.0, maximum=10.0, value=0.6, decimals=2, singleStep=0.1)
        self.p_lam = QDoubleSpinBox(minimum=0.0, maximum=100.0, value=0.1, decimals=3, singleStep=0.05)
        self.p_lam.setEnabled(False)
        self.p_loss.currentIndexChanged.connect(self._px_loss_changed)
        r1 = QHBoxLayout()
        r1.addWidget(self.p_device, 1)
        labelled_row(
            ("target", self.p_target),
            ("loss", self.p_loss),
            ("β", self.p_beta),
            ("λ", self.p_lam),
            into=r1,
        )
        self.p_epochs = QSpinBox(minimum=1, maximum=10_000, value=10)
        self.p_warmup = QDoubleSpinBox(minimum=0.0, maximum=10_000, value=2.0, decimals=1)
        self.p_warmup.setToolTip("weight-only epochs before the architecture steps start")
        self.p_batch = QSpinBox(minimum=2, maximum=4096, value=64)
        self.p_images = QSpinBox(minimum=0, maximum=10_000_000, value=0, specialValueText="all")
        self.p_res = QSpinBox(minimum=8, maximum=512, value=32)
        self.p_data = QComboBox(editable=True)
        self.p_data.addItems(["builtin", "cifar-sample"])
        self.p_data.setToolTip(
            "builtin: the shipped CIFAR-10 sample; or an .npz file / ImageFolder directory"
        )
        r2 = labelled_row(
            ("epochs", self.p_epochs),
            ("warm-up", self.p_warmup),
            ("batch", self.p_batch),
            ("images", self.p_images),
            ("resolution", self.p_res),
            ("data", self.p_data),
        )
        r2.addStretch(1)
        self.p_arch_lr = QDoubleSpinBox(minimum=1e-5, maximum=10.0, value=0.02, decimals=4, singleStep=0.01)
        self.p_arch_every = QSpinBox(minimum=1, maximum=1000, value=1)
        self.p_arch_every.setToolTip("an architecture step every N weight steps")
        self.p_seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=0)
        self.p_skeleton = QComboBox(editable=True)
        self.p_skeleton.addItems(["default", "small"])
        self.p_skeleton.setToolTip("default: 6 searchable layers; small: 4; or a skeleton JSON file / text")
        self.p_measure = QCheckBox("measure result")
        self.p_measure.setChecked(True)
        self.p_measure.setToolTip("measure the derived architecture's latency (local devices only)")
        self.p_start = QPushButton("Start ProxylessNAS")
        self.p_start.clicked.connect(lambda: self.start_proxyless())
        r3 = labelled_row(
            ("arch lr", self.p_arch_lr),
            ("arch every", self.p_arch_every),
            ("seed", self.p_seed),
            ("skeleton", self.p_skeleton),
        )
        r3.addWidget(self.p_measure)
        r3.addStretch(1)
        r3.addWidget(self.p_start)
        f.addRow("Device", r1)
        f.addRow("Training", r2)
        f.addRow("Search", r3)
        return w

    def _px_loss_changed(self) -> None:
        mul = self.p_loss.currentData() == "mul"
        self.p_beta.setEnabled(mul)
        self.p_lam.setEnabled(not mul)

    def _fill_px_devices(self) -> None:
        """The registry is read when the tab is first shown, not when the panel is built."""
        if self._px_devices_filled:
            return
        self._px_devices_filled = True
        cur = self.p_device.currentText()
        self.p_device.clear()
        self.p_device.addItems(proxyless_devices())
        self.p_device.setCurrentText(cur)

    def _browse_data(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Image folder (one subfolder per class)")
        if d:
            self.t_data.setCurrentText(d)

    def _browse_ckpt(self) -> None:
        p, _ = QFileDialog.getOpenFileName(
            self, "Supernet checkpoint", "", "Checkpoints (*.pt *.pth);;All (*)"
        )
        if p:
            self.e_ckpt.setCurrentText(p)

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
            self.history.clear()
            self.px_history.clear()
            self._reconcile(project)
        ck = self.e_ckpt.currentText()
        self.e_ckpt.clear()
        for c in project.checkpoints():
            if self.e_ckpt.findText(c["path"]) < 0:
                self.e_ckpt.addItem(c["path"])
        if ck:
            self.e_ckpt.setCurrentText(ck)
        self._fill_table(project)

    def _reconcile(self, project: Project) -> None:
        for job in project.jobs():
            if job["status"] not in ACTIVE:
                continue
            if job["status"] == "running" and pid_alive(job.get("pid")) and job.get("run_dir"):
                proc = self._make_proc(project, job["id"])
                proc.attach()
                self.writes.submit(project.log, job["id"], "re-attached", label=f"job {job['id']} log")
            else:
                self.writes.submit(
                    record_job,
                    project,
                    job["id"],
                    dict(status="interrupted", finished=time.time()),
                    ["interrupted: the process is gone"],
                    label=f"job {job['id']} interrupted",
                    on_done=self._refill,
                )

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
            cells = [str(job["id"]), job["kind"], job["status"], self._progress_text(job), started]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(Qt.ItemDataRole.UserRole, job["id"])
                if j == 2:
                    colour = {
                        "running": QColor(30, 110, 220),
                        "done": QColor(20, 130, 40),
                        "failed": QColor(190, 30, 30),
                        "interrupted": QColor(200, 120, 0),
                        "cancelled": QColor(120, 120, 120),
                    }.get(job["status"])
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

    @staticmethod
    def _progress_text(job: dict) -> str:
        p = job.get("progress") or {}
        if job["status"] == "done" and job["kind"] in (EXTRACT, BN) and job.get("result"):
            return f"candidate #{job['result'].get('candidate_id')}"
        if job["status"] == "done" and job["kind"] == SEARCH and job.get("result"):
            r = job["result"]
            acc, lat = r.get("accuracy", 0), r.get("latency_ms", 0)
            return f"acc {acc:.4f}, latency {lat:.2f} → #{r.get('candidate_id')}"
        if job["status"] == "done" and job["kind"] == PROXYLESS and job.get("result"):
            r = job["result"]
            meas = (r.get("measured") or {}).get("measured_ms")
            text = f"predicted {r.get('predicted_ms', 0):.3f} ms"
            text += f", measured {meas:.3f} ms" if meas is not None else ""
            return text + f" (target {r.get('target_ms', 0):g}) → #{r.get('candidate_id')}"
        if not p:
            return job.get("error") or ""
        bits = [f"{p.get('phase', '')} {p.get('step', 0)}/{p.get('total') or '?'}"]
        if p.get("loss") is not None:
            bits.append(f"loss {p['loss']:.3f}")
        if job["kind"] == PROXYLESS and p.get("message"):
            bits.append(p["message"])
        if p.get("eta_s") is not None and job["status"] == "running":
            bits.append(f"ETA {p['eta_s']:.0f}s")
        if job.get("error"):
            bits.append(job["error"])
        return "  ".join(bits)

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
        self.history.pop(jid, None)
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

    def training_params(self) -> dict:
        return {
            "space": self.t_space.currentText(),
            "data": self.t_data.currentText().strip() or "builtin",
            "phases": [n for n, cb in self.t_phases.items() if cb.isChecked()],
            "epochs": self.t_epochs.value(),
            "batch_size": self.t_batch.value(),
            "subset": self.t_subset.value() or None,
            "device": self.t_device.currentText().strip() or "cpu",
        }

    def start_training(self, **overrides) -> int | None:
        params = dict(self.training_params(), **overrides)
        if not params["phases"]:
            QMessageBox.warning(self, "Training", "Choose at least one phase.")
            return None
        return self._new_job(TRAIN, params)

    def _configs(self) -> list[tuple[int | None, dict]]:
        project = self.project_getter()
        out: list[tuple[int | None, dict]] = []
        if self.e_source.currentIndex() == 1 and project is not None:
            for cid in self.selection_getter():
                c = project.candidate(cid)
                if c.config is not None and (c.space or "").startswith("ofa-mbv3"):
                    out.append((cid, c.config))
        else:
            g = self.current_graph_getter()
            if (
                g is not None
                and g.meta.get("config") is not None
                and str(g.meta.get("space", "")).startswith("ofa")
            ):
                out.append((g.meta.get("candidate_id"), g.meta["config"]))
        return out

    def start_extraction(
        self, configs=None, checkpoint: str | None = None, recalibrate_only: bool = False
    ) -> list[int]:
        ck = checkpoint or self.e_ckpt.currentText().strip()
        configs = configs if configs is not None else self._configs()
        if not ck or not configs:
            QMessageBox.warning(
                self, "Extraction", "Choose a checkpoint and an OFA-MBv3 candidate (current or selected)."
            )
            return []
        recal = (
            self.e_recal_data.currentText().strip()
            if (self.e_recal.isChecked() or recalibrate_only)
            else None
        )
        kind = BN if recalibrate_only else EXTRACT
        return [
            j
            for j in (
                self._new_job(
                    kind, {"checkpoint": ck, "config": cfg, "candidate_id": cid, "recalibrate": recal}
                )
                for cid, cfg in configs
            )
            if j is not None
        ]

    def start_search(self, **overrides) -> int | None:
        params = {
            "space": self.s_space.currentText(),
            "constraint": self.s_constraint.value(),
            "latency": self.s_latency.currentText().strip(),
            "accuracy": self.s_accuracy.currentText().strip(),
            "population": self.s_pop.value(),
            "generations": self.s_gen.value(),
        }
        params.update(overrides)
        if params["accuracy"] == "supernet" and not params.get("supernet"):
            params["supernet"] = self.e_ckpt.currentText().strip() or None
        return self._new_job(SEARCH, params)

    def proxyless_params(self) -> dict:
        """The ProxylessNAS form as job parameters (the keys `proxyless_argv` reads)."""
        return {
            "device": self.p_device.currentText().strip() or "local",
            "target_ms": self.p_target.value(),
            "loss": self.p_loss.currentData(),
            "beta": self.p_beta.value(),
            "lam": self.p_lam.value(),
            "epochs": self.p_epochs.value(),
            "warmup_epochs": self.p_warmup.value(),
            "batch_size": self.p_batch.value(),
            "train_images": self.p_images.value() or None,
            "resolution": self.p_res.value(),
            "data": self.p_data.currentText().strip() or "builtin",
            "arch_lr": self.p_arch_lr.value(),
            "arch_every": self.p_arch_every.value(),
            "seed": self.p_seed.value(),
            "skeleton": self.p_skeleton.currentText().strip() or "default",
            "measure": self.p_measure.isChecked(),
        }

    def start_proxyless(self, **overrides) -> int | None:
        """Start a ProxylessNAS search (the form's values, then `overrides`, e.g. device="local",
        target_ms=1.5, loss="add", lam=0.2, epochs=5, skeleton="small" or a dict, lut_dir=...);
        the job id. The CLI twin is `nas-explorer search proxyless`."""
        params = dict(self.proxyless_params(), **overrides)
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
        if project is None:
            return False
        job = project.job(jid)
        if job["kind"] not in RESUMABLE_KINDS or job["status"] not in RESUMABLE:
            return False
        old = self.procs.get(jid)
        if old is not None:
            old.timer.stop()
        proc = self._make_proc(project, jid)
        resume = True
        if job["kind"] == PROXYLESS and not (proc.run_dir / "checkpoint.pt").is_file():
            # stopped before its first checkpoint: start the same search afresh
            resume = False
            (proc.run_dir / "progress.jsonl").unlink(missing_ok=True)
        proc.reader = ProgressReader(proc.run_dir / "progress.jsonl")  # re-read: the plot keeps history
        self.history.pop(jid, None)
        self.px_history.pop(jid, None)
        proc.start(resume=resume)
        self._fill_table(project)
        self.select_job(jid)
        return True

    def _update_buttons(self) -> None:
        project = self.project_getter()
        jid = self.selected_job()
        job = project.job(jid) if (project is not None and jid is not None) else None
        self.cancel_btn.setEnabled(bool(job and job["status"] in ACTIVE))
        self.resume_btn.setEnabled(
            bool(job and job["kind"] in RESUMABLE_KINDS and job["status"] in RESUMABLE)
        )

    # -- progress ---------------------------------------------------------------------------
    def _hist(self, jid: int) -> dict:
        return self.history.setdefault(
            jid,
            {"x": [], "loss": [], "acc_x": [], "min": [], "max": [], "offset": 0, "phase": None, "last": 0},
        )

    def _add_record(self, jid: int, p: Progress) -> None:
        h = self._hist(jid)
        if p.message == "evaluated":
            if "min_acc" in p.extra:
                h["acc_x"].append(h["offset"] + p.step)
                h["min"].append(p.extra["min_acc"])
                h["max"].append(p.extra["max_acc"])
            return
        if p.phase != h["phase"]:
            if h["phase"] is not None:
                h["offset"] += h["last"]
            h["phase"] = p.phase
        h["last"] = p.step
        if p.loss is not None:
            h["x"].append(h["offset"] + p.step)
            h["loss"].append(p.loss)

    def _add_px_record(self, jid: int, p: Progress) -> bool:
        return self.px_history.setdefault(jid, ProxylessHistory()).add(p.phase, p.step, p.total, p.extra)

    def _kind(self, jid: int) -> str | None:
        proc = self.procs.get(jid)
        if proc is not None:
            return proc.kind
        project = self.project_getter()
        return project.job(jid)["kind"] if project is not None else None

    def _on_progress(self, jid: int, p: Progress) -> None:
        if self._kind(jid) == PROXYLESS:
            if self._add_px_record(jid, p):
                if not self._px_redraw:
                    QTimer.singleShot(0, self, self._redraw_px)  # one redraw per batch of records
                self._px_redraw.add(jid)
        else:
            self._add_record(jid, p)
        self.last_progress = p
        if jid == self.selected_job():
            self._show_progress(jid, p)
        project = self.project_getter()
        if project is not None:
            for r in range(self.table.rowCount()):
                if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == jid:
                    job = dict(project.job(jid), progress=json.loads(p.to_json()))  # may be in flight
                    self.table.item(r, 3).setText(self._progress_text(job))

    def _redraw_px(self) -> None:
        jids, self._px_redraw = self._px_redraw, set()
        sel = self.selected_job()
        if sel in jids:
            self.px_plot.show_history(self.px_history.get(sel))

    def _show_px_status(self, p: Progress | None) -> None:
        if p is None:
            return
        bits = [f"{p.phase} {p.step}/{p.total or '?'}"]
        if p.loss is not None:
            bits.append(f"CE {p.loss:.4f}")
        e = p.extra
        if e.get("expected_ms") is not None:
            bits.append(f"E[latency] {e['expected_ms']:.3f} ms, argmax path {e.get('argmax_ms', 0):.3f} ms")
            bits.append(f"target {e.get('target_ms', 0):g} ms")
        elif p.message:
            bits.append(p.message)
        if p.images_per_s:
            bits.append(f"{p.images_per_s:.0f} img/s")
        if p.eta_s is not None:
            bits.append(f"ETA {p.eta_s:.0f}s")
        self.status_label.setText("   ".join(bits))
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.step, p.total))

    def _show_progress(self, jid: int, p: Progress | None) -> None:
        if self._kind(jid) == PROXYLESS:
            self.plot_stack.setCurrentWidget(self.px_plot)
            self._show_px_status(p)
            return
        self.plot_stack.setCurrentWidget(self.plots)
        h = self._hist(jid)
        self.loss_curve.setData(h["x"], h["loss"])
        self.acc_min.setData(h["acc_x"], h["min"])
        self.acc_max.setData(h["acc_x"], h["max"])
        if p is None:
            return
        n_ph = p.extra.get("n_phases")
        ph = f"phase {p.phase}" + (f" ({p.extra.get('phase_index', 0) + 1}/{n_ph})" if n_ph else "")
        bits = [ph, f"step {p.step}/{p.total or '?'}"]
        if p.loss is not None:
            bits.append(f"loss {p.loss:.4f}")
        if p.images_per_s:
            bits.append(f"{p.images_per_s:.1f} img/s")
        if p.eta_s is not None:
            bits.append(f"ETA {p.eta_s:.0f}s")
        self.status_label.setText("   ".join(bits))
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.step, p.total))

    def _show_selected(self) -> None:
        self._update_buttons()
        jid = self.selected_job()
        project = self.project_getter()
        if jid is None or project is None:
            return
        job = project.job(jid)
        if job["kind"] == PROXYLESS:
            if jid not in self.px_history and job.get("run_dir"):
                for rec in ProgressReader(Path(job["run_dir"]) / "progress.jsonl").poll():
                    self._add_px_record(jid, rec)
            self.px_plot.show_history(self.px_history.get(jid))
        elif jid not in self.history and job.get("run_dir"):
            for rec in ProgressReader(Path(job["run_dir"]) / "progress.jsonl").poll():
                self._add_record(jid, rec)
        last = Progress.from_dict(job["progress"]) if job.get("progress") else None
        self._show_progress(jid, last)
        if last is None:
            self.status_label.setText(f"job {jid}: {job['status']}")
        if job["status"] != "running":
            self.status_label.setText(f"job {jid} {job['status']}: " + self._progress_text(job))
        self.log_view.setPlainText("\n".join(project.logs(jid)[-500:]))

    def _on_ended(self, jid: int, status: str) -> None:
        project = self.project_getter()
        if project is not None:
            self._fill_table(project)
            job = project.job(jid)
            if status == "done" and job["kind"] != TRAIN:
                self.candidatesChanged.emit()
            if job["kind"] == TRAIN:
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
