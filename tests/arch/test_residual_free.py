"""The residual-free build Zen-Score needs: shortcuts gone, everything else unchanged."""

from __future__ import annotations

import torch

from explorer.arch import ArchGraph, build_model
from explorer.arch.build import shortcut_inputs
from explorer.spaces import get_space


def test_mbconv_identity_skips_are_removed():
    sp = get_space("ofa-mbv3-w1.0")
    g = sp.encode(sp.sample(0))
    full, free = build_model(g, seed=1), build_model(g, residual_free=True, seed=1)
    assert full.node_module("block1").skip and not free.node_module("block1").skip
    free.load_state_dict(full.state_dict())  # same parameters, only the wiring differs
    x = torch.randn(2, 3, 64, 64)
    full.eval(), free.eval()
    assert not torch.allclose(full.forward_features(x), free.forward_features(x))


def test_nb201_reduction_shortcuts_removed_cell_skips_kept():
    sp = get_space("nb201")
    g = sp.encode({"arch_str": "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"})
    free = build_model(g, residual_free=True)
    assert free.node_module("reduce1").downsample is None
    assert [s for s in free._plan if s[0] == "s1c0_n3"][0][1] == ("s1c0_e03", "s1c0_e13", "s1c0_e23")
    full = build_model(g)
    assert len(list(free.parameters())) < len(list(full.parameters()))


def test_add_shortcut_edge_detected_and_dropped():
    g = ArchGraph()
    g.add_node("input", {"channels": 4, "resolution": 8}, id="input")
    g.add_node("conv", {"out_channels": 4}, id="c1")
    g.add_node("conv", {"out_channels": 4}, id="c2")
    g.add_node("add", id="res")
    g.add_node("output", id="output")
    g.chain("input", "c1", "c2")
    g.connect("c2", "res", 0)
    g.connect("c1", "res", 1)  # c1 -> res skips c2: a shortcut
    g.connect("res", "output")
    assert shortcut_inputs(g, "res") == ["c1"]
    model = build_model(g, residual_free=True).eval()
    x = torch.randn(1, 4, 8, 8)
    assert torch.allclose(model(x), model.node_module("c2")(model.node_module("c1")(x)))


def test_forward_features_is_the_pre_pooling_map():
    sp = get_space("ofa-mbv3-w1.0")
    g = sp.encode(dict(sp.sample(0), r=128))
    m = build_model(g)
    assert m.features_id == "final_expand"
    assert m.forward_features(torch.randn(1, 3, 128, 128)).shape == (1, 960, 4, 4)
