"""The over-parameterised network ProxylessNAS searches: a fixed CIFAR-sized skeleton whose
searchable layers each hold every candidate MBConv (kernel x expand) plus `zero` where the layer
may be skipped, with architecture parameters `alpha` per layer.

Every layer and candidate is built from the core's op registry (`OPS[...].build`), so a derived
path maps one-to-one onto ArchGraph nodes (same modules, same LUT keys, weights copy by name).
A skippable layer (stride 1, in == out) uses the MBConv's identity skip, so its candidates output
`x + f(x)` and `zero` outputs `x`: the block is skipped, as in ProxylessNAS's mobile space.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from explorer.arch import OPS
from explorer.errors import ConfigError

ZERO = "zero"
ACTS = ("relu", "relu6", "h_swish")


@dataclass(frozen=True)
class Candidate:
    """One path of a mixed layer: an MBConv (kernel, expand) or the zero op."""

    label: str
    kernel: int = 0
    expand: float = 0.0

    @property
    def is_zero(self) -> bool:
        return self.label == ZERO


@dataclass
class Skeleton:
    """The macro structure: stem conv, a fixed first MBConv (expand 1, k3), searchable stages of
    (width, layers, stride), a 1x1 head conv, global pooling and a linear classifier."""

    resolution: int = 32
    in_channels: int = 3
    n_classes: int = 10
    stem_channels: int = 16
    stem_stride: int = 1
    first_channels: int = 16
    stages: list = field(default_factory=lambda: [[24, 2, 2], [40, 2, 2], [80, 2, 2]])
    head_channels: int = 256
    kernels: list = field(default_factory=lambda: [3, 5, 7])
    expands: list = field(default_factory=lambda: [3, 6])
    act: str = "relu6"
    zero: bool = True  # offer the zero op in skippable layers

    def __post_init__(self):
        self.stages = [list(map(int, s)) for s in self.stages]
        self.kernels = [int(k) for k in self.kernels]
        self.expands = [float(e) if float(e) != int(e) else int(e) for e in self.expands]
        errs = []
        for name in (
            "resolution",
            "in_channels",
            "n_classes",
            "stem_channels",
            "first_channels",
            "head_channels",
        ):
            if getattr(self, name) < 1:
                errs.append(f"{name} must be >= 1")
        if self.stem_stride not in (1, 2):
            errs.append("stem_stride must be 1 or 2")
        if not self.stages or any(len(s) != 3 or min(s) < 1 or s[2] > 2 for s in self.stages):
            errs.append("stages must be a non-empty list of [width, layers, stride] with stride 1 or 2")
        if not self.kernels or any(k % 2 == 0 or k < 1 for k in self.kernels):
            errs.append("kernels must be odd positive integers")
        if not self.expands or any(e < 1 for e in self.expands):
            errs.append("expand ratios must be >= 1")
        if self.act not in ACTS:
            errs.append(f"act must be one of {list(ACTS)}")
        if errs:
            raise ConfigError("proxyless skeleton: " + "; ".join(errs))

    @classmethod
    def small(cls, resolution: int = 16) -> Skeleton:
        """A tiny skeleton for tests and quick demos (4 searchable layers)."""
        return cls(
            resolution=resolution,
            stem_channels=8,
            first_channels=8,
            stages=[[16, 2, 2], [24, 2, 2]],
            head_channels=64,
        )

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Skeleton:
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(d) - known)
        if bad:
            raise ConfigError(f"proxyless skeleton: unknown field(s) {bad}")
        return cls(**d)

    def candidates(self, skippable: bool) -> list[Candidate]:
        out = [Candidate(f"k{k}_e{e:g}", k, float(e)) for k in self.kernels for e in self.expands]
        if skippable and self.zero:
            out.append(Candidate(ZERO))
        return out


def conv_out(size: int, kernel: int, stride: int) -> int:
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


@dataclass(frozen=True)
class LayerPlan:
    """Shapes and node parameters of one layer of the skeleton (searchable or fixed)."""

    name: str
    op: str
    params: dict
    in_shape: tuple
    out_shape: tuple

    def key(self) -> str | None:
        spec = OPS[self.op]
        return spec.lut_key(spec.resolve(self.params), [self.in_shape], self.out_shape)

    def build(self) -> nn.Module:
        spec = OPS[self.op]
        return spec.build(spec.resolve(self.params), [self.in_shape], self.out_shape)


def mb_params(out_channels: int, kernel: int, stride: int, expand: float, act: str) -> dict:
    return {
        "out_channels": out_channels,
        "kernel": kernel,
        "stride": stride,
        "expand_ratio": float(expand),
        "act": act,
        "se": False,
        "skip": True,
    }


class Plan:
    """Shapes of every layer: the fixed ones (stem, first block, head) and per searchable layer
    its candidates' node parameters. Pure Python: the LUT keys come from here too."""

    def __init__(self, sk: Skeleton):
        self.sk = sk
        r = sk.resolution
        shape = (sk.in_channels, r, r)
        self.input_shape = shape
        s = conv_out(r, 3, sk.stem_stride)
        self.stem = LayerPlan(
            "stem",
            "conv",
            {"out_channels": sk.stem_channels, "kernel": 3, "stride": sk.stem_stride, "act": sk.act},
            shape,
            (sk.stem_channels, s, s),
        )
        shape = self.stem.out_shape
        fp = {**mb_params(sk.first_channels, 3, 1, 1.0, sk.act)}
        self.first = LayerPlan("first", "mbconv", fp, shape, (sk.first_channels, s, s))
        shape = self.first.out_shape
        self.layers: list[tuple[LayerPlan, list[Candidate], list[LayerPlan | None]]] = []
        for si, (width, n, stride) in enumerate(sk.stages):
            for li in range(n):
                st = stride if li == 0 else 1
                c, h, _ = shape
                if h < 2 and st == 2:
                    raise ConfigError(f"proxyless skeleton: resolution {r} is too small for its strides")
                h2 = conv_out(h, 3, st)
                out = (width, h2, h2)
                skippable = st == 1 and c == width
                cands = sk.candidates(skippable)
                plans = [
                    None
                    if cd.is_zero
                    else LayerPlan(
                        f"s{si + 1}_l{li + 1}",
                        "mbconv",
                        mb_params(width, cd.kernel, st, cd.expand, sk.act),
                        shape,
                        out,
                    )
                    for cd in cands
                ]
                base = LayerPlan(f"s{si + 1}_l{li + 1}", "mbconv", {}, shape, out)
                self.layers.append((base, cands, plans))
                shape = out
        self.head = LayerPlan(
            "head",
            "conv",
            {"out_channels": sk.head_channels, "kernel": 1, "stride": 1, "act": sk.act},
            shape,
            (sk.head_channels, shape[1], shape[2]),
        )
        hc = sk.head_channels
        self.pool = LayerPlan("pool", "global_avgpool", {}, self.head.out_shape, (hc, 1, 1))
        self.classifier = LayerPlan(
            "classifier", "linear", {"out_features": sk.n_classes}, (hc, 1, 1), (sk.n_classes,)
        )

    @property
    def fixed(self) -> list[LayerPlan]:
        return [self.stem, self.first, self.head, self.pool, self.classifier]

    def labels(self) -> list[list[str]]:
        return [[c.label for c in cands] for _, cands, _ in self.layers]


