"""The fixed geometry of OFA MobileNetV3 supernets, as the official `OFAMobileNetV3` builds it.

Shared by the search space (config -> ArchGraph) and the elastic supernet so both agree on
every width, stride, activation and SE flag.
"""

from __future__ import annotations

from dataclasses import dataclass

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
SE_REDUCTION = 4
CHANNEL_DIVISIBLE = 8


def make_divisible(v: float, divisor: int = CHANNEL_DIVISIBLE, min_val: int | None = None) -> int:
    """Round `v` to a multiple of `divisor`, never going below 90 % of `v` (MobileNet rule)."""
    if min_val is None:
        min_val = divisor
    new_v = max(min_val, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def middle_channels(in_channels: int, expand_ratio: float) -> int:
    """Mid channels of an MBConv as OFA computes them: make_divisible(round(in * e), 8)."""
    return make_divisible(round(in_channels * expand_ratio), CHANNEL_DIVISIBLE)


def se_channels(mid: int) -> int:
    """Hidden width of the squeeze-excitation block (reduction 4, divisible by 8)."""
    return make_divisible(mid // SE_REDUCTION, CHANNEL_DIVISIBLE)


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
