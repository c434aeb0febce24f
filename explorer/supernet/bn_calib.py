"""BN recalibration: running statistics recomputed for one subnet from real images.

A subnet taken from a supernet inherits running statistics averaged over many different subnets,
which are wrong for it. As OFA does (`set_running_statistics`): forward ~2000 training images with
batch statistics, and set each BN's running mean/var to the size-weighted average of the batch
means / (biased) variances. Works on the supernet (active subnet, prefix of each BN) and on
static models alike.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from explorer.progress import Cancelled, Progress, ProgressFn, Rate, StopFn, never_stop, no_progress


@torch.no_grad()
def recalibrate_bn(
    model: nn.Module,
    batches: Iterable[torch.Tensor | tuple],
    *,
    progress: ProgressFn = no_progress,
    should_stop: StopFn = never_stop,
    total: int | None = None,
) -> int:
    """Reset every BatchNorm2d's running stats from `batches` (images, or (images, labels) tuples).

    Returns the number of images used. The model is left in eval mode. Raises Cancelled if
    `should_stop()` turns true (the BN statistics are then left unchanged).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    sums: dict[nn.BatchNorm2d, list] = {bn: [None, None, 0] for bn in bns}
    originals = {}

    def make_forward(bn: nn.BatchNorm2d):
        def fwd(x: torch.Tensor) -> torch.Tensor:
            c = x.shape[1]
            mean = x.mean(dim=(0, 2, 3))
            var = (x - mean.view(1, -1, 1, 1)).pow(2).mean(dim=(0, 2, 3))
            n = x.shape[0]
            acc = sums[bn]
            acc[0] = mean * n if acc[0] is None else acc[0] + mean * n
            acc[1] = var * n if acc[1] is None else acc[1] + var * n
            acc[2] += n
            return F.batch_norm(x, mean, var, bn.weight[:c], bn.bias[:c], False, 0.0, bn.eps)

        return fwd

    model.eval()
    for bn in bns:
        originals[bn] = bn.__dict__.get("forward")
        bn.forward = make_forward(bn)
    images = 0
    rate = Rate(total)
    try:
        for step, batch in enumerate(batches, start=1):
            if should_stop():
                raise Cancelled("BN recalibration cancelled")
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            dev = next(model.parameters()).device
            model(x.to(dev))
            images += x.shape[0]
            ips, eta = rate.update(step, x.shape[0])
            progress(Progress(phase="bn-recalibrate", step=step, total=total, images_per_s=ips, eta_s=eta))
    finally:
        for bn in bns:
            if originals[bn] is None:
                del bn.forward
            else:
                bn.forward = originals[bn]
    if images == 0:
        from explorer.errors import ExplorerError

        raise ExplorerError("BN recalibration got no images")
    for bn, (s_mean, s_var, n) in sums.items():
        if n == 0:
            continue  # layer not on the active path
        c = s_mean.shape[0]
        bn.running_mean[:c] = s_mean / n
        bn.running_var[:c] = s_var / n
    return images


def image_batches(images: torch.Tensor, batch_size: int) -> list[torch.Tensor]:
    """Split an image tensor into batches (the last one may be smaller)."""
    return [images[i : i + batch_size] for i in range(0, len(images), batch_size)]
