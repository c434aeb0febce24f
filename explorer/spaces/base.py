"""The interface every search space implements, and what a space says about itself.

A space describes itself so callers ask the registry instead of naming spaces: `name`, `family`
(the kind of network; latency devices declare coverage by space or family, and the latency registry
answers "which devices cover this space" from it, so spaces never import latency), `description`,
`size()`, the config `schema()` the GUI builds its form from, `geometry()`, the registry `ops()` it
uses, `default_resolution`, its sampler, `decode`, and capability flags (`supports_supernet`,
`edit_group`)."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

from ..arch.graph import ArchGraph
from ..errors import ConfigError, clip
from .schema import ConfigSchema


class SearchSpace(ABC):
    name: str = ""
    family: str = ""  # the kind of network ("ofa-mbv3", "nb201"); several spaces may share one
    description: str = ""
    # what the latency package asks (see `latency_support`): other spellings of the family, and its
    # latency features (None: no network-wise predictor)
    aliases: tuple[str, ...] = ()
    latency = None
    default_resolution: int = 224
    config_keys: tuple[str, ...] = ()  # the fields of a native config
    supports_supernet: bool = False  # trains as the elastic OFA supernet (explorer.supernet)
    edit_group: str | None = None  # the node group whose first unit the editor keeps expanded

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

    # -- self-description ------------------------------------------------------------------
    def schema(self) -> ConfigSchema | None:
        """The config as form fields; None: the form edits the config as JSON."""
        return None

    def form_values(self, config: dict) -> dict:
        """{field key: value} of a config (the checked config itself unless a space maps it)."""
        return self.check(config)

    def config_from_form(self, values: dict) -> dict:
        """The native config of form values (inverse of `form_values`)."""
        return dict(values)

    def form_active(self, values: dict, key: str, index: int | None) -> bool:
        """Whether an entry changes the network (OFA: blocks beyond a stage's depth do not)."""
        return True

    def geometry(self) -> dict:
        """The fixed parts of the network (widths, strides, skeleton) as plain JSON."""
        return {}

    def ops(self) -> tuple[str, ...]:
        """Registry names of every op an encoded config can hold."""
        return ()

    def describe(self) -> dict:
        """Everything above as plain JSON (`nas-explorer spaces --json`)."""
        schema = self.schema()
        return {
            "name": self.name,
            "size": self.size(),
            "description": self.description,
            "family": self.family,
            "default_resolution": self.default_resolution,
            "config_keys": list(self.config_keys),
            "ops": list(self.ops()),
            "supports_supernet": self.supports_supernet,
            "geometry": self.geometry(),
            "schema": schema.as_dict() if schema else None,
        }

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
