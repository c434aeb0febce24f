"""The trust panel of the Estimators dock: how far to believe each zero-shot proxy before ranking
candidates by it.

One row per proxy of the shipped NB201 sample (#params, MACs, Zen-Score, GradSign, SynFlow, NASWOT,
ZiCo, MeCo, AZ-NAS, the ensemble): Spearman and Kendall tau against CIFAR-10 accuracy with bootstrap
95 % intervals, the median seconds per network in the sample and, after "Measure cost here", on
this machine; an interval plot to see at a glance which to trust; checkboxes choosing the
ensemble's members. Every figure is computed in a worker (explorer.proxies.trust), never on the GUI
thread; a newer request makes an older result stale (generation numbers).
"""

from __future__ import annotations

import math
import threading
from functools import partial

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..errors import ExplorerError
from ..proxies import trust
from ..proxies.ensemble import DEFAULT_MEMBERS
from .workers import first_line, new_pool, run_task

MEASURE_CELLS = 3
COLUMNS = ("Proxy", "Spearman \u03c1 [95 % CI]", "Kendall \u03c4 [95 % CI]", "s / net", "here")
TIPS = (
    "",
    "Spearman rank correlation with the NB201 accuracy; bootstrap 95 % interval over the networks",
    "Kendall tau-b with the NB201 accuracy; bootstrap 95 % interval over the networks",
    "median seconds per network in the shipped sample (1 torch thread, where it was measured)",
    "median seconds per network on this machine (press 'Measure cost here')",
)
RHO_COLOR, TAU_COLOR = QColor(30, 100, 200), QColor(220, 120, 20)


def _trust_job(data, members, resamples, progress, should_stop) -> dict:
    return trust.trust_table(data, members, resamples=resamples, progress=progress, should_stop=should_stop)


def _measure_job(arch_strs, members, space, settings, progress, should_stop) -> dict:
    res = trust.measure_costs(
        arch_strs, members, space=space, settings=settings, progress=progress, should_stop=should_stop
    )
    res["thread"] = threading.current_thread().name
    return res


