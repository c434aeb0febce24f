"""The architecture IR: ArchGraph, the op registry, validation, counting, JSON and the torch builder."""

from . import ops  # noqa: F401  (registers the built-in ops)
from .build import GraphModule, build_model
from .complexity import (
    Complexity,
    MemoryEstimate,
    NodeCost,
    check_memory,
    count_complexity,
    estimate_memory,
    lut_keys,
)
from .graph import ArchGraph
from .io import from_dict, from_json, load_arch, save_arch, to_dict, to_json
from .registry import OPS, Cost, OpSpec, Param, ShapeError, get_op, register_op
from .validate import GraphError, Issue, Report, check, validate

__all__ = [
    "OPS",
    "ArchGraph",
    "Complexity",
    "Cost",
    "GraphError",
    "GraphModule",
    "Issue",
    "MemoryEstimate",
    "NodeCost",
    "OpSpec",
    "Param",
    "Report",
    "ShapeError",
    "build_model",
    "check",
    "check_memory",
    "count_complexity",
    "estimate_memory",
    "from_dict",
    "from_json",
    "get_op",
    "load_arch",
    "lut_keys",
    "register_op",
    "save_arch",
    "to_dict",
    "to_json",
    "validate",
]
