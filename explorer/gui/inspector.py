"""The node inspector: widgets generated from the selected node's op schema. Values are checked with
the op's own rules before they reach the graph (through the undo stack), and what it refuses is
said on the field, with what is allowed, never clamped or dropped silently."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QPalette, QValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..arch import OPS
from .scene import GraphScene

REFUSED_BG, REFUSED_FG = QColor("#ffcdd2"), QColor("#b71c1c")  # a field whose input was refused


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
