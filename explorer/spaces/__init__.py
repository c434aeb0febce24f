"""Search spaces: native configs <-> ArchGraph, uniform seeded sampling, mutation, crossover."""

from .base import SearchSpace
from .registry import get_space, list_spaces, register_space

__all__ = ["SearchSpace", "get_space", "list_spaces", "register_space"]
