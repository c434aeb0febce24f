"""Zen-Score follows the official procedure: hand computation, BN-term variants, determinism, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from explorer.proxies import ProxyError, zen_score


class Tiny(nn.Module):
    """conv(bias) -> BN -> ReLU -> conv stride 2 -> BN -> ReLU; then GAP + linear."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=True)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 10)

    def forward_features(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))

    def forward(self, x):
        return self.fc(self.forward_features(x).mean((2, 3)))


class Plain(nn.Module):
    """`depth` 3x3 convs (C channels) with ReLU, BN optional, to study the BN term and overflow."""

    def __init__(self, depth=4, channels=16, bn=True, final_bn=False):
        super().__init__()
        layers, c = [], 3
        for _ in range(depth):
            layers += [nn.Conv2d(c, channels, 3, padding=1, bias=False)]
            layers += [nn.BatchNorm2d(channels)] if bn else []
            layers += [nn.ReLU()]
            c = channels
        if final_bn:
            layers += [nn.BatchNorm2d(channels)]
        self.body = nn.Sequential(*layers)

    def forward_features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.body(x).mean((2, 3))


def _conv(x, w, stride, padding):
    """Convolution as explicit patch extraction and a matrix product."""
    n, _, h, _ = x.shape
    cols = F.unfold(x, w.shape[-2:], padding=padding, stride=stride)  # [n, cin*k*k, L]
    out = w.reshape(w.shape[0], -1) @ cols  # [n, cout, L]
    ho = (h + 2 * padding - w.shape[-1]) // stride + 1
    return out.reshape(n, w.shape[0], ho, ho)


def _bn_train(x, rv):
    """Train-mode BN with weight 1, bias 0, eps 1e-5; returns output and updated running_var."""
    mean = x.mean(dim=(0, 2, 3), keepdim=True)
    var = ((x - mean) ** 2).mean(dim=(0, 2, 3), keepdim=True)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    unbiased = var.flatten() * m / (m - 1)
    return (x - mean) / torch.sqrt(var + 1e-5), 0.9 * rv + 0.1 * unbiased, var.flatten()


def _hand_zen(seed, batch, res, gamma=1e-2):
    g = torch.Generator().manual_seed(seed)
    w1 = torch.randn(8, 3, 3, 3, generator=g)  # modules() order: conv1, bn1, conv2, bn2, fc
    w2 = torch.randn(16, 8, 3, 3, generator=g)
    torch.randn(10, 16, generator=g)  # the classifier is re-initialised too (consumes the stream)
    x = torch.randn(batch, 3, res, res, generator=g)
    eps = torch.randn(batch, 3, res, res, generator=g)
    rv1, rv2 = torch.ones(8), torch.ones(16)
    feats, batch_vars = [], []
    for inp in (x, x + gamma * eps):
        h, rv1, v1 = _bn_train(_conv(inp, w1, 1, 1), rv1)
        h, rv2, v2 = _bn_train(_conv(h.clamp(min=0), w2, 2, 1), rv2)
        feats.append(h.clamp(min=0))
        batch_vars.append((v1, v2))
    delta = (feats[0] - feats[1]).abs().sum(dim=(1, 2, 3)).mean()
    running = math.log(delta) + sum(0.5 * math.log(float(rv.mean())) for rv in (rv1, rv2))
    batch_term = sum(0.5 * math.log(float(v.mean())) for v in batch_vars[0])
    return running, math.log(delta) + batch_term


def test_tiny_net_equals_hand_computation():
    torch.manual_seed(1)
    model = Tiny()
    running, batch = _hand_zen(seed=7, batch=6, res=8)
    r = zen_score(model, batch_size=6, resolution=8, seed=7)
    b = zen_score(model, batch_size=6, resolution=8, seed=7, bn_variance="batch")
    assert r.score == pytest.approx(running, abs=2e-5)
    assert b.score == pytest.approx(batch, abs=2e-5)
    assert r.bn_variance == "running" and r.batch_size == 6 and r.resolution == 8 and not r.overflow


def _official_style(model, batch, res, seed, repeats=1, gamma=1e-2):
    """The official loop on the global RNG (torch.manual_seed), for an RNG-stream comparison."""
    torch.manual_seed(seed)
    scores = []
    with torch.no_grad():
        for _ in range(repeats):
            for m in model.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.normal_(m.weight)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
                elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            x = torch.randn(batch, 3, res, res)
            mix = torch.randn(batch, 3, res, res)
            out = model.forward_features(x)
            out_mix = model.forward_features(x + gamma * mix)
            s = torch.log(torch.mean(torch.sum(torch.abs(out - out_mix), dim=[1, 2, 3])))
            for m in model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    s = s + torch.log(torch.sqrt(torch.mean(m.running_var)))
            scores.append(float(s))
    return sum(scores) / len(scores)


