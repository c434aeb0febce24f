"""Data-parallel training (2 CPU processes, gloo) equals one process on the combined batch.

BatchNorm normalises with per-rank batch statistics, so a 2-rank run is compared with a single
process that splits each combined batch into the same two BN batches (`bn_chunks=2`, ghost
batch norm) and averages their losses: the gradients are then mathematically the same as the
all-reduced ones. Running statistics are per rank (rank 0's are saved), so parameters, not BN
buffers, are compared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from explorer.data import load_builtin_cifar
from explorer.supernet import checkpoint as ckpt
from explorer.supernet.distributed import DistContext
from explorer.supernet.trainer import PSTrainer, TrainArgs


def _args(data: str) -> TrainArgs:
    return TrainArgs(
        data=data,
        phases=["kernel", "expand1"],
        epochs=1,
        batch_size=8,
        resolutions=[32],
        subset=16,
        save_every=0,
        warmup_epochs=0,
        eval_at_phase_end=False,
        bn_chunks=2,
        seed=5,
    )


def _worker(rank: int, world: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=world)
    try:
        PSTrainer(_args(f"{tmp}/data.npz"), f"{tmp}/ddp.pt", ctx=DistContext(rank, world)).run()
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed not available")
def test_two_gloo_ranks_equal_single_process(tmp_path: Path):
    x, y = load_builtin_cifar("train")
    np.savez(tmp_path / "data.npz", x_train=x[:16], y_train=y[:16], x_test=x[:16], y_test=y[:16])
    mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = PSTrainer(_args(str(tmp_path / "data.npz")), tmp_path / "single.pt")
        start = {k: v.clone() for k, v in single.net.named_parameters()}
        single.run()
    finally:
        torch.set_num_threads(n)
    a = ckpt.load(tmp_path / "ddp.pt")["model"]
    b = ckpt.load(tmp_path / "single.pt")["model"]
    moved = 0
    for name in start:
        assert torch.allclose(a[name], b[name], atol=1e-5, rtol=1e-4), name
        moved += int(not torch.equal(b[name], start[name]))
    assert moved > 100  # training really changed the weights being compared
