"""File > Import Model through the real dialog and worker, the heat overlay on the imported graph
and the per-layer table: rows that sum to the totals, sorting, selection both ways."""

from __future__ import annotations

import threading

import pytest
import torch
from PySide6.QtCore import Qt

from explorer.arch import count_complexity
from explorer.gui.heat import NO_FIGURE
from explorer.gui.layer_table import COLUMNS, SORT_ROLE
from explorer.importers import import_model
from explorer.live_metrics import LOCAL_CPU
from tests.importers.test_import_model import export_file

from .. import zoo
from .helpers import small_graph

TIMEOUT = 120_000


def import_through_dialog(qtbot, win, src, shape: str = ""):
    dlg = win.import_model_dialog()
    dlg.source_edit.setText(str(src))
    dlg.shape_edit.setText(shape)
    qtbot.mouseClick(dlg.import_btn, Qt.MouseButton.LeftButton)
    return dlg


def brushes(win) -> dict:
    return {k: (i.heat.name() if i.heat is not None else None) for k, i in win.scene.nodes.items()}


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_import_opens_the_model_with_its_blocks_collapsed_and_its_weights(qtbot, make_window, tmp_path, fmt):
    model = zoo.make("mobilenetv3")
    src = export_file(model, fmt, tmp_path / f"mb.{fmt}")
    win = make_window(small_graph(), devices=())
    dlg = import_through_dialog(qtbot, win, src)
    with qtbot.waitSignal(dlg.imported, timeout=TIMEOUT) as blocker:
        pass
    outcome = blocker.args[0]
    g = win.doc.graph
    twin = import_model(src).graph  # what `arch import` writes
    groups = {d["group"] for _, d in g.g.nodes(data=True) if d.get("group")}
    assert len(g) == len(twin) >= 34 and set(g.g.nodes) == set(twin.g.nodes)
    assert groups == {"mbconv1", "mbconv2", "mbconv3", "mbconv4"}
    assert win.doc.report.ok and win.doc.path is None
    assert count_complexity(g).params == sum(p.numel() for p in model.parameters())
    assert win.scene.collapsed == groups  # a big graph opens with its blocks collapsed
    assert {f"group:{n}" for n in groups} <= set(win.scene.nodes)
    n1 = len(win.scene.groups()["mbconv1"])
    assert win.scene.nodes["group:mbconv1"].title == f"mbconv1 ({n1} nodes)"
    win.scene.set_collapsed("mbconv2", False)  # ...and each one expands
    assert "group:mbconv2" not in win.scene.nodes and "features_2_block_1_0" in win.scene.nodes
    # the weights travel with the document: the built model computes what the original does
    assert set(win.doc.weights) == set(outcome.result.state_dict)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        built = outcome.result.model()
        built.load_state_dict(win.doc.weights)
        assert float((built(x) - model(x)).abs().max()) <= 1e-4
    text = win.import_box.text()
    assert text.startswith(f"imported {src} ") and "check: built graph vs original" in text
    assert not dlg.isVisible()


def test_opaque_layers_are_listed_one_line_each(qtbot, make_window, tmp_path):
    src = export_file(zoo.make("unmapped"), "pt2", tmp_path / "u.pt2")
    win = make_window(small_graph(), devices=())
    dlg = import_through_dialog(qtbot, win, src)
    qtbot.waitUntil(lambda: dlg.outcome is not None or bool(dlg.error), timeout=TIMEOUT)
    opaque = [ln for ln in win.import_box.text().splitlines() if ln.startswith("opaque: ")]
    assert len(opaque) == len(dlg.outcome.result.opaque) >= 2
    assert any(d["op"] == "opaque" for _, d in win.doc.graph.g.nodes(data=True))


