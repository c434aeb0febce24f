"""`nas-explorer latency profile`: measure a local device's layer table for a search space.

Profiles the unique LUT keys of N sampled nets of the space (plus, with --full, every key the
space can need at the chosen resolutions), resumably: the table is written every few keys and a
rerun skips what is already measured. Then fits the calibration on K whole-network measurements.
Keys still missing later are measured on demand when a prediction needs them.

Wired by the latency CLI: `add_profile_parser(latency_subparsers)`; the handler is `cmd_profile`.
"""

from __future__ import annotations

import argparse
import sys

from explorer.errors import ExplorerError

from ..latency.keys import unique_specs
from ..latency.local import is_alias, local_device, parse_local_name
from ..latency.measure import STATISTICS, MeasureConfig, cpu_count
from ..latency.profile import calibrate, coverage_configs, profile, sample_configs


def _ints(text: str) -> list[int]:
    try:
        vals = [int(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one value")
    return vals


def _threads(text: str) -> int:
    if text in ("all", "0"):
        return cpu_count()
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threads must be an integer or 'all', got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError("threads must be >= 1")
    return v


def add_profile_parser(latency_subparsers) -> argparse.ArgumentParser:
    p = latency_subparsers.add_parser(
        "profile",
        help="measure a layer-wise latency table of this machine for a search space (resumable)",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--device", help="device name (default: local-<cpu>-<runtime>-<T>t[-b<B>])")
    p.add_argument("--runtime", default="torch", choices=("torch", "onnxruntime", "torch-cuda"))
    p.add_argument("--threads", type=_threads, default=1, help="intra-op threads, or 'all' (default 1)")
    p.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    from explorer.spaces import list_spaces

    known = ", ".join(sp.name for sp in list_spaces())
    p.add_argument("--space", help=f"search space(s), comma-separated: {known}")
    p.add_argument(
        "--graph",
        action="append",
        default=[],
        metavar="FILE",
        help="also every layer of this architecture file (an imported model, a hand-drawn net); repeatable",
    )
    p.add_argument("--resolutions", type=_ints, help="OFA input resolutions, e.g. 128,160,192,224")
    p.add_argument(
        "--samples", type=int, default=20, help="sampled nets whose keys are profiled (default 20)"
    )
    p.add_argument("--full", action="store_true", help="also every key the space needs at the resolutions")
    p.add_argument(
        "--calibrate", type=int, default=10, metavar="K", help="whole-net measurements (default 10)"
    )
    p.add_argument(
        "--by-kind", action="store_true", help="calibrate a scale per op kind (dense / grouped convs, ...)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--warmup", type=int, default=10, help="warm-up runs per key (>= 10 by the protocol)")
    p.add_argument("--runs", type=int, default=30, help="timed runs per key (>= 30 by the protocol)")
    p.add_argument("--attempts", type=int, default=3, help="repeats of a measurement under foreign load")
    p.add_argument(
        "--statistic",
        choices=STATISTICS,
        help="figure a table entry keeps: per-run min (default for new tables; a shared host's "
        "slowdowns only add time), median or p10",
    )
    p.add_argument("--rounds", type=int, help="passes over all keys, fastest kept (default 3 for new tables)")
    p.add_argument("--max-keys", type=int, help="stop after measuring this many keys (resume later)")
    p.add_argument("--dir", help="directory of the device file (default: luts/ or the user directory)")
    p.add_argument("--restart", action="store_true", help="start a fresh table (old file kept as .bak)")
    p.add_argument("--remeasure-flagged", action="store_true", help="re-measure keys taken under load")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=cmd_profile)
    return p


def _bar(total: int, initial: int, desc: str, quiet: bool):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="key", disable=quiet, file=sys.stderr, leave=False
    )


def _check_protocol(device, chosen: dict) -> None:
    """A table keeps one statistic and round count: resuming with others would mix figures."""
    stored = dict(device.provenance.get("protocol") or {})
    stored.setdefault("statistic", "median")  # files from before statistic/rounds existed
    stored.setdefault("rounds", 1)
    differ = [f"{k} {stored[k]!r} (asked {v!r})" for k, v in chosen.items() if stored.get(k) != v]
    if differ and not device.table:  # nothing measured yet: the new protocol simply applies
        device.provenance["protocol"] = {**stored, **chosen}
    elif differ:
        raise ExplorerError(
            f"device {device.name!r} was measured with {', '.join(differ)}; "
            "profile with --restart to measure it afresh with the new protocol (the old file is kept as .bak)"
        )


def cmd_profile(args) -> int:
    from explorer.spaces import get_space

    if args.batch < 1 or args.samples < 0 or args.calibrate < 0:
        raise ExplorerError("--batch must be >= 1, --samples and --calibrate >= 0")
    if not args.space and not args.graph:
        raise ExplorerError("profile needs --space SPACE and/or --graph FILE")
    spaces = [get_space(s.strip()) for s in (args.space or "").split(",") if s.strip()]
    graphs = {}
    if args.graph:
        from explorer.arch import load_arch

        for f in args.graph:
            g = load_arch(f)
            graphs.setdefault(str(g.meta.get("space") or "*"), []).append(g)
    for sp in spaces:
        res = args.resolutions if hasattr(sp, "geo") else None
        if res:
            bad = [r for r in res if r not in sp.geo.resolutions]
            if bad:
                raise ExplorerError(f"{sp.name}: resolutions {bad} are not in {sp.geo.resolutions}")
        cfgs = sample_configs(sp, args.samples, args.seed, res)
        if args.full:
            cfgs += coverage_configs(sp, res)
        graphs.setdefault(sp.name, []).extend(sp.encode(c) for c in cfgs)
    runtime, threads, batch, name = args.runtime, args.threads, args.batch, args.device
    if name and is_alias(name):  # `local`, `local-cpu-ort-1t`, ...: this machine, default file name
        (runtime, threads, batch), name = parse_local_name(name), None
    if args.rounds is not None and args.rounds < 1:
        raise ExplorerError("--rounds must be >= 1")
    chosen = {k: v for k, v in (("statistic", args.statistic), ("rounds", args.rounds)) if v is not None}
    protocol = MeasureConfig(warmup=args.warmup, runs=args.runs, max_attempts=args.attempts).protocol()
    device = local_device(
        runtime,
        threads,
        batch,
        name=name,
        directory=args.dir,
        restart=args.restart,
        protocol={**protocol, **chosen},
    )
    _check_protocol(device, chosen)
    specs = unique_specs(g for gs in graphs.values() for g in gs)
    n_before = len(device.table)
    todo = sum(1 for k in specs if k not in device.table)
    bar = _bar(len(specs), len(specs) - todo, f"profile {device.name}", args.quiet)
    stop = None if args.max_keys is None else (lambda n: n >= args.max_keys)
    try:
        result = profile(
            device,
            specs,
            should_stop=stop,
            progress=lambda key, done, total: bar.update(1),
            remeasure_flagged=args.remeasure_flagged,
            spaces=list(graphs),
        )
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted: table saved to {device.path}; run the same command to resume", file=sys.stderr)
        raise
    bar.close()
    cal = {}
    if args.calibrate and not result.stopped:
        for sp in spaces:
            res = args.resolutions if hasattr(sp, "geo") else None
            cfgs = sample_configs(sp, args.calibrate, args.seed + 100_000, res)
            cgraphs = [sp.encode(c) for c in cfgs]
            cbar = _bar(len(cgraphs), 0, f"calibrate {sp.name}", args.quiet)
            cal[sp.name] = calibrate(
                device, cgraphs, by_kind=args.by_kind, progress=lambda n, d, t: cbar.update(d - cbar.n)
            )
            cbar.close()
    if device.path is not None and not device.path.exists():
        device.save()
    out = {
        "device": device.name,
        "path": str(device.path),
        "runtime": device.provenance.get("runtime"),
        "threads": device.provenance.get("threads"),
        "batch": device.provenance.get("batch"),
        "hardware": device.provenance.get("hardware"),
        "keys_needed": len(specs),
        "keys_in_table": len(device.table),
        "keys_added": len(device.table) - n_before,
        **result.as_dict(),
        "calibration": cal,
    }
    if args.json:
        from ._output import print_json

        print_json(out)
    else:
        print(
            f"device {out['device']} ({out['hardware']}, {out['runtime']}, {out['threads']} thread(s), batch "
            f"{out['batch']}): {out['path']}"
        )
        print(
            f"keys: {out['keys_needed']} needed, {out['measured']} measured, {out['skipped']} already there"
            + (f", {out['foreign_load']} under foreign load" if out["foreign_load"] else "")
        )
        if result.stopped:
            print("stopped early (--max-keys): run the same command again to resume")
        for name, c in cal.items():
            print(
                f"calibration {name}: ms = {c['a']:.4g} * LUT + {c['b']:.4g} on {c['n']} nets; within 10%: "
                f"raw {c['raw']['within_10']:.0%}, calibrated {c['calibrated']['within_10']:.0%}"
            )
    return 0
