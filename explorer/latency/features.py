"""Fixed-length numeric features of an architecture config, for network-wise latency predictors.

Two spaces are covered, both from their plain configs (no dependency on the graph core, so the
predictors work on the public CSV data as is):

- ``nb201``: ``arch_str`` -> one-hot of 6 edges x 5 ops, op counts, and the same two again for
  the *live* edges only (an edge whose op can reach the output from the input; dead ops are
  removed by many deployment runtimes, so both views help), then the shape of the live graph
  (element-wise adds at each node, live intermediate nodes, the longest chain of non-skip ops,
  non-skip inputs per node): what a runtime that prunes the cell actually executes.
- ``ofa-mbv3``: ``ks``/``e`` (20 digits) and ``d`` (5 digits) plus ``r`` -> one-hot kernel and
  expand per block masked by depth, depth one-hot per stage, resolution, and analytic MACs per
  block (computed here from the supernet geometry, as OFA's ``count_flops_given_config`` does).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from explorer.errors import ExplorerError
from explorer.spaces.ofa_geometry import (
    DEPTHS,
    EXPANDS,
    KERNELS,
    MAX_DEPTH,
    N_BLOCKS,
    N_STAGES,
    W10,
    OFAGeometry,
    middle_channels,
    se_channels,
)

SPACES = ("nb201", "ofa-mbv3-w1.0", "ofa-mbv3-w1.2", "proxylessnas-mobile")

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
# (target node, source node) of the 6 edges, in arch_str order
NB201_EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def canonical_space(space: str) -> str:
    """Normalise a space name: 'nb201', 'ofa-mbv3' (width unknown), 'ofa-mbv3-w1.0' or 'ofa-mbv3-w1.2'."""
    s = str(space).strip().lower().replace("_", "-")
    s = s.replace("w10", "w1.0").replace("w12", "w1.2")
    aliases = {"nas-bench-201": "nb201", "nasbench201": "nb201", "nb-201": "nb201", "ofa": "ofa-mbv3"}
    s = aliases.get(s, s)
    if s not in (*SPACES, "ofa-mbv3"):
        raise ExplorerError(f"unknown space {space!r}; expected one of {list(SPACES)}")
    return s


def space_family(space: str) -> str:
    """'nb201' or 'ofa-mbv3' (width dropped): which feature set and config columns apply."""
    return "nb201" if canonical_space(space) == "nb201" else "ofa-mbv3"


def space_matches(requested: str, covered: str) -> bool:
    """A config of `requested` space can be predicted by a device covering `covered`."""
    a, b = canonical_space(requested), canonical_space(covered)
    return a == b or {a, b} <= {"ofa-mbv3", "ofa-mbv3-w1.0", "ofa-mbv3-w1.2"} and "ofa-mbv3" in (a, b)


def parse_nb201(arch_str: str) -> list[str]:
    """`|op~0|+|op~0|op~1|+|op~0|op~1|op~2|` -> the 6 op names in edge order."""
    s = str(arch_str).strip()
    nodes = [n for n in s.split("+")]
    ops: list[str] = []
    try:
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
        if any(ops[k] != "none" and s in fwd for k, (tt, s) in enumerate(NB201_EDGES) if tt == t):
            fwd.add(t)
    bwd = {3}
    for s in (2, 1, 0):
        if any(ops[k] != "none" and t in bwd for k, (t, ss) in enumerate(NB201_EDGES) if ss == s):
            bwd.add(s)
    return [ops[k] != "none" and s in fwd and t in bwd for k, (t, s) in enumerate(NB201_EDGES)]


def nb201_live_graph(ops: list[str], live: list[bool]) -> list[float]:
    """9 values describing the pruned cell: adds at nodes 1-3 and in all, live intermediate nodes,
    the longest input->output chain counted in non-skip ops, non-skip live inputs of nodes 1-3."""
    inputs = {1: 0, 2: 0, 3: 0}
    compute_inputs = {1: 0, 2: 0, 3: 0}
    longest = {0: 0}
    for t in (1, 2, 3):
        chains = []
        for k, (tt, s) in enumerate(NB201_EDGES):
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


def _digits(value, n: int, name: str, allowed: tuple[int, ...]) -> list[int]:
    """A config list given as a digit string ('7537...') or a list of ints -> checked ints."""
    if isinstance(value, str):
        s = value.strip()
        if s.startswith("["):
            s = "".join(ch for ch in s if ch.isdigit())
        vals = [int(ch) for ch in s if ch.isdigit()]
    elif isinstance(value, (int, np.integer)):
        vals = [int(ch) for ch in str(int(value))]
    else:
        vals = [int(v) for v in value]
    if len(vals) != n:
        raise ExplorerError(f"OFA-MBv3 config {name!r} needs {n} values, got {len(vals)}")
    bad = sorted({v for v in vals if v not in allowed})
    if bad:
        raise ExplorerError(f"OFA-MBv3 config {name!r} has values {bad} outside {list(allowed)}")
    return vals


def ofa_config(cfg: Mapping) -> dict:
    """Normalise an OFA-MBv3 config (strings or lists) to {'ks','e','d': int lists, 'r': int}."""
    missing = [k for k in ("ks", "e", "d", "r") if k not in cfg]
    if missing:
        raise ExplorerError(f"OFA-MBv3 config lacks {missing}")
    try:
        r = int(cfg["r"])
    except (TypeError, ValueError):
        raise ExplorerError(f"OFA-MBv3 resolution r must be an integer, got {cfg['r']!r}") from None
    return {
        "ks": _digits(cfg["ks"], N_BLOCKS, "ks", KERNELS),
        "e": _digits(cfg["e"], N_BLOCKS, "e", EXPANDS),
        "d": _digits(cfg["d"], N_STAGES, "d", DEPTHS),
        "r": r,
    }


def ofa_block_macs(cfg: Mapping, geo: OFAGeometry = W10) -> tuple[list[float], float]:
    """MACs (millions) of each of the 20 elastic blocks (0 when inactive) and of the whole net."""
    c = ofa_config(cfg)
    r = c["r"]
    f = (r + 1) // 2
    total = f * f * 3 * geo.stem * 9  # stem 3x3 stride 2
    total += f * f * geo.stem * 9 + f * f * geo.stem * geo.first_block  # first block (dw + project)
    per_block = [0.0] * N_BLOCKS
    cin = geo.first_block
    for s in range(N_STAGES):
        cout = geo.stage_widths[s]
        for j in range(c["d"][s]):
            i = s * MAX_DEPTH + j
            stride = geo.stage_strides[s] if j == 0 else 1
            fo = int((f - 1) / stride + 1)
            mid = middle_channels(cin, c["e"][i])
            k = c["ks"][i]
            m = f * f * cin * mid + fo * fo * mid * k * k + fo * fo * mid * cout
            if geo.stage_se[s]:
                se = se_channels(mid)
                m += 2 * mid * se
            per_block[i] = m / 1e6
            total += m
            cin, f = cout, fo
    total += f * f * cin * geo.final_expand + geo.final_expand * geo.last_channel
    total += geo.last_channel * geo.n_classes
    return per_block, total / 1e6


def ofa_features(cfg: Mapping, geo: OFAGeometry = W10) -> np.ndarray:
    """120 masked one-hots + 15 depth one-hots + r terms + per-block and total MACs (160 values)."""
    c = ofa_config(cfg)
    x = np.zeros(N_BLOCKS * 6 + N_STAGES * 3 + 3 + N_BLOCKS + 2)
    for s in range(N_STAGES):
        x[N_BLOCKS * 6 + s * 3 + DEPTHS.index(c["d"][s])] = 1
        for j in range(c["d"][s]):
            i = s * MAX_DEPTH + j
            x[i * 6 + KERNELS.index(c["ks"][i])] = 1
            x[i * 6 + 3 + EXPANDS.index(c["e"][i])] = 1
    o = N_BLOCKS * 6 + N_STAGES * 3
    rr = c["r"] / 224.0
    x[o : o + 3] = (rr, rr * rr, sum(c["d"]) / 20.0)
    per_block, total = ofa_block_macs(c, geo)
    x[o + 3 : o + 3 + N_BLOCKS] = np.asarray(per_block) / 50.0
    x[-2] = total / 500.0
    x[-1] = math.log(total)
    return x


def featurize(space: str, configs: Iterable) -> np.ndarray:
    """Stack features of many configs: nb201 takes arch_str strings (or {'arch_str':..} dicts)."""
    space = space_family(space)
    rows = []
    for cfg in configs:
        if space == "nb201":
            a = cfg["arch_str"] if isinstance(cfg, Mapping) else cfg
            rows.append(nb201_features(a))
        else:
            rows.append(ofa_features(cfg))
    if not rows:
        return np.zeros((0, n_features(space)))
    return np.vstack(rows)


def feature_views(space: str) -> dict[str, list[int]]:
    """Named column subsets a predictor may be fitted on instead of all columns: for NB201 the
    live view (live one-hots, counts and graph) is what a runtime that prunes the cell runs."""
    return {"live": list(range(35, 79))} if space_family(space) == "nb201" else {}


# Features only ever grow by appending: a model saved when a space had fewer columns reads the
# leading ones (NB201 had 70 before the live-graph values were added).
LEGACY_WIDTHS = {"nb201": (70,)}


def columns_for(X: np.ndarray, space: str, width: int) -> np.ndarray:
    """X cut to the columns an older model of `space` was trained on (unchanged otherwise)."""
    if X.ndim == 2 and width < X.shape[1] and width in LEGACY_WIDTHS.get(space_family(space), ()):
        return X[:, :width]
    return X


def n_features(space: str) -> int:
    return 79 if space_family(space) == "nb201" else N_BLOCKS * 6 + N_STAGES * 3 + 3 + N_BLOCKS + 2
