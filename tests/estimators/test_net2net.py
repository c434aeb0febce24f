"""Net2Net: both transforms keep the function on real images (eval mode), and refuse where they cannot."""

from __future__ import annotations

import pytest
import torch

from explorer.arch import ArchGraph, build_model, count_complexity
from explorer.data import load_builtin_cifar, normalize
from explorer.errors import ExplorerError
from explorer.estimators.net2net import (
    Net2NetError,
    candidate_actions,
    deepen_problem,
    load_weights,
    net2deeper,
    net2wider,
    widen_problem,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    x, _ = load_builtin_cifar("test")
    return normalize(x[:8, 8:24, 8:24])  # real images, 16x16 crops to keep the tests quick


def plain_net() -> ArchGraph:
    """conv(BN, relu), conv(bias, relu6), bn, act, dwconv, pool, conv, gap, linear, act, linear."""
    g = ArchGraph("plain")
    g.add_node("input", {"channels": 3, "resolution": 16}, id="input")
    g.add_node("conv", {"out_channels": 8, "kernel": 3, "stride": 2}, id="c1")
    g.add_node("conv", {"out_channels": 6, "kernel": 3, "bn": False, "bias": True, "act": "relu6"}, id="c2")
    g.add_node("batchnorm", id="bn")
    g.add_node("activation", {"act": "h_swish"}, id="hs")
    g.add_node("dwconv", {"kernel": 3, "act": "relu"}, id="dw")
    g.add_node("maxpool", {"kernel": 3, "stride": 2}, id="mp")
    g.add_node("conv", {"out_channels": 10, "kernel": 1, "act": "none"}, id="c3")
    g.add_node("global_avgpool", id="gap")
    g.add_node("linear", {"out_features": 12}, id="fc1")
    g.add_node("activation", {"act": "relu"}, id="fcact")
    g.add_node("linear", {"out_features": 10}, id="fc2")
    g.add_node("output", id="output")
    g.chain("input", "c1", "c2", "bn", "hs", "dw", "mp", "c3", "gap", "fc1", "fcact", "fc2", "output")
    return g


def flat_linear_net() -> ArchGraph:
    """A conv read directly by a linear over a 2x2 map (flattened channel-major)."""
    g = ArchGraph("flat")
    g.add_node("input", {"channels": 3, "resolution": 16}, id="input")
    g.add_node("conv", {"out_channels": 5, "kernel": 3, "stride": 2}, id="c1")
    g.add_node("avgpool", {"kernel": 3, "stride": 4}, id="ap")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", "c1", "ap", "fc", "output")
    return g


def residual_net() -> ArchGraph:
    g = ArchGraph("res")
    g.add_node("input", {"channels": 3, "resolution": 16}, id="input")
    g.add_node("conv", {"out_channels": 8}, id="stem")
    g.add_node("conv", {"out_channels": 8}, id="a")
    g.add_node("conv", {"out_channels": 8, "act": "none"}, id="b")
    g.add_node("add", id="add")
    g.add_node("global_avgpool", id="gap")
    g.add_node("linear", {"out_features": 10}, id="fc")
    g.add_node("output", id="output")
    g.chain("input", "stem", "a", "b")
    g.connect("stem", "add", 0)
    g.connect("b", "add", 1)
    g.chain("add", "gap", "fc", "output")
    return g


def trained_state(graph: ArchGraph, seed: int = 0) -> dict:
    """Weights with non-trivial BN statistics (random affine, running stats from a few batches)."""
    model = build_model(graph, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(1 + 0.3 * torch.randn(m.weight.shape, generator=gen))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=gen))
        model.train()
        model(torch.randn(4, *graph.input_shape, generator=gen))
    return {k: v.clone() for k, v in model.state_dict().items()}


def run(graph, state, x) -> torch.Tensor:
    model = load_weights(graph, state).eval()
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("node,width", [("c1", 13), ("c2", 16), ("c3", 11), ("fc1", 20)])
def test_wider_keeps_function(images, node, width):
    g = plain_net()
    state = trained_state(g)
    g2, s2 = net2wider(g, state, node, width, seed=3)
    assert g2.params(node).get("out_channels", g2.params(node).get("out_features")) == width
    assert count_complexity(g2).params > count_complexity(g).params
    diff = (run(g, state, images) - run(g2, s2, images)).abs().max().item()
    assert diff <= 1e-5
    assert g.params(node) != g2.params(node)  # the input graph is left alone


def test_wider_into_flattening_linear(images):
    g = flat_linear_net()
    state = trained_state(g, seed=1)
    g2, s2 = net2wider(g, state, "c1", 9, seed=1)
    assert s2["layers.fc.linear.weight"].shape == (10, 9 * 4)
    assert (run(g, state, images) - run(g2, s2, images)).abs().max().item() <= 1e-5


def test_wider_noise_changes_function_slightly(images):
    g = plain_net()
    state = trained_state(g)
    g2, s2 = net2wider(g, state, "c1", 12, noise=0.05, seed=0)
    diff = (run(g, state, images) - run(g2, s2, images)).abs().max().item()
    assert 1e-5 < diff < 1.0


