"""AZ-NAS (Lee & Ham, CVPR 2024): four zero-cost proxies per network, combined by rank over a population.

Per network (cvlab-yonsei/AZ-NAS `NB201/ZeroShotProxy/compute_az_nas_score.py`, driven by
`NB201/tss_general.ipynb`):
1. Train mode; re-initialise (`init="kaiming"`) in `apply` order: every Conv2d/Linear weight
   ~ kaiming_normal(fan_in, relu), biases 0; BatchNorm2d/GroupNorm with affine: weight 1, bias 0.
2. One batch of Gaussian noise x ~ N(0, 1) [64, 3, 32, 32] (AZ-NAS uses random, not real, inputs).
3. Block features f_0..f_L: the stem output and every cell / reduction block output (NB201: 18
   maps, before the head's BN+ReLU), captured with the autograd graph.
4. Expressivity: per feature, the eigenvalues s of the channel covariance over all B*H*W positions
   (mean removed, divided by B*H*W), p = s / sum(s), entropy sum(-p log(p + 1e-8));
   s_E = sum of the entropies, s_P (progressivity) = min over l of entropy(f_l) - entropy(f_{l-1}).
   Divergence (on purpose): eigenvalues are clamped at 0. With fewer positions B*H*W than channels
   (the live batch at a small resolution: 16 x 2 x 2 rows for 160 channels of an OFA subnet's last
   block) the covariance is singular, rounding makes some of its zero eigenvalues slightly
   negative, and the official log then gives NaN, i.e. -inf for every such network; a zero
   eigenvalue adds nothing to the entropy, so clamping gives the entropy the spectrum has. Where
   the official value is finite the two agree to float rounding (tests/proxies/test_aznas.py); an
   all-zero feature (a dead cell) is still NaN -> -inf.
5. Trainability: for l = L..1, a Rademacher g_out shaped like f_l, g_in = d f_l / d f_{l-1} applied
   to g_out (autograd, graph freed as it goes); if g_in == g_out exactly (an identity block) the
   term is -inf; else g_in is pixel-unshuffled to f_l's resolution, M = g_in^T g_out / (B*H*W)
   (channels x channels), sigma = its largest singular value, term = -sigma - 1/(sigma + 1e-6) + 2;
   s_T = mean of the terms. Divergence (on purpose): where a stride-2 block maps an odd size to
   its ceiling (5 -> 3, e.g. an OFA subnet at r=164), the official `pixel_unshuffle(g_in,
   int(5 / 3))` cannot pair the maps and the script fails; here g_in is zero-padded at the
   bottom/right to 2x the output size first (padded positions add nothing to M). Where the size
   divides, nothing is padded and the term is the official one (tests/proxies/test_aznas.py).
6. Complexity s_C: FLOPs (the NB201 script takes them from the benchmark API; here conv and linear
   multiply-accumulates of one sample, counted in the same forward pass, OFA's `count_net_flops`
   rule, which ranks like the API's FLOPs).
A NaN component becomes -inf (official). The AZ-NAS score of a member of a population is
`log_rank_sum` of the four components over that population (`aznas_scores`): it has no meaning for
one network alone.

Feature points: for a network built from an ArchGraph, the nodes every input-to-features path passes
through (the chain of blocks), minus standalone BN / activation / dropout / identity layers; on
NB201 that is exactly the stem, the 15 cells and the 2 reduction blocks. For another module pass
`feature_modules` (the blocks whose outputs are f_0..f_L, in call order); an nn.Sequential uses its
children. All draws come from one generator seeded with `seed`, in the official order (init, x,
then one g_out per pair from the last), so `torch.manual_seed(seed)` + the official code on CPU
gives the same stream. Dropout is off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.proxies._common import random_input_shape, train_no_dropout
from explorer.proxies._model import ProxyError, scoring_model
from explorer.proxies.rank_aggregate import log_rank_sum
from explorer.proxies.registry import Proxy, register_proxy

COMPONENTS = ("expressivity", "progressivity", "trainability", "complexity")
INITS = ("kaiming", "none")
OFFICIAL_BATCH = 64


@dataclass(frozen=True)
class AZNASResult:
    """The four AZ-NAS components of one network (higher is better in each) and the settings."""

    expressivity: float
    progressivity: float
    trainability: float
    complexity: float
    n_features: int
    batch_size: int
    resolution: int
    init: str
    seed: int

    @property
    def components(self) -> dict[str, float]:
        return {k: getattr(self, k) for k in COMPONENTS}

    def to_dict(self) -> dict:
        return asdict(self)


def kaiming_init(model: nn.Module, g: torch.Generator) -> None:
    """AZ-NAS' `kaiming_norm_fanin` re-initialisation, in `model.apply` order."""

    def init(m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu", generator=g)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    with torch.no_grad():
        model.apply(init)


def _layer_types() -> tuple[type, ...]:
    from explorer.arch.modules import HSigmoid, HSwish

    return (
        nn.modules.batchnorm._BatchNorm,
        nn.ReLU,
        nn.ReLU6,
        nn.Identity,
        nn.modules.dropout._DropoutNd,
        HSwish,
        HSigmoid,
    )


def graph_feature_modules(model: nn.Module) -> list[nn.Module] | None:
    """Block modules of a GraphModule: cut nodes between input and the pre-pooling features.

    In topological order, a node lies on every input-to-features path iff no edge jumps over its
    position; standalone BN / activation / dropout / identity nodes are layers, not blocks.
    """
    plan = getattr(model, "_feature_plan", None)
    layers = getattr(model, "layers", None)
    if plan is None or not isinstance(layers, nn.ModuleDict):
        return None
    srcs = dict(plan)
    relevant, stack = set(), [model.features_id]
    while stack:  # ancestors of the features node (dead branches cannot separate anything)
        n = stack.pop()
        if n not in relevant:
            relevant.add(n)
            stack.extend(srcs.get(n, ()))
    order = [n for n, _ in plan if n in relevant]
    pos = {n: i for i, n in enumerate(order)}
    jumps = [(pos[s], pos[n]) for n in order for s in srcs[n]]
    skip = _layer_types()
    cuts = []
    for i, n in enumerate(order):
        if n == model.input_id or isinstance(layers[n], skip):
            continue
        if not any(a < i < b for a, b in jumps):
            cuts.append(layers[n])
    return cuts


def _feature_modules(model: nn.Module, feature_modules) -> list[nn.Module]:
    if feature_modules is not None:
        mods = list(feature_modules)
    else:
        mods = graph_feature_modules(model)
        if mods is None and isinstance(model, nn.Sequential):
            mods = list(model.children())
        if mods is None:
            raise ProxyError(
                "AZ-NAS needs the network's block outputs: pass feature_modules=[...] for this model"
            )
    if len(mods) < 2:
        raise ProxyError(f"AZ-NAS needs at least two block features, this model has {len(mods)}")
    return mods


class _Capture:
    """Block outputs in call order, and conv/linear multiply-accumulates of one sample."""

    def __init__(self, model: nn.Module, blocks: list[nn.Module]):
        self.features: list[torch.Tensor] = []
        self.macs = 0
        self.handles = [b.register_forward_hook(self._feature) for b in blocks]
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                self.handles.append(m.register_forward_hook(self._count))

    def _feature(self, _module, _inputs, output):
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            raise ProxyError(
                f"AZ-NAS block features must be [N, C, H, W] maps, got {getattr(output, 'shape', output)}"
            )
        self.features.append(output)

    def _count(self, m, _inputs, out):  # per sample, as explorer.supernet.static_net.count_macs
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            self.macs += out.shape[2] * out.shape[3] * m.out_channels * (m.in_channels // m.groups) * kh * kw
        else:
            self.macs += m.in_features * m.out_features * (out.numel() // out.shape[-1] // out.shape[0])

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


def entropy_of_spectrum(feature: torch.Tensor) -> float:
    """Entropy of the normalised eigenvalues of a feature map's channel covariance (official float32)."""
    b, c, h, w = feature.shape
    feat = feature.detach().permute(0, 2, 3, 1).reshape(b * h * w, c)
    feat = feat - feat.mean(dim=0, keepdim=True)
    sigma = feat.t() @ feat / feat.shape[0]
    s = torch.linalg.eigvalsh(sigma).clamp_min(0.0)  # rounding of a singular covariance (module doc)
    p = s / s.sum()
    return float((-p * torch.log(p + 1e-8)).sum())


def trainability_term(f_in: torch.Tensor, f_out: torch.Tensor, g: torch.Generator) -> float:
    """-sigma_max - 1/(sigma_max + 1e-6) + 2 of the block Jacobian on a Rademacher probe (-inf: identity)."""
    g_out = (torch.bernoulli(torch.full_like(f_out, 0.5), generator=g) - 0.5) * 2
    (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=False, allow_unused=True)
    if g_in is None:
        g_in = torch.zeros_like(f_in)
    if g_out.shape == g_in.shape and torch.equal(g_in, g_out):
        return -math.inf
    bo, co, ho, wo = g_out.shape
    if g_in.shape[2] != ho or g_in.shape[3] != wo:
        k = math.ceil(g_in.shape[2] / ho)  # the official int(h_in / h_out) where it divides
        pad_h, pad_w = ho * k - g_in.shape[2], wo * k - g_in.shape[3]
        if pad_h > 0 or pad_w > 0:  # odd size (a stride-2 conv maps 5 -> 3): zero positions
            g_in = F.pad(g_in, (0, max(pad_w, 0), 0, max(pad_h, 0)))
        g_in = F.pixel_unshuffle(g_in, k)
    bi, ci, hi, wi = g_in.shape
    if bi * hi * wi != bo * ho * wo:
        raise ProxyError(f"AZ-NAS cannot pair block features {tuple(f_in.shape)} -> {tuple(f_out.shape)}")
    go = g_out.permute(0, 2, 3, 1).reshape(bo * ho * wo, co)
    gi = g_in.permute(0, 2, 3, 1).reshape(bi * hi * wi, ci)
    mat = gi.t() @ go / (bo * ho * wo)
    s_max = float(torch.linalg.svdvals(mat).max())
    return -s_max - 1.0 / (s_max + 1e-6) + 2.0


def _finite_or_neg_inf(v: float) -> float:
    return -math.inf if math.isnan(v) else float(v)


def aznas(
    model_or_graph,
    *,
    batch_size: int = OFFICIAL_BATCH,
    resolution: int | None = None,
    seed: int = 0,
    init: str = "kaiming",
    feature_modules: Sequence[nn.Module] | None = None,
) -> AZNASResult:
    """The four AZ-NAS components of an ArchGraph or an nn.Module (the caller's model is not modified).

    `init="none"` keeps the model's weights instead of the official Kaiming re-initialisation.
    Combine the components of a population with `aznas_scores`.
    """
    if init not in INITS:
        raise ProxyError(f"AZ-NAS init must be one of {INITS}, got {init!r}")
    if batch_size < 2:
        raise ProxyError(f"AZ-NAS needs a batch of at least 2 (train-mode BN), got {batch_size}")
    with scoring_model(model_or_graph, residual_free=False, seed=seed) as (model, shape):
        channels, resolution = random_input_shape(model, shape, resolution)
        blocks = _feature_modules(model, feature_modules)
        train_no_dropout(model)
        for p in model.parameters():
            p.requires_grad_(True)
        g = torch.Generator().manual_seed(seed)
        if init == "kaiming":
            kaiming_init(model, g)
        x = torch.randn(batch_size, channels, resolution, resolution, generator=g)
        capture = _Capture(model, blocks)
        try:
            with torch.enable_grad():
                try:
                    model(x)
                except ValueError as e:  # e.g. train-mode BN over a single value
                    raise ProxyError(f"AZ-NAS cannot run the model: {e}") from None
        finally:
            capture.remove()
        feats = capture.features
        if len(feats) < 2:
            raise ProxyError(f"AZ-NAS saw {len(feats)} block feature(s) in the forward pass; it needs 2+")
        entropies = np.array([entropy_of_spectrum(f) for f in feats])
        with torch.enable_grad():
            terms = [trainability_term(feats[i - 1], feats[i], g) for i in reversed(range(1, len(feats)))]
    return AZNASResult(
        expressivity=_finite_or_neg_inf(float(np.sum(entropies))),
        progressivity=_finite_or_neg_inf(float(np.min(entropies[1:] - entropies[:-1]))),
        trainability=_finite_or_neg_inf(float(np.mean(terms))),
        complexity=float(capture.macs),
        n_features=len(feats),
        batch_size=batch_size,
        resolution=resolution,
        init=init,
        seed=seed,
    )


def aznas_scores(results: Sequence[AZNASResult | Mapping[str, float]]) -> list[float]:
    """AZ-NAS score of each member of a population: log-rank sum of its four components.

    Accepts AZNASResult objects or mappings with the four component keys. Higher is better; the
    best possible value is 0 (ranked first by every component).
    """
    rows = [r.components if isinstance(r, AZNASResult) else r for r in results]
    try:
        columns = {k: [float(r[k]) for r in rows] for k in COMPONENTS}
    except KeyError as e:
        raise ProxyError(f"AZ-NAS aggregation needs the components {COMPONENTS}; missing {e}") from None
    return [float(v) for v in log_rank_sum(columns)]


# -- registry entry ------------------------------------------------------------------------------
def _run(model, inputs):
    r = aznas(
        model, batch_size=inputs.batch_size, resolution=inputs.resolution, seed=inputs.seed, **inputs.options
    )
    return None, r.components, r.to_dict()


register_proxy(
    Proxy(
        "az-nas",
        "AZ-NAS",
        "AZ-NAS (CVPR 2024): log-rank sum of expressivity, progressivity, trainability, complexity",
        data="random",
        official_batch=OFFICIAL_BATCH,
        live_batch=16,
        run=_run,
        components=COMPONENTS,
        population=True,
    )
)
