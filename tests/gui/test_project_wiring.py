"""The main window holds a project: docks see it, Keep stores the current graph with its metrics."""

from __future__ import annotations

from explorer.spaces import get_space
from explorer.store import Project


def test_keep_candidate_into_project(qtbot, make_window, tmp_path):
    sp = get_space("nb201")
    win = make_window(sp.encode(sp.sample(3)), wait=True)
    assert win.keep_candidate() is None  # no project yet: a status message, nothing stored
    path = tmp_path / "p.nasx"
    win.open_project(str(path))
    assert "p.nasx" in win.windowTitle()
    cid = win.keep_candidate()
    assert cid is not None
    p = Project(path)
    assert p.candidate(cid).graph == win.doc.graph
    names = {m["name"] for m in p.metrics(cid)}
    assert {"params", "macs"} <= names
    assert win.pdocks.candidates is not None


def test_save_project_as_copies_and_switches(qtbot, make_window, tmp_path):
    sp = get_space("nb201")
    win = make_window(sp.encode(sp.sample(4)), wait=True)
    win.open_project(str(tmp_path / "a.nasx"))
    cid = win.keep_candidate()
    win.save_project_as(str(tmp_path / "b.nasx"))
    assert str(win.project.path).endswith("b.nasx")
    assert Project(tmp_path / "b.nasx").candidate(cid).graph == win.doc.graph
    win.keep_candidate()
    assert Project(tmp_path / "a.nasx").count_candidates() == 1
    assert Project(tmp_path / "b.nasx").count_candidates() == 2
