"""SMASH (Brock et al., arXiv 1708.05344) for NAS-Bench-201: a hypernetwork H generates the cell
convolutions of a sampled architecture from its encoding, W = H(c).

Simplified but honest: the architecture encoding c of an edge is [one-hot ops of all six edges
(30), one-hot of this edge (6), one-hot of the cell's position in the network (3N)]; H is an MLP
shared by every edge, followed by one linear output head per (stage width, kernel size) that emits
the whole kernel. So each conv's weights depend on the entire cell, on where the edge sits and on
the op, as in SMASH, while the stem, the reduction blocks and the classifier are ordinary learned
weights (SMASH also keeps a few fixed layers). Cell BNs carry no affine parameters or running
statistics and always normalise with batch statistics (as in the SMASH code and GradSign's NB201
supernet); the fixed parts' BNs keep their affine parameters but also use batch statistics, so
training and scoring see the same normalisation (running statistics averaged over random
architectures would fit none of them).

Training samples one random architecture per batch and back-propagates through W = H(c) into H.
A candidate's score is its held-out accuracy (and loss) with generated weights.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..arch.ops.nb201 import NB201_OPS
from ..progress import Progress, ProgressFn, StopFn, never_stop, no_progress
from ..spaces.nb201 import EDGES, arch_str_of
from ..tensorfile import save_tensors
from ._common import Split, TrainThenScore, accuracy, load_weight_sharing, train_steps
from .oneshot_nb201 import NB201FixedParts, NB201Skeleton, as_ops, random_ops, run_cell

KERNEL = {"nor_conv_1x1": 1, "nor_conv_3x3": 3}


class SmashNB201(NB201FixedParts):
    """The NB201 network whose cell convs come from a hypernetwork."""

    def __init__(self, C: int = 16, N: int = 5, n_classes: int = 10, hidden: int = 64):
        super().__init__(NB201Skeleton(C, N, n_classes))
        for m in self.modules():  # every BN normalises with batch statistics, in training and scoring
            if isinstance(m, nn.BatchNorm2d):
                m.track_running_stats = False
                m.running_mean = m.running_var = m.num_batches_tracked = None
        self.hidden = hidden
        self.cells = [(name, width) for kind, name, width in self.skeleton.plan() if kind == "cell"]
        self.cond_dim = len(EDGES) * len(NB201_OPS) + len(EDGES) + len(self.cells)
        self.hyper = nn.Sequential(
            nn.Linear(self.cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU()
        )
        self.heads = nn.ModuleDict()
        for width in sorted({w for _, w in self.cells}):
            for op, k in KERNEL.items():
                head = nn.Linear(hidden, width * width * k * k)
                # generated kernels start near He-normal scale for a ReLU-conv of fan-in width*k*k
                nn.init.normal_(head.weight, std=(2.0 / (width * k * k)) ** 0.5 / hidden**0.5 * 2.0)
                nn.init.zeros_(head.bias)
                self.heads[f"{width}_{op}"] = head

    def encoding(self, ops: list[str]) -> torch.Tensor:
        """Conditioning rows for every (cell, conv edge): [n_conv_edges, cond_dim] (cells x edges order)."""
        arch = torch.zeros(len(EDGES), len(NB201_OPS))
        for k, op in enumerate(ops):
            arch[k, NB201_OPS.index(op)] = 1.0
        rows = []
        for ci in range(len(self.cells)):
            for k, op in enumerate(ops):
                if op in KERNEL:
                    edge, pos = torch.zeros(len(EDGES)), torch.zeros(len(self.cells))
                    edge[k], pos[ci] = 1.0, 1.0
                    rows.append(torch.cat([arch.flatten(), edge, pos]))
        if not rows:
            return torch.zeros(0, self.cond_dim)
        return torch.stack(rows)

    def generate(self, arch) -> dict[str, torch.Tensor]:
        """W = H(c): the conv kernel of every conv edge, keyed by the standalone graph's edge node id
        (`s1c0_e01`...), shaped [width, width, k, k] like the standalone network's conv weights."""
        ops = as_ops(arch)
        c = self.encoding(ops).to(next(self.parameters()).device)
        if not len(c):
            return {}
        z = self.hyper(c)
        out, row = {}, 0
        for name, width in self.cells:
            for k, (to, frm) in enumerate(EDGES):
                op = ops[k]
                if op in KERNEL:
                    kk = KERNEL[op]
                    w = self.heads[f"{width}_{op}"](z[row]).view(width, width, kk, kk)
                    out[f"{name}_e{frm}{to}"] = w
                    row += 1
        return out

    def forward(self, x: torch.Tensor, arch) -> torch.Tensor:
        ops = as_ops(arch)
        weights = self.generate(ops)
        x = self.fixed["stem"](x)
        for kind, name, _ in self.skeleton.plan():
            if kind == "reduce":
                x = self.fixed[name](x)
                continue

            def edge(k, frm, to, h, name=name):
                op = ops[k]
                if op == "none":
                    return h.mul(0.0)
                if op == "skip_connect":
                    return h
                if op == "avg_pool_3x3":
                    return F.avg_pool2d(h, 3, 1, 1, count_include_pad=False)
                w = weights[f"{name}_e{frm}{to}"]
                y = F.conv2d(F.relu(h), w, padding=w.shape[-1] // 2)
                return F.batch_norm(y, None, None, training=True)

            x = run_cell(x, edge)
        return self.head(x)


@dataclass
class SmashConfig:
    C: int = 16
    N: int = 5
    hidden: int = 64
    steps: int = 300
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0


def new_smash(cfg: SmashConfig) -> SmashNB201:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return SmashNB201(cfg.C, cfg.N, hidden=cfg.hidden)


def train_smash(
    net: SmashNB201,
    split: Split,
    cfg: SmashConfig,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> list[float]:
    """One random architecture per batch, loss through W = H(c); Adam as in SMASH."""
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
        optimizer="adam",
        weight_decay=0.0,
        seed=cfg.seed,
        phase="smash-train",
        progress=progress,
        should_stop=should_stop,
    )


def score_archs(
    net: SmashNB201,
    archs: list,
    split: Split,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    batch_size: int = 250,
) -> list[dict]:
    """Held-out accuracy and loss of each cell with generated weights (SMASH's validation error =
    1 - val_acc). BNs use the statistics of each evaluation batch of `batch_size` images."""
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    out = []
    net.eval()
    for i, arch in enumerate(archs, start=1):
        if should_stop():
            from ..progress import Cancelled

            raise Cancelled("SMASH scoring cancelled")
        ops = as_ops(arch)
        with torch.no_grad():
            acc, loss = accuracy(lambda x, ops=ops: net(x, ops), split.val_x, split.val_y, batch_size)
        out.append({"arch_str": arch_str_of(ops), "val_acc": acc, "val_loss": loss})
        progress(Progress(phase="smash-score", step=i, total=len(archs), message=arch_str_of(ops)))
    return out


def save_smash(net: SmashNB201, cfg: SmashConfig, path: str | Path) -> Path:
    """Atomically, with a SHA-256 of the contents (`explorer.tensorfile`)."""
    return save_tensors(path, {"kind": "smash-nb201", "config": asdict(cfg), "state_dict": net.state_dict()})


def load_smash(path: str | Path) -> tuple[SmashNB201, SmashConfig]:
    """Net and config of a checkpoint; FormatError (one line) when it is unreadable, damaged or foreign."""

    def build(config: dict):
        cfg = SmashConfig(**config)
        return SmashNB201(cfg.C, cfg.N, hidden=cfg.hidden), cfg

    return load_weight_sharing(path, "smash-nb201", "SMASH NB201 checkpoint", build)


class SmashJob(TrainThenScore):
    """Background job: train H, then (optionally) score `archs`; result is a dict."""

    def new(self):
        return new_smash(self.cfg)

    def train(self, progress, should_stop):
        return train_smash(self.net, self.split, self.cfg, progress, should_stop)

    def save(self, path):
        return save_smash(self.net, self.cfg, path)

    def score(self, progress, should_stop):
        return score_archs(self.net, self.archs, self.split, progress, should_stop)
