"""The MBConv block exactly as Once-for-All builds it (MBConvLayer inside a ResidualBlock)."""

from __future__ import annotations

from .. import modules as M
from ..channels import middle_channels, se_channels
from ..registry import Cost, OpSpec, Param, ShapeError, register_op, shape_str
from ._common import check_kernel, conv_out, need_map


def mb_mid(p: dict, cin: int) -> int:
    """Middle channels: explicit `mid_channels`, else OFA's make_divisible(round(in * e), 8);
    expand ratio 1 keeps the input width (no expansion conv)."""
    if p["mid_channels"]:
        return p["mid_channels"]
    if p["expand_ratio"] == 1:
        return cin
    return middle_channels(cin, p["expand_ratio"])


def mb_has_expand(p: dict) -> bool:
    return p["expand_ratio"] != 1


def mb_skip(p: dict, cin: int, cout: int) -> bool:
    return bool(p["skip"]) and p["stride"] == 1 and cin == cout


def _shape(p, i):
    c, h, w = need_map(i[0])
    k, s = p["kernel"], p["stride"]
    if not mb_has_expand(p) and p["mid_channels"] not in (0, c):
        raise ShapeError(f"expand_ratio 1 has no expansion conv: mid_channels must be 0 or {c}")
    check_kernel(k, min(h, w), s)
    return (p["out_channels"], conv_out(h, k, s), conv_out(w, k, s))


def _check(p):
    errs = []
    if p["kernel"] % 2 == 0:
        errs.append(f"kernel {p['kernel']} must be odd (depthwise 'same' padding)")
    return errs


def _cost(p, i, o):
    cin, h, w = i[0]
    cout, oh, ow = o
    mid, k = mb_mid(p, cin), p["kernel"]
    params = macs = 0
    if mb_has_expand(p):
        params += cin * mid + 2 * mid
        macs += cin * mid * h * w
    params += mid * k * k + 2 * mid
    macs += mid * k * k * oh * ow
    if p["se"]:
        se = se_channels(mid)
        params += mid * se + se + se * mid + mid
        macs += 2 * mid * se
    params += mid * cout + 2 * cout
    macs += mid * cout * oh * ow
    return Cost(params=params, macs=macs)


def _workspace(p, i, o):
    """Expand conv/BN/act at the input's size, depthwise conv/BN/act and project conv/BN at the output's."""
    cin, h, w = i[0]
    cout, oh, ow = o
    mid = mb_mid(p, cin)
    return (3 * mid * h * w if mb_has_expand(p) else 0) + 3 * mid * oh * ow + 2 * cout * oh * ow


def _key(p, i, o):
    cin = i[0][0]
    key = (
        f"expanded_conv-input:{shape_str(i[0])}-output:{shape_str(o)}-expand:{mb_mid(p, cin)}"
        f"-kernel:{p['kernel']}-stride:{p['stride']}-idskip:{int(mb_skip(p, cin, o[0]))}"
        f"-se:{int(p['se'])}-hs:{int(p['act'] == 'h_swish')}"
    )
    return key + "-act:relu6" if p["act"] == "relu6" else key


def _build(p, i, o, shortcut=True):
    cin, cout = i[0][0], o[0]
    mid = mb_mid(p, cin)
    return M.MBConv(
        cin,
        cout,
        p["kernel"],
        p["stride"],
        mid,
        se_channels(mid) if p["se"] else 0,
        p["act"],
        skip=shortcut and mb_skip(p, cin, cout),
        has_expand=mb_has_expand(p),
    )


register_op(
    OpSpec(
        name="mbconv",
        category="blocks",
        doc="Inverted residual (MobileNetV2/V3, OFA): 1x1 expand, kxk depthwise (+SE), 1x1 project.",
        params=(
            Param("out_channels", int, 24, min=1, max=65536),
            Param("kernel", int, 3, min=1, max=15, help="depthwise kernel (odd)"),
            Param("stride", int, 1, min=1, max=8),
            Param("expand_ratio", float, 6.0, min=1.0, max=16.0, help="mid = make_divisible(in * ratio, 8)"),
            Param("mid_channels", int, 0, min=0, max=65536, help="explicit mid channels (0: from ratio)"),
            Param("se", bool, False, help="squeeze-excitation (reduction 4)"),
            Param("act", str, "relu", choices=("relu", "relu6", "h_swish")),
            Param("skip", bool, True, help="identity skip when stride 1 and in == out"),
        ),
        shape=_shape,
        check=_check,
        build=_build,
        cost=_cost,
        lut_key=_key,
        has_shortcut=True,
        workspace=_workspace,
    )
)
