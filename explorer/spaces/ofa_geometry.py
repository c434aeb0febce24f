"""The fixed geometry of OFA MobileNetV3 supernets, as the official `OFAMobileNetV3` builds it,
and the one walk over a config's active blocks (`ofa_blocks`).

Shared by the search space (config -> ArchGraph), the elastic supernet, extraction, the search
and the latency tables, so all agree on every width, stride, size, activation and SE flag.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# the channel rules live in the IR (the mbconv op uses them too); importable from here as before
from ..arch.channels import (  # noqa: F401
    CHANNEL_DIVISIBLE,
    SE_REDUCTION,
    make_divisible,
    middle_channels,
    se_channels,
)

KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)
DEPTHS = (2, 3, 4)
N_STAGES = 5
MAX_DEPTH = 4
N_BLOCKS = N_STAGES * MAX_DEPTH  # 20 elastic blocks

BASE_STAGE_WIDTH = (16, 16, 24, 40, 80, 112, 160, 960, 1280)
STRIDE_STAGES = (1, 2, 2, 2, 1, 2)  # first block, then the five elastic stages
ACT_STAGES = ("relu", "relu", "relu", "h_swish", "h_swish", "h_swish")
SE_STAGES = (False, False, True, False, True, True)


@dataclass(frozen=True)
class OFAGeometry:
    """Widths and per-stage settings of one OFA-MBv3 supernet (one width multiplier)."""

    width_mult: float
    stem: int  # first conv output channels
    first_block: int  # output of the fixed first MBConv (expand 1, k3, relu)
    stage_widths: tuple[int, ...]  # five elastic stages
    stage_strides: tuple[int, ...]
    stage_acts: tuple[str, ...]
    stage_se: tuple[bool, ...]
    final_expand: int  # 1x1 conv + BN + h_swish before global pooling
    last_channel: int  # feature-mix 1x1 conv (no BN) after pooling
    n_classes: int = 1000
    dropout: float = 0.1
    resolutions: tuple[int, ...] = tuple(range(128, 225, 4))

    def stage_of_block(self, i: int) -> tuple[int, int]:
        """(stage, index inside stage) of elastic block i in 0..19."""
        return divmod(i, MAX_DEPTH)


def geometry(width_mult: float, n_classes: int = 1000) -> OFAGeometry:
    widths = [make_divisible(w * width_mult, CHANNEL_DIVISIBLE) for w in BASE_STAGE_WIDTH[:-2]]
    return OFAGeometry(
        width_mult=width_mult,
        stem=widths[0],
        first_block=widths[1],
        stage_widths=tuple(widths[2:]),
        stage_strides=STRIDE_STAGES[1:],
        stage_acts=ACT_STAGES[1:],
        stage_se=SE_STAGES[1:],
        final_expand=make_divisible(BASE_STAGE_WIDTH[-2] * width_mult, CHANNEL_DIVISIBLE),
        last_channel=make_divisible(BASE_STAGE_WIDTH[-1] * width_mult, CHANNEL_DIVISIBLE),
        n_classes=n_classes,
        resolutions=tuple(range(128, 225, 4)) if width_mult == 1.0 else tuple(range(160, 225, 4)),
    )


W10 = geometry(1.0)
W12 = geometry(1.2)


def block_io(geo: OFAGeometry, i: int) -> tuple[int, int, int]:
    """(in_channels, out_channels, stride) of elastic block i (active or not)."""
    s, j = divmod(i, MAX_DEPTH)
    cin = (geo.first_block if s == 0 else geo.stage_widths[s - 1]) if j == 0 else geo.stage_widths[s]
    return cin, geo.stage_widths[s], geo.stage_strides[s] if j == 0 else 1


def active_blocks(depths: Sequence[int]) -> list[int]:
    """Indices of the blocks a depth setting keeps (the first d of each stage)."""
    return [s * MAX_DEPTH + j for s in range(N_STAGES) for j in range(depths[s])]


def stem_size(resolution: int) -> int:
    """Feature-map side after the stride-2 3x3 stem (and the stride-1 first block)."""
    return (resolution + 1) // 2


@dataclass(frozen=True)
class OFABlock:
    """One active elastic block of a config: everything a reader of the walk needs."""

    index: int  # 0..19; the graph node is block{index}
    stage: int  # 0..4
    depth: int  # position inside its stage (0: the stage's first, strided block)
    kernel: int
    expand: int
    in_channels: int
    out_channels: int
    stride: int
    mid_channels: int
    se: bool
    act: str
    in_size: int  # input side in pixels; 0 when the config carries no resolution
    out_size: int

    @property
    def skip(self) -> bool:
        """OFA's identity skip (stride 1 and in == out: every block but a stage's first)."""
        return self.stride == 1 and self.in_channels == self.out_channels

    @property
    def node_id(self) -> str:
        return f"block{self.index}"


def ofa_blocks(config: Mapping, geo: OFAGeometry = W10) -> list[OFABlock]:
    """The active blocks of `config` ({"ks", "e", "d"} and optionally "r") in execution order.

    The one place that walks stages and depths: sizes follow OFA's rule (stem halves, a block's
    output is (in - 1) // stride + 1). Expects a checked config (`space.check`)."""
    ks, e, r = config["ks"], config["e"], config.get("r")
    size = stem_size(int(r)) if r else 0
    out = []
    for i in active_blocks(config["d"]):
        s, j = divmod(i, MAX_DEPTH)
        cin, cout, stride = block_io(geo, i)
        out_size = (size - 1) // stride + 1 if size else 0
        out.append(
            OFABlock(
                index=i,
                stage=s,
                depth=j,
                kernel=int(ks[i]),
                expand=int(e[i]),
                in_channels=cin,
                out_channels=cout,
                stride=stride,
                mid_channels=middle_channels(cin, e[i]),
                se=geo.stage_se[s],
                act=geo.stage_acts[s],
                in_size=size,
                out_size=out_size,
            )
        )
        size = out_size
    return out
