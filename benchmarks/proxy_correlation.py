"""Spearman rank correlation of zero-shot proxies and #params with NAS-Bench-201 CIFAR-10 accuracy.

    python benchmarks/proxy_correlation.py [--n 600] [--seed 0] [--shard I/K] [--subsample 200]
        [--new] [--skip-old] [--out .notes/proxy_corr_cells.jsonl]

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
`--new` adds the proxies of issue 18, each in its official NB201 setting (module docstrings say
why); networks built with PyTorch default init after torch.manual_seed(arch_index) as above:
- SynFlow: BN disabled, |weights|, all-ones input in float64 (no data); also on the net foresight
  itself scored (its NB201 model keeps the reduction blocks' BN and has biased cell convs);
- NASWOT v2 (hook_logdet): the first 128 CIFAR-10 training images, train mode; NASWOT v1
  (jacob_cov): 256 images with seeded RandomCrop(32, 4) + flip, compared also with NASWOT's own
  published per-cell v1 scores (`naswot_v1_score`);
- ZiCo: the first 128 training images with labels, split into 2 batches of 64;
- MeCo: the first training image alone (the official `--batch_size 1`);
- AZ-NAS: Kaiming re-init, Gaussian input [64, 3, 32, 32], seed 0; the four components are stored
  per cell and the AZ-NAS score is their log-rank sum over the cells scored (the population).
`--skip-old` scores only the new proxies (Zen and GradSign are the slow part: ~8 s per cell).
Per-cell results are appended to `--out` as JSON lines (keys merged per cell), so an interrupted
run resumes and `--new` can be added to a file that holds the old proxies.
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
    # literature, CIFAR-10 test accuracy (papers' own settings and cell samples; issue 18)
    "aznas": (0.913, float("nan")),
    "meco": (0.89, float("nan")),
    "zico": (0.78, float("nan")),
    "synflow": (0.77, float("nan")),
    "naswot_v2": (0.78, float("nan")),
}
LABELS = {
    "gradsign": "GradSign (fast, b128)",
    "zen_running": "Zen-Score running (1 rep)",
    "zen_batch": "Zen-Score batch (1 rep)",
    "zen8_running": "Zen-Score running (8 rep)",
    "params": "#params",
    "synflow": "SynFlow (BN off, fp64)",
    "synflow_foresight": "SynFlow, foresight NB201 net",
    "naswot_v2": "NASWOT v2 (b128)",
    "naswot_v1": "NASWOT v1 (b256 aug)",
    "naswot_published": "NASWOT v1 published scores",
    "zico": "ZiCo (2 x 64)",
    "meco": "MeCo (1 image)",
    "az_expressivity": "AZ-NAS expressivity",
    "az_progressivity": "AZ-NAS progressivity",
    "az_trainability": "AZ-NAS trainability",
    "az_complexity": "AZ-NAS complexity (MACs)",
    "aznas": "AZ-NAS (log-rank sum)",
}
OLD_KEYS = ("params", "zen_running", "zen_batch", "gradsign")
NEW_KEYS = ("synflow", "synflow_foresight", "naswot_v2", "naswot_v1", "zico", "meco", "az_expressivity")
EXTRA_KEYS = ("synflow_foresight", "naswot_v1")  # cross-checks, left out by --no-extras
NEW_TIMED = ("synflow", "naswot_v2", "naswot_v1", "zico", "meco", "aznas")
COMPONENTS = ("expressivity", "progressivity", "trainability", "complexity")


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
    out = cell_info(row)
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


def cell_info(row: dict) -> dict:
    published = row.get("naswot_v1_score", "")
    return {
        "arch_index": int(row["arch_index"]),
        "test": float(row["cifar10_test_trainval"]),
        "valid": float(row["cifar10valid_valid"]),
        "naswot_published": float(published) if published else float("nan"),
    }


def score_cell_new(row: dict, batches: dict, have: dict, skip: tuple = ()) -> dict:
    """The issue-18 proxies missing from `have` on one cell, each timed (seconds under `<key>_s`)."""
    from explorer.arch import build_model, count_complexity
    from explorer.proxies import aznas, meco, naswot, synflow, zico
    from explorer.spaces import get_space

    idx = int(row["arch_index"])
    graph = get_space("nb201").encode({"arch_str": row["arch_str"]})
    model = build_model(graph, seed=idx)
    images, labels = batches["b128"]
    out = cell_info(row)
    runs = {
        "synflow": lambda: synflow(model).score,
        "naswot_v2": lambda: naswot(model, images).score,
        "naswot_v1": lambda: naswot(model, batches["b256aug"], variant="v1").score,
        "zico": lambda: zico(model, images, labels).score,
        "meco": lambda: meco(model, images[:1]).score,
        "aznas": lambda: aznas(model, batch_size=64, seed=0).components,
    }
    runs["synflow_foresight"] = lambda: foresight_nb201_synflow(row["arch_str"], idx)
    runs["params"] = lambda: count_complexity(graph).params  # the baseline every proxy must beat
    for key, fn in runs.items():
        if key in skip or (f"az_{COMPONENTS[0]}" if key == "aznas" else key) in have:
            continue
        t = time.perf_counter()
        value = fn()
        out[f"{key}_s"] = time.perf_counter() - t
        if key == "aznas":
            out.update({f"az_{k}": v for k, v in value.items()})
        else:
            out[key] = value
    return out


def foresight_nb201_synflow(arch_str: str, idx: int) -> float:
    """SynFlow on the model zero-cost-nas itself scored: its nasbench2 net rebuilt with use_bn=False
    keeps BN only in the two reduction blocks (train mode) and has biased cell convs. Emulated on the
    masked supernet of benchmarks/nb201_masked_model.py with the other BNs passing through."""
    import types

    from torch import nn

    sys.path.insert(0, str(ROOT / "benchmarks"))
    import nb201_masked_model as masked

    from explorer.proxies import synflow

    net = masked.build(arch_str, idx)
    keep = {id(m) for red in (net.red1, net.red2) for m in red.modules()}
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d) and id(m) not in keep:
            m.forward = types.MethodType(lambda self, x: x, m)
    return synflow(net, bn="keep").score


def add_aznas(results: list[dict]) -> None:
    """AZ-NAS score of every cell: log-rank sum of its components over the cells scored."""
    from explorer.proxies import aznas_scores

    if results and all(f"az_{k}" in r for r in results for k in COMPONENTS):
        for r, s in zip(results, aznas_scores([{k: r[f"az_{k}"] for k in COMPONENTS} for r in results])):
            r["aznas"] = s


def spearman(a, b) -> float:
    from scipy.stats import spearmanr

    keep = [not (isinstance(v, float) and math.isnan(v)) for v in a]  # NaN: no published score
    a = [(-1e300 if (isinstance(v, float) and math.isinf(v) and v < 0) else v) for v, k in zip(a, keep) if k]
    return float(spearmanr(a, [v for v, k in zip(b, keep) if k]).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--zen8", action="store_true", help="also Zen-Score with 8 repeats")
    ap.add_argument("--new", action="store_true", help="also SynFlow, NASWOT v1/v2, ZiCo, MeCo, AZ-NAS")
    ap.add_argument("--skip-old", action="store_true", help="do not score Zen-Score, GradSign, #params")
    ap.add_argument("--out", default=str(ROOT / ".notes" / "proxy_corr_cells.jsonl"))
    ap.add_argument("--report-only", action="store_true", help="print the table from --out, score nothing")
    ap.add_argument(
        "--shard", default="0/1", help="I/K: score only every K-th cell from the I-th (parallel runs)"
    )
    ap.add_argument(
        "--subsample", type=int, default=0, help="also show rho over random subsamples of this many cells"
    )
    ap.add_argument(
        "--no-extras", action="store_true", help="skip the cross-checks (NASWOT v1, foresight's SynFlow)"
    )
    args = ap.parse_args()
    skip = EXTRA_KEYS if args.no_extras else ()

    import torch

    from explorer.data import gradsign_batch

    torch.set_num_threads(args.threads)
    rows = load_cells()
    pick = np.random.default_rng(args.seed).choice(len(rows), size=args.n, replace=False)
    out_path = Path(args.out)
    done: dict[int, dict] = {}
    if out_path.exists():
        for line in out_path.read_text().splitlines():
            r = json.loads(line)
            done.setdefault(r["arch_index"], {}).update(r)
    images, labels = gradsign_batch(128, 32)
    batches = {"b128": (images, labels), "b256aug": gradsign_batch(256, 32, augment=True, seed=0)[0]}
    want_old, want_new = not args.skip_old, args.new
    results = []
    shard, shards = (int(v) for v in args.shard.split("/"))
    for k, i in enumerate(pick):
        row = rows[int(i)]
        idx = int(row["arch_index"])
        have = done.get(idx, {})
        missing_old = want_old and (
            any(key not in have for key in OLD_KEYS) or (args.zen8 and "zen8_running" not in have)
        )
        missing_new = want_new and any(key not in have for key in NEW_KEYS if key not in skip)
        if have and not (missing_old or missing_new):
            results.append(have)
            continue
        if args.report_only or (k % shards != shard and idx not in done) or not (missing_old or missing_new):
            continue
        r = dict(have)
        if missing_old:
            r.update(score_cell(row, images, labels, args.zen8))
        if missing_new:
            r.update(score_cell_new(row, batches, have, skip))
        with open(out_path, "a") as f:
            f.write(json.dumps(r) + "\n")
        results.append(r)
        cost = {key[:-2]: round(v, 2) for key, v in r.items() if key.endswith("_s")}
        print(f"[{k + 1}/{args.n}] cell {idx}: seconds {cost}", flush=True)
    add_aznas(results)
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
    if results and all("zen_s" in r and "gradsign_s" in r for r in results):
        med = lambda k: float(np.median([r[k] for r in results]))  # noqa: E731
        print(
            f"median seconds per cell: Zen (both BN terms{', +8 rep' if args.zen8 else ''}) "
            f"{med('zen_s'):.2f}, "
            f"GradSign {med('gradsign_s'):.2f} ({args.threads} thread(s))"
        )
    timed = [k for k in NEW_TIMED if results and all(f"{k}_s" in r for r in results)]
    if timed:
        secs = {k: [r[f"{k}_s"] for r in results] for k in timed}
        cost = ", ".join(f"{k} {np.median(v):.2f} / {np.percentile(v, 90):.2f}" for k, v in secs.items())
        print(f"seconds per cell, median / 90th percentile ({args.threads} thread(s)): {cost}")
    if results and all("naswot_v1" in r for r in results):
        rho = spearman([r["naswot_published"] for r in results], [r["naswot_v1"] for r in results])
        print(f"NASWOT v1: ours vs NASWOT's published per-cell scores, rho {rho:.3f}")


if __name__ == "__main__":
    main()
