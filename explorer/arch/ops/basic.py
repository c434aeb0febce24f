"""Graph plumbing and generic layers: input, output, pooling, add, concat, linear, identity,
dropout, batchnorm and a standalone activation."""

from __future__ import annotations

import math

from torch import nn

from .. import modules as M
from ..registry import Cost, OpSpec, Param, ShapeError, register_op, shape_str
from ._common import need_map, odd_unless_padded, same_padding, shape_text, window_out, window_suffix


def _input_build(p, i, o):
    return nn.Identity()


register_op(
    OpSpec(
        name="input",
        category="io",
        doc="The network input: an image batch of `channels` x `resolution` x `resolution`.",
        params=(
            Param("channels", int, 3, min=1, max=4096, help="input channels"),
            Param("resolution", int, 224, min=1, max=4096, help="input height and width"),
        ),
        shape=lambda p, i: (p["channels"], p["resolution"], p["resolution"]),
        build=_input_build,
        min_inputs=0,
        max_inputs=0,
    )
)

register_op(
    OpSpec(
        name="output",
        category="io",
        doc="The network output (exactly one per graph).",
        params=(),
        shape=lambda p, i: i[0],
        build=lambda p, i, o: nn.Identity(),
    )
)

register_op(
    OpSpec(
        name="identity",
        category="basic",
        doc="Passes its input through.",
        params=(),
        shape=lambda p, i: i[0],
        build=lambda p, i, o: nn.Identity(),
    )
)

register_op(
    OpSpec(
        name="dropout",
        category="basic",
        doc="Dropout (active in training only).",
        params=(Param("p", float, 0.1, min=0.0, max=0.99, help="drop probability"),),
        shape=lambda p, i: i[0],
        build=lambda p, i, o: nn.Dropout(p["p"]),
    )
)


def _bn_shape(p, i):
    need_map(i[0])
    return i[0]


register_op(
    OpSpec(
        name="batchnorm",
        category="basic",
        doc="BatchNorm2d over the channels of a feature map.",
        params=(Param("eps", float, 1e-5, min=1e-12, max=1.0),),
        shape=_bn_shape,
        build=lambda p, i, o: nn.BatchNorm2d(i[0][0], eps=p["eps"]),
        cost=lambda p, i, o: Cost(params=2 * i[0][0]),
        lut_key=lambda p, i, o: f"BN-input:{shape_str(i[0])}",
    )
)

register_op(
    OpSpec(
        name="activation",
        category="basic",
        doc="A standalone activation function.",
        params=(Param("act", str, "relu", choices=M.ACTIVATIONS),),
        shape=lambda p, i: i[0],
        build=lambda p, i, o: M.make_act(p["act"]),
        lut_key=lambda p, i, o: None if p["act"] == "none" else f"Act-input:{shape_str(i[0])}-act:{p['act']}",
    )
)


def _pool_shape(p, i):
    c, h, w = need_map(i[0])
    k, s, pad = p["kernel"], p["stride"], same_padding(p)
    if 2 * pad > k:
        raise ShapeError(f"padding {pad} is more than half the kernel {k}")
    return (c, window_out(h, k, s, pad, ceil=p["ceil_mode"]), window_out(w, k, s, pad, ceil=p["ceil_mode"]))


_POOL_PARAMS = (
    Param("kernel", int, 3, min=1, max=15, help="window size (odd for 'same' padding)"),
    Param("stride", int, 2, min=1, max=8),
    Param("padding", int, -1, min=-1, max=7, help="padding per side (-1: 'same', kernel // 2)"),
    Param("ceil_mode", bool, False, help="round the output size up (torch's ceil_mode)"),
)
_POOL_WINDOW = {"padding": -1, "ceil_mode": False, "count_include_pad": False}


def _pool_key(name):
    def key(p, i, o):
        base = f"{name}-input:{shape_str(i[0])}-output:{shape_str(o)}-kernel:{p['kernel']}"
        return base + window_suffix(p, _POOL_WINDOW)

    return key


register_op(
    OpSpec(
        name="avgpool",
        category="pooling",
        doc="Average pooling (default: padding kernel // 2, padded cells not counted).",
        params=(
            *_POOL_PARAMS,
            Param("count_include_pad", bool, False, help="padded cells count in the average"),
        ),
        shape=_pool_shape,
        check=odd_unless_padded,
        build=lambda p, i, o: nn.AvgPool2d(
            p["kernel"],
            p["stride"],
            same_padding(p),
            ceil_mode=p["ceil_mode"],
            count_include_pad=p["count_include_pad"],
        ),
        lut_key=_pool_key("AvgPool"),
    )
)

