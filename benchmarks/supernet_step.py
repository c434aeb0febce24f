"""Throughput of progressive-shrinking steps and subnet training vs an official-style supernet.

The baseline re-implements OFA's dynamic layers the way the official code writes them
(`elastic_nn/modules/dynamic_op.py`, `dynamic_layers.py`): one wrapper module per op, weights
sliced and the kernel transform chain recomputed (with `.contiguous()` copies) inside every
forward, BN through a DynamicBatchNorm2d wrapper, the MBConv inside a ResidualBlock. Both nets
run the same computation (same geometry, same subnets, same teacher); both are timed in this run,
interleaved, medians reported.

    python benchmarks/supernet_step.py [--space ofa-mbv3-w1.0] [--reps 5] [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from explorer.spaces.ofa_geometry import MAX_DEPTH, N_BLOCKS, middle_channels, se_channels
from explorer.supernet.extract import extract_graph, extract_static
from explorer.supernet.ofa_mbv3 import OFAMobileNetV3, active_blocks, block_io
from explorer.supernet.trainer import soft_ce

# ---------------------------------------------------------------- official-style dynamic layers


def _hswish(x):
    return x * F.relu6(x + 3.0) / 6.0


class Hswish(nn.Module):
    def forward(self, x):
        return _hswish(x)


class Hsigmoid(nn.Module):
    def forward(self, x):
        return F.relu6(x + 3.0) / 6.0


def _sub(k, sk):
    c, d = k // 2, sk // 2
    return c - d, c + d + 1


class DynamicSeparableConv2d(nn.Module):
    def __init__(self, max_in, ks_list, stride):
        super().__init__()
        self.ks_list = sorted(ks_list)
        self.stride = stride
        self.conv = nn.Conv2d(max_in, max_in, max(ks_list), stride, groups=max_in, bias=False)
        self._ks_set = self.ks_list
        for i in range(len(self._ks_set) - 1):
            ks_small, ks_larger = self._ks_set[i], self._ks_set[i + 1]
            self.register_parameter(f"{ks_larger}to{ks_small}_matrix", nn.Parameter(torch.eye(ks_small**2)))
        self.active_kernel_size = max(ks_list)

    def get_active_filter(self, in_channel, kernel_size):
        out_channel = in_channel
        max_kernel_size = max(self.ks_list)
        start, end = _sub(max_kernel_size, kernel_size)
        filters = self.conv.weight[:out_channel, :in_channel, start:end, start:end]
        if kernel_size < max_kernel_size:
            start_filter = self.conv.weight[:out_channel, :in_channel, :, :]
            for i in range(len(self._ks_set) - 1, 0, -1):
                src_ks = self._ks_set[i]
                if src_ks <= kernel_size:
                    break
                target_ks = self._ks_set[i - 1]
                start, end = _sub(src_ks, target_ks)
                _input_filter = start_filter[:, :, start:end, start:end]
                _input_filter = _input_filter.contiguous()
                _input_filter = _input_filter.view(_input_filter.size(0), _input_filter.size(1), -1)
                _input_filter = _input_filter.view(-1, _input_filter.size(2))
                _input_filter = F.linear(_input_filter, getattr(self, f"{src_ks}to{target_ks}_matrix"))
                _input_filter = _input_filter.view(filters.size(0), filters.size(1), target_ks**2)
                _input_filter = _input_filter.view(filters.size(0), filters.size(1), target_ks, target_ks)
                start_filter = _input_filter
            filters = start_filter
        return filters

    def forward(self, x, kernel_size=None):
        if kernel_size is None:
            kernel_size = self.active_kernel_size
        in_channel = x.size(1)
        filters = self.get_active_filter(in_channel, kernel_size).contiguous()
        return F.conv2d(x, filters, None, self.stride, kernel_size // 2, 1, in_channel)


class DynamicConv2d(nn.Module):
    def __init__(self, max_in, max_out, kernel_size=1, stride=1):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride
        self.conv = nn.Conv2d(max_in, max_out, kernel_size, stride, bias=False)
        self.active_out_channel = max_out

    def forward(self, x, out_channel=None):
        if out_channel is None:
            out_channel = self.active_out_channel
        in_channel = x.size(1)
        filters = self.conv.weight[:out_channel, :in_channel, :, :].contiguous()
        return F.conv2d(x, filters, None, self.stride, self.kernel_size // 2, 1, 1)


class DynamicBatchNorm2d(nn.Module):
    def __init__(self, max_feature_dim):
        super().__init__()
        self.max_feature_dim = max_feature_dim
        self.bn = nn.BatchNorm2d(max_feature_dim)

    def forward(self, x):
        feature_dim = x.size(1)
        bn = self.bn
        if bn.num_features == feature_dim:
            return bn(x)
        exponential_average_factor = 0.0
        if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
            bn.num_batches_tracked += 1
            exponential_average_factor = bn.momentum
        return F.batch_norm(
            x,
            bn.running_mean[:feature_dim],
            bn.running_var[:feature_dim],
            bn.weight[:feature_dim],
            bn.bias[:feature_dim],
            bn.training or not bn.track_running_stats,
            exponential_average_factor,
            bn.eps,
        )


class DynamicSE(nn.Module):
    def __init__(self, channel):
        super().__init__()
        num_mid = se_channels(channel)
        self.reduce = nn.Conv2d(channel, num_mid, 1, 1, 0, bias=True)
        self.expand = nn.Conv2d(num_mid, channel, 1, 1, 0, bias=True)
        self.relu = nn.ReLU(inplace=True)
        self.h_sigmoid = Hsigmoid()

    def forward(self, x):
        in_channel = x.size(1)
        num_mid = se_channels(in_channel)
        y = x.mean(3, keepdim=True).mean(2, keepdim=True)
        y = F.conv2d(
            y, self.reduce.weight[:num_mid, :in_channel, :, :].contiguous(), self.reduce.bias[:num_mid]
        )
        y = self.relu(y)
        y = F.conv2d(
            y, self.expand.weight[:in_channel, :num_mid, :, :].contiguous(), self.expand.bias[:in_channel]
        )
        return x * self.h_sigmoid(y)


class DynamicMBConvLayer(nn.Module):
    def __init__(self, in_c, out_c, stride, act, use_se):
        super().__init__()
        self.in_c, self.out_c = in_c, out_c
        self.expand_ratio_list = [3, 4, 6]
        max_mid = middle_channels(in_c, 6)
        make_act = (lambda: nn.ReLU(inplace=True)) if act == "relu" else Hswish
        self.inverted_bottleneck = nn.Sequential(
            DynamicConv2d(in_c, max_mid), DynamicBatchNorm2d(max_mid), make_act()
        )
        dc = [DynamicSeparableConv2d(max_mid, [3, 5, 7], stride), DynamicBatchNorm2d(max_mid), make_act()]
        if use_se:
            dc.append(DynamicSE(max_mid))
        self.depth_conv = nn.Sequential(*dc)
        self.point_linear = nn.Sequential(DynamicConv2d(max_mid, out_c), DynamicBatchNorm2d(out_c))
        self.active_kernel_size, self.active_expand_ratio = 7, 6

    def forward(self, x):
        in_channel = x.size(1)
        self.inverted_bottleneck[0].active_out_channel = middle_channels(in_channel, self.active_expand_ratio)
        self.depth_conv[0].active_kernel_size = self.active_kernel_size
        self.point_linear[0].active_out_channel = self.out_c
        return self.point_linear(self.depth_conv(self.inverted_bottleneck(x)))


class ResidualBlock(nn.Module):
    def __init__(self, conv, shortcut):
        super().__init__()
        self.conv, self.shortcut = conv, shortcut

    def forward(self, x):
        return self.conv(x) + x if self.shortcut else self.conv(x)


class OfficialStyleOFA(nn.Module):
    """OFAMobileNetV3 as the official code structures it (fixed parts shared with ours)."""

    def __init__(self, ours: OFAMobileNetV3):
        super().__init__()
        geo = ours.geo
        import copy

        self.first_conv = copy.deepcopy(ours.stem)
        self.first_block = copy.deepcopy(ours.first_block)
        blocks = []
        for i in range(N_BLOCKS):
            cin, cout, stride = block_io(geo, i)
            s = i // MAX_DEPTH
            layer = DynamicMBConvLayer(cin, cout, stride, geo.stage_acts[s], geo.stage_se[s])
            blocks.append(ResidualBlock(layer, stride == 1 and cin == cout))
        self.blocks = nn.ModuleList(blocks)
        self.final_expand_layer = copy.deepcopy(ours.final_expand)
        self.feature_mix_layer = copy.deepcopy(ours.feature_mix)
        self.dropout = nn.Dropout(ours.dropout_rate)
        self.classifier = copy.deepcopy(ours.classifier)
        self.runtime_depth = [4] * 5

    def set_active_subnet(self, cfg):
        for i, b in enumerate(self.blocks):
            b.conv.active_kernel_size = cfg["ks"][i]
            b.conv.active_expand_ratio = cfg["e"][i]
        self.runtime_depth = list(cfg["d"])

    def forward(self, x):
        x = self.first_block(self.first_conv(x))
        for i in active_blocks(self.runtime_depth):
            x = self.blocks[i](x)
        x = self.final_expand_layer(x)
        x = x.mean(3, keepdim=True).mean(2, keepdim=True)
        x = self.feature_mix_layer(x)
        return self.classifier(self.dropout(x.flatten(1)))


# ---------------------------------------------------------------- measurement


def _sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def ps_step(net, set_cfg, teacher, opt, x, y, cfgs):
    with torch.no_grad():
        soft = F.softmax(teacher(x), dim=1)
    opt.zero_grad(set_to_none=True)
    for cfg in cfgs:
        set_cfg(cfg)
        out = net(x)
        loss = F.cross_entropy(out, y, label_smoothing=0.1) + soft_ce(out, soft)
        loss.backward()
    opt.step()


def train_step(net, opt, x, y):
    opt.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y, label_smoothing=0.1).backward()
    opt.step()


def timeit(fn, reps, device):
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        _sync(device)
        ts.append(time.perf_counter() - t)
    return ts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--space", default="ofa-mbv3-w1.0")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = a.device
    ours = OFAMobileNetV3(a.space, 1000, resolutions=[a.resolution]).to(dev).train()
    official = OfficialStyleOFA(ours).to(dev).train()
    teacher = extract_static(ours, ours.max_config()).to(dev).eval()
    x = torch.randn(a.batch, 3, a.resolution, a.resolution, device=dev)
    y = torch.randint(0, 1000, (a.batch,), device=dev)
    cfg_sets = [
        [ours.sample_config(100 * k + j, resolutions=[a.resolution]) for j in range(4)] for k in range(64)
    ]
    it = {"ours": 0, "official": 0}

    def mk_ps(name, net, set_cfg):
        opt = torch.optim.SGD(net.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

        def fn():
            cfgs = cfg_sets[it[name] % len(cfg_sets)]
            it[name] += 1
            ps_step(net, set_cfg, teacher, opt, x, y, cfgs)

        return fn

    ps = {
        "ours": mk_ps("ours", ours, ours.set_active),
        "official": mk_ps("official", official, official.set_active_subnet),
    }
    fixed = ours.sample_config(12345, resolutions=[a.resolution])
    ours.set_active(fixed)
    official.set_active_subnet(fixed)
    static = extract_static(ours).to(dev).train()
    opt_o = torch.optim.SGD(ours.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    opt_f = torch.optim.SGD(official.parameters(), lr=1e-4, momentum=0.9, nesterov=True)
    opt_s = torch.optim.SGD(static.parameters(), lr=1e-4, momentum=0.9, nesterov=True)

    def tr_ours():
        ours.set_active(fixed)
        train_step(ours, opt_o, x, y)

    def tr_official():
        official.set_active_subnet(fixed)
        train_step(official, opt_f, x, y)

    results: dict[str, list[float]] = {k: [] for k in ("ps_ours", "ps_off", "tr_ours", "tr_static", "tr_off")}
    for fn in (ps["official"], ps["ours"], tr_official, tr_ours, lambda: train_step(static, opt_s, x, y)):
        fn()  # warm-up
    _sync(dev)
    for rep in range(a.reps):  # interleaved, alternating order, so load changes hit both sides alike
        order = ("ps_off", "ps_ours") if rep % 2 == 0 else ("ps_ours", "ps_off")
        for key in order:
            results[key] += timeit(ps["official" if key == "ps_off" else "ours"], 1, dev)
        results["tr_off"] += timeit(tr_official, 2, dev)
        results["tr_ours"] += timeit(tr_ours, 2, dev)
        results["tr_static"] += timeit(lambda: train_step(static, opt_s, x, y), 2, dev)
    med = {k: statistics.median(v) for k, v in results.items()}
    n = a.batch
    print(f"space {a.space}  batch {n}  r {a.resolution}  threads {a.threads}  device {dev}")
    print(
        f"PS step (teacher + 4 subnets + SGD): ours {med['ps_ours'] * 1e3:.0f} ms "
        f"({n / med['ps_ours']:.1f} img/s), official-style {med['ps_off'] * 1e3:.0f} ms "
        f"({n / med['ps_off']:.1f} img/s)  ratio {med['ps_off'] / med['ps_ours']:.2f}x"
    )
    print(
        f"subnet train step: ours (supernet) {med['tr_ours'] * 1e3:.0f} ms, ours (extracted static) "
        f"{med['tr_static'] * 1e3:.0f} ms, official-style {med['tr_off'] * 1e3:.0f} ms  "
        f"ratio {med['tr_off'] / med['tr_ours']:.2f}x (supernet), "
        f"{med['tr_off'] / med['tr_static']:.2f}x (static)"
    )
    ours.eval()
    ext, extg = [], []
    for k in range(7):
        cfg = ours.sample_config(777 + k, resolutions=[a.resolution])
        t = time.perf_counter()
        extract_static(ours, cfg)
        ext.append(time.perf_counter() - t)
        t = time.perf_counter()
        extract_graph(ours, cfg)
        extg.append(time.perf_counter() - t)
    print(
        f"extraction: static {statistics.median(ext) * 1e3:.0f} ms, ArchGraph + GraphModule "
        f"{statistics.median(extg) * 1e3:.0f} ms (median of 7)"
    )


if __name__ == "__main__":
    main()