class MixedLayer(nn.Module):
    """All candidates of one layer plus its alpha. `mode` decides what forward runs:
    'single' the active path only, 'two' active + inactive (inactive without graph) weighted by
    the binary gates, 'all' the softmax-weighted sum of every path (DARTS-style, for comparison),
    'fixed' the active path (evaluation of a chosen architecture)."""

    def __init__(self, candidates: list[Candidate], plans: list[LayerPlan | None]):
        super().__init__()
        self.labels = [c.label for c in candidates]
        self.zero_index = next((i for i, c in enumerate(candidates) if c.is_zero), None)
        self.candidate_ops = nn.ModuleList([nn.Identity() if p is None else p.build() for p in plans])
        self.alpha = nn.Parameter(torch.zeros(len(candidates)))
        self.mode = "single"
        self.active = 0
        self.inactive: int | None = None
        self.gates: torch.Tensor | None = None

    @property
    def n_choices(self) -> int:
        return len(self.candidate_ops)

    def probs(self) -> torch.Tensor:
        return F.softmax(self.alpha, dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "all":
            p = self.probs()
            return sum(p[j] * op(x) for j, op in enumerate(self.candidate_ops))
        if self.mode == "two":
            a, b = self.active, self.inactive
            out = self.gates[a] * self.candidate_ops[a](x)
            with torch.no_grad():
                other = self.candidate_ops[b](x)
            return out + self.gates[b] * other  # d/dgate_b = <dL/dy, o_b>: o_b is all that is kept
        return self.candidate_ops[self.active](x)


class ProxylessSupernet(nn.Module):
    def __init__(self, skeleton: Skeleton):
        super().__init__()
        self.skeleton = skeleton
        self.plan = Plan(skeleton)
        p = self.plan
        self.stem = p.stem.build()
        self.first = p.first.build()
        self.layers = nn.ModuleList([MixedLayer(c, plans) for _, c, plans in p.layers])
        self.head = p.head.build()
        self.pool = p.pool.build()
        self.classifier = p.classifier.build()

    # parameters ----------------------------------------------------------------------------
    def arch_parameters(self) -> list[nn.Parameter]:
        return [m.alpha for m in self.layers]

    def weight_parameters(self) -> list[nn.Parameter]:
        ids = {id(a) for a in self.arch_parameters()}
        return [q for q in self.parameters() if id(q) not in ids]

    def probs(self) -> list[list[float]]:
        with torch.no_grad():
            return [[round(float(v), 5) for v in m.probs()] for m in self.layers]

    def labels(self) -> list[list[str]]:
        return [m.labels for m in self.layers]

    def argmax(self) -> list[int]:
        return [int(torch.argmax(m.alpha.detach())) for m in self.layers]

    # modes ---------------------------------------------------------------------------------
    def set_mode(self, mode: str) -> None:
        for m in self.layers:
            m.mode = mode

    def set_choices(self, choices: list[int]) -> None:
        """Fix the active path per layer (mode 'fixed')."""
        for m, c in zip(self.layers, choices):
            m.mode, m.active, m.inactive = "fixed", int(c), None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first(self.stem(x))
        for m in self.layers:
            x = m(x)
        return self.classifier(self.pool(self.head(x)))
