"""A zoo of torchvision-shaped CNNs at 224x224 and real widths/depths, written here (torchvision is
not a dependency): what users import, for benchmarks/latency_import_eval.py.

Each builder follows the published architecture (torchvision's layer order and channel rounding
where it has the model), parameterised by width/depth; a few are narrowed (VGG, ResNet-50,
DenseNet, ConvNeXt) so one thread runs them in <= ~250 ms. `ZOO[name] = (family, factory)`;
the family is what a leave-one-family-out calibration holds out. Weights are seeded and BN
statistics non-trivial (tests/zoo.py's `_init`, shared with the test zoo, as are the channel
shuffle and ConvNeXt's LayerNorm2d), so nothing is an identity by accident.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.zoo import LayerNorm2d, _init, channel_shuffle  # noqa: E402


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's channel rounding (never more than 10 % below `v`)."""
    min_value = min_value or divisor
    new = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new < 0.9 * v:
        new += divisor
    return new


def cba(cin, cout, k, s=1, groups=1, act: type[nn.Module] | None = nn.ReLU, bias=False, eps=1e-5):
    """conv -> BN -> activation, torchvision's Conv2dNormActivation."""
    layers = [
        nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=bias),
        nn.BatchNorm2d(cout, eps=eps),
    ]
    if act is not None:
        layers.append(act(inplace=True) if act in (nn.ReLU, nn.ReLU6, nn.Hardswish, nn.SiLU) else act())
    return nn.Sequential(*layers)


class SE(nn.Module):
    """Squeeze-excitation: pool, 1x1 reduce, activation, 1x1 expand, gate, multiply."""

    def __init__(self, c, squeeze, act=nn.ReLU, gate=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.act = act()
        self.gate = gate()

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.avgpool(x)))))


# -- ResNet -------------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


