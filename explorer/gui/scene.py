"""The graph editor: a QGraphicsScene that mirrors the Document's ArchGraph and turns mouse
gestures into undoable edits. The model stays the ArchGraph; items are rebuilt from it after
every change (cheap at editor sizes) so view and model never drift apart."""

from __future__ import annotations

import json
import zlib

from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QPainter, QPainterPath, QPen, QTransform
from PySide6.QtWidgets import (
    QApplication,
    QGraphicsEllipseItem,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QInputDialog,
    QMenu,
    QStyle,
)

from ..arch import OPS, ArchGraph
from ..arch.registry import shape_str
from .document import Document
from .layout import auto_layout, collapsible, view_graph

MARGIN = 40.0  # scene margin around the items; zoom-to-fit shows exactly this rect (no scrollbars)
OP_MIME = "application/x-nas-explorer-op"
ARCH_MIME = "application/x-nas-explorer-arch"
_FRESH = " (the graph had no weights: grown from a fresh seeded init, seed 0)"

CATEGORY_COLORS = {
    "io": "#d6e4f5",
    "conv": "#dcefd8",
    "blocks": "#fbe9c6",
    "basic": "#ececec",
    "pooling": "#d9efef",
    "merge": "#f3dbe7",
    "nb201": "#e6dcf3",
    "group": "#fff6d8",
}
ERROR = QColor("#d62728")
SELECTED = QColor("#1f6fd1")


def category_color(cat: str) -> QColor:
    if cat in CATEGORY_COLORS:
        return QColor(CATEGORY_COLORS[cat])
    h = zlib.crc32(cat.encode()) % 360
    return QColor.fromHsl(h, 90, 220)


class PortItem(QGraphicsEllipseItem):
    R = 6.0

    def __init__(self, node: NodeItem, kind: str):
        super().__init__(-self.R, -self.R, 2 * self.R, 2 * self.R, node)
        self.node, self.kind = node, kind
        self.setBrush(QBrush(QColor("#555555") if kind == "out" else QColor("#ffffff")))
        self.setPen(QPen(QColor("#444444"), 1.2))
        self.setPos(NodeItem.W if kind == "out" else 0.0, NodeItem.H / 2)
        self.setCursor(Qt.CursorShape.CrossCursor if kind == "out" else Qt.CursorShape.ArrowCursor)
        self.setToolTip("drag to a node to connect" if kind == "out" else "input")
        self.setZValue(2)


