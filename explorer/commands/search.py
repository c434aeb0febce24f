"""`nas-explorer search evolution|train-predictor`: subnet search under a latency constraint.

`search proxyless` lives in `commands/proxyless.py` and is attached here when present.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import ExplorerError
from ..progress import Progress
from ..spaces import get_space, spaces_with
from ._output import print_json


def register(sub) -> None:
    spaces = [s.name for s in spaces_with(supports_supernet=True)]  # configs of the elastic supernet
    p = sub.add_parser("search", help="evolutionary subnet search under a latency constraint")
    ssub = p.add_subparsers(dest="search_command", metavar="SUBCOMMAND", required=True)

    e = ssub.add_parser(
        "evolution", help="OFA's evolutionary search (accuracy estimate under a latency budget)"
    )
    e.add_argument(
        "--space", choices=spaces, help="default: the space of the official predictor and Note10 tables"
    )
    e.add_argument(
        "--constraint", type=float, required=True, help="latency budget (ms; MMACs with --latency macs)"
    )
    e.add_argument(
        "--latency",
        default="note10",
        help="note10 (official Note10 tables, w1.2) | macs | DIR of {r}_lookup_table.yaml",
    )
    e.add_argument(
        "--accuracy",
        default="official",
        help="official (OFA ImageNet predictor, w1.2) | PREDICTOR.pt | supernet (needs --supernet)",
    )
    e.add_argument("--supernet", help="supernet checkpoint for --accuracy supernet")
    e.add_argument(
        "--data", default="builtin", help="images for BN recalibration / validation (--accuracy supernet)"
    )
    e.add_argument("--calib-images", type=int, default=2000)
    e.add_argument("--val-subset", type=int, default=500)
    e.add_argument("--resolutions", type=int, nargs="+", default=None, help="resolutions to search")
    e.add_argument("--population", type=int, default=100)
    e.add_argument("--generations", type=int, default=500)
    e.add_argument("--parent-ratio", type=float, default=0.25)
    e.add_argument("--mutation-ratio", type=float, default=0.5)
    e.add_argument("--mutate-prob", type=float, default=0.1)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument(
        "-o", "--output", help="write the result JSON here (usable as `supernet extract --config`)"
    )
    e.add_argument("--quiet", action="store_true")
    e.add_argument("--json", action="store_true")
    e.set_defaults(handler=cmd_evolution)

    t = ssub.add_parser(
        "train-predictor", help="fit OFA's MLP accuracy predictor on sampled subnets of a supernet"
    )
    t.add_argument("--supernet", required=True)
    t.add_argument("--data", default="builtin")
    t.add_argument("--samples", type=int, default=200, help="subnets to sample and evaluate")
    t.add_argument("--calib-images", type=int, default=500)
    t.add_argument("--val-subset", type=int, default=500)
    t.add_argument("--epochs", type=int, default=200)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("-o", "--output", required=True)
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_train_predictor)

    try:
        from .proxyless import add_proxyless_parser
    except ImportError:
        return
    add_proxyless_parser(ssub)


def latency_fn(name: str, space: str):
    """(callable config -> cost, resolutions it supports or None)."""
    geo = get_space(space).geo
    if name == "macs":
        from ..spaces.ofa_features import ofa_block_macs

        return (lambda cfg: ofa_block_macs(cfg, geo)[1]), None
    from ..search.ofa_lut import NOTE10_DEVICE, LUTLatency

    if name in ("note10", NOTE10_DEVICE):
        from ..latency.registry import load_device

        dev = load_device(NOTE10_DEVICE)
        if not dev.covers(space):
            raise ExplorerError(
                f"the Note10 latency tables are for {', '.join(dev.spaces)}; "
                "use --latency macs or a table DIR"
            )
        lut = LUTLatency(NOTE10_DEVICE, geo)
    else:
        lut = LUTLatency(name, geo)  # a latency device name, or a folder of OFA YAML tables
    return lut, lut.resolutions


def _accuracy(args):
    from ..search.predictor import AccuracyPredictor, official_space

    if args.accuracy == "official":
        if args.space != official_space():
            raise ExplorerError(f"the official ImageNet predictor is for {official_space()}")
        return AccuracyPredictor.official_w12(), None
    if args.accuracy == "supernet":
        if not args.supernet:
            raise ExplorerError("--accuracy supernet needs --supernet CKPT")
        from ..supernet import checkpoint as ckpt
        from ..supernet.datasets import load_dataset
        from ..supernet.evaluate import SupernetAccuracy

        ck = ckpt.load(args.supernet, space=args.space)
        net = ckpt.build_supernet(ck).eval()
        fn = SupernetAccuracy(
            net,
            load_dataset(args.data, "train"),
            load_dataset(args.data, "val").subset(args.val_subset),
            calib_images=args.calib_images,
        )
        return fn, list(net.resolutions)
    return AccuracyPredictor.load(args.accuracy), None


def cmd_evolution(args) -> int:
    from ..search.evolution import ConfigOps, EvolutionSearch
    from ..search.predictor import official_space

    args.space = args.space or official_space()
    lat, lat_res = latency_fn(args.latency, args.space)
    acc, acc_res = _accuracy(args)
    res = args.resolutions or lat_res or acc_res
    if res is None:
        res = list(get_space(args.space).geo.resolutions)
    if lat_res is not None and any(r not in lat_res for r in res):
        raise ExplorerError(f"the latency tables cover resolutions {lat_res} only")
    search = EvolutionSearch(
        ConfigOps(res),
        acc,
        lat,
        args.constraint,
        population=args.population,
        generations=args.generations,
        parent_ratio=args.parent_ratio,
        mutation_ratio=args.mutation_ratio,
        mutate_prob=args.mutate_prob,
        seed=args.seed,
    )

    def progress(p: Progress) -> None:
        if not args.quiet and (p.step % 25 == 0 or p.step == p.total):
            print(f"[search] generation {p.step}/{p.total}  {p.message}", file=sys.stderr, flush=True)

    result = search.run(progress)
    out = dict(result.as_dict(), space=args.space, constraint=args.constraint, latency=args.latency)
    if args.output:
        Path(args.output).write_text(json.dumps(out, indent=1), encoding="utf-8")
    if args.json:
        print_json(out)
    else:
        cfg = json.dumps(result.config)
        print(f"best: accuracy {result.accuracy:.4f}  latency {result.latency_ms:.2f}  config {cfg}")
    return 0


def cmd_train_predictor(args) -> int:
    import random

    from ..search.predictor import train_predictor
    from ..supernet import checkpoint as ckpt
    from ..supernet.datasets import load_dataset
    from ..supernet.evaluate import SupernetAccuracy

    net = ckpt.build_supernet(ckpt.load(args.supernet)).eval()
    fn = SupernetAccuracy(
        net,
        load_dataset(args.data, "train"),
        load_dataset(args.data, "val").subset(args.val_subset),
        calib_images=args.calib_images,
    )
    rng = random.Random(args.seed)
    configs = [net.sample_config(rng.randrange(1 << 30)) for _ in range(args.samples)]
    accs = fn(configs)
    pred = train_predictor(configs, accs, epochs=args.epochs, seed=args.seed)
    pred.save(args.output)
    info = {"predictor": args.output, "samples": len(configs), "mean_accuracy": sum(accs) / len(accs)}
    print_json(info) if args.json else print(f"wrote {args.output} ({len(configs)} subnets)")
    return 0
