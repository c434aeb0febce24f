"""Convolutions: a general conv (+BN +activation) and a depthwise conv."""

from __future__ import annotations

from .. import modules as M
from ..registry import Cost, OpSpec, Param, ShapeError, register_op, shape_str
from ._common import check_kernel, conv_out, need_map

_KERNEL_HELP = "odd kernel size ('same' padding kernel // 2)"


def _conv_shape(p, i):
    c, h, w = need_map(i[0])
    k, s, g = p["kernel"], p["stride"], p["groups"]
    if c % g:
        raise ShapeError(f"groups={g} does not divide the {c} input channels")
    if p["out_channels"] % g:
        raise ShapeError(f"groups={g} does not divide out_channels={p['out_channels']}")
    check_kernel(k, min(h, w), s)
    return (p["out_channels"], conv_out(h, k, s), conv_out(w, k, s))


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
    if g == 1 and not bias and act == "h_swish":
        if k == 3 and s == 2 and bn:
            return f"Conv-{io}"
        if k == 1 and s == 1 and bn:
            return f"Conv_1-{io}"
        if k == 1 and s == 1 and not bn:
            return f"Conv_2-{io}"
    return f"conv-{io}-kernel:{k}-stride:{s}-groups:{g}-bias:{int(bias)}-bn:{int(bn)}-act:{act}"


def _conv_workspace(p, i, o):
    """conv -> BN -> act: the conv's and the BN's outputs besides the op's own."""
    return ((1 if p["bn"] else 0) + (1 if p["act"] != "none" else 0)) * o[0] * o[1] * o[2]


def _odd(p):
    return [] if p["kernel"] % 2 == 1 else [f"kernel {p['kernel']} must be odd ('same' padding)"]


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
        ),
        shape=_conv_shape,
        check=_odd,
        build=lambda p, i, o: M.ConvBNAct(
            i[0][0], p["out_channels"], p["kernel"], p["stride"], p["groups"], p["bias"], p["bn"], p["act"]
        ),
        cost=_conv_cost,
        lut_key=_conv_key,
        workspace=_conv_workspace,
    )
)


def _dw_shape(p, i):
    c, h, w = need_map(i[0])
    check_kernel(p["kernel"], min(h, w), p["stride"])
    return (c, conv_out(h, p["kernel"], p["stride"]), conv_out(w, p["kernel"], p["stride"]))


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
        ),
        shape=_dw_shape,
        check=_odd,
        build=lambda p, i, o: M.ConvBNAct(
            i[0][0], i[0][0], p["kernel"], p["stride"], i[0][0], p["bias"], p["bn"], p["act"]
        ),
        cost=_dw_cost,
        workspace=_conv_workspace,
        lut_key=lambda p, i, o: (
            f"dwconv-input:{shape_str(i[0])}-output:{shape_str(o)}-kernel:{p['kernel']}-stride:{p['stride']}"
            f"-bias:{int(p['bias'])}-bn:{int(p['bn'])}-act:{p['act']}"
        ),
    )
)
