"""Bulk sampling throughput: candidates scored per second with the live proxy settings.

Runs `explorer.bulk.BulkSampleJob` into a fresh project file for each space with
  - the live settings (Zen-Score b16, GradSign b32, r=64) and the default devices' latency,
  - the live settings without latency,
  - baseline in the same run: params/MACs only (no proxies, no latency),
and prints candidates/s and the cost of each against the baseline (after a one-candidate warm-up).

    python benchmarks/bulk_scoring.py [--n 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from explorer.bulk import BulkSampleJob
from explorer.live_metrics import LiveSettings, default_devices, device_names


def rate(space: str, n: int, settings: LiveSettings, devices: list[str], tmp: Path, tag: str) -> float:
    res = BulkSampleJob(
        str(tmp / f"{space}-{tag}.nasx"),
        space,
        n,
        seed=100,
        settings=settings.to_dict(),
        devices=tuple(devices),
    ).run()
    return res["candidates_per_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--spaces", nargs="+", default=["ofa-mbv3-w1.0", "nb201"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    names, note = device_names()
    live = LiveSettings.live()
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.n} candidates per run; live settings "
        f"zen b{live.zen_batch} x{live.zen_repeats}, gradsign b{live.gradsign_batch}, r={live.resolution}"
    )
    if note:
        print(f"note: {note}")
    print(f"{'space':15s} {'params/MACs':>12s} {'live proxies':>13s} {'+ latency':>10s}  devices")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for space in args.spaces:
            devices = default_devices(names, space)
            # warm-up (imports, the GradSign image batch, first-call allocations) outside the timing
            rate(space, 1, live, devices, tmp, "warmup")
            off = LiveSettings(zen=False, gradsign=False, latency=False)
            base = rate(space, args.n, off, [], tmp, "base")
            proxies = rate(space, args.n, LiveSettings(latency=False), [], tmp, "proxies")
            full = rate(space, args.n, live, devices, tmp, "full")
            print(f"{space:15s} {base:10.1f}/s {proxies:11.2f}/s {full:8.2f}/s  {', '.join(devices)}")
            print(
                f"{'':15s} live scoring costs {base / proxies:.0f}x (proxies) and {base / full:.0f}x "
                f"(proxies + latency) the params/MACs-only baseline"
            )


if __name__ == "__main__":
    main()
