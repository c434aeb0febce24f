"""The selected job in detail: a status line, a progress bar, its live plot (training curves or the
ProxylessNAS heat map) and its log. Keeps every followed job's history, so switching jobs redraws
at once and a resumed job's curves continue."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QProgressBar, QStackedWidget, QVBoxLayout, QWidget

from ...jobs import Progress, ProgressReader
from ...jobs.status import PROXYLESS, progress_text
from .plots import TrainingHistory, TrainingPlots
from .proxyless_plot import ProxylessHistory, ProxylessPlot


def _rate_bits(p: Progress, ips_digits: int = 0) -> list[str]:
    """Throughput and time left, where the job reported them."""
    rate = [f"{p.images_per_s:.{ips_digits}f} img/s"] if p.images_per_s else []
    return rate + ([f"ETA {p.eta_s:.0f}s"] if p.eta_s is not None else [])


def training_status(p: Progress) -> str:
    n_ph = p.extra.get("n_phases")
    ph = f"phase {p.phase}" + (f" ({p.extra.get('phase_index', 0) + 1}/{n_ph})" if n_ph else "")
    loss = [f"loss {p.loss:.4f}"] if p.loss is not None else []
    return "   ".join([ph, f"step {p.step}/{p.total or '?'}", *loss, *_rate_bits(p, 1)])


def proxyless_status(p: Progress) -> str:
    bits = [f"{p.phase} {p.step}/{p.total or '?'}"]
    if p.loss is not None:
        bits.append(f"CE {p.loss:.4f}")
    e = p.extra
    if e.get("expected_ms") is not None:
        bits.append(f"E[latency] {e['expected_ms']:.3f} ms, argmax path {e.get('argmax_ms', 0):.3f} ms")
        bits.append(f"target {e.get('target_ms', 0):g} ms")
    elif p.message:
        bits.append(p.message)
    return "   ".join(bits + _rate_bits(p))


class JobDetail(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.history: dict[int, TrainingHistory] = {}
        self.px_history: dict[int, ProxylessHistory] = {}
        self._px_redraw: set[int] = set()
        self.shown: int | None = None  # the job whose progress is drawn
        self.status_label = QLabel("no job selected")
        self.status_label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setFormat("%p%")
        self.plots = TrainingPlots()
        self.px_plot = ProxylessPlot()
        self.plot_stack = QStackedWidget()
        self.plot_stack.addWidget(self.plots)
        self.plot_stack.addWidget(self.px_plot)
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(2000)
        self.log_view.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.status_label)
        lay.addWidget(self.bar)
        lay.addWidget(self.plot_stack, 1)
        lay.addWidget(self.log_view, 1)

    def forget(self, jid: int | None = None) -> None:
        """Drop a job's history (it is re-read from its progress file), or every job's."""
        if jid is None:
            self.history.clear()
            self.px_history.clear()
        else:
            self.history.pop(jid, None)
            self.px_history.pop(jid, None)

    def add(self, jid: int, kind: str, p: Progress) -> None:
        """One progress record of a followed job; redraws when that job is shown."""
        if kind == PROXYLESS:
            if self.px_history.setdefault(jid, ProxylessHistory()).add(p.phase, p.step, p.total, p.extra):
                if not self._px_redraw:
                    QTimer.singleShot(0, self, self._redraw_px)  # one redraw per batch of records
                self._px_redraw.add(jid)
        else:
            self.history.setdefault(jid, TrainingHistory()).add(p)
        if jid == self.shown:
            self.show_progress(jid, kind, p)

    def _redraw_px(self) -> None:
        jids, self._px_redraw = self._px_redraw, set()
        if self.shown in jids:
            self.px_plot.show_history(self.px_history.get(self.shown))

    def _bar(self, p: Progress) -> None:
        if p.total:
            self.bar.setRange(0, p.total)
            self.bar.setValue(min(p.step, p.total))

    def show_progress(self, jid: int, kind: str, p: Progress | None) -> None:
        if kind == PROXYLESS:
            self.plot_stack.setCurrentWidget(self.px_plot)
            if p is not None:
                self.status_label.setText(proxyless_status(p))
                self._bar(p)
            return
        self.plot_stack.setCurrentWidget(self.plots)
        self.plots.show_history(self.history.setdefault(jid, TrainingHistory()))
        if p is not None:
            self.status_label.setText(training_status(p))
            self._bar(p)

    def show_job(self, job: dict, logs: list[str]) -> None:
        """A job selected in the list: its history (read from its files if not followed yet), its
        last progress, its status and log."""
        jid, kind = job["id"], job["kind"]
        self.shown = None  # drawn once below, not once per record read
        known = self.px_history if kind == PROXYLESS else self.history
        if jid not in known and job.get("run_dir"):
            for rec in ProgressReader(Path(job["run_dir"]) / "progress.jsonl").poll():
                self.add(jid, kind, rec)
        self.shown = jid
        if kind == PROXYLESS:
            self.px_plot.show_history(self.px_history.get(jid))
        last = Progress.from_dict(job["progress"]) if job.get("progress") else None
        self.show_progress(jid, kind, last)
        if last is None:
            self.status_label.setText(f"job {jid}: {job['status']}")
        if job["status"] != "running":
            self.status_label.setText(f"job {jid} {job['status']}: " + progress_text(job))
        self.log_view.setPlainText("\n".join(logs[-500:]))
