"""The graph editor's scene: it mirrors the Document's ArchGraph and offers the edit commands
(add, connect, delete, paste, Net2Net growth, layout). The model stays the ArchGraph; items
(items.py) are rebuilt from it after every change (cheap at editor sizes), so view and model never
drift apart; gestures (interaction.py) only call the commands."""

from __future__ import annotations

import json

from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QGraphicsPathItem, QGraphicsScene, QMenu

from .. import edits
from ..arch import OPS, ArchGraph
from ..arch.io import FORMAT as ARCH_FORMAT
from ..arch.io import VERSION as ARCH_VERSION
from ..arch.io import from_dict, parse_strict_json
from ..arch.registry import shape_str
from ..edits import Edit
from ..errors import ExplorerError
from .document import Document
from .interaction import MARGIN, SceneGestures
from .items import EdgeItem, NodeItem, category_color
from .layout import auto_layout, collapsible, view_graph
from .workers import first_line

ARCH_MIME = "application/x-nas-explorer-arch"


def _units(members: list[str]) -> int:
    """Repeated units in a group: NB201 cells share an id prefix (s1c0_...); OFA blocks do not."""
    return len({m.split("_")[0] for m in members})


class GraphScene(SceneGestures, QGraphicsScene):
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
                units = _units(members)
                # an imported block is one unit of many layers: its size says more than "x 1"
                many = is_group and units > 1
                label = f"{name} \u00d7 {units}" if many else f"{name} ({len(members)} nodes)"
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
        """The selected nodes (and the edges among them) as an architecture file on the clipboard."""
        nodes = self.selected_model_nodes()
        if not nodes:
            return 0
        g = self.doc.graph.g
        snippet = {
            "format": ARCH_FORMAT,
            "version": ARCH_VERSION,
            "nodes": [
                {
                    "id": n,
                    "op": g.nodes[n]["op"],
                    "params": dict(g.nodes[n]["params"]),
                    "pos": list(g.nodes[n].get("pos", (0.0, 0.0))),
                }
                for n in nodes
            ],
            "edges": [
                {"src": u, "dst": v, "port": p}
                for u, v, p in g.edges(data="port")
                if u in nodes and v in nodes
            ],
        }
        # plain text, not a custom QMimeData: Qt 6.11/6.12 crash at exit when the clipboard still
        # owns a Python-made QMimeData (seen offscreen); JSON text also pastes into other apps
        QApplication.clipboard().setText(json.dumps({"format": ARCH_MIME, "graph": snippet}))
        self.status.emit(f"copied {len(nodes)} node(s)")
        return len(nodes)

    def paste(self) -> list[str]:
        """Add the clipboard's nodes (offset, with new ids). The clipboard is anyone's text: it is
        read by the architecture file's strict loader, and whatever it refuses is said, not pasted."""
        try:
            data = parse_strict_json(QApplication.clipboard().text() or "null")
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("format") != ARCH_MIME:
            self.status.emit("nothing to paste")
            return []
        try:
            snippet = from_dict(data.get("graph"))
        except ExplorerError as e:
            self.status.emit(f"cannot paste: {first_line(str(e))}")
            return []
        new_ids: dict[str, str] = {}
        sg = snippet.g

        def fn(g: ArchGraph) -> None:
            for n in snippet.nodes:
                x, y = sg.nodes[n].get("pos") or (0.0, 0.0)
                new_ids[n] = g.add_node(sg.nodes[n]["op"], dict(sg.nodes[n]["params"]), pos=(x + 40, y + 40))
            for u, v, _p in sorted(sg.edges(data="port"), key=lambda e: e[2] or 0):
                g.connect(new_ids[u], new_ids[v])

        self.doc.edit(f"Paste {len(snippet.nodes)} node(s)", fn)
        self.select_nodes(list(new_ids.values()))
        return list(new_ids.values())

    # -- Net2Net: grow the network keeping its function (commands in explorer.edits) ----------
    def _apply(self, make) -> Edit | None:
        """Run an edit command on the document's graph and weights; push it as one undoable
        command, or say why it was refused (nothing changes)."""
        try:
            edit = make(self.doc.graph, self.doc.weights)
        except ExplorerError as e:
            self.status.emit(str(e))
            return None
        self.doc.apply(edit)
        if edit.new_node:
            self.select_nodes([edit.new_node])
        self.status.emit(edit.message)
        return edit

    def widen_node(self, nid: str, width: int | None = None, suggested: int | None = None) -> bool:
        """Net2Wider on `nid`; asks the width (default `suggested`, about 1.5x) when it is None."""
        if width is None:
            try:
                current = edits.widen_width(self.doc.graph, nid)
            except ExplorerError as e:
                self.status.emit(str(e))
                return False
            width = self.ask_width(nid, current, suggested or current + max(1, current // 2))
            if width is None:
                return False
        return self._apply(lambda g, w: edits.widen(g, w, nid, int(width))) is not None

    def deepen_node(self, nid: str) -> str | None:
        """Net2Deeper after `nid`; returns the new node's id."""
        edit = self._apply(lambda g, w: edits.deepen(g, w, nid))
        return edit.new_node if edit is not None else None

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
