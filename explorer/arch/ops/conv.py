"""Convolutions: a general conv (+BN +activation) and a depthwise conv. Padding, dilation and the
BN epsilon default to what the built-in spaces use ('same' padding, 1, 1e-5); imported models set
them to what their layers had."""

from __future__ import annotations

from .. import modules as M
from ..registry import Cost, OpSpec, Param, ShapeError, register_op, shape_str
from ._common import need_map, odd_unless_padded, same_padding, window_out, window_suffix

_KERNEL_HELP = "kernel size (odd for 'same' padding)"

_WINDOW = {"padding": -1, "dilation": 1}  # defaults; non-default values name themselves in LUT keys
_WINDOW_PARAMS = (
    Param("padding", int, -1, min=-1, max=64, help="zero padding per side (-1: 'same', dilation * (k // 2))"),
    Param("dilation", int, 1, min=1, max=16),
)
_BN_EPS = Param("bn_eps", float, 1e-5, min=1e-12, max=1.0, help="BatchNorm epsilon")


def _hw(p, h, w):
    pad, k, s, d = same_padding(p), p["kernel"], p["stride"], p["dilation"]
    oh, ow = window_out(h, k, s, pad, d), window_out(w, k, s, pad, d)
    if oh < 1 or ow < 1:
        raise ShapeError(f"stride {s} leaves no output for input size {min(h, w)}")
    return oh, ow


def _conv_shape(p, i):
    c, h, w = need_map(i[0])
    g = p["groups"]
    if c % g:
        raise ShapeError(f"groups={g} does not divide the {c} input channels")
    if p["out_channels"] % g:
        raise ShapeError(f"groups={g} does not divide out_channels={p['out_channels']}")
    return (p["out_channels"], *_hw(p, h, w))


def _conv_cost(p, i, o):
    cin, cout, k, g = i[0][0], o[0], p["kernel"], p["groups"]
    weights = cin // g * cout * k * k
    params = weights + (cout if p["bias"] else 0) + (2 * cout if p["bn"] else 0)
    return Cost(params=params, macs=weights * o[1] * o[2])


def _conv_key(p, i, o):
    """OFA's names for the conv layers its tables hold (stem `Conv`, final expand `Conv_1`,
    feature mix `Conv_2`); every other conv gets a key naming all its parameters."""
    k, s, g, bn, act, bias = p["kernel"], p["stride"], p["groups"], p["bn"], p["act"], p["bias"]
    io = f"input:{shape_str(i[0])}-output:{shape_str(o)}"
    extra = window_suffix(p, _WINDOW)
    if g == 1 and not bias and act == "h_swish" and not extra:
        if k == 3 and s == 2 and bn:
            return f"Conv-{io}"
        if k == 1 and s == 1 and bn:
            return f"Conv_1-{io}"
        if k == 1 and s == 1 and not bn:
            return f"Conv_2-{io}"
    return f"conv-{io}-kernel:{k}-stride:{s}-groups:{g}-bias:{int(bias)}-bn:{int(bn)}-act:{act}{extra}"


def _conv_workspace(p, i, o):
    """conv -> BN -> act: the conv's and the BN's outputs besides the op's own."""
    return ((1 if p["bn"] else 0) + (1 if p["act"] != "none" else 0)) * o[0] * o[1] * o[2]


def _build(p, i, groups):
    return M.ConvBNAct(
        i[0][0],
        p.get("out_channels", i[0][0]),
        p["kernel"],
        p["stride"],
        groups,
        p["bias"],
        p["bn"],
        p["act"],
        padding=same_padding(p),
        dilation=p["dilation"],
        bn_eps=p["bn_eps"],
    )


register_op(
    OpSpec(
        name="conv",
        category="conv",
        doc="2-D convolution with optional BatchNorm and activation (conv -> BN -> act).",
        params=(
            Param("out_channels", int, 32, min=1, max=65536),
            Param("kernel", int, 3, min=1, max=15, help=_KERNEL_HELP),
            Param("stride", int, 1, min=1, max=8),
            Param("groups", int, 1, min=1, max=65536),
            Param("bias", bool, False),
            Param("bn", bool, True, help="BatchNorm after the conv"),
            Param("act", str, "relu", choices=M.ACTIVATIONS),
            *_WINDOW_PARAMS,
            _BN_EPS,
        ),
        shape=_conv_shape,
        check=odd_unless_padded,
        build=lambda p, i, o: _build(p, i, p["groups"]),
        cost=_conv_cost,
        lut_key=_conv_key,
        workspace=_conv_workspace,
        latency_kind=lambda p: "conv-grouped" if p["groups"] > 1 else "conv",
    )
)


def _dw_shape(p, i):
    c, h, w = need_map(i[0])
    return (c, *_hw(p, h, w))


def _dw_cost(p, i, o):
    c, k = i[0][0], p["kernel"]
    params = c * k * k + (c if p["bias"] else 0) + (2 * c if p["bn"] else 0)
    return Cost(params=params, macs=c * k * k * o[1] * o[2])


register_op(
    OpSpec(
        name="dwconv",
        category="conv",
        doc="Depthwise convolution (one filter per channel) with optional BatchNorm and activation.",
        params=(
            Param("kernel", int, 3, min=1, max=15, help=_KERNEL_HELP),
            Param("stride", int, 1, min=1, max=8),
            Param("bias", bool, False),
            Param("bn", bool, True),
            Param("act", str, "relu", choices=M.ACTIVATIONS),
            *_WINDOW_PARAMS,
            _BN_EPS,
        ),
        shape=_dw_shape,
        check=odd_unless_padded,
        build=lambda p, i, o: _build(p, i, i[0][0]),
        cost=_dw_cost,
        workspace=_conv_workspace,
        latency_kind=lambda p: "conv-grouped",
        lut_key=lambda p, i, o: (
            f"dwconv-input:{shape_str(i[0])}-output:{shape_str(o)}-kernel:{p['kernel']}-stride:{p['stride']}"
            f"-bias:{int(p['bias'])}-bn:{int(p['bn'])}-act:{p['act']}{window_suffix(p, _WINDOW)}"
        ),
    )
)
