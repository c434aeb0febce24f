"""ZiCo (Li et al., ICLR 2023): inverse coefficient of variation of the weight gradients.

Procedure (SLDGroup/ZiCo `ZeroShotProxy/compute_zico.py`; the zero-cost-nas port in
HamsterMimi/MeCo `foresight/pruners/measures/zico.py` splits one batch the same way):
1. The network keeps its init (an ArchGraph is built with `seed`, PyTorch default init) and is in
   train mode. Gradients start at zero.
2. The labelled batch is split into `batches` equal parts (official: 2; the search script feeds two
   loader batches instead, the foresight port halves one batch). For each part: forward,
   cross-entropy (mean), backward, then the `.weight.grad` of every Conv2d and Linear is recorded.
   Gradients are *not* zeroed between parts, so what is recorded is the running sum g1, g1+g2, ...
   (the official code does that: it never calls zero_grad inside the loop).
3. Per layer, over the recorded gradients G [parts, D]: std (population, ddof 0) and mean |G| per
   weight coordinate; coordinates with std 0 are dropped; the layer adds
   log(sum_k mean|G_k| / std_k), or nothing if that sum is 0.
4. score = sum over layers. (The paper's prose sums log of the per-coordinate ratios' mean; the code
   takes the log of their sum.)

Divergences: a layer whose weight got no gradient is skipped, as the foresight port does (the
original would raise). Statistics are taken in float64 from the float32 gradients (the official
NumPy code stays in float32): ~1e-6 relative. On CPU the official code would record views of the
live `.grad` (`.cpu()` is then a no-op), so every entry would end up equal and the score 0; its
numbers came from GPU runs, where each `.cpu()` is a copy, which is what we reproduce. Dropout is
off (the official nets have none).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.proxies._common import check_channels, check_images, check_labels, logits_of, train_no_dropout
from explorer.proxies._model import ProxyError, scoring_model
from explorer.proxies.registry import Proxy, register_proxy

OFFICIAL_BATCHES = 2


@dataclass(frozen=True)
class ZiCoResult:
    """ZiCo score (sum over layers of log sum mean|g|/std(g)) and how it was computed."""

    score: float
    batches: int
    batch_size: int
    resolution: int
    n_layers: int
    skipped_layers: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def layer_score(grads: torch.Tensor) -> float | None:
    """log(sum over coordinates with nonzero std of mean|g|/std(g)) for G [parts, D]; None if the sum is 0."""
    g = grads.to(torch.float64)
    std = g.std(dim=0, unbiased=False)
    keep = std != 0
    total = float((g.abs().mean(dim=0)[keep] / std[keep]).sum())
    return math.log(total) if total != 0 else None


def zico(
    model_or_graph,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batches: int = OFFICIAL_BATCHES,
    seed: int = 0,
) -> ZiCoResult:
    """ZiCo of an ArchGraph (built with `seed`, default init) or an nn.Module on one labelled batch.

    The batch is split into `batches` parts (at least 2: one part has no variance). The caller's
    model is not modified. Raises ProxyError for a model whose output is not [N, classes].
    """
    images = check_images(images, "ZiCo")
    labels = check_labels(labels, images.shape[0], "ZiCo")
    if batches < 2:
        raise ProxyError(f"ZiCo needs at least 2 batches (the std over one gradient is 0), got {batches}")
    n = images.shape[0]
    if n < batches:
        raise ProxyError(f"ZiCo cannot split {n} image(s) into {batches} batches")
    with scoring_model(model_or_graph, residual_free=False, seed=seed) as (model, shape):
        check_channels(images, shape)
        layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        if not layers:
            raise ProxyError("ZiCo needs a model with Conv2d or Linear layers")
        train_no_dropout(model)
        model.zero_grad(set_to_none=True)
        for p in model.parameters():
            p.requires_grad_(True)
        recorded: dict[int, list[torch.Tensor]] = {id(m): [] for m in layers}
        with torch.enable_grad():
            for s in range(batches):
                a, b = s * n // batches, (s + 1) * n // batches
                try:
                    logits = logits_of(model(images[a:b]))
                except ValueError as e:  # e.g. train-mode BN over a single value
                    raise ProxyError(f"ZiCo cannot run the model on a batch of {b - a}: {e}") from None
                if logits.dim() != 2 or logits.shape[0] != b - a:
                    raise ProxyError(
                        f"ZiCo needs a classifier output [N, classes]; got {tuple(logits.shape)}"
                    )
                if int(labels.max()) >= logits.shape[1] or int(labels.min()) < 0:
                    raise ProxyError(f"labels must lie in [0, {logits.shape[1]}) for this classifier")
                F.cross_entropy(logits, labels[a:b]).backward()
                for m in layers:
                    if m.weight.grad is not None:
                        recorded[id(m)].append(m.weight.grad.detach().reshape(-1).clone())
        score, counted, skipped = 0.0, 0, 0
        for m in layers:
            grads = recorded[id(m)]
            s = layer_score(torch.stack(grads)) if len(grads) == batches else None
            if s is None:
                skipped += 1
            else:
                score += s
                counted += 1
        model.zero_grad(set_to_none=True)
    return ZiCoResult(
        score=score,
        batches=batches,
        batch_size=n,
        resolution=images.shape[-1],
        n_layers=counted,
        skipped_layers=skipped,
    )


# -- registry entry ------------------------------------------------------------------------------
def _run(model, inputs):
    images, labels = inputs.labelled()
    r = zico(model, images, labels, seed=inputs.seed, **inputs.options)
    return r.score, {}, r.to_dict()


register_proxy(
    Proxy(
        "zico",
        "ZiCo",
        "ZiCo (ICLR 2023): sum over layers of log(mean |g| / std g) over batches",
        data="labelled",
        official_batch=128,
        live_batch=32,
        run=_run,
    )
)
