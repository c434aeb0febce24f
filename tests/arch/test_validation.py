"""Each kind of bad graph is reported on the node that causes it, and never reaches torch."""

from __future__ import annotations

import pytest

from explorer.arch import ArchGraph, GraphError, build_model, check, validate


def chain_graph(*ops_params):
    g = ArchGraph()
    ids = [g.add_node("input", {"channels": 3, "resolution": 32}, id="input")]
    for k, (op, params) in enumerate(ops_params):
        ids.append(g.add_node(op, params, id=f"n{k}"))
    ids.append(g.add_node("output", id="output"))
    g.chain(*ids)
    return g


def messages_for(g, node):
    return [i.message for i in validate(g).issues if node in i.nodes]


def test_valid_chain_has_no_issues():
    g = chain_graph(("conv", {"out_channels": 8}), ("global_avgpool", None), ("linear", {"out_features": 10}))
    assert validate(g).ok


def test_cycle_names_its_nodes():
    g = chain_graph(("conv", {"out_channels": 3}), ("conv", {"out_channels": 3}))
    g.connect("n1", "n0", 1)
    issues = validate(g).issues
    cyc = [i for i in issues if i.message.startswith("cycle")]
    assert cyc and set(cyc[0].nodes) == {"n0", "n1"}


def test_dangling_and_unreachable_nodes():
    g = chain_graph(("conv", {"out_channels": 8}))
    g.add_node("conv", {"out_channels": 4}, id="deadend")
    g.connect("n0", "deadend")
    g.add_node("identity", id="floating")
    g.add_node("add", id="orphan_add")
    g.connect("floating", "orphan_add")
    g.connect("n0", "orphan_add")
    g.connect("orphan_add", "output", 1)
    report = validate(g)
    assert any("dangling" in m for m in messages_for(g, "deadend"))
    assert any("unreachable" in m for m in messages_for(g, "floating"))
    assert any("needs 1 input" in m for m in messages_for(g, "floating"))
    assert any("takes 1 input" in m for m in messages_for(g, "output"))
    assert not report.ok


def test_several_outputs_and_missing_output():
    g = chain_graph(("conv", {"out_channels": 8}))
    g.add_node("output", id="output2")
    g.connect("n0", "output2")
    issue = [i for i in validate(g).issues if "several output" in i.message][0]
    assert set(issue.nodes) == {"output", "output2"}
    g2 = ArchGraph()
    g2.add_node("input", id="input")
    assert any("no output node" in str(i) for i in validate(g2).issues)


def test_add_shape_mismatch_names_the_add():
    g = ArchGraph()
    g.add_node("input", {"channels": 3, "resolution": 32}, id="input")
    g.add_node("conv", {"out_channels": 8}, id="a")
    g.add_node("conv", {"out_channels": 16}, id="b")
    g.add_node("add", id="sum")
    g.add_node("output", id="output")
    g.chain("input", "a")
    g.connect("input", "b")
    g.connect("a", "sum", 0)
    g.connect("b", "sum", 1)
    g.connect("sum", "output")
    msgs = messages_for(g, "sum")
    assert msgs and "add inputs differ" in msgs[0] and "(8,32,32)" in msgs[0] and "(16,32,32)" in msgs[0]


def test_concat_spatial_mismatch():
    g = ArchGraph()
    g.add_node("input", {"channels": 3, "resolution": 32}, id="input")
    g.add_node("conv", {"out_channels": 8, "stride": 2}, id="a")
    g.add_node("conv", {"out_channels": 8}, id="b")
    g.add_node("concat", id="cat")
    g.add_node("output", id="output")
    g.connect("input", "a")
    g.connect("input", "b")
    g.connect("a", "cat", 0)
    g.connect("b", "cat", 1)
    g.connect("cat", "output")
    assert any("equal H,W" in m for m in messages_for(g, "cat"))


@pytest.mark.parametrize(
    "op,params,needle",
    [
        ("dwconv", {"kernel": 4}, "kernel 4 must be odd"),
        ("conv", {"stride": 0}, "stride=0 is below the minimum"),
        ("conv", {"out_channels": -3}, "out_channels=-3 is below the minimum"),
        ("conv", {"act": "mish"}, "act='mish' is not one of"),  # gelu became an activation (imports)
        ("conv", {"kernels": 3}, "unknown parameter 'kernels'"),
        ("conv", {"out_channels": 8, "groups": 3}, "groups=3"),
        (
            "mbconv",
            {"kernel": 9, "stride": 2, "out_channels": 8, "expand_ratio": 1.0, "mid_channels": 5},
            "mid_channels",
        ),
        ("linear", {"out_features": 2.5}, "must be an integer"),
    ],
)
def test_illegal_params_name_the_node(op, params, needle):
    g = chain_graph((op, params))
    msgs = messages_for(g, "n0")
    assert any(needle in m for m in msgs), msgs


def test_unknown_op_is_reported_and_never_built():
    g = chain_graph(("conv", {"out_channels": 8}))
    g.g.nodes["n0"]["op"] = "fancy_op"
    assert any("unknown op 'fancy_op'" in m for m in messages_for(g, "n0"))
    with pytest.raises(GraphError, match="n0"):
        build_model(g)


def test_invalid_graph_never_reaches_torch(monkeypatch):
    import dataclasses

    from explorer.arch import OPS

    called = []
    monkeypatch.setitem(OPS, "conv", dataclasses.replace(OPS["conv"], build=lambda *a, **k: called.append(1)))
    g = chain_graph(("conv", {"out_channels": 8, "kernel": 4}))
    with pytest.raises(GraphError):
        build_model(g)
    assert not called


def test_reduction_block_needs_even_input():
    g = ArchGraph()
    g.add_node("input", {"channels": 3, "resolution": 15}, id="input")
    g.add_node("nb201_resblock", {"out_channels": 8}, id="red")
    g.add_node("output", id="output")
    g.chain("input", "red", "output")
    assert any("even H and W" in m for m in messages_for(g, "red"))


def test_programmatic_graphs_with_unhashable_values_are_reported():
    """The GUI and importers build graphs in code: an op or params value of the wrong type is an
    issue on its node, not a TypeError from a dict lookup."""
    g = ArchGraph("t")
    g.add_node("input", {"channels": 3, "resolution": 8}, id="input")
    g.add_node(["conv"], {"out_channels": 4}, id="odd_op")
    g.add_node("conv", [3], id="odd_params")
    g.add_node("output", id="output")
    g.chain("input", "odd_op", "odd_params", "output")
    g.g.add_node("stem\n", op="identity", params={})
    r = validate(g)
    assert "unknown op ['conv']" in messages_for(g, "odd_op")[0]
    assert "params must be an object" in messages_for(g, "odd_params")[0]
    assert any("node id must be" in str(i) for i in r.issues)
    with pytest.raises(GraphError) as e:
        check(g)
    assert "\n" not in str(e.value).replace("stem\\n", "")


def test_issue_messages_are_capped_to_one_line():
    g = ArchGraph("t")
    g.add_node("input", {"channels": 3, "resolution": 8}, id="input")
    g.add_node("concat", id="cat")
    g.add_node("output", id="output")
    for k in range(300):
        b = g.add_node("identity", id=f"b{k}")
        g.connect("input", b)
        g.connect(b, "cat", 1000 + k)
    g.connect("cat", "output")
    msgs = messages_for(g, "cat")
    assert any("input ports must be" in m for m in msgs) and all(len(m) <= 300 for m in msgs)
