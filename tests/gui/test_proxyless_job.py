"""The jobs panel runs a real ProxylessNAS search (`python -m explorer search proxyless` in a child
process) against a real project file: live alpha heat map, a candidate at the end, SIGTERM cancel
and resume."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from explorer.gui.jobs import JobsPanel  # noqa: E402
from explorer.jobs.process import pid_alive  # noqa: E402
from explorer.jobs.status import PROXYLESS  # noqa: E402
from explorer.store import Project  # noqa: E402

pytestmark = pytest.mark.slow
JOB_TIMEOUT_MS = 180_000

# 4 searchable layers (2 of them may be `zero`) at 16x16 on 320 images: a few seconds of search
TINY = dict(
    skeleton="small",
    resolution=16,
    batch_size=32,
    train_images=320,
    warmup_epochs=0.5,
    arch_lr=0.1,
    data="builtin",
)


@pytest.fixture
def panel(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_EXPLORER_LUTS", str(tmp_path / "luts"))  # never the user's device files
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    project = Project(tmp_path / "p.nasx")
    w = JobsPanel(lambda: project)
    qtbot.addWidget(w)
    w.resize(1100, 800)
    w.show()
    w.refresh()
    w.project = project
    yield w
    w.shutdown(kill=True)


def records(run_dir):
    p = Path(run_dir) / "progress.jsonl"
    return [json.loads(x) for x in p.read_text().splitlines() if x.strip()] if p.exists() else []


def test_search_on_the_local_cpu_plots_alphas_and_adds_a_candidate(qtbot, panel, tmp_path):
    project = panel.project
    panel.tabs.setCurrentIndex(panel.px_tab)  # fills the device list from the registry
    assert panel.proxyless.device.itemText(0) == "local" and panel.proxyless.device.findText("synthetic") >= 0
    changed = []
    panel.candidatesChanged.connect(lambda: changed.append(1))
    with qtbot.waitSignal(panel.jobEnded, timeout=JOB_TIMEOUT_MS) as sig:
        jid = panel.start_proxyless(
            **TINY, device="local", target_ms=1.0, epochs=2, lut_dir=str(tmp_path / "luts")
        )
        assert project.job(jid)["kind"] == PROXYLESS and pid_alive(project.job(jid)["pid"])
        qtbot.waitUntil(lambda: panel.px_plot.matrix is not None, timeout=JOB_TIMEOUT_MS)
        m = panel.px_plot.matrix
        # small skeleton: 4 layers x (k{3,5,7} x e{3,6} + zero); the first layer of a stage has no zero
        assert m.shape == (4, 7) and panel.px_plot.op_labels[-1] == "zero"
        assert np.isnan(m[0, 6]) and np.isnan(m[2, 6]) and not np.isnan(m[1, 6])
        assert np.nansum(m, axis=1) == pytest.approx(np.ones(4), abs=1e-3)
    assert sig.args == [jid, "done"], project.job(jid).get("error")
    res = project.job(jid)["result"]
    assert changed
    c = project.candidate(res["candidate_id"])
    assert c.space == "proxyless-cifar" and "proxyless" in c.tags and Path(c.weights_path).is_file()
    assert c.config["choices"] == res["choices"]
    dev = res["device"]["name"]
    assert dev.startswith("local-") and res["device"]["local"]
    row = project.metric_table()[c.id]
    assert row[f"latency:{dev}"] == pytest.approx(res["predicted_ms"]) and row[f"latency:{dev}"] > 0
    assert row[f"latency:{dev} measured"] == pytest.approx(res["measured"]["measured_ms"])
    assert row["complexity:macs"] > 0
    # the finished job's plot: final probabilities, the latency curve over every step, the target
    panel.select_job(jid)
    assert panel.plot_stack.currentWidget() is panel.px_plot
    final = np.array([p for row_ in res["probs"] for p in row_])
    assert np.sort(panel.px_plot.matrix[~np.isnan(panel.px_plot.matrix)]) == pytest.approx(np.sort(final))
    xs, _ = panel.px_plot.expected.getData()
    assert list(xs) == list(range(1, res["steps"] + 1))
    assert panel.px_plot.target.value() == pytest.approx(1.0)
    assert "predicted" in panel.table.item(0, 3).text() and "predicted" in panel.status_label.text()


def test_cancel_with_sigterm_then_resume_to_the_end(qtbot, panel):
    project = panel.project
    jid = panel.start_proxyless(**TINY, device="synthetic", target_ms=0.09, epochs=25, measure=False)
    run_dir = Path(project.job(jid)["run_dir"])
    qtbot.waitUntil(
        lambda: (
            any(r["phase"] == "search" for r in records(run_dir))
            and jid in panel.px_history
            and len(panel.px_history[jid].curves) >= 3
        ),
        timeout=JOB_TIMEOUT_MS,
    )
    panel.select_job(jid)
    assert panel.cancel_btn.isEnabled()
    with qtbot.waitSignal(panel.jobEnded, timeout=60_000) as sig:
        qtbot.mouseClick(panel.cancel_btn, Qt.MouseButton.LeftButton)
    assert sig.args == [jid, "cancelled"]
    stopped = json.loads((run_dir / "stdout.txt").read_text())
    assert "stopped" in stopped  # SIGTERM: the search saved its checkpoint and said where it stopped
    assert (run_dir / "checkpoint.pt").is_file()
    recs = records(run_dir)
    total = max(r["total"] or 0 for r in recs)
    last = max(r["step"] for r in recs if r["phase"] in ("warmup", "search"))
    assert last < total
    n_before = len(recs)
    assert not project.candidates()

    panel.select_job(jid)
    assert panel.resume_btn.isEnabled()
    with qtbot.waitSignal(panel.jobEnded, timeout=JOB_TIMEOUT_MS) as sig:
        qtbot.mouseClick(panel.resume_btn, Qt.MouseButton.LeftButton)
    assert sig.args == [jid, "done"], project.job(jid).get("error")
    after = [r for r in records(run_dir)[n_before:] if r["phase"] in ("warmup", "search")]
    assert after[0]["step"] == last + 1 and after[-1]["step"] == total  # continued, not restarted
    assert any("resumed" in line for line in project.logs(jid))
    # the plot's latency curve covers every step once, across the cancel
    assert sorted(panel.px_history[jid].curves) == list(range(1, total + 1))
    res = project.job(jid)["result"]
    assert res["steps"] == total
    row = project.metric_table()[res["candidate_id"]]
    assert row["latency:synthetic"] == pytest.approx(res["predicted_ms"])
    assert "latency:synthetic measured" not in row  # a synthetic table is not measurable


def test_resume_before_the_first_checkpoint_starts_afresh(qtbot, panel):
    project = panel.project
    jid = panel.start_proxyless(**TINY, device="synthetic", target_ms=0.09, epochs=1, measure=False)
    run_dir = Path(project.job(jid)["run_dir"])
    with qtbot.waitSignal(panel.jobEnded, timeout=60_000) as sig:
        panel.cancel(jid)  # at once: the child is still starting up and has no checkpoint
    assert sig.args == [jid, "cancelled"] and not (run_dir / "checkpoint.pt").exists()
    panel.select_job(jid)
    assert panel.resume_btn.isEnabled()
    with qtbot.waitSignal(panel.jobEnded, timeout=JOB_TIMEOUT_MS) as sig:
        assert panel.resume(jid)
    assert sig.args == [jid, "done"], project.job(jid).get("error")
    steps = [r["step"] for r in records(run_dir) if r["phase"] in ("warmup", "search")]
    assert steps[0] == 1 and steps == sorted(steps)  # one fresh run, not a resumed one
    assert project.job(jid)["result"]["candidate_id"] == project.candidates()[0].id