def test_a_corrupt_file_gives_the_importers_error_and_leaves_the_graph(qtbot, make_window, tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"\x00\x01not a model at all" * 50)
    win = make_window(small_graph(), devices=())
    before = win.doc.graph.copy()
    dlg = import_through_dialog(qtbot, win, bad)
    qtbot.waitUntil(lambda: bool(dlg.error), timeout=TIMEOUT)
    assert "not an ONNX model" in dlg.error and "\n" not in dlg.error
    assert dlg.isVisible() and dlg.import_btn.isEnabled()  # stays open to fix the source
    assert win.doc.graph == before and win.doc.weights is None
    dlg.shape_edit.setText("3x224")  # a bad shape is refused at once, nothing starts
    assert dlg.start() is None and "NxCxHxW" in dlg.error


def test_cancel_drops_the_import(qtbot, make_window, tmp_path):
    src = export_file(zoo.make("resnet"), "onnx", tmp_path / "r.onnx")
    win = make_window(small_graph(), devices=())
    before = win.doc.graph.copy()
    dlg = import_through_dialog(qtbot, win, src)
    task = dlg.task
    qtbot.mouseClick(dlg.cancel_btn, Qt.MouseButton.LeftButton)
    assert "cancelled" in dlg.status.text() and dlg.import_btn.isEnabled()
    qtbot.waitUntil(lambda: not task.running, timeout=TIMEOUT)
    qtbot.wait(50)
    assert dlg.outcome is None and win.doc.graph == before


def test_heat_overlay_colours_nodes_and_shows_its_legend(qtbot, make_window, tmp_path):
    src = export_file(zoo.make("mobilenetv3"), "onnx", tmp_path / "mb.onnx")
    win = make_window(small_graph(), devices=())
    dlg = import_through_dialog(qtbot, win, src)
    qtbot.waitUntil(lambda: dlg.outcome is not None, timeout=TIMEOUT)
    heat = win.heat
    assert set(brushes(win).values()) == {None} and not heat.legend.isVisible()
    heat.actions["macs"].trigger()  # View > Heat Overlay > MACs
    qtbot.waitUntil(lambda: heat.report is not None and not heat.busy, timeout=TIMEOUT)
    colours = brushes(win)
    assert None not in colours.values() and len(set(colours.values())) > 3
    assert heat.legend.isVisible() and heat.legend.title.startswith("MACs")
    assert heat.legend.lo == "0 MACs" and heat.legend.hi.endswith("M MACs")
    # a collapsed group shows its members' total, the darkest item is the dearest one
    vals = heat.values()
    members = win.scene.groups()["mbconv3"]
    own = {n.node: n.macs for n in heat.report.nodes}
    assert vals["group:mbconv3"] == sum(own[m] for m in members)
    dearest = max(vals, key=vals.get)
    assert win.scene.nodes[dearest].heat.lightnessF() == min(
        i.heat.lightnessF() for i in win.scene.nodes.values()
    )
    heat.actions["params"].trigger()
    assert brushes(win) != colours and heat.legend.title.startswith("Params")
    heat.actions["off"].trigger()
    assert set(brushes(win).values()) == {None} and not heat.legend.isVisible()


def test_latency_overlay_measures_the_layers_the_table_lacks(qtbot, make_window):
    win = make_window(small_graph(), devices=())
    heat = win.heat
    heat.set_mode("latency")
    qtbot.waitUntil(lambda: heat.report is not None and heat.report.device is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not heat.busy, timeout=TIMEOUT)
    r = heat.report
    assert r.missing == [] and heat.legend.title.startswith(f"Latency on {LOCAL_CPU}")
    assert all(n.latency_ms is not None for n in r.nodes) and r.total("latency_ms") > 0
    assert NO_FIGURE.name() not in brushes(win).values()
    # an edit recomputes it (debounced): the new layer gets measured too
    win.doc.edit("wider", lambda g: g.set_params("conv_1", out_channels=24))
    qtbot.waitUntil(lambda: not heat.busy and heat.report.nodes[1].out_shape[0] == 24, timeout=TIMEOUT)
    assert heat.report.missing == []


