"""Elastic layers of the OFA supernet: one weight tensor per layer, the active subnet is a prefix.

Parameter names follow OFA's static layers (`inverted_bottleneck.conv`, `depth_conv.bn`,
`depth_conv.se.fc.reduce`...) so a sliced copy lands by name in a static `MBConv`.

Speed: each block runs its whole forward as functional calls on prefix views of its weights
(one Python frame per block instead of OFA's stack of wrapper modules), prefixes along the output
dimension are free views (no copies), the kernel transform runs only for kernels smaller than the
max, and activations are fused (hardswish) or in place (ReLU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from explorer.spaces.ofa_geometry import EXPANDS, KERNELS, middle_channels, se_channels


class DynamicBN(nn.BatchNorm2d):
    """BatchNorm whose active width is the input's channel count (running stats sliced as a prefix)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x.shape[1]
        if c == self.num_features:
            return super().forward(x)
        training = self.training or self.running_mean is None
        return F.batch_norm(
            x,
            self.running_mean[:c] if self.running_mean is not None else None,
            self.running_var[:c] if self.running_var is not None else None,
            self.weight[:c],
            self.bias[:c],
            training,
            self.momentum if self.momentum is not None else 0.0,
            self.eps,
        )


class _Holder(nn.Module):
    """A plain container so parameter paths read like OFA's (`depth_conv.conv.weight`)."""


def sub_filter_start_end(kernel_size: int, sub_kernel_size: int) -> tuple[int, int]:
    center = kernel_size // 2
    dev = sub_kernel_size // 2
    return center - dev, center + dev + 1


