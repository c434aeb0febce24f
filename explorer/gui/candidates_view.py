"""The candidates table: every candidate of the project with its metrics, sortable and filterable.

The model keeps the metric table as numpy columns (the compare plot reads the same arrays, so the
table and the plot always show the same rows); the proxy model filters by text (name, tags, space)
and by top-k of any metric. Bulk sampling runs as a background job and refreshes the table.
A project that does not read (damaged, gone) keeps the table as it was and shows why in a banner
above it, with "Open a Recovered Copy…" for a damaged file.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from ..bulk import BulkSampleJob
from ..spaces import list_spaces
from ..store import Project, ProjectDamagedError, StoreError
from .workers import Task, first_line, run_task

FIXED = ("id", "name", "space", "tags")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1
_ROOT = QModelIndex()

# metrics where lower is better; everything else (proxies, accuracy) is better high
LOWER_BETTER_KINDS = ("latency", "complexity")


def lower_is_better(key: str) -> bool:
    return key.split(":", 1)[0] in LOWER_BETTER_KINDS


def metric_label(key: str) -> str:
    kind, _, name = key.partition(":")
    if kind == "latency":
        return f"{name} (ms)"
    if kind == "complexity":
        return {"params": "params", "macs": "MACs"}.get(name, name)
    if kind == "proxy":
        return {"zen": "Zen-Score", "gradsign": "GradSign"}.get(name, name)
    return f"{kind}:{name}" if name else key


def fmt_value(key: str, v: float) -> str:
    if v is None or not math.isfinite(v):
        return "n/a"
    if key.startswith("complexity:"):
        return f"{v / 1e6:.2f}M" if abs(v) >= 1e5 else f"{v:,.0f}"
    if key.startswith("accuracy:") and abs(v) <= 1.0:
        return f"{v * 100:.1f}%"
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"


class CandidatesModel(QAbstractTableModel):
    """All candidates of a project; metrics as float columns (NaN where missing)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.ids = np.zeros(0, dtype=np.int64)
        self.names: list[str] = []
        self.spaces: list[str] = []
        self.tags: list[str] = []
        self.metric_keys: list[str] = []
        self.values = np.zeros((0, 0))
        self.row_of: dict[int, int] = {}
        self.sort_column, self.sort_order = -1, Qt.SortOrder.AscendingOrder

    # -- data -------------------------------------------------------------------------------
    def load(self, project: Project | None) -> None:
        """Read everything first, then reset: a project that fails to read (StoreError) leaves
        the model as it was, never half reset."""
        # only the columns the table shows: reading every architecture JSON of 10,000 candidates
        # would take seconds
        rows = project.candidate_rows() if project is not None else []
        latest = project.metric_rows() if project is not None else []
        self.beginResetModel()
        self.ids = np.array([r[0] for r in rows], dtype=np.int64)
        self.names = [r[1] or "" for r in rows]
        self.spaces = [r[2] or "custom" for r in rows]
        self.tags = [", ".join(t for t in (r[3] or "").split(",") if t) for r in rows]
        self.row_of = {int(cid): i for i, cid in enumerate(self.ids)}
        order = {"complexity": 0, "proxy": 1, "accuracy": 2, "latency": 3}
        keys = {r[1] for r in latest}
        self.metric_keys = sorted(keys, key=lambda k: (order.get(k.split(":", 1)[0], 9), k))
        vals = np.full((len(rows), len(self.metric_keys)), np.nan)
        col = {k: j for j, k in enumerate(self.metric_keys)}
        for cid, key, v in latest:  # in insertion order: the latest value of a metric wins
            i = self.row_of.get(cid)
            if i is not None:
                vals[i, col[key]] = np.nan if v is None else v
        self.values = vals
        self._apply_sort()
        self.endResetModel()

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """Sort the rows with numpy (a proxy's per-pair Python comparison costs seconds for 10,000
        rows); missing metric values go last in either order."""
        self.sort_column, self.sort_order = column, order
        if column < 0 or column >= self.columnCount() or len(self.ids) == 0:
            return
        self.beginResetModel()
        self._apply_sort()
        self.endResetModel()

    def _apply_sort(self) -> None:
        column, desc = self.sort_column, self.sort_order == Qt.SortOrder.DescendingOrder
        if column < 0 or column >= self.columnCount() or len(self.ids) == 0:
            return
        if column == 0:
            key = self.ids.astype(float)
        elif column < len(FIXED):
            seq = (self.names, self.spaces, self.tags)[column - 1]
            key = np.unique([t.lower() for t in seq], return_inverse=True)[1].astype(float)
        else:
            key = self.values[:, column - len(FIXED)].copy()
        perm = np.argsort(-key if desc else key, kind="stable")  # NaN sorts last either way
        self.ids = self.ids[perm]
        self.names = [self.names[i] for i in perm]
        self.spaces = [self.spaces[i] for i in perm]
        self.tags = [self.tags[i] for i in perm]
        self.values = self.values[perm]
        self.row_of = {int(cid): i for i, cid in enumerate(self.ids)}

    def column(self, key: str) -> np.ndarray:
        if key not in self.metric_keys:
            return np.full(len(self.ids), np.nan)
        return self.values[:, self.metric_keys.index(key)]

    def key_of_column(self, col: int) -> str:
        return FIXED[col] if col < len(FIXED) else self.metric_keys[col - len(FIXED)]

    # -- Qt ---------------------------------------------------------------------------------
    def rowCount(self, parent=_ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent=_ROOT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(FIXED) + len(self.metric_keys)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            key = self.key_of_column(section)
            return key if section < len(FIXED) else metric_label(key)
        if role == Qt.ItemDataRole.ToolTipRole and section >= len(FIXED):
            key = self.key_of_column(section)
            return f"{key} ({'lower' if lower_is_better(key) else 'higher'} is better)"
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        r, c = index.row(), index.column()
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE, Qt.ItemDataRole.ToolTipRole):
            if c == 0:
                return int(self.ids[r])
            if c == 1:
                return self.names[r]
            if c == 2:
                return self.spaces[r]
            if c == 3:
                return self.tags[r]
            v = float(self.values[r, c - len(FIXED)])
            if role == SORT_ROLE:
                return v
            return fmt_value(self.metric_keys[c - len(FIXED)], v)
        if role == Qt.ItemDataRole.TextAlignmentRole and (c == 0 or c >= len(FIXED)):
            return Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        if (
            role == Qt.ItemDataRole.ForegroundRole
            and c >= len(FIXED)
            and math.isnan(self.values[r, c - len(FIXED)])
        ):
            return QColor(150, 150, 150)
        return None


