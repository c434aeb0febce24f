"""Latency of imported models (issue 17): this machine's layer-wise table against a direct
measurement, on a zoo of 20+ torchvision-shaped CNNs at 224x224 (benchmarks/zoo224.py).

Per model: export to .pt2 (torch.export) in a temp dir, import it with the project's importer,
check that params and MACs agree with the original (params exactly, MACs within 1 % of
FlopCounterMode), predict it on the local-cpu table (torch, 1 thread, batch 1; a fresh table in a
temp dir, or `--luts DIR` to reuse one; missing layers measured on demand, as the app does), and
measure the whole original model with the same protocol (`explorer.latency.measure`: eval,
inference mode, per-run minimum, best of `rounds` passes spread over all models). The model built
from the imported graph is measured too: the gap between it and the original is the import's,
the gap between the LUT sum and the built model is the table's.

Reported: MACs, params, LUT raw sum, measured, ratio and whether within +-10 %, raw and after a
calibration `ms ~ a * LUT + b` fitted leave-one-family-out (on the other families' models,
never on the model predicted, nor on its siblings); the share within +-10 % / +-5 %, Spearman and
the median |error|. `--explain` (default: the models the raw sum misses) times every node inside
the built network and compares it with its table entry, per op kind: what dominates a miss.

    python benchmarks/latency_import_eval.py [--quick | --models a,b] [--luts DIR] [--rounds 3]
        [--explain all|miss|none] [--json] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from zoo224 import QUICK, ZOO, family, make  # noqa: E402

from explorer.arch import count_complexity  # noqa: E402
from explorer.importers import import_model  # noqa: E402
from explorer.latency import profile as L  # noqa: E402
from explorer.latency.local import local_device  # noqa: E402
from explorer.latency.measure import (  # noqa: E402
    STATISTICS,
    MeasureConfig,
    entry_ms,
    measure_module,
    thread_scope,
    today,
)
from explorer.latency.metrics import accuracy  # noqa: E402
from explorer.latency.predict import predict_graph  # noqa: E402

SHAPE = (1, 3, 224, 224)
TOL = 0.10


@dataclass
class Net:
    """One thing measured as a whole (`L.measure_graphs` needs a name)."""

    name: str
    module: torch.nn.Module
    shape: tuple = SHAPE[1:]


@dataclass
class Row:
    name: str
    family: str
    macs: int
    params: int
    counts_ok: bool
    keys: int
    lut_ms: float
    original: Net
    built: Net
    graph: object = None
    measured_ms: float | None = None
    built_ms: float | None = None
    cal_ms: float | None = None
    cal: tuple[float, float] | None = None
    entries: dict = field(default_factory=dict)


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def loadavg() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def flop_macs(model, x) -> float:
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(x)
    return counter.get_total_flops() / 2


def import_one(name: str, tmp: Path):
    """Export `name` to .pt2, import it; (original, ImportResult, counts agree?, MACs of the original)."""
    model = make(name)
    x = torch.randn(SHAPE)
    path = tmp / f"{name}.pt2"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.export.save(torch.export.export(model, (x,)), path)
    result = import_model(path)
    c = count_complexity(result.graph)
    ref_macs = flop_macs(model, x)
    ok = c.params == sum(p.numel() for p in model.parameters()) and abs(c.macs - ref_macs) <= 0.01 * ref_macs
    return model, result, ok


def measure_net(net: Net, config: MeasureConfig):
    return measure_module(net.module, [net.shape], config)


def node_times(net: torch.nn.Module, shape, runs: int = 20) -> dict[str, float]:
    """Each node's time inside the built network (ms, per-run minimum): a timer around every
    node module (a few us of hook overhead each), 1 thread, inference mode."""
    times: dict[str, float] = defaultdict(lambda: float("inf"))
    start: dict[str, int] = {}
    clock = time.perf_counter_ns
    hooks = []
    for nid, mod in net.layers.items():

        def pre(_m, _a, nid=nid):
            start[nid] = clock()

        def post(_m, _a, _o, nid=nid):
            times[nid] = min(times[nid], (clock() - start[nid]) / 1e6)

        hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
    x = torch.randn(1, *shape)
    try:
        with thread_scope(1), torch.inference_mode():
            for _ in range(5 + runs):
                net(x)
    finally:
        for h in hooks:
            h.remove()
    return dict(times)


def explain(row: Row, dev) -> dict:
    """Per op kind: the table's entries against the same nodes timed inside the network."""
    inside = node_times(row.built.module, row.built.shape)
    table = dev.table_for(row.graph)
    by_op: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for node, key, ms in predict_graph(dev, row.graph, on_missing="report").layers:
        op = row.graph.op(node)
        if op == "conv" and row.graph.params(node).get("groups", 1) > 1:
            op = "conv(grouped)"
        by_op[op][0] += ms if ms is not None else entry_ms(table[key])
        by_op[op][1] += inside.get(node, 0.0)
        by_op[op][2] += 1
    keyed = {n for n, _, _ in row.entries.get("layers", [])}
    keyless = sum(v for n, v in inside.items() if n not in keyed)
    ops = {
        op: {"n": n, "lut_ms": round(lut, 4), "in_network_ms": round(net, 4)}
        for op, (lut, net, n) in sorted(by_op.items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))
    }
    return {"ops": ops, "in_network_sum_ms": round(sum(inside.values()), 4), "keyless_ms": round(keyless, 4)}


