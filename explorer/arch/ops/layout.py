"""Tensor-layout ops imported models need: permute, reshape, flatten, slice and channel shuffle.

Dimensions are counted without the batch (0 is the channels of a (C,H,W) map). None of them has
weights or MACs; permute, reshape and shuffle move memory, so they have latency-table keys.
"""

from __future__ import annotations

import math
import re

from .. import modules as M
from ..registry import OpSpec, Param, ShapeError, register_op, shape_str
from ._common import need_map, shape_text

_INTS = re.compile(r"^-?\d+(,-?\d+)*$")


def parse_ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(","))


def _ints_check(name: str):
    def check(p):
        if not _INTS.match(p[name].replace(" ", "")):
            return [f"{name} must be comma-separated integers, got {p[name]!r}"]
        return []

    return check


def _perm_shape(p, i):
    perm = parse_ints(p["perm"])
    if sorted(perm) != list(range(len(i[0]))):
        raise ShapeError(
            f"perm {p['perm']} is not a permutation of the {len(i[0])} dims of {shape_text(i[0])}"
        )
    return tuple(i[0][d] for d in perm)


register_op(
    OpSpec(
        name="permute",
        category="layout",
        doc="Reorders the dimensions (batch excluded): '1,2,0' turns (C,H,W) into (H,W,C).",
        params=(Param("perm", str, "0,1,2", help="new order of the non-batch dims, e.g. 1,2,0"),),
        shape=_perm_shape,
        check=_ints_check("perm"),
        build=lambda p, i, o: M.Permute(parse_ints(p["perm"])),
        lut_key=lambda p, i, o: f"Permute-input:{shape_str(i[0])}-perm:{p['perm'].replace(' ', '')}",
    )
)


def _reshape_target(p, shape) -> tuple[int, ...]:
    target = list(parse_ints(p["shape"]))
    n = math.prod(shape)
    if target.count(-1) > 1:
        raise ShapeError("reshape target may hold at most one -1")
    if any(v == 0 or v < -1 for v in target):
        raise ShapeError(f"reshape target {p['shape']} has a non-positive size")
    if -1 in target:
        known = math.prod(v for v in target if v != -1)
        if n % known:
            raise ShapeError(f"cannot reshape {shape_text(shape)} ({n} values) into {p['shape']}")
        target[target.index(-1)] = n // known
    if math.prod(target) != n:
        raise ShapeError(f"cannot reshape {shape_text(shape)} ({n} values) into {p['shape']}")
    return tuple(target)


register_op(
    OpSpec(
        name="reshape",
        category="layout",
        doc="Reshapes the non-batch dimensions (one size may be -1).",
        params=(Param("shape", str, "-1", help="target sizes without the batch, e.g. 2,16,8,8"),),
        shape=lambda p, i: _reshape_target(p, i[0]),
        check=_ints_check("shape"),
        build=lambda p, i, o: M.Reshape(o),
        lut_key=lambda p, i, o: f"Reshape-input:{shape_str(i[0])}-output:{shape_str(o)}",
    )
)


def _flatten_range(p, shape) -> tuple[int, int]:
    n = len(shape)
    start = p["start"] + n if p["start"] < 0 else p["start"]
    end = p["end"] + n if p["end"] < 0 else p["end"]
    if not (0 <= start <= end < n):
        raise ShapeError(f"cannot flatten dims {p['start']}..{p['end']} of {shape_text(shape)}")
    return start, end


def _flatten_shape(p, i):
    start, end = _flatten_range(p, i[0])
    s = i[0]
    return (*s[:start], math.prod(s[start : end + 1]), *s[end + 1 :])


register_op(
    OpSpec(
        name="flatten",
        category="layout",
        doc="Flattens dims start..end (batch excluded; the default turns a (C,H,W) map into a vector).",
        params=(Param("start", int, 0, min=-8, max=7), Param("end", int, -1, min=-8, max=7)),
        shape=_flatten_shape,
        build=lambda p, i, o: M.Flatten(*_flatten_range(p, i[0])),
    )
)


def _slice_bounds(p, shape) -> tuple[int, int, int]:
    if not -len(shape) <= p["dim"] < len(shape):
        raise ShapeError(f"dim {p['dim']} is outside {shape_text(shape)}")
    dim = p["dim"] % len(shape)
    size = shape[dim]
    end = size if p["end"] == 0 else min(p["end"], size)
    if p["start"] >= end:
        raise ShapeError(f"slice {p['start']}:{p['end']} of a dim of size {size} is empty")
    return dim, p["start"], end


def _slice_shape(p, i):
    dim, start, end = _slice_bounds(p, i[0])
    out = list(i[0])
    out[dim] = len(range(start, end, p["step"]))
    return tuple(out)


register_op(
    OpSpec(
        name="slice",
        category="layout",
        doc="Keeps start:end:step of one dimension (ShuffleNet's channel split; end 0: to the end).",
        params=(
            Param("dim", int, 0, min=-8, max=7, help="non-batch dim (0: channels)"),
            Param("start", int, 0, min=0, max=1_000_000),
            Param("end", int, 0, min=0, max=1_000_000, help="exclusive; 0: to the end"),
            Param("step", int, 1, min=1, max=1_000_000),
        ),
        shape=_slice_shape,
        build=lambda p, i, o: M.Slice(*_slice_bounds(p, i[0]), p["step"]),
        lut_key=lambda p, i, o: f"Slice-input:{shape_str(i[0])}-output:{shape_str(o)}",
    )
)


def _shuffle_shape(p, i):
    c, _, _ = need_map(i[0])
    if c % p["groups"]:
        raise ShapeError(f"groups={p['groups']} does not divide the {c} channels")
    return i[0]


register_op(
    OpSpec(
        name="channel_shuffle",
        category="layout",
        doc="ShuffleNet's channel shuffle: channels regrouped across `groups` (view, transpose, view).",
        params=(Param("groups", int, 2, min=1, max=1024),),
        shape=_shuffle_shape,
        build=lambda p, i, o: M.ChannelShuffle(p["groups"]),
        lut_key=lambda p, i, o: f"ChannelShuffle-input:{shape_str(i[0])}-groups:{p['groups']}",
    )
)
