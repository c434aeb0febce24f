"""Progressive shrinking (OFA): teacher -> elastic kernel -> depth -> expand, as a resumable job.

Everything random is derived from (seed, phase, step, subnet, chunk): data order per epoch,
resolution and augmentation per step, subnet sampling, and the torch seed before each forward
(dropout). So a run resumed from any checkpoint repeats exactly what an uninterrupted run does,
and data-parallel ranks sample the same subnets. Schedules scale down by arguments (epochs,
resolutions, batch, subset) for CPU demos; defaults are the official phase shape.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import ExplorerError
from explorer.progress import Cancelled, Progress, ProgressFn, StopFn, never_stop, no_progress
from explorer.supernet import checkpoint as ckpt
from explorer.supernet import distributed as dd
from explorer.supernet.datasets import load_dataset
from explorer.supernet.evaluate import subnet_accuracy
from explorer.supernet.extract import extract_static
from explorer.supernet.ofa_mbv3 import OFAMobileNetV3, default_supernet_space


@dataclass(frozen=True)
class Phase:
    name: str
    epochs: float
    lr: float  # per 64 images (OFA's per-GPU batch); scaled by batch_size / 64
    n_subnets: int
    kernels: tuple[int, ...] | None = None  # None: all
    expands: tuple[int, ...] | None = None
    depths: tuple[int, ...] | None = None
    sort_stage: int | None = None  # channel sorting at the phase start (expand phases)
    kd: bool = True


# The official schedule (train_ofa_net.py). The teacher phase was never released; its numbers are ours.
PHASES: dict[str, Phase] = {
    "teacher": Phase("teacher", 180, 0.05, 1, (7,), (6,), (4,), kd=False),
    "kernel": Phase("kernel", 120, 3e-2, 1, None, (6,), (4,)),
    "depth1": Phase("depth1", 25, 2.5e-3, 2, None, (6,), (3, 4)),
    "depth2": Phase("depth2", 120, 7.5e-3, 2, None, (6,), None),
    "expand1": Phase("expand1", 25, 2.5e-3, 4, None, (4, 6), None, sort_stage=0),
    "expand2": Phase("expand2", 120, 7.5e-3, 4, None, None, None, sort_stage=1),
}
PHASE_ORDER = tuple(PHASES)


@dataclass
class TrainArgs:
    """Training arguments; stored in checkpoints so a resumed run keeps its schedule."""

    space: str = field(default_factory=default_supernet_space)
    n_classes: int | None = None  # None: from the dataset
    data: str = "builtin"
    phases: list[str] = field(default_factory=lambda: list(PHASE_ORDER))
    epochs: float | None = None  # overrides every phase's epochs
    epoch_scale: float = 1.0
    batch_size: int = 64  # global batch (all ranks together)
    resolutions: list[int] = field(default_factory=lambda: [32])
    lr_scale: float = 1.0
    warmup_epochs: float = 5.0  # capped at 10 % of a phase
    weight_decay: float = 3e-5
    momentum: float = 0.9
    label_smoothing: float = 0.1
    kd_ratio: float = 1.0
    dropout: float = 0.1
    subset: int | None = None
    val_subset: int | None = 500
    calib_images: int = 2000
    calib_batch: int = 200
    seed: int = 0
    save_every: int = 50
    bn_chunks: int = 1  # split each batch into this many BN batches (= data-parallel ranks)
    eval_at_phase_end: bool = True
    load_size: int | None = None  # ImageFolder decode size; None: the largest resolution

    def to_plain(self) -> dict:
        return asdict(self)

    @classmethod
    def from_plain(cls, d: dict) -> TrainArgs:
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def check(self) -> None:
        bad = [p for p in self.phases if p not in PHASES]
        if bad:
            raise ExplorerError(f"unknown phase(s) {', '.join(bad)} (known: {', '.join(PHASE_ORDER)})")
        if not self.phases:
            raise ExplorerError("no phases to train")
        if self.batch_size < 1:
            raise ExplorerError(f"batch size must be positive, got {self.batch_size}")
        if not self.resolutions or any(r < 16 for r in self.resolutions):
            raise ExplorerError(f"resolutions must be integers >= 16, got {self.resolutions}")
        if self.bn_chunks < 1 or self.batch_size % self.bn_chunks:
            raise ExplorerError("batch size must be a multiple of the BN chunks / data-parallel ranks")


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (stable across processes and Python versions)."""
    h = 1469598103934665603
    for p in parts:
        for b in int(p).to_bytes(8, "little", signed=True):
            h = ((h ^ b) * 1099511628211) % (1 << 64)
    return h % (1 << 63)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    """Linear warm-up then cosine to zero (per step)."""
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.5 * base * (1 + math.cos(math.pi * min(1.0, t)))


