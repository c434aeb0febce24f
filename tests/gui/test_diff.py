from PySide6.QtWidgets import QGraphicsRectItem

from explorer.arch.diff import ADDED, CHANGED, REMOVED
from explorer.gui.diff_view import COLOURS, DiffView
from explorer.spaces import get_space
from explorer.store import Project


def test_diff_two_candidates_from_project(qtbot, tmp_path):
    s = get_space("ofa-mbv3-w1.0")
    cfg = s.sample(0)
    cfg2 = dict(cfg, ks=list(cfg["ks"]), d=list(cfg["d"]))
    cfg2["ks"][0] = 7 if cfg["ks"][0] != 7 else 3
    cfg2["d"][0] = 2 if cfg["d"][0] != 2 else 4
    p = Project(tmp_path / "p.nasx")
    a = p.add_candidate(s.encode(cfg), name="a")
    b = p.add_candidate(s.encode(cfg2), name="b")
    p.record_metric(a, "complexity", "params", 1000)
    p.record_metric(b, "complexity", "params", 1500)
    p.record_metric(a, "latency", "dev", 10.0)
    p.record_metric(b, "latency", "dev", 8.0)
    v = DiffView(lambda: p)
    qtbot.addWidget(v)
    v.resize(1000, 600)
    v.show()
    v.refresh()
    assert v.combo_a.count() == 2
    d = v.compare_candidates(a, b) or v.diff
    assert d.count(CHANGED) >= 1 and d.count(ADDED) + d.count(REMOVED) >= 1
    # the changed block is drawn on both sides in the changed colour, at the same height
    ra, rb = v.items[("a", "block0")], v.items[("b", "block0")]
    assert isinstance(ra, QGraphicsRectItem)
    assert ra.brush().color() == COLOURS[CHANGED] and rb.brush().color() == COLOURS[CHANGED]
    assert ra.rect().top() == rb.rect().top()
    assert "kernel" in ra.toolTip()
    # an added/removed node is drawn on one side only
    one_sided = [r for r in d.rows if r.status in (ADDED, REMOVED)][0]
    side = "b" if one_sided.status == ADDED else "a"
    nid = one_sided.b if side == "b" else one_sided.a
    assert (side, nid) in v.items and ("a" if side == "b" else "b", nid) not in v.items
    # metric deltas, with better/worse colouring
    rows = {v.metrics_table.item(i, 0).text(): i for i in range(v.metrics_table.rowCount())}
    i = rows["params"]
    assert v.metrics_table.item(i, 3).text() == "+500" and v.metrics_table.item(i, 4).text() == "+50.0%"
    j = rows["dev (ms)"]
    assert v.metrics_table.item(j, 3).text() == "-2"
    assert v.metrics_table.item(j, 3).foreground().color().green() > 100  # lower latency: better
    # hiding unchanged nodes leaves only the differing rows
    n_all = len(v.items)
    v.hide_same.setChecked(True)
    assert len(v.items) < n_all
    assert all(r.status != "same" for r in d.rows if ("a", r.a) in v.items or ("b", r.b) in v.items)


def test_combos_drive_the_diff(qtbot, tmp_path):
    s = get_space("nb201")
    p = Project(tmp_path / "p.nasx")
    ids = [p.add_candidate(s.encode(s.sample(k)), name=f"c{k}") for k in range(3)]
    v = DiffView(lambda: p)
    qtbot.addWidget(v)
    v.refresh()
    v.combo_a.setCurrentIndex(0)
    v.combo_b.setCurrentIndex(2)
    v.combo_b.activated.emit(2)
    assert v.diff is not None and f"#{ids[2]}" in v.summary.text()
