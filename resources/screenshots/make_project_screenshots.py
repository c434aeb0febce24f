"""Screenshots of the project docks (candidates + Pareto plot, diff view, jobs panel with a running
training), offscreen. Usage: python resources/screenshots/make_project_screenshots.py [compare] [diff] [jobs]
(the compare shot samples and scores 80 NB201 candidates first; slow on a loaded 2-core machine)."""

# ruff: noqa: E402 - Qt must be told to render offscreen before it is imported
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QSplitter

app = QApplication([])
app.setStyle("Fusion")
from explorer.arch import count_complexity
from explorer.bulk import BulkSampleJob
from explorer.gui.candidates_view import CandidatesView
from explorer.gui.compare_plot import ComparePlot
from explorer.gui.diff_view import DiffView
from explorer.gui.jobs import JobsPanel
from explorer.live_metrics import LiveSettings, predict_latency
from explorer.spaces import get_space
from explorer.store import Project

OUT = Path(__file__).resolve().parent
work = Path(os.environ.get("SHOTS_WORK", "/tmp/nas-explorer-shots"))
work.mkdir(exist_ok=True)
for f in ("ofa.nasx", "jobs.nasx"):
    (work / f).unlink(missing_ok=True)
which = sys.argv[1:] or ["compare", "diff", "jobs"]


def wait(ms):
    t = time.time()
    while (time.time() - t) * 1000 < ms:
        app.processEvents()
        time.sleep(0.02)


if "compare" in which:
    path = work / "nb201.nasx"
    devs = ["help-nb201-pixel3", "help-nb201-titan_rtx_1", "help-nb201-gold_6226"]
    s = LiveSettings(zen_batch=4, gradsign=False, resolution=32, latency=True)
    if not path.exists():
        r = BulkSampleJob(
            str(path),
            "nb201",
            int(os.environ.get("N", 80)),
            seed=1,
            settings=s.to_dict(),
            devices=tuple(devs),
        ).run()
        print("bulk", r["scored"], r["seconds"], r["note"])
    project = Project(path)
    table = CandidatesView(lambda: project)
    plot = ComparePlot(table.model)
    plot.set_device("help-nb201-pixel3")
    table.selectionChangedIds.connect(plot.set_selection)
    split = QSplitter(Qt.Orientation.Horizontal)
    split.addWidget(table)
    split.addWidget(plot)
    split.resize(1600, 900)
    split.setSizes([820, 780])
    split.show()
    table.refresh()
    front = [int(c) for c, rk in zip(table.model.ids, plot.ranks) if rk == 0]
    table.select_ids(front)
    table._on_selection()
    wait(500)
    split.grab().save(str(OUT / "candidates_pareto.png"))
    plot.tabs.setCurrentIndex(1)
    table.select_ids(front[:1])
    table._on_selection()
    wait(300)
    plot.grab().save(str(OUT / "latency_by_device.png"))

if "diff" in which:
    s = get_space("ofa-mbv3-w1.0")
    cfg = s.sample(4)
    cfg2 = dict(cfg, ks=list(cfg["ks"]), e=list(cfg["e"]), d=list(cfg["d"]))
    cfg2["ks"][0] = 7 if cfg["ks"][0] != 7 else 3
    cfg2["e"][4] = 6 if cfg["e"][4] != 6 else 3
    cfg2["d"][1] = 2 if cfg["d"][1] != 2 else 4
    cfg2["r"] = 192
    p = Project(work / "ofa.nasx")
    ids = []
    for name, c in (("baseline", cfg), ("variant", cfg2)):
        g = s.encode(c)
        cid = p.add_candidate(g, name=name)
        ids.append(cid)
        cc = count_complexity(g)
        p.record_metric(cid, "complexity", "params", cc.params)
        p.record_metric(cid, "complexity", "macs", cc.macs)
        for d in ("help-ofa-titan_rtx_1", "help-ofa-2080ti_1"):
            e = predict_latency(g, d)
            p.record_metric(cid, "latency", d, e["value"])
    v = DiffView(lambda: p)
    v.resize(1400, 900)
    v.show()
    v.refresh()
    v.compare_candidates(*ids)
    wait(300)
    v.grab().save(str(OUT / "diff_view.png"))
    v.hide_same.setChecked(True)
    wait(200)
    v.grab().save(str(OUT / "diff_view_changed_only.png"))

if "jobs" in which:
    p = Project(work / "jobs.nasx")
    panel = JobsPanel(lambda: p)
    panel.resize(1200, 900)
    panel.show()
    panel.refresh()
    jid = panel.start_training(
        space="ofa-mbv3-w1.0",
        data="builtin",
        phases=["teacher", "kernel"],
        epochs=1.0,
        batch_size=8,
        subset=48,
        resolutions=[32],
        save_every=2,
        val_subset=32,
    )
    t0 = time.time()
    while time.time() - t0 < 420:
        wait(500)
        h = panel.history.get(jid)
        if h is not None and len(h.loss) >= int(os.environ.get("STEPS", 9)) and h.min:
            break
    print("records", len(h.loss) if h is not None else 0, p.job(jid)["status"])
    wait(300)
    panel.grab().save(str(OUT / "jobs_training.png"))
    panel.cancel(jid)
    wait(1500)
    print("after cancel", p.job(jid)["status"])
