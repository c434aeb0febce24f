"""Typed inspector input the op cannot take is refused visibly (field marked, allowed values named,
graph and undo stack unchanged), never clamped or dropped as Qt's spin boxes do on their own."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette

from explorer.arch import ArchGraph

from .helpers import click_node, small_graph

RED = "#ffcdd2"  # the refused field's background


def marked(w) -> bool:
    return w.palette().color(QPalette.ColorRole.Base).name() == RED


def _type(qtbot, w, text: str, commit=Qt.Key.Key_Return) -> None:
    w.setFocus()
    w.selectAll()
    qtbot.keyClick(w, Qt.Key.Key_Delete)
    if text:
        qtbot.keyClicks(w, text)
    assert w.lineEdit().text() == text  # every keystroke kept, so what is refused is what was typed
    qtbot.keyClick(w, commit)


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("-5", "below the minimum 1"),
        ("0", "below the minimum 1"),
        ("70000", "above the maximum 65536"),
        ("1e3", "is not an integer"),
        ("", "is empty"),
    ],
)
def test_out_of_range_channels_are_refused_with_the_range(qtbot, make_window, typed, why):
    win = make_window(small_graph(), wait=False)
    click_node(qtbot, win, "conv_1")
    insp = win.inspector
    spin = insp.widgets["out_channels"]
    before, undo = dict(win.doc.graph.params("conv_1")), win.doc.undo.count()

    _type(qtbot, spin, typed)
    assert win.doc.graph.params("conv_1") == before and win.doc.undo.count() == undo
    msg = insp.message.text()
    assert msg.startswith("Refused") and why in msg and "from 1 to 65536" in msg and "kept 8" in msg
    assert insp.refused["out_channels"] == msg
    assert marked(spin) and msg in spin.toolTip()
    assert win.statusBar().currentMessage() == msg
    assert spin.value() == 8 and spin.lineEdit().text() == "8"

    # a valid value applies as before, through the undo stack, and clears the mark
    _type(qtbot, spin, "12", commit=Qt.Key.Key_Enter)
    assert win.doc.graph.params("conv_1")["out_channels"] == 12 and win.doc.undo.count() == undo + 1
    assert insp.message.text() == "" and not insp.refused and not marked(spin)
    assert "from 1 to 65536" in spin.toolTip()  # the range is in the tooltip all along
    win.doc.undo.undo()
    assert win.doc.graph.params("conv_1")["out_channels"] == 8


def test_leaving_the_field_refuses_too(qtbot, make_window):
    win = make_window(small_graph(), wait=False)
    click_node(qtbot, win, "conv_1")
    win.activateWindow()  # focus moves (and leaves the field) only in the active window
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    spin = win.inspector.widgets["stride"]
    spin.setFocus()
    assert spin.hasFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, "0")
    click_node(qtbot, win, "pool")  # focus leaves the field, then the selection changes
    assert win.doc.graph.params("conv_1")["stride"] == 1 and win.doc.undo.count() == 0
    msg = win.statusBar().currentMessage()
    assert "stride=0 is below the minimum 1" in msg and "from 1 to 8" in msg
    assert win.inspector.node == "pool"


def _dropout_graph() -> ArchGraph:
    g = small_graph(connected=False)
    g.add_node("dropout", {"p": 0.1}, id="drop", pos=(550.0, 120.0))
    g.chain("input", "conv_1", "pool", "drop", "fc", "output")
    return g


@pytest.mark.parametrize(
    ("typed", "why"),
    [
        ("0.995", "above the maximum 0.99"),
        ("-0.5", "below the minimum 0"),
        ("0.1234", "more than 3 decimals"),
        ("half", "is not a number"),
    ],
)
def test_float_field_refuses_instead_of_clamping_or_rounding(qtbot, make_window, typed, why):
    win = make_window(_dropout_graph(), wait=False)
    win.scene.select_nodes(["drop"])
    insp = win.inspector
    spin = insp.widgets["p"]
    _type(qtbot, spin, typed)
    assert win.doc.graph.params("drop")["p"] == 0.1 and win.doc.undo.count() == 0
    assert why in insp.message.text() and "from 0 to 0.99" in insp.message.text()
    assert "p" in insp.refused
    _type(qtbot, spin, "0.25")
    assert win.doc.graph.params("drop")["p"] == 0.25 and not insp.refused


def test_rule_refusal_marks_the_field(qtbot, make_window):
    win = make_window(small_graph(), wait=False)
    click_node(qtbot, win, "conv_1")
    insp = win.inspector
    k = insp.widgets["kernel"]
    _type(qtbot, k, "4")  # in range, but the op takes odd kernels only
    assert win.doc.graph.params("conv_1")["kernel"] == 3 and win.doc.undo.count() == 0
    assert "must be odd" in insp.message.text() and "kernel" in insp.refused and marked(k)
    assert k.value() == 3


def test_values_the_editors_cannot_show_are_marked_not_replaced(qtbot, make_window):
    """A graph value outside a field's choices or range (set by code, not a file: files are
    checked on load) is shown as held and marked, not silently shown as another value."""
    g = small_graph()
    g.set_params("conv_1", act="mish", out_channels=0)
    win = make_window(g, wait=False)
    win.scene.select_nodes(["conv_1"])
    insp = win.inspector
    combo, spin = insp.widgets["act"], insp.widgets["out_channels"]
    assert combo.currentIndex() == -1 and "mish" in insp.refused["act"]
    assert spin.lineEdit().text() == "0" and "below the minimum 1" in insp.refused["out_channels"]
    assert marked(combo) and marked(spin)
    assert win.doc.graph.params("conv_1")["act"] == "mish" and win.doc.undo.count() == 0
