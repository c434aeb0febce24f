import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRectF, Qt

from explorer.gui.candidates_view import CandidatesView
from explorer.gui.compare_plot import ComparePlot, default_axes
from explorer.pareto import pareto_ranks

from .project_fixtures import make_project


@pytest.fixture
def pair(qtbot, tmp_path):
    project = make_project(tmp_path / "p.nasx", n=20)
    table = CandidatesView(lambda: project)
    plot = ComparePlot(table.model)
    plot.set_device("dev-b")
    for w in (table, plot):
        qtbot.addWidget(w)
        w.resize(900, 700)
        w.show()
    # the linking project_docks does
    table.selectionChangedIds.connect(plot.set_selection)
    plot.selectionChangedIds.connect(table.select_ids)
    table.refresh()
    return table, plot


def test_default_axes():
    keys = ["complexity:macs", "proxy:zen", "latency:a", "latency:b"]
    assert default_axes(keys, "b") == ("latency:b", "proxy:zen")
    assert default_axes(keys + ["accuracy:estimate"], None) == ("latency:a", "accuracy:estimate")
    assert default_axes(["complexity:macs", "complexity:params"]) == ("complexity:macs", "complexity:params")


def test_scatter_defaults_and_pareto_colouring(pair):
    table, plot = pair
    assert (plot.x_key, plot.y_key) == ("latency:dev-b", "proxy:zen")
    x, y = table.model.column("latency:dev-b"), table.model.column("proxy:zen")
    expected = pareto_ranks(np.column_stack([x, y]), ["min", "max"])
    np.testing.assert_array_equal(plot.ranks, expected)
    assert (plot.ranks == -1).sum() == 1  # the candidate without a dev-b latency is not plotted
    assert len(plot.scatter.data) == 19
    fx, fy = plot.front.getData()
    assert len(fx) >= 1 and np.all(np.diff(fx) >= 0)
    # brushes follow ranks: every front point shares rank 0's brush
    idx = plot.scatter.data["data"]
    brushes = plot.scatter.data["brush"]
    front_b = {id(b) for b, i in zip(brushes, idx) if plot.ranks[i] == 0}
    assert len(front_b) == 1


def test_log_axes_and_axis_change(pair):
    table, plot = pair
    plot.x_log.setChecked(True)
    x = table.model.column("latency:dev-b")
    ok = np.isfinite(x)
    np.testing.assert_allclose(plot._x[ok], np.log10(x[ok]))
    plot.set_axes("complexity:params", "complexity:macs")
    assert plot.directions() == ("min", "min")
    assert (plot.ranks >= 0).all()


def test_brush_in_plot_selects_rows(pair, qtbot):
    table, plot = pair
    vb = plot.vb
    # a rectangle around the lower-latency half of the points, dragged with the real mouse
    xs, ys = plot._x[plot._ok], plot._y[plot._ok]
    sx = np.sort(xs)
    gaps = np.diff(sx)
    k = int(np.argmax(gaps[5:14])) + 5  # cut in the widest gap near the middle: no point on the edge
    x_cut = float(sx[k] + sx[k + 1]) / 2
    y_pad = float(ys.max() - ys.min()) * 0.02
    left = float(sx[0]) - 0.02 * float(sx[-1] - sx[0])
    rect = QRectF(left, ys.min() - y_pad, x_cut - left, ys.max() - ys.min() + 2 * y_pad)
    expected = sorted(plot.ids_in_rect(rect))
    assert 0 < len(expected) < 19
    view = plot.plot
    a = view.mapFromScene(vb.mapViewToScene(rect.bottomLeft()))
    b = view.mapFromScene(vb.mapViewToScene(rect.topRight()))
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=a)
    for k in range(1, 6):
        qtbot.mouseMove(view.viewport(), a + (b - a) * (k / 5))
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=b)
    got = sorted(table.selected_ids())
    assert got == expected
    assert sorted(plot.selected) == got


def test_selecting_rows_highlights_points_and_side_plots(pair, qtbot):
    table, plot = pair
    table.select_ids([1, 2, 3])
    table._on_selection()  # select_ids is mute; a user selection emits
    hx, hy = plot.highlight.getData()
    assert len(hx) == 3
    px, py = plot.parallel_lines.getData()
    m = len(table.model.metric_keys)
    assert np.isfinite(py).sum() == 3 * m  # three lines, one point per metric
    plot.tabs.setCurrentIndex(1)  # the bar chart draws when shown
    assert plot.bars_title.text().startswith("#1 ")
    bx = plot.bar_item.opts["x"]
    assert len(bx) == 2  # dev-a and dev-b latencies
    # candidate 4 lacks dev-b: the bar chart says so
    table.select_ids([4])
    table._on_selection()
    assert "n/a: dev-b" in plot.bars_title.text()


def test_click_on_point_selects_one(pair, qtbot):
    table, plot = pair
    cid = int(table.model.ids[0])
    pt = plot.point_of(cid)
    pos = plot.plot.mapFromScene(plot.vb.mapViewToScene(pt))
    qtbot.mouseClick(plot.plot.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(pos.x(), pos.y()))
    assert cid in table.selected_ids()