def soft_ce(logits: torch.Tensor, soft: torch.Tensor) -> torch.Tensor:
    return torch.mean(torch.sum(-soft * F.log_softmax(logits, dim=1), dim=1))


class PSTrainer:
    """The progressive-shrinking job. `run(progress, should_stop)` returns the metrics dict."""

    def __init__(
        self,
        args: TrainArgs,
        checkpoint: str | Path | None = None,
        *,
        resume: bool = False,
        init: str | Path | None = None,
        device: str = "cpu",
        ctx: dd.DistContext | None = None,
        stop_after_steps: int | None = None,
    ):
        self.ckpt_path = Path(checkpoint) if checkpoint else None
        self.device = torch.device(device)
        self.ctx = ctx or dd.current()
        self.stop_after_steps = stop_after_steps
        state = None
        if resume and self.ckpt_path is not None and self.ckpt_path.exists():
            state = ckpt.load(self.ckpt_path, space=None)
            if args.space and state["spec"]["space"] != args.space:
                got = state["spec"]["space"]
                raise ckpt.CheckpointError(
                    f"{self.ckpt_path}: checkpoint is for space {got!r}, not {args.space!r}"
                )
            if "train_args" in state:
                args = TrainArgs.from_plain(state["train_args"])
        args.check()
        self.args = args
        load_size = args.load_size or max(args.resolutions)
        self.train_set = load_dataset(args.data, "train", load_size).subset(args.subset)
        self.val_set = load_dataset(args.data, "val", load_size).subset(args.val_subset)
        n_classes = args.n_classes or self.train_set.n_classes
        args.n_classes = n_classes
        if state is not None:
            self.net = ckpt.build_supernet(state)
        elif init is not None:
            st = ckpt.load(init, space=args.space)
            self.net = ckpt.build_supernet(st)
            if self.net.n_classes != n_classes:
                raise ExplorerError(
                    f"{init}: supernet has {self.net.n_classes} classes, the data {n_classes}"
                )
        else:
            torch.manual_seed(args.seed)
            self.net = OFAMobileNetV3(args.space, n_classes, args.dropout, self._net_resolutions())
        self.net.resolutions = tuple(sorted(set(self.net.resolutions) | set(self._net_resolutions())))
        self.net.to(self.device)
        self.teacher = None
        self.phase_index, self.phase_step = 0, 0
        self.metrics: list[dict] = []
        self._opt_state = None
        if state is not None:
            self.phase_index = int(state.get("phase_index", 0))
            self.phase_step = int(state.get("phase_step", 0))
            self.metrics = list(state.get("metrics", []))
            self._opt_state = state.get("optimizer")
            if state.get("teacher") is not None:
                self.teacher = self._make_teacher(state["teacher"])
            ckpt.set_rng_state(state["rng"])
        dd.broadcast_module(self.net, self.ctx)

    def _net_resolutions(self) -> list[int]:
        return sorted(set(self.args.resolutions))

    # -- helpers ---------------------------------------------------------------------------
    def _make_teacher(self, state: dict | None = None):
        """A static copy of the full net in eval mode: fixed soft labels from the largest subnet."""
        cfg = self.net.max_config()
        cfg["r"] = max(self.net.resolutions)
        saved = self.net.active_config()
        t = extract_static(self.net, cfg)
        self.net.set_active(saved)
        if state is not None:
            t.load_state_dict(state)
        t.eval()
        for p in t.parameters():
            p.requires_grad_(False)
        return t.to(self.device)

    def steps_per_epoch(self) -> int:
        return max(1, len(self.train_set) // self.args.batch_size)

    def phase_total(self, phase: Phase) -> int:
        epochs = self.args.epochs if self.args.epochs is not None else phase.epochs * self.args.epoch_scale
        return max(1, round(epochs * self.steps_per_epoch()))

    def _optimizer(self, phase: Phase) -> torch.optim.Optimizer:
        decay, no_decay = self.net.no_decay_parameters()
        return torch.optim.SGD(
            [
                {"params": decay, "weight_decay": self.args.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self._base_lr(phase),
            momentum=self.args.momentum,
            nesterov=True,
        )

    def _base_lr(self, phase: Phase) -> float:
        return phase.lr * self.args.batch_size / 64 * self.args.lr_scale

    def _save(self, opt, sched: dict | None, done: bool = False) -> None:
        if self.ckpt_path is None or not self.ctx.is_main:
            return
        ck = ckpt.make(
            self.net,
            teacher=None if self.teacher is None else self.teacher.state_dict(),
            optimizer=None if opt is None else opt.state_dict(),
            scheduler=sched,
            phase_index=self.phase_index,
            phase_step=self.phase_step,
            phases=list(self.args.phases),
            train_args=self.args.to_plain(),
            metrics=self.metrics,
            done=done,
        )
        ckpt.save_atomic(ck, self.ckpt_path)

    def _batch(self, phase_i: int, step: int):
        """This rank's shard of the global batch of `step`, at the step's resolution."""
        a = self.args
        spe = self.steps_per_epoch()
        epoch, pos = divmod(step, spe)
        perm = np.random.default_rng(derive_seed(a.seed, phase_i, epoch, 1)).permutation(len(self.train_set))
        idx = perm[pos * a.batch_size : (pos + 1) * a.batch_size]
        rng = np.random.default_rng(derive_seed(a.seed, phase_i, step, 2))
        r = int(rng.choice(self._net_resolutions()))
        aug = derive_seed(a.seed, phase_i, step, 3)
        per = a.batch_size // self.ctx.world
        lo = self.ctx.rank * per
        x, y = self.train_set.batch(
            idx[lo : lo + per], r, aug_seed=aug, aug_offset=lo, aug_total=a.batch_size
        )
        return x.to(self.device), y.to(self.device), r

    def _train_step(self, phase: Phase, phase_i: int, step: int, opt) -> tuple[float, int]:
        a = self.args
        x, y, r = self._batch(phase_i, step)
        # Local chunks: bn_chunks BN batches in all, spread over ranks.
        local_chunks = max(1, a.bn_chunks // self.ctx.world)
        first_chunk = self.ctx.rank * local_chunks
        xs, ys = x.chunk(local_chunks), y.chunk(local_chunks)
        soft = None
        if phase.kd and a.kd_ratio > 0 and self.teacher is not None:
            with torch.no_grad():
                soft = [F.softmax(self.teacher(xc), dim=1) for xc in xs]
        opt.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for j in range(phase.n_subnets):
            cfg = self.net.sample_config(
                derive_seed(a.seed, phase_i, step, 4, j), phase.kernels, phase.expands, phase.depths, [r]
            )
            self.net.set_active(cfg)
            for c, (xc, yc) in enumerate(zip(xs, ys)):
                torch.manual_seed(derive_seed(a.seed, phase_i, step, 5, j, first_chunk + c))
                out = self.net(xc)
                loss = F.cross_entropy(out, yc, label_smoothing=a.label_smoothing)
                if soft is not None:
                    loss = loss + a.kd_ratio * soft_ce(out, soft[c])
                # mean over this rank's share of the batch; ranks are then averaged (DDP semantics)
                (loss * (len(xc) * self.ctx.world / a.batch_size)).backward()
                loss_sum += float(loss.detach()) / (local_chunks * phase.n_subnets)
        dd.average_gradients(list(self.net.parameters()), self.ctx)
        opt.step()
        return loss_sum, len(x)

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self, config: dict) -> float:
        """Top-1 accuracy of one subnet on the validation set after BN recalibration (on a copy)."""
        a = self.args
        return subnet_accuracy(self.net, config, self.train_set, self.val_set, a.calib_images, a.calib_batch)

    def eval_min_max(self) -> dict:
        r = max(self._net_resolutions())
        mn, mx = self.net.min_config(), self.net.max_config()
        mn["r"] = mx["r"] = r
        return {"min_acc": self.evaluate(mn), "max_acc": self.evaluate(mx)}

    # -- the job ---------------------------------------------------------------------------
    def run(self, progress: ProgressFn = no_progress, should_stop: StopFn = never_stop) -> dict:
        a = self.args
        if not self.ctx.is_main:
            progress = no_progress
        steps_done_here = 0
        n_phases = len(a.phases)
        while self.phase_index < n_phases:
            phase_i = self.phase_index
            phase = PHASES[a.phases[phase_i]]
            total = self.phase_total(phase)
            warmup = min(round(a.warmup_epochs * self.steps_per_epoch()), total // 10)
            if self.phase_step == 0:
                if phase.kd and a.kd_ratio > 0 and self.teacher is None:
                    self.teacher = self._make_teacher()
                if phase.sort_stage is not None:
                    self.net.sort_channels(phase.sort_stage)
                self._opt_state = None
            opt = self._optimizer(phase)
            if self._opt_state is not None:
                opt.load_state_dict(self._opt_state)
                self._opt_state = None
            self.net.train()
            t0, images, start_step = time.perf_counter(), 0, self.phase_step
            while self.phase_step < total:
                if should_stop() or (
                    self.stop_after_steps is not None and steps_done_here >= self.stop_after_steps
                ):
                    self._save(opt, self._sched(total, warmup, phase))
                    raise Cancelled(f"training stopped in phase {phase.name} at step {self.phase_step}")
                lr = lr_at(self.phase_step, total, warmup, self._base_lr(phase))
                for g in opt.param_groups:
                    g["lr"] = lr
                loss, n = self._train_step(phase, phase_i, self.phase_step, opt)
                loss = dd.all_mean(loss, self.ctx, self.device)
                if not math.isfinite(loss):
                    raise ExplorerError(
                        f"training diverged (loss {loss}) in phase {phase.name}; lower the lr"
                    )
                self.phase_step += 1
                steps_done_here += 1
                images += n * self.ctx.world
                dt = time.perf_counter() - t0
                done = self.phase_step - start_step
                progress(
                    Progress(
                        phase=phase.name,
                        step=self.phase_step,
                        total=total,
                        loss=loss,
                        images_per_s=images / dt if dt > 0 else None,
                        eta_s=(total - self.phase_step) * dt / done if done else None,
                        message=f"lr {lr:.3g}",
                        extra={"phase_index": phase_i, "n_phases": n_phases},
                    )
                )
                if a.save_every and self.phase_step % a.save_every == 0 and self.phase_step < total:
                    self._save(opt, self._sched(total, warmup, phase))
            # phase end
            rec = {"phase": phase.name, "steps": total}
            if a.eval_at_phase_end and self.ctx.is_main:
                rec.update(self.eval_min_max())
                progress(Progress(phase=phase.name, step=total, total=total, message="evaluated", extra=rec))
            self.metrics.append(rec)
            if phase.name == "teacher":
                self.teacher = None  # the next phase copies the trained full net
            self.phase_index += 1
            self.phase_step = 0
            self._save(None, None, done=self.phase_index >= n_phases)
        dd.barrier(self.ctx)
        return {"metrics": self.metrics, "checkpoint": str(self.ckpt_path) if self.ckpt_path else None}

    def _sched(self, total: int, warmup: int, phase: Phase) -> dict:
        return {
            "kind": "cosine",
            "base_lr": self._base_lr(phase),
            "warmup_steps": warmup,
            "total_steps": total,
            "step": self.phase_step,
        }


def new_supernet_checkpoint(
    space: str,
    n_classes: int,
    path: str | Path,
    seed: int = 0,
    dropout: float = 0.1,
    resolutions: list[int] | None = None,
) -> Path:
    """A freshly initialised supernet saved as a checkpoint (phase 0, step 0)."""
    torch.manual_seed(seed)
    net = OFAMobileNetV3(space, n_classes, dropout, resolutions)
    return ckpt.save_atomic(ckpt.make(net, phase_index=0, phase_step=0, metrics=[], done=False), path)
