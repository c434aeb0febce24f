"""SynFlow (Tanaka et al., NeurIPS 2020) as the zero-cost-NAS "foresight" code scores a network.

Procedure (SamsungLabs/zero-cost-nas `foresight/pruners/measures/synflow.py`, run through
`find_measures`, which is what its NB201 tables came from):
1. A copy of the network with BatchNorm disabled: `synflow` is registered with `bn=False`, so the
   copy's BN layers pass their input through (`copynet`); `bn="keep"` is its `synflow_bn` twin,
   BN in train mode. The copy is in train mode (dropout is switched off here, the nets have none).
2. "Linearise": every parameter *and buffer* of the state dict is replaced by its absolute value.
3. The network is cast to float64 and fed one all-ones input [1, C, R, R] (no data).
4. R = sum of the outputs (the logits of a `(features, logits)` pair); one backward pass.
5. score = sum over every Conv2d and Linear of sum |W * dR/dW| (weights only, biases excluded);
   a layer without a gradient counts zero.
Nothing is random: the score depends on the weights only (an ArchGraph is built with `seed`,
PyTorch default init, as foresight builds its nets).

Divergences, all without effect on the value: the caller's module is not cast or modified (the
absolute float64 weights are fed through `torch.func.functional_call`), and the signs are not
written back afterwards because nothing was overwritten. On NB201, foresight's own model class
rebuilds itself for `bn=False` keeping the BNs of the two reduction blocks (train mode) and with
biased cell convs; for any other network it disables every BN, which is what we do on every
network (our NB201 build is the standard `TinyNetwork`).
"""

from __future__ import annotations

import math
import types
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
from torch.func import functional_call

from explorer.proxies._common import logits_of, random_input_shape, train_no_dropout
from explorer.proxies._model import ProxyError, scoring_model
from explorer.proxies.registry import Proxy, register_proxy

BN_MODES = ("off", "keep")


@dataclass(frozen=True)
class SynFlowResult:
    """SynFlow score (sum of |W * dR/dW|, float64) and the settings that produced it."""

    score: float
    bn: str
    resolution: int
    n_layers: int

    def to_dict(self) -> dict:
        return asdict(self)


def _passthrough(self, x):
    return x


def _disable_bn(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.forward = types.MethodType(_passthrough, m)


def _abs64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().abs().to(torch.float64) if t.is_floating_point() else t.detach().abs()


def synflow(
    model_or_graph, *, resolution: int | None = None, bn: str = "off", seed: int = 0
) -> SynFlowResult:
    """SynFlow of an ArchGraph (built with `seed`, default init) or an nn.Module (left unchanged).

    `resolution` defaults to the graph's input resolution (32 for a plain module). Raises ProxyError
    for a model without Conv2d/Linear layers or whose score is not finite in float64.
    """
    if bn not in BN_MODES:
        raise ProxyError(f"SynFlow bn must be one of {BN_MODES}, got {bn!r}")
    with scoring_model(model_or_graph, residual_free=False, seed=seed) as (model, shape):
        channels, resolution = random_input_shape(model, shape, resolution)
        layers = [(name, m) for name, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        if not layers:
            raise ProxyError("SynFlow needs a model with Conv2d or Linear layers")
        train_no_dropout(model)
        if bn == "off":
            _disable_bn(model)
        by_param = {id(p): _abs64(p).requires_grad_(True) for p in model.parameters()}
        params = {n: by_param[id(p)] for n, p in model.named_parameters(remove_duplicate=False)}
        buffers = {n: _abs64(b) for n, b in model.named_buffers(remove_duplicate=False)}
        x = torch.ones(1, channels, resolution, resolution, dtype=torch.float64)
        weights = [by_param[id(m.weight)] for _, m in layers]
        unique = list({id(w): w for w in weights}.values())
        with torch.enable_grad():
            try:
                out = logits_of(functional_call(model, {**params, **buffers}, (x,)))
            except ValueError as e:  # e.g. train-mode BN over a single value (bn="keep")
                raise ProxyError(f"SynFlow cannot run the model on one all-ones input: {e}") from None
            grads = torch.autograd.grad(out.sum(), unique, allow_unused=True)
        grad_of = {id(w): g for w, g in zip(unique, grads)}
        total = torch.zeros((), dtype=torch.float64)
        for w in weights:  # per layer, as foresight's get_layer_metric_array (a shared weight counts twice)
            g = grad_of[id(w)]
            if g is not None:
                total += (w.detach() * g).abs().sum()
    score = float(total)
    if not math.isfinite(score):
        raise ProxyError(f"SynFlow is {score} in float64 (the all-ones signal overflows this network)")
    return SynFlowResult(score=score, bn=bn, resolution=resolution, n_layers=len(layers))


# -- registry entry ------------------------------------------------------------------------------
def _run(model, inputs):
    r = synflow(model, resolution=inputs.resolution, seed=inputs.seed, **inputs.options)
    return r.score, {}, r.to_dict()


register_proxy(
    Proxy(
        "synflow",
        "SynFlow",
        "SynFlow (NeurIPS 2020), as zero-cost NAS scores it: sum |w * dR/dw| of the all-ones signal",
        data="random",
        official_batch=1,
        live_batch=1,
        run=_run,
    )
)
