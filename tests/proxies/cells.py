"""The NB201 cells and reduced skeleton the proxy tests score (each proxy against its official
restatement on the same few cells)."""

from __future__ import annotations

from explorer.arch import build_model
from explorer.spaces.nb201 import NB201Space

CELLS = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|",
    "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|",
    "|none~0|+|nor_conv_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
)


def nb201(arch: str, seed: int = 0, n: int = 1):
    """A real NB201 cell in a reduced skeleton (C=8, `n` cells per stage, two reduction blocks), 32x32."""
    graph = NB201Space(channels=8, cells_per_stage=n).encode({"arch_str": arch})
    return graph, build_model(graph, seed=seed)
