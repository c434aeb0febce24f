"""One-shot weight sharing for NAS-Bench-201 (ENAS/RandomNAS-style uniform path sampling).

One supernet holds every op on every edge of every cell; each training step samples one op per edge
(the same cell for the whole network, as in NB201) and trains that path. A candidate is scored with
the weights it inherits: its path's BN statistics are recalibrated on training images (they were
averaged over many paths), then accuracy is measured on held-out images.

Module names mirror `build_model(NB201Space(C, N).encode(cfg))`, so `subnet_state(ops)` is a
state_dict of the standalone network (`layers.<node>.<...>`) and a candidate can leave the supernet
with its weights (`extract`).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ..arch import modules as M
from ..arch.graph import ArchGraph
from ..arch.ops.nb201 import NB201_OPS
from ..progress import Progress, ProgressFn, StopFn, never_stop, no_progress
from ..spaces.nb201 import EDGES, NB201Space, arch_str_of, parse_arch_str
from ..supernet.bn_calib import image_batches, recalibrate_bn
from ..tensorfile import save_tensors
from ._common import EstimatorError, Split, TrainThenScore, accuracy, load_weight_sharing, train_steps

CONV_OPS = ("nor_conv_1x1", "nor_conv_3x3")


def edge_module(op: str, c: int) -> nn.Module:
    """The same module the NB201 op registry builds for this edge op."""
    if op == "none":
        return M.Zero()
    if op == "skip_connect":
        return nn.Identity()
    if op == "nor_conv_1x1":
        return M.ReLUConvBN(c, c, 1, 1, 0)
    if op == "nor_conv_3x3":
        return M.ReLUConvBN(c, c, 3, 1, 1)
    if op == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    raise EstimatorError(f"unknown NB201 op {op!r}")


def as_ops(arch) -> list[str]:
    """An arch string, a {"arch_str": ...} config or a list of 6 ops -> list of 6 ops."""
    if isinstance(arch, dict):
        arch = arch.get("arch_str")
    if isinstance(arch, str):
        return parse_arch_str(arch)
    ops = list(arch)
    if len(ops) != len(EDGES) or any(o not in NB201_OPS for o in ops):
        raise EstimatorError(f"an NB201 cell needs 6 ops from {NB201_OPS}, got {ops}")
    return ops


def random_ops(rng: random.Random) -> list[str]:
    return [rng.choice(NB201_OPS) for _ in EDGES]


@dataclass(frozen=True)
class NB201Skeleton:
    """Macro skeleton of the NB201 CIFAR network: channels C, N cells per stage, classes."""

    C: int = 16
    N: int = 5
    n_classes: int = 10

    def space(self) -> NB201Space:
        return NB201Space(channels=self.C, cells_per_stage=self.N, n_classes=self.n_classes)

    def plan(self) -> list[tuple[str, str, int]]:
        """[(kind, name, width)] in execution order: ("reduce", "reduce1", 32), ("cell", "s1c0", 16)...
        (the space's own skeleton, so the supernet and the encoded graph never disagree)."""
        return [(kind, name, width) for kind, name, width, _ in self.space().skeleton()]


class NB201FixedParts(nn.Module):
    """The parts outside the cells, named as the standalone network names them."""

    def __init__(self, sk: NB201Skeleton):
        super().__init__()
        self.skeleton = sk
        self.fixed = nn.ModuleDict()
        self.fixed["stem"] = M.ConvBNAct(3, sk.C, 3, 1, 1, False, True, "none")
        for kind, name, width in sk.plan():
            if kind == "reduce":
                self.fixed[name] = M.ResNetBasicBlock(width // 2, width, 2)
        width = sk.C * 4
        self.fixed["lastbn"] = nn.BatchNorm2d(width)
        self.fixed["classifier"] = M.Linear(width, sk.n_classes)
        self.lastact = nn.ReLU()
        self.pool = M.GlobalAvgPool()

    def head(self, x: torch.Tensor) -> torch.Tensor:
        return self.fixed["classifier"](self.pool(self.lastact(self.fixed["lastbn"](x))))


def run_cell(x: torch.Tensor, edge_fn) -> torch.Tensor:
    """Node j = sum over i < j of edge(i -> j)(node i), summed in EDGES order as the graph's add does."""
    states = [x]
    for j in (1, 2, 3):
        out = None
        for k, (to, frm) in enumerate(EDGES):
            if to != j:
                continue
            y = edge_fn(k, frm, to, states[frm])
            out = y if out is None else out + y
        states.append(out)
    return states[3]


class NB201Supernet(NB201FixedParts):
    """Every op on every edge; `forward(x, ops)` runs one path."""

    def __init__(self, C: int = 16, N: int = 5, n_classes: int = 10):
        super().__init__(NB201Skeleton(C, N, n_classes))
        self.edges = nn.ModuleDict()
        for kind, name, width in self.skeleton.plan():
            if kind == "cell":
                for to, frm in EDGES:
                    self.edges[f"{name}_e{frm}{to}"] = nn.ModuleDict(
                        {op: edge_module(op, width) for op in NB201_OPS}
                    )

    def forward(self, x: torch.Tensor, ops) -> torch.Tensor:
        ops = as_ops(ops)
        x = self.fixed["stem"](x)
        for kind, name, _ in self.skeleton.plan():
            if kind == "reduce":
                x = self.fixed[name](x)
            else:
                x = run_cell(x, lambda k, frm, to, h, name=name: self.edges[f"{name}_e{frm}{to}"][ops[k]](h))
        return self.head(x)

    def subnet_state(self, arch) -> dict[str, torch.Tensor]:
        """The standalone network's state_dict (keys `layers.<node>.<...>`) for this path."""
        ops = as_ops(arch)
        out = {}
        for key, t in self.state_dict().items():
            head, _, rest = key.partition(".")
            if head == "fixed":
                out["layers." + rest] = t.clone()
            elif head == "edges":
                nid, op, tail = rest.split(".", 2)
                k = EDGES.index((int(nid[-1]), int(nid[-2])))
                if ops[k] == op:
                    out[f"layers.{nid}.{tail}"] = t.clone()
        return out

    def extract(self, arch) -> tuple[ArchGraph, dict[str, torch.Tensor]]:
        """(graph, state_dict) of the standalone candidate holding its inherited weights."""
        ops = as_ops(arch)
        graph = self.skeleton.space().encode({"arch_str": arch_str_of(ops)})
        return graph, self.subnet_state(ops)


class _Path(nn.Module):
    """The supernet with a fixed path, as a plain module (for BN recalibration and evaluation)."""

    def __init__(self, net: NB201Supernet, ops: list[str]):
        super().__init__()
        self.net, self.ops = net, ops

    def forward(self, x):
        return self.net(x, self.ops)


@dataclass
class OneShotConfig:
    C: int = 16
    N: int = 5
    steps: int = 300
    batch_size: int = 64
    lr: float = 0.05
    seed: int = 0
    calib_images: int = 256


def new_supernet(cfg: OneShotConfig) -> NB201Supernet:
    """A supernet whose initial weights depend on `cfg.seed` only (global RNG left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return NB201Supernet(cfg.C, cfg.N)


def train_supernet(
    net: NB201Supernet,
    split: Split,
    cfg: OneShotConfig,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> list[float]:
    """Uniform path sampling: one random cell per step (seeded), SGD with cosine learning rate."""
    rng = random.Random(cfg.seed)
    net.train()
    return train_steps(
        lambda xb, step: net(xb, random_ops(rng)),
        net.parameters(),
        split.train_x,
        split.train_y,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        phase="oneshot-train",
        progress=progress,
        should_stop=should_stop,
    )


def score_archs(
    net: NB201Supernet,
    archs: list,
    split: Split,
    calib_images: int = 256,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> list[dict]:
    """Held-out accuracy and loss of each cell with inherited weights after BN recalibration.

    Recalibration overwrites the running statistics of the path's BNs in the supernet (training
    never reads them: it normalises with batch statistics)."""
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    calib = image_batches(split.train_x[:calib_images], 128)
    out = []
    for i, arch in enumerate(archs, start=1):
        ops = as_ops(arch)
        path = _Path(net, ops)
        recalibrate_bn(path, calib, should_stop=should_stop)
        acc, loss = accuracy(path, split.val_x, split.val_y)
        out.append({"arch_str": arch_str_of(ops), "val_acc": acc, "val_loss": loss})
        progress(Progress(phase="oneshot-score", step=i, total=len(archs), message=arch_str_of(ops)))
    net.train()
    return out


def save_supernet(net: NB201Supernet, cfg: OneShotConfig, path: str | Path) -> Path:
    """Atomically, with a SHA-256 of the contents (`explorer.tensorfile`)."""
    ck = {"kind": "oneshot-nb201", "config": asdict(cfg), "state_dict": net.state_dict()}
    return save_tensors(path, ck)


def load_supernet(path: str | Path) -> tuple[NB201Supernet, OneShotConfig]:
    """Net and config of a checkpoint; FormatError (one line) when it is unreadable, damaged or foreign."""

    def build(config: dict):
        cfg = OneShotConfig(**config)
        return NB201Supernet(cfg.C, cfg.N), cfg

    return load_weight_sharing(path, "oneshot-nb201", "one-shot NB201 supernet checkpoint", build)


class OneShotJob(TrainThenScore):
    """Background job: train the supernet, then (optionally) score `archs`; result is a dict."""

    def new(self):
        return new_supernet(self.cfg)

    def train(self, progress, should_stop):
        return train_supernet(self.net, self.split, self.cfg, progress, should_stop)

    def save(self, path):
        return save_supernet(self.net, self.cfg, path)

    def score(self, progress, should_stop):
        return score_archs(self.net, self.archs, self.split, self.cfg.calib_images, progress, should_stop)
