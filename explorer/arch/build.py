"""ArchGraph -> torch `nn.Module` that executes the nodes in topological order.

`forward_features` returns the pre-global-pooling feature map (what Zen-Score reads), `forward`
the network output. `residual_free=True` builds the variant Zen-Score needs: MBConv identity
skips and NB201 reduction-block shortcuts are not created, and at an `add` node an input edge
that comes straight from a node which also feeds the add's other inputs (a shortcut) is dropped.
"""

from __future__ import annotations

import threading

import networkx as nx
import torch
from torch import nn

from .complexity import check_memory
from .graph import ArchGraph
from .registry import OPS
from .validate import check


def shortcut_inputs(graph: ArchGraph, nid: str) -> list[str]:
    """Inputs of an add node that are shortcuts: the source is an ancestor of another input."""
    srcs = graph.inputs(nid)
    out = []
    for s in srcs:
        others = [o for o in srcs if o != s]
        if any(s in nx.ancestors(graph.g, o) for o in others):
            out.append(s)
    return out


def features_node(graph: ArchGraph, shapes: dict) -> str:
    """The node whose output is the pre-GAP feature map: the input of the last global pooling
    on the way to the output, else the last feature map (C,H,W) in execution order."""
    order = graph.topological()
    pools = [n for n in order if graph.op(n) == "global_avgpool"]
    if pools:
        return graph.inputs(pools[-1])[0]
    maps = [n for n in order if len(shapes[n]) == 3 and graph.op(n) != "output"]
    return maps[-1]


class GraphModule(nn.Module):
    def __init__(self, graph: ArchGraph, residual_free: bool = False):
        super().__init__()
        report = check(graph)
        # a graph whose weights or one sample's forward exceed the memory limit is refused here,
        # with the sizes, instead of as torch's allocation traceback (callers running bigger
        # batches check those themselves with `check_memory`)
        check_memory(graph, 1, what="building the model", report=report)
        shapes = report.shapes
        self.residual_free = residual_free
        self.input_shape = shapes[graph.input_node]
        self.output_shape = shapes[graph.output_node]
        self.layers = nn.ModuleDict()
        plan = []
        for nid in report.order:
            spec = OPS[graph.op(nid)]
            p = spec.resolve(graph.params(nid))
            srcs = report.inputs[nid]
            ins = [shapes[s] for s in srcs]
            if residual_free and spec.has_shortcut:
                module = spec.build(p, ins, shapes[nid], shortcut=False)
            else:
                module = spec.build(p, ins, shapes[nid])
            if residual_free and spec.name == "add":
                cut = shortcut_inputs(graph, nid)
                srcs = [s for s in srcs if s not in cut] or srcs[:1]
                if len(srcs) == 1:
                    module = nn.Identity()
            self.layers[nid] = module
            plan.append((nid, tuple(srcs)))
        self._plan = plan
        self.input_id = graph.input_node
        self.output_id = graph.output_node
        self.features_id = features_node(graph, shapes)
        self._feature_plan = plan[: [n for n, _ in plan].index(self.features_id) + 1]
        self._last_use = self._last_uses(plan)

    @staticmethod
    def _last_uses(plan):
        last = {}
        for k, (_, srcs) in enumerate(plan):
            for s in srcs:
                last[s] = k
        return last

    def node_module(self, nid: str) -> nn.Module:
        return self.layers[nid]

    def _run(self, x: torch.Tensor, plan) -> torch.Tensor:
        values = {}
        result = x
        for k, (nid, srcs) in enumerate(plan):
            module = self.layers[nid]
            if not srcs:
                result = module(x)
            elif len(srcs) == 1:
                result = module(values[srcs[0]])
            else:
                result = module(*[values[s] for s in srcs])
            values[nid] = result
            for s in srcs:  # free activations as soon as nothing else reads them
                if self._last_use.get(s) == k:
                    values.pop(s, None)
        return result

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, self._feature_plan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, self._plan)


_SEEDED_BUILD = threading.Lock()


def build_model(graph: ArchGraph, residual_free: bool = False, seed: int | None = None) -> GraphModule:
    """Build the torch model (validating first). With `seed`, initial weights depend on the seed
    only, and the caller's global RNG state is left as it was."""
    if seed is None:
        return GraphModule(graph, residual_free)
    with _SEEDED_BUILD, torch.random.fork_rng(devices=[]):  # one seeded build at a time: the
        torch.manual_seed(seed)  # global RNG is shared, so concurrent scorers stay deterministic
        return GraphModule(graph, residual_free)
