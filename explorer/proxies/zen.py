"""Zen-Score (Zen-NAS, arXiv 2102.01063), computed as the official code computes it.

Procedure (../shared/notes/zero_shot_proxies.md): on a private copy in train mode, for each
repeat re-initialise in `modules()` order (Conv2d/Linear weight ~ N(0, 1), bias 0; BN/GroupNorm
weight 1, bias 0; running stats kept), draw x, eps ~ N(0, 1), run x and x + gamma*eps separately
to the pre-pooling feature map, take Delta = batch mean of the L1 norm of the difference, and add
sum over BatchNorm2d of ln sqrt(mean channel variance). An ArchGraph is scored through its
residual-free build. All draws come from one `torch.Generator` seeded with `seed`, in the same
order as the official code uses the global RNG, so `torch.manual_seed(seed)` + official code gives
the same stream.

BN term, two variants:
- ``"running"`` (default, official code): ln sqrt(mean `running_var`) read after both passes. The
  running EMA starts at 1, so one repeat on a fresh net lands ~0.6-0.8 nats per BN below the
  paper's formula and drifts with the repeat count; published numbers came from this.
- ``"batch"`` (paper, eq. for sigma_i): ln sqrt(mean over channels of the *biased* batch variance of
  the BN's input on the clean pass x), i.e. exactly the variance that BN divided by when it
  normalised f(x). The clean pass is the one the paper rescales; the mixed pass differs by
  O(gamma). It does not depend on running stats, so it is repeat-invariant in expectation.
BatchNorm2d layers without running stats use the batch variance in both variants.

A batch variance of exactly 0 (the BN's input is all zeros: on NB201 a conv fed by a node whose
every input edge is `none`, e.g. `|none~0|none~1|` into node 2, then `nor_conv~2`; 29 of 200
random cells have one) would make ln sqrt(0) = -inf and the whole score -inf although the
network's features are fine. The paper's sigma_i undoes the rescaling BN i applies to the signal
on its way to f(x); a BN whose input is constant passes nothing on (it outputs zeros), so there
is no rescaling to undo: such a BN adds ln 1 = 0, exactly as a BN off the feature path does, and
`zero_var_bns` counts them. A score is -inf only when Delta = 0 (the features ignore the input).
The official running-variance term never sees 0 (the EMA starts at 1) and is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn

from explorer.proxies._model import ProxyError, input_channels, scoring_model
from explorer.proxies.registry import Proxy, register_proxy

BN_VARIANCES = ("running", "batch")


@dataclass(frozen=True)
class ZenResult:
    """Mean Zen-Score over repeats (natural log units) with the settings that produced it."""

    score: float
    std: float
    per_repeat: tuple[float, ...]
    repeats: int
    batch_size: int
    resolution: int
    bn_variance: str
    mixup_gamma: float
    seed: int
    overflow: bool = False
    message: str = ""
    zero_var_bns: int = 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["per_repeat"] = list(self.per_repeat)
        return d


def _reinit(model: nn.Module, g: torch.Generator) -> None:
    """Official Gaussian re-initialisation, in modules() order (running stats untouched)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            m.weight.normal_(0.0, 1.0, generator=g)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            if m.weight is not None:
                m.weight.fill_(1.0)
            if m.bias is not None:
                m.bias.zero_()


