"""Net2Net from the editor: right-click a node, pick "Widen to N" / "Deepen here"; the network keeps
its function with the document's weights, undo restores graph and weights, and a node whose
widening would change the function shows the action disabled with the reason."""

from __future__ import annotations

import torch
from PySide6.QtCore import QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication

from explorer.arch import ArchGraph
from explorer.arch.build import build_model
from explorer.estimators.net2net import load_weights

from .helpers import fit, node_center

WIDEN, DEEPEN = "Widen to N (keep function)\u2026", "Deepen here (keep function)"


def chain_graph() -> ArchGraph:
    g = ArchGraph("n2n")
    g.add_node("input", {"resolution": 16}, id="input", pos=(0.0, 0.0))
    g.add_node("conv", {"out_channels": 8}, id="conv_1", pos=(220.0, 0.0))
    g.add_node("conv", {"out_channels": 8}, id="conv_2", pos=(440.0, 0.0))
    g.add_node("global_avgpool", id="pool", pos=(660.0, 0.0))
    g.add_node("linear", {"out_features": 10}, id="fc", pos=(880.0, 0.0))
    g.add_node("output", id="output", pos=(1100.0, 0.0))
    g.chain("input", "conv_1", "conv_2", "pool", "fc", "output")
    return g


def residual_graph() -> ArchGraph:
    g = ArchGraph("res")
    g.add_node("input", {"resolution": 16}, id="input", pos=(0.0, 0.0))
    g.add_node("conv", {"out_channels": 8}, id="conv_a", pos=(220.0, 0.0))
    g.add_node("conv", {"out_channels": 8}, id="conv_b", pos=(440.0, 150.0))
    g.add_node("add", id="add", pos=(660.0, 0.0))
    g.add_node("global_avgpool", id="pool", pos=(880.0, 0.0))
    g.add_node("linear", {"out_features": 10}, id="fc", pos=(1100.0, 0.0))
    g.add_node("output", id="output", pos=(1320.0, 0.0))
    g.chain("input", "conv_a", "conv_b")
    g.connect("conv_a", "add", 0)
    g.connect("conv_b", "add", 1)
    g.chain("add", "pool", "fc", "output")
    return g


def right_click_menu(qtbot, win, nid: str, trigger: str | None = None) -> dict[str, tuple[bool, str]]:
    """Send a real context-menu event to the node on the viewport; return {text: (enabled, tooltip)}
    of the menu's actions, triggering `trigger` (else closing the menu)."""
    seen: dict[str, tuple[bool, str]] = {}

    def pick() -> None:
        menu = QApplication.activePopupWidget() or win.scene.last_menu
        assert menu is not None, "no context menu was shown"
        for a in menu.actions():
            if a.text():
                seen[a.text()] = (a.isEnabled(), a.toolTip())
        chosen = next((a for a in menu.actions() if a.text() == trigger), None)
        menu.close()
        if chosen is not None:
            chosen.trigger()

    vp = win.view.viewport()
    pos = node_center(win, nid)
    QTimer.singleShot(50, pick)
    ev = QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos, vp.mapToGlobal(pos))
    QApplication.sendEvent(vp, ev)
    qtbot.waitUntil(lambda: bool(seen), timeout=3000)
    return seen


def outputs(graph: ArchGraph, state: dict, x: torch.Tensor) -> torch.Tensor:
    model = load_weights(graph, state).eval()
    with torch.no_grad():
        return model(x)


def test_widen_then_deepen_keep_function_and_undo(qtbot, make_window, monkeypatch):
    win = make_window(chain_graph(), wait=False)
    fit(qtbot, win)
    g0 = win.doc.graph.copy()
    assert win.doc.weights is None
    init = build_model(g0, seed=0).state_dict()  # what the GUI grows from when there are no weights
    x = torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    y0 = outputs(g0, init, x)

    said: list[str] = []  # the editor's status messages (the status bar may show metrics timing later)
    win.scene.status.connect(said.append)
    asked = []
    monkeypatch.setattr(win.scene, "ask_width", lambda nid, cur, default: asked.append((cur, default)) or 13)
    items = right_click_menu(qtbot, win, "conv_1", trigger=WIDEN)
    assert items[WIDEN][0] and items[DEEPEN][0]
    qtbot.waitUntil(lambda: win.doc.graph.params("conv_1")["out_channels"] == 13, timeout=5000)
    assert asked == [(8, 12)]  # default from candidate_actions (1.5x rounded to a multiple of 4)
    g1, w1 = win.doc.graph.copy(), win.doc.weights
    assert w1 is not None and w1["layers.conv_1.conv.weight"].shape[0] == 13
    assert (outputs(g1, w1, x) - y0).abs().max().item() <= 1e-5
    assert g1.meta["lineage"] == {"parent": "n2n", "op": "widen", "node": "conv_1", "width": 13}
    assert win.doc.parent_id == "n2n"
    assert "function kept" in said[-1] and "fresh seeded init" in said[-1]
    assert set(win.scene.nodes) == set(g1.nodes)

    # deepen grows from the document's (widened) weights: still the original function
    right_click_menu(qtbot, win, "conv_2", trigger=DEEPEN)
    qtbot.waitUntil(lambda: len(win.doc.graph) == len(g0) + 1, timeout=5000)
    (new,) = set(win.doc.graph.nodes) - set(g1.nodes)
    assert win.doc.graph.inputs(new) == ["conv_2"] and win.doc.graph.inputs("pool") == [new]
    assert (outputs(win.doc.graph, win.doc.weights, x) - y0).abs().max().item() <= 1e-5
    assert win.doc.graph.meta["lineage"]["op"] == "deepen"
    assert "function kept" in said[-1] and "fresh" not in said[-1]

    win.doc.undo.undo()  # one command per transform: back to the widened graph and its weights
    assert win.doc.graph == g1 and win.doc.weights is w1
    win.doc.undo.undo()
    assert win.doc.graph == g0 and win.doc.weights is None
    assert set(win.scene.nodes) == set(g0.nodes)
    win.doc.undo.redo()
    assert win.doc.graph == g1 and win.doc.weights is w1


def test_structural_edit_drops_weights_and_undo_brings_them_back(qtbot, make_window):
    win = make_window(chain_graph(), wait=False)
    assert win.scene.widen_node("conv_1", 12)
    w = win.doc.weights
    win.doc.edit("fc width", lambda g: g.set_params("fc", out_features=7))
    assert win.doc.weights is None  # they no longer fit the graph
    win.doc.undo.undo()
    assert win.doc.weights is w


def test_widen_disabled_with_reason_for_node_feeding_an_add(qtbot, make_window):
    win = make_window(residual_graph(), wait=False)
    fit(qtbot, win)
    items = right_click_menu(qtbot, win, "conv_b")
    enabled, tip = items[WIDEN]
    assert not enabled
    assert "add" in tip and "conv_b" in tip
    assert items[DEEPEN][0]  # inserting an identity layer is fine there
    before = win.doc.graph.copy()
    said: list[str] = []
    win.scene.status.connect(said.append)
    assert not win.scene.widen_node("conv_b", 16)  # the path the action would take refuses too
    assert win.doc.graph == before and win.doc.undo.count() == 0
    assert said and "add" in said[-1]
    # the output node: nothing to deepen after, reason given
    items = right_click_menu(qtbot, win, "output")
    assert not items[DEEPEN][0] and "output" in items[DEEPEN][1]
