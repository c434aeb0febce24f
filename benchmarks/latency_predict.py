"""Cost of predicting latency per architecture (batch of 1000) vs measuring the same nets.

    python benchmarks/latency_predict.py [--n 1000] [--measure 5]

Devices: the Note10 layer-wise LUT (OFA-MBv3 w1.2) and network-wise predictors (NB201 and
OFA-MBv3 w1.0, additive-mlp). Baseline in the same run: measuring NB201 CIFAR nets with torch on
this CPU (1 thread, batch 1, median of 10 runs after 3 warm-ups), when the arch core is present.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from explorer.latency.registry import load_device


def ofa_configs(n: int, rs, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {
            "ks": [rng.choice((3, 5, 7)) for _ in range(20)],
            "e": [rng.choice((3, 4, 6)) for _ in range(20)],
            "d": [rng.choice((2, 3, 4)) for _ in range(5)],
            "r": rng.choice(rs),
        }
        for _ in range(n)
    ]


def nb201_configs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    ops = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    out = []
    for _ in range(n):
        o = [rng.choice(ops) for _ in range(6)]
        out.append(f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|")
    return out


def per_arch_ms(fn, n: int, reps: int = 3) -> float:
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, (time.perf_counter() - t) / n * 1e3)
    return best


def measure_nb201(archs: list[str]) -> float | None:
    """Median ms of one forward of each NB201 net (torch CPU, 1 thread, batch 1)."""
    try:
        from explorer.arch.build import build_model
        from explorer.spaces import get_space
    except ImportError:
        return None
    torch.set_num_threads(1)
    space = get_space("nb201")
    times = []
    for a in archs:
        model = build_model(space.encode(space.check({"arch_str": a}))).eval()
        x = torch.randn(1, 3, 32, 32)
        with torch.inference_mode():
            for _ in range(3):
                model(x)
            runs = []
            for _ in range(10):
                t = time.perf_counter()
                model(x)
                runs.append((time.perf_counter() - t) * 1e3)
        times.append(statistics.median(runs))
    return statistics.mean(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--measure", type=int, default=5)
    a = ap.parse_args()
    rows = []
    lut = load_device("note10-ofa-w12")
    cfg12 = ofa_configs(a.n, (160, 176, 192, 208, 224))
    rows.append(("note10-ofa-w12 (LUT)", per_arch_ms(lambda: lut.predict("ofa-mbv3-w1.2", cfg12), a.n)))
    for name, space, cfgs in (
        ("help-ofa-2080ti_1", "ofa-mbv3-w1.0", ofa_configs(a.n, tuple(range(128, 225, 4)))),
        ("help-nb201-pixel3", "nb201", nb201_configs(a.n)),
        ("latbench-nb201-mobile-gpu-snapdragon-855-adreno-640-int8", "nb201", nb201_configs(a.n)),
    ):
        dev = load_device(name)
        rows.append((f"{name} (network)", per_arch_ms(lambda d=dev, s=space, c=cfgs: d.predict(s, c), a.n)))
    base = measure_nb201(nb201_configs(a.measure, seed=1)) if a.measure else None
    print(f"per-architecture prediction cost, batch of {a.n}")
    for name, ms in rows:
        extra = f"  ({base / ms:,.0f}x faster than measuring)" if base else ""
        print(f"  {name:62s} {ms * 1e3:8.1f} us/arch{extra}")
    if base:
        print(f"  baseline: measuring an NB201 CIFAR net, torch CPU 1 thread: {base:.2f} ms/arch (+ build)")


if __name__ == "__main__":
    main()