def test_wider_refuses_where_function_cannot_be_kept():
    g = residual_net()
    state = trained_state(g)
    for node in ("stem", "b"):
        with pytest.raises(Net2NetError, match=f"{node}: .*add node add"):
            net2wider(g, state, node, 12)
    assert "add" in widen_problem(g, "b")
    assert widen_problem(g, "a") is None  # inside the branch: fine
    with pytest.raises(Net2NetError, match="classifier"):
        net2wider(plain_net(), trained_state(plain_net()), "fc2", 12)
    with pytest.raises(Net2NetError, match="larger"):
        net2wider(g, state, "a", 8)
    with pytest.raises(Net2NetError, match="cannot widen a 'batchnorm'"):
        net2wider(plain_net(), {}, "bn", 12)
    assert issubclass(Net2NetError, ExplorerError)


def test_wider_inside_residual_branch_keeps_function(images):
    g = residual_net()
    state = trained_state(g)
    g2, s2 = net2wider(g, state, "a", 14, seed=2)
    assert (run(g, state, images) - run(g2, s2, images)).abs().max().item() <= 1e-5


@pytest.mark.parametrize("node", ["c1", "c2", "hs", "mp", "c3", "b", "fc1", "fc2"])
def test_deeper_keeps_function(images, node):
    g = residual_net() if node == "b" else plain_net()
    state = trained_state(g)
    g2, s2, nid = net2deeper(g, state, node)
    assert len(g2) == len(g) + 1 and g2.inputs(nid) == [node]
    assert (run(g, state, images) - run(g2, s2, images)).abs().max().item() <= 1e-5


def test_deeper_relu_only_after_nonnegative():
    g = plain_net()
    state = trained_state(g)
    g2, _, nid = net2deeper(g, state, "c1")  # c1 ends in ReLU -> the new layer may too
    assert g2.params(nid)["act"] == "relu"
    g3, _, nid3 = net2deeper(g, state, "c3")  # act none -> no ReLU
    assert g3.params(nid3)["act"] == "none"
    with pytest.raises(Net2NetError, match="negative"):
        net2deeper(g, state, "c3", act="relu")
    assert deepen_problem(g, "output") is not None


def test_chained_transforms_and_actions(images):
    g = plain_net()
    state = trained_state(g)
    g2, s2, nid = net2deeper(g, state, "c1", kernel=1)
    g3, s3 = net2wider(g2, s2, nid, 16)
    g4, s4 = net2wider(g3, s3, "c1", 12)
    assert (run(g, state, images) - run(g4, s4, images)).abs().max().item() <= 1e-5
    acts = candidate_actions(g)
    widen_nodes = {a["node"] for a in acts if a["action"] == "widen"}
    assert widen_nodes == {"c1", "c2", "c3", "fc1"}


def test_weights_of_another_graph_refused():
    g = plain_net()
    other = trained_state(residual_net())
    with pytest.raises(Net2NetError, match="weights"):
        net2wider(g, other, "c1", 12)


def test_eas_children_inherit_the_parent(images):
    from explorer.estimators._common import Split
    from explorer.estimators.eas import EASConfig, EASJob

    xtr, ytr = load_builtin_cifar("train")
    split = Split(
        normalize(xtr[:48, 8:24, 8:24]), torch.as_tensor(ytr[:48]), images, torch.arange(8) % 10, "t"
    )
    g = plain_net()
    cfg = EASConfig(parent_steps=3, child_steps=2, batch_size=16, noise=0.0, max_children=2)
    actions = [
        {"action": "widen", "node": "c1", "width": 12},
        {"action": "deepen", "node": "c3", "kernel": 1},
    ]
    seen = []
    res = EASJob(g, split, cfg, actions=actions).run(seen.append, lambda: False)
    assert [c["label"] for c in res.children] == ["widen c1 to 12", "deepen after c3"]
    for child in res.children:
        assert child["inherited_acc"] == res.parent["val_acc"]  # function kept: same predictions
        assert child["params"] > res.parent["params"]
        assert child["graph"] is not None and "graph" not in res.to_dict()["children"][0]
    assert {p.phase for p in seen} >= {"eas-parent", "eas-children"}


def test_grow_candidate_keeps_weights_and_lineage(tmp_path, images):
    from explorer.estimators._common import read_state
    from explorer.estimators.net2net import grow_candidate
    from explorer.store import Project

    project = Project(tmp_path / "p.nasx")
    pid = project.add_candidate(plain_net(), name="parent")
    cid = grow_candidate(project, pid, "widen", "c2", 10, weights_dir=tmp_path / "w")
    child, parent = project.candidate(cid), project.candidate(pid)
    assert child.parent_id == pid and parent.weights_path  # the parent's init is saved too
    assert child.graph.params("c2")["out_channels"] == 10
    a = run(parent.graph, read_state(parent.weights_path), images)
    b = run(child.graph, read_state(child.weights_path), images)
    assert (a - b).abs().max().item() <= 1e-5
    gid = grow_candidate(project, cid, "deepen", "c2", weights_dir=tmp_path / "w")
    assert project.candidate(gid).parent_id == cid
    with pytest.raises(Net2NetError, match="classifier"):
        grow_candidate(project, pid, "widen", "fc2", 12, weights_dir=tmp_path / "w")
    project.close()