register_op(
    OpSpec(
        name="maxpool",
        category="pooling",
        doc="Max pooling (default: padding kernel // 2).",
        params=_POOL_PARAMS,
        shape=_pool_shape,
        check=odd_unless_padded,
        build=lambda p, i, o: nn.MaxPool2d(
            p["kernel"], p["stride"], same_padding(p), ceil_mode=p["ceil_mode"]
        ),
        lut_key=_pool_key("MaxPool"),
    )
)


def _gap_shape(p, i):
    c, _, _ = need_map(i[0])
    return (c, 1, 1)


register_op(
    OpSpec(
        name="global_avgpool",
        category="pooling",
        doc="Global average pooling to a 1x1 map (the end of the 'features' part of a network).",
        params=(),
        shape=_gap_shape,
        build=lambda p, i, o: M.GlobalAvgPool(),
        lut_key=lambda p, i, o: f"AvgPool2D-input:{shape_str(i[0])}-output:{shape_str(o)}",
    )
)


def _add_shape(p, i):
    first = i[0]
    for k, s in enumerate(i[1:], start=1):
        if s != first:
            raise ShapeError(
                f"add inputs differ: input 0 is {shape_text(first)}, input {k} is {shape_text(s)}"
            )
    return first


register_op(
    OpSpec(
        name="add",
        category="merge",
        doc="Element-wise sum of inputs of equal shape (residual links, NB201 cell nodes).",
        params=(),
        shape=_add_shape,
        build=lambda p, i, o: M.Add(),
        lut_key=lambda p, i, o: f"Add-input:{shape_str(o)}-inputs:{len(i)}",
        min_inputs=2,
        max_inputs=None,
    )
)


def _concat_shape(p, i):
    maps = [need_map(s, f"input {k}") for k, s in enumerate(i)]
    hw = maps[0][1:]
    for k, s in enumerate(maps[1:], start=1):
        if s[1:] != hw:
            raise ShapeError(
                f"concat needs equal H,W: input 0 is {shape_text(maps[0])}, input {k} is {shape_text(s)}"
            )
    return (sum(s[0] for s in maps), *hw)


register_op(
    OpSpec(
        name="concat",
        category="merge",
        doc="Concatenation along channels (inputs in port order).",
        params=(),
        shape=_concat_shape,
        build=lambda p, i, o: M.Concat(),
        lut_key=lambda p, i, o: "Concat-" + "-".join(f"input:{shape_str(s)}" for s in i),
        min_inputs=2,
        max_inputs=None,
    )
)


def _linear_in(p, shape) -> int:
    return math.prod(shape) if p["flatten"] else shape[-1]


def _linear_rows(p, shape) -> int:
    """How many positions the layer is applied at: 1 on a flattened input, else every position
    of the leading dimensions (a per-position linear such as ConvNeXt's channels-last MLP)."""
    return 1 if p["flatten"] else math.prod(shape[:-1])


def _linear_shape(p, i):
    if p["flatten"]:
        return (p["out_features"],)
    return (*i[0][:-1], p["out_features"])


def _linear_key(p, i, o):
    if not p["flatten"]:
        key = f"Linear-input:{shape_str(i[0])}-output:{shape_str(o)}"
        return key if p["bias"] else key + "-bias:0"
    key = f"Logits-input:1x1x{_linear_in(p, i[0])}-output:{p['out_features']}"
    return key if p["bias"] else key + "-bias:0"


register_op(
    OpSpec(
        name="linear",
        category="basic",
        doc="Fully connected layer on the flattened input (the classifier), or on the last dimension.",
        params=(
            Param("out_features", int, 1000, min=1, max=1_000_000),
            Param("bias", bool, True),
            Param("flatten", bool, True, help="flatten the input first; off: act on the last dimension"),
        ),
        shape=_linear_shape,
        build=lambda p, i, o: M.Linear(_linear_in(p, i[0]), p["out_features"], p["bias"], p["flatten"]),
        cost=lambda p, i, o: Cost(
            params=_linear_in(p, i[0]) * p["out_features"] + (p["out_features"] if p["bias"] else 0),
            macs=_linear_in(p, i[0]) * p["out_features"] * _linear_rows(p, i[0]),
        ),
        lut_key=_linear_key,
    )
)
