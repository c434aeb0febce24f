"""ProxylessNAS on the CIFAR sample, local CPU device (torch, 1 thread): two latency targets ->
derived architectures' predicted (layer-table sum) vs measured (whole net) latency, and test
accuracy after a short fine-tune from the supernet's weights. The baseline in the same run is the
high-target search (target above the slowest path: no latency pressure), so the ratios read
"what the low target bought".

    python benchmarks/proxyless_search.py [--epochs 6] [--finetune-epochs 3] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F


def finetune(graph, state, x, y, xt, yt, epochs: int, seed: int = 0) -> float:
    from explorer.arch import build_model
    from explorer.proxyless.search import accuracy

    model = build_model(graph, seed=seed)
    model.load_state_dict(state)
    opt = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9, nesterov=True, weight_decay=4e-5)
    g = torch.Generator().manual_seed(seed)
    steps = epochs * (len(x) // 64)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, steps))
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - 63, 64):
            idx = perm[i : i + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return accuracy(model, xt, yt)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--finetune-epochs", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)  # 2-thread OpenMP spins under the machine's foreign load
    from explorer.data import shared_cifar_path
    from explorer.latency.local import local_device
    from explorer.proxyless.latency_loss import LatencyModel, needed_layers
    from explorer.proxyless.search import ProxylessSearch, SearchConfig, eval_images, load_images
    from explorer.proxyless.supernet import ProxylessSupernet, Skeleton
    from explorer.proxyless.tables import LutDeviceSource

    out = Path(args.out or tempfile.mkdtemp(prefix="bench_proxyless_"))
    data = "cifar-sample" if shared_cifar_path("train") else "builtin"
    sk = Skeleton()  # 32x32, 3 stages x 2 searchable layers
    t0 = time.perf_counter()
    dev = local_device("torch", 1, directory=out / "luts")
    src = LutDeviceSource(dev)
    net = ProxylessSupernet(sk)
    table = src.lookup(needed_layers(net))
    lat = LatencyModel(net, table)
    lo, hi = lat.bounds()
    t_lut = time.perf_counter() - t0
    print(f"LUT: {len(table)} keys measured in {t_lut:.0f} s; path latency range {lo:.3f}..{hi:.3f} ms")
    targets = {"low": round(lo + 0.25 * (hi - lo), 4), "high": round(hi * 1.1, 4)}
    x, y, _ = load_images(SearchConfig(data=data), 32)
    xt, yt = eval_images(data, 32)
    rows = {}
    for name, target in targets.items():
        t1 = time.perf_counter()
        cfg = SearchConfig(
            device=dev.name,
            target_ms=target,
            epochs=args.epochs,
            warmup_epochs=1.0,
            data=data,
            batch_size=64,
            arch_lr=0.05,
            skeleton=sk.to_dict(),
            seed=0,
        )
        job = ProxylessSearch(cfg, out / name, source=src)
        r = job.run()
        t_search = time.perf_counter() - t1
        from explorer.arch import load_arch
        from explorer.tensorfile import load_tensors

        graph = load_arch(r["arch"])
        state = load_tensors(r["weights"], "weights file")
        acc_ft = finetune(graph, state, x, y, xt, yt, args.finetune_epochs)
        m = r["measured"] or {}
        rows[name] = {
            "target_ms": target,
            "choices": r["choices"],
            "predicted_ms": r["predicted_ms"],
            "expected_ms": r["expected_ms"],
            "measured_ms": m.get("measured_ms"),
            "foreign_load": m.get("foreign_load"),
            "acc_supernet_path": r["val_acc_supernet_path"],
            "test_acc_finetuned": round(acc_ft, 4),
            "search_s": round(t_search, 1),
            "steps": r["steps"],
        }
        print(name, json.dumps(rows[name]))
    lo_r, hi_r = rows["low"], rows["high"]
    summary = {
        "predicted_ratio_low_high": round(lo_r["predicted_ms"] / hi_r["predicted_ms"], 3),
        "measured_ratio_low_high": round(lo_r["measured_ms"] / hi_r["measured_ms"], 3)
        if lo_r["measured_ms"] and hi_r["measured_ms"]
        else None,
        "pred_over_measured": {
            k: round(v["predicted_ms"] / v["measured_ms"], 3) for k, v in rows.items() if v["measured_ms"]
        },
        "lut_keys": len(table),
        "lut_s": round(t_lut, 1),
        "lut_range_ms": [round(lo, 4), round(hi, 4)],
        "data": data,
        "train_images": len(x),
        "test_images": len(xt),
        "total_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary, indent=1))
    (out / "bench.json").write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))
    print(f"wrote {out / 'bench.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
