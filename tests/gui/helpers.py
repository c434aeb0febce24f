"""Real mouse gestures on the editor's viewport."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt

from explorer.arch import ArchGraph
from explorer.gui.items import NodeItem


def small_graph(connected: bool = True) -> ArchGraph:
    g = ArchGraph("small")
    g.add_node("input", {"resolution": 16}, id="input", pos=(0.0, 0.0))
    g.add_node("conv", {"out_channels": 8}, id="conv_1", pos=(220.0, 0.0))
    g.add_node("global_avgpool", id="pool", pos=(440.0, 0.0))
    g.add_node("linear", {"out_features": 10}, id="fc", pos=(660.0, 0.0))
    g.add_node("output", id="output", pos=(880.0, 0.0))
    if connected:
        g.chain("input", "conv_1", "pool", "fc", "output")
    return g


def view_point(win, scene_pt: QPointF) -> QPoint:
    return win.view.mapFromScene(scene_pt)


def node_center(win, nid: str) -> QPoint:
    item = win.scene.nodes[nid]
    return view_point(win, item.scenePos() + QPointF(NodeItem.W / 2, NodeItem.H / 2))


def out_port(win, nid: str) -> QPoint:
    return view_point(win, win.scene.nodes[nid].out_port.scenePos())


def drag(qtbot, win, a: QPoint, b: QPoint) -> None:
    vp = win.view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    mid = QPoint((a.x() + b.x()) // 2, (a.y() + b.y()) // 2)
    qtbot.mouseMove(vp, pos=mid)
    qtbot.mouseMove(vp, pos=b)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=b)


def click_node(qtbot, win, nid: str) -> None:
    qtbot.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, pos=node_center(win, nid))


def fit(qtbot, win) -> None:
    win.view.zoom_to_fit()
    qtbot.wait(20)
