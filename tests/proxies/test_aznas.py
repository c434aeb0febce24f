"""AZ-NAS components equal a literal re-statement of the official NB201 code; block features; aggregation."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from explorer.arch import build_model, count_complexity
from explorer.proxies import AZNASResult, ProxyError, aznas, aznas_scores
from explorer.proxies.aznas import graph_feature_modules
from explorer.spaces.nb201 import NB201Space
from tests.proxies.cells import CELLS, nb201

IDENTITY_CELL = "|skip_connect~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
DEAD_CELL = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def official_cell_names(n: int) -> list[str]:
    """TinyNetwork.extract_cell_features: the stem, then every cell and reduction block, in order."""
    names = ["stem"]
    for s in (1, 2, 3):
        if s > 1:
            names.append(f"reduce{s - 1}")
        names += [f"s{s}c{c}_n3" for c in range(n)]
    return names


def kaiming_normal_fanin_init(m):
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        if hasattr(m, "bias") and m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def official_az_nas(model, names, batch_size, seed, resolution=32):
    """compute_az_nas_score.compute_nas_score on the global RNG after torch.manual_seed(seed)."""
    model = copy.deepcopy(model)
    model.train()
    torch.manual_seed(seed)
    model.apply(kaiming_normal_fanin_init)
    input_ = torch.randn(size=[batch_size, 3, resolution, resolution])
    got = {}
    hooks = [model.layers[n].register_forward_hook(lambda m, i, o, n=n: got.__setitem__(n, o)) for n in names]
    model(input_)
    for h in hooks:
        h.remove()
    layer_features = [got[n] for n in names]
    for f in layer_features:
        f.retain_grad()

    expressivity_scores = []
    for i in range(len(layer_features)):
        feat = layer_features[i].detach().clone()
        b, c, h, w = feat.size()
        feat = feat.permute(0, 2, 3, 1).contiguous().view(b * h * w, c)
        m = feat.mean(dim=0, keepdim=True)
        feat = feat - m
        sigma = torch.mm(feat.transpose(1, 0), feat) / (feat.size(0))
        s = torch.linalg.eigvalsh(sigma)
        prob_s = s / s.sum()
        score = (-prob_s) * torch.log(prob_s + 1e-8)
        expressivity_scores.append(score.sum().item())
    expressivity_scores = np.array(expressivity_scores)
    progressivity = np.min(expressivity_scores[1:] - expressivity_scores[:-1])
    expressivity = np.sum(expressivity_scores)

    scores = []
    for i in reversed(range(1, len(layer_features))):
        f_out = layer_features[i]
        f_in = layer_features[i - 1]
        g_out = torch.ones_like(f_out) * 0.5
        g_out = (torch.bernoulli(g_out) - 0.5) * 2
        g_in = torch.autograd.grad(outputs=f_out, inputs=f_in, grad_outputs=g_out, retain_graph=False)[0]
        if g_out.size() == g_in.size() and torch.all(g_in == g_out):
            scores.append(-np.inf)
        else:
            if g_out.size(2) != g_in.size(2) or g_out.size(3) != g_in.size(3):
                bo, co, ho, wo = g_out.size()
                bi, ci, hi, wi = g_in.size()
                stride = int(hi / ho)
                g_in = nn.PixelUnshuffle(stride)(g_in)
            bo, co, ho, wo = g_out.size()
            bi, ci, hi, wi = g_in.size()
            g_out = g_out.permute(0, 2, 3, 1).contiguous().view(bo * ho * wo, co)
            g_in = g_in.permute(0, 2, 3, 1).contiguous().view(bi * hi * wi, ci)
            mat = torch.mm(g_in.transpose(1, 0), g_out) / (bo * ho * wo)
            if mat.size(0) < mat.size(1):
                mat = mat.transpose(0, 1)
            s = torch.linalg.svdvals(mat)
            scores.append(-s.max().item() - 1 / (s.max().item() + 1e-6) + 2)
    trainability = np.mean(scores)
    return {
        "expressivity": float(expressivity) if not np.isnan(expressivity) else -np.inf,
        "progressivity": float(progressivity) if not np.isnan(progressivity) else -np.inf,
        "trainability": float(trainability) if not np.isnan(trainability) else -np.inf,
    }


@pytest.mark.parametrize("arch", CELLS)
def test_components_equal_official(arch):
    graph, model = nb201(arch, seed=4)
    ours = aznas(model, batch_size=8, seed=11)
    ref = official_az_nas(model, official_cell_names(1), batch_size=8, seed=11)
    for k, v in ref.items():
        assert getattr(ours, k) == pytest.approx(v, rel=1e-5, abs=1e-6), k
    assert ours.complexity == count_complexity(graph).macs
    assert ours.n_features == 6 and ours.batch_size == 8 and ours.resolution == 32
    assert aznas(graph, batch_size=8, seed=11) == ours  # re-initialised: the build seed does not matter


def test_feature_points_of_the_standard_network_are_stem_cells_and_reductions():
    graph = NB201Space().encode({"arch_str": CELLS[2]})
    model = build_model(graph)
    names = {id(m): n for n, m in model.layers.items()}
    assert [names[id(m)] for m in graph_feature_modules(model)] == official_cell_names(5)


def test_identity_and_dead_cells_follow_the_official_minus_inf_rules():
    ident = aznas(nb201(IDENTITY_CELL, n=2)[0], batch_size=4)
    assert ident.trainability == -math.inf  # an identity cell passes g_out through unchanged
    assert math.isfinite(ident.expressivity)
    dead = aznas(nb201(DEAD_CELL)[0], batch_size=4)
    assert dead.expressivity == -math.inf and dead.progressivity == -math.inf  # 0/0 spectra -> NaN -> -inf
    assert math.isfinite(dead.trainability)


class Blocks(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
        self.b = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16))
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        return self.head(self.b(self.a(x)).mean((2, 3)))


def test_plain_modules_need_their_blocks():
    torch.manual_seed(0)
    net = Blocks()
    with pytest.raises(ProxyError, match="feature_modules"):
        aznas(net, batch_size=4, resolution=8)
    r = aznas(net, batch_size=4, resolution=8, feature_modules=[net.a, net.b])
    assert r.n_features == 2 and r.complexity == 3 * 8 * 9 * 64 + 8 * 16 * 9 * 16 + 16 * 4
    kept = aznas(net, batch_size=4, resolution=8, feature_modules=[net.a, net.b], init="none")
    seq = aznas(nn.Sequential(net.a, net.b), batch_size=4, resolution=8, init="none")  # children = blocks
    assert seq.expressivity == kept.expressivity and seq.trainability == kept.trainability
    with pytest.raises(ProxyError, match="two block"):
        aznas(net, batch_size=4, resolution=8, feature_modules=[net.a])
    with pytest.raises(ProxyError, match=r"\[N, C, H, W\]"):
        aznas(net, batch_size=4, resolution=8, feature_modules=[net.a, net.head])


def test_seed_init_and_caller_model_untouched():
    _, model = nb201(CELLS[0])
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = aznas(model, batch_size=4)
    assert a == aznas(model, batch_size=4)
    assert a != aznas(model, batch_size=4, seed=1)
    kept = aznas(model, batch_size=4, init="none")
    assert kept.expressivity != pytest.approx(a.expressivity, rel=1e-4) and kept.init == "none"
    assert not model.training and all(p.grad is None for p in model.parameters())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ProxyError, match="init"):
        aznas(model, init="xavier")
    with pytest.raises(ProxyError, match="batch"):
        aznas(model, batch_size=1)


def official_rank_agg(components: dict[str, list[float]], flops: list[float]) -> np.ndarray:
    """tss_general.ipynb: log(rankdata(FLOPs)/l) + sum over the proxies of log(rankdata(score)/l)."""
    l = len(flops)
    rank_agg = np.log(stats.rankdata(flops) / l)
    for k in components:
        rank_agg = rank_agg + np.log(stats.rankdata(components[k]) / l)
    return rank_agg


def test_aggregation_equals_official_formula():
    rng = np.random.default_rng(0)
    m = 40
    comps = {
        "expressivity": list(rng.normal(size=m)),
        "progressivity": list(np.round(rng.normal(size=m), 1)),  # ties
        "trainability": list(np.where(rng.random(m) < 0.2, -np.inf, rng.normal(size=m))),  # -inf ties
    }
    flops = list(rng.integers(1, 6, size=m).astype(float))  # many equal FLOPs, as in NB201
    results = [
        AZNASResult(
            comps["expressivity"][i],
            comps["progressivity"][i],
            comps["trainability"][i],
            flops[i],
            18,
            64,
            32,
            "kaiming",
            0,
        )
        for i in range(m)
    ]
    ours = aznas_scores(results)
    np.testing.assert_allclose(ours, official_rank_agg(comps, flops), rtol=1e-12)
    assert aznas_scores([r.components for r in results]) == ours
    with pytest.raises(ProxyError, match="complexity"):
        aznas_scores([{"expressivity": 1.0}])


def test_aggregation_on_real_cells_ranks_the_dead_cell_last():
    """The cell that carries nothing is last on every component, so last with log(1/4) each."""
    results = [aznas(nb201(a)[0], batch_size=4) for a in (*CELLS, DEAD_CELL)]
    scores = aznas_scores(results)
    assert len(scores) == 4 and max(scores) <= 0
    assert scores[3] == pytest.approx(4 * math.log(1 / 4)) and min(scores[:3]) > scores[3]


def test_trainability_pairs_odd_sizes_by_zero_padding():
    """A stride-2 conv maps 5x5 to 3x3 (an OFA subnet at r=164): the official pixel_unshuffle
    cannot pair the maps; we zero-pad the input gradient to 6x6 first. The term equals the one
    computed by hand on the padded gradient, and an even size is left as the official code does."""
    import torch.nn.functional as F

    from explorer.proxies.aznas import trainability_term

    conv = torch.nn.Conv2d(4, 6, 3, stride=2, padding=1)
    for size, out in ((5, 3), (6, 3)):
        f_in = torch.randn(2, 4, size, size, requires_grad=True)
        f_out = conv(f_in)
        assert f_out.shape[2] == out
        got = trainability_term(f_in, f_out, torch.Generator().manual_seed(0))
        g = torch.Generator().manual_seed(0)
        f_out2 = conv(f_in)
        g_out = (torch.bernoulli(torch.full_like(f_out2, 0.5), generator=g) - 0.5) * 2
        (g_in,) = torch.autograd.grad(f_out2, f_in, g_out)
        g_in = F.pixel_unshuffle(F.pad(g_in, (0, 2 * out - size, 0, 2 * out - size)), 2)
        gi = g_in.permute(0, 2, 3, 1).reshape(-1, g_in.shape[1])
        go = g_out.permute(0, 2, 3, 1).reshape(-1, g_out.shape[1])
        s = float(torch.linalg.svdvals(gi.t() @ go / go.shape[0]).max())
        assert math.isfinite(got) and got == pytest.approx(-s - 1 / (s + 1e-6) + 2, rel=1e-6)


def test_ofa_subnets_at_resolutions_not_divisible_by_32_get_all_components():
    from explorer.proxies.aznas import aznas
    from explorer.spaces import get_space

    sp = get_space("ofa-mbv3-w1.0")
    g = sp.encode(dict(sp.sample(3), r=164))
    r = aznas(g, batch_size=16, resolution=84)  # 42, 21, 11, 6, 3: two odd halvings
    assert all(math.isfinite(getattr(r, c)) for c in ("expressivity", "progressivity", "trainability"))


def test_expressivity_of_a_rank_deficient_feature_is_its_spectrum_entropy_not_nan():
    """16 x 2 x 2 positions for 160 channels: the covariance is singular, rounding gives slightly
    negative eigenvalues, the official log would give NaN (-> -inf). Clamped, the entropy is that
    of the positive part of the spectrum; a dead (all-zero) feature stays NaN."""
    from explorer.proxies.aznas import entropy_of_spectrum

    torch.manual_seed(0)
    f = torch.randn(16, 160, 2, 2)
    e = entropy_of_spectrum(f)
    feat = f.permute(0, 2, 3, 1).reshape(64, 160)
    feat = feat - feat.mean(0, keepdim=True)
    s = torch.linalg.eigvalsh(feat.t() @ feat / 64).double()
    s = s[s > 1e-6 * s.max()]
    p = s / s.sum()
    assert math.isfinite(e) and e == pytest.approx(float(-(p * torch.log(p + 1e-8)).sum()), rel=1e-4)
    assert math.isnan(entropy_of_spectrum(torch.zeros(4, 8, 3, 3)))
