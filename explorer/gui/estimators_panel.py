"""The Estimators dock: pick how a candidate's accuracy is estimated, see how well each estimator
ranks architectures (the stored Spearman table, so users know which one to trust), and score the
current NB201 cell with a one-shot supernet or a SMASH hypernetwork checkpoint on a worker thread.
Below, the zero-shot proxies' trust panel (explorer/gui/trust_panel.py): Spearman and Kendall with
bootstrap intervals, cost per network and the ensemble's members.

The chosen estimator's value is published through `rowChanged(label, key, text, tip)` so the
Metrics panel can show it as an extra row; zero-shot estimators mirror the live metrics there.
"""

from __future__ import annotations

import math
import threading
from functools import partial

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from ..arch import ArchGraph
from ..estimators.ranking import CELL_SPACE, ESTIMATORS, load_ranking
from ..proxies.registry import proxy_names
from .trust_panel import TrustPanel
from .workers import first_line, new_pool, run_task

SCORED = ("oneshot", "smash")  # estimators this dock can run itself (from a checkpoint)
TRUST_NOTE = (
    "At CPU budgets prefer a zero-shot proxy (the trust table below says which ranks best): one-shot "
    "and SMASH, trained for minutes here, rank cells worse than #params; trust them only with a larger "
    "training budget."
)


def is_live(key: str) -> bool:
    """Whether the live metrics compute this estimator already: #params, and every registered
    proxy (the registry says which; the Metrics settings say which are shown)."""
    return key == "params" or key in proxy_names()


def space_of(graph: ArchGraph) -> str:
    return str(graph.meta.get("space") or "custom")


def estimators_for(space: str) -> list[dict]:
    """ESTIMATORS usable on this space ("any…" entries everywhere, space-specific ones on their space)."""
    return [e for e in ESTIMATORS if e["spaces"] == space or str(e["spaces"]).startswith("any")]


def nb201_arch(graph: ArchGraph) -> str | None:
    """The NB201 cell the graph holds (read from its nodes, not trusted from meta), or None. The
    skeleton may differ from the space's C=16, N=5 (the estimator brings its own), so this reads the
    cell (`read_config`) rather than `decode`, which also requires the space's whole network."""
    if space_of(graph) != CELL_SPACE:
        return None
    from ..errors import ExplorerError
    from ..spaces import get_space

    try:
        return get_space(CELL_SPACE).read_config(graph)["arch_str"]
    except (ExplorerError, KeyError, ValueError):
        return None


def _score_job(kind: str, path: str, arch: str, n_val: int, calib: int, _progress, _should_stop) -> dict:
    """The worker's side: score one cell, saying which thread did it."""
    res = score_checkpoint(kind, path, arch, n_val, calib)
    res["thread"] = threading.current_thread().name
    return res


def score_checkpoint(kind: str, path: str, arch: str, n_val: int = 500, calib: int = 128) -> dict:
    """{"val_acc", "val_loss", "arch_str", "skeleton", "data", "n_val"} of one NB201 cell."""
    from ..estimators._common import cifar_split

    if kind == "oneshot":
        from ..estimators.oneshot_nb201 import load_supernet, score_archs

        net, cfg = load_supernet(path)
        split = cifar_split(n_train=calib, n_val=n_val)
        res = score_archs(net, [arch], split, calib_images=calib)[0]
    elif kind == "smash":
        from ..estimators.smash import load_smash
        from ..estimators.smash import score_archs as smash_score

        net, cfg = load_smash(path)
        split = cifar_split(n_train=8, n_val=n_val)
        res = smash_score(net, [arch], split)[0]
    else:
        raise ValueError(f"cannot score with {kind!r} from a checkpoint")
    res.update(skeleton=f"C={cfg.C}, N={cfg.N}", data=split.source, n_val=int(len(split.val_y)))
    return res


