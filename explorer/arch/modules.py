"""Torch layers the ops build. Names of submodules follow OFA's static layers (`conv`, `bn`,
`inverted_bottleneck`, `depth_conv`, `point_linear`, `se.fc.reduce`...) so weights copied from an
OFA supernet or checkpoint land by name."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = (
    "relu",
    "relu6",
    "h_swish",
    "none",
    "silu",
    "gelu",
    "gelu_tanh",
    "h_sigmoid",
    "sigmoid",
    "tanh",
)


class HSwish(nn.Module):
    """x * relu6(x + 3) / 6, OFA's (and MobileNetV3's) h-swish.

    Computed by torch's fused `hardswish` kernel rather than OFA's four elementwise ops: the same
    function (they differ by float rounding, within 1e-6; tests/arch/test_ops.py), one pass over
    memory instead of four, so a built MobileNetV3 runs (and is timed) like torchvision's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardswish(x)


class HSigmoid(nn.Module):
    """relu6(x + 3) / 6 by torch's fused `hardsigmoid` kernel (see HSwish)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.hardsigmoid(x)


_TORCH_ACTS = {
    "silu": nn.SiLU,
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "h_sigmoid": HSigmoid,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
}


def make_act(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU(inplace=False)
    if name == "relu6":
        return nn.ReLU6(inplace=False)
    if name == "h_swish":
        return HSwish()
    if name == "none":
        return nn.Identity()
    if name in _TORCH_ACTS:
        return _TORCH_ACTS[name]()
    raise ValueError(f"unknown activation {name!r}")


class ConvBNAct(nn.Module):
    """conv -> optional BN -> activation (OFA's ConvLayer, ops order weight_bn_act)."""

    def __init__(
        self,
        cin,
        cout,
        kernel,
        stride=1,
        groups=1,
        bias=False,
        bn=True,
        act="relu",
        padding=None,
        dilation=1,
        bn_eps=1e-5,
    ):
        super().__init__()
        if padding is None:  # 'same' for odd kernels
            padding = dilation * (kernel // 2)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, groups=groups, bias=bias)
        self.bn = nn.BatchNorm2d(cout, eps=bn_eps) if bn else None
        self.act = make_act(act)

    def forward(self, x):
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


class SEModule(nn.Module):
    """Squeeze-excitation as OFA builds it: mean -> 1x1 reduce (bias) -> relu -> 1x1 expand -> h_sigmoid."""

    def __init__(self, channels: int, mid: int):
        super().__init__()
        self.fc = nn.Sequential(
            OrderedDict(
                reduce=nn.Conv2d(channels, mid, 1, 1, 0, bias=True),
                relu=nn.ReLU(inplace=False),
                expand=nn.Conv2d(mid, channels, 1, 1, 0, bias=True),
                h_sigmoid=HSigmoid(),
            )
        )

    def forward(self, x):
        y = x.mean(3, keepdim=True).mean(2, keepdim=True)
        return x * self.fc(y)


class _Seq(nn.Sequential):
    pass


class MBConv(nn.Module):
    """OFA's MBConvLayer inside a ResidualBlock: expand 1x1 (skipped at mid == in and ratio 1),
    depthwise kxk (+ SE), project 1x1, identity skip when `skip` and shapes allow."""

    def __init__(self, cin, cout, kernel, stride, mid, se_mid, act, skip, has_expand):
        super().__init__()
        if has_expand:
            self.inverted_bottleneck = _Seq(
                OrderedDict(
                    conv=nn.Conv2d(cin, mid, 1, 1, 0, bias=False), bn=nn.BatchNorm2d(mid), act=make_act(act)
                )
            )
        else:
            self.inverted_bottleneck = None
        dw = OrderedDict(
            conv=nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False),
            bn=nn.BatchNorm2d(mid),
            act=make_act(act),
        )
        if se_mid:
            dw["se"] = SEModule(mid, se_mid)
        self.depth_conv = _Seq(dw)
        self.point_linear = _Seq(
            OrderedDict(conv=nn.Conv2d(mid, cout, 1, 1, 0, bias=False), bn=nn.BatchNorm2d(cout))
        )
        self.skip = skip

    def forward(self, x):
        y = x
        if self.inverted_bottleneck is not None:
            y = self.inverted_bottleneck(y)
        y = self.point_linear(self.depth_conv(y))
        return x + y if self.skip else y


class ReLUConvBN(nn.Module):
    """NAS-Bench-201's ReLUConvBN: relu -> conv (no bias) -> BN."""

    def __init__(self, cin, cout, kernel, stride, padding):
        super().__init__()
        self.act = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(self.act(x)))


