"""The jobs panel drives real child processes (`python -m explorer ...`) against a real project file."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from explorer.gui.jobs import JobsPanel
from explorer.jobs.process import pid_alive
from explorer.store import Project

pytestmark = pytest.mark.slow
JOB_TIMEOUT_MS = 240_000


def trainer_cli_available() -> bool:
    try:
        from explorer.commands import supernet  # noqa: F401
        from explorer.supernet.trainer import PSTrainer  # noqa: F401
    except ImportError:
        return False
    return True


needs_trainer = pytest.mark.skipif(
    not trainer_cli_available(),
    reason="explorer.supernet has no trainer CLI (`supernet train --progress-jsonl`)",
)


def make_panel(qtbot, project, **kw):
    panel = JobsPanel(lambda: project, **kw)
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    panel.refresh()
    return panel


def records(run_dir):
    p = Path(run_dir) / "progress.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


TINY_TRAIN = dict(
    space="ofa-mbv3-w1.0",
    data="builtin",
    phases=["teacher"],
    epochs=1.0,
    batch_size=2,
    subset=8,
    resolutions=[32],
    save_every=1,
    no_eval=True,
    device="cpu",
)


@needs_trainer
def test_kill_training_and_resume_from_the_gui(qtbot, tmp_path):
    project = Project(tmp_path / "p.nasx")
    panel = make_panel(qtbot, project)
    # 24 steps: long enough that Cancel lands mid-run even on a fast, idle machine
    jid = panel.start_training(**dict(TINY_TRAIN, subset=48))
    job = project.job(jid)
    assert job["status"] == "running" and pid_alive(job["pid"])
    run_dir = Path(job["run_dir"])
    ck = run_dir / "supernet.pt"
    # wait for a first step and its checkpoint, then kill the process with the Cancel button
    qtbot.waitUntil(
        lambda: (
            ck.exists()
            and any(r.get("loss") is not None for r in records(run_dir))
            and (jid in panel.history and bool(panel.history[jid].loss))  # the panel has polled it too
        ),
        timeout=JOB_TIMEOUT_MS,
    )
    assert "loss" in panel.status_label.text() or panel.history[jid].loss
    panel.select_job(jid)
    assert panel.cancel_btn.isEnabled()
    with qtbot.waitSignal(panel.jobEnded, timeout=30_000) as sig:
        qtbot.mouseClick(panel.cancel_btn, Qt.MouseButton.LeftButton)
    assert sig.args == [jid, "cancelled"]
    assert not pid_alive(job["pid"])
    assert project.job(jid)["status"] == "cancelled"
    n_before = len(records(run_dir))
    done_steps = max(r["step"] for r in records(run_dir))
    total = max(r["total"] for r in records(run_dir))
    assert done_steps < total  # killed before the end

    # Resume from the GUI: continues from the checkpoint, not from step 1
    panel.select_job(jid)
    assert panel.resume_btn.isEnabled()
    with qtbot.waitSignal(panel.jobEnded, timeout=JOB_TIMEOUT_MS) as sig:
        qtbot.mouseClick(panel.resume_btn, Qt.MouseButton.LeftButton)
    assert sig.args == [jid, "done"], project.job(jid).get("error")
    after = records(run_dir)[n_before:]
    assert after and after[0]["step"] > 1 and after[-1]["step"] == after[-1]["total"] == total
    assert any("resumed" in line for line in project.logs(jid))
    assert project.checkpoints(jid)[0]["path"] == str(ck)
    # the loss curve holds every step seen (before and after the kill)
    assert len(panel.history[jid].loss) >= 4


def test_reopening_marks_dead_jobs_interrupted_and_reattaches_live_ones(qtbot, tmp_path):
    project = Project(tmp_path / "p.nasx")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    j_dead = project.add_job("train", dict(TINY_TRAIN), run_dir=str(tmp_path / "r1"))
    project.update_job(j_dead, status="running", pid=dead.pid, started=time.time())
    live = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "explorer"], start_new_session=True
    )
    j_live = project.add_job("search", {"constraint": 1.0}, run_dir=str(tmp_path / "r2"))
    project.update_job(j_live, status="running", pid=live.pid, started=time.time())
    try:
        panel = make_panel(qtbot, project)
        assert project.job(j_dead)["status"] == "interrupted"
        panel.select_job(j_dead)
        assert panel.resume_btn.isEnabled()  # training: resumable
        assert project.job(j_live)["status"] == "running" and j_live in panel.procs
        panel.select_job(j_live)
        assert panel.cancel_btn.isEnabled() and not panel.resume_btn.isEnabled()
        with qtbot.waitSignal(panel.jobEnded, timeout=20_000):
            panel.cancel(j_live)
        live.wait(timeout=10)
        assert live.returncode is not None  # really killed
        assert project.job(j_live)["status"] == "cancelled"
    finally:
        if live.poll() is None:
            live.kill()


@needs_trainer
def test_extraction_makes_a_candidate_with_weights(qtbot, tmp_path):
    from explorer.spaces import get_space
    from explorer.supernet.trainer import new_supernet_checkpoint

    project = Project(tmp_path / "p.nasx")
    ck = new_supernet_checkpoint("ofa-mbv3-w1.0", 10, tmp_path / "super.pt")
    project.add_checkpoint(str(ck))
    space = get_space("ofa-mbv3-w1.0")
    cfg = space.sample(3)
    src = project.add_candidate(space.encode(cfg), name="source")
    graph = project.candidate(src).graph
    graph.meta["candidate_id"] = src
    panel = make_panel(qtbot, project, current_graph_getter=lambda: graph)
    assert panel.extraction.ckpt.currentText() == str(ck)
    panel.extraction.recal.setChecked(False)
    changed = []
    panel.candidatesChanged.connect(lambda: changed.append(1))
    with qtbot.waitSignal(panel.jobEnded, timeout=JOB_TIMEOUT_MS) as sig:
        qtbot.mouseClick(panel.extraction.start_btn, Qt.MouseButton.LeftButton)
    jid = sig.args[0]
    assert sig.args[1] == "done", project.job(jid).get("error")
    cid = project.job(jid)["result"]["candidate_id"]
    c = project.candidate(cid)
    assert c.parent_id == src and "extracted" in c.tags
    assert c.weights_path and Path(c.weights_path).exists()
    assert c.config["ks"] == cfg["ks"]
    assert project.metric_table()[cid]["complexity:params"] > 0
    assert changed


def test_search_job_adds_the_best_config(qtbot, tmp_path):
    from explorer.search.predictor import OFFICIAL_W12

    if not OFFICIAL_W12.is_file():
        pytest.skip("the official OFA predictor is not shipped")
    project = Project(tmp_path / "p.nasx")
    panel = make_panel(qtbot, project)
    with qtbot.waitSignal(panel.jobEnded, timeout=JOB_TIMEOUT_MS) as sig:
        jid = panel.start_search(
            space="ofa-mbv3-w1.2",
            constraint=400.0,
            latency="macs",
            accuracy="official",
            population=8,
            generations=2,
        )
    assert sig.args == [jid, "done"], project.job(jid).get("error")
    res = project.job(jid)["result"]
    c = project.candidate(res["candidate_id"])
    assert c.space == "ofa-mbv3-w1.2" and "search" in c.tags
    row = project.metric_table()[c.id]
    assert row["accuracy:estimate"] == pytest.approx(res["accuracy"])
    assert row["complexity:macs"] <= 400e6 and "latency:macs" not in row
