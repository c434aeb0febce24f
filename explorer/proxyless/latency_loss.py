"""Expected latency and the hardware-aware loss.

Expected latency = fixed layers + sum over layers of sum_j p_j * LUT(op_j at that layer's shapes)
(zero = 0 ms), differentiable in alpha. Loss forms:

- `mul` (default): CE * max(1, E/T)^beta. The official code's multiplicative forms
  (CE * (log E / log T)^beta, `mul#log`; or CE * (E/T)^beta) are T times a constant, so with Adam on
  alpha (scale-invariant) the target T changes nothing; clipping at 1 (MnasNet's hard-constraint
  shape) makes T the point below which latency stops being penalised, so the search settles near it.
- `add`: CE + lambda * (E - T) / T, the official `add#linear` (the paper's CE + lambda * E[LAT]
  with lambda scaled by 1/T).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from explorer.errors import ConfigError

from .supernet import ProxylessSupernet

LOSS_FORMS = ("mul", "add")


def needed_layers(net: ProxylessSupernet) -> dict:
    """key -> LayerPlan for every fixed layer and candidate of `net` (those with a LUT key)."""
    out = {}
    plan = net.plan
    for lay in plan.fixed:
        k = lay.key()
        if k:
            out.setdefault(k, lay)
    for _, _, plans in plan.layers:
        for lay in plans:
            if lay is not None:
                out.setdefault(lay.key(), lay)
    return out


class LatencyModel:
    """Per-layer latency vectors (ms) of a supernet, from a resolved {key: ms} snapshot."""

    def __init__(self, net: ProxylessSupernet, table: dict[str, float]):
        plan = net.plan
        keys = [lay.key() for lay in plan.fixed]
        self.fixed_ms = float(sum(table[k] for k in keys if k))
        self.layer_ms = [
            torch.tensor([0.0 if lay is None else float(table[lay.key()]) for lay in plans])
            for _, _, plans in plan.layers
        ]

    def expected(self, probs: list[torch.Tensor]) -> torch.Tensor:
        """fixed + sum_l probs_l . lat_l (differentiable in probs)."""
        total = torch.tensor(self.fixed_ms)
        for p, lat in zip(probs, self.layer_ms):
            total = total + (p * lat).sum()
        return total

    def expected_of(self, net: ProxylessSupernet) -> torch.Tensor:
        return self.expected([m.probs() for m in net.layers])

    def of_choices(self, choices: list[int]) -> float:
        return self.fixed_ms + sum(float(lat[c]) for c, lat in zip(choices, self.layer_ms))

    def bounds(self) -> tuple[float, float]:
        """(fastest, slowest) latency over all paths."""
        lo = self.fixed_ms + sum(float(v.min()) for v in self.layer_ms)
        hi = self.fixed_ms + sum(float(v.max()) for v in self.layer_ms)
        return lo, hi


@dataclass
class LatencyLoss:
    target_ms: float
    form: str = "mul"
    beta: float = 0.6
    lam: float = 0.1

    def __post_init__(self):
        if not (self.target_ms > 0):
            raise ConfigError(f"target latency must be positive, got {self.target_ms}")
        if self.form not in LOSS_FORMS:
            raise ConfigError(f"loss form must be one of {list(LOSS_FORMS)}, got {self.form!r}")
        if self.beta < 0 or self.lam < 0:
            raise ConfigError("beta and lambda must be >= 0")

    def __call__(self, ce: torch.Tensor, expected_ms: torch.Tensor) -> torch.Tensor:
        ratio = expected_ms / self.target_ms
        if self.form == "mul":
            return ce * torch.clamp(ratio, min=1.0) ** self.beta
        return ce + self.lam * (ratio - 1.0)

    def describe(self) -> dict:
        d = {"form": self.form, "target_ms": self.target_ms}
        d.update({"beta": self.beta} if self.form == "mul" else {"lambda": self.lam})
        return d
