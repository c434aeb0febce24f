"""Small hand-drawn graphs shared by core and GUI tests (no Qt)."""

from __future__ import annotations

from explorer.arch import ArchGraph


def small_graph(connected: bool = True, width: int = 8, name: str = "small") -> ArchGraph:
    """input (16x16) -> conv_1 (`width` channels) -> pool -> fc (10) -> output, laid out in a row."""
    g = ArchGraph(name)
    g.add_node("input", {"resolution": 16}, id="input", pos=(0.0, 0.0))
    g.add_node("conv", {"out_channels": width}, id="conv_1", pos=(220.0, 0.0))
    g.add_node("global_avgpool", id="pool", pos=(440.0, 0.0))
    g.add_node("linear", {"out_features": 10}, id="fc", pos=(660.0, 0.0))
    g.add_node("output", id="output", pos=(880.0, 0.0))
    if connected:
        g.chain("input", "conv_1", "pool", "fc", "output")
    return g