class EstimatorsPanel(QWidget):
    status = Signal(str)
    rowChanged = Signal(str, str, str, str)  # label, estimator key, text (for non-live), tooltip
    scored = Signal(dict)

    def __init__(self, parent=None, n_val: int = 500, calib_images: int = 128, trust_resamples: int = 1000):
        super().__init__(parent)
        self.n_val, self.calib_images = n_val, calib_images
        self.graph: ArchGraph | None = None
        self.space = ""
        self.results: dict[tuple[str, str, str], dict] = {}  # (kind, checkpoint, arch) -> score
        self.pool = new_pool(self, 1)
        self._rows: list[dict] = []  # the ranking rows shown
        self.busy = False

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()  # a short dock scrolls instead of squashing the form
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        outer.addWidget(scroll)
        body = QWidget()
        scroll.setWidget(body)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        row.addWidget(QLabel("Estimator:"))
        self.choice = QComboBox()
        self.choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.choice.setMinimumContentsLength(14)
        row.addWidget(self.choice, 1)
        lay.addLayout(row)
        self.needs = QLabel("")
        self.needs.setWordWrap(True)
        self.needs.setStyleSheet("color: #555;")
        lay.addWidget(self.needs)

        self.score_box = QGroupBox("Score the current cell from a checkpoint")
        sb = QVBoxLayout(self.score_box)
        prow = QHBoxLayout()
        self.path = QLineEdit()
        self.path.setPlaceholderText("one-shot or SMASH checkpoint (.pt)")
        self.browse = QToolButton()
        self.browse.setText("\u2026")
        self.browse.setToolTip("choose a checkpoint file")
        prow.addWidget(self.path, 1)
        prow.addWidget(self.browse)
        sb.addLayout(prow)
        self.score_btn = QPushButton("Score current candidate")
        sb.addWidget(self.score_btn)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        self.result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sb.addWidget(self.result)
        lay.addWidget(self.score_box)

        self.caption = QLabel("")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("font-weight: bold;")
        lay.addWidget(self.caption)
        self.note = QLabel("")  # which estimator to trust: above the table, never scrolled away
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #7a4b00;")
        lay.addWidget(self.note)
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Estimator", "\u03c1", "vs params", "Budget"])
        for c, tip in enumerate(
            (
                "",
                "Spearman rank correlation with the benchmark accuracy",
                "\u03c1 relative to #params' \u03c1 (above 1: ranks better than counting parameters)",
                "training budget behind the number (full text in the cell's tooltip and below)",
            )
        ):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.verticalHeader().hide()
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lay.addWidget(self.table)
        self.budget = QLabel("")
        self.budget.setWordWrap(True)
        self.budget.setStyleSheet("color: #555;")
        lay.addWidget(self.budget)
        self.trust = TrustPanel(resamples=trust_resamples)  # the zero-shot proxies' trust table
        self.trust.status.connect(self.status)
        lay.addSpacing(8)
        lay.addWidget(self.trust)
        lay.addStretch(1)

        self.choice.currentIndexChanged.connect(self._choice_changed)
        self.path.textChanged.connect(self._update_controls)
        self.browse.clicked.connect(self.choose_checkpoint)
        self.score_btn.clicked.connect(self.score_current)

    # -- state -------------------------------------------------------------------------------
    def current_key(self) -> str:
        return str(self.choice.currentData() or "")

    def select(self, key: str) -> bool:
        i = self.choice.findData(key)
        if i >= 0:
            self.choice.setCurrentIndex(i)
        return i >= 0

    def set_graph(self, graph: ArchGraph) -> None:
        """The editor's graph changed: refresh the choice (per space), ranking and value row."""
        self.graph = graph
        space = space_of(graph)
        if space != self.space:
            self.space = space
            keep = self.current_key()
            self.choice.blockSignals(True)
            self.choice.clear()
            for e in estimators_for(space):
                self.choice.addItem(e["label"], e["key"])
                self.choice.setItemData(
                    self.choice.count() - 1, f"{e['kind']}; needs {e['needs']}", Qt.ItemDataRole.ToolTipRole
                )
            self.choice.blockSignals(False)
            if not self.select(keep):
                self.choice.setCurrentIndex(0)
            self._show_ranking()
        self._choice_changed()

    def _spec(self) -> dict:
        return next((e for e in ESTIMATORS if e["key"] == self.current_key()), {})

    def _choice_changed(self, *_a) -> None:
        spec = self._spec()
        self.needs.setText(f"{spec.get('kind', '')}: needs {spec.get('needs', '')}" if spec else "")
        self.score_box.setVisible(self.current_key() in SCORED)
        self._update_controls()
        self._highlight()
        self._publish()

    def _update_controls(self, *_a) -> None:
        arch = nb201_arch(self.graph) if self.graph is not None else None
        ok = self.current_key() in SCORED and bool(self.path.text().strip()) and arch is not None
        self.score_btn.setEnabled(ok and not self.busy)
        if self.current_key() in SCORED and arch is None:
            self.score_btn.setToolTip("the current graph is not an NB201 cell network")
        elif not self.path.text().strip():
            self.score_btn.setToolTip("choose a checkpoint first")
        else:
            self.score_btn.setToolTip(f"score cell {arch} on a worker thread")
        self._publish()

    def _result_now(self) -> dict | None:
        arch = nb201_arch(self.graph) if self.graph is not None else None
        return self.results.get((self.current_key(), self.path.text().strip(), arch or ""))

    def value_text(self) -> tuple[str, str]:
        """(text, tooltip) of the selected estimator for the current graph (non-live estimators)."""
        key = self.current_key()
        if is_live(key):
            return "", "live metric"
        if key in SCORED:
            if self.busy:
                return "scoring\u2026", ""
            r = self._result_now()
            if r:
                tip = f"{r['arch_str']} on {r['n_val']} held-out images, {r['skeleton']} ({r['data']})"
                return f"val acc {r['val_acc']:.3f}, loss {r['val_loss']:.3f}", tip
            if self.graph is not None and nb201_arch(self.graph) is None:
                return "n/a \u2013 NB201 cells only", ""
            return "not scored \u2013 choose a checkpoint, Score", ""
        if key == "eas":
            return "n/a in the editor \u2013 grow + fine-tune runs as a job", ""
        return "", ""

    def _publish(self) -> None:
        spec = self._spec()
        if spec:
            text, tip = self.value_text()
            self.rowChanged.emit(spec["label"], spec["key"], text, tip)

    # -- ranking table -------------------------------------------------------------------------
    def _show_ranking(self) -> None:
        table = load_ranking(self.space)
        measured_on = self.space
        if table is None:  # the only space measured so far; label it as such
            table, measured_on = load_ranking(CELL_SPACE), CELL_SPACE
        rows = (table or {}).get("rows", [])
        self._rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            rho = row.get("spearman")
            ratio = row.get("ratio_to_params")
            cells = [
                row.get("label", row.get("estimator", "")),
                f"{rho:+.3f}" if isinstance(rho, (int, float)) and math.isfinite(rho) else "n/a",
                f"{ratio:.2f}\u00d7" if isinstance(ratio, (int, float)) else "",
                row.get("budget", ""),
            ]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                item.setToolTip(str(text))
                if c in (1, 2):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setData(Qt.ItemDataRole.UserRole, row.get("estimator"))
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        self.table.setFixedHeight(
            self.table.verticalHeader().length() + self.table.horizontalHeader().height() + 4
        )
        if table:
            other = "" if measured_on == self.space else " (measured on nb201; none for this space)"
            self.caption.setText(
                f"Ranking quality: Spearman \u03c1 vs CIFAR-10 accuracy on {table.get('n_cells', '?')} "
                f"NB201 cells{other}"
            )
            machine = str(table.get("machine", "?"))
            short = machine.split("(")[0].split(";")[0].strip().rstrip(",")
            self.note.setText(f"{TRUST_NOTE}\nMeasured {table.get('date', '?')} on {short}.")
            self.note.setToolTip(f"{machine}\n{table.get('target', '')}")
        else:
            self.caption.setText("No ranking table measured yet (benchmarks/estimator_ranking.py).")
            self.note.setText(TRUST_NOTE)
        self._highlight()

    def ranking_rows(self) -> list[tuple[str, str]]:
        """(label, Spearman text) of each displayed ranking row (tests, status)."""
        return [
            (self.table.item(r, 0).text(), self.table.item(r, 1).text()) for r in range(self.table.rowCount())
        ]

    def _highlight(self) -> None:
        key = self.current_key()
        budgets = [r.get("budget", "") for r in self._rows if r.get("estimator") == key]
        label = self._spec().get("label", key)
        self.budget.setText(f"Budget behind {label}'s \u03c1: {budgets[0]}" if budgets else "")
        self.budget.setVisible(bool(budgets))
        for r in range(self.table.rowCount()):
            for c in range(self.table.columnCount()):
                item = self.table.item(r, c)
                if item is not None:
                    f = item.font()
                    f.setBold(item.data(Qt.ItemDataRole.UserRole) == key)
                    item.setFont(f)

    # -- scoring -------------------------------------------------------------------------------
    def choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Checkpoint (one-shot supernet or SMASH)", self.path.text(), "Checkpoints (*.pt);;All (*)"
        )
        if path:
            self.path.setText(path)

    def score_current(self) -> bool:
        """Start scoring the current cell on the dock's worker thread (never the GUI thread)."""
        key, path = self.current_key(), self.path.text().strip()
        arch = nb201_arch(self.graph) if self.graph is not None else None
        if key not in SCORED or not path or arch is None or self.busy:
            return False
        self.busy = True
        self.result.setText(f"scoring {arch} with {self._spec().get('label', key)}\u2026")
        self._update_controls()
        job = partial(_score_job, key, path, arch, self.n_val, self.calib_images)
        task = run_task(job, pool=self.pool)
        task.result.connect(lambda _g, res, k=key, p=path, a=arch: self._done(k, p, a, res))
        task.error.connect(lambda _g, text: self._failed(first_line(text)))
        return True

    def _done(self, key: str, path: str, arch: str, res: dict) -> None:
        self.busy = False
        self.results[(key, path, arch)] = res
        self.result.setText(
            f"val_acc {res['val_acc']:.4f}, val_loss {res['val_loss']:.4f}\n"
            f"checkpoint skeleton {res['skeleton']}, {res['n_val']} held-out images"
        )
        self.result.setToolTip(f"{res['arch_str']}\n{res['data']}")
        self.status.emit(f"{key} score: val acc {res['val_acc']:.4f}")
        self._update_controls()
        self.scored.emit(res)

    def _failed(self, message: str) -> None:
        self.busy = False
        self.result.setText("scoring failed: " + message)
        self.status.emit("scoring failed: " + message)
        self._update_controls()

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        trust_done = self.trust.shutdown(timeout_ms)
        self.pool.clear()
        return self.pool.waitForDone(timeout_ms) and trust_done
