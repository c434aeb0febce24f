"""The op registry: one place that says everything about a layer type.

Each op declares its parameter schema, its shape rule, its cost (params, MACs counted as OFA's
`count_net_flops` does: conv and linear multiply-accumulates only), its latency-table key and its
torch builder. Graph validation, counting, the LUT, the torch builder and the GUI palette all read
this registry, so a new op is one `register_op` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import clip

Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) for vectors; batch excluded


class ShapeError(ValueError):
    """Raised by a shape rule when its inputs cannot feed the op; the message names the problem."""


@dataclass(frozen=True)
class Param:
    """One op parameter: its type, default and allowed values (for validation and GUI widgets)."""

    name: str
    type: type  # int, float, bool or str
    default: Any
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    help: str = ""

    def check(self, value: Any) -> str | None:
        """Return an error message when `value` is not allowed, else None."""
        v = clip(value)
        if self.type is bool:
            if not isinstance(value, bool):
                return f"{self.name} must be true or false, got {v}"
        elif self.type is int:
            if isinstance(value, bool) or not isinstance(value, int):
                return f"{self.name} must be an integer, got {v}"
        elif self.type is float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return f"{self.name} must be a number, got {v}"
            if value != value or value in (float("inf"), float("-inf")):
                return f"{self.name} must be finite, got {v}"
        elif self.type is str and not isinstance(value, str):
            return f"{self.name} must be a string, got {v}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name}={v} is not one of {list(self.choices)}"
        if self.min is not None and value < self.min:
            return f"{self.name}={v} is below the minimum {self.min:g}"
        if self.max is not None and value > self.max:
            return f"{self.name}={v} is above the maximum {self.max:g}"
        return None


@dataclass(frozen=True)
class Cost:
    params: int = 0
    macs: int = 0


@dataclass(frozen=True)
class OpSpec:
    """Everything the app knows about one op type."""

    name: str
    category: str
    doc: str
    params: tuple[Param, ...]
    shape: Callable[[dict, list[Shape]], Shape]
    build: Callable[[dict, list[Shape], Shape], Any]  # -> torch.nn.Module
    cost: Callable[[dict, list[Shape], Shape], Cost] = lambda p, i, o: Cost()
    lut_key: Callable[[dict, list[Shape], Shape], str | None] = lambda p, i, o: None
    check: Callable[[dict], list[str]] = lambda p: []  # cross-parameter rules
    min_inputs: int = 1
    max_inputs: int | None = 1  # None: any number
    has_shortcut: bool = False  # op carries a residual shortcut that Zen-Score's build removes
    # elements per sample of the tensors the module makes inside besides its output (the memory
    # estimate); None: none (identity, pooling, add...)
    workspace: Callable[[dict, list[Shape], Shape], int] | None = None
    # the group a per-op-kind latency calibration scales this op with (`latency.calibration`);
    # None: its category. Convs split dense from grouped / depthwise, which run differently in place.
    latency_kind: Callable[[dict], str] | None = None
    schema: dict[str, Param] = field(init=False, repr=False, compare=False)
    _defaults: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "schema", {p.name: p for p in self.params})
        object.__setattr__(self, "_defaults", {p.name: p.default for p in self.params})

    def defaults(self) -> dict:
        return dict(self._defaults)

    def resolve(self, params: dict | None) -> dict:
        """Defaults overlaid with `params` (unknown names are kept so validation can name them)."""
        return {**self._defaults, **params} if params else dict(self._defaults)

    def kind_of(self, params: dict | None) -> str:
        """This op's latency kind with `params` (see `latency_kind`)."""
        return self.latency_kind(self.resolve(params)) if self.latency_kind else self.category

    def param_errors(self, params: dict) -> list[str]:
        if not params and not self.params:
            return []
        errors = [f"unknown parameter {clip(k)}" for k in params if k not in self.schema]
        for p in self.params:
            if p.name in params:
                msg = p.check(params[p.name])
                if msg:
                    errors.append(msg)
        if not errors:
            errors.extend(self.check(self.resolve(params)))
        return errors


OPS: dict[str, OpSpec] = {}


def register_op(spec: OpSpec) -> OpSpec:
    if spec.name in OPS:
        raise ValueError(f"op {spec.name!r} registered twice")
    OPS[spec.name] = spec
    return spec


def op_spec(name: object) -> OpSpec | None:
    """The op named `name`, or None, for any value a file may hold (a list or dict is not hashable)."""
    return OPS.get(name) if isinstance(name, str) else None


def get_op(name: str) -> OpSpec:
    spec = op_spec(name)
    if spec is None:
        raise KeyError(f"unknown op {clip(name)}")
    return spec


def shape_str(shape: Shape) -> str:
    """OFA's `repr_shape` in HxWxC order (vectors as their length)."""
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}x{w}x{c}"
    return "x".join(str(s) for s in shape)
