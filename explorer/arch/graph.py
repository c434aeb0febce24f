"""ArchGraph: an architecture as a networkx DiGraph of typed layer nodes.

Nodes carry `op` (a registry name), `params` (a full dict: defaults overlaid with the user's
values), and for the editor `pos` (x, y) and `group` (e.g. "stage2", to collapse repeated blocks).
Edges carry `port`, the input slot on the destination (order matters for concat). `meta` holds
the search space and native config the graph was encoded from, when there is one.
"""

from __future__ import annotations

import copy
import re

import networkx as nx

from .registry import op_spec

# \A...\Z, not ^...$: `$` also matches before a trailing newline, which let "stem\n" through
NODE_ID = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,63}\Z")


class ArchGraph:
    def __init__(self, name: str = "", meta: dict | None = None):
        self.g = nx.DiGraph()
        self.name = name
        self.meta: dict = dict(meta or {})
        self._counter = 0

    # -- building -----------------------------------------------------------------------------
    def new_id(self, op: str) -> str:
        while True:
            self._counter += 1
            nid = f"{op}_{self._counter}"
            if nid not in self.g:
                return nid

    def add_node(
        self,
        op: str,
        params: dict | None = None,
        *,
        id: str | None = None,
        pos: tuple[float, float] | None = None,
        group: str | None = None,
    ) -> str:
        """Add a node; parameters not given take the op's defaults (unknown ops are kept so that
        validation, not construction, reports them)."""
        nid = id or self.new_id(op)
        if nid in self.g:
            raise ValueError(f"node id {nid!r} already exists")
        spec = op_spec(op)
        params = {} if params is None else params
        if isinstance(params, dict):
            full = spec.resolve(params) if spec else dict(params)
        else:
            full = params  # kept as is for validation to report
        attrs = {"op": op, "params": full}
        if pos is not None:
            attrs["pos"] = (float(pos[0]), float(pos[1]))
        if group:
            attrs["group"] = group
        self.g.add_node(nid, **attrs)
        return nid

    def connect(self, src: str, dst: str, port: int | None = None) -> None:
        for n in (src, dst):
            if n not in self.g:
                raise KeyError(f"no node {n!r}")
        if port is None:
            port = len(self.g.in_edges(dst))
        self.g.add_edge(src, dst, port=int(port))

    def chain(self, *ids: str) -> None:
        for a, b in zip(ids, ids[1:]):
            self.connect(a, b)

    def remove_node(self, nid: str) -> None:
        """Remove a node and renumber the ports of the nodes it fed, keeping their order."""
        succ = list(self.g.successors(nid))
        self.g.remove_node(nid)
        for s in succ:
            self._compact_ports(s)

    def disconnect(self, src: str, dst: str) -> None:
        self.g.remove_edge(src, dst)
        self._compact_ports(dst)

    def _compact_ports(self, nid: str) -> None:
        edges = sorted(self.g.in_edges(nid, data="port"), key=lambda e: e[2])
        for k, (u, v, _) in enumerate(edges):
            self.g.edges[u, v]["port"] = k

    def set_params(self, nid: str, **values) -> None:
        self.g.nodes[nid]["params"].update(values)

    # -- reading ------------------------------------------------------------------------------
    def __contains__(self, nid: str) -> bool:
        return nid in self.g

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    @property
    def nodes(self) -> list[str]:
        return list(self.g.nodes)

    def op(self, nid: str) -> str:
        return self.g.nodes[nid]["op"]

    def params(self, nid: str) -> dict:
        return self.g.nodes[nid]["params"]

    def inputs(self, nid: str) -> list[str]:
        """Source nodes of `nid` in port order."""
        return [u for u, _, _ in sorted(self.g.in_edges(nid, data="port"), key=lambda e: e[2])]

    def nodes_of(self, op: str) -> list[str]:
        return [n for n, d in self.g.nodes(data=True) if d["op"] == op]

    @property
    def input_node(self) -> str:
        found = self.nodes_of("input")
        if len(found) != 1:
            raise ValueError(f"graph has {len(found)} input nodes, needs exactly one")
        return found[0]

    @property
    def output_node(self) -> str:
        found = self.nodes_of("output")
        if len(found) != 1:
            raise ValueError(f"graph has {len(found)} output nodes, needs exactly one")
        return found[0]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        p = self.params(self.input_node)
        return (p["channels"], p["resolution"], p["resolution"])

    @property
    def resolution(self) -> int:
        return self.params(self.input_node)["resolution"]

    def topological(self) -> list[str]:
        """Nodes in topological order (deterministic: networkx follows insertion order);
        raises networkx.NetworkXUnfeasible on a cycle."""
        return list(nx.topological_sort(self.g))

    def copy(self) -> ArchGraph:
        new = ArchGraph(self.name, copy.deepcopy(self.meta))
        new.g = copy.deepcopy(self.g)
        new._counter = self._counter
        return new

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ArchGraph):
            return NotImplemented
        return (
            self.name == other.name
            and self.meta == other.meta
            and list(self.g.nodes(data=True)) == list(other.g.nodes(data=True))
            and sorted(self.g.edges(data="port")) == sorted(other.g.edges(data="port"))
        )

    def __repr__(self) -> str:
        space = self.meta.get("space", "custom")
        return f"ArchGraph({self.name!r}, space={space}, nodes={len(self)}, edges={self.g.number_of_edges()})"
