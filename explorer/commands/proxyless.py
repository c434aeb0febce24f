"""`nas-explorer search proxyless`: ProxylessNAS's gradient search with binary gates and a latency
loss on a CIFAR-sized MBConv skeleton (`add_proxyless_parser` is wired under `search`)."""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

from ..errors import ConfigError
from ..progress import Cancelled, Progress, ProgressWriter, tee
from ._output import print_json


def add_proxyless_parser(search_subparsers) -> None:
    p = search_subparsers.add_parser(
        "proxyless", help="ProxylessNAS: binarised paths + latency loss on a device's layer table"
    )
    p.add_argument("--device", default="local", help="local | local-cpu-torch-<T>t | synthetic | DEVICE.json")
    p.add_argument(
        "--target-ms", type=float, help="latency target (ms on --device); required unless --resume"
    )
    form = p.add_mutually_exclusive_group()
    form.add_argument("--beta", type=float, default=None, help="multiplicative loss CE*max(1,E/T)^beta (0.6)")
    form.add_argument("--additive", action="store_true", help="additive loss CE + lambda*(E-T)/T")
    p.add_argument("--lambda", dest="lam", type=float, default=0.1, help="lambda of --additive (0.1)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (10; with --resume: extend to)")
    p.add_argument("--warmup-epochs", type=float, default=2.0, help="weight-only epochs before arch steps")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--data", default="builtin", help="builtin | cifar-sample | NPZ file | ImageFolder dir")
    p.add_argument("--train-images", type=int, default=None, help="use the first N training images")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--arch-lr", type=float, default=0.02)
    p.add_argument("--arch-every", type=int, default=1, help="an arch step every N weight steps")
    p.add_argument("--skeleton", help="skeleton JSON (object or file): stages, widths, kernels, expands")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-measure", action="store_true", help="do not measure the derived net on a local device"
    )
    p.add_argument("--lut-dir", help="where local device tables are read and written")
    p.add_argument("--resume", metavar="DIR", help="continue the search saved in DIR")
    p.add_argument("-o", "--output", metavar="DIR", help="output folder (checkpoint, progress, arch, result)")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_proxyless)


register_proxyless = add_proxyless_parser


def _skeleton(text: str | None) -> dict:
    if not text:
        return {}
    raw = Path(text).read_text(encoding="utf-8") if not text.lstrip().startswith("{") else text
    try:
        d = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--skeleton is neither JSON nor a JSON file: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError("--skeleton must be a JSON object")
    return d


def _console(quiet: bool):
    last = {"t": 0.0}

    def fn(p: Progress) -> None:
        now = time.monotonic()
        if quiet or (
            p.phase in ("warmup", "search", "latency") and now - last["t"] < 2.0 and p.step != p.total
        ):
            return
        last["t"] = now
        frac = f" {p.step}/{p.total}" if p.total else ""
        loss = f" ce {p.loss:.3f}" if p.loss is not None else ""
        print(f"[{p.phase}]{frac}{loss} {p.message}", file=sys.stderr, flush=True)

    return fn


def cmd_proxyless(args) -> int:
    from ..proxyless.search import ProxylessSearch, SearchConfig

    out = args.resume or args.output
    if not out:
        raise ConfigError("give -o DIR (or --resume DIR)")
    if args.resume:
        job = ProxylessSearch(None, out, resume=True, lut_dir=args.lut_dir, epochs=args.epochs)
    else:
        if args.target_ms is None:
            raise ConfigError("--target-ms is required")
        skeleton = {**_skeleton(args.skeleton), "resolution": args.resolution}
        cfg = SearchConfig(
            device=args.device,
            target_ms=args.target_ms,
            loss="add" if args.additive else "mul",
            beta=0.6 if args.beta is None else args.beta,
            lam=args.lam,
            epochs=10 if args.epochs is None else args.epochs,
            warmup_epochs=args.warmup_epochs,
            batch_size=args.batch_size,
            data=args.data,
            train_images=args.train_images,
            arch_lr=args.arch_lr,
            arch_every=args.arch_every,
            seed=args.seed,
            skeleton=skeleton,
            measure=not args.no_measure,
        )
        if Path(out, "checkpoint.pt").exists():
            raise ConfigError(f"{out} already holds a search; use --resume {out} or another -o")
        job = ProxylessSearch(cfg, out, lut_dir=args.lut_dir)
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    writer = ProgressWriter(Path(out) / "progress.jsonl")
    try:
        result = job.run(tee(writer, _console(args.quiet or args.json)), lambda: stop["flag"])
    except Cancelled as e:
        result = {"stopped": str(e), "checkpoint": str(Path(out) / "checkpoint.pt")}
    finally:
        writer.close()
        for s, h in old.items():
            signal.signal(s, h)
    if args.json:
        print_json(result)
    elif "stopped" in result:
        print(f"stopped: {result['stopped']}")
    else:
        m = result.get("measured") or {}
        meas = f", measured {m['measured_ms']:.3f} ms" if m.get("measured_ms") is not None else ""
        print(f"derived {result['layers_kept']} searchable layers {result['choices']}")
        print(f"predicted {result['predicted_ms']:.3f} ms (target {result['target_ms']:g}){meas}")
        print(f"wrote {result['arch']}")
    return 0
