"""The small dock lists: validation errors (click to select their nodes) and the latency devices
(checkable, from the registry). Each is generated from core data."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QListWidget, QListWidgetItem

from ..arch.validate import Report

GREY = QColor("#8a8a8a")


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


class DeviceList(QListWidget):
    """Checkable devices from the latency registry (the local CPU first); those that do not cover
    the edited graph's space are greyed, with what they do cover in their tooltip."""

    selectionChangedDevices = Signal(list)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.note = ""
        self.names: list[str] = []  # in the registry's order
        self.space: str | None = None  # the space coverage was last marked for
        self.marked = False
        self.itemChanged.connect(lambda _i: self.selectionChangedDevices.emit(self.checked()))

    def mark_coverage(self, space: str | None, covering: set[str]) -> None:
        """Grey the devices not in `covering` (the names that predict graphs of `space`), listed
        after those that do (each group in its own order; the note stays last)."""
        self.space, self.marked = space, True
        self.blockSignals(True)
        items = [self.takeItem(0) for _ in range(self.count())]
        checkable = [it for it in items if it.flags() & Qt.ItemFlag.ItemIsUserCheckable]
        rest = [it for it in items if not it.flags() & Qt.ItemFlag.ItemIsUserCheckable]
        rank = {n: i for i, n in enumerate(self.names)}
        for it in (
            sorted(checkable, key=lambda it: (it.text() not in covering, rank.get(it.text(), 0))) + rest
        ):
            self.addItem(it)
        for i in range(self.count()):
            it = self.item(i)
            if not it.flags() & Qt.ItemFlag.ItemIsUserCheckable:
                continue
            ok = it.text() in covering
            it.setForeground(QBrush(self.palette().text().color() if ok else GREY))
            what = f"space {space}" if space else "a graph outside the search spaces"
            it.setToolTip(it.text() + ("" if ok else f"\ndoes not predict {what}: its row says n/a"))
        self.blockSignals(False)

    def set_devices(self, names: list[str], checked: list[str], note: str = "") -> None:
        self.blockSignals(True)
        self.clear()
        self.names = list(names)
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
