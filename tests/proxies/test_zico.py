"""ZiCo equals a literal re-statement of the official code (accumulated gradients over 2 splits)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.data import gradsign_batch
from explorer.proxies import ProxyError, zico
from tests.proxies.cells import CELLS, nb201


def official_zico(network: nn.Module, inputs, targets, split_data: int = 2) -> float:
    """getzico + caculate_zico: no zero_grad between splits; `.clone()` stands for the GPU's `.cpu()` copy."""
    network = copy.deepcopy(network)
    network.zero_grad()
    network.train()
    grad_dict = {}
    n = inputs.shape[0]
    for sp in range(split_data):
        st, en = sp * n // split_data, (sp + 1) * n // split_data
        loss = F.cross_entropy(network(inputs[st:en]), targets[st:en])
        loss.backward()
        for name, mod in network.named_modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                if mod.weight.grad is None:
                    continue
                g = mod.weight.grad.data.clone().reshape(-1).numpy()
                if sp == 0:
                    grad_dict[name] = [g]
                elif name in grad_dict:
                    grad_dict[name].append(g)
    nsr_mean_sum_abs = 0.0
    for modname in grad_dict:
        arr = np.array(grad_dict[modname])
        nsr_std = np.std(arr, axis=0)
        nonzero_idx = np.nonzero(nsr_std)[0]
        nsr_mean_abs = np.mean(np.abs(arr), axis=0)
        tmpsum = np.sum(nsr_mean_abs[nonzero_idx] / nsr_std[nonzero_idx])
        if tmpsum != 0:
            nsr_mean_sum_abs += np.log(tmpsum)
    return float(nsr_mean_sum_abs)


@pytest.fixture(scope="module")
def batch():
    return gradsign_batch(16, 32)


@pytest.mark.parametrize("arch", CELLS)
def test_equals_official_zico(arch, batch):
    graph, model = nb201(arch, seed=5)
    x, y = batch
    ours = zico(model, x, y)
    assert ours.score == pytest.approx(official_zico(model, x, y), rel=1e-5)
    assert ours.batches == 2 and ours.batch_size == 16
    assert ours.n_layers + ours.skipped_layers == sum(
        isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules()
    )
    assert zico(graph, x, y, seed=5).score == ours.score


def test_three_splits_and_order_matters(batch):
    """The official statistics are over running sums g1, g1+g2, ..., so the splits' order counts."""
    _, model = nb201(CELLS[0], seed=1)
    x, y = batch
    three = zico(model, x[:15], y[:15], batches=3)
    assert three.score == pytest.approx(official_zico(model, x[:15], y[:15], split_data=3), rel=1e-5)
    swapped = torch.cat([torch.arange(8, 16), torch.arange(0, 8)])
    a, b = zico(model, x, y), zico(model, x[swapped], y[swapped])
    # swapping the halves moves the score by ~4-6 %; reordering within them only by float rounding,
    # which ZiCo's log(mean / std) over 2 batches amplifies (up to 2e-4 seen, depending on threads)
    assert a.score != pytest.approx(b.score, rel=1e-2)
    within = torch.cat([torch.arange(7, -1, -1), torch.arange(15, 7, -1)])  # same halves, reordered
    assert zico(model, x[within], y[within]).score == pytest.approx(a.score, rel=2e-3)


def test_dead_layer_is_skipped():
    """A conv whose gradient is identically zero (its output is multiplied by 0) adds nothing."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Conv2d(3, 4, 3, padding=1)
            self.b = nn.Conv2d(3, 4, 3, padding=1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc((torch.relu(self.a(x)) + 0.0 * self.b(x)).mean((2, 3)))

    torch.manual_seed(0)
    net = Net()
    x = torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    r = zico(net, x, y)
    assert r.skipped_layers == 1 and r.n_layers == 2
    assert r.score == pytest.approx(official_zico(net, x, y), rel=1e-5)


def test_caller_model_untouched_and_errors(batch):
    x, y = batch
    _, model = nb201(CELLS[1])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert zico(model, x, y) == zico(model, x, y)
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ProxyError, match="at least 2"):
        zico(model, x, y, batches=1)
    with pytest.raises(ProxyError, match="split"):
        zico(model, x[:2], y[:2], batches=3)
    with pytest.raises(ProxyError, match="labels"):
        zico(model, x, y + 10)
    with pytest.raises(ProxyError, match="label"):
        zico(model, x, y[:3])
    with pytest.raises(ProxyError, match="classes"):
        zico(nn.Sequential(nn.Conv2d(3, 4, 3)), x, y)
