"""The op palette: the registry's ops by category, dragged onto the canvas or double-clicked."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QBrush, QDrag
from PySide6.QtWidgets import QAbstractItemView, QTreeWidget, QTreeWidgetItem

from ..arch import OPS
from .interaction import OP_MIME
from .items import category_color


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
