"""How the editor answers the mouse and keyboard: drag from an output port to connect, drag nodes
to move them (one undoable move), a node's context menu (collapse, Net2Net growth, delete), and the
view's zoom, pan, palette drops and keys. Every change goes through the scene's edit commands."""

from __future__ import annotations

from PySide6.QtCore import QPointF, Qt, QTimer
from PySide6.QtGui import QKeySequence, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import QGraphicsPathItem, QGraphicsView, QInputDialog, QMenu

from ..arch import ArchGraph
from ..edits import growth_options
from .items import SELECTED, NodeItem, PortItem

MARGIN = 40.0  # scene margin around the items; zoom-to-fit shows exactly this rect (no scrollbars)
OP_MIME = "application/x-nas-explorer-op"


class SceneGestures:
    """Mixed into the editor's QGraphicsScene, which has `doc`, `nodes`, `groups()`, `status`, the
    edit commands, and the gesture state `_drag_src`, `_drag_line`, `_press_pos`, `last_menu`."""

    # -- the node menu -------------------------------------------------------------------------
    def node_menu(self, item: NodeItem, screen_pos) -> None:
        views = self.views()
        menu = QMenu(views[0] if views else None)  # parented: status tips reach the main window
        menu.setToolTipsVisible(True)
        key, selected = item.key, item.isSelected()
        if item.is_group:
            menu.addAction("Expand " + key[6:], lambda: self.set_collapsed(key[6:], False))
        else:
            grp = self.doc.graph.g.nodes[key].get("group")
            if grp:
                menu.addAction(f"Collapse {grp}", lambda: self.set_collapsed(grp, True))
            self.add_net2net_actions(menu, key)
        # edits rebuild the scene (deleting this item): run them after this handler has returned
        menu.addAction(
            "Delete",
            lambda: QTimer.singleShot(
                0, self.delete_selected if selected else lambda: self.delete_keys([key])
            ),
        )
        self.last_menu = menu
        menu.exec(screen_pos)
        self.last_menu = None
        menu.deleteLater()

    def add_net2net_actions(self, menu: QMenu, nid: str) -> None:
        """Widen to N and Deepen here, disabled with the reason when the transform would change
        the network's function (tooltip and status tip)."""
        opts = growth_options(self.doc.graph, nid, valid=self.doc.report.ok)
        menu.addSeparator()
        wide = menu.addAction("Widen to N (keep function)\u2026")
        wide.triggered.connect(
            lambda: QTimer.singleShot(0, lambda: self.widen_node(nid, None, opts.suggested_width))
        )
        deep = menu.addAction("Deepen here (keep function)")
        deep.triggered.connect(lambda: QTimer.singleShot(0, lambda: self.deepen_node(nid)))
        for act, why, ok_tip in (
            (
                wide,
                opts.widen,
                f"add units to {nid} copied from existing ones; the network computes the same",
            ),
            (
                deep,
                opts.deepen,
                f"insert an identity-initialised layer after {nid}; the network computes the same",
            ),
        ):
            act.setEnabled(why is None)
            act.setToolTip(why or ok_tip)
            act.setStatusTip(why or ok_tip)
        menu.addSeparator()

    def ask_width(self, nid: str, current: int, default: int) -> int | None:
        views = self.views()
        n, ok = QInputDialog.getInt(
            views[0] if views else None,
            "Widen (keep function)",
            f"New width of {nid} (now {current}; must be larger):",
            max(default, current + 1),
            current + 1,
            1 << 16,
        )
        return int(n) if ok else None

    # -- mouse: connecting by drag, moving -----------------------------------------------------
    def mousePressEvent(self, event) -> None:
        item = self.itemAt(event.scenePos(), QTransform())
        if isinstance(item, PortItem) and item.kind == "out" and event.button() == Qt.MouseButton.LeftButton:
            if item.node.is_group:
                self.status.emit("expand the group to connect from its nodes")
                return
            self._drag_src = item.node
            self._drag_line = QGraphicsPathItem()
            self._drag_line.setPen(QPen(SELECTED, 2, Qt.PenStyle.DashLine))
            self._drag_line.setZValue(5)
            self.addItem(self._drag_line)
            event.accept()
            return
        super().mousePressEvent(event)
        self._press_pos = {i.key: i.pos() for i in self.selectedItems() if isinstance(i, NodeItem)}

    def mouseMoveEvent(self, event) -> None:
        if self._drag_src is not None and self._drag_line is not None:
            a = self._drag_src.scenePos() + QPointF(NodeItem.W, NodeItem.H / 2)
            path = QPainterPath(a)
            path.lineTo(event.scenePos())
            self._drag_line.setPath(path)
            event.accept()
            return
        super().mouseMoveEvent(event)
        if self._press_pos:  # nodes being dragged: their edges follow
            for key in self._press_pos:
                item = self.nodes.get(key)
                if item is not None:
                    for e in item.edges:
                        e.update_path()

    def _node_at(self, pos: QPointF) -> NodeItem | None:
        for it in self.items(pos):
            if isinstance(it, PortItem):
                return it.node
            if isinstance(it, NodeItem):
                return it
        return None

    def mouseReleaseEvent(self, event) -> None:
        if self._drag_src is not None:
            src = self._drag_src
            self._drag_src = None
            if self._drag_line is not None:
                self.removeItem(self._drag_line)
                self._drag_line = None
            target = self._node_at(event.scenePos())
            if target is None:
                self.status.emit("drop the connection on a node")
            elif target.is_group:
                self.status.emit("expand the group to connect to its nodes")
            elif target.in_port is None:
                self.status.emit(f"{target.key} takes no inputs")
            else:
                self.connect_nodes(src.key, target.key)
            event.accept()
            return
        super().mouseReleaseEvent(event)
        moved = {}
        for key, before in self._press_pos.items():
            item = self.nodes.get(key)
            if item is not None and item.scene() is self and (item.pos() - before).manhattanLength() > 0.5:
                moved[key] = (item.pos() - before, item.pos())
        self._press_pos = {}
        if moved:
            groups = self.groups()

            def fn(g: ArchGraph) -> None:
                for key, (delta, _now) in moved.items():
                    members = groups.get(key[6:], []) if key.startswith("group:") else [key]
                    for m in members:
                        x, y = g.g.nodes[m].get("pos", (0.0, 0.0))
                        g.g.nodes[m]["pos"] = (float(x + delta.x()), float(y + delta.y()))

            self.doc.edit(f"Move {len(moved)} node(s)", fn)


