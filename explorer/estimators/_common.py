"""What the weight-inheriting estimators share: the CIFAR-10 sample split, a training step loop and
accuracy on held-out images."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..data import crop_flip, load_builtin_cifar, load_npz_batch, normalize, shared_cifar_path
from ..errors import ExplorerError
from ..progress import Cancelled, Progress, ProgressFn, Rate, StopFn, never_stop, no_progress


class EstimatorError(ExplorerError):
    """An estimator was asked for something it cannot do (bad budget, wrong space, bad checkpoint)."""


@dataclass
class Split:
    """Training images and held-out images, normalised float32 NCHW."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    source: str


def cifar_split(n_train: int | None = None, n_val: int | None = None) -> Split:
    """Train on the CIFAR-10 training sample, hold out the test sample (1000 + 1000 images from
    ../shared, else the shipped 256 + 256)."""
    tr, te = shared_cifar_path("train"), shared_cifar_path("test")
    if tr is not None and te is not None:
        xtr, ytr = load_npz_batch(tr, 1000)
        xte, yte = load_npz_batch(te, 1000)
        source = "shared CIFAR-10 sample (1000 train / 1000 test images)"
    else:
        xtr, ytr = load_builtin_cifar("train")
        xte, yte = load_builtin_cifar("test")
        source = "built-in CIFAR-10 sample (256 train / 256 test images)"
    xtr, ytr = xtr[:n_train], ytr[:n_train]
    xte, yte = xte[:n_val], yte[:n_val]
    return Split(
        normalize(xtr),
        torch.as_tensor(np.asarray(ytr), dtype=torch.int64),
        normalize(xte),
        torch.as_tensor(np.asarray(yte), dtype=torch.int64),
        source,
    )


def check_budget(steps: int, batch_size: int) -> None:
    if steps < 0:
        raise EstimatorError(f"steps must be >= 0, got {steps}")
    if batch_size < 2:
        raise EstimatorError(f"batch size must be >= 2 (BatchNorm), got {batch_size}")


def batches(n: int, batch_size: int, steps: int, seed: int):
    """Index batches for `steps` steps: shuffled epochs, the same for the same seed."""
    g = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(n, generator=g), 0
    bs = min(batch_size, n)
    for _ in range(steps):
        if pos + bs > n:
            perm, pos = torch.randperm(n, generator=g), 0
        yield perm[pos : pos + bs]
        pos += bs


def train_steps(
    forward: Callable[[torch.Tensor, int], torch.Tensor],
    params,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 0.05,
    optimizer: str = "sgd",
    weight_decay: float = 5e-4,
    augment: bool = True,
    seed: int = 0,
    phase: str = "train",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> list[float]:
    """Minimise cross-entropy for `steps` steps (cosine learning rate); `forward(images, step)` returns
    logits (it may sample an architecture per step). Returns the loss of each step."""
    check_budget(steps, batch_size)
    progress = progress or no_progress
    should_stop = should_stop or never_stop
    params = [p for p in params if p.requires_grad]
    if optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        opt = torch.optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    losses = []
    rate = Rate(steps)
    for step, idx in enumerate(batches(len(x), batch_size, steps, seed), start=1):
        if should_stop():
            raise Cancelled(f"{phase} cancelled at step {step - 1}")
        for group in opt.param_groups:
            group["lr"] = lr * 0.5 * (1 + math.cos(math.pi * (step - 1) / max(1, steps)))
        xb = x[idx]
        if augment:
            xb = crop_flip(xb, seed * 100_003 + step)
        loss = F.cross_entropy(forward(xb, step), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        ips, eta = rate.update(step, len(idx))
        progress(Progress(phase=phase, step=step, total=steps, loss=losses[-1], images_per_s=ips, eta_s=eta))
    return losses


@torch.no_grad()
def accuracy(
    forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, y: torch.Tensor, batch_size: int = 250
) -> tuple[float, float]:
    """(top-1 accuracy, mean cross-entropy) of `forward` on held-out images."""
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        logits = forward(x[i : i + batch_size])
        correct += int((logits.argmax(1) == y[i : i + batch_size]).sum())
        loss += float(F.cross_entropy(logits, y[i : i + batch_size], reduction="sum"))
    return correct / len(x), loss / len(x)


def model_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    return accuracy(model, x, y)


def read_state(path) -> dict[str, torch.Tensor]:
    """A state_dict file (a dict of tensors; a {"state_dict": ...} wrapper is accepted), verified
    against its SHA-256 when we wrote it (see `explorer.tensorfile`); FormatError otherwise."""
    from ..tensorfile import load_tensors, state_dict_of

    return state_dict_of(load_tensors(path, "weights file"), path)


def write_state(state: dict[str, torch.Tensor], path) -> None:
    """Atomically, with a SHA-256; the file stays a plain state_dict for `torch.load`."""
    from ..tensorfile import save_tensors

    save_tensors(path, {k: v.detach().cpu().contiguous() for k, v in state.items()})


def load_weight_sharing(path, kind: str, what: str, build) -> tuple:
    """(net, config) of a weight-sharing estimator's checkpoint, built by `build(config dict)` and
    loaded with the saved weights; FormatError (one line) when unreadable, damaged or foreign."""
    from ..errors import FormatError
    from ..tensorfile import load_tensors

    ck = load_tensors(path, what)
    if ck.get("kind") != kind:
        raise FormatError(f"{path}: not a {what}")
    if not isinstance(ck.get("config"), dict) or not isinstance(ck.get("state_dict"), dict):
        raise FormatError(f"{path}: damaged {what} (no 'config' or 'state_dict')")
    try:
        net, cfg = build(ck["config"])
        net.load_state_dict(ck["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError, MemoryError, ExplorerError) as e:
        lines = str(e).strip().splitlines()  # load_state_dict's first line only names the class
        msg = (lines[1] if len(lines) > 1 else lines[0]).strip()[:160] if lines else type(e).__name__
        raise FormatError(f"{path}: checkpoint does not fit its own config ({msg})") from None
    return net, cfg


class TrainThenScore:
    """Background job of a weight-sharing estimator: train the shared weights, save them if asked,
    then score `archs` with them; `run` returns a dict. Subclasses say how to build, train, save
    and score."""

    def __init__(self, cfg, split: Split, archs: list | None = None, checkpoint=None):
        self.cfg, self.split, self.archs, self.checkpoint = cfg, split, archs or [], checkpoint
        self.net: nn.Module | None = None

    def new(self):
        raise NotImplementedError

    def train(self, progress: ProgressFn, should_stop: StopFn) -> list:
        raise NotImplementedError

    def save(self, path):
        raise NotImplementedError

    def score(self, progress: ProgressFn, should_stop: StopFn) -> list:
        raise NotImplementedError

    def run(self, progress: ProgressFn, should_stop: StopFn) -> dict:
        from dataclasses import asdict

        self.net = self.new()
        losses = self.train(progress, should_stop)
        result = {"config": asdict(self.cfg), "losses": losses, "data": self.split.source}
        if self.checkpoint:
            result["checkpoint"] = str(self.save(self.checkpoint))
        if self.archs:
            result["scores"] = self.score(progress, should_stop)
        return result
