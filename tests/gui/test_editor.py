"""The graph editor through real mouse and keyboard events: add, connect, delete, undo, redo,
copy/paste, inspector edits, invalid edges with greyed metrics, collapse/expand."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from explorer.arch import validate

from .conftest import wait_metrics
from .helpers import click_node, drag, fit, node_center, out_port, small_graph


def _palette_double_click(qtbot, win, op: str) -> None:
    win.palette_dock.raise_()  # the palette shares a tab with the Space panel
    qtbot.waitUntil(win.palette.isVisible, timeout=2000)
    pal = win.palette
    item = pal.item_for(op)
    assert item is not None, f"{op} missing from the palette"
    pal.scrollToItem(item)
    rect = pal.visualItemRect(item)
    # a real double click: the first press/release, then Qt's double-click event
    qtbot.mouseClick(pal.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(pal.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_palette_lists_every_registered_op(make_window):
    from explorer.arch import OPS

    win = make_window(small_graph(), wait=False)
    for op, spec in OPS.items():
        item = win.palette.item_for(op)
        assert item is not None and item.parent().text(0) == spec.category


def test_add_connect_delete_undo_redo(qtbot, make_window):
    g = small_graph(connected=False)
    g.remove_node("conv_1")
    g.chain("pool", "fc", "output")
    win = make_window(g, wait=False)
    assert not validate(win.doc.graph).ok  # pool has no input yet

    _palette_double_click(qtbot, win, "conv")
    convs = win.doc.graph.nodes_of("conv")
    assert len(convs) == 1
    conv = convs[0]
    win.relayout()  # put the new node somewhere clear of the others
    fit(qtbot, win)

    drag(qtbot, win, out_port(win, "input"), node_center(win, conv))
    drag(qtbot, win, out_port(win, conv), node_center(win, "pool"))
    assert win.doc.graph.inputs(conv) == ["input"]
    assert win.doc.graph.inputs("pool") == [conv]
    assert win.doc.report.ok
    wait_metrics(qtbot, win)
    assert win.metrics.values["params"]["value"] > 0

    click_node(qtbot, win, conv)
    assert [i.key for i in win.scene.selectedItems()] == [conv]
    qtbot.keyClick(win.view, Qt.Key.Key_Delete)
    assert conv not in win.doc.graph
    assert win.doc.graph.inputs("pool") == []

    qtbot.keyClick(win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert conv in win.doc.graph
    assert win.doc.graph.inputs("pool") == [conv] and win.doc.graph.inputs(conv) == ["input"]
    qtbot.keyClick(
        win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    )
    assert conv not in win.doc.graph
    win.doc.undo.undo()
    # the scene mirrors the model after every step
    assert set(win.scene.nodes) == set(win.doc.graph.nodes)


def test_copy_paste_and_select_all(qtbot, make_window):
    win = make_window(small_graph(), wait=False)
    click_node(qtbot, win, "conv_1")
    qtbot.keyClick(win.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClick(win.view, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    convs = win.doc.graph.nodes_of("conv")
    assert len(convs) == 2
    new = [c for c in convs if c != "conv_1"][0]
    assert win.doc.graph.params(new) == win.doc.graph.params("conv_1")
    qtbot.keyClick(win.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert {i.key for i in win.scene.selectedItems() if hasattr(i, "is_group")} == set(win.doc.graph.nodes)


def test_move_by_mouse_is_undoable(qtbot, make_window):
    win = make_window(small_graph(), wait=False)
    before = win.doc.graph.g.nodes["pool"]["pos"]
    a = node_center(win, "pool")
    vp = win.view.viewport()
    qtbot.mousePress(vp, Qt.MouseButton.LeftButton, pos=a)
    for dy in (10, 30, 60):
        from PySide6.QtCore import QPoint
        from PySide6.QtGui import QMouseEvent
        from PySide6.QtWidgets import QApplication

        p = QPoint(a.x(), a.y() + dy)
        ev = QMouseEvent(
            QMouseEvent.Type.MouseMove,
            p,
            vp.mapToGlobal(p),
            Qt.MouseButton.NoButton,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(vp, ev)
    qtbot.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=QPoint(a.x(), a.y() + 60))
    after = win.doc.graph.g.nodes["pool"]["pos"]
    assert after[1] > before[1] + 20
    assert win.doc.undo.undoText().startswith("Move")
    win.doc.undo.undo()
    assert win.doc.graph.g.nodes["pool"]["pos"] == before


def test_invalid_edge_shows_error_and_keeps_greyed_metrics(qtbot, make_window):
    win = make_window(small_graph())
    shown = win.metrics.text_of("params")
    assert shown not in ("", "\u2013", "n/a") and "computing" not in shown
    gen = win.controller.generation

    # a second input into the linear layer (it takes one): drag input's output port onto fc
    drag(qtbot, win, out_port(win, "input"), node_center(win, "fc"))
    assert win.doc.graph.inputs("fc") == ["pool", "input"]
    qtbot.waitUntil(lambda: win.metrics.stale, timeout=10_000)
    assert win.controller.generation == gen + 1 and win.controller.computations == 1
    # the last valid numbers stay, greyed, with a banner
    assert win.metrics.text_of("params") == shown
    assert win.metrics.summary.item(0, 1).foreground().color().name() == "#8a8a8a"
    assert win.metrics.banner.isVisible() and "last valid" in win.metrics.banner.text()
    # marked in place: the node and the offending edge, with the message as tooltip
    assert "takes 1 input" in win.scene.nodes["fc"].error
    assert win.scene.nodes["fc"].toolTip() == win.scene.nodes["fc"].error
    assert win.scene.edges[("input", "fc")].error
    # listed in the errors panel; clicking selects the node
    texts = [win.errors.item(i).text() for i in range(win.errors.count())]
    assert any("fc" in t and "input" in t for t in texts)
    row = next(i for i, t in enumerate(texts) if "fc" in t)
    rect = win.errors.visualItemRect(win.errors.item(row))
    qtbot.mouseClick(win.errors.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert [i.key for i in win.scene.selectedItems() if hasattr(i, "is_group")] == ["fc"]

    # undo makes it valid again: fresh numbers, not greyed
    win.doc.undo.undo()
    wait_metrics(qtbot, win)
    assert not win.metrics.stale and not win.metrics.banner.isVisible()
    assert win.metrics.text_of("params") == shown


def test_inspector_edits_and_refuses_invalid_values(qtbot, make_window):
    win = make_window(small_graph(), wait=False)
    click_node(qtbot, win, "conv_1")
    insp = win.inspector
    assert insp.node == "conv_1" and set(insp.widgets) >= {"out_channels", "kernel", "stride", "act"}
    spin = insp.widgets["out_channels"]
    spin.setFocus()
    qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert win.doc.graph.params("conv_1")["out_channels"] == 9
    # kernel 4 violates the op's rule (odd kernels only): refused with a message, graph unchanged
    kspin = insp.widgets["kernel"]
    qtbot.keyClick(kspin, Qt.Key.Key_Up)
    assert win.doc.graph.params("conv_1")["kernel"] == 3
    assert "must be odd" in insp.message.text()
    assert kspin.value() == 3
    combo = insp.widgets["act"]
    combo.setCurrentIndex(combo.findData("h_swish"))
    combo.activated.emit(combo.currentIndex())
    assert win.doc.graph.params("conv_1")["act"] == "h_swish"
    win.doc.undo.undo()
    assert win.doc.graph.params("conv_1")["act"] == "relu"


def test_ten_quick_edits_cause_one_recompute(qtbot, make_window):
    win = make_window(small_graph(), debounce_ms=300)
    start = win.controller.computations
    click_node(qtbot, win, "conv_1")
    spin = win.inspector.widgets["out_channels"]
    for _ in range(10):
        qtbot.keyClick(spin, Qt.Key.Key_Up)
    assert win.doc.graph.params("conv_1")["out_channels"] == 18
    wait_metrics(qtbot, win)
    assert win.controller.computations == start + 1
    assert win.doc.undo.count() == 10


def test_collapse_and_expand_groups_keep_the_model(qtbot, make_window):
    from explorer.spaces import get_space

    space = get_space("ofa-mbv3-w1.0")
    g = space.encode(space.sample(0))
    win = make_window(g, wait=False)
    n = len(win.doc.graph)
    assert "group:stage1" in win.scene.nodes  # repeated blocks collapsed on load
    item = win.scene.nodes["group:stage1"]
    assert "\u00d7" in item.title
    qtbot.mouseDClick(win.view.viewport(), Qt.MouseButton.LeftButton, pos=node_center(win, "group:stage1"))
    assert "group:stage1" not in win.scene.nodes and "block0" in win.scene.nodes
    assert len(win.doc.graph) == n
    win.scene.set_collapsed("stage1", True)
    assert "group:stage1" in win.scene.nodes and len(win.doc.graph) == n


def test_zoom_wheel_and_fit(qtbot, make_window):
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    win = make_window(small_graph(), wait=False)
    s0 = win.view.transform().m11()
    vp = win.view.viewport()
    c = QPointF(vp.width() / 2, vp.height() / 2)
    ev = QWheelEvent(
        c,
        QPointF(vp.mapToGlobal(c.toPoint())),
        QPoint(0, 0),
        QPoint(0, 240),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(vp, ev)
    assert win.view.transform().m11() > s0 * 1.2
    win.act_fit.trigger()
    for nid in win.scene.nodes:
        assert vp.rect().contains(node_center(win, nid))


CLIP = '{"format": "application/x-nas-explorer-arch", '
ARCH = '"graph": {"format": "nas-explorer/arch", "version": 1, '


@pytest.mark.parametrize(
    "text",
    [
        CLIP + '"nodes": 5}',
        CLIP + '"graph": {"nodes": [{"op": ["conv"]}]}}',
        CLIP + ARCH + '"nodes": [{"id": "a", "op": "conv", "params": {"out_channels": -3}}]}}',
        CLIP + ARCH + '"nodes": [{"id": "a", "op": "relu", "pos": [1e999, 0]}]}}',
        CLIP + ARCH + '"nodes": [{"id": "a", "op": "relu"}], "edges": [{"src": "a", "dst": "zz"}]}}',
        "not json at all",
    ],
)
def test_paste_of_foreign_clipboard_text_is_refused_and_changes_nothing(qtbot, make_window, text):
    from PySide6.QtWidgets import QApplication

    win = make_window(small_graph(), wait=False)
    before, steps = set(win.doc.graph.nodes), win.doc.undo.count()
    messages = []
    win.scene.status.connect(messages.append)
    QApplication.clipboard().setText(text)
    assert win.scene.paste() == []
    assert set(win.doc.graph.nodes) == before and win.doc.undo.count() == steps
    assert messages and ("cannot paste" in messages[-1] or messages[-1] == "nothing to paste")
