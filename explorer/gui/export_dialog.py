"""Export chosen candidates (arch JSON + state_dict, TorchScript, ONNX, each with a model card).

Runs `explorer.export.export` on a pool thread; the results table shows every file written, the
max abs difference against eager torch (ONNX checked in onnxruntime on real images) and whether the
weights were freshly initialised (a candidate without weights).
"""

from __future__ import annotations

import re
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from ..export import FORMATS
from ..store import Project
from .workers import Task, first_line, run_task

SUFFIX = {"torchscript": ".pt", "onnx": ".onnx"}


def card_metrics(project: Project, cid: int) -> dict:
    """The candidate's stored metrics in the shape the model card expects."""
    out: dict = {"proxies": {}, "latency": {}, "accuracy": {}}
    for m in project.metrics(cid):
        if m["value"] is None:
            continue
        if m["kind"] == "proxy":
            out["proxies"][m["name"]] = round(m["value"], 6)
        elif m["kind"] == "latency":
            out["latency"][m["name"]] = {"ms": round(m["value"], 3), "method": m["method"]}
        elif m["kind"] == "accuracy":
            out["accuracy"][m["name"]] = round(m["value"], 6)
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "candidate"


def export_candidates(
    project_path: str,
    ids: list[int],
    formats: list[str],
    out_dir: str,
    progress=None,
    should_stop=lambda: False,
) -> list[dict]:
    """Export each candidate in each format under out_dir/<id>_<name>/; returns one row per file set."""
    from ..export import export

    project = Project(project_path)
    rows = []
    total = len(ids) * len(formats)
    k = 0
    for cid in ids:
        c = project.candidate(cid)
        base = Path(out_dir) / f"{cid}_{_slug(c.name)}"
        graph = c.graph
        metrics = card_metrics(project, cid)
        for fmt in formats:
            if should_stop():
                return rows
            out = base / "state_dict" if fmt == "state-dict" else base / f"model{SUFFIX[fmt]}"
            base.mkdir(parents=True, exist_ok=True)
            weights = c.weights_path if c.weights_path and Path(c.weights_path).exists() else None
            try:
                res = export(graph, fmt, out, weights=weights, metrics=metrics)
                rows.append(
                    {
                        "candidate": cid,
                        "format": fmt,
                        "paths": [str(p) for p in res.paths],
                        "card": str(res.card),
                        "max_abs_diff": res.max_abs_diff,
                        "fresh": res.freshly_initialised,
                        "error": "",
                    }
                )
            except Exception as e:  # noqa: BLE001 - one failing export must not stop the others
                rows.append(
                    {
                        "candidate": cid,
                        "format": fmt,
                        "paths": [],
                        "card": "",
                        "max_abs_diff": None,
                        "fresh": weights is None,
                        "error": f"{e.__class__.__name__}: {e}",
                    }
                )
            k += 1
            if progress is not None:
                progress({"step": k, "total": total, "candidate": cid, "format": fmt})
    project.close()
    return rows


class ExportDialog(QDialog):
    def __init__(self, project: Project, ids: list[int], parent=None, out_dir: str | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export candidates")
        self.project, self.ids = project, list(ids)
        self.task: Task | None = None
        self.results: list[dict] = []
        names = []
        for cid in self.ids[:6]:
            c = project.candidate(cid)
            names.append(f"#{cid} {c.name}" + ("" if c.weights_path else " (no weights: fresh init)"))
        more = f" and {len(self.ids) - 6} more" if len(self.ids) > 6 else ""
        head = QLabel(f"{len(self.ids)} candidate(s): " + "; ".join(names) + more)
        head.setWordWrap(True)
        self.checks = {f: QCheckBox(f) for f in FORMATS}
        fl = QHBoxLayout()
        fl.addWidget(QLabel("Formats:"))
        for cb in self.checks.values():
            cb.setChecked(True)
            fl.addWidget(cb)
        fl.addStretch(1)
        self.out_edit = QLineEdit(out_dir or str(project.path.with_name(project.path.stem + "_export")))
        browse = QPushButton("Folder…")
        browse.clicked.connect(self._browse)
        ol = QHBoxLayout()
        ol.addWidget(QLabel("Into:"))
        ol.addWidget(self.out_edit, 1)
        ol.addWidget(browse)
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m")
        self.bar.setValue(0)
        self.table = QTableWidget(0, 5)
        self.table.setHorizontalHeaderLabels(
            ["candidate", "format", "max abs diff", "weights", "file / error"]
        )
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.buttons = QDialogButtonBox()
        self.export_btn = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.close_btn = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_btn.clicked.connect(self.start)
        self.close_btn.clicked.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(head)
        lay.addLayout(fl)
        lay.addLayout(ol)
        lay.addWidget(self.bar)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.buttons)
        self.resize(820, 420)

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export into")
        if d:
            self.out_edit.setText(d)

    def formats(self) -> list[str]:
        return [f for f, cb in self.checks.items() if cb.isChecked()]

    def start(self) -> Task | None:
        fmts = self.formats()
        if not fmts or not self.ids or (self.task is not None and self.task.running):
            return None
        out = self.out_edit.text().strip()
        path = str(self.project.path)
        ids = list(self.ids)
        self.bar.setRange(0, len(ids) * len(fmts))
        self.bar.setValue(0)
        self.export_btn.setEnabled(False)
        self.task = run_task(lambda progress, stop: export_candidates(path, ids, fmts, out, progress, stop))
        self.task.progress.connect(lambda _g, p: self.bar.setValue(p["step"]))
        self.task.result.connect(lambda _g, rows: self._done(rows))
        self.task.error.connect(lambda _g, text: self._done([self._failed_row(first_line(text))]))
        self.task.finished.connect(lambda _g: self.export_btn.setEnabled(True))
        return self.task

    @staticmethod
    def _failed_row(msg: str) -> dict:
        """The one result row of an export that failed as a whole."""
        row = {"candidate": "", "format": "", "paths": [], "card": "", "max_abs_diff": None}
        return dict(row, fresh=False, error=msg)

    def _done(self, rows: list[dict]) -> None:
        self.results = rows
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            diff = "" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.2e}"
            cells = [
                str(r["candidate"]),
                r["format"],
                diff,
                "fresh init" if r["fresh"] else "trained",
                r["error"] or (r["paths"][0] if r["paths"] else ""),
            ]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if r["error"]:
                    item.setForeground(Qt.GlobalColor.red)
                self.table.setItem(i, j, item)
