"""Compare plot with 10,000 candidates: redraw time after a selection change (goal <= 100 ms).

Builds a real project file with 10,000 candidates and metrics, opens the candidates table and the
compare plot (offscreen), and times, until the plot's viewport has repainted:
  - a selection change coming from the table (1, 100, 1,000 and 5,000 candidates): the way the plot
    does it, a small highlight item on top plus the side plots;
  - baseline in the same run: the naive way, resetting every point's brush to mark the selection;
  - a full redraw (axis change: Pareto ranks of 10,000 points, brushes as an array, the front).

    QT_QPA_PLATFORM=offscreen python benchmarks/plot_interactivity.py [--n 10000] [--repeats 7]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PySide6.QtGui import QBrush, QColor  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from explorer.arch import to_json  # noqa: E402
from explorer.spaces import get_space  # noqa: E402
from explorer.store import Project  # noqa: E402


def fill(path: Path, n: int) -> Project:
    """n candidates with params/MACs/Zen/latency on three devices, in one transaction."""
    p = Project(path)
    sp = get_space("ofa-mbv3-w1.0")
    arch = to_json(sp.encode(sp.sample(0)), indent=None)
    rng = np.random.default_rng(0)
    now = time.time()
    db = p.db
    db.execute("BEGIN")
    db["candidates"].insert_all(
        (
            {
                "id": i + 1,
                "name": f"c{i}",
                "space": sp.name,
                "arch": arch,
                "tags": "bench",
                "notes": "",
                "created": now,
                "modified": now,
            }
            for i in range(n)
        ),
        batch_size=2000,
    )
    macs = rng.lognormal(19, 0.4, n)
    rows = []
    for i in range(n):
        cid = i + 1
        rows += [
            {"candidate_id": cid, "kind": "complexity", "name": "macs", "value": macs[i]},
            {"candidate_id": cid, "kind": "complexity", "name": "params", "value": macs[i] / 50},
            {
                "candidate_id": cid,
                "kind": "proxy",
                "name": "zen",
                "value": np.log(macs[i]) * 5 + rng.normal(),
            },
        ]
        for j, dev in enumerate(("gpu", "cpu", "phone")):
            rows.append(
                {
                    "candidate_id": cid,
                    "kind": "latency",
                    "name": dev,
                    "value": macs[i] / 1e6 * (0.1 + j) * rng.uniform(0.8, 1.2),
                }
            )
    db["metrics"].insert_all(rows, batch_size=5000)
    db.execute("COMMIT")
    return p


def timed(fn, repeats: int) -> tuple[float, float]:
    ts = []
    for k in range(repeats):
        t = time.perf_counter()
        fn(k)
        ts.append((time.perf_counter() - t) * 1e3)
    return statistics.median(ts), max(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    app = QApplication.instance() or QApplication([])
    from explorer.gui.candidates_view import CandidatesView
    from explorer.gui.compare_plot import ComparePlot

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        project = fill(Path(tmp) / "bench.nasx", args.n)
        t_fill = time.perf_counter() - t
        table = CandidatesView(lambda: project)
        plot = ComparePlot(table.model)
        plot.set_device("gpu")
        table.resize(900, 500)
        plot.resize(900, 800)
        table.show()
        plot.show()
        t = time.perf_counter()
        table.refresh()
        app.processEvents()
        t_load = (time.perf_counter() - t) * 1e3
        vp = plot.plot.viewport()
        ids = table.model.ids
        rng = np.random.default_rng(1)

        def paint():
            vp.repaint()
            plot.parallel.viewport().repaint()

        results = {}
        for k in (1, 100, 1000, 5000):
            picks = [rng.choice(ids, size=k, replace=False).tolist() for _ in range(args.repeats)]

            def ours(i, picks=picks):
                plot.set_selection(picks[i])
                paint()

            results[f"select {k}"] = timed(ours, args.repeats)

            base_brushes = list(plot.scatter.data["brush"])
            sel_brush = QBrush(QColor(0, 0, 0))

            def naive(i, picks=picks, base_brushes=base_brushes, sel_brush=sel_brush):
                chosen = set(picks[i])
                rows = plot.scatter.data["data"]
                brushes = [sel_brush if int(ids[r]) in chosen else b for r, b in zip(rows, base_brushes)]
                plot.scatter.setBrush(brushes)
                paint()

            results[f"naive {k}"] = timed(naive, args.repeats)
            plot.scatter.setBrush(base_brushes)

        def linked(i):
            table.select_ids(rng.choice(ids, size=100, replace=False).tolist())
            table._on_selection()
            plot.set_selection(table.selected_ids())
            paint()

        results["table select 100 + plot"] = timed(linked, args.repeats)
        keys = table.model.metric_keys

        def axes(i):
            plot.set_axes(keys[i % len(keys)], keys[(i + 2) % len(keys)])
            paint()

        results["axis change (full redraw)"] = timed(axes, args.repeats)

    print(f"{args.n} candidates; project filled in {t_fill:.1f} s; table+plot load {t_load:.0f} ms")
    print(f"{'operation':32s} {'median ms':>10s} {'max ms':>8s}")
    for name, (med, mx) in results.items():
        print(f"{name:32s} {med:10.1f} {mx:8.1f}")
    for k in (1, 100, 1000, 5000):
        ours, naive = results[f"select {k}"][0], results[f"naive {k}"][0]
        print(
            f"selection of {k:5d}: highlight item {ours:.1f} ms vs per-point brushes {naive:.1f} ms "
            f"-> {naive / ours:.1f}x; goal median <= 100 ms: {'ok' if ours <= 100 else 'MISSED'}"
        )
    if args.json:
        print(json.dumps({k: {"median_ms": v[0], "max_ms": v[1]} for k, v in results.items()}))


if __name__ == "__main__":
    main()
