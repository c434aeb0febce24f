"""Graph-level edit commands in the core (no Qt): Net2Net growth returns the new graph with its
weights, the lineage and what to say; refusals name the reason; the digest that ties metrics to a
graph ignores what metrics do not depend on."""

from __future__ import annotations

import pytest
import torch

from explorer import edits
from explorer.arch import ArchGraph
from explorer.arch.build import build_model
from explorer.estimators.net2net import Net2NetError, load_weights


def chain() -> ArchGraph:
    g = ArchGraph("n2n")
    g.add_node("input", {"resolution": 16}, id="input", pos=(0.0, 0.0))
    g.add_node("conv", {"out_channels": 8}, id="conv_1")
    g.add_node("conv", {"out_channels": 8}, id="conv_2")
    g.add_node("global_avgpool", id="pool")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", "conv_1", "conv_2", "pool", "fc", "output")
    return g


def run(graph, state, x):
    with torch.no_grad():
        return load_weights(graph, state).eval()(x)


def test_widen_then_deepen_keep_the_function_and_record_lineage():
    g0 = chain()
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    y0 = run(g0, build_model(g0, seed=0).state_dict(), x)  # what a graph without weights grows from
    w = edits.widen(g0, None, "conv_1", 13)
    assert w.text == "Widen conv_1 to 13" and "8 \u2192 13" in w.message and edits.FRESH in w.message
    assert w.graph.params("conv_1")["out_channels"] == 13 and g0.params("conv_1")["out_channels"] == 8
    assert (run(w.graph, w.weights, x) - y0).abs().max().item() <= 1e-5
    assert w.graph.meta["lineage"] == {"parent": "n2n", "op": "widen", "node": "conv_1", "width": 13}

    w.graph.meta["candidate_id"] = 7  # kept in a project: its child points at the row
    d = edits.deepen(w.graph, w.weights, "conv_2")
    assert d.new_node in d.graph and d.graph.inputs(d.new_node) == ["conv_2"] and edits.FRESH not in d.message
    assert (run(d.graph, d.weights, x) - y0).abs().max().item() <= 1e-5
    assert d.graph.meta["parent_id"] == 7 and "candidate_id" not in d.graph.meta
    assert d.graph.meta["lineage"]["parent"] == 7 and d.graph.meta["lineage"]["op"] == "deepen"


def test_refusals_name_the_reason():
    g = chain()
    with pytest.raises(Net2NetError, match="must be larger than the current 8"):
        edits.widen(g, None, "conv_1", 8)
    with pytest.raises(Net2NetError, match="fc"):
        edits.widen_width(g, "fc")  # the classifier's width is the number of outputs
    with pytest.raises(Net2NetError, match="output"):
        edits.deepen(g, None, "output")
    opts = edits.growth_options(g, "conv_1")
    assert opts.widen is None and opts.deepen is None and opts.suggested_width == 12
    assert edits.growth_options(g, "fc").widen and edits.growth_options(g, "fc").suggested_width is None
    bad = edits.growth_options(g, "conv_1", valid=False)
    assert bad.widen == bad.deepen and "errors" in bad.widen


def test_digest_follows_what_metrics_depend_on():
    a, b = chain(), chain()
    b.name = "renamed"
    b.g.nodes["conv_1"]["pos"] = (300.0, 10.0)
    b.meta["note"] = "moved"
    assert edits.graph_digest(a) == edits.graph_digest(b)
    b.set_params("conv_2", out_channels=9)
    assert edits.graph_digest(a) != edits.graph_digest(b)
