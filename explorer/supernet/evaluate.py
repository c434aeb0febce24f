"""Accuracy of one subnet of a supernet: extract, BN-recalibrate on training images, test on held-out ones.

Works on a static copy, so evaluating never changes the supernet (its running statistics stay
what training left, which keeps resumed runs identical to uninterrupted ones).
"""

from __future__ import annotations

import numpy as np
import torch

from explorer.supernet.bn_calib import recalibrate_bn
from explorer.supernet.datasets import ImageSet
from explorer.supernet.extract import extract_static
from explorer.supernet.ofa_mbv3 import OFAMobileNetV3


@torch.no_grad()
def subnet_accuracy(
    supernet: OFAMobileNetV3,
    config: dict,
    train_set: ImageSet,
    val_set: ImageSet,
    calib_images: int = 2000,
    calib_batch: int = 200,
    eval_batch: int = 200,
) -> float:
    saved = supernet.active_config()
    net = extract_static(supernet, config)
    supernet.set_active(saved)
    dev = next(supernet.parameters()).device
    r = int(config["r"])
    n_cal = min(len(train_set), calib_images)
    idx = np.arange(n_cal)
    recalibrate_bn(
        net, (train_set.batch(idx[i : i + calib_batch], r)[0] for i in range(0, n_cal, calib_batch))
    )
    net.eval()
    correct = 0
    for i in range(0, len(val_set), eval_batch):
        x, y = val_set.batch(np.arange(i, min(len(val_set), i + eval_batch)), r)
        correct += int((net(x.to(dev)).argmax(1).cpu() == y).sum())
    return correct / len(val_set)


@torch.no_grad()
def subnet_loss(
    supernet: OFAMobileNetV3,
    config: dict,
    images: ImageSet,
    calib_batch: int = 200,
) -> float:
    """Mean cross-entropy of one subnet on every image of `images` (BN recalibrated on the same images).

    A smooth, deterministic training signal: unlike top-1 accuracy on a handful of images, it moves
    with every step of learning, so a test can ask that it falls by a clear margin.
    """
    saved = supernet.active_config()
    net = extract_static(supernet, config)
    supernet.set_active(saved)
    dev = next(supernet.parameters()).device
    r = int(config["r"])
    idx = np.arange(len(images))
    batches = [images.batch(idx[i : i + calib_batch], r) for i in range(0, len(idx), calib_batch)]
    recalibrate_bn(net, (x for x, _ in batches))
    net.eval()
    total = 0.0
    for x, y in batches:
        total += float(torch.nn.functional.cross_entropy(net(x.to(dev)), y.to(dev), reduction="sum"))
    return total / len(images)


class SupernetAccuracy:
    """A batch accuracy callable for search: BN-recalibrated validation accuracy of each config."""

    def __init__(self, supernet: OFAMobileNetV3, train_set: ImageSet, val_set: ImageSet, **kw):
        self.supernet, self.train_set, self.val_set, self.kw = supernet, train_set, val_set, kw
        self.cache: dict[str, float] = {}

    def __call__(self, configs: list[dict]) -> list[float]:
        import json

        out = []
        for c in configs:
            key = json.dumps(c, sort_keys=True)
            if key not in self.cache:
                self.cache[key] = subnet_accuracy(self.supernet, c, self.train_set, self.val_set, **self.kw)
            out.append(self.cache[key])
        return out
