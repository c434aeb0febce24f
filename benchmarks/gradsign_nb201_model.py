"""Does our NB201 GradSign rank correlation depend on the model build? Our GradSign on the official
code's masked-supernet model (benchmarks/nb201_masked_model.py) vs on our standard network, on the
same sample of cells as benchmarks/proxy_correlation.py, with bootstrap intervals.

    python benchmarks/gradsign_nb201_model.py [--n 200] [--seed 0] [--threads 1]

1. Equivalence check on one cell: our weights copied into the masked model (conv by conv, in call
   order) give the same logits and the same GradSign -> the two builds differ only in the draw.
2. For every cell of the sample: GradSign (fast path, the first 128 CIFAR-10 training images) on the
   masked model built after torch.manual_seed(arch_index); resumable JSON lines in `--out`.
3. Spearman rho with CIFAR-10 test accuracy for both builds, rho between the two builds' scores,
   and 95 % bootstrap intervals (cells resampled; paired for the difference).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
NB201_CSV = ROOT / ".." / "shared" / "data" / "nb201" / "nb201_cifar10_200ep.csv"


def masked_counterpart(masked_model, name: str):
    """The masked model's layer that plays the role of our layer `name` (same position)."""
    import re

    import nb201_masked_model as masked

    if name == "layers.stem.conv":
        return masked_model.stem[0]
    if name == "layers.classifier.linear":
        return masked_model.classifier
    m = re.fullmatch(r"layers\.reduce(\d)\.(conv_a|conv_b|downsample)\.(conv|1)", name)
    if m:
        red = getattr(masked_model, f"red{m.group(1)}")
        return red.residual[1] if m.group(2) == "downsample" else getattr(red, m.group(2))[1]
    m = re.fullmatch(r"layers\.s(\d)c(\d)_e(\d)(\d)\.conv", name)
    if not m:
        raise KeyError(name)
    stage, cell, i, j = (int(v) for v in m.groups())
    c = getattr(masked_model, f"cells{stage}")[cell]
    base = len(masked.OPS) * j * (j - 1) // 2
    for k in range(len(masked.OPS)):  # the kept op of edge i -> j
        idx = base + len(masked.OPS) * i + k
        if c.keep[idx]:
            return c.options[idx][1]
    raise KeyError(name)


def equivalence_check(arch_str: str, images, labels) -> tuple[float, int, int]:
    """(max |logit diff|, GradSign ours, GradSign masked) with our weights in the masked model."""
    import nb201_masked_model as masked
    import torch

    from explorer.arch import build_model
    from explorer.proxies import gradsign
    from explorer.spaces import get_space

    ours = build_model(get_space("nb201").encode({"arch_str": arch_str}), seed=0)
    m = masked.build(arch_str, 0)
    with torch.no_grad():
        for name, src in ours.named_modules():
            if isinstance(src, (torch.nn.Conv2d, torch.nn.Linear)):
                dst = masked_counterpart(m, name)
                dst.weight.copy_(src.weight)
                if dst.bias is not None:
                    dst.bias.copy_(src.bias) if src.bias is not None else dst.bias.uniform_(-1, 1)
    ours.train()
    m.train()
    x = images[:16]
    with torch.no_grad():
        diff = float((ours(x) - m(x)).abs().max())
    return diff, gradsign(ours, images, labels).score, gradsign(m, images, labels).score


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def boot(fn, n: int, reps: int = 1000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    vals = [fn(rng.integers(0, n, n)) for _ in range(reps)]
    return float(np.percentile(vals, 2.5)), float(np.percentile(vals, 97.5))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / ".notes" / "gradsign_masked_cells.jsonl"))
    ap.add_argument("--ours", default=str(ROOT / ".notes" / "proxy_corr_cells.jsonl"))
    args = ap.parse_args()

    import nb201_masked_model as masked
    import torch

    from explorer.data import gradsign_batch
    from explorer.proxies import gradsign

    torch.set_num_threads(args.threads)
    with open(NB201_CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    pick = np.random.default_rng(args.seed).choice(len(rows), size=args.n, replace=False)
    images, labels = gradsign_batch(128, 32)

    diff, g_ours, g_masked = equivalence_check(rows[int(pick[0])]["arch_str"], images, labels)
    print(
        f"equivalence (our weights in the masked model): max |logit diff| {diff:.2e}, "
        f"GradSign {g_ours} vs {g_masked} (rel {abs(g_ours - g_masked) / max(g_ours, 1):.1e})"
    )

    out = Path(args.out)
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done[r["arch_index"]] = r
    ours = {}
    if Path(args.ours).exists():
        for line in Path(args.ours).read_text().splitlines():
            r = json.loads(line)
            ours[r["arch_index"]] = r
    results = []
    for k, i in enumerate(pick):
        row = rows[int(i)]
        idx = int(row["arch_index"])
        if idx not in done:
            t = time.perf_counter()
            with torch.random.fork_rng(devices=[]):
                score = gradsign(masked.build(row["arch_str"], idx), images, labels).score
            done[idx] = {
                "arch_index": idx,
                "test": float(row["cifar10_test_trainval"]),
                "gradsign_masked": score,
                "seconds": time.perf_counter() - t,
            }
            with open(out, "a") as f:
                f.write(json.dumps(done[idx]) + "\n")
            print(f"[{k + 1}/{args.n}] cell {idx}: {score} ({done[idx]['seconds']:.1f} s)", flush=True)
        results.append(done[idx])

    acc = np.array([r["test"] for r in results])
    gm = np.array([r["gradsign_masked"] for r in results], dtype=float)
    have = all(r["arch_index"] in ours for r in results)
    print(f"\nSpearman rho on {len(results)} NB201 cells (sample seed {args.seed}), CIFAR-10 test accuracy")
    lo, hi = boot(lambda s: spearman(gm[s], acc[s]), len(acc))
    print(
        f"GradSign, masked official model: {spearman(gm, acc):.3f}  [95% CI {lo:.3f}, {hi:.3f}]"
        "  published 0.81"
    )
    if have:
        go = np.array([ours[r["arch_index"]]["gradsign"] for r in results], dtype=float)
        pa = np.array([ours[r["arch_index"]]["params"] for r in results], dtype=float)
        lo, hi = boot(lambda s: spearman(go[s], acc[s]), len(acc))
        print(f"GradSign, our standard network:  {spearman(go, acc):.3f}  [95% CI {lo:.3f}, {hi:.3f}]")
        lo, hi = boot(lambda s: spearman(pa[s], acc[s]), len(acc))
        print(
            f"#params:                         {spearman(pa, acc):.3f}  [95% CI {lo:.3f}, {hi:.3f}]"
            "  published 0.78"
        )
        lo, hi = boot(lambda s: spearman(gm[s], acc[s]) - spearman(go[s], acc[s]), len(acc))
        print(f"difference masked - ours (paired bootstrap): [95% CI {lo:+.3f}, {hi:+.3f}]")
        print(f"rho between the two builds' scores: {spearman(go, gm):.3f}")


if __name__ == "__main__":
    main()
