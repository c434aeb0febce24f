"""Small graphs for tests: one graph per op, and torch-side counting to check the IR's counts."""

from __future__ import annotations

import torch
from torch import nn

from explorer.arch import OPS, ArchGraph

EXAMPLE_PARAMS = {
    "conv": {"out_channels": 12, "kernel": 3, "stride": 2, "act": "h_swish"},
    "dwconv": {"kernel": 5, "stride": 1, "act": "relu6"},
    "mbconv": {"out_channels": 8, "kernel": 5, "expand_ratio": 4.0, "se": True, "act": "h_swish"},
    "nb201_resblock": {"out_channels": 16, "stride": 2},
    "linear": {"out_features": 10},
    "avgpool": {"kernel": 3, "stride": 2},
    "maxpool": {"kernel": 3, "stride": 2},
    "dropout": {"p": 0.2},
    "activation": {"act": "h_swish"},
    "permute": {"perm": "1,2,0"},
    "reshape": {"shape": "2,4,-1"},
    "flatten": {"start": 1},
    "slice": {"dim": 0, "start": 2, "end": 7, "step": 2},
    "channel_shuffle": {"groups": 4},
    "scale": {"channels_last": False},
    "layernorm": {"eps": 1e-6},
    "adaptive_pool": {"mode": "max", "out_h": 3, "out_w": 2},
    "opaque": {  # PReLU with its own slopes, run as the ATen operator
        "target": "aten.prelu.default",
        "call": '{"args": [{"in": 0}, {"w": "w0"}]}',
        "weights": '{"w0": {"shape": [8], "dtype": "float32", "param": true}}',
    },
}


def op_graph(op: str, channels: int = 8, resolution: int = 16) -> ArchGraph:
    """input -> (op, fed as many inputs as it needs) -> output."""
    g = ArchGraph(f"test {op}")
    inp = g.add_node("input", {"channels": channels, "resolution": resolution}, id="input", pos=(0, 0))
    if op == "input":
        out = g.add_node("output", id="output")
        g.connect(inp, out)
        return g
    spec = OPS[op]
    node = g.add_node(op, EXAMPLE_PARAMS.get(op), id="node", pos=(100.5, -3.25))
    if spec.min_inputs >= 2:
        for k in range(spec.min_inputs):
            branch = g.add_node("conv", {"out_channels": channels, "kernel": 1}, id=f"branch{k}")
            g.connect(inp, branch)
            g.connect(branch, node, k)
    else:
        g.connect(inp, node)
    if op != "output":
        out = g.add_node("output", id="output")
        g.connect(node, out)
    return g


def torch_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def torch_macs(model: nn.Module, x: torch.Tensor, method: str = "forward") -> int:
    """Conv and linear multiply-accumulates for batch 1, counted by hooks as OFA's counter does."""
    total = [0]

    def conv_hook(m, inp, out):
        k = m.weight.shape[2] * m.weight.shape[3]
        total[0] += m.in_channels // m.groups * out[0].numel() * k

    def linear_hook(m, inp, out):
        total[0] += m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    with torch.no_grad():
        getattr(model, method)(x[:1])
    for h in hooks:
        h.remove()
    return total[0]