class DynamicMBConv(nn.Module):
    """MBConv with elastic kernel (7 -> 5 -> 3 transform matrices) and elastic expand ratio.

    Input and output widths are fixed (the width multiplier is not elastic in OFA-MBv3); the
    middle width is `middle_channels(in, e)` for the active e, taken as a prefix of the max width.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int,
        act: str,
        use_se: bool,
        kernels=KERNELS,
        expands=EXPANDS,
    ):
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.kernels = tuple(sorted(kernels))
        self.expands = tuple(sorted(expands))
        self.act_name, self.use_se = act, use_se
        self.max_kernel = max(self.kernels)
        self.max_mid = middle_channels(in_channels, max(self.expands))
        self.shortcut = stride == 1 and in_channels == out_channels
        mid = self.max_mid

        self.inverted_bottleneck = _Holder()
        self.inverted_bottleneck.conv = nn.Conv2d(in_channels, mid, 1, 1, 0, bias=False)
        self.inverted_bottleneck.bn = DynamicBN(mid)
        self.depth_conv = _Holder()
        self.depth_conv.conv = nn.Conv2d(
            mid, mid, self.max_kernel, stride, self.max_kernel // 2, groups=mid, bias=False
        )
        self.depth_conv.bn = DynamicBN(mid)
        # Transform matrices, applied as F.linear(flat_kernel, M) like the official code.
        for src, dst in zip(self.kernels[::-1][:-1], self.kernels[::-1][1:]):
            self.depth_conv.register_parameter(f"matrix_{src}to{dst}", nn.Parameter(torch.eye(dst * dst)))
        if use_se:
            self.depth_conv.se = _Holder()
            self.depth_conv.se.fc = _Holder()
            se_mid = se_channels(mid)
            self.depth_conv.se.fc.reduce = nn.Conv2d(mid, se_mid, 1, 1, 0, bias=True)
            self.depth_conv.se.fc.expand = nn.Conv2d(se_mid, mid, 1, 1, 0, bias=True)
        self.point_linear = _Holder()
        self.point_linear.conv = nn.Conv2d(mid, out_channels, 1, 1, 0, bias=False)
        self.point_linear.bn = DynamicBN(out_channels)

        self.active_kernel = self.max_kernel
        self.active_expand = max(self.expands)

    # -- active settings -------------------------------------------------------------------
    @property
    def active_mid(self) -> int:
        return middle_channels(self.in_channels, self.active_expand)

    def active_dw_kernel(self, mid: int | None = None) -> torch.Tensor:
        """The depthwise kernel of the active kernel size, transform matrices applied (7 -> 5 -> 3)."""
        mid = self.active_mid if mid is None else mid
        w = self.depth_conv.conv.weight[:mid]
        k = self.max_kernel
        for src, dst in zip(self.kernels[::-1][:-1], self.kernels[::-1][1:]):
            if k <= self.active_kernel:
                break
            s, e = sub_filter_start_end(src, dst)
            m = getattr(self.depth_conv, f"matrix_{src}to{dst}")
            w = F.linear(w[:, :, s:e, s:e].reshape(mid, dst * dst), m).view(mid, 1, dst, dst)
            k = dst
        return w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Fused hardswish/hardsigmoid and in-place ReLU (BN outputs are not needed by BN's backward):
        # the same function as OFA's x * relu6(x + 3) / 6 within float rounding, fewer memory passes.
        hs = self.act_name == "h_swish"
        mid = self.active_mid
        y = self.inverted_bottleneck.bn(F.conv2d(x, self.inverted_bottleneck.conv.weight[:mid]))
        y = F.hardswish(y) if hs else F.relu(y, inplace=True)
        k = self.active_kernel
        y = F.conv2d(y, self.active_dw_kernel(mid), None, self.stride, k // 2, 1, mid)
        y = self.depth_conv.bn(y)
        y = F.hardswish(y) if hs else F.relu(y, inplace=True)
        if self.use_se:
            fc = self.depth_conv.se.fc
            se_mid = se_channels(mid)
            s = y.mean(3, keepdim=True).mean(2, keepdim=True)
            s = F.conv2d(s, fc.reduce.weight[:se_mid, :mid].contiguous(), fc.reduce.bias[:se_mid])
            s = F.relu(s, inplace=True)
            s = F.hardsigmoid(F.conv2d(s, fc.expand.weight[:mid, :se_mid].contiguous(), fc.expand.bias[:mid]))
            y = y * s
        y = self.point_linear.bn(F.conv2d(y, self.point_linear.conv.weight[:, :mid].contiguous()))
        return x + y if self.shortcut else y

    # -- channel sorting -------------------------------------------------------------------
    @torch.no_grad()
    def sort_channels(self, expand_stage: int = 0) -> torch.Tensor:
        """Reorder middle channels by importance (L1 of the projection conv's input weights), descending.

        The same permutation goes to the expansion conv + BN, the depthwise conv + BN and SE, so
        the full block computes the same function. With `expand_stage` > 0 the channels of the
        widths already trained stay in their groups (OFA's offsets), as the official code does.
        Returns the permutation.
        """
        importance = self.point_linear.conv.weight.abs().sum(dim=(0, 2, 3))
        if expand_stage > 0:
            widths = [middle_channels(self.in_channels, e) for e in sorted(self.expands, reverse=True)]
            right = len(importance)
            base = -len(widths) * 1e5
            for i in range(min(expand_stage + 1, len(widths))):
                left = widths[i]
                importance[left:right] += base
                base += 1e5
                right = left
        idx = torch.argsort(importance, descending=True, stable=True)
        pl = self.point_linear.conv.weight
        pl.copy_(pl[:, idx])
        _permute_bn(self.depth_conv.bn, idx)
        dw = self.depth_conv.conv.weight
        dw.copy_(dw[idx])
        if self.use_se:
            fc = self.depth_conv.se.fc
            fc.expand.weight.copy_(fc.expand.weight[idx])
            fc.expand.bias.copy_(fc.expand.bias[idx])
            fc.reduce.weight.copy_(fc.reduce.weight[:, idx])
            se_imp = fc.expand.weight.abs().sum(dim=(0, 2, 3))
            se_idx = torch.argsort(se_imp, descending=True, stable=True)
            fc.expand.weight.copy_(fc.expand.weight[:, se_idx])
            fc.reduce.weight.copy_(fc.reduce.weight[se_idx])
            fc.reduce.bias.copy_(fc.reduce.bias[se_idx])
        _permute_bn(self.inverted_bottleneck.bn, idx)
        ib = self.inverted_bottleneck.conv.weight
        ib.copy_(ib[idx])
        return idx


def _permute_bn(bn: nn.BatchNorm2d, idx: torch.Tensor) -> None:
    for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var):
        t.copy_(t[idx])
