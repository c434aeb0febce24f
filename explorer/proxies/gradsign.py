"""GradSign (arXiv 2110.08616), as the official code computes it.

score = sum over the `.weight` coordinates k of every Conv2d and Linear of |sum_i sign(g_ik)|,
where g_i is the cross-entropy gradient of sample i forwarded *alone* in train mode (so BN uses
that sample's own statistics), sign(0) = 0, and coordinates with a NaN gradient are dropped.
The model keeps its PyTorch default init (an ArchGraph is built with `seed`); a module is lent
and restored afterwards. Dropout is switched off so the score is deterministic (the official nets have none).

- ``method="exact"``: the per-sample loop, counting signs in integer tensors; equals the official
  N x D implementation exactly.
- ``method="fast"``: one batched pass per chunk of samples with per-sample BN (instance norm with
  the BN's affine) and per-sample weight gradients formed layer by layer (see `persample`). Agrees
  with the loop within ~1e-3 relative: fp32 rounding flips the sign of near-zero gradient entries.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.proxies._model import ProxyError, scoring_model
from explorer.proxies.persample import SavedBytes, SignCapture, SignCounter, make_per_sample, weight_layers
from explorer.proxies.registry import Proxy, register_proxy

METHODS = ("fast", "exact")


@dataclass(frozen=True)
class GradSignResult:
    """GradSign score (an integer in [0, N*D]) and how it was computed."""

    score: int
    method: str
    batch_size: int
    resolution: int
    n_weights: int
    nan_dropped: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _check_inputs(images: torch.Tensor, labels: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise ProxyError(
            f"GradSign needs images as a [N, C, H, W] tensor, got {getattr(images, 'shape', images)}"
        )
    if not isinstance(labels, torch.Tensor) or labels.shape != (images.shape[0],):
        raise ProxyError(
            f"GradSign needs one integer label per image, got labels {getattr(labels, 'shape', labels)}"
        )
    if images.shape[0] < 1:
        raise ProxyError("GradSign needs at least one image")


def _check_logits(logits: torch.Tensor, labels: torch.Tensor) -> None:
    if logits.dim() != 2 or logits.shape[0] != labels.shape[0]:
        raise ProxyError(
            f"GradSign needs a classifier output [N, classes]; the model returned {tuple(logits.shape)}"
        )
    if int(labels.min()) < 0 or int(labels.max()) >= logits.shape[1]:
        raise ProxyError(f"labels must lie in [0, {logits.shape[1]}) for this classifier")


def _train_mode_no_dropout(model: nn.Module) -> None:
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()


def _exact(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> SignCounter:
    layers = weight_layers(model)
    counter = SignCounter(layers)
    _train_mode_no_dropout(model)
    for i in range(images.shape[0]):
        model.zero_grad(set_to_none=True)
        try:
            logits = model(images[i : i + 1])
        except ValueError as e:  # e.g. BatchNorm over a single value in train mode
            raise ProxyError(f"the model cannot run one sample in train mode: {e}") from None
        _check_logits(logits, labels[i : i + 1])
        F.cross_entropy(logits, labels[i : i + 1]).backward()
        for m in layers:
            grad = m.weight.grad
            if grad is not None:
                counter.add(m, torch.sign(grad), torch.isnan(grad))
    return counter


def _fast(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, memory_mb: float) -> SignCounter:
    """Batched per-sample pass, in sample chunks sized so saved activations stay within `memory_mb`.

    The first chunk (2 samples) doubles as a probe: it measures the bytes autograd saves plus the
    layer inputs the hooks hold, per sample.
    """
    layers = weight_layers(model)
    counter = SignCounter(layers)
    make_per_sample(model)
    for p in model.parameters():
        p.requires_grad_(False)  # only activation gradients are needed; weight grads come per sample
    capture = SignCapture(layers, counter)
    n, s, chunk = images.shape[0], 0, min(2, images.shape[0])
    try:
        while s < n:
            x = images[s : s + chunk].clone().requires_grad_(True)
            y = labels[s : s + chunk]
            saved = SavedBytes()
            with torch.autograd.graph.saved_tensors_hooks(saved.pack, saved.unpack):
                logits = model(x.clone())
            _check_logits(logits, y)
            losses = F.cross_entropy(logits, y, reduction="none")
            capture.track_nan = not bool(torch.isfinite(losses.detach()).all())
            per_sample = (saved.bytes + capture.held_bytes) / x.shape[0]
            losses.sum().backward()
            capture.finish_chunk()
            s += x.shape[0]
            chunk = int(max(1, min(n - s, memory_mb * 2**20 // max(1.0, per_sample))))
    finally:
        capture.remove()
    return counter


def gradsign(
    model_or_graph,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    method: str = "fast",
    seed: int = 0,
    memory_mb: float = 256.0,
) -> GradSignResult:
    """GradSign of an ArchGraph (built with `seed`, default init) or an nn.Module on one labelled batch.

    The caller's model is not modified. A model whose output is not [N, classes] raises ProxyError.
    `memory_mb` bounds the activations the fast path keeps per chunk of samples (speed vs memory).
    """
    if method not in METHODS:
        raise ProxyError(f"GradSign method must be one of {METHODS}, got {method!r}")
    _check_inputs(images, labels)
    images = images.detach().to(torch.float32)
    labels = labels.detach().to(torch.int64)
    with scoring_model(model_or_graph, residual_free=False, seed=seed) as (model, shape):
        if shape is not None and images.shape[1] != shape[0]:
            raise ProxyError(f"images have {images.shape[1]} channels, the architecture expects {shape[0]}")
        layers = weight_layers(model)
        if not layers:
            raise ProxyError("GradSign needs a model with Conv2d or Linear layers")
        n_weights = sum(m.weight.numel() for m in layers)
        with torch.enable_grad():
            if method == "exact":
                counter = _exact(model, images, labels)
            else:
                counter = _fast(model, images, labels, memory_mb)
    score, dropped = counter.score()
    return GradSignResult(
        score=score,
        method=method,
        batch_size=images.shape[0],
        resolution=images.shape[-1],
        n_weights=n_weights,
        nan_dropped=dropped,
    )


# -- registry entry ------------------------------------------------------------------------------
def _run(model, inputs):
    images, labels = inputs.labelled()
    r = gradsign(model, images, labels, seed=inputs.seed, **inputs.options)
    return float(r.score), {}, r.to_dict()


register_proxy(
    Proxy(
        "gradsign",
        "GradSign",
        "GradSign (ICLR 2022): agreement of per-sample gradient signs at initialisation",
        data="labelled",
        official_batch=128,
        live_batch=32,
        run=_run,
        chunked=True,
    )
)
