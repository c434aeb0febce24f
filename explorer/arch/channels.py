"""Channel-width rules of MobileNet-style blocks, shared by the mbconv op and the OFA geometry
(they live in the IR so an op never imports a search space)."""

from __future__ import annotations

CHANNEL_DIVISIBLE = 8
SE_REDUCTION = 4


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