class ResNet(nn.Module):
    """torchvision's ResNet: 7x7 stem, maxpool, four stages of basic or bottleneck blocks (stride
    on the 3x3), GAP, fc. `width` scales every stage (64 = the published one)."""

    def __init__(self, block, layers, width=64, groups=1, width_per_group=64, num_classes=1000):
        super().__init__()
        self.groups, self.base_width = groups, width_per_group
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._stage(block, width, layers[0])
        self.layer2 = self._stage(block, width * 2, layers[1], 2)
        self.layer3 = self._stage(block, width * 4, layers[2], 2)
        self.layer4 = self._stage(block, width * 8, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

    def _stage(self, block, planes, blocks, stride=1):
        down = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            down = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, down, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        layers += [
            block(self.inplanes, planes, 1, None, self.groups, self.base_width) for _ in range(1, blocks)
        ]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# -- MobileNet V1 / V2 / V3, MnasNet, EfficientNet ---------------------------------------------
class MobileNetV1(nn.Module):
    """Depthwise-separable stack (Howard et al. 2017), ReLU, no residuals."""

    CFG = (
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    )

    def __init__(self, width=1.0, num_classes=1000):
        super().__init__()
        c = make_divisible(32 * width)
        layers = [cba(3, c, 3, 2)]
        for out, s in self.CFG:
            out = make_divisible(out * width)
            layers += [cba(c, c, 3, s, groups=c), cba(c, out, 1)]
            c = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.features(x)), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2/V3 block: optional 1x1 expand, kxk depthwise, optional SE, 1x1 project."""

    def __init__(self, cin, mid, cout, k, s, act=nn.ReLU6, se: nn.Module | None = None):
        super().__init__()
        self.use_res = s == 1 and cin == cout
        layers = [] if mid == cin else [cba(cin, mid, 1, act=act)]
        layers.append(cba(mid, mid, k, s, groups=mid, act=act))
        if se is not None:
            layers.append(se)
        layers.append(cba(mid, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class Classifier(nn.Sequential):
    def __init__(self, cin, num_classes=1000, hidden=None, act=nn.Hardswish, p=0.2):
        layers = [nn.Flatten(1)]
        if hidden:
            layers += [nn.Linear(cin, hidden), act(inplace=True)]
            cin = hidden
        layers += [nn.Dropout(p), nn.Linear(cin, num_classes)]
        super().__init__(*layers)


class MobileNetV2(nn.Module):
    CFG = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]

    def __init__(self, width=1.0, num_classes=1000):
        super().__init__()
        c = make_divisible(32 * width)
        last = make_divisible(1280 * max(1.0, width))
        layers = [cba(3, c, 3, 2, act=nn.ReLU6)]
        for t, ch, n, s in self.CFG:
            out = make_divisible(ch * width)
            for i in range(n):
                layers.append(InvertedResidual(c, c * t, out, 3, s if i == 0 else 1))
                c = out
        layers.append(cba(c, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = Classifier(last, num_classes)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


MBV3 = {  # (kernel, expanded, out, SE, activation HS?, stride) per block: torchvision's tables
    "large": [
        (3, 16, 16, 0, 0, 1), (3, 64, 24, 0, 0, 2), (3, 72, 24, 0, 0, 1), (5, 72, 40, 1, 0, 2),
        (5, 120, 40, 1, 0, 1), (5, 120, 40, 1, 0, 1), (3, 240, 80, 0, 1, 2), (3, 200, 80, 0, 1, 1),
        (3, 184, 80, 0, 1, 1), (3, 184, 80, 0, 1, 1), (3, 480, 112, 1, 1, 1), (3, 672, 112, 1, 1, 1),
        (5, 672, 160, 1, 1, 2), (5, 960, 160, 1, 1, 1), (5, 960, 160, 1, 1, 1),
    ],
    "small": [
        (3, 16, 16, 1, 0, 2), (3, 72, 24, 0, 0, 2), (3, 88, 24, 0, 0, 1), (5, 96, 40, 1, 1, 2),
        (5, 240, 40, 1, 1, 1), (5, 240, 40, 1, 1, 1), (5, 120, 48, 1, 1, 1), (5, 144, 48, 1, 1, 1),
        (5, 288, 96, 1, 1, 2), (5, 576, 96, 1, 1, 1), (5, 576, 96, 1, 1, 1),
    ],
}  # fmt: skip


class MobileNetV3(nn.Module):
    """Hardswish stem, inverted residuals with SE (ReLU squeeze, hardsigmoid gate), 1x1 expand,
    GAP, Linear-Hardswish-Dropout-Linear."""

    def __init__(self, mode="large", width=1.0, num_classes=1000):
        super().__init__()
        c = make_divisible(16 * width)
        layers = [cba(3, c, 3, 2, act=nn.Hardswish)]
        for k, exp, out, se, hs, s in MBV3[mode]:
            exp, out = make_divisible(exp * width), make_divisible(out * width)
            act = nn.Hardswish if hs else nn.ReLU
            gate = SE(exp, make_divisible(exp // 4), gate=nn.Hardsigmoid) if se else None
            layers.append(InvertedResidual(c, exp, out, k, s, act, gate))
            c = out
        last = 6 * c
        layers.append(cba(c, last, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = Classifier(last, num_classes, hidden=1280 if mode == "large" else 1024)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


class MNASNet(nn.Module):
    """torchvision's MNASNet (B1): separable stem, stacks of inverted residuals (ReLU, 3x3/5x5),
    1x1 to 1280, spatial mean, dropout, fc."""

    STACKS = [
        (24, 3, 2, 3, 3),
        (40, 5, 2, 3, 3),
        (80, 5, 2, 6, 3),
        (96, 3, 1, 6, 2),
        (192, 5, 2, 6, 4),
        (320, 3, 1, 6, 1),
    ]

    def __init__(self, alpha=1.0, num_classes=1000):
        super().__init__()

        def depth(c):
            return make_divisible(c * alpha, 8, min_value=8) if alpha != 1.0 else c

        c0, c1 = depth(32), depth(16)
        layers = [cba(3, c0, 3, 2), cba(c0, c0, 3, 1, groups=c0), cba(c0, c1, 1, act=None)]
        c = c1
        for out, k, s, t, n in self.STACKS:
            out = depth(out)
            for i in range(n):
                layers.append(InvertedResidual(c, c * t, out, k, s if i == 0 else 1, nn.ReLU))
                c = out
        layers.append(cba(c, 1280, 1))
        self.layers = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        return self.classifier(self.layers(x).mean([2, 3]))


class MBConv(nn.Module):
    """EfficientNet's block: expand (SiLU), depthwise, SE (SiLU squeeze of in/4, sigmoid gate),
    project; stochastic depth is the identity at inference."""

    def __init__(self, cin, cout, expand, k, s):
        super().__init__()
        mid = make_divisible(cin * expand)
        self.use_res = s == 1 and cin == cout
        layers = [] if mid == cin else [cba(cin, mid, 1, act=nn.SiLU)]
        layers += [
            cba(mid, mid, k, s, groups=mid, act=nn.SiLU),
            SE(mid, max(1, cin // 4), act=nn.SiLU),
            cba(mid, cout, 1, act=None),
        ]
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class EfficientNet(nn.Module):
    B0 = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2), (6, 3, 2, 40, 80, 3),
          (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4), (6, 3, 1, 192, 320, 1)]  # fmt: skip

    def __init__(self, width=1.0, depth=1.0, num_classes=1000):
        super().__init__()
        c = make_divisible(32 * width)
        layers = [cba(3, c, 3, 2, act=nn.SiLU)]
        for e, k, s, _, out, n in self.B0:
            out = make_divisible(out * width)
            for i in range(int(math.ceil(n * depth))):
                layers.append(MBConv(c, out, e, k, s if i == 0 else 1))
                c = out
        last = 4 * c
        layers.append(cba(c, last, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = Classifier(last, num_classes)

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


# -- ShuffleNetV2, GhostNet ---------------------------------------------------------------------
class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(cba(cin, cin, 3, stride, groups=cin, act=None), cba(cin, half, 1))
        b_in = cin if stride > 1 else half
        self.branch2 = nn.Sequential(
            cba(b_in, half, 1), cba(half, half, 3, stride, groups=half, act=None), cba(half, half, 1)
        )

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    WIDTHS = {0.5: [24, 48, 96, 192, 1024], 1.0: [24, 116, 232, 464, 1024], 1.5: [24, 176, 352, 704, 1024]}

    def __init__(self, width=1.0, num_classes=1000):
        super().__init__()
        ch = self.WIDTHS[width]
        self.conv1 = cba(3, ch[0], 3, 2)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        stages, c = [], ch[0]
        for reps, out in zip((4, 8, 4), ch[1:4]):
            stages.append(
                nn.Sequential(ShuffleUnit(c, out, 2), *[ShuffleUnit(out, out, 1) for _ in range(reps - 1)])
            )
            c = out
        self.stages = nn.Sequential(*stages)
        self.conv5 = cba(c, ch[4], 1)
        self.fc = nn.Linear(ch[4], num_classes)

    def forward(self, x):
        x = self.conv5(self.stages(self.maxpool(self.conv1(x))))
        return self.fc(x.mean([2, 3]))


class GhostModule(nn.Module):
    """Half the outputs from a 1x1 conv, the other half from a cheap 3x3 depthwise of those,
    concatenated (and cut to `cout`)."""

    def __init__(self, cin, cout, relu=True):
        super().__init__()
        self.cout = cout
        init = math.ceil(cout / 2)
        act = nn.ReLU if relu else None
        self.primary = cba(cin, init, 1, act=act)
        self.cheap = cba(init, init, 3, 1, groups=init, act=act)

    def forward(self, x):
        x1 = self.primary(x)
        out = torch.cat([x1, self.cheap(x1)], dim=1)
        return out[:, : self.cout]


class GhostBottleneck(nn.Module):
    def __init__(self, cin, mid, cout, k, s, se_ratio):
        super().__init__()
        self.ghost1 = GhostModule(cin, mid, relu=True)
        self.dw = cba(mid, mid, k, s, groups=mid, act=None) if s > 1 else None
        self.se = SE(mid, make_divisible(mid * se_ratio, 4), gate=nn.Hardsigmoid) if se_ratio else None
        self.ghost2 = GhostModule(mid, cout, relu=False)
        if cin == cout and s == 1:
            self.shortcut = None
        else:
            self.shortcut = nn.Sequential(
                cba(cin, cin, k, s, groups=cin, act=None), cba(cin, cout, 1, act=None)
            )

    def forward(self, x):
        y = self.ghost1(x)
        if self.dw is not None:
            y = self.dw(y)
        if self.se is not None:
            y = self.se(y)
        y = self.ghost2(y)
        return y + (x if self.shortcut is None else self.shortcut(x))


class GhostNet(nn.Module):
    """GhostNet (Han et al. 2020, the reference code's table): ghost bottlenecks, SE with a
    hard-sigmoid gate, 1x1 to 960, GAP, a 1x1 conv head to 1280 with bias, fc."""

    CFG = [(3, 16, 16, 0, 1), (3, 48, 24, 0, 2), (3, 72, 24, 0, 1), (5, 72, 40, 0.25, 2),
           (5, 120, 40, 0.25, 1), (3, 240, 80, 0, 2), (3, 200, 80, 0, 1), (3, 184, 80, 0, 1),
           (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1), (5, 672, 160, 0.25, 2),
           (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1),
           (5, 960, 160, 0.25, 1)]  # fmt: skip

    def __init__(self, width=1.0, num_classes=1000):
        super().__init__()
        c = make_divisible(16 * width, 4)
        layers = [cba(3, c, 3, 2)]
        for k, exp, out, se, s in self.CFG:
            out, mid = make_divisible(out * width, 4), make_divisible(exp * width, 4)
            layers.append(GhostBottleneck(c, mid, out, k, s, se))
            c = out
        last = make_divisible(exp * width, 4)
        layers.append(cba(c, last, 1))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.conv_head = nn.Conv2d(last, 1280, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = self.act(self.conv_head(self.avgpool(self.features(x))))
        return self.classifier(torch.flatten(x, 1))


# -- ConvNeXt -----------------------------------------------------------------------------------
class CNBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim,), 0.5))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + (self.layer_scale * y).permute(0, 3, 1, 2)


class ConvNeXt(nn.Module):
    """torchvision's ConvNeXt layout (4x4 patchify + LayerNorm2d, blocks of dw7x7 / channels-last
    LayerNorm / MLP / layer scale, LayerNorm2d + 2x2 downsample, pooled LayerNorm2d head) with
    reduced dims (ConvNeXt-T is (96, 192, 384, 768) x (3, 3, 9, 3))."""

    def __init__(self, dims=(48, 96, 192, 384), depths=(2, 2, 6, 2), num_classes=1000):
        super().__init__()
        layers: list[nn.Module] = [nn.Sequential(nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6))]
        for i, (d, n) in enumerate(zip(dims, depths)):
            if i:
                layers.append(
                    nn.Sequential(LayerNorm2d(dims[i - 1], eps=1e-6), nn.Conv2d(dims[i - 1], d, 2, 2))
                )
            layers.append(nn.Sequential(*[CNBlock(d) for _ in range(n)]))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            LayerNorm2d(dims[-1], eps=1e-6), nn.Flatten(1), nn.Linear(dims[-1], num_classes)
        )

    def forward(self, x):
        return self.classifier(self.avgpool(self.features(x)))


# -- DenseNet, VGG, AlexNet, SqueezeNet, GoogLeNet, RegNet --------------------------------------
class DenseLayer(nn.Module):
    def __init__(self, cin, growth, bn_size=4):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv1(F.relu(self.norm1(x)))
        return torch.cat([x, self.conv2(F.relu(self.norm2(y)))], 1)


class DenseNet(nn.Module):
    """DenseNet-BC: 7x7 stem + maxpool, dense blocks of pre-activation BN-ReLU-1x1-BN-ReLU-3x3
    layers concatenating their features, BN-ReLU-1x1-avgpool transitions halving the channels,
    final BN-ReLU, GAP, fc. DenseNet-121 is growth 32, blocks (6, 12, 24, 16), stem 64."""

    def __init__(self, growth=32, blocks=(6, 12, 24, 16), stem=64, num_classes=1000):
        super().__init__()
        layers = [nn.Conv2d(3, stem, 7, 2, 3, bias=False), nn.BatchNorm2d(stem), nn.ReLU(inplace=True)]
        layers.append(nn.MaxPool2d(3, 2, 1))
        c = stem
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(c, growth))
                c += growth
            if i < len(blocks) - 1:
                layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c // 2, 1, bias=False)]
                layers.append(nn.AvgPool2d(2, 2))
                c //= 2
        layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.features(x), (1, 1)), 1))


class VGG(nn.Module):
    """VGG-11 (config A) with biased 3x3 convs, ReLU, 2x2 maxpools, adaptive avgpool 7x7 and a
    three-layer classifier; `width` scales the convs and `hidden` the classifier (4096 published)."""

    CFG_A = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]

    def __init__(self, width=1.0, hidden=4096, batch_norm=False, num_classes=1000):
        super().__init__()
        layers, c = [], 3
        for v in self.CFG_A:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            out = int(v * width)
            layers.append(nn.Conv2d(c, out, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.ReLU(inplace=True))
            c = out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(c * 49, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, num_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class AlexNet(nn.Module):
    """torchvision's AlexNet: five biased convs (11x11 s4 stem), 3x3 s2 maxpools, adaptive 6x6,
    and a 9216-4096-4096-1000 classifier (61 M parameters: memory-bound at batch 1)."""

    def __init__(self, num_classes=1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        )  # fmt: skip
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 36, 4096), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, num_classes),
        )  # fmt: skip

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class Fire(nn.Module):
    def __init__(self, cin, squeeze, e1, e3):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.relu(self.squeeze(x))
        return torch.cat([self.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """SqueezeNet 1.0 / 1.1: fire modules (1x1 squeeze, concat of 1x1 and 3x3 expands), ceil-mode
    maxpools, a 1x1 conv classifier and adaptive average pooling."""

    def __init__(self, version="1_1", num_classes=1000):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        if version == "1_0":
            layers = [nn.Conv2d(3, 96, 7, 2), nn.ReLU(inplace=True), pool(),
                      Fire(96, 16, 64, 64), Fire(128, 16, 64, 64), Fire(128, 32, 128, 128), pool(),
                      Fire(256, 32, 128, 128), Fire(256, 48, 192, 192), Fire(384, 48, 192, 192),
                      Fire(384, 64, 256, 256), pool(), Fire(512, 64, 256, 256)]  # fmt: skip
        else:
            layers = [nn.Conv2d(3, 64, 3, 2), nn.ReLU(inplace=True), pool(),
                      Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
                      Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
                      Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
                      Fire(512, 64, 256, 256)]  # fmt: skip
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Conv2d(512, num_classes, 1),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d((1, 1)),
        )

    def forward(self, x):
        return torch.flatten(self.classifier(self.features(x)), 1)


def basic_conv(cin, cout, k, s=1):
    return cba(cin, cout, k, s, eps=0.001)


class Inception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pool_proj):
        super().__init__()
        self.branch1 = basic_conv(cin, c1, 1)
        self.branch2 = nn.Sequential(basic_conv(cin, c3r, 1), basic_conv(c3r, c3, 3))
        self.branch3 = nn.Sequential(basic_conv(cin, c5r, 1), basic_conv(c5r, c5, 3))  # torchvision: 3x3
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), basic_conv(cin, pool_proj, 1))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1)


class GoogLeNet(nn.Module):
    """torchvision's GoogLeNet (Inception v1, BN convs, no auxiliary heads at inference): four
    concatenated branches per module, ceil-mode maxpools."""

    CFG = [(192, 64, 96, 128, 16, 32, 32), (256, 128, 128, 192, 32, 96, 64), "M",
           (480, 192, 96, 208, 16, 48, 64), (512, 160, 112, 224, 24, 64, 64),
           (512, 128, 128, 256, 24, 64, 64), (512, 112, 144, 288, 32, 64, 64),
           (528, 256, 160, 320, 32, 128, 128), "M2",
           (832, 256, 160, 320, 32, 128, 128), (832, 384, 192, 384, 48, 128, 128)]  # fmt: skip

    def __init__(self, num_classes=1000):
        super().__init__()
        layers = [basic_conv(3, 64, 7, 2), nn.MaxPool2d(3, 2, ceil_mode=True), basic_conv(64, 64, 1)]
        layers += [basic_conv(64, 192, 3), nn.MaxPool2d(3, 2, ceil_mode=True)]
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            elif v == "M2":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            else:
                layers.append(Inception(*v))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x):
        return self.fc(self.dropout(torch.flatten(self.avgpool(self.features(x)), 1)))


class RegNetBlock(nn.Module):
    """RegNet's ResBottleneckBlock: 1x1, grouped 3x3 (stride), optional SE, 1x1, projection
    shortcut where the shape changes, ReLU after the add."""

    def __init__(self, cin, cout, stride, group_width, se_ratio):
        super().__init__()
        groups = cout // group_width
        layers = [cba(cin, cout, 1), cba(cout, cout, 3, stride, groups=groups)]
        if se_ratio:
            layers.append(SE(cout, int(round(se_ratio * cin))))
        layers.append(cba(cout, cout, 1, act=None))
        self.f = nn.Sequential(*layers)
        self.proj = cba(cin, cout, 1, stride, act=None) if cin != cout or stride != 1 else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu((x if self.proj is None else self.proj(x)) + self.f(x))


class RegNet(nn.Module):
    """RegNetX / RegNetY (Radosavovic et al. 2020) at given stage depths and widths."""

    def __init__(self, depths, widths, group_width, se_ratio=0.0, stem=32, num_classes=1000):
        super().__init__()
        layers, c = [cba(3, stem, 3, 2)], stem
        for d, w in zip(depths, widths):
            for i in range(d):
                layers.append(RegNetBlock(c, w, 2 if i == 0 else 1, group_width, se_ratio))
                c = w
        self.trunk = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.avgpool(self.trunk(x)), 1))


# -- the zoo ------------------------------------------------------------------------------------
ZOO: dict[str, tuple[str, Callable[[], nn.Module]]] = {
    "resnet18": ("resnet", lambda: ResNet(BasicBlock, (2, 2, 2, 2))),
    "resnet34": ("resnet", lambda: ResNet(BasicBlock, (3, 4, 6, 3))),
    "resnet50-w0.5": ("resnet", lambda: ResNet(Bottleneck, (3, 4, 6, 3), width=32)),
    "mobilenetv1-1.0": ("mobilenetv1", lambda: MobileNetV1(1.0)),
    "mobilenetv2-1.0": ("mobilenetv2", lambda: MobileNetV2(1.0)),
    "mobilenetv2-0.5": ("mobilenetv2", lambda: MobileNetV2(0.5)),
    "mobilenetv3-large": ("mobilenetv3", lambda: MobileNetV3("large")),
    "mobilenetv3-small": ("mobilenetv3", lambda: MobileNetV3("small")),
    "mnasnet-1.0": ("mnasnet", lambda: MNASNet(1.0)),
    "mnasnet-0.5": ("mnasnet", lambda: MNASNet(0.5)),
    "efficientnet-b0": ("efficientnet", lambda: EfficientNet()),
    "shufflenetv2-0.5": ("shufflenetv2", lambda: ShuffleNetV2(0.5)),
    "shufflenetv2-1.0": ("shufflenetv2", lambda: ShuffleNetV2(1.0)),
    "ghostnet-1.0": ("ghostnet", lambda: GhostNet(1.0)),
    "convnext-femto": ("convnext", lambda: ConvNeXt((48, 96, 192, 384), (2, 2, 6, 2))),
    "densenet-g24": ("densenet", lambda: DenseNet(24, (6, 12, 24, 16), 48)),
    "vgg11-w0.5": ("vgg", lambda: VGG(0.5, hidden=1024)),
    "alexnet": ("alexnet", lambda: AlexNet()),
    "squeezenet-1.0": ("squeezenet", lambda: SqueezeNet("1_0")),
    "squeezenet-1.1": ("squeezenet", lambda: SqueezeNet("1_1")),
    "googlenet": ("googlenet", lambda: GoogLeNet()),
    "regnetx-400mf": ("regnet", lambda: RegNet((1, 2, 7, 12), (32, 64, 160, 384), 16)),
    "regnety-400mf": ("regnet", lambda: RegNet((1, 3, 6, 6), (48, 104, 208, 440), 8, se_ratio=0.25)),
}
QUICK = ("resnet18", "mobilenetv3-small")


def family(name: str) -> str:
    return ZOO[name][0]


def make(name: str, seed: int = 0) -> nn.Module:
    """The model `name` in eval mode, its weights a function of `seed` (the caller's RNG is left alone)."""
    if name not in ZOO:
        raise KeyError(f"unknown zoo model {name!r}; known: {', '.join(ZOO)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _init(ZOO[name][1]())
