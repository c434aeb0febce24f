"""The dock panels: op palette, node inspector, errors list, metrics, devices. Each is generated
from core data (the op registry, op schemas, validation reports, metric entries)."""

from __future__ import annotations

import math

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QDrag, QFont, QPalette, QValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..arch import OPS
from ..arch.validate import Report
from .interaction import OP_MIME
from .items import category_color
from .scene import GraphScene
from .workers import first_line

GREY = QColor("#8a8a8a")
REFUSED_BG, REFUSED_FG = QColor("#ffcdd2"), QColor("#b71c1c")  # a field whose input was refused


class PaletteTree(QTreeWidget):
    """Ops grouped by category, straight from the registry; drag onto the canvas or double-click."""

    addRequested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.itemDoubleClicked.connect(self._double)
        self.populate()

    def populate(self) -> None:
        self.clear()
        cats: dict[str, QTreeWidgetItem] = {}
        for name, spec in sorted(OPS.items(), key=lambda kv: (kv[1].category, kv[0])):
            parent = cats.get(spec.category)
            if parent is None:
                parent = QTreeWidgetItem([spec.category])
                parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
                f = parent.font(0)
                f.setBold(True)
                parent.setFont(0, f)
                cats[spec.category] = parent
                self.addTopLevelItem(parent)
            item = QTreeWidgetItem([name])
            item.setData(0, Qt.ItemDataRole.UserRole, name)
            item.setToolTip(0, spec.doc)
            item.setBackground(0, QBrush(category_color(spec.category)))
            parent.addChild(item)
        self.expandAll()

    def item_for(self, op: str) -> QTreeWidgetItem | None:
        for it in self.findItems(op, Qt.MatchFlag.MatchExactly | Qt.MatchFlag.MatchRecursive):
            if it.data(0, Qt.ItemDataRole.UserRole) == op:
                return it
        return None

    def _double(self, item: QTreeWidgetItem, _col: int) -> None:
        op = item.data(0, Qt.ItemDataRole.UserRole)
        if op:
            self.addRequested.emit(op)

    def startDrag(self, actions) -> None:
        item = self.currentItem()
        op = item.data(0, Qt.ItemDataRole.UserRole) if item else None
        if not op:
            return
        mime = QMimeData()
        mime.setData(OP_MIME, op.encode())
        drag = QDrag(self)
        drag.setMimeData(mime)
        drag.exec(Qt.DropAction.CopyAction)


def allowed_text(p) -> str:
    """What a parameter accepts, for tooltips and refusals ("an integer from 1 to 65536")."""
    if p.choices is not None:
        return "one of " + ", ".join(str(c) for c in p.choices)
    what = {int: "an integer", float: "a number", bool: "true or false"}.get(p.type, "text")
    if p.min is not None and p.max is not None:
        return f"{what} from {p.min:g} to {p.max:g}"
    if p.min is not None:
        return f"{what} of at least {p.min:g}"
    if p.max is not None:
        return f"{what} of at most {p.max:g}"
    return what


class _CommitCheck:
    """For the inspector's spin boxes: Qt drops keystrokes its range rules out ("-5" became 5)
    and, on Enter or leaving the field, silently keeps the old value for text it cannot take
    ("0" below a minimum of 1). Here any text may be typed, and text Qt would not take is
    announced through `refused` before Qt restores the old value."""

    def validate(self, text: str, pos: int):
        state, text, pos = self._qt_validate(text, pos)
        if state == QValidator.State.Invalid:
            state = QValidator.State.Intermediate
        return state, text, pos

    def _check_commit(self) -> None:
        text = self.lineEdit().text()
        if self._qt_validate(text, len(text))[0] != QValidator.State.Acceptable:
            self.refused.emit(text)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self._check_commit()
        super().keyPressEvent(event)

    def focusOutEvent(self, event) -> None:
        self._check_commit()
        super().focusOutEvent(event)


class IntSpin(_CommitCheck, QSpinBox):
    refused = Signal(str)  # the committed text Qt could not take

    def _qt_validate(self, text: str, pos: int):
        return QSpinBox.validate(self, text, pos)

    def number(self, text: str) -> int | None:
        v, ok = self.locale().toInt(text.strip())
        return v if ok else None


class FloatSpin(_CommitCheck, QDoubleSpinBox):
    refused = Signal(str)

    def _qt_validate(self, text: str, pos: int):
        return QDoubleSpinBox.validate(self, text, pos)

    def number(self, text: str) -> float | None:
        v, ok = self.locale().toDouble(text.strip())
        if not ok:
            try:
                v = float(text.strip())  # "1e3" typed in a C-locale spelling
            except ValueError:
                return None
        return v


