"""How the ensemble's default members (`explorer.proxies.ensemble.DEFAULT_MEMBERS`) are chosen:
selection on one half of the shipped NB201 trust sample, scored on the other half, so the figure
reported for the choice is never the one it was picked on.

    python benchmarks/ensemble_members.py [--splits 5] [--seed 0] [--sizes 2,3,4] [--target test]

Per split: a seeded random half A of the sample's cells and the rest B. Every subset of the
single proxies of the sample (sizes `--sizes`) is aggregated as the ensemble is (log-rank sum of
its members within the population; AZ-NAS entering with its own aggregate) within A and within B;
the subset with the best Spearman on A is "picked" and its Spearman on B reported, beside the
default members' and AZ-NAS alone on B. The last lines count how often each subset was picked.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv=None) -> int:
    from explorer.proxies import trust
    from explorer.proxies.ensemble import DEFAULT_MEMBERS
    from explorer.rankcorr import spearman_rows, weighted_ranks

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sizes", default="2,3,4")
    ap.add_argument("--target", default="test", choices=tuple(trust.TARGETS))
    ap.add_argument("--sample", help="trust sample file (default: the shipped one)")
    args = ap.parse_args(argv)
    data = trust.require(args.sample)
    keys = trust.member_keys()
    y = data.accuracy(args.target)
    sizes = [int(s) for s in args.sizes.split(",")]
    subsets = [c for k in sizes for c in itertools.combinations(keys, k)]
    rng = np.random.default_rng(args.seed)
    picks: Counter = Counter()
    print(
        f"{data.n} NB201 cells, {len(keys)} single proxies, {len(subsets)} subsets of sizes {sizes}, "
        f"{args.splits} random halves (seed {args.seed}); Spearman with {args.target} accuracy"
    )
    print(f"{'split':5s} {'picked on A':38s} {'rho A':>6s} {'rho B':>6s} {'default B':>9s} {'AZ-NAS B':>8s}")
    for split in range(args.splits):
        perm = rng.permutation(data.n)
        w = np.zeros((2, data.n))
        w[0, perm[: data.n // 2]] = 1.0
        w[1, perm[data.n // 2 :]] = 1.0
        m = w.sum(axis=1, keepdims=True)
        log_rank = {k: np.log(weighted_ranks(trust.scores(data, k, w), w) / m) for k in keys}

        def rho(members, log_rank=log_rank, w=w):
            return spearman_rows(sum(log_rank[k] for k in members), y, w)

        rhos = {s: rho(s) for s in subsets}
        best = max(subsets, key=lambda s: rhos[s][0])
        picks[best] += 1
        default = rho(DEFAULT_MEMBERS)
        az = spearman_rows(trust.scores(data, "az-nas", w), y, w)
        print(
            f"{split:5d} {'+'.join(best):38s} {rhos[best][0]:6.3f} {rhos[best][1]:6.3f} "
            f"{default[1]:9.3f} {az[1]:8.3f}"
        )
    print("picked:", ", ".join(f"{'+'.join(s)} x{n}" for s, n in picks.most_common()))
    print("default members:", "+".join(DEFAULT_MEMBERS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
