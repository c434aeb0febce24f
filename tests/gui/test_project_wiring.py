"""The main window holds a project: docks see it, Keep stores the current graph with its metrics;
a locked project never blocks the window, a damaged one is left alone and a copy offered."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys

from PySide6.QtCore import Qt, QTimer

from explorer.arch import count_complexity
from explorer.gui.jobs import JobsPanel
from explorer.gui.project_writes import ProjectWrites
from explorer.spaces import get_space
from explorer.store import Project

from ..store_helpers import damage_a_page
from .helpers import small_graph
from .project_fixtures import make_project


def written(qtbot, writes, item, timeout=20_000):
    """Until the writer has saved `item` and its GUI callback has run."""
    assert item is not None
    qtbot.waitSignal(writes.saved, timeout=timeout, check_params_cb=lambda i: i == item.id).wait()
    return item.result


def test_keep_candidate_into_project(qtbot, make_window, tmp_path):
    sp = get_space("nb201")
    win = make_window(sp.encode(sp.sample(3)), wait=True)
    assert win.keep_candidate() is None  # no project yet: a status message, nothing stored
    path = tmp_path / "p.nasx"
    win.open_project(str(path))
    assert "p.nasx" in win.windowTitle()
    cid = written(qtbot, win.pdocks.writes, win.keep_candidate())
    assert cid is not None
    p = Project(path)
    assert p.candidate(cid).graph == win.doc.graph
    names = {m["name"] for m in p.metrics(cid)}
    assert {"params", "macs"} <= names
    assert win.pdocks.candidates is not None


def test_keep_right_after_an_edit_never_records_the_previous_graphs_metrics(qtbot, make_window, tmp_path):
    win = make_window(small_graph(), wait=True)
    assert win.metrics.last_result is not None  # the shown metrics, of the graph as opened
    win.open_project(str(tmp_path / "p.nasx"))
    win.controller.timer.setInterval(60_000)  # the edit's recomputation has not started yet
    win.doc.edit("wider", lambda g: g.set_params("conv_1", out_channels=24))
    assert win.controller.timer.isActive() and win.metrics.last_result is not None
    cid = written(qtbot, win.pdocks.writes, win.keep_candidate())
    row = Project(tmp_path / "p.nasx").metric_table()[cid]
    assert set(row) == {"complexity:params", "complexity:macs"}  # no Zen/GradSign/latency of before
    assert row["complexity:params"] == count_complexity(win.doc.graph).params
    assert "without its live metrics" in win.statusBar().currentMessage()


def test_save_project_as_copies_and_switches(qtbot, make_window, tmp_path):
    sp = get_space("nb201")
    win = make_window(sp.encode(sp.sample(4)), wait=True)
    win.open_project(str(tmp_path / "a.nasx"))
    item = win.keep_candidate()
    written(qtbot, win.pdocks.writes, win.save_project_as(str(tmp_path / "b.nasx")))  # after the keep
    cid = item.result
    assert str(win.project.path).endswith("b.nasx")
    assert Project(tmp_path / "b.nasx").candidate(cid).graph == win.doc.graph
    written(qtbot, win.pdocks.writes, win.keep_candidate())
    assert Project(tmp_path / "a.nasx").count_candidates() == 1
    assert Project(tmp_path / "b.nasx").count_candidates() == 2


def test_keep_while_another_program_holds_the_lock_never_blocks_and_retry_saves(qtbot, make_window, tmp_path):
    sp = get_space("nb201")
    win = make_window(sp.encode(sp.sample(5)), wait=True)
    path = tmp_path / "p.nasx"
    win.open_project(str(path))
    writes = win.pdocks.writes
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a sqlite3 shell in the middle of an edit
    try:
        ticks = []
        timer = QTimer()
        timer.setInterval(20)
        timer.timeout.connect(lambda: ticks.append(len(writes.pending())))
        timer.start()
        win.act_keep.trigger()  # File > Keep as Candidate (Ctrl+K)
        (item,) = writes.pending()  # returned at once: the write waits on the writer's thread
        qtbot.waitUntil(lambda: writes.box is not None and writes.box.isVisible(), timeout=30_000)
        timer.stop()
        assert ticks and all(n == 1 for n in ticks)  # the event loop kept running while it waited
        assert "locked by another program" in writes.box.text() and str(path) in writes.box.text()
        assert "keep candidate" in writes.box.informativeText() and not item.done
        assert Project(path).count_candidates() == 0
    finally:
        other.execute("ROLLBACK")
        other.close()
    qtbot.mouseClick(writes.retry_button, Qt.MouseButton.LeftButton)
    cid = written(qtbot, writes, item)
    assert Project(path).candidate(cid).graph == win.doc.graph  # saved, once
    assert Project(path).count_candidates() == 1
    assert win.pdocks.candidates.model.rowCount() == 1


def test_opening_a_damaged_project_leaves_it_and_opens_a_recovered_copy(qtbot, make_window, tmp_path):
    path = tmp_path / "p.nasx"
    make_project(path, n=30).close()
    damage_a_page(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    win = make_window(wait=False)
    win.open_project(str(path))
    box = win.project_box
    assert box.isVisible() and "is damaged" in box.text() and str(path) in box.text()
    assert win.project is None
    (recover,) = [b for b in box.buttons() if "Recovered Copy" in b.text()]
    qtbot.mouseClick(recover, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.project is not None, timeout=60_000)
    assert win.project.path == tmp_path / "p.recovered.nasx"
    n = win.project.count_candidates()
    assert 0 < n < 30 and win.pdocks.candidates.model.rowCount() == n
    assert "recovered" in win.project_box.text() and win.project_box.isVisible()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before  # only read


def test_jobs_panel_rows_go_through_the_writer_and_wait_for_retry_on_a_lock(qtbot, tmp_path):
    path = tmp_path / "p.nasx"
    project = Project(path, timeout=0.3)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    jid = project.add_job("train", {}, run_dir=str(tmp_path / "run"))
    project.update_job(jid, status="running", pid=dead.pid)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writes = ProjectWrites(None)
    panel = JobsPanel(lambda: project, writes=writes)
    qtbot.addWidget(panel)
    panel.show()
    try:
        panel.refresh()  # finds the job's process gone: marks it interrupted, through the writer
        assert project.job(jid)["status"] == "running"
        qtbot.waitUntil(lambda: writes.box is not None and writes.box.isVisible(), timeout=30_000)
        assert "interrupted" in writes.box.informativeText()
    finally:
        other.execute("ROLLBACK")
        other.close()
    qtbot.mouseClick(writes.retry_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.table.item(0, 2).text() == "interrupted", timeout=30_000)
    assert project.job(jid)["status"] == "interrupted"
    assert project.logs(jid) == ["interrupted: the process is gone"]
    assert writes.shutdown()