class Inspector(QWidget):
    """Widgets generated from the selected node's op schema; values are checked with the op's
    `param_errors` before they reach the graph, and refused with a message (the field marked,
    the allowed values named), never clamped or dropped silently."""

    status = Signal(str)  # refusals, for the status bar

    def __init__(self, scene: GraphScene, parent=None):
        super().__init__(parent)
        self.scene = scene
        self.node: str | None = None
        self.widgets: dict[str, QWidget] = {}
        self.refused: dict[str, str] = {}  # field -> why its last input was refused (field marked)
        lay = QVBoxLayout(self)
        self.title = QLabel("Select a node")
        self.title.setWordWrap(True)
        f = self.title.font()
        f.setBold(True)
        self.title.setFont(f)
        self.doc_label = QLabel("")
        self.doc_label.setWordWrap(True)
        self.doc_label.setStyleSheet("color: #555;")
        self.form = QFormLayout()
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #c62828;")
        lay.addWidget(self.title)
        lay.addWidget(self.doc_label)
        lay.addLayout(self.form)
        lay.addWidget(self.message)
        lay.addStretch(1)
        scene.selectionChanged.connect(self.refresh)
        scene.rebuilt.connect(self.refresh)

    def refresh(self) -> None:
        try:
            items = [i for i in self.scene.selectedItems() if hasattr(i, "is_group")]
        except RuntimeError:  # scene being torn down
            return
        g = self.scene.doc.graph
        node = items[0].key if len(items) == 1 and not items[0].is_group else None
        if node is not None and node not in g:
            node = None
        same = node == self.node and node is not None
        if same:
            self._load_values()
            return
        self.node = None  # a field committing while it is removed must not reach another node
        while self.form.rowCount():
            self.form.removeRow(0)
        self.node = node
        self.widgets = {}
        self.refused = {}
        self.message.setText("")
        if node is None:
            n = len(items)
            self.title.setText(
                f"{n} items selected"
                if n > 1
                else (f"Group {items[0].key[6:]} (double-click to expand)" if n == 1 else "Select a node")
            )
            self.doc_label.setText("")
            return
        op = g.op(node)
        spec = OPS.get(op)
        self.title.setText(f"{node}  ({op})")
        self.doc_label.setText(spec.doc if spec else "unknown op")
        if spec is None:
            return
        for p in spec.params:
            w = self._widget_for(p)
            w.setToolTip(self._tip(p))
            self.widgets[p.name] = w
            self.form.addRow(p.name, w)
        self._load_values()

    def _widget_for(self, p) -> QWidget:
        name = p.name
        if p.type is bool:
            w = QCheckBox()
            w.toggled.connect(lambda v, n=name: self.apply(n, bool(v)))
        elif p.choices is not None:
            w = QComboBox()
            for c in p.choices:
                w.addItem(str(c), c)
            w.activated.connect(lambda i, n=name, w=w: self.apply(n, w.itemData(i)))
        elif p.type is int:
            w = IntSpin()
            w.setRange(
                int(p.min) if p.min is not None else -(2**31), int(p.max) if p.max is not None else 2**31 - 1
            )
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda v, n=name: self.apply(n, int(v)))
            w.refused.connect(lambda t, n=name: self.refuse(n, t))
        elif p.type is float:
            w = FloatSpin()
            w.setDecimals(3)
            w.setRange(p.min if p.min is not None else -1e9, p.max if p.max is not None else 1e9)
            w.setSingleStep(0.1 if (p.max or 10) <= 1 else 0.5)
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda v, n=name: self.apply(n, float(v)))
            w.refused.connect(lambda t, n=name: self.refuse(n, t))
        else:
            w = QLineEdit()
            w.editingFinished.connect(lambda n=name, w=w: self.apply(n, w.text()))
        return w

    def _param(self, name: str):
        spec = OPS.get(self.scene.doc.graph.op(self.node)) if self.node is not None else None
        return spec.schema.get(name) if spec else None

    def _tip(self, p) -> str:
        return (p.help + "\n" if p.help else "") + "allowed: " + allowed_text(p)

    def _mark(self, name: str, why: str | None) -> None:
        """Show (or clear) a refusal on the field itself: tinted red, the reason in its tooltip (a
        palette, not a style sheet, so spin arrows and combo buttons keep their native look)."""
        w, p = self.widgets.get(name), self._param(name)
        if w is None or p is None:
            return
        if why is None:
            self.refused.pop(name, None)
            w.setPalette(QPalette())  # nothing set: inherit again
            w.setToolTip(self._tip(p))
        else:
            self.refused[name] = why
            pal = w.palette()
            for role in (QPalette.ColorRole.Base, QPalette.ColorRole.Button):
                pal.setColor(role, REFUSED_BG)
            pal.setColor(QPalette.ColorRole.Text, REFUSED_FG)
            pal.setColor(QPalette.ColorRole.ButtonText, REFUSED_FG)
            w.setPalette(pal)
            w.setToolTip(why + "\n" + self._tip(p))

    def _unmark_all(self) -> None:
        for name in list(self.refused):
            self._mark(name, None)

    def _load_values(self) -> None:
        if self.node is None or self.node not in self.scene.doc.graph:
            return
        params = self.scene.doc.graph.params(self.node)
        for name, w in self.widgets.items():
            v = params.get(name)
            p = self._param(name)
            bad = p.check(v) if p is not None else None  # a value set outside the inspector
            w.blockSignals(True)
            if isinstance(w, QCheckBox):
                w.setChecked(bool(v))
            elif isinstance(w, QComboBox):
                w.setCurrentIndex(w.findData(v))  # -1 (blank) rather than another choice
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                if bad is None:
                    w.setValue(v)
                else:
                    w.lineEdit().setText(str(v))  # as held, not clamped into the range
            elif isinstance(w, QLineEdit):
                w.setText(str(v))
            w.blockSignals(False)
            if bad is not None:
                self._mark(name, f"the graph holds {v!r}: {bad}")

    def refuse(self, name: str, text: str) -> None:
        """Typed text the field cannot take: say why and what is allowed; the graph is unchanged."""
        w, p, node = self.widgets.get(name), self._param(name), self.node
        if w is None or p is None or node is None:
            return
        shown = text.strip()
        v = w.number(shown) if shown else None
        if not shown:
            why = f"{name} is empty"
        elif v is None:
            why = f"{name}={shown!r} is not {'an integer' if p.type is int else 'a number'}"
        else:
            why = p.check(v) or f"{name}={shown} has more than {w.decimals()} decimals"
        kept = self.scene.doc.graph.params(node).get(name)
        msg = f"Refused: {why}. Allowed: {allowed_text(p)}; kept {kept}."
        self.message.setText(msg)
        self._mark(name, msg)
        self.status.emit(msg)

    def apply(self, name: str, value) -> bool:
        """Set one parameter through the undo stack; a value the op refuses is reported, not set."""
        node = self.node
        if node is None:
            return False
        g = self.scene.doc.graph
        spec = OPS.get(g.op(node))
        new = {**g.params(node), name: value}
        errors = spec.param_errors(new) if spec else []
        if errors:
            msg = "Refused: " + "; ".join(errors)
            self.message.setText(msg)
            self._mark(name, msg)
            self.status.emit(msg)
            self._load_values()
            return False
        self.message.setText("")
        self._unmark_all()
        if g.params(node).get(name) == value:
            return True
        self.scene.doc.edit(f"Set {node}.{name} = {value}", lambda gr: gr.set_params(node, **{name: value}))
        return True


