"""How well can any predictor do on each public latency column? Noise ceilings vs Protocol A.

    python benchmarks/latency_noise_ceiling.py [--write] [--only help-nb201 ...]

For every device column of ../shared/data/latency/ this measures a ceiling from the column itself
(see explorer/latency/noise.py: replicate groups for NB201, drift and slow-mode variance bounds for
the randomly sampled OFA subnets), compares it with the shipped predictor on the same nets
(Protocol A seed-0 test split, the split the shipped model did not train on), and gives the
verdict against issue 4's goal (mean Spearman >= 0.98, >= 90 % within +-10 % where latencies are
not whole milliseconds):

- ``met``: Protocol A (mean of 3 seeds, from the device file) reaches the goal;
- ``above ceiling``: the column's own noise keeps every predictor below the goal;
- ``above estimated ceiling``: the same, by an estimate that assumes the noise measured on part
  of the nets holds for all of them;
- ``open``: neither (or the predictor beats the estimated ceiling, which then does not count).

``--write`` stores the ceiling in each device file's provenance (accuracy.noise_ceiling).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explorer.latency import evaluate as E  # noqa: E402
from explorer.latency import noise as N  # noqa: E402
from explorer.latency import registry as D  # noqa: E402
from explorer.latency.files import shipped_dir  # noqa: E402
from explorer.spaces.latency_support import latency_features  # noqa: E402


def column_report(ds, column: str) -> dict:
    dev = D.load_device(ds.device_name(column))
    y = ds.latency[column]
    ok = np.where(np.isfinite(y))[0]
    _, _, test = E.split_a(len(ok), 0)
    test = ok[test]
    pred = np.full(len(y), np.nan)
    pred[test] = dev.predict_features(ds.X[test], ds.space)
    if latency_features(ds.space).family == "nb201":  # replicate groups need NB201's cells
        ceil = N.nb201_ceiling(ds, column)
    else:
        ceil = N.ofa_ceiling(ds, column)
    idx = ceil.pop("_idx", None)
    ceil["ours_same_nets"] = N.ours_on(pred, y, test if idx is None else np.intersect1d(idx, test))
    whole = column in E.WHOLE_MS.get(ds.name, ())
    a = dev.provenance["accuracy"]["protocol_A"]["additive-mlp"]
    failing = [k for k, goal in N.MEAN_GOAL.items() if a[k] < goal and not (k == "within_10pct" and whole)]
    # a ceiling the shipped predictor beats (beyond sampling, 0.005) was estimated wrongly: not used
    beaten = [k for k in N.MEAN_GOAL if ceil[k] is not None and a[k] > ceil[k] + 0.005]
    ceil["ceiling_beaten"] = beaten
    blocked = [
        k
        for k in failing
        if ceil["valid"] and ceil[k] is not None and ceil[k] < N.MEAN_GOAL[k] and k not in beaten
    ]
    if not failing:
        ceil["verdict"] = "met"
    elif not blocked:
        ceil["verdict"] = "open"
    elif all(k in ceil.get("estimated", ()) for k in blocked):
        ceil["verdict"] = "above estimated ceiling"
    else:
        ceil["verdict"] = "above ceiling"
    ceil["goal_blocked_by"] = blocked
    ceil["whole_ms"] = whole
    ceil["protocol_A"] = {k: a[k] for k in ("spearman", "within_10pct")}
    return ceil


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=list(E.DATASETS))
    ap.add_argument("--write", action="store_true", help="store ceilings in the shipped device files")
    a = ap.parse_args(argv)
    try:
        sets = [E.load_dataset(n) for n in a.only]
    except Exception as e:  # data absent: nothing to measure
        print(f"skipped: {e}")
        return 0
    t0 = time.time()
    rows, verdicts = [], {}
    head = "device column | ceiling from | valid | ceiling rho / w10 | ours, same nets | Protocol A | verdict"
    print(f"| {head} |")
    print("|---|---|---|---|---|---|---|")
    for ds in sets:
        for col in ds.latency:
            rep = column_report(ds, col)
            rows.append((ds.device_name(col), rep))
            verdicts[rep["verdict"]] = verdicts.get(rep["verdict"], 0) + 1
            o, pa = rep["ours_same_nets"], rep["protocol_A"]
            whole = " (whole ms)" if rep["whole_ms"] else ""
            why = f" ({', '.join(rep['goal_blocked_by'])})" if rep["goal_blocked_by"] else ""
            print(
                f"| {ds.device_name(col)} | {rep['method']} | {'yes' if rep['valid'] else 'no'} | "
                f"{_fmt(rep['spearman'])} / {_fmt(rep['within_10pct'])} | "
                f"{o['spearman']:.3f} / {o['within_10pct']:.3f} | "
                f"{pa['spearman']:.3f} / {pa['within_10pct']:.3f}{whole} | {rep['verdict']}{why} |",
                flush=True,
            )
    print(f"\n{verdicts} ({time.time() - t0:.0f} s)")
    if a.write:
        for name, rep in rows:
            path = shipped_dir() / f"{name}.json"
            d = json.loads(path.read_text())
            d["provenance"]["accuracy"]["noise_ceiling"] = rep
            D.save_device(d, path)
            bak = path.with_name(path.name + ".bak")
            if bak.exists():
                bak.unlink()  # our own rewrite of a shipped file: the backup is noise
        print(f"wrote noise_ceiling into {len(rows)} device files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
