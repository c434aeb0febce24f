"""Zen-Score's paper BN term on NB201 cells with a BN fed only zeros: finite, that BN contributes ln 1."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from explorer.arch import build_model
from explorer.proxies import zen_score
from explorer.spaces.nb201 import NB201Space

# node 2 = none(0) + none(1) = 0, so the nor_conv_1x1 on edge 2->3 convolves zeros: its BN sees var 0
ZERO_FED_BN = "|avg_pool_3x3~0|+|none~0|none~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_1x1~2|"
DISCONNECTED = "|none~0|+|none~0|none~1|+|none~0|nor_conv_1x1~1|avg_pool_3x3~2|"


def residual_free(arch: str, seed: int = 0):
    """A real NB201 cell in a reduced skeleton (C=8, one cell per stage), as Zen scores it."""
    graph = NB201Space(channels=8, cells_per_stage=1).encode({"arch_str": arch})
    return build_model(graph, residual_free=True, seed=seed)


def paper_zen(model: nn.Module, batch: int, seed: int, skip_zero_var: bool, gamma: float = 1e-2) -> float:
    """The official loop on the global RNG with the paper's batch-variance term (clean pass)."""
    torch.manual_seed(seed)
    model.train()
    variances = {}
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    hooks = [
        bn.register_forward_pre_hook(
            lambda m, i, k=k: variances.__setitem__(k, i[0].var(dim=(0, 2, 3), unbiased=False))
        )
        for k, bn in enumerate(bns)
    ]
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        x = torch.randn(batch, 3, 32, 32)
        mix = torch.randn(batch, 3, 32, 32)
        out = model.forward_features(x)
        clean = dict(variances)
        out_mix = model.forward_features(x + gamma * mix)
    for h in hooks:
        h.remove()
    s = math.log(float(torch.mean(torch.sum(torch.abs(out - out_mix), dim=[1, 2, 3]))))
    for k in range(len(bns)):
        v = float(clean[k].double().mean()) if k in clean else 1.0
        if v == 0 and skip_zero_var:
            continue
        s += 0.5 * math.log(v) if v > 0 else -math.inf
    return s


def test_zero_fed_bn_no_longer_makes_the_score_minus_inf():
    model = residual_free(ZERO_FED_BN)
    r = zen_score(model, batch_size=8, seed=3, bn_variance="batch")
    assert math.isfinite(r.score) and r.message == ""
    assert r.zero_var_bns == 3  # one per cell: the 1x1 conv on edge 2->3
    assert paper_zen(residual_free(ZERO_FED_BN), 8, 3, skip_zero_var=False) == -math.inf  # what it gave
    assert r.score == pytest.approx(paper_zen(residual_free(ZERO_FED_BN), 8, 3, skip_zero_var=True), abs=1e-4)


def test_running_term_is_unchanged():
    """The official running-variance term never sees a zero (the EMA starts at 1)."""
    r = zen_score(residual_free(ZERO_FED_BN), batch_size=8, seed=3)
    assert math.isfinite(r.score) and r.zero_var_bns == 0


def test_features_that_ignore_the_input_still_score_minus_inf():
    for variant in ("batch", "running"):
        r = zen_score(residual_free(DISCONNECTED), batch_size=4, bn_variance=variant)
        assert r.score == -math.inf and "Delta = 0" in r.message
    assert "zero_var_bns" in r.to_dict()
