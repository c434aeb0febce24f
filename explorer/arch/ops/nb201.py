"""NAS-Bench-201 edge ops and its ResNet reduction block, as the official `TinyNetwork` builds them."""

from __future__ import annotations

from torch import nn

from .. import modules as M
from ..registry import Cost, OpSpec, Param, ShapeError, register_op, shape_str
from ._common import need_map

NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
CATEGORY = "nb201"  # the op palette's group for these ops (an op category, not a space name)


def _same(p, i):
    need_map(i[0])
    return i[0]


def _key(name):
    return lambda p, i, o: f"{name}-input:{shape_str(i[0])}-output:{shape_str(o)}"


def _relu_conv_bn_cost(k):
    def cost(p, i, o):
        c = i[0][0]
        return Cost(params=c * c * k * k + 2 * c, macs=c * c * k * k * o[1] * o[2])

    return cost


_EDGE = {
    "none": ("Zero: the edge carries nothing (zeros).", lambda p, i, o: M.Zero(), lambda p, i, o: Cost()),
    "skip_connect": ("Identity edge.", lambda p, i, o: nn.Identity(), lambda p, i, o: Cost()),
    "nor_conv_1x1": (
        "ReLU -> 1x1 conv -> BN.",
        lambda p, i, o: M.ReLUConvBN(i[0][0], i[0][0], 1, 1, 0),
        _relu_conv_bn_cost(1),
    ),
    "nor_conv_3x3": (
        "ReLU -> 3x3 conv -> BN.",
        lambda p, i, o: M.ReLUConvBN(i[0][0], i[0][0], 3, 1, 1),
        _relu_conv_bn_cost(3),
    ),
    "avg_pool_3x3": (
        "3x3 average pooling, stride 1 (padding not counted).",
        lambda p, i, o: nn.AvgPool2d(3, 1, 1, count_include_pad=False),
        lambda p, i, o: Cost(),
    ),
}


def _numel3(o):
    return o[0] * o[1] * o[2]


for _name, (_doc, _build, _cost) in _EDGE.items():
    # none and skip_connect cost nothing to run, so they have no latency-table entry
    _extra = {} if _name in ("none", "skip_connect") else {"lut_key": _key(_name)}
    if _name.startswith("nor_conv"):  # ReLU and conv outputs besides the BN's
        _extra["workspace"] = lambda p, i, o: 2 * _numel3(o)
    register_op(
        OpSpec(
            name=_name,
            category=CATEGORY,
            doc="NAS-Bench-201 edge op. " + _doc,
            params=(),
            shape=_same,
            build=_build,
            cost=_cost,
            **_extra,
        )
    )


def _res_shape(p, i):
    c, h, w = need_map(i[0])
    s = p["stride"]
    if s == 2 and (h % 2 or w % 2):
        raise ShapeError(f"stride 2 needs even H and W (the shortcut's 2x2 pool), got {h}x{w}")
    return (p["out_channels"], (h - 1) // s + 1, (w - 1) // s + 1)


def _res_cost(p, i, o):
    cin, h, w = i[0]
    cout, oh, ow = o
    params = cin * cout * 9 + 2 * cout + cout * cout * 9 + 2 * cout
    macs = cin * cout * 9 * oh * ow + cout * cout * 9 * oh * ow
    if p["stride"] == 2:
        params += cin * cout
        macs += cin * cout * oh * ow
    elif cin != cout:
        params += cin * cout + 2 * cout
        macs += cin * cout * oh * ow
    return Cost(params=params, macs=macs)


register_op(
    OpSpec(
        name="nb201_resblock",
        category=CATEGORY,
        doc="NAS-Bench-201 reduction block: two ReLU-conv3x3-BN and a 2x2 avgpool + 1x1 conv shortcut.",
        params=(
            Param("out_channels", int, 32, min=1, max=65536),
            Param("stride", int, 2, choices=(1, 2)),
        ),
        shape=_res_shape,
        build=lambda p, i, o, shortcut=True: M.ResNetBasicBlock(i[0][0], o[0], p["stride"], shortcut),
        cost=_res_cost,
        lut_key=lambda p, i, o: f"ResNetBasicblock-input:{shape_str(i[0])}-output:{shape_str(o)}",
        has_shortcut=True,
        workspace=lambda p, i, o: 6 * _numel3(o),  # two ReLU-conv-BN, the shortcut's pool and conv
    )
)
