"""`nas-explorer supernet new|train|extract|info`: Once-for-All supernets from the command line.

`train` runs under torchrun as is (gloo on CPU, NCCL on GPUs); only rank 0 writes checkpoints,
logs and progress.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import ConfigError, ExplorerError
from ..progress import Cancelled, Progress, ProgressWriter, tee
from ..spaces import default_space, spaces_with
from ._output import print_json


def register(sub) -> None:
    spaces = [s.name for s in spaces_with(supports_supernet=True)]  # the elastic supernet's spaces
    p = sub.add_parser("supernet", help="create, train (progressive shrinking) and extract OFA supernets")
    ssub = p.add_subparsers(dest="supernet_command", metavar="SUBCOMMAND", required=True)

    n = ssub.add_parser("new", help="write a freshly initialised supernet checkpoint")
    n.add_argument("--space", required=True, choices=spaces)
    n.add_argument("--n-classes", type=int, default=1000)
    n.add_argument(
        "--resolutions", type=int, nargs="+", default=None, help="elastic resolutions (default: the space's)"
    )
    n.add_argument("--seed", type=int, default=0)
    n.add_argument("-o", "--output", required=True)
    n.add_argument("--json", action="store_true")
    n.set_defaults(handler=cmd_new)

    t = ssub.add_parser("train", help="progressive shrinking: teacher -> kernel -> depth -> expand")
    t.add_argument("-o", "--output", required=True, help="checkpoint file (written atomically)")
    t.add_argument("--space", default=default_space(supports_supernet=True).name, choices=spaces)
    t.add_argument("--init", help="start from this supernet checkpoint (e.g. from `supernet new`)")
    t.add_argument("--resume", action="store_true", help="continue the run saved in --output if it exists")
    t.add_argument("--data", default="builtin", help="builtin | cifar-sample | NPZ file | ImageFolder dir")
    t.add_argument(
        "--phases", default=None, help="comma list of teacher,kernel,depth1,depth2,expand1,expand2"
    )
    t.add_argument("--epochs", type=float, default=None, help="epochs of every phase (default: official)")
    t.add_argument("--epoch-scale", type=float, default=1.0, help="multiply the official epochs")
    t.add_argument("--resolutions", "--resolution", type=int, nargs="+", default=[32], dest="resolutions")
    t.add_argument("--batch-size", type=int, default=64, help="global batch (all ranks)")
    t.add_argument("--subset", type=int, default=None, help="use the first N training images")
    t.add_argument("--val-subset", type=int, default=500)
    t.add_argument("--lr-scale", type=float, default=1.0)
    t.add_argument("--warmup-epochs", type=float, default=5.0)
    t.add_argument("--kd-ratio", type=float, default=1.0)
    t.add_argument("--n-classes", type=int, default=None)
    t.add_argument(
        "--load-size", type=int, default=None, help="ImageFolder decode size (default: max resolution)"
    )
    t.add_argument("--save-every", type=int, default=50, help="checkpoint every N steps (and at phase ends)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    t.add_argument("--deterministic", action="store_true", help="torch deterministic algorithms")
    t.add_argument("--no-eval", action="store_true", help="skip min/max subnet evaluation at phase ends")
    t.add_argument("--progress-jsonl", help="append JSON-lines progress here (for a parent process)")
    t.add_argument("--stop-after-steps", type=int, default=None, help="save and stop after N steps (testing)")
    t.add_argument("--quiet", action="store_true")
    t.add_argument("--json", action="store_true")
    t.set_defaults(handler=cmd_train)

    e = ssub.add_parser("extract", help="extract a subnet: DIR/arch.json + DIR/weights.pt")
    e.add_argument("checkpoint")
    e.add_argument("--config", required=True, help="config JSON, or a JSON file (a search result works)")
    e.add_argument(
        "--recalibrate-bn", metavar="DATA", help="recalibrate BN on these images (builtin|npz|dir)"
    )
    e.add_argument("--calib-images", type=int, default=2000)
    e.add_argument("--calib-batch", type=int, default=200)
    e.add_argument("-o", "--output", required=True, help="output directory")
    e.add_argument("--json", action="store_true")
    e.set_defaults(handler=cmd_extract)

    i = ssub.add_parser("info", help="space, phase, step and metrics of a checkpoint")
    i.add_argument("checkpoint")
    i.add_argument("--json", action="store_true")
    i.set_defaults(handler=cmd_info)


def parse_config(text: str) -> dict:
    """A config from JSON text or a JSON file; `{"config": {...}}` (search results) is unwrapped."""
    raw = text
    if not text.lstrip().startswith("{"):
        try:
            if Path(text).is_file():
                raw = Path(text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"--config: cannot read {text[:80]!r} ({type(e).__name__})") from None
    try:
        cfg = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ConfigError(f"--config is neither JSON nor a JSON file: {e}") from None
    if isinstance(cfg, dict) and isinstance(cfg.get("config"), dict):
        cfg = cfg["config"]
    return cfg


def cmd_new(args) -> int:
    from ..supernet.trainer import new_supernet_checkpoint

    path = new_supernet_checkpoint(
        args.space, args.n_classes, args.output, args.seed, resolutions=args.resolutions
    )
    if args.json:
        print_json({"space": args.space, "n_classes": args.n_classes, "checkpoint": str(path)})
    else:
        print(f"wrote {path} ({args.space}, {args.n_classes} classes)")
    return 0


def _console_progress(quiet: bool):
    last = {"t": 0.0}

    def fn(p: Progress) -> None:
        import time

        if quiet:
            return
        now = time.monotonic()
        final = p.total is not None and p.step >= p.total
        if now - last["t"] < 2.0 and not final and p.message != "evaluated":
            return
        last["t"] = now
        bits = [f"[{p.phase}] {p.step}/{p.total}"]
        if p.loss is not None:
            bits.append(f"loss {p.loss:.4f}")
        if p.images_per_s:
            bits.append(f"{p.images_per_s:.1f} img/s")
        if p.eta_s is not None:
            bits.append(f"eta {p.eta_s:.0f}s")
        if p.message:
            bits.append(p.message)
        if "min_acc" in p.extra:
            bits.append(f"min acc {p.extra['min_acc']:.3f} max acc {p.extra['max_acc']:.3f}")
        print("  ".join(bits), file=sys.stderr, flush=True)

    return fn


def cmd_train(args) -> int:
    import torch

    from ..supernet import distributed as dd
    from ..supernet.trainer import PSTrainer, TrainArgs

    out = Path(args.output)
    if out.exists() and not args.resume and not out.is_dir():
        raise ExplorerError(f"{out} exists; pass --resume to continue it or choose another --output")
    if args.deterministic:
        torch.use_deterministic_algorithms(True)
    ctx = dd.from_env(args.device)
    device = args.device
    if device.startswith("cuda") and ctx.enabled:
        device = f"cuda:{ctx.local_rank}"
        torch.cuda.set_device(ctx.local_rank)
    targs = TrainArgs(
        space=args.space,
        n_classes=args.n_classes,
        data=args.data,
        epochs=args.epochs,
        epoch_scale=args.epoch_scale,
        batch_size=args.batch_size,
        resolutions=list(args.resolutions),
        lr_scale=args.lr_scale,
        warmup_epochs=args.warmup_epochs,
        kd_ratio=args.kd_ratio,
        subset=args.subset,
        val_subset=args.val_subset,
        seed=args.seed,
        save_every=args.save_every,
        eval_at_phase_end=not args.no_eval,
        load_size=args.load_size,
        bn_chunks=ctx.world,
    )
    if args.phases:
        targs.phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    trainer = PSTrainer(
        targs,
        out,
        resume=args.resume,
        init=args.init,
        device=device,
        ctx=ctx,
        stop_after_steps=args.stop_after_steps,
    )
    writer = ProgressWriter(args.progress_jsonl) if args.progress_jsonl and ctx.is_main else None
    progress = tee(_console_progress(args.quiet or not ctx.is_main), writer)
    try:
        result = trainer.run(progress)
        status = 0
    except Cancelled as e:
        result = {"metrics": trainer.metrics, "checkpoint": str(out), "stopped": str(e)}
        status = 0
    finally:
        if writer is not None:
            writer.close()
    if ctx.is_main:
        if args.json:
            print_json(result)
        else:
            for m in result["metrics"]:
                acc = f"  min acc {m['min_acc']:.3f}  max acc {m['max_acc']:.3f}" if "min_acc" in m else ""
                print(f"{m['phase']}: {m['steps']} steps{acc}")
            print(f"checkpoint: {out}" + (f" ({result['stopped']})" if "stopped" in result else ""))
    return status


def cmd_extract(args) -> int:
    import torch

    from ..arch import count_complexity, save_arch
    from ..progress import never_stop
    from ..supernet import checkpoint as ckpt
    from ..supernet.bn_calib import recalibrate_bn
    from ..supernet.extract import extract_graph

    ck = ckpt.load(args.checkpoint)
    net = ckpt.build_supernet(ck)
    cfg = parse_config(args.config)
    net.eval()
    graph, model = extract_graph(net, cfg)
    n_cal = 0
    if args.recalibrate_bn:
        import numpy as np

        from ..supernet.datasets import load_dataset

        data = load_dataset(args.recalibrate_bn, "train")
        r = int(net.active_config()["r"])
        n = min(len(data), args.calib_images)
        idx = np.arange(n)
        batches = (data.batch(idx[i : i + args.calib_batch], r)[0] for i in range(0, n, args.calib_batch))
        n_cal = recalibrate_bn(model, batches, should_stop=never_stop)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    save_arch(graph, out / "arch.json")
    ckpt.save_atomic(model.state_dict(), out / "weights.pt")
    c = count_complexity(graph)
    info = {
        "arch": str(out / "arch.json"),
        "weights": str(out / "weights.pt"),
        "config": net.active_config(),
        "params": c.params,
        "macs": c.macs,
        "bn_recalibrated_images": n_cal,
    }
    if args.json:
        print_json(info)
    else:
        print(f"wrote {info['arch']} and {info['weights']} ({c.params:,} params, {c.macs / 1e6:.1f}M MACs)")
    del torch
    return 0


def cmd_info(args) -> int:
    from ..supernet import checkpoint as ckpt

    ck = ckpt.load(args.checkpoint)
    phases = ck.get("phases") or []
    info = {
        "space": ck["spec"]["space"],
        "n_classes": ck["spec"]["n_classes"],
        "resolutions": ck["spec"].get("resolutions"),
        "phase_index": ck.get("phase_index", 0),
        "phase": phases[ck.get("phase_index", 0)] if ck.get("phase_index", 0) < len(phases) else None,
        "phase_step": ck.get("phase_step", 0),
        "done": bool(ck.get("done", False)),
        "metrics": ck.get("metrics", []),
    }
    if args.json:
        print_json(info)
    else:
        print(json.dumps(info, indent=1))
    return 0
