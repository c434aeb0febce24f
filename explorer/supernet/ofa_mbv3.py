"""The elastic OFA-MobileNetV3 supernet (w1.0 / w1.2): one set of weights, any subnet of the space active.

Geometry comes from `explorer.spaces.ofa_geometry` so the supernet, the search space and the
extracted static models agree on every width. The fixed parts (stem, first block, head) reuse the
core's static layers, so their parameter names are the node names an ArchGraph uses.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import torch
from torch import nn

from explorer.arch.modules import ConvBNAct, Linear, MBConv
from explorer.errors import ConfigError
from explorer.spaces import default_space, find_space, spaces_with
from explorer.spaces.ofa_geometry import (  # block_io, active_blocks: importable from here as before
    DEPTHS,
    EXPANDS,
    KERNELS,
    MAX_DEPTH,
    N_BLOCKS,
    N_STAGES,
    active_blocks,
    block_io,
    geometry,
)
from explorer.supernet.dynamic_ops import DynamicMBConv


def supernet_spaces() -> list[str]:
    """The spaces this supernet trains: those the registry flags `supports_supernet`."""
    return [s.name for s in spaces_with(supports_supernet=True)]


def default_supernet_space() -> str:
    return default_space(supports_supernet=True).name


def space_width(space: str) -> float:
    sp = find_space(space)
    if sp is None or not sp.supports_supernet:
        raise ConfigError(f"unknown supernet space {space!r} (known: {', '.join(supernet_spaces())})")
    return sp.geo.width_mult


class OFAMobileNetV3(nn.Module):
    """Elastic kernel / depth / expand supernet; elastic resolution is the input size."""

    def __init__(
        self,
        space: str | None = None,
        n_classes: int = 1000,
        dropout: float = 0.1,
        resolutions: Sequence[int] | None = None,
    ):
        super().__init__()
        space = space or default_supernet_space()
        self.space = space
        self.geo = geometry(space_width(space), n_classes)
        geo = self.geo
        self.n_classes, self.dropout_rate = n_classes, dropout
        self.resolutions = tuple(resolutions) if resolutions else geo.resolutions
        self.kernels, self.expands, self.depths = KERNELS, EXPANDS, DEPTHS

        self.stem = ConvBNAct(3, geo.stem, 3, 2, act="h_swish")
        self.first_block = MBConv(geo.stem, geo.first_block, 3, 1, geo.stem, 0, "relu", True, False)
        blocks = []
        for i in range(N_BLOCKS):
            cin, cout, stride = block_io(geo, i)
            s = i // MAX_DEPTH
            blocks.append(DynamicMBConv(cin, cout, stride, geo.stage_acts[s], geo.stage_se[s]))
        self.blocks = nn.ModuleList(blocks)
        self.final_expand = ConvBNAct(geo.stage_widths[-1], geo.final_expand, 1, act="h_swish")
        self.feature_mix = ConvBNAct(geo.final_expand, geo.last_channel, 1, bn=False, act="h_swish")
        self.dropout = nn.Dropout(dropout)
        self.classifier = Linear(geo.last_channel, n_classes)
        self.active_depths = [max(DEPTHS)] * N_STAGES
        self.active_resolution = max(self.resolutions)
        self._init_weights()

    def _init_weights(self) -> None:
        """OFA's init: He (fan_out) for convs, BN to (1, 0), linear uniform, biases zero."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, (2.0 / n) ** 0.5)
                if m.bias is not None:
                    m.bias.data.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                stdv = 1.0 / m.weight.size(1) ** 0.5
                m.weight.data.uniform_(-stdv, stdv)
                if m.bias is not None:
                    m.bias.data.zero_()

    # -- description -----------------------------------------------------------------------
    def spec(self) -> dict:
        """What a checkpoint needs to rebuild this supernet (plain types only)."""
        return {
            "space": self.space,
            "n_classes": self.n_classes,
            "dropout": self.dropout_rate,
            "resolutions": list(self.resolutions),
        }

    @classmethod
    def from_spec(cls, spec: dict) -> OFAMobileNetV3:
        return cls(spec["space"], int(spec["n_classes"]), float(spec["dropout"]), spec.get("resolutions"))

    # -- active subnet ---------------------------------------------------------------------
    def check_config(self, config: dict) -> dict:
        """Validate a config against this supernet; returns a normalised copy. Raises ConfigError."""
        if not isinstance(config, dict):
            raise ConfigError("a config must be a JSON object with keys ks, e, d, r")
        missing = [k for k in ("ks", "e", "d") if k not in config]
        if missing:
            raise ConfigError(f"config lacks {', '.join(missing)} (expected keys ks, e, d, r)")
        out = {}
        for key, n, allowed in (
            ("ks", N_BLOCKS, self.kernels),
            ("e", N_BLOCKS, self.expands),
            ("d", N_STAGES, self.depths),
        ):
            v = config[key]
            if not isinstance(v, (list, tuple)) or len(v) != n:
                raise ConfigError(f"config {key!r} must list {n} integers")
            vals = []
            for x in v:
                if isinstance(x, float) and x.is_integer():
                    x = int(x)
                if isinstance(x, bool) or not isinstance(x, int) or x not in allowed:
                    raise ConfigError(f"config {key!r} holds {x!r}; allowed values are {list(allowed)}")
                vals.append(x)
            out[key] = vals
        r = config.get("r", self.active_resolution)
        if isinstance(r, (list, tuple)) and len(r) == 1:
            r = r[0]
        if isinstance(r, bool) or not isinstance(r, int) or r not in self.resolutions:
            raise ConfigError(
                f"config resolution {r!r} is not one of this supernet's "
                f"({min(self.resolutions)}..{max(self.resolutions)})"
            )
        out["r"] = r
        return out

    def set_active(self, config: dict) -> None:
        cfg = self.check_config(config)
        for i, b in enumerate(self.blocks):
            b.active_kernel = cfg["ks"][i]
            b.active_expand = cfg["e"][i]
        self.active_depths = list(cfg["d"])
        self.active_resolution = cfg["r"]

    def active_config(self) -> dict:
        return {
            "ks": [b.active_kernel for b in self.blocks],
            "e": [b.active_expand for b in self.blocks],
            "d": list(self.active_depths),
            "r": self.active_resolution,
        }

    def sample_config(
        self,
        seed: int,
        kernels: Sequence[int] | None = None,
        expands: Sequence[int] | None = None,
        depths: Sequence[int] | None = None,
        resolutions: Sequence[int] | None = None,
    ) -> dict:
        """A random config from the given choices (default: the whole space), reproducible from `seed`."""
        rng = random.Random(seed)
        ks = [rng.choice(tuple(kernels or self.kernels)) for _ in range(N_BLOCKS)]
        e = [rng.choice(tuple(expands or self.expands)) for _ in range(N_BLOCKS)]
        d = [rng.choice(tuple(depths or self.depths)) for _ in range(N_STAGES)]
        r = rng.choice(tuple(resolutions or self.resolutions))
        return {"ks": ks, "e": e, "d": d, "r": r}

    def sample_active(self, seed: int, **choices) -> dict:
        cfg = self.sample_config(seed, **choices)
        self.set_active(cfg)
        return cfg

    def max_config(self) -> dict:
        return {
            "ks": [max(self.kernels)] * N_BLOCKS,
            "e": [max(self.expands)] * N_BLOCKS,
            "d": [max(self.depths)] * N_STAGES,
            "r": max(self.resolutions),
        }

    def min_config(self) -> dict:
        return {
            "ks": [min(self.kernels)] * N_BLOCKS,
            "e": [min(self.expands)] * N_BLOCKS,
            "d": [min(self.depths)] * N_STAGES,
            "r": min(self.resolutions),
        }

    def set_max(self) -> None:
        self.set_active(self.max_config())

    def set_min(self) -> None:
        self.set_active(self.min_config())

    # -- forward ---------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_block(self.stem(x))
        for i in active_blocks(self.active_depths):
            x = self.blocks[i](x)
        x = self.final_expand(x)
        x = x.mean(3, keepdim=True).mean(2, keepdim=True)
        x = self.feature_mix(x)
        return self.classifier(self.dropout(x.flatten(1)))

    @torch.no_grad()
    def sort_channels(self, expand_stage: int = 0) -> None:
        """Sort every block's middle channels by importance (start of each expand phase)."""
        for b in self.blocks:
            b.sort_channels(expand_stage)

    def no_decay_parameters(self) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
        """(decay, no_decay): BN weights/biases and all biases get no weight decay (OFA's rule)."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if p.ndim <= 1 or name.endswith(".bias"):
                no_decay.append(p)
            else:
                decay.append(p)
        return decay, no_decay