class ErrorsList(QListWidget):
    """Validation issues; clicking one selects (and shows) its nodes."""

    nodesActivated = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWordWrap(True)
        self.itemClicked.connect(self._clicked)
        self.itemActivated.connect(self._clicked)

    def show_report(self, report: Report) -> None:
        self.clear()
        if report.ok:
            item = QListWidgetItem("No problems: the graph is valid.")
            item.setForeground(QBrush(QColor("#2e7d32")))
            self.addItem(item)
            return
        for issue in report.issues:
            item = QListWidgetItem("\u26a0  " + str(issue))
            item.setForeground(QBrush(QColor("#b71c1c")))
            nodes = list(issue.nodes) or (list(issue.edge) if issue.edge else [])
            item.setData(Qt.ItemDataRole.UserRole, nodes)
            item.setToolTip(str(issue))
            self.addItem(item)

    def _clicked(self, item: QListWidgetItem) -> None:
        nodes = item.data(Qt.ItemDataRole.UserRole)
        if nodes:
            self.nodesActivated.emit(list(nodes))


def fmt_value(key: str, v: float | None) -> str:
    if v is None:
        return "n/a"
    if key in ("params", "macs"):
        return f"{v / 1e6:.2f} M" if key == "params" else f"{v / 1e6:.1f} M"
    if key == "gradsign":
        return f"{v:,.0f}" if abs(v) < 1e12 else f"{v:.3g}"
    if key.startswith("latency:"):
        return f"{v:.2f} ms" if v < 100 else f"{v:.1f} ms"
    return f"{v:.2f}" if math.isfinite(v) else str(v)


