"""Params, MACs and latency-table keys per node, computed from shapes alone (no torch).

MACs count conv and linear multiply-accumulates only, as OFA's `count_net_flops` does; params
count every learnable tensor (BN affine included, running stats not)."""

from __future__ import annotations

from dataclasses import dataclass

from .graph import ArchGraph
from .registry import OPS, Shape
from .validate import check


@dataclass(frozen=True)
class NodeCost:
    node: str
    op: str
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    params: int
    macs: int
    lut_key: str | None


@dataclass(frozen=True)
class Complexity:
    params: int
    macs: int
    input_shape: Shape
    output_shape: Shape
    layers: tuple[NodeCost, ...]

    def as_dict(self) -> dict:
        return {
            "params": self.params,
            "macs": self.macs,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [
                {
                    "node": c.node,
                    "op": c.op,
                    "in_shapes": [list(s) for s in c.in_shapes],
                    "out_shape": list(c.out_shape),
                    "params": c.params,
                    "macs": c.macs,
                    "lut_key": c.lut_key,
                }
                for c in self.layers
            ],
        }


def count_complexity(graph: ArchGraph) -> Complexity:
    report = check(graph)
    shapes = report.shapes
    layers = []
    for nid in report.order:
        data = graph.g.nodes[nid]
        spec = OPS[data["op"]]
        p = spec.resolve(data["params"])
        ins = [shapes[s] for s in report.inputs[nid]]
        out = shapes[nid]
        cost = spec.cost(p, ins, out)
        layers.append(
            NodeCost(nid, spec.name, tuple(ins), out, cost.params, cost.macs, spec.lut_key(p, ins, out))
        )
    return Complexity(
        params=sum(c.params for c in layers),
        macs=sum(c.macs for c in layers),
        input_shape=shapes[graph.input_node],
        output_shape=shapes[graph.output_node],
        layers=tuple(layers),
    )


def lut_keys(graph: ArchGraph) -> list[tuple[str, str]]:
    """(node, key) for every node that has a latency-table entry, in execution order."""
    return [(c.node, c.lut_key) for c in count_complexity(graph).layers if c.lut_key]
