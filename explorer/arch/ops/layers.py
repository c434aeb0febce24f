"""Layers real CNN zoos use beyond the built-in spaces: a broadcast (gating) multiply, a learnable
layer scale, LayerNorm on the last dimension and adaptive pooling. No MACs (the project counts
conv and linear multiply-accumulates only); the scale and LayerNorm count their weights."""

from __future__ import annotations

from torch import nn

from .. import modules as M
from ..registry import Cost, OpSpec, Param, ShapeError, register_op, shape_str
from ._common import need_map, shape_text


def _mul_shape(p, i):
    a, b = i
    if len(a) != len(b):
        raise ShapeError(f"mul inputs need the same rank: {shape_text(a)} and {shape_text(b)}")
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"mul inputs do not broadcast: {shape_text(a)} and {shape_text(b)}")
        out.append(max(x, y))
    return tuple(out)


register_op(
    OpSpec(
        name="mul",
        category="merge",
        doc="Element-wise product with broadcasting: squeeze-excitation and other gating.",
        params=(),
        shape=_mul_shape,
        build=lambda p, i, o: M.Mul(),
        lut_key=lambda p, i, o: f"Mul-input:{shape_str(i[0])}-gate:{shape_str(i[1])}",
        min_inputs=2,
        max_inputs=2,
    )
)


def _scale_channels(p, shape) -> int:
    return shape[-1] if p["channels_last"] else shape[0]


register_op(
    OpSpec(
        name="scale",
        category="basic",
        doc="Learnable per-channel multiplier (layer scale, ConvNeXt's gamma).",
        params=(Param("channels_last", bool, False, help="scale the last dim instead of the channels"),),
        shape=lambda p, i: i[0],
        build=lambda p, i, o: M.Scale(_scale_channels(p, i[0]), p["channels_last"]),
        cost=lambda p, i, o: Cost(params=_scale_channels(p, i[0])),
        lut_key=lambda p, i, o: f"Scale-input:{shape_str(i[0])}-last:{int(p['channels_last'])}",
    )
)

register_op(
    OpSpec(
        name="layernorm",
        category="basic",
        doc="LayerNorm over the last dimension (channels-last, as ConvNeXt and transformers use it).",
        params=(
            Param("eps", float, 1e-5, min=1e-12, max=1.0),
            Param("affine", bool, True, help="learnable weight and bias"),
        ),
        shape=lambda p, i: i[0],
        build=lambda p, i, o: nn.LayerNorm(i[0][-1], eps=p["eps"], elementwise_affine=p["affine"]),
        cost=lambda p, i, o: Cost(params=2 * i[0][-1] if p["affine"] else 0),
        lut_key=lambda p, i, o: f"LayerNorm-input:{shape_str(i[0])}",
    )
)


def _adaptive_shape(p, i):
    c, _, _ = need_map(i[0])
    return (c, p["out_h"], p["out_w"])


register_op(
    OpSpec(
        name="adaptive_pool",
        category="pooling",
        doc="Adaptive average or max pooling to a fixed out_h x out_w (VGG's 7x7 head).",
        params=(
            Param("mode", str, "avg", choices=("avg", "max")),
            Param("out_h", int, 1, min=1, max=4096),
            Param("out_w", int, 1, min=1, max=4096),
        ),
        shape=_adaptive_shape,
        build=lambda p, i, o: (nn.AdaptiveAvgPool2d if p["mode"] == "avg" else nn.AdaptiveMaxPool2d)(
            (p["out_h"], p["out_w"])
        ),
        lut_key=lambda p, i, o: (
            f"AdaptivePool-input:{shape_str(i[0])}-output:{shape_str(o)}-mode:{p['mode']}"
        ),
    )
)
