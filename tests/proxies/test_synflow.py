"""SynFlow equals a literal re-statement of zero-cost-nas' foresight code on NB201 cells; its invariances."""

from __future__ import annotations

import copy
import types

import pytest
import torch
from torch import nn

from explorer.proxies import ProxyError, synflow
from tests.proxies.cells import CELLS, nb201


def foresight_synflow(net: nn.Module, resolution: int = 32, bn: bool = False) -> float:
    """foresight: copynet (BN forward -> no-op when bn=False), train, abs state dict, double, ones, sum."""
    net = copy.deepcopy(net)
    if not bn:
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.forward = types.MethodType(lambda self, x: x, m)
    net.train()
    with torch.no_grad():
        for _, param in net.state_dict().items():
            param.abs_()
    net.zero_grad()
    net.double()
    output = net(torch.ones([1, 3, resolution, resolution]).double())
    torch.sum(output).backward()
    total = 0.0
    for layer in net.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)) and layer.weight.grad is not None:
            total += float(torch.abs(layer.weight * layer.weight.grad).sum().detach())
    return total


@pytest.mark.parametrize("arch", CELLS)
def test_equals_foresight_on_nb201_cells(arch):
    graph, model = nb201(arch, seed=3)
    ours = synflow(model)
    assert ours.score == pytest.approx(foresight_synflow(model), rel=1e-12)
    assert ours.bn == "off" and ours.resolution == 32
    assert ours.n_layers == sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in model.modules())
    assert synflow(graph, seed=3).score == ours.score  # an ArchGraph is built with `seed`


def test_bn_keep_equals_foresight_synflow_bn():
    _, model = nb201(CELLS[0], seed=1)
    kept = synflow(model, bn="keep")
    assert kept.score == pytest.approx(foresight_synflow(model, bn=True), rel=1e-10)
    assert kept.score != pytest.approx(synflow(model).score, rel=1e-3)


class Chain(nn.Module):
    """Bias-free conv-ReLU chain with average pooling: positively homogeneous in each layer."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 6, 3, padding=1, bias=False)
        self.c2 = nn.Conv2d(6, 8, 3, stride=2, padding=1, bias=False)
        self.fc = nn.Linear(8, 5, bias=False)

    def forward(self, x):
        return self.fc(torch.relu(self.c2(torch.relu(self.c1(x)))).mean((2, 3)))


def test_layer_conservation_and_rescaling_invariance():
    """Every path crosses every layer, so each layer's sum |theta dR/dtheta| equals R (Euler):
    score = n_layers * R; moving a factor between consecutive layers changes nothing."""
    torch.manual_seed(0)
    net = Chain()
    r = synflow(net, resolution=8)
    with torch.no_grad():
        abs_net = copy.deepcopy(net).double()
        for p in abs_net.parameters():
            p.abs_()
        big_r = float(abs_net(torch.ones(1, 3, 8, 8, dtype=torch.float64)).sum())
    assert r.score == pytest.approx(3 * big_r, rel=1e-12)
    with torch.no_grad():
        net.c1.weight.mul_(-4.0)  # signs do not matter, the factor 4 is undone in the next layer
        net.c2.weight.div_(4.0)
    assert synflow(net, resolution=8).score == pytest.approx(r.score, rel=1e-12)


def test_caller_model_untouched_and_deterministic():
    _, model = nb201(CELLS[1])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = synflow(model)
    assert a == synflow(model)
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert "forward" not in model.layers["stem"].bn.__dict__


def test_errors():
    with pytest.raises(ProxyError, match="Conv2d or Linear"):
        synflow(nn.Sequential(nn.ReLU()))
    with pytest.raises(ProxyError, match="bn"):
        synflow(Chain(), bn="train")
    with pytest.raises(ProxyError, match="ArchGraph"):
        synflow("not a model")
    huge = nn.Sequential(*[nn.Conv2d(3, 3, 3, padding=1, bias=False) for _ in range(12)], nn.Flatten())
    with torch.no_grad():
        for m in huge:
            if isinstance(m, nn.Conv2d):
                m.weight.fill_(1e30)  # (27e30)^12 overflows float64
    with pytest.raises(ProxyError, match="float64"):
        synflow(huge, resolution=8)