class NodeItem(QGraphicsItem):
    W, H = 150.0, 54.0

    def __init__(self, key: str, title: str, subtitle: str, color: QColor, has_in: bool, has_out: bool):
        super().__init__()
        self.key = key
        self.title, self.subtitle, self.color = title, subtitle, color
        self.error = ""
        self.edges: list[EdgeItem] = []
        self.is_group = key.startswith("group:")
        self.setFlags(
            QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
        )
        self.in_port = PortItem(self, "in") if has_in else None
        self.out_port = PortItem(self, "out") if has_out else None
        self.setZValue(1)

    @property
    def node_id(self) -> str:
        return self.key

    def set_error(self, message: str) -> None:
        self.error = message
        self.setToolTip(message or f"{self.key}: {self.title}  {self.subtitle}")
        self.update()

    def boundingRect(self) -> QRectF:
        return QRectF(-3, -3, self.W + 6, self.H + 6)

    def paint(self, p: QPainter, option, widget=None) -> None:
        r = QRectF(0, 0, self.W, self.H)
        p.setBrush(QBrush(self.color))
        if self.error:
            pen = QPen(ERROR, 3.0)
        elif self.isSelected():
            pen = QPen(SELECTED, 2.5)
        else:
            pen = QPen(QColor("#7a7a7a"), 1.0)
        if self.is_group:
            pen.setStyle(Qt.PenStyle.DashLine if not self.error else Qt.PenStyle.SolidLine)
        p.setPen(pen)
        p.drawRoundedRect(r, 7, 7)
        if self.isSelected() and self.error:
            p.setPen(QPen(SELECTED, 1.5, Qt.PenStyle.DotLine))
            p.drawRoundedRect(r.adjusted(4, 4, -4, -4), 5, 5)
        f = QFont()
        f.setPointSizeF(9.5)
        f.setBold(True)
        p.setFont(f)
        p.setPen(QColor("#1a1a1a"))
        p.drawText(
            r.adjusted(10, 5, -10, -self.H / 2),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            self.title,
        )
        f.setBold(False)
        f.setPointSizeF(8.5)
        p.setFont(f)
        p.setPen(QColor("#b01b1b") if self.error else QColor("#333333"))
        p.drawText(
            r.adjusted(10, self.H / 2, -10, -5),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            self.subtitle,
        )

    def mouseDoubleClickEvent(self, event) -> None:
        scene = self.scene()
        if self.is_group and isinstance(scene, GraphScene):
            scene.set_collapsed(self.key[6:], False)
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event) -> None:
        scene = self.scene()
        if not isinstance(scene, GraphScene):
            return
        views = scene.views()
        menu = QMenu(views[0] if views else None)  # parented: status tips reach the main window
        menu.setToolTipsVisible(True)
        key, selected = self.key, self.isSelected()
        if self.is_group:
            menu.addAction("Expand " + key[6:], lambda: scene.set_collapsed(key[6:], False))
        else:
            grp = scene.doc.graph.g.nodes[key].get("group")
            if grp:
                menu.addAction(f"Collapse {grp}", lambda: scene.set_collapsed(grp, True))
            scene.add_net2net_actions(menu, key)
        # edits rebuild the scene (deleting this item): run them after this handler has returned
        menu.addAction(
            "Delete",
            lambda: QTimer.singleShot(
                0, scene.delete_selected if selected else lambda: scene.delete_keys([key])
            ),
        )
        scene.last_menu = menu
        event.accept()
        menu.exec(event.screenPos())
        scene.last_menu = None
        menu.deleteLater()


class EdgeItem(QGraphicsPathItem):
    def __init__(self, src: NodeItem, dst: NodeItem, model_edges: list[tuple[str, str]], label: str = ""):
        super().__init__()
        self.src, self.dst, self.model_edges = src, dst, model_edges
        self.error = ""
        self.label = label
        src.edges.append(self)
        dst.edges.append(self)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setZValue(0)
        self.set_error("")
        self.update_path()

    @property
    def key(self) -> tuple[str, str]:
        return self.src.key, self.dst.key

    def set_error(self, message: str) -> None:
        self.error = message
        self.setToolTip(message or f"{self.src.key} -> {self.dst.key}{self.label}")
        self._restyle()

    def _restyle(self) -> None:
        color = ERROR if self.error else (SELECTED if self.isSelected() else QColor("#606060"))
        pen = QPen(color, 3.0 if self.error else (2.4 if self.isSelected() else 1.6))
        if pen != self.pen():
            self.setPen(pen)

    def paint(self, painter, option, widget=None) -> None:
        # the selection colour is chosen at paint time: no itemChange override (PySide6 mishandles
        # the None values some item changes carry, which corrupts None's refcount)
        self._restyle()
        option.state &= ~QStyle.StateFlag.State_Selected
        super().paint(painter, option, widget)

    def update_path(self) -> None:
        a = self.src.scenePos() + QPointF(NodeItem.W, NodeItem.H / 2)
        b = self.dst.scenePos() + QPointF(0, NodeItem.H / 2)
        path = QPainterPath(a)
        dx = max(40.0, abs(b.x() - a.x()) * 0.5)
        if b.x() >= a.x():
            path.cubicTo(a + QPointF(dx, 0), b - QPointF(dx, 0), b)
        else:  # wrapped row: go down between rows, then back to the left
            mid_y = (a.y() + b.y()) / 2
            path.cubicTo(a + QPointF(60, 0), QPointF(a.x() + 60, mid_y), QPointF(a.x(), mid_y))
            path.lineTo(QPointF(b.x(), mid_y))
            path.cubicTo(QPointF(b.x() - 60, mid_y), b - QPointF(60, 0), b)
        self.setPath(path)

    def shape(self) -> QPainterPath:  # a wider hit area so edges are easy to click
        from PySide6.QtGui import QPainterPathStroker

        s = QPainterPathStroker()
        s.setWidth(10)
        return s.createStroke(self.path())


