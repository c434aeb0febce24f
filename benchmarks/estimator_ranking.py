"""How well does each estimator rank NB201 cells? Spearman rho against CIFAR-10 test accuracy
(200 epochs, train+valid) on a fixed random sample of cells, for SMASH, one-shot weight sharing,
Zen-Score, GradSign and #params (the baseline every ratio is printed against).

Budget on CPU: weight-sharing estimators train a reduced NB201 skeleton (C channels, N cells per
stage) on the 1000-image CIFAR-10 training sample and score on held-out test images. Writes the table
to resources/estimator_ranking_nb201.json (shown in the app) unless --out says otherwise.

    python benchmarks/estimator_ranking.py --n 100 --seed 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from explorer.arch import count_complexity  # noqa: E402
from explorer.data import gradsign_batch  # noqa: E402
from explorer.estimators import oneshot_nb201 as OS  # noqa: E402
from explorer.estimators import smash as SM  # noqa: E402
from explorer.estimators._common import cifar_split  # noqa: E402
from explorer.estimators.ranking import nb201_accuracies, spearman  # noqa: E402
from explorer.proxies import gradsign, zen_score  # noqa: E402
from explorer.spaces import get_space  # noqa: E402
from explorer.spaces.nb201 import NB201Space  # noqa: E402


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100, help="number of NB201 cells (>= 100 for the table)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=int, default=8, help="channels of the weight-sharing skeleton")
    ap.add_argument("--N", type=int, default=1, help="cells per stage of the weight-sharing skeleton")
    ap.add_argument("--steps", type=int, default=300, help="training steps of SMASH and the supernet each")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--val", type=int, default=500, help="held-out images used for scoring")
    ap.add_argument("--calib", type=int, default=128, help="images for the one-shot BN recalibration")
    ap.add_argument("--zen-batch", type=int, default=64)
    ap.add_argument("--gradsign-batch", type=int, default=64)
    ap.add_argument(
        "--skip", default="", help="comma list of estimators to skip (zen,gradsign,oneshot,smash)"
    )
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default="/tmp/estimator_ranking_cache.json", help="per-cell proxy score cache")
    ap.add_argument("--out", default=str(REPO / "resources" / "estimator_ranking_nb201.json"))
    ap.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="only combine the tables of runs over disjoint estimator sets",
    )
    args = ap.parse_args()
    if args.merge:
        return merge(args.merge, args.out)
    torch.set_num_threads(args.threads)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    t_all = time.perf_counter()
    load0 = os.getloadavg()[0]

    acc = nb201_accuracies()
    archs = random.Random(args.seed).sample(sorted(acc), args.n)
    truth = [acc[a] for a in archs]
    space = get_space("nb201")
    small = NB201Space(channels=args.C, cells_per_stage=args.N)  # the skeleton every estimator scores
    sk = f"C={args.C} N={args.N} skeleton"
    scores: dict[str, list[float]] = {}
    seconds: dict[str, float] = {}
    cpu: dict[str, float] = {}  # process CPU time: wall time means little on a shared, loaded machine
    budgets: dict[str, str] = {}

    t = time.perf_counter()
    scores["params"] = [float(count_complexity(space.encode({"arch_str": a})).params) for a in archs]
    seconds["params"] = time.perf_counter() - t
    budgets["params"] = "count of the C=16, N=5 network"

    cache = json.loads(Path(args.cache).read_text()) if Path(args.cache).is_file() else {}
    if "zen" not in skip:
        t, c = time.perf_counter(), time.process_time()
        vals = []
        for i, a in enumerate(archs):
            key = f"zen|{args.zen_batch}|C{args.C}|N{args.N}|{a}"
            if key not in cache:
                cache[key] = zen_score(small.encode({"arch_str": a}), batch_size=args.zen_batch, seed=0).score
            vals.append(cache[key])
            if i % 20 == 19:
                log(f"zen {i + 1}/{len(archs)}")
                Path(args.cache).write_text(json.dumps(cache))
        scores["zen"], seconds["zen"], cpu["zen"] = vals, time.perf_counter() - t, time.process_time() - c
        budgets["zen"] = (
            f"{sk}, batch {args.zen_batch}, 1 repeat, running-var BN term (official), no training"
        )
    if "gradsign" not in skip:
        t, c = time.perf_counter(), time.process_time()
        x, y = gradsign_batch(args.gradsign_batch)
        vals = []
        for i, a in enumerate(archs):
            key = f"gradsign|{args.gradsign_batch}|C{args.C}|N{args.N}|{a}"
            if key not in cache:
                cache[key] = float(gradsign(small.encode({"arch_str": a}), x, y, seed=0).score)
            vals.append(cache[key])
            if i % 20 == 19:
                log(f"gradsign {i + 1}/{len(archs)}")
                Path(args.cache).write_text(json.dumps(cache))
        scores["gradsign"], seconds["gradsign"] = vals, time.perf_counter() - t
        cpu["gradsign"] = time.process_time() - c
        budgets["gradsign"] = (
            f"{sk}, first {args.gradsign_batch} CIFAR-10 train images (official: 128), no training"
        )
    Path(args.cache).write_text(json.dumps(cache))

    if Path(args.cache).is_file():  # a concurrent run may have added entries
        cache = {**json.loads(Path(args.cache).read_text()), **cache}
    split = cifar_split(n_val=args.val)
    wb = (
        f"{sk}, {args.steps} steps x batch {args.batch_size} on {split.source}"
        f" (~{args.steps * args.batch_size / len(split.train_x):.0f} epochs),"
        f" scored on {args.val} held-out images"
    )
    for name in ("oneshot", "smash"):
        if name in skip:
            continue
        key = f"{name}|C{args.C}|N{args.N}|s{args.steps}|b{args.batch_size}|v{args.val}"
        key += f"|seed{args.seed}|n{args.n}|cal{args.calib}"
        if key not in cache:
            t, c = time.perf_counter(), time.process_time()
            if name == "oneshot":
                cfg = OS.OneShotConfig(
                    C=args.C, N=args.N, steps=args.steps, batch_size=args.batch_size, seed=args.seed
                )
                net = OS.new_supernet(cfg)
                losses = OS.train_supernet(net, split, cfg, progress=_every(100, name))
                rows = OS.score_archs(net, archs, split, calib_images=args.calib)
            else:
                cfg = SM.SmashConfig(
                    C=args.C, N=args.N, steps=args.steps, batch_size=args.batch_size, seed=args.seed
                )
                net = SM.new_smash(cfg)
                losses = SM.train_smash(net, split, cfg, progress=_every(100, name))
                rows = SM.score_archs(net, archs, split)
            cache[key] = {
                "rows": rows,
                "seconds": time.perf_counter() - t,
                "cpu_seconds": time.process_time() - c,
                "loss": losses[-1],
            }
            Path(args.cache).write_text(json.dumps(cache))
        hit = cache[key]
        by_arch = {r["arch_str"]: r for r in hit["rows"]}
        scores[name] = [by_arch[a]["val_acc"] for a in archs]
        scores[f"{name}_loss"] = [-by_arch[a]["val_loss"] for a in archs]
        seconds[name] = hit["seconds"]
        if "cpu_seconds" in hit:
            cpu[name] = hit["cpu_seconds"]
        extra = (
            f", BN recalibrated on {args.calib} images"
            if name == "oneshot"
            else ", Adam lr 1e-3, hypernet hidden 64"
        )
        budgets[name] = wb + extra + f"; final train loss {hit['loss']:.2f}"
        log(f"{name} done in {seconds[name]:.0f}s")

    labels = {
        "params": "#params",
        "zen": "Zen-Score",
        "gradsign": "GradSign",
        "oneshot": "One-shot (val acc)",
        "oneshot_loss": "One-shot (-val loss)",
        "smash": "SMASH (val acc)",
        "smash_loss": "SMASH (-val loss)",
    }
    base = spearman(scores["params"], truth)
    table = []
    print(f"\n{'estimator':24s} {'rho':>7s} {'rho/params':>10s} {'seconds':>8s}")
    for key, vals in scores.items():
        rho = spearman(vals, truth)
        sec = seconds.get(key.split("_")[0])
        table.append(
            {
                "estimator": key.split("_")[0],
                "variant": key,
                "label": labels[key],
                "spearman": round(rho, 4),
                "ratio_to_params": round(rho / base, 3),
                "seconds": round(sec, 1) if sec is not None else None,
                "cpu_seconds": round(cpu[key.split("_")[0]], 1) if key.split("_")[0] in cpu else None,
                "budget": budgets.get(key.split("_")[0], ""),
            }
        )
        print(f"{labels[key]:24s} {rho:7.3f} {rho / base:10.2f} {sec or 0:8.0f}")
    total = time.perf_counter() - t_all
    out = {
        "space": "nb201",
        "target": "NB201 CIFAR-10 test accuracy, 200 epochs, train+valid (cifar10_test_trainval)",
        "n_cells": args.n,
        "seed": args.seed,
        "rows": table,
        "machine": f"{platform.machine()} CPU, {os.cpu_count()} cores shared with other jobs"
        f" (load average {load0:.1f} at start), torch {torch.__version__}, {args.threads} thread(s)",
        "date": time.strftime("%Y-%m-%d"),
        "total_seconds": round(total, 1),
        "archs": archs,
        "command": " ".join(["python", "benchmarks/estimator_ranking.py", *sys.argv[1:]]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    log(f"wrote {args.out} (total {total:.0f}s)")
    return 0


def merge(paths: list[str], out_path: str) -> int:
    """One table from runs that split the estimators between processes (same cells, same seed)."""
    tables = [json.loads(Path(p).read_text()) for p in paths]
    if len({tuple(t["archs"]) for t in tables}) != 1:
        print("the runs scored different cells; cannot merge", file=sys.stderr)
        return 2
    rows, seen = [], set()
    for t in tables:
        for r in t["rows"]:
            if r["variant"] not in seen:
                seen.add(r["variant"])
                rows.append(r)
    order = ["params", "zen", "gradsign", "oneshot", "oneshot_loss", "smash", "smash_loss"]
    rows.sort(key=lambda r: order.index(r["variant"]) if r["variant"] in order else len(order))
    out = dict(tables[0])
    out["rows"] = rows
    out["total_seconds"] = round(sum(t["total_seconds"] for t in tables), 1)
    out["command"] = " ; ".join(t["command"] for t in tables)
    out["machine"] = tables[0]["machine"] + f"; {len(tables)} processes side by side"
    Path(out_path).write_text(json.dumps(out, indent=1))
    for r in rows:
        print(f"{r['label']:24s} {r['spearman']:7.3f} {r['ratio_to_params']:10.2f}")
    log(f"wrote {out_path}")
    return 0


def _every(n: int, name: str):
    def fn(p):
        if p.step % n == 0 or p.step == p.total:
            log(f"{name} step {p.step}/{p.total} loss {p.loss:.3f}")

    return fn


if __name__ == "__main__":
    raise SystemExit(main())
