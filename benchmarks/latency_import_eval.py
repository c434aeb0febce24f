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

Layers are measured by the device protocol's context: 'interleaved' (the default: each layer run
once per pass together with the layers before it in the graph, never back to back) or 'isolated'
(each layer timed back to back, the protocol before issue 17); `--context both` fills one table of
each and reports both against the same whole-network measurements.

Reported per table: MACs, params, LUT raw sum, measured, ratio and whether within +-10 %, raw
and after a calibration fitted leave-one-family-out (on the other families' models, never on the
model predicted, nor on its siblings): `ms ~ a * LUT + b`, and a scale per op kind
(`explorer.latency.calibration.fit_by_kind`, what `latency calibrate --by-kind` stores); the
share within +-10 % / +-5 %, Spearman and the median |error|. `--explain` (default: the models a
raw sum misses) times every node inside the built network and compares it with its table
entries, per op kind: what dominates a miss.

    python benchmarks/latency_import_eval.py [--quick | --models a,b] [--luts DIR] [--rounds 3]
        [--context interleaved|isolated|both] [--explain all|miss|none] [--json] [--out results.json]
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
from explorer.latency.calibration import apply as apply_calibration  # noqa: E402
from explorer.latency.calibration import fit_by_kind  # noqa: E402
from explorer.latency.host import today  # noqa: E402
from explorer.latency.local import local_device  # noqa: E402
from explorer.latency.measure import (  # noqa: E402
    CONTEXTS,
    STATISTICS,
    MeasureConfig,
    entry_ms,
    measure_module,
    thread_scope,
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
    original: Net
    built: Net
    graph: object = None
    keys: int = 0
    lut_ms: dict[str, float] = field(default_factory=dict)  # per layer context
    layers: dict[str, list] = field(default_factory=dict)
    new_keys: dict[str, int] = field(default_factory=dict)
    cal_ms: dict[str, float] = field(default_factory=dict)
    cal: dict[str, tuple[float, float]] = field(default_factory=dict)
    kinds: dict[str, dict[str, float]] = field(default_factory=dict)  # LUT ms per op kind
    kind_ms: dict[str, float] = field(default_factory=dict)  # per-kind calibration, LOFO
    kind_fit: dict[str, dict] = field(default_factory=dict)
    measured_ms: float | None = None
    built_ms: float | None = None
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


def explain(row: Row, devices: dict) -> dict:
    """Per op kind: each table's entries against the same nodes timed inside the network."""
    inside = node_times(row.built.module, row.built.shape)
    by_op: dict[str, dict] = {}
    for ctx in devices:
        for node, _key, ms in row.layers[ctx]:
            op = row.graph.op(node)
            if op == "conv" and row.graph.params(node).get("groups", 1) > 1:
                op = "conv(grouped)"
            d = by_op.setdefault(op, {"n": 0, "in_network_ms": 0.0})
            d[f"lut_{ctx}_ms"] = d.get(f"lut_{ctx}_ms", 0.0) + ms
            if ctx == next(iter(devices)):
                d["n"] += 1
                d["in_network_ms"] += inside.get(node, 0.0)
    first = f"lut_{next(iter(devices))}_ms"
    ops = {
        op: {k: round(v, 4) if isinstance(v, float) else v for k, v in d.items()}
        for op, d in sorted(by_op.items(), key=lambda kv: -abs(kv[1]["in_network_ms"] - kv[1][first]))
    }
    keyed = {n for n, _, _ in row.layers[next(iter(devices))]}
    keyless = sum(v for n, v in inside.items() if n not in keyed)
    return {"ops": ops, "in_network_sum_ms": round(sum(inside.values()), 4), "keyless_ms": round(keyless, 4)}


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
    ap.add_argument(
        "--context",
        choices=(*CONTEXTS, "both"),
        default=MeasureConfig().context,
        help="how layers are measured: interleaved (the default protocol), isolated, or both (two tables)",
    )
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
    contexts = list(CONTEXTS) if args.context == "both" else [args.context]
    t_start = time.time()
    load_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="nasx-zoo-") as tmp_name:
        tmp = Path(tmp_name)
        devices = {}
        for ctx in contexts:
            protocol = {"statistic": args.statistic, "rounds": args.rounds, "context": ctx}
            where = Path(args.luts) if args.luts else tmp / "luts"
            if len(contexts) > 1:
                where = where / ctx
            dev = devices[ctx] = local_device("torch", 1, 1, directory=where, protocol=protocol)
            c = dev.measure_config()
            log(f"table {ctx}: {dev.path} ({len(dev.table)} keys cached); {c.statistic}, {c.rounds} round(s)")
            if c.context != ctx:
                log(f"  (a reused file: its layers were measured {c.context})")
        cfg = next(iter(devices.values())).measure_config()
        log(f"load average at start: {load_start} ({os.cpu_count()} cores)")

        # 1. import and predict on each table (it measures the layers it lacks, as the app does)
        rows: list[Row] = []
        t_keys = dict.fromkeys(devices, 0.0)
        for name in names:
            t1 = time.time()
            model, result, ok = import_one(name, tmp)
            c = count_complexity(result.graph)
            row = Row(
                name,
                family(name),
                c.macs,
                c.params,
                ok,
                Net(name, model),
                Net(f"{name} (built)", result.model()),
            )
            row.graph = result.graph
            for ctx, dev in devices.items():
                t0, n_before = time.time(), len(dev.table)
                pred = predict_graph(dev, result.graph, on_missing="measure")
                row.keys, row.lut_ms[ctx], row.layers[ctx] = len(pred.layers), float(pred.raw_ms), pred.layers
                row.kinds[ctx] = pred.raw_by_kind
                row.new_keys[ctx] = len(dev.table) - n_before
                t_keys[ctx] += time.time() - t0
            rows.append(row)
            luts = ", ".join(f"{ctx} {ms:.2f}" for ctx, ms in row.lut_ms.items())
            log(
                f"  {name}: {row.keys} keyed nodes, {max(row.new_keys.values())} new keys, LUT ms {luts}, "
                f"counts {'ok' if ok else 'DIFFER'} ({time.time() - t1:.0f} s)"
            )

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
        for ctx in devices:
            for r in rows:
                train = [(o.lut_ms[ctx], o.measured_ms) for o in rows if o.family != r.family]
                if len(train) >= 2:
                    a, b = L.fit_linear([p[0] for p in train], [p[1] for p in train])
                    r.cal[ctx], r.cal_ms[ctx] = (a, b), a * r.lut_ms[ctx] + b
                    others = [(o.kinds[ctx], o.measured_ms) for o in rows if o.family != r.family]
                    r.kind_fit[ctx] = fit_by_kind(others)
                    r.kind_ms[ctx] = apply_calibration(r.kind_fit[ctx], r.kinds[ctx])

        # 4. where the misses come from
        explained = {}
        for r in rows:
            miss = any(not within(ms, r.measured_ms) for ms in r.lut_ms.values())
            if args.explain == "all" or (args.explain == "miss" and miss):
                explained[r.name] = explain(r, devices)

    # report
    out = sys.stderr if args.json else sys.stdout
    figures = {}
    for ctx in devices:
        print_table(rows, ctx, out)
        raw = summary([r.lut_ms[ctx] for r in rows], [r.measured_ms for r in rows])
        cal_rows = [r for r in rows if ctx in r.cal_ms]
        cal = (
            summary([r.cal_ms[ctx] for r in cal_rows], [r.measured_ms for r in cal_rows])
            if cal_rows
            else None
        )
        kind_rows = [r for r in rows if ctx in r.kind_ms]
        kind = (
            summary([r.kind_ms[ctx] for r in kind_rows], [r.measured_ms for r in kind_rows])
            if kind_rows
            else None
        )
        built = None if args.no_built else summary([r.lut_ms[ctx] for r in rows], [r.built_ms for r in rows])
        figures[ctx] = {
            "raw_lut": raw,
            "calibrated_lofo": cal,
            "kind_calibrated_lofo": kind,
            "raw_lut_vs_built": built,
        }
        for label, m in (
            ("raw LUT sum", raw),
            ("LOFO calibrated", cal),
            ("LOFO per kind", kind),
            ("raw LUT vs built", built),
        ):
            if m:
                print(
                    f"{label:17s} within 10 %: {m['within_10']:6.1%}  within 5 %: {m['within_5']:6.1%}  "
                    f"Spearman {m['spearman']}  median |error| {m['median_abs_error']:.1%}  "
                    f"median ratio {m['ratio_median']:.3f}",
                    file=out,
                )
        print(file=out)
    print_explained(explained, list(devices), out)
    flagged = sum(
        int(bool(r.entries[k].get("foreign_load")))
        for r in rows
        for k in ("measured", "built")
        if k in r.entries
    )
    keys_flagged = {
        ctx: sum(1 for e in d.table.values() if e.get("foreign_load")) for ctx, d in devices.items()
    }
    dev = next(iter(devices.values()))
    results = {
        "benchmark": "benchmarks/latency_import_eval.py",
        "device": dev.name,
        "date": today(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {dev.provenance.get('hardware')}",
        "torch": torch.__version__,
        "protocol": {ctx: d.measure_config().protocol() for ctx, d in devices.items()},
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
                "measured_ms": round(r.measured_ms, 4),
                "built_ms": None if r.built_ms is None else round(r.built_ms, 4),
                "foreign_load": bool(r.entries["measured"].get("foreign_load")),
                **{
                    ctx: {
                        "new_keys": r.new_keys[ctx],
                        "lut_ms": round(r.lut_ms[ctx], 4),
                        "ratio": round(r.lut_ms[ctx] / r.measured_ms, 4),
                        "within_10": within(r.lut_ms[ctx], r.measured_ms),
                        "calibrated_ms": round(r.cal_ms[ctx], 4) if ctx in r.cal_ms else None,
                        "calibration_lofo": [round(v, 5) for v in r.cal[ctx]] if ctx in r.cal else None,
                        "calibrated_within_10": within(r.cal_ms.get(ctx), r.measured_ms),
                        "lut_ms_by_kind": {k: round(v, 4) for k, v in r.kinds[ctx].items()},
                        "kind_calibrated_ms": round(r.kind_ms[ctx], 4) if ctx in r.kind_ms else None,
                        "kind_calibration_lofo": r.kind_fit.get(ctx),
                        "kind_calibrated_within_10": within(r.kind_ms.get(ctx), r.measured_ms),
                    }
                    for ctx in devices
                },
                **({"explain": explained[r.name]} if r.name in explained else {}),
            }
            for r in rows
        ],
        **figures,
        "measurements_under_foreign_load": flagged,
        "keys": {ctx: len(d.table) for ctx, d in devices.items()},
        "keys_under_foreign_load": keys_flagged,
        "keys_s": {ctx: round(v, 1) for ctx, v in t_keys.items()},
        "nets_s": round(t_nets, 1),
        "total_s": round(time.time() - t_start, 1),
    }
    print(
        f"{len(rows)} models; keys {dict(results['keys'])} ({keys_flagged} under foreign load), "
        f"{flagged} whole-net measurements under foreign load; keys {results['keys_s']} s, "
        f"nets {t_nets:.0f} s, total {results['total_s']:.0f} s; load {load_start} -> {results['load_end']}",
        file=out,
    )
    if args.json:
        print(json.dumps(results, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


def print_table(rows: list[Row], ctx: str, file) -> None:
    print(f"layers measured {ctx}:", file=file)
    head = f"{'model':18s} {'MMACs':>7s} {'Mparams':>7s} {'LUT ms':>8s} {'meas ms':>8s} {'built':>8s}"
    head += f" {'ratio':>6s} {'<=10%':>5s} {'cal ms':>8s} {'ratio':>6s} {'<=10%':>5s}"
    head += f" {'kind ms':>8s} {'ratio':>6s} {'<=10%':>5s}"
    print(head, file=file)
    for r in rows:
        lut = r.lut_ms[ctx]
        built = "-" if r.built_ms is None else f"{r.built_ms:8.2f}"
        cal = "-" if ctx not in r.cal_ms else f"{r.cal_ms[ctx]:8.2f}"
        cal_ratio = "-" if ctx not in r.cal_ms else f"{r.cal_ms[ctx] / r.measured_ms:6.3f}"
        ok, cal_ok = within(lut, r.measured_ms), within(r.cal_ms.get(ctx), r.measured_ms)
        km = r.kind_ms.get(ctx)
        kind = (
            "       -      -     -"
            if km is None
            else (f"{km:8.2f} {km / r.measured_ms:6.3f} {'yes' if within(km, r.measured_ms) else 'no':>5s}")
        )
        print(
            f"{r.name:18s} {r.macs / 1e6:7.0f} {r.params / 1e6:7.2f} {lut:8.2f} {r.measured_ms:8.2f} "
            f"{built:>8s} {lut / r.measured_ms:6.3f} {'yes' if ok else 'no':>5s} "
            f"{cal:>8s} {cal_ratio:>6s} {'yes' if cal_ok else 'no':>5s} {kind}"
            + ("" if r.counts_ok else "  (params/MACs differ from the original)"),
            file=file,
        )


def print_explained(explained: dict, contexts: list[str], file) -> None:
    for name, ex in explained.items():
        print(
            f"{name}: nodes timed inside the built network sum to {ex['in_network_sum_ms']:.2f} ms "
            f"({ex['keyless_ms']:.2f} ms in keyless nodes); per op, ms "
            f"(LUT {' / '.join(contexts)} -> in network):",
            file=file,
        )
        for op, v in list(ex["ops"].items())[:6]:
            luts = " / ".join(f"{v[f'lut_{c}_ms']:7.3f}" for c in contexts)
            print(f"    {op:14s} x{v['n']:<3d} {luts} -> {v['in_network_ms']:7.3f}", file=file)


if __name__ == "__main__":
    sys.exit(main())
