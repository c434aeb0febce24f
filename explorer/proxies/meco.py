"""MeCo (Jiang et al., NeurIPS 2023): minimum eigenvalue of the Pearson correlation of feature maps.

Procedure (HamsterMimi/MeCo `correlation/NAS_Bench_201.py`, the script behind its NB201 numbers,
with `--batch_size 1`: one real training image):
1. The network keeps its init (an ArchGraph is built with `seed`, PyTorch default init) and is in
   train mode (a fresh net; never switched to eval).
2. A forward hook on *every* module (`named_modules()`: the root and containers included). Each
   call takes `out[0]`, the first sample's output [C, H, W], as a C x (H*W) matrix, forms the
   C x C Pearson correlation (`torch.corrcoef`) over spatial positions, sets NaN/inf entries to 0
   (channels with zero variance) and keeps the smallest eigenvalue (real part).
3. One forward of the batch. score = sum of the per-call values, NaN/inf values dropped.
   Vector outputs ([C] after pooling, logits) give a C x 1 matrix whose correlation is all NaN, so
   they add 0; a module that returns its input (a container, an identity) repeats its input's term.
`variant="opt"` is the official `meco_opt`: per call, 8 channels sampled at random (Python's
`random.sample`, here seeded with `seed`) and the smallest eigenvalue of their 8 x 8 correlation
scaled by C / 8.

Because every module counts, the score depends on how the network is split into modules, not
only on its function: on NB201 our build differs from zero-cost-nas' `nasbench2` model (the one
MeCo ran) in that our ReLUConvBN has no inner Sequential (its BN output counts twice, not three
times), cell sums with two inputs are modules here (node 2's sum counts once more), and there is
no Sequential per stage (the last cell of each stage counts once less).
Divergences: `eigvalsh` (the matrix is symmetric) instead of `eig`: agreement ~1e-6. With fewer
than 8 channels `opt` uses them all (the official `random.sample` would raise: on our graphs the
input node is a module, and its 3-channel image would stop the official code). Outputs that are
not tensors, or 0-d, are skipped (the official hook would fail). Dropout is off.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from explorer.proxies._common import check_channels, check_images, train_no_dropout
from explorer.proxies._model import ProxyError, scoring_model
from explorer.proxies.registry import Proxy, register_proxy

VARIANTS = ("full", "opt")
OPT_CHANNELS = 8


@dataclass(frozen=True)
class MeCoResult:
    """MeCo score (sum over module calls of the smallest correlation eigenvalue) and its settings."""

    score: float
    variant: str
    batch_size: int
    resolution: int
    n_calls: int
    dropped: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def min_corr_eigenvalue(feature: torch.Tensor, rows: list[int] | None = None) -> float:
    """Smallest eigenvalue of the row correlation of `feature` reshaped [len, -1] (NaN/inf -> 0)."""
    fea = feature.detach().reshape(feature.shape[0], -1)
    if rows is not None:
        fea = fea[rows]
    if fea.shape[1] < 2:  # one observation per row: every correlation is NaN, zeroed
        return 0.0
    corr = torch.corrcoef(fea)
    corr = torch.where(torch.isfinite(corr), corr, torch.zeros((), dtype=corr.dtype))
    if corr.dim() == 0:  # a single row
        corr = corr.reshape(1, 1)
    return float(torch.linalg.eigvalsh(corr).min())


class _Hooks:
    def __init__(self, model: nn.Module, variant: str, seed: int):
        self.values: list[float] = []
        self.rng = random.Random(seed)
        self.variant = variant
        self.handles = [m.register_forward_hook(self._hook) for _, m in model.named_modules()]

    def _hook(self, _module, _inputs, output):
        if isinstance(output, torch.Tensor):
            fea = output[0] if output.dim() > 0 and len(output) else None
        else:
            fea = output[0] if isinstance(output, (tuple, list)) and output else None
        if not isinstance(fea, torch.Tensor) or fea.dim() == 0:
            return
        n = fea.shape[0]
        if self.variant == "opt" and n >= OPT_CHANNELS:
            rows = self.rng.sample(range(n), OPT_CHANNELS)
            self.values.append(min_corr_eigenvalue(fea, rows) * n / OPT_CHANNELS)
        else:
            self.values.append(min_corr_eigenvalue(fea))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def meco(model_or_graph, images: torch.Tensor, *, variant: str = "full", seed: int = 0) -> MeCoResult:
    """MeCo of an ArchGraph (built with `seed`, default init) or an nn.Module on a batch of images.

    The official NB201 run used one image (`images[:1]`); only the first sample's features are read,
    the others matter through train-mode BN statistics. The caller's model is not modified.
    """
    if variant not in VARIANTS:
        raise ProxyError(f"MeCo variant must be one of {VARIANTS}, got {variant!r}")
    images = check_images(images, "MeCo")
    with scoring_model(model_or_graph, residual_free=False, seed=seed) as (model, shape):
        check_channels(images, shape)
        train_no_dropout(model)
        hooks = _Hooks(model, variant, seed)
        try:
            with torch.no_grad():
                model(images)
        except ValueError as e:  # e.g. train-mode BN over a single value
            raise ProxyError(f"MeCo cannot run the model on this batch: {e}") from None
        finally:
            hooks.remove()
    kept = [v for v in hooks.values if math.isfinite(v)]
    return MeCoResult(
        score=float(sum(kept)),
        variant=variant,
        batch_size=images.shape[0],
        resolution=images.shape[-1],
        n_calls=len(kept),
        dropped=len(hooks.values) - len(kept),
    )


# -- registry entry ------------------------------------------------------------------------------
def _run(model, inputs):
    r = meco(model, inputs.images(), seed=inputs.seed, **inputs.options)
    return r.score, {}, r.to_dict()


register_proxy(
    Proxy(
        "meco",
        "MeCo",
        "MeCo (NeurIPS 2023): minimum eigenvalue of each layer's feature-map correlation",
        data="images",
        official_batch=1,
        live_batch=1,
        run=_run,
        needs_grad=False,
    )
)