class GraphView(QGraphicsView):
    """Zoom with the wheel (around the cursor), pan with the middle or right button, rubber-band
    selection with the left button, palette drops, and the editor's keys."""

    def __init__(self, scene, parent=None):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setAcceptDrops(True)
        self._pan = None

    def graph_scene(self):
        return self.scene()  # type: ignore[return-value]

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom(1.15 ** (delta / 120.0))
        event.accept()

    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        factor = max(0.05 / current, min(4.0 / current, factor))
        self.scale(factor, factor)

    def zoom_to_fit(self) -> None:
        rect = self.scene().itemsBoundingRect()
        if rect.isEmpty():
            return
        self.fitInView(rect.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN), Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.25:
            self.resetTransform()
            self.scale(1.25, 1.25)
            self.centerOn(rect.center())

    def mousePressEvent(self, event) -> None:
        if event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.RightButton) and not self.itemAt(
            event.position().toPoint()
        ):
            self._pan = event.position()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._pan is not None:
            d = event.position() - self._pan
            self._pan = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(d.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(d.y()))
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan is not None:
            self._pan = None
            self.unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(OP_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(OP_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        if event.mimeData().hasFormat(OP_MIME):
            op = bytes(event.mimeData().data(OP_MIME)).decode()
            self.graph_scene().add_node(op, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
        else:
            super().dropEvent(event)

    def keyPressEvent(self, event) -> None:
        """The editor's keys also work when the window's shortcuts are not active (tests, embedding)."""
        sc = self.graph_scene()
        doc = sc.doc
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            sc.delete_selected()
        elif event.matches(QKeySequence.StandardKey.Undo):
            doc.undo.undo()
        elif event.matches(QKeySequence.StandardKey.Redo):
            doc.undo.redo()
        elif event.matches(QKeySequence.StandardKey.SelectAll):
            sc.select_all()
        elif event.matches(QKeySequence.StandardKey.Copy):
            sc.copy_selection()
        elif event.matches(QKeySequence.StandardKey.Paste):
            sc.paste()
        else:
            super().keyPressEvent(event)
            return
        event.accept()