def test_layer_table_sums_sorts_and_selects_both_ways(qtbot, make_window, tmp_path):
    src = export_file(zoo.make("resnet"), "onnx", tmp_path / "r.onnx")
    win = make_window(small_graph(), devices=())
    dlg = import_through_dialog(qtbot, win, src)
    qtbot.waitUntil(lambda: dlg.outcome is not None, timeout=TIMEOUT)
    win.layers_dock.raise_()  # the Layers tab: the report is computed when it shows
    table, heat = win.layer_table, win.heat
    qtbot.waitUntil(lambda: heat.report is not None and heat.report.device is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not heat.busy, timeout=TIMEOUT)
    proxy, model = table.proxy, table.model
    c = count_complexity(win.doc.graph)
    assert proxy.rowCount() == len(win.doc.graph)

    def column(name):
        k = COLUMNS.index(name)
        return [proxy.data(proxy.index(r, k), SORT_ROLE) for r in range(proxy.rowCount())]

    assert sum(column("params")) == model.totals()["params"] == c.params
    assert sum(column("MACs")) == model.totals()["macs"] == c.macs
    assert sum(column("latency ms")) == pytest.approx(model.totals()["latency_ms"])
    assert sum(column("params %")) == pytest.approx(100.0)
    assert f"params {c.params / 1e3:.2f}K" in table.totals_label.text()
    table.view.sortByColumn(COLUMNS.index("latency ms"), Qt.SortOrder.DescendingOrder)
    lat = column("latency ms")
    assert lat[0] == max(lat) and lat == sorted(lat, reverse=True)
    table.view.sortByColumn(COLUMNS.index("node"), Qt.SortOrder.AscendingOrder)
    assert column("node") == sorted(column("node"))
    # a row selects its node in the editor (its collapsed group when it is inside one) ...
    table.view.sortByColumn(COLUMNS.index("MACs"), Qt.SortOrder.DescendingOrder)
    top = column("node")[0]
    table.select_rows_of([top])
    assert win.scene.selected_model_nodes() and top in win.scene.selected_model_nodes()
    # ... and a node selected in the editor selects its row
    win.scene.select_nodes(["fc"])
    assert table.selected_nodes() == ["fc"]


def test_kept_import_exports_with_its_own_weights(qtbot, make_window, tmp_path):
    from explorer.gui.export_dialog import ExportDialog
    from explorer.store import Project
    from explorer.tensorfile import load_tensors

    from .test_project_wiring import written

    src = export_file(zoo.make("vgg"), "onnx", tmp_path / "v.onnx")
    win = make_window(small_graph(), devices=())
    dlg = import_through_dialog(qtbot, win, src)
    qtbot.waitUntil(lambda: dlg.outcome is not None, timeout=TIMEOUT)
    win.open_project(str(tmp_path / "p.nasx"))
    cid = written(qtbot, win.pdocks.writes, win.keep_candidate())
    project = Project(tmp_path / "p.nasx")
    assert project.candidate(cid).weights_path
    exp = ExportDialog(project, [cid], out_dir=str(tmp_path / "out"))
    qtbot.addWidget(exp)
    for fmt, box in exp.checks.items():
        box.setChecked(fmt == "state-dict")
    qtbot.mouseClick(exp.export_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(exp.results), timeout=TIMEOUT)
    (row,) = exp.results
    assert not row["error"] and not row["fresh"]
    saved = load_tensors(next(p for p in row["paths"] if p.endswith("weights.pt")))
    assert all(torch.equal(saved[k], v) for k, v in dlg.outcome.result.state_dict.items())
    project.close()


