"""The NB201 network as GradSign's official code builds it (zero-cost-nas `nasbench2`): a masked
supernet, written here from the facts in ../shared/notes/zero_shot_proxies.md so that our GradSign
can be run on exactly the model the published rank correlation came from.

Differences from the standard NB201 `TinyNetwork` (our ArchGraph build):
- every cell edge holds all five ops (in the order none, avg_pool_3x3, nor_conv_3x3, nor_conv_1x1,
  skip_connect); only the op the cell string names runs, the others get no gradient (zeros);
- cell convs carry a bias and cell BNs have neither affine parameters nor running statistics;
- built after `torch.manual_seed(arch_index)` with PyTorch's default init, so the random weights
  differ from ours (the extra unused convs consume the RNG stream) while their distribution is
  the same. At initialisation the function equals the standard network's (a bias before a
  non-affine BN cancels), so GradSign differs only through the random draw.
"""

from __future__ import annotations

import torch
from torch import nn

OPS = ("none", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect")


class _Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


def _relu_conv_bn(cin: int, cout: int, k: int, stride: int, cell: bool) -> nn.Sequential:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=cell),
        nn.BatchNorm2d(cout, affine=not cell, track_running_stats=not cell),
    )


def _op(name: str, c: int) -> nn.Module:
    if name == "none":
        return _Zero()
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if name == "nor_conv_3x3":
        return _relu_conv_bn(c, c, 3, 1, cell=True)
    if name == "nor_conv_1x1":
        return _relu_conv_bn(c, c, 1, 1, cell=True)
    return nn.Identity()


def parse_arch_str(arch_str: str) -> list[list[tuple[str, int]]]:
    """'|op~0|+|op~0|op~1|+...' -> per node, its (op, source) edges."""
    return [
        [(e.split("~")[0], int(e.split("~")[1])) for e in node.strip("|").split("|")]
        for node in arch_str.split("+")
    ]


class MaskedCell(nn.Module):
    def __init__(self, arch_str: str, c: int):
        super().__init__()
        nodes = parse_arch_str(arch_str)
        self.options = nn.ModuleList()
        self.keep: list[bool] = []
        for j, edges in enumerate(nodes):
            chosen = {src: op for op, src in edges}
            for i in range(j + 1):
                for name in OPS:
                    self.options.append(_op(name, c))
                    self.keep.append(chosen[i] == name)
        self.n_nodes = len(nodes)

    def forward(self, x):
        outs, idx = [x], 0
        for j in range(self.n_nodes):
            acc = []
            for i in range(j + 1):
                for _ in OPS:
                    if self.keep[idx]:
                        acc.append(self.options[idx](outs[i]))
                    idx += 1
            outs.append(sum(acc))
        return outs[-1]


class _Reduction(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.residual = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))
        self.conv_a = _relu_conv_bn(cin, cout, 3, 2, cell=False)
        self.conv_b = _relu_conv_bn(cout, cout, 3, 1, cell=False)

    def forward(self, x):
        return self.residual(x) + self.conv_b(self.conv_a(x))


class MaskedNB201(nn.Module):
    def __init__(self, arch_str: str, num_classes: int = 10, c: int = 16, n: int = 5):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        self.cells1 = nn.Sequential(*[MaskedCell(arch_str, c) for _ in range(n)])
        self.red1 = _Reduction(c, 2 * c)
        self.cells2 = nn.Sequential(*[MaskedCell(arch_str, 2 * c) for _ in range(n)])
        self.red2 = _Reduction(2 * c, 4 * c)
        self.cells3 = nn.Sequential(*[MaskedCell(arch_str, 4 * c) for _ in range(n)])
        self.lastact = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(4 * c, num_classes)

    def forward(self, x):
        x = self.cells3(self.red2(self.cells2(self.red1(self.cells1(self.stem(x))))))
        return self.classifier(self.pool(self.lastact(x)).flatten(1))


def build(arch_str: str, arch_index: int) -> MaskedNB201:
    torch.manual_seed(arch_index)
    return MaskedNB201(arch_str)
