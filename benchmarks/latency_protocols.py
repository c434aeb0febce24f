"""Protocol A and B accuracy of the shipped latency predictors, against HAT's MLP baseline.

    python benchmarks/latency_protocols.py [--hat DATASET:COLUMN ...] [--markdown]

Protocol A figures of the shipped devices are read from their provenance (recorded by
`python -m explorer.latency.train_shipped`); the HAT baseline (3x400 MLP, seed 0) is retrained
here for the chosen columns, and protocol B (k=20, 5 draws) is recomputed for HELP's targets.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from explorer.latency import evaluate as E
from explorer.latency.registry import load_device

DEFAULT_HAT = [
    "help-nb201:titan_rtx_256",
    "help-nb201:gold_6226",
    "help-nb201:pixel3",
    "latbench-nb201:mobile-gpu-snapdragon-855-adreno-640-int8",
    "latbench-nb201:embedded-gpu-jetson-nano-fp16",
    "help-ofa:2080ti_1",
    "help-ofa:titan_xp_64",
]
HELP_PAPER = {"titan_rtx_256": 0.987, "gold_6226": 0.989, "pixel2": 0.802, "eyeriss": 0.940, "fpga": 0.985}


def table_a(markdown: bool) -> list[dict]:
    rows = []
    for ds, (_, _, prefix, _) in E.DATASETS.items():
        for col in E.load_dataset(ds).latency:
            acc = load_device(prefix + col).provenance["accuracy"]["protocol_A"]["additive-mlp"]
            whole = col in E.WHOLE_MS.get(ds, ())
            rows.append({"device": prefix + col, "whole_ms": whole, **acc})
    print("\nProtocol A (900/100/rest, mean of 3 seeds), additive-mlp")
    print("| device | Spearman | RMSE ms | within 10% | within 5% |")
    print("|---|---|---|---|---|")
    for r in rows:
        mark = " (whole ms)" if r["whole_ms"] else ""
        print(
            f"| {r['device']}{mark} | {r['spearman']:.4f} | {r['rmse_ms']:.3f} | "
            f"{r['within_10pct']:.3f} | {r['within_5pct']:.3f} |"
        )
    frac = [r for r in rows if not r["whole_ms"]]
    for label, sel in (("all columns", rows), ("not whole-ms", frac)):
        print(
            f"mean over {label} ({len(sel)}): Spearman {np.mean([r['spearman'] for r in sel]):.4f}, "
            f"within 10% {np.mean([r['within_10pct'] for r in sel]):.3f}, "
            f"share of columns with >=90% within 10%: {np.mean([r['within_10pct'] >= 0.9 for r in sel]):.2f}"
        )
    return rows


def hat_compare(cols: list[str]) -> None:
    torch.set_num_threads(1)
    print("\nHAT MLP (3x400, seed 0) vs additive-mlp (seed 0), protocol A test split")
    print(
        "| device | HAT Spearman | ours Spearman | HAT within 10% | ours within 10% | RMSE ratio HAT/ours |"
    )
    print("|---|---|---|---|---|---|")
    for item in cols:
        ds, col = item.split(":", 1)
        hat, _ = E.protocol_a(ds, col, "hat", seeds=(0,))
        ours = load_device(E.DATASETS[ds][2] + col).provenance["accuracy"]["shipped_model_seed0"]["test"]
        print(
            f"| {E.DATASETS[ds][2] + col} | {hat['spearman']:.4f} | {ours['spearman']:.4f} | "
            f"{hat['within_10pct']:.3f} | {ours['within_10pct']:.3f} | "
            f"{hat['rmse_ms'] / ours['rmse_ms']:.2f} |"
        )


def table_b() -> None:
    print("\nProtocol B (HELP few-shot, k=20 from NB201 0-899, test 900-1899, middle 80%, 5 draws)")
    print("| target | Spearman | RMSE ms | within 10% | HELP paper | heads chosen |")
    print("|---|---|---|---|---|---|")
    rhos = []
    for t in E.HELP_TARGETS:
        r = E.protocol_b(t, k=20, seeds=range(5))
        rhos.append(r["spearman"])
        print(
            f"| {t} | {r['spearman']:.4f} | {r['rmse_ms']:.3f} | {r['within_10pct']:.3f} | "
            f"{HELP_PAPER[t]} | {','.join(r['heads'])} |"
        )
    print(f"mean Spearman: ours {np.mean(rhos):.4f}, HELP paper {np.mean(list(HELP_PAPER.values())):.4f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hat", nargs="*", default=DEFAULT_HAT)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    table_a(a.markdown)
    table_b()
    if a.hat:
        hat_compare(a.hat)


if __name__ == "__main__":
    main()