class _BatchVar:
    """Forward pre-hooks recording each BN's mean biased input variance while `armed`."""

    def __init__(self, bns: list[nn.BatchNorm2d]):
        self.armed = False
        self.values: dict[int, float] = {}
        self.handles = [bn.register_forward_pre_hook(self._hook(i)) for i, bn in enumerate(bns)]

    def _hook(self, i: int):
        def hook(_module, inputs):
            if self.armed:
                x = inputs[0]
                self.values[i] = float(x.var(dim=(0, 2, 3), unbiased=False).double().mean())

        return hook

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _repeats(model, shape, batch_size, resolution, repeats, seed, bn_variance, mixup_gamma):
    """Per-repeat scores on a model we may mutate: (scores, overflow, message, zero-variance BNs)."""
    if not callable(getattr(model, "forward_features", None)):
        raise ProxyError("Zen-Score needs a model with forward_features(x) (the pre-pooling feature map)")
    channels = shape[0] if shape else input_channels(model)
    if resolution < 1:
        raise ProxyError(f"resolution must be positive, got {resolution}")
    model.train()
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    want_batch = [bn_variance == "batch" or bn.running_var is None for bn in bns]
    recorder = _BatchVar([bn for bn, w in zip(bns, want_batch) if w]) if any(want_batch) else None
    g = torch.Generator().manual_seed(seed)
    scores: list[float] = []
    overflow, message, zero_var = False, "", 0
    try:
        with torch.no_grad():
            for _ in range(repeats):
                _reinit(model, g)
                x = torch.randn(batch_size, channels, resolution, resolution, generator=g)
                eps = torch.randn(batch_size, channels, resolution, resolution, generator=g)
                x_mix = x + mixup_gamma * eps
                if recorder is not None:
                    recorder.armed = True
                f_clean = model.forward_features(x)
                if recorder is not None:
                    recorder.armed = False
                f_mix = model.forward_features(x_mix)
                if not (torch.isfinite(f_clean).all() and torch.isfinite(f_mix).all()):
                    raise ProxyError(
                        "Zen-Score: the feature map holds NaN/inf at N(0,1) init (the network overflows fp32)"
                    )
                dims = tuple(range(1, f_clean.dim()))
                delta = float(torch.sum((f_clean - f_mix).abs(), dim=dims, dtype=torch.float64).mean())
                bn_term, k, dead = 0.0, 0, 0
                for bn, w in zip(bns, want_batch):
                    if w:  # a BN off the feature path adds ln sqrt(1), as the official code's would
                        v = recorder.values.get(k, 1.0)
                        k += 1
                        if v == 0:  # all-zero input: it rescales nothing that reaches f(x), adds ln 1
                            dead += 1
                            continue
                    else:
                        v = float(bn.running_var.double().mean())
                    bn_term += 0.5 * math.log(v) if v > 0 else -math.inf
                zero_var = max(zero_var, dead)
                if math.isinf(delta) or bn_term == math.inf:
                    overflow = True
                    message = "Zen-Score overflows: a BN variance or Delta exceeds the fp32 range"
                    s = math.inf
                elif delta == 0:
                    message = "Zen-Score is -inf: the features do not depend on the input (Delta = 0)"
                    s = -math.inf
                elif bn_term == -math.inf:
                    message = "Zen-Score is -inf: a BN running variance is 0"
                    s = -math.inf
                else:
                    s = math.log(delta) + bn_term
                scores.append(s)
    finally:
        if recorder is not None:
            recorder.remove()
    return scores, overflow, message, zero_var


def zen_score(
    model_or_graph,
    *,
    batch_size: int = 64,
    resolution: int | None = None,
    repeats: int = 1,
    seed: int = 0,
    bn_variance: str = "running",
    mixup_gamma: float = 1e-2,
) -> ZenResult:
    """Zen-Score of an ArchGraph (residual-free build) or an nn.Module with `forward_features(x)`.

    `resolution` defaults to the graph's input resolution (32 for a plain module). The caller's
    model is never modified. NaN/inf features raise ProxyError; a score that overflows (infinite
    BN variance or Delta) comes back with `overflow=True`, `score=inf` and a message.
    """
    if bn_variance not in BN_VARIANCES:
        raise ProxyError(f"bn_variance must be one of {BN_VARIANCES}, got {bn_variance!r}")
    if batch_size < 2:
        raise ProxyError(f"Zen-Score needs a batch of at least 2 (train-mode BN), got {batch_size}")
    if repeats < 1:
        raise ProxyError(f"repeats must be at least 1, got {repeats}")
    with scoring_model(model_or_graph, residual_free=True, seed=seed) as (model, shape):
        if resolution is None:
            resolution = shape[1] if shape else 32
        scores, overflow, message, zero_var = _repeats(
            model, shape, batch_size, resolution, repeats, seed, bn_variance, mixup_gamma
        )
    if overflow:
        mean, std = math.inf, math.nan
    else:
        mean = sum(scores) / len(scores)
        std = (
            math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
            if len(scores) > 1 and math.isfinite(mean)
            else 0.0
        )
    return ZenResult(
        score=mean,
        std=std,
        per_repeat=tuple(scores),
        repeats=repeats,
        batch_size=batch_size,
        resolution=resolution,
        bn_variance=bn_variance,
        mixup_gamma=mixup_gamma,
        seed=seed,
        overflow=overflow,
        message=message,
        zero_var_bns=zero_var,
    )


# -- registry entry ------------------------------------------------------------------------------
def _run(model, inputs):
    r = zen_score(
        model, batch_size=inputs.batch_size, resolution=inputs.resolution, seed=inputs.seed, **inputs.options
    )
    if not math.isfinite(r.score):
        raise ProxyError(r.message or "Zen-Score overflowed")
    return r.score, {}, r.to_dict()


register_proxy(
    Proxy(
        "zen",
        "Zen-Score",
        "Zen-NAS (ICCV 2021): log expected feature change under input perturbation + BN variances",
        data="random",
        official_batch=64,
        live_batch=16,
        run=_run,
        residual_free=True,
        needs_grad=False,
    )
)
