"""`nas-explorer latency ...`: list devices, predict latency, adapt to a new device, evaluate.

predict takes architecture files (their ``meta`` holds ``{"space", "config"}``) or a batch CSV
with the columns of the public data (``arch_str`` for NB201; ``ks``, ``e``, ``d``, ``r`` for
OFA-MBv3) and writes the rows back with a ``latency_ms`` column.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

from ..errors import ExplorerError
from ..fileio import atomic_write_text
from ._arch_files import read_arch_file
from ._output import print_json, print_table


def register(sub) -> None:
    p = sub.add_parser(
        "latency", help="per-device latency: devices, predict, adapt, eval, profile, calibrate"
    )
    lsub = p.add_subparsers(dest="latency_command", metavar="SUBCOMMAND")
    p.set_defaults(handler=lambda a: (p.print_help(), 0)[1])

    d = lsub.add_parser("devices", help="list the devices (shipped in luts/ and the user's)")
    d.add_argument("--json", action="store_true")
    d.add_argument("--all", action="store_true", help="also list unreadable device files with their error")
    d.set_defaults(handler=cmd_devices)

    pr = lsub.add_parser("predict", help="predicted latency (ms) of architectures on a device")
    pr.add_argument("files", nargs="*", metavar="FILE", help="architecture JSON files")
    pr.add_argument("--batch", metavar="CSV", help="CSV with arch_str, or ks,e,d,r columns")
    pr.add_argument("--device", required=True, help="device name (see `latency devices`) or a device .json")
    pr.add_argument("--space", help="space of the batch CSV (default: from its columns)")
    pr.add_argument(
        "-o", "--output", metavar="OUT", help="write the CSV with latency_ms here (default stdout)"
    )
    pr.add_argument("--json", action="store_true")
    pr.set_defaults(handler=cmd_predict)

    ad = lsub.add_parser("adapt", help="few-shot device from 10-20 whole-network measurements")
    ad.add_argument("--measurements", required=True, metavar="CSV", help="config columns plus latency_ms")
    ad.add_argument("--name", required=True, help="name of the new device")
    ad.add_argument("--space", help="nb201, ofa-mbv3-w1.0 or ofa-mbv3-w1.2 (default: from the CSV columns)")
    ad.add_argument("-o", "--output", metavar="PATH", help="device file to write (default: user device dir)")
    ad.add_argument("--json", action="store_true")
    ad.set_defaults(handler=cmd_adapt)

    ev = lsub.add_parser("eval", help="accuracy on the public measured data (protocols A and B)")
    ev.add_argument("--protocol", choices=("A", "B"), default="A")
    ev.add_argument("--device", help="one device (recomputes its protocol); default: all, as recorded")
    ev.add_argument(
        "--recompute", action="store_true", help="retrain/re-evaluate instead of the recorded figures"
    )
    ev.add_argument("--k", type=int, default=20, help="protocol B: target measurements (default 20)")
    ev.add_argument("--json", action="store_true")
    ev.set_defaults(handler=cmd_eval)

    # `latency profile` (this machine's layer-wise tables) lives in explorer/commands/latency_profile.py
    from .latency_calibrate import add_calibrate_parser
    from .latency_profile import add_profile_parser

    add_profile_parser(lsub)
    add_calibrate_parser(lsub)


# ---------------------------------------------------------------------------------------- devices
def cmd_devices(args) -> int:
    from ..latency.registry import list_devices

    devs = list_devices(with_errors=args.all)
    if args.json:
        print_json(devs)
        return 0
    rows = [
        [
            d["name"],
            d.get("kind", "?"),
            ",".join(d.get("spaces") or []),
            d.get("batch") or "",
            d.get("error") or "",
        ]
        for d in devs
    ]
    print_table(["device", "kind", "spaces", "batch", "error" if args.all else ""], rows, align="lllrl")
    return 0


# ---------------------------------------------------------------------------------------- predict


def _write_csv(output: str | None, fields: list[str], rows: list[dict]) -> None:
    """To stdout, or to `output` atomically (a failed run never leaves half a CSV)."""
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    if output:
        atomic_write_text(output, buf.getvalue())
    else:
        sys.stdout.write(buf.getvalue())


def cmd_predict(args) -> int:
    from ..latency.predict import predict_graph, stale_warning
    from ..latency.registry import load_device

    if bool(args.files) == bool(args.batch):
        raise ExplorerError("give architecture FILEs or --batch CSV (one of the two)")
    dev = load_device(args.device)
    stale = dev.stale_sources()
    warnings = [stale_warning(dev, stale)] if stale else []
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    extra = {"warnings": warnings} if warnings else {}
    if args.batch:
        from ..latency.adapt import configs_of_rows, read_rows

        rows, fields = read_rows(args.batch, "rows")
        space, configs = configs_of_rows(rows, fields, args.space, args.batch)
        lat = dev.predict(space, configs)
        for r, v in zip(rows, lat):
            r["latency_ms"] = f"{v:.4f}"
        if args.json:
            print_json(
                {"device": dev.name, "space": space, "latency_ms": [round(float(v), 4) for v in lat], **extra}
            )
            if not args.output:
                return 0
        out_fields = fields + ([] if "latency_ms" in fields else ["latency_ms"])
        _write_csv(args.output, out_fields, rows)
        return 0
    results = []
    for f in args.files:
        space, graph, config = read_arch_file(Path(f))
        if graph is None:
            v = float(dev.predict(space, [config])[0])
        else:
            pred = predict_graph(dev, graph, on_missing="auto")
            if pred.ms is None:
                raise ExplorerError(f"{f}: {pred.reason}")
            v = pred.ms
        results.append({"file": f, "space": space, "latency_ms": round(v, 4)})
    if args.json:
        print_json({"device": dev.name, "results": results, **extra})
    elif args.output:
        _write_csv(args.output, ["file", "space", "latency_ms"], results)
    else:
        print_table(["file", "space", f"latency_ms ({dev.name})"], [list(r.values()) for r in results])
    return 0


# ------------------------------------------------------------------------------------------ adapt
def cmd_adapt(args) -> int:
    from ..latency.adapt import adapt
    from ..latency.registry import read_device_file

    path = adapt(args.measurements, args.name, space=args.space, out=args.output)
    dev = read_device_file(path)
    info = {"device": dev.name, "path": str(path), "spaces": dev.spaces, **dev.provenance["accuracy"]}
    info["head"] = dev.model["head"]["choice"]
    info["sources"] = dev.model["sources"]
    if args.json:
        print_json(info)
    else:
        fit = info["fit_on_measurements"]
        print(f"wrote {path}  (head {info['head']}, {len(info['sources'])} source devices)")
        print(
            f"fit on {fit['n']} measurements: Spearman {fit['spearman']:.3f}, "
            f"leave-one-out relative RMSE {info['loo_rel_rmse']:.3f}"
        )
    return 0


# ------------------------------------------------------------------------------------------- eval
def _device_column(name: str) -> tuple[str, str]:
    from ..latency.evaluate import DATASETS

    for ds, (_, _, prefix, _) in DATASETS.items():
        if name.startswith(prefix):
            return ds, name[len(prefix) :]
    raise ExplorerError(f"device {name!r} has no public measured data to evaluate on")


def cmd_eval(args) -> int:
    from ..latency import evaluate as E
    from ..latency.registry import list_devices, load_device

    rows = []
    if args.protocol == "B":
        targets = [args.device] if args.device else [f"help-nb201-{t}" for t in E.HELP_TARGETS]
        for name in targets:
            ds, col = _device_column(name)
            if ds != "help-nb201":
                raise ExplorerError("protocol B is defined on the HELP NB201 devices")
            rec = load_device(name).provenance.get("accuracy", {}).get(f"protocol_B_k{args.k}")
            res = rec if rec and not args.recompute else E.protocol_b(col, k=args.k)
            rows.append({"device": name, **res})
    else:
        names = (
            [args.device]
            if args.device
            else [
                d["name"] for d in list_devices() if d["kind"] == "network" and d.get("source") != "few-shot"
            ]
        )
        for name in names:
            accuracy = load_device(name).provenance.get("accuracy", {})
            acc = accuracy.get("protocol_A", {})
            if args.recompute or not acc:
                ds, col = _device_column(name)
                res, _ = E.protocol_a(ds, col)
            else:
                res = acc.get("additive-mlp") or next(iter(acc.values()))
            row = {"device": name, **res}
            ceiling = accuracy.get("noise_ceiling")
            if ceiling:  # what the column's own noise allows (benchmarks/latency_noise_ceiling.py)
                row["noise_ceiling"] = {
                    k: ceiling.get(k) for k in ("spearman", "within_10pct", "valid", "method", "verdict")
                }
            rows.append(row)
    if args.json:
        print_json({"protocol": args.protocol, "results": rows})
        return 0
    keys = ("spearman", "rmse_ms", "within_10pct", "within_5pct")
    if any("noise_ceiling" in r for r in rows):
        ceil = [r.get("noise_ceiling") or {} for r in rows]
        print_table(
            ["device", *keys, "ceiling rho", "ceiling w10", "verdict"],
            [
                [
                    r["device"],
                    *(r.get(k) for k in keys),
                    c.get("spearman"),
                    c.get("within_10pct"),
                    c.get("verdict"),
                ]
                for r, c in zip(rows, ceil)
            ],
        )
    else:
        print_table(["device", *keys], [[r["device"], *(r.get(k) for k in keys)] for r in rows])
    if len(rows) > 1:
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in keys}
        print(f"mean: Spearman {mean['spearman']:.4f}, within 10% {mean['within_10pct']:.3f}")
    return 0
