"""GUI responsiveness while live metrics recompute (issue 6 goals: 10 ms timer p99 gap <= 50 ms;
edit-to-all-metrics <= 1.5 s for an OFA-MBv3 subnet at proxy resolution 64).

    QT_QPA_PLATFORM=offscreen python benchmarks/gui_responsiveness.py [--seconds 30] [--edits 5]

Baselines measured in the same run: the timer's gaps with the window idle, and the same metrics
computed by a direct `compute_metrics` call (no GUI, no debounce).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="continuous recompute duration")
    ap.add_argument("--idle-seconds", type=float, default=5.0, help="idle baseline duration")
    ap.add_argument("--edits", type=int, default=5, help="edits for the edit-to-metrics latency")
    ap.add_argument("--space", default="ofa-mbv3-w1.0")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--torch-threads", type=int, default=1, help="torch threads of the metrics worker")
    args = ap.parse_args()

    import torch
    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from explorer.gui.main_window import MainWindow
    from explorer.live_metrics import LiveSettings, compute_metrics
    from explorer.spaces import get_space

    app = QApplication.instance() or QApplication([])
    space = get_space(args.space)
    cfg = space.sample(args.seed)
    hold = {"r": cfg["r"]} if "r" in cfg else {}

    # this machine's layer table, profiled for the space at the resolution in use (what
    # `nas-explorer latency profile --device local --space SPACE` does, or the first edits fill)
    from explorer.latency import keys, profile
    from explorer.live_metrics import local_lut_device

    lut = local_lut_device()
    t_prof = time.perf_counter()
    specs = keys.unique_specs(
        space.encode(c) for c in profile.coverage_configs(space, [cfg["r"]] if hold else None)
    )
    prof = profile.profile(lut, specs, spaces=[space.name])
    print(
        f"local table {lut.name}: {len(specs)} keys for r={hold.get('r', '-')}, "
        f"{len(prof.measured)} measured now in {time.perf_counter() - t_prof:.1f} s"
    )
    settings = LiveSettings.live()
    win = MainWindow(
        space.encode(cfg),
        settings=settings,
        restore_state=False,
        ask_to_save=False,
        torch_threads=args.torch_threads,
    )
    win.resize(1280, 800)
    win.show()
    devices = win.device_list.checked()

    def wait_idle(limit_s: float = 120.0) -> None:
        t0 = time.perf_counter()
        c = win.controller
        while (c.busy or c.timer.isActive() or c._pending is not None) and time.perf_counter() - t0 < limit_s:
            app.processEvents()
            time.sleep(0.001)

    wait_idle()

    # -- timer gaps -----------------------------------------------------------------------------
    gaps: list[float] = []
    clock = QElapsedTimer()
    clock.start()
    last = [clock.nsecsElapsed()]

    def tick() -> None:
        now = clock.nsecsElapsed()
        gaps.append((now - last[0]) / 1e6)
        last[0] = now

    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)

    def run_loop(seconds: float) -> None:
        """The app's own event loop (blocking in Qt, as `app.exec()` does), not a polling loop:
        polling would wake the GUI thread thousands of times a second and steal the GIL."""
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def wait_finished(limit_s: float) -> float:
        """Run the event loop until the metrics controller finishes; the time it finished."""
        loop, done = QEventLoop(), {}

        def fin(*_a) -> None:
            done.setdefault("t", time.perf_counter())
            loop.quit()

        win.controller.finished.connect(fin)
        QTimer.singleShot(int(limit_s * 1000), loop.quit)
        loop.exec()
        win.controller.finished.disconnect(fin)
        return done.get("t", float("nan"))

    last[0] = clock.nsecsElapsed()
    timer.start()
    run_loop(args.idle_seconds)
    idle = list(gaps)
    gaps.clear()

    # continuous recompute: each finished result triggers the next edit (debounced as for a user)
    k = [0]

    def next_edit(*_a) -> None:
        k[0] += 1
        new = space.mutate(cfg, seed=1000 + k[0], prob=0.3) | hold
        win.apply_space_graph(space.encode(new), "bench edit")

    win.controller.finished.connect(next_edit)
    win.controller.invalid.connect(next_edit)
    n0 = win.controller.computations
    next_edit()
    last[0] = clock.nsecsElapsed()
    run_loop(args.seconds)
    busy = list(gaps)
    timer.stop()
    win.controller.finished.disconnect(next_edit)
    win.controller.invalid.disconnect(next_edit)
    recomputes = win.controller.computations - n0
    wait_idle()

    # -- edit to all metrics ----------------------------------------------------------------------
    lat, direct, serial = [], [], []
    for i in range(args.edits):
        new = space.mutate(cfg, seed=5000 + i, prob=0.3) | hold
        t0 = time.perf_counter()
        win.apply_space_graph(space.encode(new), "bench edit")
        lat.append(wait_finished(120) - t0)
        for parallel in (True, False) if i % 2 else (False, True):  # alternate: the second run is warmer
            t1 = time.perf_counter()
            compute_metrics(space.encode(new), settings, devices, parallel=parallel)
            (direct if parallel else serial).append(time.perf_counter() - t1)
    # a cold edit: a resolution the table has never seen, so every layer is measured first
    cold = None
    if hold:
        unseen = [
            r
            for r in space.geo.resolutions
            if f"Conv-input:{r}x{r}x3-output:{(r + 1) // 2}x{(r + 1) // 2}x16" not in lut.table
        ]
        if unseen:
            new = space.mutate(cfg, seed=9000, prob=0.3) | {"r": unseen[len(unseen) // 2]}
            t0 = time.perf_counter()
            win.apply_space_graph(space.encode(new), "bench edit")
            cold = (new["r"], wait_finished(300) - t0)
    # the previous local-CPU method, timing the whole network at each edit (baseline)
    from explorer.live_metrics import _local_cpu_direct

    whole = []
    for i in range(args.edits):
        g = space.encode(space.mutate(cfg, seed=5000 + i, prob=0.3) | hold)
        t1 = time.perf_counter()
        _local_cpu_direct(g, lambda: False)
        whole.append(time.perf_counter() - t1)
    win.close()

    def show(name, g):
        p50, p99 = pct(g, 50), pct(g, 99)
        print(f"{name:<28} n={len(g):5d}  p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(g):7.1f} ms")

    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, load avg {os.getloadavg()[0]:.1f}")
    print(f"space {args.space} seed {args.seed}, proxies {settings}, devices {devices}")
    show("10 ms timer, idle", idle)
    show("10 ms timer, recomputing", busy)
    print(f"recomputes during {args.seconds:.0f} s: {recomputes}")
    print(f"p99 gap ratio busy/idle: {pct(busy, 99) / pct(idle, 99):.2f}x   (goal p99 <= 50 ms)")
    med_l, med_d = statistics.median(lat), statistics.median(direct)
    print(
        f"edit -> all metrics (incl. 300 ms debounce): median {med_l:.2f} s, max {max(lat):.2f} s "
        f"(goal <= 1.5 s)"
    )
    print(
        f"direct compute_metrics (baseline):          median {med_d:.2f} s;  GUI path / direct = "
        f"{med_l / med_d:.2f}x"
    )
    print(f"direct, Zen and GradSign one after the other:  median {statistics.median(serial):.2f} s")
    print(
        f"local CPU latency by timing the whole network (old method): median {statistics.median(whole):.3f} s"
    )
    if cold is not None:
        print(f"cold edit to unprofiled r={cold[0]} (every layer measured first): {cold[1]:.1f} s")


if __name__ == "__main__":
    main()
