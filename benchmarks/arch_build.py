"""Time to sample + validate + build an OFA-MBv3 subnet and an NB201 network (live-editing budget).

Goal: well under 50 ms each on 2 cores. Baseline printed beside it: a plain forward pass of the
built model at batch 1 (so the ratio says how the IR's overhead compares with using the model).

    python benchmarks/arch_build.py [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from explorer.arch import build_model, check
from explorer.spaces import get_space


def timed(fn, repeats):
    times = []
    for k in range(repeats):
        t = time.perf_counter()
        fn(k)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), sorted(times)[int(0.9 * (len(times) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, median of {args.repeats}")
    cols = ("sample", "validate", "build", "total", "p90", "fwd bs1")
    print(f"{'space':15s} " + " ".join(f"{c:>9s}" for c in cols))
    for name in ("ofa-mbv3-w1.0", "ofa-mbv3-w1.2", "nb201"):
        sp = get_space(name)
        for k in range(3):  # warm up
            build_model(sp.encode(sp.sample(k)), seed=k)
        t_sample, _ = timed(lambda k: sp.encode(sp.sample(k)), args.repeats)
        graphs = [sp.encode(sp.sample(k)) for k in range(args.repeats)]
        t_val, _ = timed(lambda k: check(graphs[k]), args.repeats)
        t_build, _ = timed(lambda k: build_model(graphs[k], seed=k), args.repeats)
        t_total, p90 = timed(lambda k: build_model(sp.encode(sp.sample(k)), seed=k), args.repeats)
        model = build_model(graphs[0]).eval()
        x = torch.randn(1, 3, graphs[0].resolution, graphs[0].resolution)
        with torch.inference_mode():
            t_fwd, _ = timed(lambda k: model(x), 10)
        vals = (t_sample, t_val, t_build, t_total, p90, t_fwd)
        print(f"{name:15s} " + " ".join(f"{v:9.2f}" for v in vals) + "  ms")


if __name__ == "__main__":
    main()
