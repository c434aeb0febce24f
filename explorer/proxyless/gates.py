"""Binary gates (ProxylessNAS, arXiv 1812.00332, Sec. 3.2; the official `MixedEdge`).

Weight step: each layer samples one path from softmax(alpha) and only that path runs (memory and
compute of one path, only its weights get gradients). Architecture step ('two' mode of the
official code): each layer samples two distinct paths from softmax(alpha), picks the active one
of the pair from the pair's renormalised softmax, and runs the network with gates g (1 on the
active path, 0 on the other). BinaryConnect: dL/dg_j = <dL/dy, o_j> stands in for dL/dp_j, and
the softmax derivative over the pair maps it to alpha:

    dL/dalpha_i = sum_j dL/dg_j * q_j * (delta_ij - q_i),   q = softmax(alpha[pair])

After the optimizer step the pair's alphas are shifted so that their total exp-mass is unchanged
(`rescale`), so the paths that were not sampled keep their probabilities.

Unlike the official code, a layer whose active path is `zero` still gets its update: its paths
output x + f(x) and zero outputs x, so the common x cancels in the softmax derivative and the
estimate is the official one with the zero path's output 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .supernet import MixedLayer, ProxylessSupernet


def sample_single(net: ProxylessSupernet, gen: torch.Generator | None = None) -> list[int]:
    """Weight-step binarisation: one path per layer, drawn from softmax(alpha)."""
    out = []
    with torch.no_grad():
        for m in net.layers:
            m.mode, m.inactive, m.gates = "single", None, None
            m.active = int(torch.multinomial(m.probs(), 1, generator=gen))
            out.append(m.active)
    return out


def sample_two(net: ProxylessSupernet, gen: torch.Generator | None = None) -> list[tuple[int, int]]:
    """Architecture-step binarisation: (active, inactive) per layer; gates set, requiring grad."""
    out = []
    with torch.no_grad():
        for m in net.layers:
            pair = torch.multinomial(m.probs(), 2, replacement=False, generator=gen)
            q = F.softmax(m.alpha[pair], dim=0)
            c = int(torch.multinomial(q, 1, generator=gen))
            m.mode, m.active, m.inactive = "two", int(pair[c]), int(pair[1 - c])
            g = torch.zeros(m.n_choices)
            g[m.active] = 1.0
            m.gates = g.requires_grad_(True)
            out.append((m.active, m.inactive))
    return out


def pair_probs(m: MixedLayer) -> torch.Tensor:
    """The official `current_prob_over_ops` in 'two' mode: the pair's renormalised softmax at the
    pair's indices, zero elsewhere (differentiable in alpha)."""
    idx = torch.tensor([m.active, m.inactive])
    q = F.softmax(m.alpha[idx], dim=0)
    return torch.zeros(m.n_choices).index_put((idx,), q)


def gate_grad_to_alpha(alpha: torch.Tensor, pair: tuple[int, int], gate_grad: torch.Tensor) -> torch.Tensor:
    """dL/dalpha from dL/dgates over the sampled pair (zeros elsewhere)."""
    idx = torch.tensor(pair)
    with torch.no_grad():
        q = F.softmax(alpha.detach()[idx], dim=0)
        g = gate_grad[idx]
        full = torch.zeros_like(alpha)
        full[idx] = q * (g - (q * g).sum())  # sum_j g_j q_j (delta_ij - q_i)
    return full


def pair_alphas(net: ProxylessSupernet) -> list[list[float]]:
    """The pair's alphas before the step (for `rescale`)."""
    return [[float(m.alpha.detach()[m.active]), float(m.alpha.detach()[m.inactive])] for m in net.layers]


def rescale(net: ProxylessSupernet, old: list[list[float]]) -> None:
    """Shift each pair's alphas so their exp-mass equals the one before the step."""
    with torch.no_grad():
        for m, (a0, b0) in zip(net.layers, old):
            a, b = m.active, m.inactive
            new = torch.logsumexp(m.alpha[[a, b]], 0)
            prev = torch.logsumexp(torch.tensor([a0, b0]), 0)
            m.alpha[[a, b]] -= new - prev