SUMMARY = (("params", "Params"), ("macs", "MACs"), ("zen", "Zen-Score"), ("gradsign", "GradSign"))


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
        self.summary = QTableWidget(len(SUMMARY), 2)
        self.summary.setHorizontalHeaderLabels(["Metric", "Value"])
        self.summary.verticalHeader().hide()
        self.summary.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        self.summary.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.summary.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.summary.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        for r, (_, label) in enumerate(SUMMARY):
            self.summary.setItem(r, 0, QTableWidgetItem(label))
            self.summary.setItem(r, 1, QTableWidgetItem("\u2013"))
        self.summary.setFixedHeight(
            self.summary.verticalHeader().length() + self.summary.horizontalHeader().height() + 4
        )
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

    # -- state changes from the controller ---------------------------------------------------
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
        n = len(SUMMARY) + 1
        if self.summary.rowCount() != n:
            self.summary.setRowCount(n)
            self.summary.setItem(n - 1, 0, QTableWidgetItem(""))
            self.summary.setItem(n - 1, 1, QTableWidgetItem(""))
            self.summary.setFixedHeight(
                self.summary.verticalHeader().length() + self.summary.horizontalHeader().height() + 4
            )
        self.render()

    def start(self, keys: list[str]) -> None:
        if self.failure is not None:
            self.footer.setText("")
            self.footer.setToolTip("")
        self._clear_failure()
        self.stale = False
        self.banner.hide()
        self.computing = set(keys)
        self.last_result = None  # belongs to the previous graph: never recorded for this one
        self.render()

    def set_result(self, result: dict, digest: str) -> None:
        """All metrics of the graph with this digest (explorer.edits.graph_digest) arrived: what a
        kept candidate records, if it is still that graph."""
        self.last_result, self.last_digest = result, digest

    def _clear_failure(self) -> None:
        self.failure = None
        self.failed_keys = set()
        self.banner.setToolTip("")

    def put(self, key: str, entry: dict) -> None:
        self.values[key] = entry
        self.computing.discard(key)
        self.failed_keys.discard(key)
        self.render()

    def finish(self, seconds: float | None = None) -> None:
        self.computing.clear()
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
        self.failed_keys = set(self.computing)
        self.computing.clear()
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
        text = fmt_value(key, e.get("value"))
        tip = e.get("reason", "") or e.get("method", "")
        if key in ("zen", "gradsign") and e.get("method") and e.get("value") is not None:
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
        for r, (key, _) in enumerate(SUMMARY):
            text, tip, color, italic = self._cell(key)
            e = self.values.get(key) or {}
            if e.get("value") is None and e.get("reason"):
                text = f"n/a \u2013 {e['reason']}" if key not in self.computing else text
            self._set(self.summary, r, 1, text, tip or text, color, italic)
        if self.estimator is not None and self.summary.rowCount() > len(SUMMARY):
            label, key, text, tip = self.estimator
            r = len(SUMMARY)
            self._set(self.summary, r, 0, f"Estimator: {label}", "chosen in the Estimators dock", None, False)
            f = QFont(self.summary.item(r, 0).font())
            f.setBold(True)
            self.summary.item(r, 0).setFont(f)
            if any(k == key for k, _ in SUMMARY):
                row = self.summary.item([k for k, _ in SUMMARY].index(key), 1)
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
            if e.get("value") is None and e:
                conf = "n/a: " + conf
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
        for r, (k, _) in enumerate(SUMMARY):
            if k == key:
                return self.summary.item(r, 1).text()
        if key == "estimator" and self.summary.rowCount() > len(SUMMARY):
            return self.summary.item(len(SUMMARY), 1).text()
        if key.startswith("latency:") and key[8:] in self.devices:
            return self.latency.item(self.devices.index(key[8:]), 1).text()
        return ""


class DeviceList(QListWidget):
    """Checkable devices from the latency registry (the local CPU first)."""

    selectionChangedDevices = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.note = ""
        self.itemChanged.connect(lambda _i: self.selectionChangedDevices.emit(self.checked()))

    def set_devices(self, names: list[str], checked: list[str], note: str = "") -> None:
        self.blockSignals(True)
        self.clear()
        for n in names:
            it = QListWidgetItem(n)
            it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            it.setCheckState(Qt.CheckState.Checked if n in checked else Qt.CheckState.Unchecked)
            self.addItem(it)
        if note:
            it = QListWidgetItem("note: " + note)
            it.setFlags(Qt.ItemFlag.NoItemFlags)
            it.setForeground(QBrush(GREY))
            self.addItem(it)
        self.note = note
        self.blockSignals(False)

    def checked(self) -> list[str]:
        out = []
        for i in range(self.count()):
            it = self.item(i)
            if it.flags() & Qt.ItemFlag.ItemIsUserCheckable and it.checkState() == Qt.CheckState.Checked:
                out.append(it.text())
        return out

    def set_checked(self, name: str, on: bool) -> None:
        for i in range(self.count()):
            it = self.item(i)
            if it.text() == name:
                it.setCheckState(Qt.CheckState.Checked if on else Qt.CheckState.Unchecked)
