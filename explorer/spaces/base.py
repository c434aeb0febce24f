"""The interface every search space implements."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod

from ..arch.graph import ArchGraph


class SearchSpace(ABC):
    name: str = ""
    description: str = ""

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

    def decode(self, graph: ArchGraph) -> dict:
        """The native config of a graph encoded from this space (meta first, structure second)."""
        config = graph.meta.get("config")
        if graph.meta.get("space") != self.name or config is None:
            from ..errors import ConfigError

            raise ConfigError(f"graph was not encoded from space {self.name!r}")
        return self.check(config)

    @abstractmethod
    def mutate(self, config: dict, seed: int | None = None, prob: float = 0.1) -> dict: ...

    @abstractmethod
    def crossover(self, a: dict, b: dict, seed: int | None = None) -> dict: ...

    def default_config(self) -> dict:
        return self.sample(0)

    @staticmethod
    def rng(seed: int | None) -> random.Random:
        return random.Random(seed)
