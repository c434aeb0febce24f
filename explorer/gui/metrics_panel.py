"""The Metrics dock: params, MACs, the proxies chosen in the settings (from the proxies' registry)
and the latency table of the edited graph, as the live metrics arrive; what is being recomputed,
measured, stale (invalid graph) or failed is greyed and said. Entries of another generation or
graph than the one the panel shows are dropped."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..arch.validate import Report
from ..live_metrics import COUNTS, DEFAULT_PROXIES
from ..proxies.registry import get_proxy
from .panels import GREY
from .workers import first_line


def fmt_value(key: str, v: float | None, entry: dict | None = None) -> str:
    if v is None:
        return "n/a"
    if (entry or {}).get("unit") == "percentile":  # "p87 in nb201 (100-net reference)"
        return f"p{v:.0f} {entry.get('reference', '')}".rstrip()
    if key in ("params", "macs"):
        return f"{v / 1e6:.2f} M" if key == "params" else f"{v / 1e6:.1f} M"
    if key.startswith("latency:"):
        return f"{v:.2f} ms" if v < 100 else f"{v:.1f} ms"
    if not math.isfinite(v):
        return str(v)
    if abs(v) >= 1e12 or (v and abs(v) < 1e-2):
        return f"{v:.3g}"
    return f"{v:,.0f}" if abs(v) >= 1e4 else f"{v:.2f}"


COUNT_LABELS = {"params": "Params", "macs": "MACs"}


def summary_rows(proxies) -> tuple[tuple[str, str], ...]:
    """(key, label) of the summary rows: the counts, then each proxy shown, labelled as registered."""
    return tuple((k, COUNT_LABELS[k]) for k in COUNTS) + tuple(
        (n, get_proxy(n).label) for n in proxies if n not in COUNTS
    )


class MetricsPanel(QWidget):
    """Params, MACs, proxies and the latency table. While a number is recomputed it shows
    "computing…"; while the graph is invalid the last valid numbers stay, greyed. When the
    computation fails (or its worker is lost) the numbers it did not deliver stay greyed too, with
    the reason in a banner (details in its tooltip), until the next computation starts."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.banner = QLabel("")
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("color: #b71c1c; font-weight: bold;")
        self.banner.hide()
        lay.addWidget(self.banner)
        self.rows: tuple[tuple[str, str], ...] = ()  # (key, label) of the summary rows
        self.summary = QTableWidget(0, 2)
        self.summary.setHorizontalHeaderLabels(["Metric", "Value"])
        self.summary.verticalHeader().hide()
        self.summary.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.summary.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.summary.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.summary.setTextElideMode(Qt.TextElideMode.ElideRight)
        lay.addWidget(self.summary)
        cap = QLabel("Latency per device")
        cap.setStyleSheet("font-weight: bold;")
        lay.addWidget(cap)
        self.latency = QTableWidget(0, 4)
        self.latency.setHorizontalHeaderLabels(["Device", "Latency", "Method", "Confidence"])
        self.latency.verticalHeader().hide()
        hh = self.latency.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)  # long names elide, full in tooltip
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.latency.setWordWrap(True)
        self.latency.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.latency.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        lay.addWidget(self.latency, 1)
        self.footer = QLabel("")
        self.footer.setStyleSheet("color: #666;")
        self.footer.setWordWrap(True)
        lay.addWidget(self.footer)
        self.values: dict[str, dict] = {}  # last entries of the last valid graph
        self.estimator: tuple[str, str, str, str] | None = None  # label, key, text, tip (extra row)
        self.last_result: dict | None = None  # every entry of the graph whose digest is last_digest
        self.last_digest: str | None = None
        self.computing: set[str] = set()
        self.stale = False
        self.failure: str | None = None  # full text of the last failure, until the next start
        self.failed_keys: set[str] = set()  # keys that failure left without a fresh value
        self.devices: list[str] = []
        self.generation: int | None = None  # of the computation shown (None: take any entry)
        self.digest: str | None = None  # of the graph the shown computation is of
        self.set_proxies(DEFAULT_PROXIES)

    # -- state changes from the controller ---------------------------------------------------
    def set_proxies(self, proxies) -> None:
        """One summary row per count and per proxy shown (the settings' choice), then the
        estimator's row if there is one."""
        self.rows = summary_rows(proxies)
        n = len(self.rows) + (self.estimator is not None)
        self.summary.setRowCount(n)
        for r, (_, label) in enumerate(self.rows):
            item = QTableWidgetItem(label)
            if r >= len(COUNTS):
                item.setToolTip(get_proxy(self.rows[r][0]).summary)
            self.summary.setItem(r, 0, item)
            self.summary.setItem(r, 1, QTableWidgetItem("\u2013"))
        if self.estimator is not None:
            self.summary.setItem(n - 1, 0, QTableWidgetItem(""))
            self.summary.setItem(n - 1, 1, QTableWidgetItem(""))
        self._fit_summary()
        self.render()

    def _fit_summary(self) -> None:
        self.summary.setFixedHeight(
            self.summary.verticalHeader().length() + self.summary.horizontalHeader().height() + 4
        )

    def set_devices(self, devices: list[str]) -> None:
        self.devices = list(devices)
        self.latency.setRowCount(len(devices))
        for r, d in enumerate(devices):
            item = QTableWidgetItem(d)
            item.setToolTip(d)
            self.latency.setItem(r, 0, item)
            for c in (1, 2, 3):
                self.latency.setItem(r, c, QTableWidgetItem(""))
        self.render()

    def set_estimator(self, label: str, key: str, text: str = "", tip: str = "") -> None:
        """The Estimators dock's choice as an extra summary row: live metrics (params, Zen-Score,
        GradSign) mirror their row; others show `text` (e.g. a one-shot score)."""
        self.estimator = (label, key, text, tip)
        n = len(self.rows) + 1
        if self.summary.rowCount() != n:
            self.summary.setRowCount(n)
            self.summary.setItem(n - 1, 0, QTableWidgetItem(""))
            self.summary.setItem(n - 1, 1, QTableWidgetItem(""))
            self._fit_summary()
        self.render()

    def start(self, keys: list[str], generation: int | None = None, digest: str | None = None) -> None:
        """A computation of `generation` (of the graph with `digest`) began: from now on only its
        entries are shown."""
        self.generation, self.digest = generation, digest
        if self.failure is not None:
            self.footer.setText("")
            self.footer.setToolTip("")
        self._clear_failure()
        self.stale = False
        self.banner.hide()
        self.computing = set(keys)
        # last_result stays that of the previous graph until this one's arrive: Keep compares
        # its digest with the kept graph's and says why it leaves it out (explorer.keep)
        self.render()

    def set_result(self, result: dict, digest: str) -> None:
        """All metrics of the graph with this digest (explorer.edits.graph_digest) arrived: what a
        kept candidate records, if it is still that graph."""
        self.last_result, self.last_digest = result, digest

    def _clear_failure(self) -> None:
        self.failure = None
        self.failed_keys = set()
        self.banner.setToolTip("")

    def is_current(self, entry: dict) -> bool:
        """Whether `entry` belongs to the computation shown (its generation and graph)."""
        gen, digest = entry.get("generation"), entry.get("digest")
        return (self.generation is None or gen is None or gen == self.generation) and (
            self.digest is None or digest is None or digest == self.digest
        )

    def put(self, key: str, entry: dict) -> bool:
        """Show `entry`; one of an older generation or another graph is dropped (False)."""
        if not self.is_current(entry):
            return False
        self.values[key] = entry
        if entry.get("pending"):  # its layers are being measured: still computing
            self.computing.add(key)
        else:
            self.computing.discard(key)
        self.failed_keys.discard(key)
        if self.last_result is not None and entry.get("digest") == self.last_digest:
            self.last_result[key] = entry  # a row filled after the rest (measured layers)
        self.render()
        return True

    def finish(self, seconds: float | None = None) -> None:
        """The computation's job is done; rows still measuring stay "computing"."""
        self.computing = {k for k in self.computing if (self.values.get(k) or {}).get("pending")}
        if seconds is not None:
            self.footer.setText(f"all metrics in {seconds:.2f} s")
        self.render()

    def mark_invalid(self, report: Report) -> None:
        self._clear_failure()
        self.stale = True
        self.computing.clear()
        self.last_result = None
        n = len(report.issues)
        self.banner.setText(
            f"Graph invalid ({n} problem{'s' if n != 1 else ''}, see Errors): "
            + ("showing the last valid metrics, greyed." if self.values else "no metrics yet.")
        )
        self.banner.show()
        self.render()

    def mark_failed(self, message: str) -> None:
        """The computation ended without its numbers: those it did not deliver are greyed (old
        values) or say "failed"; the reason's first line is shown, the whole text in tooltips."""
        full = message.strip() or "unknown error"
        line = first_line(full)
        self.failure = full
        measuring = {k for k in self.computing if (self.values.get(k) or {}).get("pending")}
        self.failed_keys = set(self.computing) - measuring
        self.computing = measuring  # their layers are still measured, apart from what failed
        self.last_result = None
        old = any(k in self.values for k in self.failed_keys)
        self.banner.setText(
            f"Metrics failed: {line}\n"
            + ("Greyed values are from an earlier graph. " if old else "")
            + "Edit the graph or press F5 to retry."
        )
        self.banner.setToolTip(full)
        self.banner.show()
        self.footer.setText("metrics failed: " + line)
        self.footer.setToolTip(full)
        self.render()

    # -- drawing -----------------------------------------------------------------------------
    def _cell(self, key: str) -> tuple[str, str, QColor | None, bool]:
        """(text, tooltip, colour, italic) of a value cell."""
        e = self.values.get(key)
        busy = key in self.computing
        if e is None:
            if key in self.failed_keys:
                return "failed", "metrics failed: " + first_line(self.failure or ""), GREY, False
            return ("computing\u2026" if busy else "\u2013"), "", GREY, busy
        text = fmt_value(key, e.get("value"), e)
        tip = e.get("reason", "") or e.get("method", "")
        if e.get("pending"):
            return e.get("reason") or "measuring\u2026", tip, GREY, True
        if e.get("unit") == "percentile" and e.get("value") is not None:
            parts = ", ".join(f"{k} {v:.3g}" for k, v in (e.get("parts") or {}).items() if v is not None)
            tip = f"percentile {e['reference']}, at the reference's settings" + (
                f"\n{parts}" if parts else ""
            )
        elif (
            key not in COUNTS
            and not key.startswith("latency:")
            and e.get("method")
            and e.get("value") is not None
        ):
            tip = f"settings: {e['method']}"
        if busy:
            return f"{text}  (computing\u2026)", tip, GREY, True
        if key in self.failed_keys:
            why = "not recomputed, metrics failed: " + first_line(self.failure or "")
            return text, why + ("\n" + tip if tip else ""), GREY, False
        if self.stale:
            return text, "last valid graph: " + tip, GREY, False
        if e.get("value") is None:
            return text, tip, QColor("#9e6a00"), False
        return text, tip, None, False

    def _set(self, table: QTableWidget, r: int, c: int, text: str, tip: str, color, italic: bool) -> None:
        item = table.item(r, c)
        if item is None:
            item = QTableWidgetItem()
            table.setItem(r, c, item)
        item.setText(text)
        item.setToolTip(tip)
        item.setForeground(QBrush(color) if color is not None else QBrush(self.palette().text().color()))
        f = QFont(item.font())
        f.setItalic(italic)
        item.setFont(f)

    def render(self) -> None:
        for r, (key, _) in enumerate(self.rows):
            text, tip, color, italic = self._cell(key)
            e = self.values.get(key) or {}
            if e.get("value") is None and e.get("reason"):
                text = f"n/a \u2013 {e['reason']}" if key not in self.computing else text
            self._set(self.summary, r, 1, text, tip or text, color, italic)
        if self.estimator is not None and self.summary.rowCount() > len(self.rows):
            label, key, text, tip = self.estimator
            r = len(self.rows)
            self._set(self.summary, r, 0, f"Estimator: {label}", "chosen in the Estimators dock", None, False)
            f = QFont(self.summary.item(r, 0).font())
            f.setBold(True)
            self.summary.item(r, 0).setFont(f)
            if any(k == key for k, _ in self.rows):
                row = self.summary.item([k for k, _ in self.rows].index(key), 1)
                self._set(self.summary, r, 1, row.text(), row.toolTip(), row.foreground().color(), False)
            else:
                grey = GREY if self.stale else None
                self._set(self.summary, r, 1, text or "\u2013", tip or text, grey, False)
        for r, d in enumerate(self.devices):
            key = f"latency:{d}"
            text, tip, color, italic = self._cell(key)
            e = self.values.get(key) or {}
            self._set(self.latency, r, 1, text, tip, color, italic)
            method = e.get("method", "") if e.get("value") is not None else ""
            conf = (e.get("confidence") or "n/a") if e.get("value") is not None else (e.get("reason") or "")
            if e.get("value") is None and e and not e.get("pending"):
                conf = "n/a: " + conf
            elif e.get("pending"):
                method, conf = "LUT", "the other rows are in; this one follows"
            grey = GREY if (self.stale or key in self.computing or key in self.failed_keys) else None
            self._set(self.latency, r, 2, method, method, grey, False)
            self._set(
                self.latency,
                r,
                3,
                conf,
                conf,
                grey if e.get("value") is not None else QColor("#9e6a00"),
                False,
            )
        self.latency.resizeRowsToContents()

    def text_of(self, key: str) -> str:
        """The displayed value of a metric (for tests and the status bar)."""
        for r, (k, _) in enumerate(self.rows):
            if k == key:
                return self.summary.item(r, 1).text()
        if key == "estimator" and self.summary.rowCount() > len(self.rows):
            return self.summary.item(len(self.rows), 1).text()
        if key.startswith("latency:") and key[8:] in self.devices:
            return self.latency.item(self.devices.index(key[8:]), 1).text()
        return ""