def pct(v: float | None) -> str:
    return "   -  " if v is None else f"{100 * v:5.1f}%"


def within(p: float | None, t: float | None, tol: float = TOL) -> bool | None:
    return None if p is None or t is None else abs(p - t) <= tol * t


def summary(pred: list[float], true: list[float]) -> dict:
    out = accuracy(pred, true)
    errs = [abs(p - t) / t for p, t in zip(pred, true)]
    out["median_abs_error"] = round(statistics.median(errs), 4) if errs else None
    out["ratio_median"] = round(statistics.median(p / t for p, t in zip(pred, true)), 4) if errs else None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", help=f"comma-separated subset of: {', '.join(ZOO)}")
    ap.add_argument("--quick", action="store_true", help=f"smoke run on {', '.join(QUICK)}")
    ap.add_argument("--luts", help="device file directory to reuse (default: a fresh table in a temp dir)")
    ap.add_argument("--rounds", type=int, default=MeasureConfig().rounds, help="passes per layer / net")
    ap.add_argument("--statistic", choices=STATISTICS, default=MeasureConfig().statistic)
    ap.add_argument("--explain", choices=("miss", "all", "none"), default="miss", help="per-op diagnosis")
    ap.add_argument("--no-built", action="store_true", help="do not measure the model built from the import")
    ap.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    ap.add_argument("--out", help="also write the results as JSON here")
    args = ap.parse_args()

    names = list(QUICK) if args.quick else (args.models.split(",") if args.models else list(ZOO))
    unknown = [n for n in names if n not in ZOO]
    if unknown:
        ap.error(f"unknown model(s) {', '.join(unknown)}; known: {', '.join(ZOO)}")
    t_start = time.time()
    load_start = loadavg()
    protocol = {"statistic": args.statistic, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="nasx-zoo-") as tmp_name:
        tmp = Path(tmp_name)
        dev = local_device("torch", 1, 1, directory=args.luts or tmp / "luts", protocol=protocol)
        cfg = dev.measure_config()
        log(f"device {dev.name} ({len(dev.table)} keys cached); {cfg.statistic}, {cfg.rounds} round(s)")
        log(f"load average at start: {load_start} ({os.cpu_count()} cores)")

        # 1. import and predict (the table measures the layers it lacks, as the app does)
        rows: list[Row] = []
        t0 = time.time()
        for name in names:
            t1 = time.time()
            model, result, ok = import_one(name, tmp)
            n_before = len(dev.table)
            pred = predict_graph(dev, result.graph, on_missing="measure")
            c = count_complexity(result.graph)
            row = Row(
                name, family(name), c.macs, c.params, ok, len(pred.layers), float(pred.raw_ms),
                Net(name, model), Net(f"{name} (built)", result.model()), result.graph,
            )  # fmt: skip
            row.entries = {"layers": pred.layers, "new_keys": len(dev.table) - n_before}
            rows.append(row)
            log(
                f"  {name}: {len(pred.layers)} keyed nodes, {len(dev.table) - n_before} new keys measured, "
                f"LUT {pred.raw_ms:.2f} ms, counts {'ok' if ok else 'DIFFER'} ({time.time() - t1:.0f} s)"
            )
        t_keys = time.time() - t0

        # 2. whole networks, in rounds over all models (original, and the built import)
        t0 = time.time()
        nets = [r.original for r in rows] + ([] if args.no_built else [r.built for r in rows])
        entries = L.measure_graphs(
            nets,
            cfg,
            measure_net=measure_net,
            progress=lambda k, d, t: print(f"\r  nets {d}/{t}", end="", file=sys.stderr, flush=True),
        )
        log()
        for i, r in enumerate(rows):
            r.measured_ms = entry_ms(entries[i])
            r.entries["measured"] = entries[i]
            if not args.no_built:
                r.built_ms = entry_ms(entries[len(rows) + i])
                r.entries["built"] = entries[len(rows) + i]
        t_nets = time.time() - t0

        # 3. calibration, leave one family out: fitted on the other families only
        for r in rows:
            train = [(o.lut_ms, o.measured_ms) for o in rows if o.family != r.family]
            if len(train) >= 2:
                a, b = L.fit_linear([p[0] for p in train], [p[1] for p in train])
                r.cal, r.cal_ms = (a, b), a * r.lut_ms + b

        # 4. where the misses come from
        explained = {}
        for r in rows:
            if args.explain == "all" or (args.explain == "miss" and not within(r.lut_ms, r.measured_ms)):
                explained[r.name] = explain(r, dev)

    # report
    print_table(rows, explained, file=sys.stderr if args.json else sys.stdout)
    raw = summary([r.lut_ms for r in rows], [r.measured_ms for r in rows])
    cal_rows = [r for r in rows if r.cal_ms is not None]
    cal = summary([r.cal_ms for r in cal_rows], [r.measured_ms for r in cal_rows]) if cal_rows else None
    vs_built = None
    if not args.no_built:
        vs_built = summary([r.lut_ms for r in rows], [r.built_ms for r in rows])
    flagged = sum(
        int(bool(r.entries[k].get("foreign_load")))
        for r in rows
        for k in ("measured", "built")
        if k in r.entries
    )
    keys_flagged = sum(1 for e in dev.table.values() if e.get("foreign_load"))
    results = {
        "benchmark": "benchmarks/latency_import_eval.py",
        "device": dev.name,
        "date": today(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {dev.provenance.get('hardware')}",
        "torch": torch.__version__,
        "protocol": cfg.protocol(),
        "load_start": load_start,
        "load_end": loadavg(),
        "models": [
            {
                "name": r.name,
                "family": r.family,
                "macs": r.macs,
                "params": r.params,
                "counts_agree": r.counts_ok,
                "keyed_nodes": r.keys,
                "new_keys": r.entries["new_keys"],
                "lut_ms": round(r.lut_ms, 4),
                "measured_ms": round(r.measured_ms, 4),
                "built_ms": None if r.built_ms is None else round(r.built_ms, 4),
                "ratio": round(r.lut_ms / r.measured_ms, 4),
                "within_10": within(r.lut_ms, r.measured_ms),
                "calibrated_ms": None if r.cal_ms is None else round(r.cal_ms, 4),
                "calibration_lofo": None if r.cal is None else [round(r.cal[0], 5), round(r.cal[1], 4)],
                "calibrated_within_10": within(r.cal_ms, r.measured_ms),
                "foreign_load": bool(r.entries["measured"].get("foreign_load")),
                **({"explain": explained[r.name]} if r.name in explained else {}),
            }
            for r in rows
        ],
        "raw_lut": raw,
        "calibrated_lofo": cal,
        "raw_lut_vs_built": vs_built,
        "measurements_under_foreign_load": flagged,
        "keys": len(dev.table),
        "keys_under_foreign_load": keys_flagged,
        "keys_s": round(t_keys, 1),
        "nets_s": round(t_nets, 1),
        "total_s": round(time.time() - t_start, 1),
    }
    out = sys.stderr if args.json else sys.stdout
    for label, m in (("raw LUT sum", raw), ("LOFO calibrated", cal), ("raw LUT vs built", vs_built)):
        if m:
            print(
                f"{label:17s} within 10 %: {m['within_10']:6.1%}  within 5 %: {m['within_5']:6.1%}  "
                f"Spearman {m['spearman']}  median |error| {m['median_abs_error']:.1%}  "
                f"median ratio {m['ratio_median']:.3f}",
                file=out,
            )
    print(
        f"{len(rows)} models, {len(dev.table)} keys ({keys_flagged} under foreign load), "
        f"{flagged} whole-net measurements under foreign load; keys {t_keys:.0f} s, nets {t_nets:.0f} s, "
        f"total {results['total_s']:.0f} s; load {load_start} -> {results['load_end']}",
        file=out,
    )
    if args.json:
        print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


def print_table(rows: list[Row], explained: dict, file) -> None:
    head = f"{'model':18s} {'MMACs':>7s} {'Mparams':>7s} {'LUT ms':>8s} {'meas ms':>8s} {'built':>8s}"
    head += f" {'ratio':>6s} {'<=10%':>5s} {'cal ms':>8s} {'ratio':>6s} {'<=10%':>5s}"
    print(head, file=file)
    for r in rows:
        built = "-" if r.built_ms is None else f"{r.built_ms:8.2f}"
        cal = "-" if r.cal_ms is None else f"{r.cal_ms:8.2f}"
        cal_ratio = "-" if r.cal_ms is None else f"{r.cal_ms / r.measured_ms:6.3f}"
        ok, cal_ok = within(r.lut_ms, r.measured_ms), within(r.cal_ms, r.measured_ms)
        print(
            f"{r.name:18s} {r.macs / 1e6:7.0f} {r.params / 1e6:7.2f} {r.lut_ms:8.2f} {r.measured_ms:8.2f} "
            f"{built:>8s} {r.lut_ms / r.measured_ms:6.3f} {'yes' if ok else 'no':>5s} "
            f"{cal:>8s} {cal_ratio:>6s} {'yes' if cal_ok else 'no':>5s}"
            + ("" if r.counts_ok else "  (params/MACs differ from the original)"),
            file=file,
        )
    for name, ex in explained.items():
        print(
            f"{name}: nodes timed inside the built network sum to {ex['in_network_sum_ms']:.2f} ms "
            f"({ex['keyless_ms']:.2f} ms in keyless nodes); per op (LUT -> in network, ms):",
            file=file,
        )
        for op, v in list(ex["ops"].items())[:6]:
            print(f"    {op:14s} x{v['n']:<3d} {v['lut_ms']:8.3f} -> {v['in_network_ms']:8.3f}", file=file)


if __name__ == "__main__":
    sys.exit(main())
