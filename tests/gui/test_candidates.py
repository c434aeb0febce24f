import numpy as np
import pytest
from PySide6.QtCore import Qt

from explorer.gui.candidates_view import CandidatesView
from explorer.store import Project

from ..store_helpers import damage_a_page
from .project_fixtures import make_project


@pytest.fixture
def view(qtbot, tmp_path):
    project = make_project(tmp_path / "p.nasx")
    v = CandidatesView(lambda: project)
    qtbot.addWidget(v)
    v.resize(1000, 500)
    v.show()
    v.refresh()
    v.project = project
    return v


def visible_ids(v):
    return [v.proxy.index(r, 0).data() for r in range(v.proxy.rowCount())]


def test_table_shows_candidates_and_metrics(view):
    m = view.model
    assert m.rowCount() == 12
    assert "proxy:zen" in m.metric_keys and "latency:dev-b" in m.metric_keys
    col = 4 + m.metric_keys.index("latency:dev-b")
    row3 = m.row_of[4]  # candidate ids start at 1: cand3 has the n/a latency
    assert m.index(row3, col).data() == "n/a"
    assert np.isnan(m.column("latency:dev-b")[row3])


def test_sort_by_metric_with_missing_last(view, qtbot):
    key = "latency:dev-b"
    col = 4 + view.model.metric_keys.index(key)
    for order in (Qt.SortOrder.AscendingOrder, Qt.SortOrder.DescendingOrder):
        view.table.sortByColumn(col, order)
        vals = [
            view.proxy.index(r, col).data(Qt.ItemDataRole.UserRole + 1) for r in range(view.proxy.rowCount())
        ]
        assert np.isnan(vals[-1])  # missing sorts last in either direction
        finite = vals[:-1]
        assert finite == sorted(finite, reverse=order == Qt.SortOrder.DescendingOrder)


def test_text_filter_and_top_k(view, qtbot):
    qtbot.keyClicks(view.filter_edit, "odd")
    assert len(visible_ids(view)) == 6
    view.filter_edit.clear()
    view.topk_metric.setCurrentIndex(view.model.metric_keys.index("proxy:zen"))
    view.topk_spin.setValue(3)
    ids = visible_ids(view)
    zen = {int(c): v for c, v in zip(view.model.ids, view.model.column("proxy:zen"))}
    assert sorted(ids) == sorted(sorted(zen, key=zen.get, reverse=True)[:3])  # higher Zen is better
    view.topk_metric.setCurrentIndex(view.model.metric_keys.index("latency:dev-a"))
    lat = {int(c): v for c, v in zip(view.model.ids, view.model.column("latency:dev-a"))}
    assert sorted(visible_ids(view)) == sorted(sorted(lat, key=lat.get)[:3])  # lower latency is better
    assert "3 of 12" in view.count_label.text()


def test_selection_signals_and_select_ids(view, qtbot):
    got = []
    view.selectionChangedIds.connect(got.append)
    view.table.selectRow(2)
    assert got and got[-1] == [view.proxy.index(2, 0).data()]
    n = len(got)
    view.select_ids([5, 7])
    assert sorted(view.selected_ids()) == [5, 7]
    assert len(got) == n  # programmatic selection does not echo back
    assert view.diff_btn.isEnabled()


def test_bulk_sampling_from_the_view(view, qtbot):
    from explorer.live_metrics import LiveSettings

    view.settings_getter = lambda: LiveSettings(zen=False, gradsign=False, latency=False)
    view.count_spin.setValue(3)
    view.space_combo.setCurrentText("nb201")
    with qtbot.waitSignal(view.candidatesChanged, timeout=60_000):
        qtbot.mouseClick(view.sample_btn, Qt.MouseButton.LeftButton)
    assert view.model.rowCount() == 15
    assert Project(view.project.path).count_candidates() == 15
    assert "3 scored" in view.bar.format()


def test_install_project_docks_links_everything(qtbot, tmp_path):
    from PySide6.QtWidgets import QLabel, QMainWindow

    from explorer.gui.project_docks import install_project_docks

    project = make_project(tmp_path / "p.nasx", n=8)
    win = QMainWindow()
    win.setCentralWidget(QLabel("editor"))
    qtbot.addWidget(win)
    opened = []
    current = project.candidate(1).graph
    docks = install_project_docks(win, lambda: project, lambda: current, opened.append)
    win.resize(1280, 800)
    win.show()
    assert set(docks.docks) == {"candidates", "compare", "diff", "jobs"}
    assert all(d.parent() is win for d in docks.docks.values())
    assert docks.candidates.model.rowCount() == 8
    # table -> plot
    docks.candidates.table.selectRow(0)
    assert len(docks.compare.highlight.getData()[0]) == 1
    # plot -> table
    docks.compare._emit([2, 3])
    assert sorted(docks.candidates.selected_ids()) == [2, 3]
    # diff of the two selected rows
    qtbot.mouseClick(docks.candidates.diff_btn, Qt.MouseButton.LeftButton)
    assert docks.diff.diff is not None and "#2" in docks.diff.summary.text()
    # open in the editor
    docks.candidates.candidateActivated.emit(3)
    assert opened and opened[-1].meta["candidate_id"] == 3
    # keep the editor's graph as a new candidate (written by the docks' background writer)
    item = docks.keep_current()
    qtbot.waitSignal(docks.writes.saved, timeout=20_000, check_params_cb=lambda i: i == item.id).wait()
    cid = item.result
    assert cid == 9 and docks.candidates.selected_ids() == [9]
    assert project.metric_table()[9]["complexity:params"] > 0
    docks.shutdown()


def test_a_project_damaged_while_open_keeps_the_table_and_names_the_file(view, qtbot):
    n, ids = view.model.rowCount(), list(view.model.ids)
    path = view.project.path
    view.project.close()
    damage_a_page(path)
    resets = []
    view.model.modelAboutToBeReset.connect(lambda: resets.append(1))
    assert view.refresh() is False
    assert resets == [] and view.model.rowCount() == n and list(view.model.ids) == ids  # not half reset
    assert view.problem.isVisible() and view.recover_btn.isVisible()
    assert "is damaged" in view.problem_label.text() and str(path) in view.problem_label.text()
    with qtbot.waitSignal(view.recoverRequested) as sig:
        qtbot.mouseClick(view.recover_btn, Qt.MouseButton.LeftButton)
    assert sig.args == [str(path)]