class TrustPanel(QWidget):
    computed = Signal(dict)  # a trust table was shown
    measured = Signal(dict)  # costs measured on this machine were shown
    status = Signal(str)

    def __init__(self, parent=None, resamples: int = trust.RESAMPLES, path=None):
        super().__init__(parent)
        self.resamples = resamples
        self.members: tuple[str, ...] = trust.parse_members(DEFAULT_MEMBERS)
        # what "Measure cost here" times (tests shrink them): the first cells of the sample, NB201
        # C=16 N=5 and each proxy's official setting by default
        self.measure_cells, self.measure_space, self.measure_settings = MEASURE_CELLS, None, None
        self.table_data: dict | None = None  # the trust table shown
        self.costs: dict | None = None  # the last measurement here
        self.pool, self.cost_pool = new_pool(self, 1), new_pool(self, 1)
        self._gen, self._task, self._cost_task = 0, None, None
        self.error = ""
        try:
            self.data = trust.load(path)
        except ExplorerError as e:
            self.data, self.error = None, str(e)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        self.caption = QLabel("Zero-shot proxies: how far to trust each (NB201)")
        self.caption.setWordWrap(True)
        self.caption.setStyleSheet("font-weight: bold;")
        lay.addWidget(self.caption)
        self.source = QLabel("")
        self.source.setWordWrap(True)
        self.source.setStyleSheet("color: #555;")
        self.source.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        lay.addWidget(self.source)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for c, tip in enumerate(TIPS):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self.table.verticalHeader().hide()
        hh = self.table.horizontalHeader()
        for c in range(len(COLUMNS)):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(False)
        self.table.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        lay.addWidget(self.table)
        self.versus = QLabel("")
        self.versus.setWordWrap(True)
        lay.addWidget(self.versus)

        self.plot = pg.PlotWidget(background="w")
        self.plot.getPlotItem().setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.showGrid(x=True, y=False, alpha=0.25)
        self.plot.setMinimumHeight(260)
        for ax in ("left", "bottom"):
            self.plot.getAxis(ax).setTextPen("k")
            self.plot.getAxis(ax).setPen("k")
        self.plot.getAxis("bottom").setLabel("rank correlation (95 % interval)")
        self.legend = QLabel(  # outside the plot: a legend inside would cover a row in a narrow dock
            f"<span style='color:{RHO_COLOR.name()}'>\u25cf Spearman \u03c1</span> &nbsp; "
            f"<span style='color:{TAU_COLOR.name()}'>\u25cf Kendall \u03c4</span> &nbsp; "
            "<span style='color:#666'>dashed: #params, the baseline to beat</span>"
        )
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setWordWrap(True)
        lay.addWidget(self.legend)
        lay.addWidget(self.plot)

        self.members_box = QGroupBox("Ensemble members (log-rank sum within the sample)")
        grid = QGridLayout(self.members_box)
        self.member_checks: dict[str, QCheckBox] = {}
        for i, key in enumerate(trust.member_keys()):
            cb = QCheckBox(trust.LABELS[key])
            cb.setChecked(key in self.members)
            cb.setToolTip(trust.BY_KEY[key].setting)
            cb.toggled.connect(self._members_changed)
            grid.addWidget(cb, i // 3, i % 3)
            self.member_checks[key] = cb
        lay.addWidget(self.members_box)

        row = QHBoxLayout()
        self.measure_btn = QPushButton(f"Measure cost here ({MEASURE_CELLS} NB201 cells)")
        self.measure_btn.setToolTip(
            "time each proxy on the sample's first cells on a worker thread (network build included)"
        )
        self.measure_btn.clicked.connect(self.measure)
        row.addWidget(self.measure_btn)
        row.addStretch(1)
        lay.addLayout(row)
        self.cost_status = QLabel("")
        self.cost_status.setWordWrap(True)
        self.cost_status.setStyleSheet("color: #555;")
        lay.addWidget(self.cost_status)
        self._show_source()

    # -- computing ---------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self._task is not None

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.table_data is None and not self.busy:  # computed when first seen, not at startup
            self.refresh()

    def refresh(self) -> bool:
        """Recompute the figures for the current members on the worker (a running one is dropped)."""
        if self.data is None or not self.members:
            self._show()
            return False
        if self._task is not None:
            self._task.cancel()
        self._gen += 1
        self.versus.setText("computing the bootstrap intervals\u2026")
        job = partial(_trust_job, self.data, self.members, self.resamples)
        task = run_task(job, pool=self.pool, generation=self._gen)
        self._task = task
        task.result.connect(self._computed)
        task.error.connect(self._failed)
        task.finished.connect(lambda g: self._finished(g))
        return True

    def _finished(self, gen: int) -> None:
        if gen == self._gen:
            self._task = None

    def _computed(self, gen: int, table: dict) -> None:
        if gen != self._gen:  # members changed meanwhile
            return
        self.table_data = table
        self._show()
        self.computed.emit(table)

    def _failed(self, gen: int, text: str) -> None:
        if gen == self._gen:
            self.versus.setText("trust figures failed: " + first_line(text))
            self.status.emit("trust figures failed: " + first_line(text))

    def _members_changed(self, *_a) -> None:
        self.members = tuple(k for k, cb in self.member_checks.items() if cb.isChecked())  # sample order
        if self.members:
            self.refresh()
        else:
            self._gen += 1  # whatever is running is stale
            self._show()

    def set_members(self, members) -> None:
        """Check exactly `members` (one recomputation)."""
        want = set(trust.parse_members(list(members)))
        for k, cb in self.member_checks.items():
            cb.blockSignals(True)
            cb.setChecked(k in want)
            cb.blockSignals(False)
        self._members_changed()

    # -- cost here ---------------------------------------------------------------------------------
    def measure(self) -> bool:
        if self.data is None or self._cost_task is not None:
            return False
        cells = self.data.arch_strs()[: self.measure_cells]
        self.measure_btn.setEnabled(False)
        self.cost_status.setText(f"timing every proxy on {len(cells)} NB201 cell(s)\u2026")
        job = partial(
            _measure_job, cells, self.members or DEFAULT_MEMBERS, self.measure_space, self.measure_settings
        )
        task = run_task(job, pool=self.cost_pool)
        self._cost_task = task
        task.progress.connect(
            lambda _g, p: self.cost_status.setText(f"timing {p.message} ({p.step + 1}/{p.total})")
        )
        task.result.connect(lambda _g, res: self._measured(res))
        task.error.connect(lambda _g, text: self._measure_failed(first_line(text)))
        task.finished.connect(lambda _g: self._measure_finished())
        return True

    def _measured(self, res: dict) -> None:
        self.costs = res
        self.cost_status.setText(
            f"here: median of {res['cells']} cell(s), {res['threads']} torch thread(s), "
            f"{res['preset']} settings, network build included"
        )
        self._show()
        self.measured.emit(res)

    def _measure_failed(self, message: str) -> None:
        self.cost_status.setText("measuring failed: " + message)
        self.status.emit("measuring failed: " + message)

    def _measure_finished(self) -> None:
        self._cost_task = None
        self.measure_btn.setEnabled(self.data is not None)

    def shutdown(self, timeout_ms: int = 30000) -> bool:
        for t in (self._task, self._cost_task):
            if t is not None:
                t.cancel()
        self.pool.clear()
        self.cost_pool.clear()
        return self.pool.waitForDone(timeout_ms) and self.cost_pool.waitForDone(timeout_ms)

    # -- showing -----------------------------------------------------------------------------------
    def _show_source(self) -> None:
        if self.data is None:
            self.source.setText(self.error or f"No trust sample ships ({trust.DATA_PATH.name}).")
            self.measure_btn.setEnabled(False)
            self.members_box.setEnabled(False)
            return
        p = self.data.provenance
        self.source.setText(trust.source_text(self.data, self.resamples))
        self.source.setToolTip(
            "\n".join(f"{trust.LABELS[k]}: {v}" for k, v in p.get("settings", {}).get("proxies", {}).items())
            + "\n"
            + str(p.get("settings", {}).get("seconds", ""))
        )

    def _fit_height(self) -> None:
        """Every row visible without a vertical scroll bar, plus the horizontal one when a narrow
        dock needs it (it would cover the last row otherwise)."""
        t = self.table
        h = t.verticalHeader().length() + t.horizontalHeader().height() + 2 * t.frameWidth()
        if t.horizontalHeader().length() > t.viewport().width():
            h += t.horizontalScrollBar().sizeHint().height()
        t.setFixedHeight(h)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        self._fit_height()

    def _here(self) -> dict[str, float]:
        if not self.costs:
            return {}
        return trust.costs_of(self.costs["per_cell"], self.members)

    def _current(self) -> bool:
        """Whether the shown ensemble row is of the members checked now."""
        return bool(self.members) and tuple(self.table_data["members"]) == self.members

    def rows(self) -> list[dict]:
        """The rows shown, best first (none before the first computation)."""
        return trust.by_spearman(self.table_data["rows"]) if self.table_data else []

    def row_texts(self) -> list[list[str]]:
        """The table's text, row by row (tests, status)."""
        return [
            [self.table.item(r, c).text() for c in range(self.table.columnCount())]
            for r in range(self.table.rowCount())
        ]

    def _show(self) -> None:
        rows = self.rows()
        here = self._here()
        members = ", ".join(trust.LABELS[m] for m in self.members)
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            ens = row["key"] == trust.ENSEMBLE
            stale = ens and not self._current()
            label = f"Ensemble ({len(self.members)})" if ens else row["label"]
            sample_s = (
                trust.median_seconds(self.data, row["key"], self.members) if self.members or not ens else None
            )
            cells = [
                label,
                "\u2014" if stale else trust.fmt_ci(row["spearman"], row["spearman_ci"]),
                "\u2014" if stale else trust.fmt_ci(row["kendall"], row["kendall_ci"]),
                "\u2014" if ens and not self.members else trust.fmt_seconds(sample_s),
                trust.fmt_seconds(here[row["key"]]) if row["key"] in here else "",
            ]
            tip = f"log-rank sum of {members or 'no member'}" if ens else trust.BY_KEY[row["key"]].setting
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(tip if c == 0 else text)
                if c:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setData(Qt.ItemDataRole.UserRole, row["key"])
                if r == 0 or ens:
                    f = item.font()
                    f.setBold(True)
                    item.setFont(f)
                self.table.setItem(r, c, item)
        self.table.resizeRowsToContents()
        self._fit_height()
        if self.table_data and self.members:
            self.versus.setText(trust.versus_text(self.table_data))
            verdict = self.table_data["ensemble_vs_best"]["spearman"]["verdict"]
            color = {"better": "#1a7a1a", "worse": "#b22222"}.get(verdict, "#555")
            self.versus.setStyleSheet(f"color: {color};")
        elif self.table_data:
            self.versus.setText("Choose at least one ensemble member.")
        self._plot(rows)

    def _plot(self, rows: list[dict]) -> None:
        self.plot.clear()
        if not rows:
            return
        n = len(rows)
        ticks, lows = [], []
        for stat, color, dy in (("spearman", RHO_COLOR, 0.15), ("kendall", TAU_COLOR, -0.15)):
            xs, ys, left, right = [], [], [], []
            for i, row in enumerate(rows):
                v, (lo, hi) = row[stat], row[f"{stat}_ci"]
                stale = row["key"] == trust.ENSEMBLE and not self._current()
                if stale or not all(math.isfinite(t) for t in (v, lo, hi)):
                    continue
                xs.append(v)
                ys.append(n - 1 - i + dy)
                left.append(v - lo)
                right.append(hi - v)
                lows.append(lo)
            if not xs:
                continue
            pen = pg.mkPen(color, width=2)
            xs, ys, left, right = (np.asarray(a, dtype=float) for a in (xs, ys, left, right))
            self.plot.addItem(pg.ErrorBarItem(x=xs, y=ys, left=left, right=right, beam=0.12, pen=pen))
            self.plot.plot(xs, ys, pen=None, symbol="o", symbolSize=7, symbolBrush=color, symbolPen=None)
        for i, row in enumerate(rows):
            label = f"Ensemble ({len(self.members)})" if row["key"] == trust.ENSEMBLE else row["label"]
            ticks.append((n - 1 - i, label))
        self.plot.getAxis("left").setTicks([ticks])
        params = next((r for r in rows if r["key"] == "params"), None)
        for stat, color, sym, pos in (
            ("spearman", RHO_COLOR, "\u03c1", 0.04),
            ("kendall", TAU_COLOR, "\u03c4", 0.96),
        ):
            if params is None or not math.isfinite(params[stat]):
                continue
            faint = QColor(color)
            faint.setAlpha(150)
            line = pg.InfiniteLine(  # the baseline every proxy must beat
                pos=params[stat],
                angle=90,
                pen=pg.mkPen(faint, width=1, style=Qt.PenStyle.DashLine),
                label=f"#params {sym}",
                labelOpts={"position": pos, "color": color},
            )
            self.plot.addItem(line)
        lo = min(lows) if lows else 0.0
        self.plot.setXRange(max(-1.0, lo - 0.03), 1.0, padding=0)
        self.plot.setYRange(-0.6, n - 0.4, padding=0)
