"""NAS-Bench-201 cells as fixed-length features for network-wise latency predictors.

``arch_str`` -> one-hot of 6 edges x 5 ops, op counts, and the same two again for the *live*
edges only (an edge whose op can reach the output from the input; dead ops are removed by many
deployment runtimes, so both views help), then the shape of the live graph (element-wise adds at
each node, live intermediate nodes, the longest chain of non-skip ops, non-skip inputs per node):
what a runtime that prunes the cell actually executes. Works on plain configs (the public CSVs),
no graph needed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..arch.ops.nb201 import NB201_OPS
from ..errors import ExplorerError
from .latency_features import LatencyFeatures

# (target node, source node) of the 6 edges, in arch_str order (as `spaces.nb201.EDGES`; kept here
# so the space module can import this one)
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def parse_nb201(arch_str: str) -> list[str]:
    """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> the 6 op names in edge order (lenient about
    whitespace, as the public CSVs need; the space's own `parse_arch_str` is strict)."""
    s = str(arch_str).strip()
    ops: list[str] = []
    try:
        nodes = s.split("+")
        if len(nodes) != 3:
            raise ValueError
        for i, node in enumerate(nodes):
            parts = [p for p in node.strip().strip("|").split("|") if p]
            if len(parts) != i + 1:
                raise ValueError
            for j, p in enumerate(parts):
                op, src = p.split("~")
                if int(src) != j or op not in NB201_OPS:
                    raise ValueError
                ops.append(op)
    except ValueError:
        raise ExplorerError(f"not a NAS-Bench-201 arch_str: {arch_str!r}") from None
    return ops


def nb201_live_edges(ops: list[str]) -> list[bool]:
    """Whether each edge lies on some input->output path of non-`none` edges."""
    fwd = {0}
    for t in (1, 2, 3):
        if any(ops[k] != "none" and s in fwd for k, (tt, s) in enumerate(EDGES) if tt == t):
            fwd.add(t)
    bwd = {3}
    for s in (2, 1, 0):
        if any(ops[k] != "none" and t in bwd for k, (t, ss) in enumerate(EDGES) if ss == s):
            bwd.add(s)
    return [ops[k] != "none" and s in fwd and t in bwd for k, (t, s) in enumerate(EDGES)]


def nb201_live_graph(ops: list[str], live: list[bool]) -> list[float]:
    """9 values describing the pruned cell: adds at nodes 1-3 and in all, live intermediate nodes,
    the longest input->output chain counted in non-skip ops, non-skip live inputs of nodes 1-3."""
    inputs = {1: 0, 2: 0, 3: 0}
    compute_inputs = {1: 0, 2: 0, 3: 0}
    longest = {0: 0}
    for t in (1, 2, 3):
        chains = []
        for k, (tt, s) in enumerate(EDGES):
            if tt == t and live[k]:
                inputs[t] += 1
                compute_inputs[t] += ops[k] != "skip_connect"
                chains.append(longest.get(s, 0) + (ops[k] != "skip_connect"))
        if chains:
            longest[t] = max(chains)
    adds = [max(0, inputs[t] - 1) for t in (1, 2, 3)]
    live_nodes = sum(1 for t in (1, 2) if inputs[t] > 0)
    return [*adds, sum(adds), live_nodes, longest.get(3, 0), *(compute_inputs[t] for t in (1, 2, 3))]


def nb201_features(arch_str: str) -> np.ndarray:
    """30 one-hot + 5 counts, the same for live edges only, then 9 live-graph values (79)."""
    ops = parse_nb201(arch_str)
    live = nb201_live_edges(ops)
    onehot = np.zeros((2, 6, 5))
    for k, op in enumerate(ops):
        onehot[0, k, NB201_OPS.index(op)] = 1
        if live[k]:
            onehot[1, k, NB201_OPS.index(op)] = 1
    return np.concatenate(
        [
            onehot[0].ravel(),
            onehot[0].sum(0),
            onehot[1].ravel(),
            onehot[1].sum(0),
            nb201_live_graph(ops, live),
        ]
    ).astype(np.float64)


def _arch_str(config) -> str:
    """Configs come as {'arch_str': ...} dicts or bare strings (the public CSVs' column)."""
    a = config.get("arch_str") if isinstance(config, Mapping) else config
    if not isinstance(a, str):
        raise ExplorerError("an NB201 config needs an 'arch_str' string")
    return a


class NB201Latency(LatencyFeatures):
    family = "nb201"
    n_features = 79
    config_columns = ("arch_str",)
    stat_columns = (*range(30, 35), *range(65, 70))  # op counts: all edges and live edges
    views = {"live": list(range(35, 79))}  # what a runtime that prunes the cell executes
    legacy_widths = (70,)  # before the 9 live-graph values were appended

    def normalise(self, config) -> dict:
        return {"arch_str": _arch_str(config)}

    def row_features(self, config) -> np.ndarray:
        return nb201_features(_arch_str(config))

    def config_of_row(self, row: Mapping):
        return row["arch_str"]

    def coverage_configs(self, space, resolutions=None) -> list[dict]:
        """One cell holding each keyed op covers every key (the cell's shapes do not depend on the ops)."""
        return [
            {
                "arch_str": "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
                "+|none~0|skip_connect~1|nor_conv_3x3~2|"
            }
        ]


NB201_LATENCY = NB201Latency()
