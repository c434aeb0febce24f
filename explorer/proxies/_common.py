"""Small pieces the zero-shot proxies share: input checks, mode switching, random input shapes."""

from __future__ import annotations

import torch
import torch.nn as nn

from explorer.proxies._model import ProxyError, input_channels


def train_no_dropout(model: nn.Module) -> None:
    """Train mode (BN on batch statistics) with dropout off, so a score is deterministic.

    The official NB201 networks hold no dropout, so this changes nothing there.
    """
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()


def check_images(images, proxy: str, min_batch: int = 1) -> torch.Tensor:
    """`images` as a float32 [N, C, H, W] tensor with N >= min_batch, else ProxyError."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ProxyError(
            f"{proxy} needs images as a [N, C, H, W] tensor, got {getattr(images, 'shape', images)}"
        )
    if images.shape[0] < min_batch:
        raise ProxyError(f"{proxy} needs at least {min_batch} image(s), got {images.shape[0]}")
    return images.detach().to(torch.float32)


def check_labels(labels, n: int, proxy: str) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.shape != (n,):
        raise ProxyError(
            f"{proxy} needs one integer label per image, got labels {getattr(labels, 'shape', labels)}"
        )
    return labels.detach().to(torch.int64)


def check_channels(images: torch.Tensor, shape) -> None:
    if shape is not None and images.shape[1] != shape[0]:
        raise ProxyError(f"images have {images.shape[1]} channels, the architecture expects {shape[0]}")


def random_input_shape(model: nn.Module, shape, resolution: int | None) -> tuple[int, int]:
    """(channels, resolution) of a synthetic input: the graph's, else the first conv's channels and 32."""
    channels = shape[0] if shape else input_channels(model)
    if resolution is None:
        resolution = shape[1] if shape else 32
    if resolution < 1:
        raise ProxyError(f"resolution must be positive, got {resolution}")
    return channels, resolution


def logits_of(output) -> torch.Tensor:
    """The logits of a forward: the tensor itself, or the last tensor of a (features, logits) pair."""
    if isinstance(output, (tuple, list)) and output and isinstance(output[-1], torch.Tensor):
        output = output[-1]
    if not isinstance(output, torch.Tensor):
        raise ProxyError(f"the model returned {type(output).__name__}, not a tensor")
    return output
