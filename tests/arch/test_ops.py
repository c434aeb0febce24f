"""Every registered op builds, runs forward and backward, counts like torch, and round-trips."""

from __future__ import annotations

import pytest
import torch

from explorer.arch import OPS, build_model, count_complexity, from_json, to_json, validate
from tests.arch_helpers import op_graph, torch_macs, torch_params


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_builds_runs_and_counts(op):
    g = op_graph(op)
    report = validate(g)
    assert report.ok, [str(i) for i in report.issues]
    model = build_model(g, seed=0).train()
    x = torch.randn(2, 8, 16, 16, requires_grad=True)
    y = model(x)
    c = count_complexity(g)
    assert tuple(y.shape[1:]) == c.output_shape
    y.float().pow(2).mean().backward()
    if op not in ("none",):
        assert x.grad is not None
    assert c.params == torch_params(model)
    assert c.macs == torch_macs(model, x.detach())


@pytest.mark.parametrize("op", sorted(OPS))
def test_every_op_round_trips_through_json(op):
    g = op_graph(op)
    back = from_json(to_json(g))
    assert back == g
    assert to_json(back) == to_json(g)
    assert back.g.nodes["input"]["pos"] == (0.0, 0.0)


def test_every_op_has_a_schema_with_valid_defaults():
    for name, spec in OPS.items():
        assert spec.doc, name
        assert spec.param_errors(spec.defaults()) == [], name


def test_seeded_build_is_deterministic_and_leaves_global_rng_alone():
    g = op_graph("mbconv")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = build_model(g, seed=7)
    after = torch.rand(1)
    b = build_model(g, seed=7)
    assert torch.equal(before, after)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    c = build_model(g, seed=8)
    assert not torch.equal(
        a.state_dict()["layers.node.point_linear.conv.weight"],
        c.state_dict()["layers.node.point_linear.conv.weight"],
    )


def test_ofa_lut_key_format_for_mbconv():
    from explorer.arch import ArchGraph, lut_keys

    g = ArchGraph()
    g.add_node("input", {"channels": 24, "resolution": 112}, id="input")
    g.add_node("mbconv", {"out_channels": 32, "kernel": 5, "stride": 2, "expand_ratio": 6.0}, id="b")
    g.add_node("output", id="output")
    g.chain("input", "b", "output")
    assert lut_keys(g) == [
        (
            "b",
            "expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:5-stride:2-idskip:0-se:0-hs:0",
        )
    ]


def test_fused_hard_activations_equal_ofa_formulas():
    """HSwish/HSigmoid use torch's fused kernels; OFA writes x * relu6(x + 3) / 6 and relu6(x + 3) / 6."""
    import torch
    import torch.nn.functional as F

    from explorer.arch.modules import HSigmoid, HSwish

    x = torch.linspace(-8, 8, 100_001)
    assert torch.allclose(HSwish()(x), x * F.relu6(x + 3.0) / 6.0, rtol=0, atol=1e-6)
    assert torch.allclose(HSigmoid()(x), F.relu6(x + 3.0) / 6.0, rtol=0, atol=1e-6)