def _units(members: list[str]) -> int:
    """Repeated units in a group: NB201 cells share an id prefix (s1c0_...); OFA blocks do not."""
    return len({m.split("_")[0] for m in members})


class GraphScene(QGraphicsScene):
    status = Signal(str)
    rebuilt = Signal()

    def __init__(self, doc: Document, parent=None):
        super().__init__(parent)
        self.doc = doc
        self.collapsed: set[str] = set()
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[tuple[str, str], EdgeItem] = {}
        self._drag_src: NodeItem | None = None
        self._drag_line: QGraphicsPathItem | None = None
        self._press_pos: dict[str, QPointF] = {}
        self.last_menu: QMenu | None = None  # the node menu being shown (tests, status)
        self.setBackgroundBrush(QColor("#fafafa"))
        doc.changed.connect(lambda _s: self.rebuild())
        self.rebuild()

    # -- model -> items ----------------------------------------------------------------------
    def groups(self) -> dict[str, list[str]]:
        """Collapsible sets: groups and the repeated units inside them."""
        return collapsible(self.doc.graph.g)

    def model_groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for n, d in self.doc.graph.g.nodes(data=True):
            if d.get("group"):
                out.setdefault(d["group"], []).append(n)
        return out

    def rebuild(self) -> None:
        sel = {i.key for i in self.selectedItems() if isinstance(i, NodeItem)}
        self.blockSignals(True)
        self.clear()
        self.blockSignals(False)
        self.nodes, self.edges = {}, {}
        graph, report = self.doc.graph, self.doc.report
        g = graph.g
        groups = self.groups()
        self.collapsed &= set(groups)
        _, rep = view_graph(g, self.collapsed)
        for n, d in g.nodes(data=True):
            key = rep[n]
            if key in self.nodes:
                continue
            if key.startswith("group:"):
                name = key[6:]
                members = groups[name]
                last = members[-1]
                shape = report.shapes.get(last)
                is_group = any(self.doc.graph.g.nodes[m].get("group") == name for m in members)
                label = f"{name} \u00d7 {_units(members)}" if is_group else f"{name} ({len(members)} nodes)"
                item = NodeItem(
                    key, label, shape_str(shape) if shape else "?", category_color("group"), True, True
                )
                msgs = [str(i) for m in members for i in report.for_node(m)]
                item.set_error("\n".join(dict.fromkeys(msgs)))
                pos = g.nodes[members[0]].get("pos", (0.0, 0.0))
            else:
                spec = OPS.get(d["op"])
                shape = report.shapes.get(n)
                sub = shape_str(shape) if shape else "shape ?"
                item = NodeItem(
                    n,
                    d["op"] if n == d["op"] or len(n) + len(d["op"]) >= 18 else f"{d['op']}  ·  {n}",
                    sub,
                    category_color(spec.category if spec else "unknown"),
                    has_in=spec is None or spec.max_inputs != 0,
                    has_out=d["op"] != "output",
                )
                item.set_error("\n".join(str(i) for i in report.for_node(n)))
                if not item.error:
                    item.setToolTip(
                        f"{n} ({d['op']})\n{sub}\n" + ", ".join(f"{k}={v}" for k, v in d["params"].items())
                    )
                pos = d.get("pos", (0.0, 0.0))
            item.setPos(QPointF(*pos))
            self.addItem(item)
            self.nodes[key] = item
        bad_edges = self._edge_errors(report)
        for u, v, port in g.edges(data="port"):
            a, b = rep[u], rep[v]
            if a == b:
                continue
            if (a, b) in self.edges:
                self.edges[(a, b)].model_edges.append((u, v))
                continue
            e = EdgeItem(self.nodes[a], self.nodes[b], [(u, v)], f" (port {port})")
            self.addItem(e)
            self.edges[(a, b)] = e
            if (u, v) in bad_edges:
                e.set_error(bad_edges[(u, v)])
        for key in sel:
            if key in self.nodes:
                self.nodes[key].setSelected(True)
        self.setSceneRect(self.itemsBoundingRect().adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN))
        self.rebuilt.emit()

    def _edge_errors(self, report) -> dict[tuple[str, str], str]:
        """An edge is marked when an issue names it, when both its ends are in one issue (a cycle),
        or when its destination's only issue is about its inputs or their shapes."""
        out: dict[tuple[str, str], list[str]] = {}
        g = self.doc.graph.g
        for issue in report.issues:
            for u, v in g.edges:
                hit = issue.edge == (u, v) or (u in issue.nodes and v in issue.nodes)
                if not hit and issue.nodes == (v,):
                    m = issue.message.lower()
                    hit = "input" in m or "shape" in m or "channel" in m or "match" in m or "kernel" in m
                if hit:
                    out.setdefault((u, v), []).append(str(issue))
        return {k: "\n".join(v) for k, v in out.items()}

    # -- edits -------------------------------------------------------------------------------
    def add_node(self, op: str, pos: QPointF | None = None) -> str | None:
        if op not in OPS:
            self.status.emit(f"unknown op {op!r}")
            return None
        p = pos or QPointF(0, 0)
        holder = {}

        def fn(g: ArchGraph) -> None:
            holder["id"] = g.add_node(op, pos=(p.x() - NodeItem.W / 2, p.y() - NodeItem.H / 2))

        self.doc.edit(f"Add {op}", fn)
        nid = holder.get("id")
        if nid and nid in self.nodes:
            self.clearSelection()
            self.nodes[nid].setSelected(True)
        return nid

    def connect_nodes(self, src: str, dst: str) -> bool:
        g = self.doc.graph.g
        if src == dst:
            self.status.emit("cannot connect a node to itself")
            return False
        if g.has_edge(src, dst):
            self.status.emit(f"{src} already feeds {dst}")
            return False
        self.doc.edit(f"Connect {src} \u2192 {dst}", lambda gr: gr.connect(src, dst))
        return True

    def selected_model_nodes(self) -> list[str]:
        out = []
        groups = self.groups()
        for it in self.selectedItems():
            if isinstance(it, NodeItem):
                out.extend(groups.get(it.key[6:], []) if it.is_group else [it.key])
        return out

    def delete_keys(self, keys: list[str], edges: list[tuple[str, str]] = ()) -> None:
        groups = self.groups()
        nodes = []
        for k in keys:
            nodes.extend(groups.get(k[6:], []) if k.startswith("group:") else [k])
        nodes = [n for n in dict.fromkeys(nodes) if n in self.doc.graph]
        edges = [e for e in edges if e[0] not in nodes and e[1] not in nodes]
        if not nodes and not edges:
            return

        def fn(g: ArchGraph) -> None:
            for u, v in edges:
                if g.g.has_edge(u, v):
                    g.disconnect(u, v)
            for n in nodes:
                g.remove_node(n)

        what = f"{len(nodes)} node(s)" if nodes else f"{len(edges)} edge(s)"
        self.doc.edit(f"Delete {what}", fn)

    def delete_selected(self) -> None:
        keys = [i.key for i in self.selectedItems() if isinstance(i, NodeItem)]
        edges = [me for i in self.selectedItems() if isinstance(i, EdgeItem) for me in i.model_edges]
        self.delete_keys(keys, edges)

    def select_all(self) -> None:
        for it in self.items():
            if isinstance(it, (NodeItem, EdgeItem)):
                it.setSelected(True)

    def select_nodes(self, ids: list[str]) -> None:
        self.clearSelection()
        _, rep = view_graph(self.doc.graph.g, self.collapsed)
        for n in ids:
            key = rep.get(n, n)
            if key in self.nodes:
                self.nodes[key].setSelected(True)

    def copy_selection(self) -> int:
        nodes = self.selected_model_nodes()
        if not nodes:
            return 0
        g = self.doc.graph.g
        data = {
            "nodes": [
                {
                    "id": n,
                    "op": g.nodes[n]["op"],
                    "params": dict(g.nodes[n]["params"]),
                    "pos": list(g.nodes[n].get("pos", (0.0, 0.0))),
                }
                for n in nodes
            ],
            "edges": [[u, v, p] for u, v, p in g.edges(data="port") if u in nodes and v in nodes],
        }
        # plain text, not a custom QMimeData: Qt 6.11/6.12 crash at exit when the clipboard still
        # owns a Python-made QMimeData (seen offscreen); JSON text also pastes into other apps
        data["format"] = ARCH_MIME
        QApplication.clipboard().setText(json.dumps(data))
        self.status.emit(f"copied {len(nodes)} node(s)")
        return len(nodes)

    def paste(self) -> list[str]:
        try:
            data = json.loads(QApplication.clipboard().text() or "null")
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("format") != ARCH_MIME:
            self.status.emit("nothing to paste")
            return []
        new_ids: dict[str, str] = {}

        def fn(g: ArchGraph) -> None:
            for item in data["nodes"]:
                if item["op"] not in OPS:
                    continue
                x, y = item.get("pos", (0, 0))
                new_ids[item["id"]] = g.add_node(item["op"], item["params"], pos=(x + 40, y + 40))
            for u, v, _p in sorted(data["edges"], key=lambda e: e[2]):
                if u in new_ids and v in new_ids:
                    g.connect(new_ids[u], new_ids[v])

        self.doc.edit(f"Paste {len(data['nodes'])} node(s)", fn)
        self.select_nodes(list(new_ids.values()))
        return list(new_ids.values())

    # -- Net2Net: grow the network keeping its function --------------------------------------
    def add_net2net_actions(self, menu: QMenu, nid: str) -> None:
        """Widen to N and Deepen here, disabled with the reason when the transform would change
        the network's function (tooltip and status tip)."""
        from ..estimators.net2net import candidate_actions, deepen_problem, widen_problem

        graph = self.doc.graph
        if not self.doc.report.ok:
            why_w = why_d = "fix the graph's errors first (see Errors)"
        else:
            why_w, why_d = widen_problem(graph, nid), deepen_problem(graph, nid)
        menu.addSeparator()
        wide = menu.addAction("Widen to N (keep function)\u2026")
        suggested = {a["node"]: a["width"] for a in candidate_actions(graph) if a["action"] == "widen"}
        wide.triggered.connect(lambda: QTimer.singleShot(0, lambda: self.widen_node(nid, None, suggested)))
        deep = menu.addAction("Deepen here (keep function)")
        deep.triggered.connect(lambda: QTimer.singleShot(0, lambda: self.deepen_node(nid)))
        for act, why, ok_tip in (
            (wide, why_w, f"add units to {nid} copied from existing ones; the network computes the same"),
            (deep, why_d, f"insert an identity-initialised layer after {nid}; the network computes the same"),
        ):
            act.setEnabled(why is None)
            act.setToolTip(why or ok_tip)
            act.setStatusTip(why or ok_tip)
        menu.addSeparator()

    def _weights(self) -> tuple[dict, bool]:
        """(state_dict, fresh): the document's weights, else a seeded init (seed 0) of the graph."""
        if self.doc.weights is not None:
            return self.doc.weights, False
        from ..arch.build import build_model

        return build_model(self.doc.graph, seed=0).state_dict(), True

    def _child(self, g2: ArchGraph, lineage: dict) -> ArchGraph:
        parent = self.doc.graph.meta.get("candidate_id")
        g2.meta.pop("candidate_id", None)  # the child is a new, unsaved candidate
        if parent is not None:
            g2.meta["parent_id"] = parent
        else:
            g2.meta.pop("parent_id", None)
        g2.meta["lineage"] = {"parent": parent if parent is not None else (self.doc.graph.name or "untitled")}
        g2.meta["lineage"].update(lineage)
        return g2

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

    def widen_node(self, nid: str, width: int | None = None, suggested: dict | None = None) -> bool:
        """Net2Wider on `nid` as one undoable command; asks the width when `width` is None."""
        from ..errors import ExplorerError
        from ..estimators.net2net import net2wider, widen_problem, width_of

        why = widen_problem(self.doc.graph, nid)
        if why:
            self.status.emit(why)
            return False
        current = width_of(self.doc.graph, nid)
        if width is None:
            default = (suggested or {}).get(nid) or current + max(1, current // 2)
            width = self.ask_width(nid, current, default)
            if width is None:
                return False
        if width <= current:
            self.status.emit(f"{nid}: new width {width} must be larger than the current {current}")
            return False
        state, fresh = self._weights()
        try:
            g2, s2 = net2wider(self.doc.graph, state, nid, int(width))
        except ExplorerError as e:
            self.status.emit(str(e))
            return False
        self._child(g2, {"op": "widen", "node": nid, "width": int(width)})
        self.doc.set_graph_with_weights(f"Widen {nid} to {width}", g2, s2)
        self.status.emit(f"widened {nid} {current} \u2192 {width}, function kept" + _FRESH * fresh)
        return True

    def deepen_node(self, nid: str) -> str | None:
        """Net2Deeper after `nid` as one undoable command; returns the new node's id."""
        from ..errors import ExplorerError
        from ..estimators.net2net import deepen_problem, net2deeper

        why = deepen_problem(self.doc.graph, nid)
        if why:
            self.status.emit(why)
            return None
        state, fresh = self._weights()
        try:
            g2, s2, new = net2deeper(self.doc.graph, state, nid)
        except ExplorerError as e:
            self.status.emit(str(e))
            return None
        self._child(g2, {"op": "deepen", "node": nid, "new_node": new})
        self.doc.set_graph_with_weights(f"Deepen after {nid}", g2, s2)
        self.select_nodes([new])
        self.status.emit(f"inserted identity layer {new} after {nid}, function kept" + _FRESH * fresh)
        return new

    def auto_layout(self, undoable: bool = True) -> None:
        pos = auto_layout(self.doc.graph.g, self.collapsed)
        _, rep = view_graph(self.doc.graph.g, self.collapsed)

        def fn(g: ArchGraph) -> None:
            for n in g.g.nodes:
                g.g.nodes[n]["pos"] = tuple(float(c) for c in pos[rep[n]])

        if undoable:
            self.doc.edit("Auto layout", fn)
        else:  # view-only relayout (collapse/expand, a freshly sampled graph): no history entry
            fn(self.doc.graph)
            self.rebuild()

    def set_collapsed(self, group: str, collapsed: bool) -> None:
        if collapsed:
            self.collapsed.add(group)
        else:
            self.collapsed.discard(group)
        self.auto_layout(undoable=False)
        self.status.emit(("collapsed " if collapsed else "expanded ") + group)

    def collapse_all(self, collapsed: bool = True) -> None:
        self.collapsed = set(self.model_groups()) if collapsed else set()
        self.auto_layout(undoable=False)

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

    def __init__(self, scene: GraphScene, parent=None):
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)
        self.setAcceptDrops(True)
        self._pan = None

    def graph_scene(self) -> GraphScene:
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
        from PySide6.QtGui import QKeySequence

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
