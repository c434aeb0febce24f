"""Elastic supernet: extraction equals the supernet, counts match the core, channel sorting, BN stats."""

from __future__ import annotations

import pytest
import torch

from explorer.arch import count_complexity
from explorer.errors import ConfigError
from explorer.supernet.bn_calib import recalibrate_bn
from explorer.supernet.extract import extract_graph, extract_static
from explorer.supernet.ofa_mbv3 import OFAMobileNetV3
from explorer.supernet.static_net import count_macs, count_params

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


def _randomise(net: OFAMobileNetV3, seed: int = 0) -> OFAMobileNetV3:
    """Random BN statistics/affine and non-identity kernel transforms, so slicing errors show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g) * 0.1)
        for b in net.blocks:
            b.depth_conv.matrix_7to5.add_(torch.randn(25, 25, generator=g) * 0.05)
            b.depth_conv.matrix_5to3.add_(torch.randn(9, 9, generator=g) * 0.05)
    return net.eval()


@pytest.fixture(scope="module")
def net10():
    torch.manual_seed(0)
    return _randomise(OFAMobileNetV3("ofa-mbv3-w1.0", 10, resolutions=[32, 48]))


def test_reference_sizes_match_official():
    net = OFAMobileNetV3("ofa-mbv3-w1.0", 1000)
    assert count_params(net) == 7_678_880  # official full supernet: 7.68M
    net.set_max()
    assert count_params(extract_static(net)) == 7_664_760
    assert round(count_macs(extract_static(net), 200) / 1e6, 1) == 479.5
    net.set_min()
    assert count_params(extract_static(net)) == 3_410_792


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_extracted_static_and_graph_equal_supernet(net10, seed):
    cfg = net10.sample_config(seed, resolutions=[32])
    if seed == 0:
        cfg = net10.max_config() | {"r": 32}
    elif seed == 1:
        cfg = net10.min_config() | {"r": 32}
    net10.set_active(cfg)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        ref = net10(x)
        static = extract_static(net10).eval()
        graph, model = extract_graph(net10)
        model.eval()
        assert (static(x) - ref).abs().max().item() <= 1e-5
        assert (model(x) - ref).abs().max().item() <= 1e-5
    c = count_complexity(graph)
    assert c.params == count_params(static) == count_params(model)
    assert c.macs == count_macs(static, 32)
    assert graph.meta["config"]["d"] == cfg["d"]


def test_kernel_transform_starts_as_centre_crop():
    net = OFAMobileNetV3("ofa-mbv3-w1.0", 10, resolutions=[32])
    b = net.blocks[0]
    w7 = b.depth_conv.conv.weight
    b.active_kernel = 5
    assert torch.equal(b.active_dw_kernel(), w7[: b.active_mid, :, 1:6, 1:6])
    b.active_kernel = 3
    assert torch.equal(b.active_dw_kernel(), w7[: b.active_mid, :, 2:5, 2:5])
    # a trained matrix changes the small kernel (the transform is really applied)
    with torch.no_grad():
        b.depth_conv.matrix_5to3.mul_(2.0)
    assert torch.allclose(b.active_dw_kernel(), 2 * w7[: b.active_mid, :, 2:5, 2:5])


@pytest.mark.parametrize("stage", [0, 1])
def test_channel_sorting_keeps_the_full_net(net10, stage):
    net = OFAMobileNetV3("ofa-mbv3-w1.0", 10, resolutions=[32])
    net.load_state_dict(net10.state_dict())
    net.eval().set_max()
    net.active_resolution = 32
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = net(x)
        imp_before = net.blocks[5].point_linear.conv.weight.abs().sum(dim=(0, 2, 3))
        net.sort_channels(stage)
        after = net(x)
    assert (after - before).abs().max().item() <= 1e-4
    imp = net.blocks[5].point_linear.conv.weight.abs().sum(dim=(0, 2, 3))
    assert torch.allclose(imp.sort().values, imp_before.sort().values)
    if stage == 0:
        assert torch.all(imp[:-1] >= imp[1:])  # descending importance
    else:  # sorted within the width groups (OFA's offsets)
        from explorer.spaces.ofa_geometry import middle_channels

        w4 = middle_channels(net.blocks[5].in_channels, 4)
        assert torch.all(imp[: w4 - 1] >= imp[1:w4])


def test_config_outside_space_is_rejected(net10):
    bad = net10.max_config() | {"ks": [9] * 20}
    with pytest.raises(ConfigError):
        net10.set_active(bad)
    with pytest.raises(ConfigError):
        net10.set_active({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 4, "r": 32})
    with pytest.raises(ConfigError):
        net10.set_active(net10.max_config() | {"r": 33})


def test_sample_active_is_seeded(net10):
    a = net10.sample_active(7)
    assert net10.active_config() == a
    assert net10.sample_config(7) == a and net10.sample_config(8) != a


def test_bn_recalibration_uses_batch_statistics(net10):
    net10.set_active(net10.min_config() | {"r": 32})
    static = extract_static(net10)
    x = torch.randn(12, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 + 1
    recalibrate_bn(static, [x[:6], x[6:]])
    # stem BN sees the stem conv output: running stats = mean over batches of the batch mean / biased var
    with torch.no_grad():
        ys = [static.stem.conv(x[:6]), static.stem.conv(x[6:])]
    mean = sum(y.mean(dim=(0, 2, 3)) for y in ys) / 2
    var = sum(y.var(dim=(0, 2, 3), unbiased=False) for y in ys) / 2
    assert torch.allclose(static.stem.bn.running_mean, mean, atol=1e-5)
    assert torch.allclose(static.stem.bn.running_var, var, atol=1e-4)
    assert not static.training
    # on the supernet only the active prefix of a BN changes
    b = net10.blocks[0].inverted_bottleneck.bn
    tail = b.running_mean[net10.blocks[0].active_mid :].clone()
    recalibrate_bn(net10, [x])
    assert torch.equal(b.running_mean[net10.blocks[0].active_mid :], tail)
    assert "forward" not in b.__dict__  # patched forwards removed