class CandidatesProxy(QSortFilterProxyModel):
    """Text filter (name, tags, space) and top-k of one metric; numeric sort with missing values last."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.text = ""
        self.top_ids: set[int] | None = None
        self.selection_keeper = None

    def set_text(self, text: str) -> None:
        self.beginFilterChange()
        self.text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_top_k(self, key: str | None, k: int, higher_better: bool | None = None) -> None:
        """Keep the k best rows by `key` (0 or no key: all rows)."""
        src: CandidatesModel = self.sourceModel()
        self.beginFilterChange()
        if not key or k <= 0 or key not in src.metric_keys:
            self.top_ids = None
        else:
            v = src.column(key).copy()
            hb = (not lower_is_better(key)) if higher_better is None else higher_better
            score = -v if hb else v
            score = np.where(np.isnan(score), np.inf, score)
            order = np.argsort(score, kind="stable")
            self.top_ids = {int(src.ids[i]) for i in order[:k] if math.isfinite(score[i])}
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent) -> bool:  # noqa: N802
        src: CandidatesModel = self.sourceModel()
        if self.top_ids is not None and int(src.ids[row]) not in self.top_ids:
            return False
        if self.text:
            hay = f"{src.names[row]} {src.tags[row]} {src.spaces[row]} #{src.ids[row]}".lower()
            return all(word in hay for word in self.text.split())
        return True

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        """The source model sorts (numpy); the proxy keeps its order and only filters."""
        keeper = self.selection_keeper
        keep = keeper.selected_ids() if keeper is not None else []
        self.sourceModel().sort(column, order)
        if keeper is not None and keep:
            keeper.select_ids(keep, scroll=False)


class CandidatesView(QWidget):
    """Table + filters + bulk sampling. `selectionChangedIds` carries candidate ids."""

    selectionChangedIds = Signal(list)
    candidateActivated = Signal(int)
    candidatesChanged = Signal()
    diffRequested = Signal(int, int)
    exportRequested = Signal(list)
    keepCurrentRequested = Signal()
    recoverRequested = Signal(str)  # path of a damaged project: open a recovered copy of it

    def __init__(self, project_getter=None, parent=None):
        super().__init__(parent)
        self.project_getter = project_getter or (lambda: None)
        self.model = CandidatesModel(self)
        self.proxy = CandidatesProxy(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.selection_keeper = self
        self.task: Task | None = None
        self._muted = False

        self.filter_edit = QLineEdit(placeholderText="filter name / tags / space…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text)
        self.topk_spin = QSpinBox(minimum=0, maximum=100000, specialValueText="all")
        self.topk_spin.setPrefix("top ")
        self.topk_spin.setToolTip("keep the k best candidates by the chosen metric (all: no limit)")
        self.topk_metric = QComboBox()
        self.topk_metric.setMinimumContentsLength(12)
        self.topk_spin.valueChanged.connect(self._apply_top_k)
        self.topk_metric.currentIndexChanged.connect(self._apply_top_k)
        self.refresh_btn = QPushButton("Refresh")
        self.refresh_btn.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 2)
        top.addWidget(self.topk_spin)
        top.addWidget(QLabel("by"))
        top.addWidget(self.topk_metric, 1)
        top.addWidget(self.refresh_btn)

        self.space_combo = QComboBox()
        for s in list_spaces():
            self.space_combo.addItem(s.name)
        self.count_spin = QSpinBox(minimum=1, maximum=100000, value=200)
        self.sample_btn = QPushButton("Sample && score")
        self.sample_btn.setToolTip(
            "sample N architectures from the space and score them with the live settings"
        )
        self.sample_btn.clicked.connect(self.start_bulk)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel_bulk)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setFormat("idle")
        self.bar.setValue(0)
        bottom = QHBoxLayout()
        bottom.addWidget(QLabel("Sample"))
        bottom.addWidget(self.count_spin)
        bottom.addWidget(QLabel("from"))
        bottom.addWidget(self.space_combo)
        bottom.addWidget(self.sample_btn)
        bottom.addWidget(self.cancel_btn)
        bottom.addWidget(self.bar, 1)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.selectionModel().selectionChanged.connect(self._on_selection)
        self.table.doubleClicked.connect(self._on_double)
        self.count_label = QLabel("")
        self.open_btn = QPushButton("Open")
        self.open_btn.setToolTip("open the selected candidate in the editor (or double-click a row)")
        self.open_btn.clicked.connect(self._open_selected)
        self.diff_btn = QPushButton("Diff")
        self.diff_btn.setToolTip("side-by-side diff of the two selected candidates")
        self.diff_btn.clicked.connect(self._diff_selected)
        self.export_btn = QPushButton("Export…")
        self.export_btn.clicked.connect(lambda: self.exportRequested.emit(self.selected_ids()))
        self.keep_btn = QPushButton("Keep current")
        self.keep_btn.setToolTip("add the architecture in the editor to the project")
        self.keep_btn.clicked.connect(self.keepCurrentRequested.emit)
        actions = QHBoxLayout()
        actions.addWidget(self.count_label, 1)
        for b in (self.keep_btn, self.open_btn, self.diff_btn, self.export_btn):
            actions.addWidget(b)

        self.problem = QFrame()
        self.problem.setObjectName("projectProblem")
        self.problem.setStyleSheet(
            "#projectProblem { background: #fde8e4; border: 1px solid #d9583b; border-radius: 3px; }"
        )
        self.problem_label = QLabel()
        self.problem_label.setWordWrap(True)
        self.recover_btn = QPushButton("Open a Recovered Copy…")
        self.recover_btn.setToolTip(
            "copy the rows that still read into a new project and open it (the damaged file is only read)"
        )
        self.recover_btn.clicked.connect(lambda: self.recoverRequested.emit(self._damaged_path))
        pl = QHBoxLayout(self.problem)
        pl.setContentsMargins(6, 4, 6, 4)
        pl.addWidget(self.problem_label, 1)
        pl.addWidget(self.recover_btn)
        self.problem.hide()
        self._damaged_path = ""

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.problem)
        lay.addWidget(self.table, 1)
        lay.addLayout(actions)
        lay.addLayout(bottom)
        self.settings_getter = lambda: None
        self.devices_getter = lambda: []

    # -- data -------------------------------------------------------------------------------
    def show_problem(self, error: StoreError | None) -> None:
        """Say why the project does not read (None: hide the banner)."""
        if error is None:
            self.problem.hide()
            return
        damaged = isinstance(error, ProjectDamagedError)
        self._damaged_path = str(error.path) if damaged else ""
        self.problem_label.setText(str(error))
        self.recover_btn.setVisible(damaged)
        self.problem.show()

    def refresh(self) -> bool:
        """Reload from the project; False (the table kept, the banner says why) if it does not read."""
        keep = self.selected_ids()
        key = self.topk_metric.currentData()
        try:
            self.model.load(self.project_getter())
        except StoreError as e:
            self.show_problem(e)
            return False
        self.show_problem(None)
        self.topk_metric.blockSignals(True)
        self.topk_metric.clear()
        for k in self.model.metric_keys:
            self.topk_metric.addItem(metric_label(k), k)
        if key in self.model.metric_keys:
            self.topk_metric.setCurrentIndex(self.model.metric_keys.index(key))
        self.topk_metric.blockSignals(False)
        self._apply_top_k()
        self.table.resizeColumnsToContents()
        for c in range(self.model.columnCount()):
            self.table.setColumnWidth(c, min(max(self.table.columnWidth(c), 60), 220))
        self.select_ids(keep)
        self._update_count()
        return True

    def _apply_top_k(self) -> None:
        self.proxy.set_top_k(self.topk_metric.currentData(), self.topk_spin.value())
        self._update_count()

    def _update_count(self) -> None:
        if hasattr(self, "open_btn"):
            self._update_actions()
        self.count_label.setText(
            f"{self.proxy.rowCount()} of {self.model.rowCount()} candidates shown, "
            f"{len(self.selected_ids())} selected"
        )

    # -- selection --------------------------------------------------------------------------
    def selected_ids(self) -> list[int]:
        rows = self.table.selectionModel().selectedRows()
        return [int(self.model.ids[self.proxy.mapToSource(ix).row()]) for ix in rows]

    def select_ids(self, ids, scroll: bool = True) -> None:
        """Select these candidates (those hidden by a filter stay unselected) without echoing back."""
        sel = QItemSelection()
        first = None
        last_col = max(0, self.proxy.columnCount() - 1)
        for cid in ids:
            r = self.model.row_of.get(int(cid))
            if r is None:
                continue
            p = self.proxy.mapFromSource(self.model.index(r, 0))
            if not p.isValid():
                continue
            sel.select(p, self.proxy.index(p.row(), last_col))
            first = first or p
        self._muted = True
        try:
            self.table.selectionModel().select(
                sel, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            )
        finally:
            self._muted = False
        if scroll and first is not None:
            self.table.scrollTo(first)
        self._update_count()

    def _on_selection(self, *_):
        self._update_count()
        if not self._muted:
            self.selectionChangedIds.emit(self.selected_ids())

    def _open_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            self.candidateActivated.emit(ids[0])

    def _diff_selected(self) -> None:
        ids = self.selected_ids()
        if len(ids) >= 2:
            self.diffRequested.emit(ids[0], ids[1])

    def _update_actions(self) -> None:
        n = len(self.selected_ids())
        self.open_btn.setEnabled(n >= 1)
        self.diff_btn.setEnabled(n == 2)
        self.export_btn.setEnabled(n >= 1)

    def _on_double(self, index) -> None:
        src = self.proxy.mapToSource(index)
        self.candidateActivated.emit(int(self.model.ids[src.row()]))

    # -- bulk sampling ----------------------------------------------------------------------
    def start_bulk(self) -> Task | None:
        project = self.project_getter()
        if project is None or (self.task is not None and self.task.running):
            return None
        settings = self.settings_getter()
        try:
            n_before = project.count_candidates()
        except StoreError as e:
            self.show_problem(e)
            return None
        job = BulkSampleJob(
            str(project.path),
            self.space_combo.currentText(),
            self.count_spin.value(),
            seed=n_before * 7919,
            settings=settings.to_dict() if hasattr(settings, "to_dict") else settings,
            devices=tuple(self.devices_getter() or ()),
        )
        self.task = run_task(job.run)
        self.task.progress.connect(self._bulk_progress)
        self.task.result.connect(self._bulk_done)
        self.task.error.connect(lambda _g, text: self.bar.setFormat(f"failed: {first_line(text)}"))
        self.task.finished.connect(self._bulk_ended)
        self.sample_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self.bar.setRange(0, job.n)
        self.bar.setValue(0)
        self.bar.setFormat(f"sampling 0/{job.n}")
        return self.task

    def cancel_bulk(self) -> None:
        if self.task is not None:
            self.task.cancel()
            self.bar.setFormat("cancelling…")

    def _bulk_progress(self, _gen: int, p: dict) -> None:
        self.bar.setValue(p["step"])
        rate = p.get("candidates_per_s")
        eta = p.get("eta_s")
        extra = f"  {rate:.2f}/s" if rate else ""
        extra += f"  ETA {eta:.0f}s" if eta is not None else ""
        self.bar.setFormat(f"sampled {p['step']}/{p['total']}{extra}")
        if p["step"] % 10 == 0:
            self.refresh()

    def _bulk_done(self, _gen: int, res: dict) -> None:
        msg = f"{res['scored']} scored" + (" (stopped)" if res["stopped"] else "")
        if res.get("note"):
            msg += f" — {res['note']}"
        self.bar.setFormat(msg)
        self.bar.setToolTip(msg)

    def _bulk_ended(self, _gen: int = 0) -> None:
        self.sample_btn.setEnabled(True)
        self.cancel_btn.setEnabled(False)
        self.refresh()
        self.candidatesChanged.emit()
