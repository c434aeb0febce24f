"""Small zoo-shaped CNNs (torchvision is not available here): each family's typical layers, so
the importers meet what real ResNet / MobileNetV3 / ConvNeXt / DenseNet / ShuffleNetV2 / VGG
graphs contain, at a size that keeps the tests fast (64x64 inputs)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _init(model: nn.Module) -> nn.Module:
    """Non-trivial BN statistics and affine terms, so folded/unfolded BN mistakes show up."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)):
            with torch.no_grad():
                if m.weight is not None:
                    m.weight.uniform_(0.5, 1.5)
                    m.bias.uniform_(-0.2, 0.2)
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.2, 0.2)
                    m.running_var.uniform_(0.5, 1.5)
    return model.eval()


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride=1, groups=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class TinyResNet(nn.Module):
    """ResNet-18 shape: 7x7 stem, maxpool, basic blocks (one grouped), GAP, fc."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(16, 16), BasicBlock(16, 16, groups=4))
        self.layer2 = nn.Sequential(BasicBlock(16, 32, 2), BasicBlock(32, 32))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class SqueezeExcitation(nn.Module):
    def __init__(self, c, squeeze):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.relu = nn.ReLU()
        self.scale_activation = nn.Hardsigmoid()

    def forward(self, x):
        s = self.scale_activation(self.fc2(self.relu(self.fc1(self.avgpool(x)))))
        return s * x


def conv_bn_act(cin, cout, k, s=1, groups=1, act=nn.Hardswish):
    layers = [nn.Conv2d(cin, cout, k, s, (k - 1) // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, mid, cout, k, s, se, act):
        super().__init__()
        self.use_res = s == 1 and cin == cout
        layers = []
        if mid != cin:
            layers.append(conv_bn_act(cin, mid, 1, act=act))
        layers.append(conv_bn_act(mid, mid, k, s, groups=mid, act=act))
        if se:
            layers.append(SqueezeExcitation(mid, max(8, mid // 4)))
        layers.append(conv_bn_act(mid, cout, 1, act=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x):
        y = self.block(x)
        return x + y if self.use_res else y


class TinyMobileNetV3(nn.Module):
    """MobileNetV3 shape: h-swish stem, inverted residuals with SE and hardsigmoid gating,
    a 1x1 expand, GAP, and a Linear-Hardswish-Dropout-Linear classifier."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            conv_bn_act(3, 16, 3, 2),
            InvertedResidual(16, 16, 16, 3, 1, True, nn.ReLU),
            InvertedResidual(16, 64, 24, 3, 2, False, nn.ReLU),
            InvertedResidual(24, 72, 24, 5, 1, True, nn.Hardswish),
            InvertedResidual(24, 96, 40, 5, 2, True, nn.Hardswish),
            conv_bn_act(40, 120, 1),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(120, 64), nn.Hardswish(), nn.Dropout(0.2), nn.Linear(64, num_classes)
        )

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class LayerNorm2d(nn.LayerNorm):
    """torchvision's ConvNeXt LayerNorm2d: channels-last LayerNorm between two permutes."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    def __init__(self, dim, layer_scale=1e-6):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim,), 0.5 + layer_scale))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        y = (self.layer_scale * y).permute(0, 3, 1, 2)
        return x + y


class TinyConvNeXt(nn.Module):
    """ConvNeXt shape: 4x4 patchify stem + LayerNorm2d, blocks of dw7x7 / permute / LayerNorm /
    Linear / GELU / Linear / layer scale, a LayerNorm2d + 2x2 stride-2 downsample, mean head."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 4, 4), LayerNorm2d(16, eps=1e-6))
        self.stage1 = nn.Sequential(CNBlock(16), CNBlock(16))
        self.down = nn.Sequential(LayerNorm2d(16, eps=1e-6), nn.Conv2d(16, 32, 2, 2))
        self.stage2 = CNBlock(32)
        self.norm = nn.LayerNorm(32, eps=1e-6)
        self.head = nn.Linear(32, num_classes)

    def forward(self, x):
        x = self.stage2(self.down(self.stage1(self.stem(x))))
        return self.head(self.norm(x.mean([-2, -1])))


