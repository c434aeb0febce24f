"""Search spaces: native configs <-> ArchGraph, uniform seeded sampling, mutation, crossover."""

from .base import SearchSpace
from .registry import default_space, find_space, get_space, list_spaces, register_space, spaces_with
from .schema import ConfigSchema, Field, FormRow

__all__ = [
    "ConfigSchema",
    "Field",
    "FormRow",
    "SearchSpace",
    "default_space",
    "find_space",
    "get_space",
    "list_spaces",
    "register_space",
    "spaces_with",
]