def test_latency_on_the_selected_device_and_on_an_invalid_graph(qtbot, make_window):
    win = make_window(small_graph(), devices=())
    heat, devices = win.heat, win.device_list
    net = "help-ofa-2080ti_1"  # a network-wise predictor: no per-layer figures
    devices.setCurrentItem(devices.findItems(net, Qt.MatchFlag.MatchExactly)[0])
    heat.actions["latency-selected"].trigger()
    qtbot.waitUntil(lambda: heat.report is not None and heat.report.device == net, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not heat.busy, timeout=TIMEOUT)
    assert set(brushes(win).values()) == {NO_FIGURE.name()}
    assert heat.legend.note.startswith(f"no per-layer figures on {net}: not covered")
    devices.setCurrentRow(0)  # local-cpu: this machine's table
    qtbot.waitUntil(lambda: not heat.busy and heat.report.device != net, timeout=TIMEOUT)
    assert heat.legend.title.startswith(f"Latency on {LOCAL_CPU}") and heat.report.missing == []
    win.doc.edit("cut", lambda g: g.disconnect("pool", "fc"))
    qtbot.waitUntil(lambda: heat.report is None, timeout=TIMEOUT)
    assert "invalid" in heat.legend.note and set(brushes(win).values()) == {None}


def test_measuring_waits_for_the_live_metrics_and_stops_on_request(qtbot, make_window, tmp_path):
    win = make_window(small_graph(), devices=())
    # a package.module:factory spec traced at a shape no other test uses: layers the table lacks
    dlg = import_through_dialog(qtbot, win, "tests.zoo:tiny_resnet", shape="1x3x96x96")
    qtbot.waitUntil(lambda: dlg.outcome is not None or bool(dlg.error), timeout=TIMEOUT)
    assert dlg.error == "" and win.doc.graph.meta["input_shape"] == [1, 3, 96, 96]
    heat, table = win.heat, win.layer_table
    # layers are timed by a stand-in that holds the second one until Stop is pressed, so the stop
    # lands mid-measuring on any machine
    from explorer.latency.measure import Measurement

    pressed, calls = threading.Event(), []

    def measure(spec, config):
        calls.append(spec.key)
        if len(calls) == 2:
            pressed.wait(60)
        return Measurement(0.5, 0.5, 0.5, 0.5, 0.0, 0.5, 5)

    heat.measure_layer = measure
    live = win.controller
    assert live.busy or live.timer.isActive()  # the new graph's Zen-Score, GradSign...
    win.layers_dock.raise_()
    qtbot.waitUntil(lambda: heat.report is not None, timeout=TIMEOUT)
    assert heat.report.device is None and "after the live metrics" in heat.note
    with qtbot.waitSignal(heat.measuring, timeout=TIMEOUT, check_params_cb=lambda d, t: d >= 1):
        pass
    assert not (live.busy or live.timer.isActive())  # measuring started once they were in
    assert table.stop_btn.isVisible()
    qtbot.mouseClick(table.stop_btn, Qt.MouseButton.LeftButton)
    pressed.set()
    qtbot.waitUntil(lambda: not heat.busy, timeout=TIMEOUT)
    assert heat.stopped and heat.report.missing and "measuring stopped" in heat.note
    assert "n/a" in column_texts(table, "latency ms")
    assert not table.stop_btn.isVisible() and table.rest_btn.isVisible()
    qtbot.mouseClick(table.rest_btn, Qt.MouseButton.LeftButton)  # ...and goes on when asked
    # (when the live metrics are due at that moment, counts come first and the latency after
    # them: wait for the report with latency itself)
    qtbot.waitUntil(
        lambda: (
            not heat.busy
            and heat.report is not None
            and heat.report.device is not None  # this machine's table, by its own name
            and not heat.report.missing
        ),
        timeout=TIMEOUT,
    )
    assert "n/a" not in column_texts(table, "latency ms") and not table.rest_btn.isVisible()


def column_texts(table, name):
    k = COLUMNS.index(name)
    return [table.proxy.data(table.proxy.index(r, k)) for r in range(table.proxy.rowCount())]
