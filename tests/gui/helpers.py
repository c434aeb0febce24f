"""Real mouse gestures on the editor's viewport."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt

from explorer.gui.items import NodeItem

from ..graphs import small_graph  # noqa: F401 - the GUI tests' graph, from here too


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
