"""NASWOT v2 and v1 equal literal re-statements of the official code; v1 reproduces published scores."""

from __future__ import annotations

import copy
import csv

import numpy as np
import pytest
import torch
from torch import nn

from explorer.data import gradsign_batch
from explorer.proxies import ProxyError, naswot
from explorer.spaces.nb201 import NB201Space
from tests.conftest import shared_file
from tests.proxies.cells import CELLS, nb201


def official_hook_logdet(network: nn.Module, x: torch.Tensor) -> float:
    """score_networks.py: hooks on 'ReLU' modules, forward+backward marks them, a second forward fills K."""
    network = copy.deepcopy(network)
    batch_size = x.shape[0]
    network.K = np.zeros((batch_size, batch_size))

    def counting_forward_hook(module, inp, out):
        try:
            if not module.visited_backwards:
                return
            if isinstance(inp, tuple):
                inp = inp[0]
            inp = inp.view(inp.size(0), -1)
            x = (inp > 0).float()
            K = x @ x.t()
            K2 = (1.0 - x) @ (1.0 - x.t())
            network.K = network.K + K.cpu().numpy() + K2.cpu().numpy()
        except AttributeError:
            pass

    def counting_backward_hook(module, inp, out):
        module.visited_backwards = True

    for _name, module in network.named_modules():
        if "ReLU" in str(type(module)):
            module.register_forward_hook(counting_forward_hook)
            module.register_full_backward_hook(counting_backward_hook)
    x2 = torch.clone(x)
    x = x.clone().requires_grad_(True)
    y = network(x)
    y.backward(torch.ones_like(y))
    network(x2)
    _s, ld = np.linalg.slogdet(network.K)
    return float(ld)


def official_jacob_cov(network: nn.Module, x: torch.Tensor) -> float:
    """v1 eval_score on the input Jacobian of the summed logits (network in its default train mode)."""
    network = copy.deepcopy(network).train()
    network.zero_grad()
    x = x.clone().requires_grad_(True)
    y = network(x)
    y.backward(torch.ones_like(y))
    jacob = x.grad.detach().reshape(x.size(0), -1).numpy()
    corrs = np.corrcoef(jacob)
    v, _ = np.linalg.eig(corrs)
    k = 1e-5
    return float(np.real(-np.sum(np.log(v + k) + 1.0 / (v + k))))


@pytest.fixture(scope="module")
def batch():
    return gradsign_batch(32, 32)[0]


@pytest.mark.parametrize("arch", CELLS)
def test_v2_equals_official_hook_logdet(arch, batch):
    graph, model = nb201(arch, seed=2)
    x = batch[:16]
    ours = naswot(model, x)
    assert ours.score == pytest.approx(official_hook_logdet(model, x), rel=1e-10)
    # ReLUConvBN wrappers count as the official test matches 'ReLU' in the class name
    relus = [m for m in model.modules() if "ReLU" in type(m).__name__]
    assert ours.n_relu == len(relus) > sum(isinstance(m, nn.ReLU) for m in model.modules())
    assert ours.variant == "v2" and ours.batch_size == 16 and ours.message == ""
    assert naswot(graph, x, seed=2).score == ours.score


@pytest.mark.parametrize("arch", CELLS[:2])
def test_v1_equals_official_jacob_cov(arch, batch):
    _, model = nb201(arch, seed=4)
    ours = naswot(model, batch, variant="v1")
    assert ours.score == pytest.approx(official_jacob_cov(model, batch), rel=1e-6)


class Branchy(nn.Module):
    """A ReLU branch that never reaches the output must not count (the official 'visited' rule)."""

    def __init__(self, dead_branch: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        self.dead = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU()) if dead_branch else None
        self.fc = nn.Linear(4 * 8 * 8, 3)

    def forward(self, x):
        h = self.relu(self.conv(x))
        if self.dead is not None:
            self.dead(h)  # computed, discarded
        return self.fc(h.flatten(1))


def test_unvisited_relu_is_ignored_and_permutation_invariance():
    x = torch.randn(12, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    plain = Branchy(dead_branch=False)
    torch.manual_seed(0)
    dead = Branchy(dead_branch=True)
    a, b = naswot(plain, x), naswot(dead, x)
    assert a.score == b.score and a.n_relu == b.n_relu == 1
    assert b.score == pytest.approx(official_hook_logdet(dead, x), rel=1e-12)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    assert naswot(plain, x[perm]).score == pytest.approx(a.score, rel=1e-12)  # det(P K P^T) = det K


def test_errors_and_caller_model_untouched(batch):
    no_relu = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    with pytest.raises(ProxyError, match="ReLU"):
        naswot(no_relu, batch[:4])
    with pytest.raises(ProxyError, match="variant"):
        naswot(no_relu, batch[:4], variant="v3")
    with pytest.raises(ProxyError, match=r"\[N, C, H, W\]"):
        naswot(no_relu, batch[0])
    with pytest.raises(ProxyError, match="at least 2"):
        naswot(no_relu, batch[:1])
    graph, model = nb201(CELLS[0])
    with pytest.raises(ProxyError, match="channels"):
        naswot(graph, batch[:4, :2])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    naswot(model, batch[:4])
    naswot(model, batch[:4], variant="v1")
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks for m in model.modules())


@pytest.mark.slow
def test_v1_reproduces_published_scores():
    """NASWOT's own per-cell v1 scores (full network, batch 256): a well-conditioned cell lands within
    a few per cent of the published value (the spread over init seeds is ~1 %), a poor one far below."""
    shared_file("cifar10", "cifar10_train_first1000.npz")
    with open(shared_file("nb201", "nb201_cifar10_200ep.csv"), newline="") as f:
        rows = {r["arch_index"]: r for r in csv.DictReader(f)}
    images, _ = gradsign_batch(256, 32, augment=True, seed=0)
    ours = {}
    for idx in ("544", "2251"):
        graph = NB201Space().encode({"arch_str": rows[idx]["arch_str"]})
        ours[idx] = naswot(graph, images, variant="v1", seed=0).score
    published = {k: float(rows[k]["naswot_v1_score"]) for k in ours}
    assert ours["544"] == pytest.approx(published["544"], rel=0.03)
    assert ours["2251"] < 3 * ours["544"] and published["2251"] < 3 * published["544"]