class Zero(nn.Module):
    """NAS-Bench-201's `none`: the edge carries zeros of the input's shape."""

    def forward(self, x):
        return x.mul(0.0)


class ResNetBasicBlock(nn.Module):
    """NAS-Bench-201's reduction block: two ReLUConvBN 3x3 and an avgpool+1x1 conv shortcut."""

    def __init__(self, cin, cout, stride, shortcut=True):
        super().__init__()
        self.conv_a = ReLUConvBN(cin, cout, 3, stride, 1)
        self.conv_b = ReLUConvBN(cout, cout, 3, 1, 1)
        if not shortcut:
            self.downsample = None
        elif stride == 2:
            self.downsample = nn.Sequential(
                nn.AvgPool2d(kernel_size=2, stride=2, padding=0), nn.Conv2d(cin, cout, 1, 1, 0, bias=False)
            )
        elif cin != cout:
            self.downsample = ReLUConvBN(cin, cout, 1, 1, 0)
        else:
            self.downsample = nn.Identity()

    def forward(self, x):
        y = self.conv_b(self.conv_a(x))
        return y if self.downsample is None else self.downsample(x) + y


class Linear(nn.Module):
    """Flattens then applies a linear layer (so pooled (C,1,1) maps feed it directly); with
    `flatten=False` it acts on the last dimension (channels-last MLPs)."""

    def __init__(self, cin, cout, bias=True, flatten=True):
        super().__init__()
        self.linear = nn.Linear(cin, cout, bias=bias)
        self.flatten = flatten

    def forward(self, x):
        return self.linear(x.flatten(1) if self.flatten else x)


class GlobalAvgPool(nn.Module):
    """Mean over H and W keeping a 1x1 map, as OFA's head does before its feature-mix conv."""

    def forward(self, x):
        return x.mean(3, keepdim=True).mean(2, keepdim=True)


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, dim=1)


class Mul(nn.Module):
    """Element-wise product with broadcasting (SE / gating: a (C,1,1) gate times a (C,H,W) map)."""

    def forward(self, a, b):
        return a * b


class Scale(nn.Module):
    """A learnable per-channel multiplier (ConvNeXt's layer scale `gamma`), on the channels of a
    (C,H,W) map or, channels-last, on the last dimension."""

    def __init__(self, channels: int, channels_last: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.channels_last = channels_last

    def forward(self, x):
        if self.channels_last:
            return x * self.weight
        return x * self.weight.view(-1, *([1] * (x.dim() - 2)))


class Permute(nn.Module):
    """Reorders the non-batch dimensions (ConvNeXt's NCHW <-> NHWC around its LayerNorm)."""

    def __init__(self, perm: tuple[int, ...]):
        super().__init__()
        self.perm = (0, *(d + 1 for d in perm))

    def forward(self, x):
        return x.permute(self.perm)


class Reshape(nn.Module):
    def __init__(self, shape: tuple[int, ...]):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)


class Flatten(nn.Module):
    def __init__(self, start: int, end: int):
        super().__init__()
        self.start, self.end = start + 1, end + 1 if end >= 0 else end

    def forward(self, x):
        return torch.flatten(x, self.start, self.end)


class Slice(nn.Module):
    """x[:, ..., start:end:step] on one non-batch dimension (ShuffleNet's channel split)."""

    def __init__(self, dim: int, start: int, end: int | None, step: int):
        super().__init__()
        self.dim, self.start, self.end, self.step = dim + 1, start, end, step

    def forward(self, x):
        index = [slice(None)] * x.dim()
        index[self.dim] = slice(self.start, self.end, self.step)
        return x[tuple(index)]


class ChannelShuffle(nn.Module):
    """ShuffleNet's shuffle written as view / transpose / reshape, so it exports to ONNX as such."""

    def __init__(self, groups: int):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        x = x.view(n, self.groups, c // self.groups, h, w).transpose(1, 2)
        return x.reshape(n, c, h, w)
