"""The searched architecture: argmax path per layer -> an ArchGraph candidate (a `zero` choice
drops the layer), plus the supernet weights of that path for a warm-started fine-tune."""

from __future__ import annotations

import torch

from explorer.arch import ArchGraph

from .supernet import ProxylessSupernet

# the `meta.space` of derived graphs (not a registered search space: its networks depend on the
# skeleton each search is given); the one place the name is written
SPACE = "proxyless-cifar"


def derive_graph(
    net: ProxylessSupernet,
    choices: list[int] | None = None,
    name: str = "proxyless",
    provenance: dict | None = None,
) -> ArchGraph:
    """ArchGraph of the path `choices` (default: argmax alpha per layer)."""
    plan = net.plan
    choices = net.argmax() if choices is None else list(choices)
    labels = [cands[c].label for (_, cands, _), c in zip(plan.layers, choices)]
    meta = {
        "space": SPACE,
        "config": {"skeleton": net.skeleton.to_dict(), "choices": labels},
        "provenance": dict(provenance or {}),
    }
    g = ArchGraph(name, meta)
    sk = net.skeleton
    prev = g.add_node(
        "input", {"channels": sk.in_channels, "resolution": sk.resolution}, id="input", pos=(0, 0)
    )
    y = 1

    def add(lay, group=None):
        nonlocal prev, y
        nid = g.add_node(lay.op, dict(lay.params), id=lay.name, pos=(0, 80 * y), group=group)
        g.connect(prev, nid)
        prev, y = nid, y + 1

    add(plan.stem)
    add(plan.first)
    for (base, _, plans), c in zip(plan.layers, choices):
        lay = plans[c]
        if lay is not None:
            add(lay, group=base.name.split("_")[0].replace("s", "stage"))
    for lay in (plan.head, plan.pool, plan.classifier):
        add(lay)
    out = g.add_node("output", {}, id="output", pos=(0, 80 * y))
    g.connect(prev, out)
    return g


def derived_state_dict(net: ProxylessSupernet, graph: ArchGraph) -> dict[str, torch.Tensor]:
    """State dict for `build_model(graph)` holding the supernet's weights of the chosen path."""
    labels = graph.meta["config"]["choices"]
    modules = {"stem": net.stem, "first": net.first, "head": net.head, "classifier": net.classifier}
    for (base, cands, _), m, label in zip(net.plan.layers, net.layers, labels):
        if base.name in graph:
            modules[base.name] = m.candidate_ops[[c.label for c in cands].index(label)]
    out = {}
    for nid, mod in modules.items():
        for k, v in mod.state_dict().items():
            out[f"layers.{nid}.{k}"] = v.detach().clone()
    return out


def graph_choices(net: ProxylessSupernet, graph: ArchGraph) -> list[int]:
    """Indices of the path a derived graph encodes (inverse of `derive_graph`)."""
    labels = graph.meta["config"]["choices"]
    return [[c.label for c in cands].index(lab) for (_, cands, _), lab in zip(net.plan.layers, labels)]
