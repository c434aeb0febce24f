"""How well can any predictor rank the public OFA-MBv3 latency columns? A noise ceiling.

    python benchmarks/latency_noise_ceiling.py

At batch 1 a GPU is bound by kernel launches, so the three batch-1 GPUs of HELP's OFA data
(2080ti, titan_rtx, titan_xp) should order the 5,000 subnets alike; each measured column is that
shared order plus its own measurement noise. With three such columns the classical triad estimate
gives each column's reliability, rel_a = r_ab * r_ac / r_bc (r = Spearman between columns), and no
predictor of the shared order can correlate with column a better than sqrt(rel_a). The same is done
for 2080ti_32 against the batch-32/64 columns of the other GPUs. The ceilings are compared with our
shipped predictors' Protocol A Spearman (read from their device files).
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
CSV = ROOT / ".." / "shared" / "data" / "latency" / "ofa_mbv3_help_ms.csv"


def ours(column: str) -> float | None:
    f = ROOT / "luts" / f"help-ofa-{column}.json"
    if not f.is_file():
        return None
    found = []

    def walk(d):
        if isinstance(d, dict):
            for k, v in d.items():
                if k in ("spearman", "spearman_rho") and isinstance(v, (int, float)):
                    found.append(float(v))
                walk(v)

    walk(json.loads(f.read_text()).get("provenance", {}))
    return found[0] if found else None


def ceiling(r: np.ndarray, cols: list[str], a: str, b: str, c: str) -> float:
    i, j, k = cols.index(a), cols.index(b), cols.index(c)
    rel = r[i, j] * r[i, k] / r[j, k]
    return math.sqrt(min(1.0, max(0.0, rel)))


def main() -> None:
    if not CSV.is_file():
        raise SystemExit(f"{CSV} is not present")
    with open(CSV, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = [c for c in rows[0] if c not in ("index", "ks", "e", "d", "r")]
    r = spearmanr(np.array([[float(row[c]) for c in cols] for row in rows])).statistic
    print(f"{len(rows)} OFA-MBv3 subnets; Spearman between columns, and each column's ceiling")
    print(f"{'column':14} {'vs other two':>22} {'ceiling':>8} {'ours (Protocol A)':>18}")
    triads = [
        ("2080ti_1", "titan_rtx_1", "titan_xp_1"),
        ("titan_rtx_1", "2080ti_1", "titan_xp_1"),
        ("titan_xp_1", "2080ti_1", "titan_rtx_1"),
        ("2080ti_32", "titan_rtx_32", "titan_xp_32"),
    ]
    for a, b, c in triads:
        i = cols.index(a)
        pair = f"{r[i, cols.index(b)]:.2f} / {r[i, cols.index(c)]:.2f}"
        o = ours(a)
        print(f"{a:14} {pair:>22} {ceiling(r, cols, a, b, c):8.2f} {'-' if o is None else f'{o:.3f}':>18}")


if __name__ == "__main__":
    main()
