"""NASWOT (Mellor et al., "Neural Architecture Search without Training"), both official variants.

``variant="v2"`` (ICML 2021, BayesWatch/nas-without-training `score_networks.py`, `--score
hook_logdet`): one batch of real training images (128, no augmentation), the network in train
mode. Forward hooks sit on every module whose *class name* contains "ReLU" (the official test is
`'ReLU' in str(type(module))`, so on NB201 the `ReLUConvBN` wrappers count as well as the `nn.ReLU`
inside them, and `ReLU6` counts). For each call of such a module, the binary code c = (input > 0)
of every sample, flattened, adds c c^T + (1 - c)(1 - c)^T to an N x N kernel K (the number of
units on which two samples agree). Only modules that received a gradient in one backward pass
count: the official code does forward + backward of the pooled features first, marking modules
"visited", then a second forward to accumulate K. score = log|det K| (`slogdet`, sign ignored).

``variant="v1"`` (arXiv v1, June 2020, `eval_score`; its per-cell NB201 scores are shipped as
`naswot_v1_score` in the shared NB201 table): one batch of 256 augmented training images
(RandomCrop(32, 4) + flip), J = d(sum of the logits)/d(input) per sample, flattened;
C = corrcoef(J) (N x N); score = -sum_i [log(l_i + 1e-5) + 1 / (l_i + 1e-5)] over the
eigenvalues l_i of C. The network is in *train* mode, as in the repo's `plot_histograms.py` (a
fresh net, 10 logits summed, batch 256): that is the setting that reproduces the published
per-cell scores (e.g. -277.1 published vs -276.0 / -277.0 here for two seeds on cell 544; Spearman
0.92 on 16 random cells). v1's `search.py` called `eval()` first; at PyTorch's default init that
gives scores several times lower and far noisier, unlike the published ones.

Divergences: v2 finds the "visited" modules with a forward + backward of the first 2 images only
(which modules the output's gradient reaches does not depend on the batch), then accumulates K in
one gradient-free forward of the whole batch: train-mode BN normalises with the batch statistics
in every pass, so K is the official one, at ~half the cost. Dropout is off in both variants (the
official nets have none). v1 uses `eigvalsh`
(C is symmetric) where the official code used `eig`; a network whose output ignores its input
(zero Jacobian: the official code fails and records NaN) scores -inf here, with a message.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn

from explorer.proxies._common import check_channels, check_images, logits_of, train_no_dropout
from explorer.proxies._model import ProxyError, scoring_model
from explorer.proxies.registry import Proxy, register_proxy

VARIANTS = ("v2", "v1")
OFFICIAL_BATCH = {"v2": 128, "v1": 256}
V1_K = 1e-5


@dataclass(frozen=True)
class NASWOTResult:
    """NASWOT score (v2: log|det K|; v1: the Jacobian-correlation score) and how it was computed."""

    score: float
    variant: str
    batch_size: int
    resolution: int
    n_relu: int = 0
    message: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def is_relu_like(module: nn.Module) -> bool:
    """The official module test: 'ReLU' in the class name (nn.ReLU, nn.ReLU6, NB201's ReLUConvBN...)."""
    return "ReLU" in type(module).__name__


def _visited(model: nn.Module, relus: list[nn.Module], probe: torch.Tensor) -> set[int]:
    """ids of the ReLU-like modules whose output receives a gradient from the output (official
    `visited_backwards`), found with a forward + backward of a small probe batch."""
    visited: set[int] = set()

    def hook(module, _inputs, output):
        key = id(module)
        if isinstance(output, torch.Tensor) and output.requires_grad:
            output.register_hook(lambda _g: visited.add(key))

    handles = [m.register_forward_hook(hook) for m in relus]
    try:
        with torch.enable_grad():
            out = model(probe.clone().requires_grad_(True))
            y = out[0] if isinstance(out, (tuple, list)) else out  # official: the pooled features
            y.backward(torch.ones_like(y))
    finally:
        for h in handles:
            h.remove()
    model.zero_grad(set_to_none=True)
    return visited


class _Kernel:
    """K = sum over calls of counted modules of c c^T + (1-c)(1-c)^T, c = (input > 0) per sample."""

    def __init__(self, modules: list[nn.Module], n: int):
        self.k = torch.zeros(n, n, dtype=torch.float64)
        self.calls = 0
        self.handles = [m.register_forward_hook(self._forward) for m in modules]

    def _forward(self, _module, inputs, _output):
        x = inputs[0] if isinstance(inputs, tuple) else inputs
        if not isinstance(x, torch.Tensor) or x.dim() == 0:
            return
        c = (x.detach().reshape(x.shape[0], -1) > 0).to(torch.float32)
        # c c^T + (1-c)(1-c)^T = 2 c c^T - s_i - s_j + D with s = active units per sample, D units:
        # one matmul instead of two; integer counts, exact in float32 per layer (D < 2^24, checked)
        if c.shape[1] >= 2**24:
            raise ProxyError(f"NASWOT: a ReLU input of {c.shape[1]} units per sample is too wide to count")
        s = c.sum(dim=1, dtype=torch.float64)
        self.k += 2.0 * (c @ c.t()).to(torch.float64) - s[:, None] - s[None, :] + c.shape[1]
        self.calls += 1

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def _v2(model: nn.Module, images: torch.Tensor) -> tuple[float, int, str]:
    relus = [m for m in model.modules() if is_relu_like(m)]
    if not relus:
        raise ProxyError("NASWOT needs ReLU activations (it counts ReLU on/off codes); this model has none")
    train_no_dropout(model)
    visited = _visited(model, relus, images[:2])
    counted = [m for m in relus if id(m) in visited]
    if not counted:
        raise ProxyError("NASWOT: no ReLU of this model lies on the path to the output")
    kernel = _Kernel(counted, images.shape[0])
    try:
        with torch.no_grad():
            model(images)
    finally:
        kernel.remove()
    sign, logdet = torch.linalg.slogdet(kernel.k)
    message = "" if float(sign) != 0 else "K is singular (images with identical ReLU codes)"
    return float(logdet), kernel.calls, message


def _v1(model: nn.Module, images: torch.Tensor) -> tuple[float, str]:
    train_no_dropout(model)
    with torch.enable_grad():
        x = images.clone().requires_grad_(True)
        y = logits_of(model(x))
        y.backward(torch.ones_like(y))
    jac = x.grad.detach().reshape(x.shape[0], -1).to(torch.float64)
    jac = jac - jac.mean(dim=1, keepdim=True)
    norm = jac.norm(dim=1)
    if not bool((norm > 0).all()):
        return -math.inf, "the output does not depend on the input (zero Jacobian)"
    u = jac / norm[:, None]
    corr = u @ u.t()
    v = torch.linalg.eigvalsh(corr).numpy()
    return float(-np.sum(np.log(v + V1_K) + 1.0 / (v + V1_K))), ""


def naswot(model_or_graph, images: torch.Tensor, *, variant: str = "v2", seed: int = 0) -> NASWOTResult:
    """NASWOT of an ArchGraph (built with `seed`, default init) or an nn.Module on one image batch.

    The official batch sizes are in `OFFICIAL_BATCH` (v2: 128, v1: 256); labels are not used. The
    caller's model is not modified. Raises ProxyError for a model with no ReLU on its output path (v2).
    """
    if variant not in VARIANTS:
        raise ProxyError(f"NASWOT variant must be one of {VARIANTS}, got {variant!r}")
    images = check_images(images, "NASWOT", min_batch=2)
    n_relu, message = 0, ""
    with scoring_model(model_or_graph, residual_free=False, seed=seed) as (model, shape):
        check_channels(images, shape)
        try:
            if variant == "v2":
                score, n_relu, message = _v2(model, images)
            else:
                score, message = _v1(model, images)
        except ValueError as e:  # e.g. train-mode BN over a single value
            raise ProxyError(f"NASWOT cannot run the model on this batch: {e}") from None
    return NASWOTResult(
        score=score,
        variant=variant,
        batch_size=images.shape[0],
        resolution=images.shape[-1],
        n_relu=n_relu,
        message=message,
    )


# -- registry entry ------------------------------------------------------------------------------
def _run(model, inputs):
    variant = inputs.options.get("variant", "v2")
    images = inputs.images(augment=variant == "v1")
    r = naswot(model, images, variant=variant, seed=inputs.seed)
    return r.score, {}, r.to_dict()


register_proxy(
    Proxy(
        "naswot",
        "NASWOT",
        "NASWOT (ICML 2021): log-determinant of the kernel of binary ReLU codes over a batch",
        data="images",
        official_batch=OFFICIAL_BATCH["v2"],
        live_batch=32,
        run=_run,
    )
)
