"""MeCo equals a literal re-statement of the official NB201 script (hooks on every module)."""

from __future__ import annotations

import copy
import random

import pytest
import torch
from torch import nn

from explorer.data import gradsign_batch
from explorer.proxies import ProxyError, meco
from tests.proxies.cells import CELLS, nb201


def official_meco(net: nn.Module, x: torch.Tensor, measure: str = "meco", seed: int = 0) -> tuple[float, int]:
    """correlation/NAS_Bench_201.py get_score -> (score, terms kept); `random.sample` from Random(seed)."""
    net = copy.deepcopy(net)
    rng = random.Random(seed)
    result_list = []

    def forward_hook(module, data_input, data_output):
        fea = data_output[0].clone().detach()
        n = torch.tensor(fea.shape[0])
        fea = fea.reshape(n, -1)
        if measure == "meco":
            corr = torch.corrcoef(fea)
            corr[torch.isnan(corr)] = 0
            corr[torch.isinf(corr)] = 0
            values = torch.linalg.eig(corr)[0]
            result = torch.min(torch.real(values))
        elif n < 8:  # the official random.sample raises here (our input node is a 3-channel module)
            corr = torch.corrcoef(fea)
            corr[torch.isnan(corr)] = 0
            values = torch.linalg.eig(corr)[0]
            result = torch.min(torch.real(values))
        else:
            idxs = rng.sample(range(n), 8)
            fea = fea[idxs, :]
            corr = torch.corrcoef(fea)
            corr[torch.isnan(corr)] = 0
            corr[torch.isinf(corr)] = 0
            values = torch.linalg.eig(corr)[0]
            result = torch.min(torch.real(values)) * n / 8
        result_list.append(result)

    for _name, modules in net.named_modules():
        modules.register_forward_hook(forward_hook)
    net(x)
    results = torch.tensor(result_list)
    results = results[torch.logical_not(torch.isnan(results))]
    results = results[torch.logical_not(torch.isinf(results))]
    return float(torch.sum(results)), len(results)


@pytest.fixture(scope="module")
def images():
    return gradsign_batch(4, 32)[0]


@pytest.mark.filterwarnings("ignore:cov")
@pytest.mark.parametrize("arch", CELLS)
def test_equals_official_meco(arch, images):
    graph, model = nb201(arch, seed=1)
    ours = meco(model, images[:1])
    ref, calls = official_meco(model, images[:1])
    assert ours.score == pytest.approx(ref, rel=1e-4, abs=1e-4)
    assert ours.n_calls == calls > len(model.layers) and ours.dropped == 0
    assert meco(graph, images[:1], seed=1).score == ours.score


@pytest.mark.filterwarnings("ignore:cov")
@pytest.mark.parametrize("arch", CELLS[:2])
def test_opt_variant_equals_official_meco_opt(arch, images):
    _, model = nb201(arch, seed=2)
    ours = meco(model, images[:2], variant="opt", seed=7)
    ref, _ = official_meco(model, images[:2], "meco_opt", seed=7)
    assert ours.score == pytest.approx(ref, rel=1e-4, abs=1e-4)
    assert ours.score != pytest.approx(meco(model, images[:2], variant="opt", seed=8).score, rel=1e-3)


def test_scale_invariance(images):
    """Correlations ignore scale and the nets are positively homogeneous up to BN: MeCo(3x) = MeCo(x)."""
    _, model = nb201(CELLS[0], seed=3)
    assert meco(model, 3 * images[:1]).score == pytest.approx(meco(model, images[:1]).score, rel=1e-3)


def test_every_module_counts_so_wrapping_repeats_a_term():
    """A container returning its child's output adds that output's term once more (official rule)."""
    torch.manual_seed(0)
    body = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU())
    x = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    flat = meco(body, x)
    wrapped = meco(nn.Sequential(body), x)
    relu_term = meco(nn.ReLU(), body[0](x).detach())
    assert wrapped.n_calls == flat.n_calls + 1
    assert wrapped.score == pytest.approx(flat.score + relu_term.score, rel=1e-6)


def test_errors_and_caller_model_untouched(images):
    _, model = nb201(CELLS[2])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert meco(model, images[:1]) == meco(model, images[:1])
    assert not model.training and not any(m._forward_hooks for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ProxyError, match="variant"):
        meco(model, images[:1], variant="fast")
    with pytest.raises(ProxyError, match=r"\[N, C, H, W\]"):
        meco(model, images[0])
    with pytest.raises(ProxyError, match="cannot run"):
        meco(nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 4), nn.BatchNorm1d(4)), images[:1])