class DenseLayer(nn.Module):
    def __init__(self, cin, growth):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, 4 * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(4 * growth)
        self.conv2 = nn.Conv2d(4 * growth, growth, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv1(F.relu(self.norm1(x)))
        return torch.cat([x, self.conv2(F.relu(self.norm2(y)))], 1)


class TinyDenseNet(nn.Module):
    """DenseNet shape: pre-activation dense layers concatenating features, a BN-ReLU-conv1x1 +
    2x2 avgpool transition, final BN, GAP, fc."""

    def __init__(self, num_classes=10, growth=8):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.block1 = nn.Sequential(DenseLayer(16, growth), DenseLayer(16 + growth, growth))
        c = 16 + 2 * growth
        self.transition = nn.Sequential(
            nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1, bias=False), nn.AvgPool2d(2, 2)
        )
        self.block2 = DenseLayer(c // 2, growth)
        self.norm = nn.BatchNorm2d(c // 2 + growth)
        self.fc = nn.Linear(c // 2 + growth, num_classes)

    def forward(self, x):
        x = self.block2(self.transition(self.block1(self.stem(x))))
        x = F.adaptive_avg_pool2d(F.relu(self.norm(x)), (1, 1))
        return self.fc(torch.flatten(x, 1))


def channel_shuffle(x, groups: int):
    """torchvision's ShuffleNetV2 channel shuffle (view, transpose, view)."""
    n, c, h, w = x.size()
    x = x.view(n, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(n, c, h, w)


class ShuffleUnit(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        half = cout // 2
        if stride > 1:
            self.branch1 = nn.Sequential(
                nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False),
                nn.BatchNorm2d(cin),
                nn.Conv2d(cin, half, 1, bias=False),
                nn.BatchNorm2d(half),
                nn.ReLU(inplace=True),
            )
        b_in = cin if stride > 1 else half
        self.branch2 = nn.Sequential(
            nn.Conv2d(b_in, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
            nn.Conv2d(half, half, 3, stride, 1, groups=half, bias=False),
            nn.BatchNorm2d(half),
            nn.Conv2d(half, half, 1, bias=False),
            nn.BatchNorm2d(half),
            nn.ReLU(inplace=True),
        )

    def forward(self, x):
        if self.stride == 1:
            x1, x2 = x.chunk(2, dim=1)
            out = torch.cat((x1, self.branch2(x2)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class TinyShuffleNet(nn.Module):
    """ShuffleNetV2 shape: chunk into halves, branches, concat, channel shuffle."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.stage2 = nn.Sequential(ShuffleUnit(16, 32, 2), ShuffleUnit(32, 32, 1))
        self.conv5 = nn.Sequential(nn.Conv2d(32, 64, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.conv5(self.stage2(self.maxpool(self.conv1(x))))
        return self.fc(x.mean([2, 3]))


class TinyVGG(nn.Module):
    """VGG shape: conv-ReLU pairs (one dilated, one with SiLU), 2x2 maxpools, adaptive avgpool to
    2x2, flatten, Linear-ReLU-Dropout-Linear with biases everywhere."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(16, 16, 3, padding=2, dilation=2),
            nn.ReLU6(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.SiLU(inplace=True),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.Tanh(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((4, 4))
        self.classifier = nn.Sequential(
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(True),
            nn.Dropout(0.5),
            nn.Linear(64, 64),
            nn.Sigmoid(),
            nn.Linear(64, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class WithUnmapped(nn.Module):
    """Two ops the importers deliberately do not map (PReLU with its learnable slopes, and a
    pixel shuffle), between ordinary layers: they must come back as opaque nodes."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.prelu = nn.PReLU(16)
        self.shuffle = nn.PixelShuffle(2)
        self.conv2 = nn.Conv2d(4, 8, 3, 2, 1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x):
        x = self.shuffle(self.prelu(self.bn(self.conv(x))))
        x = F.relu(self.conv2(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class EdgeCases(nn.Module):
    """What the IR cannot draw as plain ops: a non-square kernel, x + x and cat([y, y]) (one edge
    twice), an input normalisation by a buffer, a scalar multiply, leaky ReLU, and an auxiliary
    head no output uses (its parameters are not in the graph)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, (1, 3), padding=(0, 1))
        self.bn = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.aux = nn.Linear(8, 2)
        self.register_buffer("mean", torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1))

    def forward(self, x):
        y = self.bn(self.conv(x - self.mean))
        y = y + y
        z = torch.cat([y, y], 1)
        w = F.leaky_relu(self.conv2(y), 0.1) * 2.0
        return torch.cat([z, w], 1).mean((2, 3))


ZOO = {
    "resnet": TinyResNet,
    "mobilenetv3": TinyMobileNetV3,
    "convnext": TinyConvNeXt,
    "densenet": TinyDenseNet,
    "shufflenet": TinyShuffleNet,
    "vgg": TinyVGG,
}


def make(name: str, seed: int = 0) -> nn.Module:
    """The same weights for the same name and seed (the caller's RNG state is left alone)."""
    cls = {"unmapped": WithUnmapped, "edge": EdgeCases}.get(name) or ZOO[name]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _init(cls())


def tiny_resnet() -> nn.Module:
    """A `package.module:factory` target for the Python-spec importer."""
    return make("resnet")
