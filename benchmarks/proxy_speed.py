"""Proxy speed and memory: fast GradSign vs an official-style baseline, Zen-Score vs two forwards.

    python benchmarks/proxy_speed.py [--batch 128] [--threads 2] [--quick]

For each net (a MobileNetV2-sized ArchGraph, CIFAR strides, ~2.2M params; an OFA-MBv3 w1.0
subnet) and resolution (32, 64), each measurement runs in its own subprocess after a small
warm-up (oneDNN builds its kernels on first use), with the peak-RSS counter reset just before
the timed call, so "peak MB" is the extra resident memory the call needed.

- GradSign baseline: the official code's algorithm (per-sample loop, each weight gradient
  flattened to numpy, an N x D matrix stacked, np.sign, sum, nansum).
- GradSign fast: `explorer.proxies.gradsign(method="fast")` on the same graph and batch.
- Zen: `zen_score` on the ArchGraph (build included) and on a prebuilt module, vs two plain
  train-mode forward passes of the residual-free module on the same batch (same size).
- Live budget: OFA subnet at r64, Zen (batch 16, 1 repeat) + GradSign (batch 32), build included.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MBV2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 1),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mbv2_graph(resolution: int):
    """MobileNetV2 (CIFAR variant: stride-1 stem and first stages) as an ArchGraph."""
    from explorer.arch import ArchGraph

    g = ArchGraph("mobilenetv2-cifar")
    prev = g.add_node("input", {"channels": 3, "resolution": resolution}, id="input")

    def add(op, params):
        nonlocal prev
        nid = g.add_node(op, params)
        g.connect(prev, nid)
        prev = nid

    add("conv", {"out_channels": 32, "kernel": 3, "stride": 1, "act": "relu6"})
    for t, c, n, s in MBV2_BLOCKS:
        for i in range(n):
            add(
                "mbconv",
                {
                    "out_channels": c,
                    "kernel": 3,
                    "stride": s if i == 0 else 1,
                    "expand_ratio": float(t),
                    "act": "relu6",
                },
            )
    add("conv", {"out_channels": 1280, "kernel": 1, "act": "relu6"})
    add("global_avgpool", None)
    add("linear", {"out_features": 10})
    add("output", None)
    return g


def ofa_graph(resolution: int, seed: int = 0):
    """A seeded OFA-MBv3 w1.0 subnet (10 classes) with its input set to `resolution`."""
    from explorer.arch import check
    from explorer.spaces import get_space

    g = get_space("ofa-mbv3-w1.0").encode(get_space("ofa-mbv3-w1.0").sample(seed))
    g.set_params(g.input_node, resolution=resolution)
    for nid in g.nodes_of("linear"):
        g.set_params(nid, out_features=10)
    check(g)
    return g


NETS = {"mbv2": mbv2_graph, "ofa": ofa_graph}


def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) // 1024
    return 0


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def official_style_gradsign(model, images, labels) -> int:
    """The official grad_conflict algorithm: per-sample grads stacked into an N x D numpy matrix."""
    import numpy as np
    import torch.nn as nn
    import torch.nn.functional as F

    model.train()
    for m in model.modules():  # as our GradSign: dropout off (the official NB201 nets have none)
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    rows = []
    for i in range(images.shape[0]):
        model.zero_grad()
        F.cross_entropy(model(images[[i]]), labels[[i]]).backward()
        rows.append(
            np.concatenate(
                [
                    (m.weight.grad if m.weight.grad is not None else m.weight.new_zeros(m.weight.shape))
                    .numpy()
                    .ravel()
                    for m in layers
                ]
            )
        )
    batch_grad = np.stack(rows)
    return int(np.nansum(np.abs(np.sign(batch_grad).sum(axis=0))))


def one(kind: str, net: str, res: int, batch: int, threads: int) -> dict:
    """Run one measurement in this process (called in a subprocess)."""
    import torch

    from explorer.arch import build_model
    from explorer.data import gradsign_batch
    from explorer.proxies import gradsign, zen_score

    torch.set_num_threads(threads)
    graph = NETS[net](res)
    images, labels = gradsign_batch(batch, res)
    out: dict = {"kind": kind, "net": net, "res": res, "batch": batch}
    if kind in ("gs_official", "gs_fast", "gs_exact"):
        model = build_model(graph, seed=0)
        if kind == "gs_official":
            fn = lambda x, y: official_style_gradsign(model, x, y)  # noqa: E731
        else:
            method = kind[3:]
            fn = lambda x, y: gradsign(model, x, y, method=method).score  # noqa: E731
        fn(images[:2], labels[:2])  # warm-up
        _reset_peak()
        rss0 = _status("VmRSS")
        t, c = time.perf_counter(), time.process_time()
        out["score"] = fn(images, labels)
        out["time_s"] = time.perf_counter() - t
        out["cpu_s"] = time.process_time() - c
        out["peak_mb"] = _status("VmHWM") - rss0
        out["params"] = sum(p.numel() for p in model.parameters())
    elif kind == "step":  # a floor of any exact per-sample method: forward + activation grads
        import torch.nn.functional as F

        model = build_model(graph, seed=0).train()
        for m in model.modules():
            if isinstance(m, torch.nn.modules.dropout._DropoutNd):
                m.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        runs = []
        for _ in range(3):  # in chunks of 16 samples, as a batched method keeps memory bounded
            t = time.perf_counter()
            for s in range(0, images.shape[0], 16):
                x = images[s : s + 16].clone().requires_grad_(True)
                F.cross_entropy(model(x), labels[s : s + 16]).backward()
            runs.append(time.perf_counter() - t)
        out["time_s"] = statistics.median(runs[1:])
    elif kind == "zen":
        model = build_model(graph, residual_free=True, seed=0).train()
        x = torch.randn(batch, 3, res, res)
        zen_score(graph, batch_size=2)
        zen_score(model, batch_size=2, resolution=res)

        def two_forwards():
            with torch.no_grad():
                model.forward_features(x)
                model.forward_features(x + 0.01)

        jobs = {
            "two_forwards": two_forwards,
            "zen_graph": lambda: zen_score(graph, batch_size=batch),
            "zen_module": lambda: zen_score(model, batch_size=batch, resolution=res),
        }
        times = {k: [] for k in jobs}
        cpu = {k: [] for k in jobs}
        for _ in range(3):
            for k, job in jobs.items():
                t, c = time.perf_counter(), time.process_time()
                job()
                times[k].append(time.perf_counter() - t)
                cpu[k].append(time.process_time() - c)
        out.update({k: statistics.median(v) for k, v in times.items()})
        out.update({k + "_cpu": statistics.median(v) for k, v in cpu.items()})
    elif kind == "live":
        gi, gl = gradsign_batch(32, res)
        zen_score(graph, batch_size=16)
        gradsign(graph, gi, gl)
        runs, cpus = [], []
        for _ in range(3):
            t, c = time.perf_counter(), time.process_time()
            zen_score(graph, batch_size=16)
            gradsign(graph, gi, gl)
            runs.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        out["time_s"] = statistics.median(runs)
        out["cpu_s"] = statistics.median(cpus)
    return out


def run_sub(kind, net, res, batch, threads) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--one",
        kind,
        net,
        str(res),
        "--batch",
        str(batch),
        "--threads",
        str(threads),
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        return {"kind": kind, "net": net, "res": res, "error": p.stderr.strip().splitlines()[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="mbv2 at r32 only")
    ap.add_argument("--one", nargs=3, metavar=("KIND", "NET", "RES"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        kind, net, res = args.one
        print(json.dumps(one(kind, net, int(res), args.batch, args.threads)))
        return
    configs = [("mbv2", 32)] if args.quick else [("mbv2", 32), ("mbv2", 64), ("ofa", 64)]
    print(f"batch {args.batch}, {args.threads} threads; GradSign fast vs official-style N x D loop")
    print(
        f"{'net':5} {'res':>3} {'official s':>10} {'fast s':>7} {'speedup':>7} {'off. MB':>8} {'fast MB':>8} "
        f"{'mem ratio':>9} {'rel diff':>9}"
    )
    floors = []
    for net, res in configs:
        base = run_sub("gs_official", net, res, args.batch, args.threads)
        fast = run_sub("gs_fast", net, res, args.batch, args.threads)
        if "error" in base or "error" in fast:
            print(net, res, base.get("error"), fast.get("error"))
            continue
        rel = abs(fast["score"] - base["score"]) / base["score"]
        step = run_sub("step", net, res, args.batch, args.threads)
        floors.append((net, res, base["time_s"], step.get("time_s", float("nan")), fast["time_s"]))
        print(
            f"{net:5} {res:>3} {base['time_s']:>10.2f} {fast['time_s']:>7.2f} "
            f"{base['time_s'] / fast['time_s']:>6.1f}x {base['peak_mb']:>8} {fast['peak_mb']:>8} "
            f"{base['peak_mb'] / max(1, fast['peak_mb']):>8.1f}x {rel:>9.1e}"
            f"   (CPU s {base['cpu_s']:.1f} vs {fast['cpu_s']:.1f} = {base['cpu_s'] / fast['cpu_s']:.1f}x; "
            f"{base['params'] / 1e6:.2f}M params, official {base['score']}, fast {fast['score']})"
        )
    print(
        "\nFloor: a batched forward + backward to the activation gradients of the same batch (train\n"
        "mode, chunks of 16, no weight gradients). Exact per-sample signs need at least that (plus\n"
        "each sample's weight gradients), so official / step bounds what a batched exact method reaches"
    )
    for net, res, off, step, fast in floors:
        print(
            f"{net:5} r{res:<3} step {step:.2f} s; fast = {fast / step:.2f}x step; "
            f"attainable speed-up <= {off / step:.1f}x (ours {off / fast:.1f}x)"
        )
    print(f"\nZen-Score (batch {args.batch}, 1 repeat) vs two plain forward passes, medians of 3")
    for net, res in configs:
        z = run_sub("zen", net, res, args.batch, args.threads)
        if "error" in z:
            print(net, res, z["error"])
            continue
        f2 = z["two_forwards"]
        print(
            f"{net:5} r{res:<3} two forwards {f2:.3f} s | zen(graph, build incl.) {z['zen_graph']:.3f} s = "
            f"{z['zen_graph'] / f2:.2f}x | zen(module) {z['zen_module']:.3f} s = {z['zen_module'] / f2:.2f}x"
            f" | CPU-time ratios graph {z['zen_graph_cpu'] / z['two_forwards_cpu']:.2f}x, "
            f"module {z['zen_module_cpu'] / z['two_forwards_cpu']:.2f}x"
        )
    live = run_sub("live", "ofa", 64, 32, 2)
    print(
        f"\nLive budget (OFA-MBv3 w1.0 subnet r64, 2 threads): Zen b16 + GradSign b32 = "
        f"{live.get('time_s', float('nan')):.3f} s wall, {live.get('cpu_s', float('nan')):.3f} s CPU "
        f"(goal < 1.5 s) {live.get('error', '')}"
    )


if __name__ == "__main__":
    main()
