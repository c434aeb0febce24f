"""Data parallelism for supernet training (torchrun; gloo on CPU, NCCL on GPUs).

Gradients are averaged with an explicit bucketed all-reduce after each step's backward passes
rather than by wrapping the net in DistributedDataParallel: in a progressive-shrinking step each
subnet leaves parts of the supernet unused, and DDP (find_unused_parameters) turns the missing
gradients of those parameters into zeros, which makes SGD momentum move weights that a single
process would leave alone. Every rank samples the same subnets (seeded by the step), so the set
of parameters with gradients is the same on all ranks and the average equals DDP's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistContext:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def from_env(device: str = "cpu") -> DistContext:
    """Join the process group torchrun describes (RANK/WORLD_SIZE); a plain process is rank 0 of 1."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
    return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def current() -> DistContext:
    if dist.is_available() and dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))
    return DistContext()


@torch.no_grad()
def broadcast_module(module: torch.nn.Module, ctx: DistContext) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if not ctx.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, 0)


@torch.no_grad()
def average_gradients(params: list[torch.nn.Parameter], ctx: DistContext, bucket_mb: float = 25.0) -> None:
    """All-reduce (mean) the gradients that exist, in flat buckets of about `bucket_mb`."""
    if not ctx.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    limit = int(bucket_mb * 2**20 / 4)
    bucket: list[torch.Tensor] = []
    size = 0
    for g in grads + [None]:
        if g is not None and (size + g.numel() <= limit or not bucket):
            bucket.append(g)
            size += g.numel()
            continue
        if bucket:
            flat = torch.cat([b.reshape(-1) for b in bucket])
            dist.all_reduce(flat)
            flat.div_(ctx.world)
            off = 0
            for b in bucket:
                b.copy_(flat[off : off + b.numel()].view_as(b))
                off += b.numel()
        bucket, size = ([g], g.numel()) if g is not None else ([], 0)


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def all_mean(value: float, ctx: DistContext, device: str | torch.device = "cpu") -> float:
    if not ctx.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return float(t.item()) / ctx.world
