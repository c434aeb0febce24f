"""Zero-shot proxies on Once-for-All MobileNetV3 subnets against OFA's official ImageNet accuracy
predictor (issue 18): Spearman and Kendall tau of every registered proxy and of the ensemble, with
bootstrap 95 % intervals and the paired ensemble - best single proxy interval.

    python benchmarks/proxy_ofa.py [--n 500] [--seed 0] [--preset live|official] [--scale 0.5]
        [--shard I/K] [--out .notes/proxy_ofa.jsonl] [--report-only] [--json]

Setting:
- subnets: `space.sample(seed * 1_000_003 + i)` for i < n of `ofa-mbv3-w1.2`, the space of the
  shipped official predictor (`shared/data/ofa/`, its provenance beside `explorer/_data`);
- ground truth: the official predictor's top-1 for the config (its own resolution included), not
  a measured accuracy: a rank correlation with it says how well a proxy agrees with the accuracy
  OFA's search trusts;
- proxies: the registry's (`explorer.proxies`), PyTorch default init after manual_seed(seed) as
  everywhere, at `--scale` x the subnet's resolution (default 0.5: 80-112 instead of 160-224, so
  the resolution still differs between subnets) and the `--preset` batches (default `live`, what
  the app's live view computes; 2-core CPU budget). Zen's batch-BN variant runs separately;
- the AZ-NAS score and the ensemble are log-rank sums within the population scored (the n subnets,
  re-aggregated within each bootstrap resample), as in `explorer.proxies.trust`, whose statistics
  this reuses: the per-subnet lines become a trust sample with the predictor as its "test" target.
Per-subnet results are appended to `--out` as JSON lines, so an interrupted run resumes and shards
(`--shard I/K`, one process each) can run side by side.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACE = "ofa-mbv3-w1.2"


def _scoring_resolution(r: int, scale: float) -> int:
    return max(32, int(round(r * scale / 8)) * 8)


def score_subnet(space, config: dict, settings, columns) -> dict:
    """Every column of the trust sample on one subnet: values (AZ-NAS as its components) and the
    seconds each proxy took (network builds shared, as `compute_many` does)."""
    from explorer.proxies.registry import compute_many

    graph = space.encode(config)
    plain = [c for c in columns if not c.options]
    values, seconds = {}, {}
    out = compute_many(graph, sorted({c.proxy for c in plain}), settings)
    for c in columns:
        v = out.get(c.proxy)
        if c.options:
            opts = {**settings.options, c.proxy: {**settings.options.get(c.proxy, {}), **c.options}}
            v = compute_many(graph, [c.proxy], replace(settings, options=opts))[c.proxy]
        if c.parts:
            values.update({f"{c.key}:{p}": _finite(v.parts.get(p)) for p in c.parts})
        else:
            values[c.key] = _finite(v.score)
        seconds[c.key] = round(v.seconds, 5)
    return {"values": values, "seconds": seconds}


def _finite(v):
    import math

    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--preset", choices=("live", "official"), default="live")
    ap.add_argument("--scale", type=float, default=0.5, help="scoring resolution / subnet resolution")
    ap.add_argument("--shard", default="0/1")
    ap.add_argument("--out", default=str(ROOT / ".notes" / "proxy_ofa.jsonl"))
    ap.add_argument("--extra", action="append", default=[], help="more JSON-lines files to merge")
    ap.add_argument("--report-only", action="store_true")
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    import torch

    from explorer.proxies import trust
    from explorer.proxies.registry import ProxySettings
    from explorer.search.predictor import AccuracyPredictor
    from explorer.spaces import get_space

    torch.set_num_threads(1)
    space = get_space(SPACE)
    predictor = AccuracyPredictor.official_w12()
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done: dict[int, dict] = {}
    for p in [out_path, *map(Path, args.extra)]:
        if p.exists():
            for line in p.read_text().splitlines():
                if line.strip():
                    r = json.loads(line)
                    done[int(r["i"])] = r
    shard, shards = (int(v) for v in args.shard.split("/"))
    t_start = time.perf_counter()
    for i in range(args.n):
        if i in done or args.report_only or i % shards != shard:
            continue
        config = space.sample(args.seed * 1_000_003 + i)
        res = _scoring_resolution(config["r"], args.scale)
        settings = ProxySettings(preset=args.preset, resolution=res, seed=args.seed)
        r = {"i": i, "config": config, "resolution": res, "accuracy": predictor.predict([config])[0]}
        r.update(score_subnet(space, config, settings, trust.COLUMNS))
        with open(out_path, "a") as f:
            f.write(json.dumps(r) + "\n")
        done[i] = r
        if not args.json:
            total = sum(v for v in r["seconds"].values())
            print(f"[{i + 1}/{args.n}] r{config['r']} -> {res}: {total:.1f} s", flush=True)
    rows = [done[i] for i in range(args.n) if i in done]
    if len(rows) < 10:
        print(f"only {len(rows)} subnets scored", file=sys.stderr)
        return 1
    doc = {
        "format": trust.FORMAT,
        "space": SPACE,
        "n": len(rows),
        "accuracy_source": "OFA's official ImageNet accuracy predictor (w1.2), top-1",
        "cells": [
            {
                "arch_index": r["i"],
                "arch_str": json.dumps(r["config"]),
                "accuracy": {"test": r["accuracy"], "valid": r["accuracy"]},
                "values": r["values"],
                "seconds": r["seconds"],
            }
            for r in rows
        ],
    }
    table = trust.trust_table(trust.TrustData(doc), resamples=args.resamples)
    if args.json:
        print(json.dumps(table, allow_nan=False, default=str))
        return 0
    print(
        f"\n{len(rows)} {SPACE} subnets (seed {args.seed}), proxies at {args.scale} x r, {args.preset} "
        f"batches, 1 thread; ground truth: the official predictor; {args.resamples} resamples"
    )
    print(f"{'proxy':24s} {'Spearman [95 % CI]':>26s} {'Kendall [95 % CI]':>26s} {'median s':>9s}")
    for row in trust.by_spearman(table["rows"]):
        print(
            f"{trust.LABELS.get(row['key'], row['key']):24s} "
            f"{trust.fmt_ci(row['spearman'], row['spearman_ci']):>26s} "
            f"{trust.fmt_ci(row['kendall'], row['kendall_ci']):>26s} "
            f"{trust.fmt_seconds(row.get('seconds')):>9s}"
        )
    print(trust.versus_text(table))
    print(f"({time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