def test_matches_official_loop_with_same_stream():
    torch.manual_seed(0)
    model = Plain(depth=3, channels=8)
    ref = _official_style(Plain(depth=3, channels=8).train(), batch=8, res=16, seed=11, repeats=3)
    ours = zen_score(model, batch_size=8, resolution=16, seed=11, repeats=3)
    assert ours.score == pytest.approx(ref, abs=1e-4)
    assert len(ours.per_repeat) == 3 and ours.std > 0


def test_running_vs_batch_bn_term_as_notes_predict():
    """One repeat on a fresh net: running var = 0.81 + 0.19 v, so ~0.6-0.8 nats/BN below the batch term
    for wide layers; the batch term stays put over repeats while the running term drifts up."""
    model = Plain(depth=4, channels=32)
    n_bn = 4
    run = zen_score(model, batch_size=16, resolution=16, repeats=4, seed=3)
    bat = zen_score(model, batch_size=16, resolution=16, repeats=4, seed=3, bn_variance="batch")
    gap = (bat.per_repeat[0] - run.per_repeat[0]) / n_bn
    assert 0.55 < gap < 0.85
    assert all(b > a for a, b in zip(run.per_repeat, run.per_repeat[1:]))  # EMA drifts toward v
    assert max(bat.per_repeat) - min(bat.per_repeat) < 0.5 * (run.per_repeat[-1] - run.per_repeat[0])


def test_caller_model_untouched():
    torch.manual_seed(0)
    model = Tiny().eval()
    model.bn1.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ptrs = {k: v.data_ptr() for k, v in model.state_dict().items()}
    weight = model.conv1.weight
    zen_score(model, batch_size=4, resolution=8, repeats=2, bn_variance="batch")
    assert not model.training and model.bn1.training and not model.bn2.training
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) and after[k].data_ptr() == ptrs[k] for k in before)
    assert model.conv1.weight is weight and weight.grad is None and weight.requires_grad
    assert not model.bn1._forward_pre_hooks


def test_same_seed_same_score_other_seed_differs():
    model = Tiny()
    a = zen_score(model, batch_size=4, resolution=8, seed=5)
    b = zen_score(model, batch_size=4, resolution=8, seed=5)
    c = zen_score(model, batch_size=4, resolution=8, seed=6)
    assert a == b
    assert a.score != c.score


class Scaled(nn.Module):
    """conv -> ReLU -> x * factor (-> BN): huge but controlled activations."""

    def __init__(self, factor, bn):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.factor = factor
        self.bn = nn.BatchNorm2d(4) if bn else nn.Identity()

    def forward_features(self, x):
        return self.bn(F.relu(self.conv(x)) * self.factor)


def test_nan_features_raise():
    with pytest.raises(ProxyError, match="NaN/inf"):
        zen_score(Scaled(1e38, bn=False), batch_size=2, resolution=8)


def test_overflowing_bn_variance_is_reported():
    r = zen_score(Scaled(1e25, bn=True), batch_size=2, resolution=8)  # finite features, BN input var > 3e38
    assert r.overflow and r.score == math.inf and "overflow" in r.message


def test_bad_arguments():
    model = Tiny()
    with pytest.raises(ProxyError):
        zen_score(model, bn_variance="paper")
    with pytest.raises(ProxyError):
        zen_score(model, batch_size=1)
    with pytest.raises(ProxyError):
        zen_score(model, repeats=0)
    with pytest.raises(ProxyError, match="forward_features"):
        zen_score(nn.Sequential(nn.Conv2d(3, 4, 3)), batch_size=2, resolution=8)
    with pytest.raises(ProxyError, match="ArchGraph"):
        zen_score("not a model")


def test_archgraph_uses_residual_free_build():
    from explorer.arch import build_model
    from explorer.spaces.nb201 import NB201Space

    arch = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
    graph = NB201Space(channels=4, cells_per_stage=1, resolution=8).encode({"arch_str": arch})
    r = zen_score(graph, batch_size=4, seed=2)
    assert r.resolution == graph.input_shape[1] == 8 and math.isfinite(r.score)
    plain = zen_score(build_model(graph, residual_free=True, seed=2), batch_size=4, resolution=8, seed=2)
    shortcuts = zen_score(build_model(graph, residual_free=False, seed=2), batch_size=4, resolution=8, seed=2)
    assert r.score == pytest.approx(plain.score, abs=1e-9)
    assert r.score != pytest.approx(shortcuts.score, abs=1e-3)
