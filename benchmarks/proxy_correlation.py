"""Spearman rank correlation of Zen-Score, GradSign and #params with NAS-Bench-201 CIFAR-10 accuracy.

    python benchmarks/proxy_correlation.py [--n 600] [--seed 0] [--shard I/K] [--subsample 200]
        [--out .notes/proxy_corr_cells.jsonl]

Setting (as the published table in ../shared/notes/zero_shot_proxies.md was measured):
- cells: a seeded random sample of `--n` of the 15,625 NB201 cells (numpy default_rng(seed)); a
  200-cell sample's rho varies by about +-0.04, so the recorded figures use 600 (`--subsample 200`
  shows the spread of 200-cell samples drawn from them);
- Zen-Score: residual-free standard NB201 network (C=16, N=5), batch 64, r32, 1 repeat, seed 0;
  both BN terms (`running` = official code, `batch` = paper); `--zen8` adds 8 repeats (running);
- GradSign: standard NB201 network with PyTorch default init after torch.manual_seed(arch_index)
  (build seed), batch = the first 128 shared CIFAR-10 training images, official normalisation, no
  augmentation, fast path (the official masked supernet computes the same function at init);
- params: counted on our graph (equals the official TinyNetwork count).
Per-cell results are appended to `--out` as JSON lines, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
NB201_CSV = ROOT / ".." / "shared" / "data" / "nb201" / "nb201_cifar10_200ep.csv"

PUBLISHED = {  # (test acc train+valid 200 ep, valid acc cifar10-valid), official code on 200 cells
    "gradsign": (0.81, 0.76),
    "zen_running": (0.77, 0.74),
    "zen8_running": (0.77, 0.75),
    "params": (0.78, 0.73),
}
LABELS = {
    "gradsign": "GradSign (fast, b128)",
    "zen_running": "Zen-Score running (1 rep)",
    "zen_batch": "Zen-Score batch (1 rep)",
    "zen8_running": "Zen-Score running (8 rep)",
    "params": "#params",
}


def load_cells() -> list[dict]:
    with open(NB201_CSV, newline="") as f:
        return list(csv.DictReader(f))


def score_cell(row: dict, images, labels, zen8: bool) -> dict:
    import torch

    from explorer.arch import build_model, count_complexity
    from explorer.proxies import gradsign, zen_score
    from explorer.spaces import get_space

    idx = int(row["arch_index"])
    graph = get_space("nb201").encode({"arch_str": row["arch_str"]})
    out = {
        "arch_index": idx,
        "test": float(row["cifar10_test_trainval"]),
        "valid": float(row["cifar10valid_valid"]),
    }
    out["params"] = count_complexity(graph).params
    t = time.perf_counter()
    plain = build_model(graph, residual_free=True, seed=idx)
    out["zen_running"] = zen_score(plain, batch_size=64, resolution=32, seed=0).score
    out["zen_batch"] = zen_score(plain, batch_size=64, resolution=32, seed=0, bn_variance="batch").score
    if zen8:
        out["zen8_running"] = zen_score(plain, batch_size=64, resolution=32, seed=0, repeats=8).score
    out["zen_s"] = time.perf_counter() - t
    t = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        out["gradsign"] = gradsign(build_model(graph, seed=idx), images, labels).score
    out["gradsign_s"] = time.perf_counter() - t
    return out


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a = [(-1e300 if (isinstance(v, float) and math.isinf(v) and v < 0) else v) for v in a]
    return float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--zen8", action="store_true", help="also Zen-Score with 8 repeats")
    ap.add_argument("--out", default=str(ROOT / ".notes" / "proxy_corr_cells.jsonl"))
    ap.add_argument("--report-only", action="store_true", help="print the table from --out, score nothing")
    ap.add_argument(
        "--shard", default="0/1", help="I/K: score only every K-th cell from the I-th (parallel runs)"
    )
    ap.add_argument(
        "--subsample", type=int, default=0, help="also show rho over random subsamples of this many cells"
    )
    args = ap.parse_args()

    import torch

    from explorer.data import gradsign_batch

    torch.set_num_threads(args.threads)
    rows = load_cells()
    pick = np.random.default_rng(args.seed).choice(len(rows), size=args.n, replace=False)
    out_path = Path(args.out)
    done = {}
    if out_path.exists():
        for line in out_path.read_text().splitlines():
            r = json.loads(line)
            done[r["arch_index"]] = r
    images, labels = gradsign_batch(128, 32)
    results = []
    shard, shards = (int(v) for v in args.shard.split("/"))
    for k, i in enumerate(pick):
        row = rows[int(i)]
        idx = int(row["arch_index"])
        if k % shards != shard and idx not in done:
            continue
        if idx in done and (not args.zen8 or "zen8_running" in done[idx]):
            results.append(done[idx])
            continue
        if args.report_only:
            continue
        r = score_cell(row, images, labels, args.zen8)
        with open(out_path, "a") as f:
            f.write(json.dumps(r) + "\n")
        results.append(r)
        print(
            f"[{k + 1}/{args.n}] cell {idx}: zen {r['zen_running']:.2f} gradsign {r['gradsign']} "
            f"({r['zen_s']:.1f}s + {r['gradsign_s']:.1f}s)",
            flush=True,
        )
    print(f"\nSpearman rho on {len(results)} NB201 cells (sample seed {args.seed}), CIFAR-10")
    print(f"{'proxy':28} {'test (ours)':>11} {'published':>9} {'valid (ours)':>12} {'published':>9}")
    for key, label in LABELS.items():
        vals = [r.get(key) for r in results]
        if not results or any(v is None for v in vals):
            continue
        pub = PUBLISHED.get(key, (float("nan"), float("nan")))
        rt = spearman(vals, [r["test"] for r in results])
        rv = spearman(vals, [r["valid"] for r in results])
        print(f"{label:28} {rt:>11.3f} {pub[0]:>9.2f} {rv:>12.3f} {pub[1]:>9.2f}")
    if results and 0 < args.subsample < len(results):
        rng = np.random.default_rng(0)
        print(
            f"\nrho over 1000 random subsamples of {args.subsample} of these cells"
            " (5th / 50th / 95th percentile)"
        )
        for key, label in LABELS.items():
            vals = [r.get(key) for r in results]
            if any(v is None for v in vals):
                continue
            acc = [r["test"] for r in results]
            subs = []
            for _ in range(1000):
                sel = rng.choice(len(results), size=args.subsample, replace=False)
                subs.append(spearman([vals[j] for j in sel], [acc[j] for j in sel]))
            lo, mid, hi = np.percentile(subs, [5, 50, 95])
            pub = PUBLISHED.get(key, (float("nan"),))[0]
            share = float(np.mean(np.array(subs) >= pub)) if pub == pub else float("nan")
            print(f"{label:28} {lo:.3f} / {mid:.3f} / {hi:.3f}   share >= published {pub:.2f}: {share:.1%}")
    if results:
        med = lambda k: float(np.median([r[k] for r in results]))  # noqa: E731
        print(
            f"median seconds per cell: Zen (both BN terms{', +8 rep' if args.zen8 else ''}) "
            f"{med('zen_s'):.2f}, "
            f"GradSign {med('gradsign_s'):.2f} ({args.threads} thread(s))"
        )


if __name__ == "__main__":
    main()
