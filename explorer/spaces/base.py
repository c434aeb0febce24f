"""The interface every search space implements."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

from ..arch.graph import ArchGraph
from ..errors import ConfigError, clip


class SearchSpace(ABC):
    name: str = ""
    description: str = ""
    # what the latency package asks (see `latency_support`): the family of spaces sharing one
    # config format, its other spellings, and its latency features (None: no network-wise predictor)
    family: str = ""
    aliases: tuple[str, ...] = ()
    latency = None

    @abstractmethod
    def size(self) -> int:
        """Number of distinct architectures (all resolutions included)."""

    @abstractmethod
    def check(self, config: dict) -> dict:
        """Return the normalised config or raise ConfigError naming the offending field."""

    @abstractmethod
    def sample(self, seed: int | None = None) -> dict:
        """A uniformly random config; the same seed gives the same config."""

    @abstractmethod
    def encode(self, config: dict) -> ArchGraph:
        """The config as an ArchGraph (meta carries space and config)."""

    def read_config(self, graph: ArchGraph) -> dict:
        """A candidate config for `graph`, read from its nodes where the space can (the default
        trusts meta); `decode` verifies it. Raises ConfigError when nothing can be read."""
        config = graph.meta.get("config")
        if graph.meta.get("space") != self.name or config is None:
            raise ConfigError(f"graph was not encoded from space {self.name!r}")
        return self.check(config)

    def decode(self, graph: ArchGraph) -> dict:
        """The native config the graph *is*, never a stale `meta.config`: read from the nodes, then
        verified by encoding it again and comparing ops, parameters and edges (positions, groups
        and the name do not count). A graph edited out of the space raises ConfigError naming the
        first difference, so no predictor of the space answers for a config the graph no longer is.
        Every reader of a graph's space config (latency predictors, the live panel, the space form)
        goes through here."""
        try:
            cfg = self.read_config(graph)
        except (KeyError, TypeError, ValueError) as e:  # a graph too far from the space to read
            raise ConfigError(f"{self.name}: cannot read a config from the graph ({clip(str(e))})") from None
        diff = structure_difference(self.encode(cfg), graph)
        if diff:
            raise ConfigError(
                f"{self.name}: {diff}: the graph is no longer an architecture of this space "
                "(edited?), so the space's predictors do not cover it"
            )
        return cfg

    def recognise(self, graph: ArchGraph) -> dict | None:
        """`decode`, or None when the graph is not (or no longer) in this space."""
        try:
            return self.decode(graph)
        except ConfigError:
            return None

    @abstractmethod
    def mutate(self, config: dict, seed: int | None = None, prob: float = 0.1) -> dict: ...

    @abstractmethod
    def crossover(self, a: dict, b: dict, seed: int | None = None) -> dict: ...

    def default_config(self) -> dict:
        return self.sample(0)

    @staticmethod
    def rng(seed: int | None) -> random.Random:
        return random.Random(seed)


def structure_difference(expected: ArchGraph, graph: ArchGraph) -> str | None:
    """The first way `graph` differs from `expected` as a network (node ids, ops, parameters,
    edges and their ports), or None when they are the same network."""
    a, b = expected.g, graph.g
    for nid in a.nodes:
        if nid not in b:
            return f"node {nid} is missing"
    for nid in b.nodes:
        if nid not in a:
            return f"node {clip(nid)} is not part of the space's network"
    for nid, da in a.nodes(data=True):
        db = b.nodes[nid]
        if da["op"] != db.get("op"):
            return f"node {nid} is {clip(db.get('op'))}, the space has {da['op']}"
        pa, pb = da["params"], db.get("params")
        if pa != pb:
            if not isinstance(pb, dict):
                return f"node {nid} has params {clip(pb)}"
            for k in sorted(set(pa) | set(pb), key=str):
                if pa.get(k, None) != pb.get(k, None):
                    return f"node {nid} has {k}={clip(pb.get(k))}, the space has {clip(pa.get(k))}"
    ea = {(u, v, p) for u, v, p in a.edges(data="port")}
    eb = {(u, v, p) for u, v, p in b.edges(data="port")}
    for u, v, p in sorted(ea - eb, key=str):
        return f"edge {u} -> {v} (port {p}) is missing"
    for u, v, p in sorted(eb - ea, key=str):
        return f"edge {u} -> {v} (port {p}) is not part of the space's network"
    return None
