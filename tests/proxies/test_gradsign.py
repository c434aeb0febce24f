"""GradSign: the exact loop equals an official-style N x D reference; the fast path agrees within 1e-3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.proxies import ProxyError, gradsign


def official_style(model: nn.Module, images, labels) -> int:
    """Hand-written reference: per-sample loop, stack an N x D gradient matrix, sum signs."""
    model = __import__("copy").deepcopy(model).train()
    weights = [m.weight for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    rows = []
    for i in range(len(images)):
        model.zero_grad()
        F.cross_entropy(model(images[i : i + 1]), labels[i : i + 1]).backward()
        rows.append(
            torch.cat([(w.grad if w.grad is not None else torch.zeros_like(w)).flatten() for w in weights])
        )
    direction = np.abs(np.sign(torch.stack(rows).numpy()).sum(axis=0))  # numpy keeps sign(NaN) = NaN
    return int(np.nansum(direction))


class BNNet(nn.Module):
    """Stem, depthwise (stride 2), grouped conv with affine-free BN, pointwise, residual add, linear."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, 2, 1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.grouped = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=2), nn.BatchNorm2d(8, affine=False), nn.ReLU()
        )
        self.pw = nn.Sequential(
            nn.Conv2d(8, 12, 1, bias=False), nn.BatchNorm2d(12, track_running_stats=False)
        )
        self.proj = nn.Conv2d(8, 12, 1, bias=False)
        self.reflect = nn.Conv2d(12, 12, 3, padding=1, padding_mode="reflect")
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        x = self.dw(self.stem(x))
        y = self.pw(self.grouped(x)) + self.proj(x)  # residual add
        y = F.relu(self.reflect(y))
        return self.fc(y.mean((2, 3)))


class SharedNet(nn.Module):
    """One conv applied twice (weight sharing), an unused conv, squeeze-excitation (1x1 convs on a 1x1
    map), linear on a [N, L, C] input."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 6, 3, padding=1)
        self.shared = nn.Conv2d(6, 6, 3, padding=1)
        self.unused = nn.Conv2d(6, 6, 1)
        self.bn = nn.BatchNorm2d(6)
        self.se = nn.Sequential(nn.Conv2d(6, 3, 1), nn.ReLU(), nn.Conv2d(3, 6, 1), nn.Sigmoid())
        self.tok = nn.Linear(6, 6)
        self.fc = nn.Linear(6, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.stem(x)))
        x = F.relu(self.shared(F.relu(self.shared(x))))
        x = x * self.se(x.mean((2, 3), keepdim=True))
        t = self.tok(x.flatten(2).transpose(1, 2))  # [N, H*W, C]
        return self.fc(t.mean(1))


def _batch(n=12, res=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, res, res, generator=g), torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize("net", [BNNet, SharedNet])
def test_exact_equals_reference_and_fast_agrees(net):
    torch.manual_seed(0)
    model = net()
    x, y = _batch()
    ref = official_style(model, x, y)
    exact = gradsign(model, x, y, method="exact")
    fast = gradsign(model, x, y, method="fast")
    assert exact.score == ref
    assert isinstance(exact.score, int) and isinstance(fast.score, int)
    assert fast.score == pytest.approx(ref, rel=1e-3)
    assert exact.n_weights == sum(
        m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))
    )
    assert 0 < ref <= len(x) * exact.n_weights


def test_fast_path_chunks_agree():
    torch.manual_seed(1)
    model = BNNet()
    x, y = _batch(n=10)
    a = gradsign(model, x, y, memory_mb=0.05)  # one or two samples per chunk
    b = gradsign(model, x, y, memory_mb=1000)
    assert a.score == pytest.approx(b.score, rel=1e-3)


def test_nan_coordinates_are_dropped():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 36, 10))
    x, y = _batch(n=4)
    x[1, 0, 0, 0] = float("nan")  # poisons every gradient of sample 1 that touches the NaN pixel
    ref = official_style(model, x, y)
    exact = gradsign(model, x, y, method="exact")
    assert exact.score == ref and exact.nan_dropped > 0
    fast = gradsign(model, x, y, method="fast")
    assert fast.score == pytest.approx(ref, rel=1e-3) and fast.nan_dropped == exact.nan_dropped


def test_caller_model_untouched():
    torch.manual_seed(3)
    model = BNNet().eval()
    model.fc.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = _batch(n=4)
    for method in ("fast", "exact"):
        gradsign(model, x, y, method=method)
    assert not model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not model.fc.weight.requires_grad and model.stem[0].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())
    assert "forward" not in model.stem[1].__dict__ and not model.stem[0]._forward_hooks


def test_same_input_same_score():
    torch.manual_seed(4)
    model = SharedNet()
    x, y = _batch(n=6)
    assert gradsign(model, x, y) == gradsign(model, x, y)


def test_errors():
    x, y = _batch(n=4)
    features_only = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    for method in ("fast", "exact"):
        with pytest.raises(ProxyError, match=r"\[N, classes\]"):
            gradsign(features_only, x, y, method=method)
    bn1d = nn.Sequential(nn.Flatten(), nn.Linear(192, 8), nn.BatchNorm1d(8), nn.Linear(8, 10))
    for method in ("fast", "exact"):
        with pytest.raises(ProxyError, match="one sample"):
            gradsign(bn1d, x, y, method=method)
    model = SharedNet()
    with pytest.raises(ProxyError, match="labels"):
        gradsign(model, x, y + 10)
    with pytest.raises(ProxyError):
        gradsign(model, x, y[:2])
    with pytest.raises(ProxyError):
        gradsign(model, x, y, method="vmap")
    with pytest.raises(ProxyError):
        gradsign(nn.Sequential(nn.ReLU()), x, y)


def test_archgraph_seeded_default_init():
    from explorer.arch import build_model
    from explorer.spaces.nb201 import NB201Space

    space = NB201Space(channels=4, cells_per_stage=1, resolution=8)
    arch = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|"
    graph = space.encode({"arch_str": arch})
    x, y = _batch(n=6)
    a = gradsign(graph, x, y, seed=5, method="exact")
    assert a.score == official_style(build_model(graph, seed=5), x, y)
    assert gradsign(graph, x, y, seed=5).score == pytest.approx(a.score, rel=1e-3)
    assert gradsign(graph, x, y, seed=6, method="exact").score != a.score
