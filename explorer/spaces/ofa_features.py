"""OFA-MobileNetV3 configs as fixed-length features for network-wise latency predictors.

``ks``/``e`` (20 digits) and ``d`` (5 digits) plus ``r`` -> one-hot kernel and expand per block
masked by depth, depth one-hot per stage, resolution, and analytic MACs per block (computed from
the supernet geometry, as OFA's ``count_flops_given_config`` does). Works on plain configs (the
public CSVs write ``"7537..."`` digit strings), no graph needed. Every width of the supernet
shares these features (MACs from the w1.0 geometry), as the shipped predictors were trained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from ..errors import ConfigError, ExplorerError
from .latency_features import LatencyFeatures
from .ofa_geometry import (
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

MAX_RESOLUTION = 4096  # far beyond any table or predictor; guards the arithmetic against absurd inputs
N_FEATURES = N_BLOCKS * 6 + N_STAGES * 3 + 3 + N_BLOCKS + 2


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
    if not isinstance(cfg, Mapping):
        raise ConfigError("an OFA-MBv3 config must be an object with ks, e, d, r")
    missing = [k for k in ("ks", "e", "d", "r") if k not in cfg]
    if missing:
        raise ExplorerError(f"OFA-MBv3 config lacks {missing}")
    try:
        r = int(cfg["r"])
    except (TypeError, ValueError, OverflowError):
        r = 0
    if isinstance(cfg["r"], bool) or not 1 <= r <= MAX_RESOLUTION:
        raise ConfigError(f"OFA-MBv3 resolution r must be an integer in 1..{MAX_RESOLUTION}")
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
    x = np.zeros(N_FEATURES)
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


class OFALatency(LatencyFeatures):
    family = "ofa-mbv3"
    n_features = N_FEATURES
    config_columns = ("ks", "e", "d", "r")
    # r/224, (r/224)^2, depth, MACs, log MACs
    stat_columns = (N_FEATURES - 25, N_FEATURES - 24, N_FEATURES - 23, N_FEATURES - 2, N_FEATURES - 1)

    def normalise(self, config) -> dict:
        return ofa_config(config)

    def row_features(self, config) -> np.ndarray:
        return ofa_features(config)

    def coverage_configs(self, space, resolutions=None) -> list[dict]:
        """All blocks of a stage after the first share one key per (kernel, expand), so the 9
        uniform configs (ks, e) with depth 4 everywhere cover every key at a resolution."""
        rs = list(resolutions or space.geo.resolutions)
        return [
            {"ks": [k] * N_BLOCKS, "e": [e] * N_BLOCKS, "d": [4] * N_STAGES, "r": r}
            for r in rs
            for k in KERNELS
            for e in EXPANDS
        ]


OFA_LATENCY = OFALatency()
