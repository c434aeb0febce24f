"""ProxylessNAS's alternating search as a job: `ProxylessSearch(config, out_dir).run(progress,
should_stop) -> result`.

Per step: a weight step on a training batch with one sampled path per layer (SGD, cosine lr);
after the warm-up, every `arch_every` steps an architecture step on a held-out batch with two
sampled paths per layer and the latency loss (Adam with beta1 = 0, as the official code). Every
progress report carries the per-layer path probabilities (for a live plot). A checkpoint (plain
tensors and numbers, written atomically with a SHA-256, read with weights_only=True) is saved every
`save_every` steps and when stopped; `resume=True` continues from it with the same RNG streams,
so a resumed run equals an uninterrupted one. The end result: the argmax path as an ArchGraph
(`arch.json`) with its predicted and, on a local device, measured latency (`result.json`).

Official defaults for ImageNet (arch_lr 6e-3, an arch step every 5 weight steps, 40 warm-up
epochs) move alpha too little in a run of a few hundred steps on a CIFAR sample; this module's
defaults are for such short runs.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from explorer.errors import ConfigError, ExplorerError, FormatError
from explorer.fileio import atomic_write_text
from explorer.progress import Cancelled, Progress, ProgressFn, Rate, StopFn, never_stop, no_progress
from explorer.tensorfile import load_tensors, save_tensors

from . import gates
from .derive import derive_graph, derived_state_dict
from .latency_loss import LatencyLoss, LatencyModel, needed_layers
from .supernet import ProxylessSupernet, Skeleton
from .tables import LatencySource, resolve_source

FORMAT = "nas-explorer-proxyless/1"
CHECKPOINT = "checkpoint.pt"


@dataclass
class SearchConfig:
    device: str = "local"
    target_ms: float = 1.0
    loss: str = "mul"
    beta: float = 0.6
    lam: float = 0.1
    epochs: int = 10
    warmup_epochs: float = 2.0
    batch_size: int = 64
    data: str = "builtin"
    train_images: int | None = None
    arch_fraction: float = 0.2
    w_lr: float = 0.05
    w_momentum: float = 0.9
    w_wd: float = 4e-5
    arch_lr: float = 0.02
    arch_every: int = 1
    seed: int = 0
    skeleton: dict = field(default_factory=dict)
    save_every: int = 50
    report_every: int = 1
    measure: bool = True

    def __post_init__(self):
        errs = []
        if self.epochs < 1:
            errs.append("epochs must be >= 1")
        if self.warmup_epochs < 0:
            errs.append("warmup epochs must be >= 0")
        if self.batch_size < 2:
            errs.append("batch size must be >= 2")
        if not 0 < self.arch_fraction < 1:
            errs.append("arch fraction must lie in (0, 1)")
        if self.arch_every < 1 or self.save_every < 1 or self.report_every < 1:
            errs.append("arch_every, save_every and report_every must be >= 1")
        if errs:
            raise ConfigError("proxyless search: " + "; ".join(errs))
        LatencyLoss(self.target_ms, self.loss, self.beta, self.lam)  # validates the loss fields
        Skeleton.from_dict(self.skeleton)  # validates the skeleton

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SearchConfig:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


def load_images(cfg: SearchConfig, resolution: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Training images of `cfg.data` as normalised tensors at `resolution`, and the class count."""
    from explorer.supernet.datasets import load_dataset

    ds = load_dataset(cfg.data, "train").subset(cfg.train_images)
    x, y = ds.batch(np.arange(len(ds)), resolution)
    return x, y, ds.n_classes


def eval_images(data: str, resolution: int, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    from explorer.supernet.datasets import load_dataset

    ds = load_dataset(data, "val").subset(limit)
    return ds.batch(np.arange(len(ds)), resolution)


def _perm(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def load_checkpoint(path: str | Path) -> dict:
    """A proxyless search checkpoint, verified (`explorer.tensorfile`) and with the fields resume
    reads; FormatError (one line) otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ExplorerError(f"{path}: no proxyless checkpoint to resume")
    ck = load_tensors(path, "proxyless search checkpoint")
    if ck.get("format") != FORMAT:
        raise FormatError(f"{path}: not a proxyless search checkpoint")
    for key, typ in (
        ("config", dict),
        ("model", dict),
        ("opt_w", dict),
        ("opt_a", dict),
        ("gen", torch.Tensor),
        ("step", int),
        ("arch_steps", int),
        ("history", list),
        ("lut", dict),
        ("device", dict),
    ):
        if not isinstance(ck.get(key), typ):
            raise FormatError(
                f"{path}: damaged proxyless search checkpoint: {key!r} is missing or not a {typ.__name__}"
            )
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in ck["lut"].values()):
        raise FormatError(f"{path}: damaged proxyless search checkpoint: 'lut' holds a non-number")
    return ck


@torch.no_grad()
def recalibrate_bn(net: ProxylessSupernet, x: torch.Tensor, batch: int = 64) -> None:
    """Re-estimate BN statistics of the current (fixed) path: the supernet's running stats mix
    paths, as OFA's BN recalibration notes."""
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    net.train()
    for i in range(0, len(x), batch):
        net(x[i : i + batch])
    for m in bns:
        m.momentum = 0.1
    net.eval()


@torch.no_grad()
def accuracy(model, x: torch.Tensor, y: torch.Tensor, batch: int = 128) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((model(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
    return correct / max(1, len(x))


class ProxylessSearch:
    def __init__(
        self,
        config: SearchConfig | None,
        out_dir: str | Path,
        *,
        resume: bool = False,
        source: LatencySource | None = None,
        lut_dir: str | Path | None = None,
        epochs: int | None = None,
    ):
        self.out = Path(out_dir)
        self.resume = resume
        self.ck = load_checkpoint(self.out / CHECKPOINT) if resume else None
        if self.ck is not None:
            config = SearchConfig.from_dict(self.ck["config"])
        if config is None:
            raise ConfigError("proxyless search needs a config (or resume=True with a checkpoint)")
        if epochs is not None:
            config.epochs = int(epochs)
        self.cfg = config
        self._source = source
        self.lut_dir = lut_dir

    # -- pieces -------------------------------------------------------------------------------
    def source(self) -> LatencySource | None:
        if self._source is None:
            self._source = resolve_source(self.cfg.device, self.lut_dir)
        return self._source

    def run(self, progress: ProgressFn = no_progress, should_stop: StopFn = never_stop) -> dict:
        cfg = self.cfg
        self.out.mkdir(parents=True, exist_ok=True)
        sk = Skeleton.from_dict(cfg.skeleton)
        x, y, n_classes = load_images(cfg, sk.resolution)
        if n_classes > sk.n_classes:
            sk = Skeleton.from_dict({**sk.to_dict(), "n_classes": n_classes})
            cfg.skeleton = sk.to_dict()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            net = ProxylessSupernet(sk)
        labels = net.labels()

        # latency table snapshot
        if self.ck is not None:
            table = {k: float(v) for k, v in self.ck["lut"].items()}
            device = dict(self.ck["device"])
        else:
            progress(Progress(phase="latency", message=f"latency table on {cfg.device}"))
            src = self.source()

            def lat_progress(key, done, total):
                progress(Progress(phase="latency", step=done, total=total, message=f"measured {key}"))

            table = src.lookup(needed_layers(net), should_stop=should_stop, progress=lat_progress)
            device = src.describe()
        lat = LatencyModel(net, table)
        loss_fn = LatencyLoss(cfg.target_ms, cfg.loss, cfg.beta, cfg.lam)

        # data split: weights / architecture
        n = len(x)
        order = _perm(n, cfg.seed)
        n_arch = max(1, round(n * cfg.arch_fraction))
        if n - n_arch < 2:
            raise ConfigError(
                f"proxyless search: {n} images are too few to split for weights and architecture"
            )
        arch_idx, w_idx = order[:n_arch], order[n_arch:]
        bs = min(cfg.batch_size, len(w_idx))
        abs_ = min(cfg.batch_size, len(arch_idx))
        spe = max(1, len(w_idx) // bs)
        a_spe = max(1, len(arch_idx) // abs_)
        total = cfg.epochs * spe
        warmup = round(cfg.warmup_epochs * spe)

        opt_w = torch.optim.SGD(
            net.weight_parameters(),
            lr=cfg.w_lr,
            momentum=cfg.w_momentum,
            nesterov=True,
            weight_decay=cfg.w_wd,
        )
        opt_a = torch.optim.Adam(net.arch_parameters(), lr=cfg.arch_lr, betas=(0.0, 0.999), eps=1e-8)
        gen = torch.Generator().manual_seed(cfg.seed + 1)
        step, arch_steps, history = 0, 0, []
        if self.ck is not None:
            net.load_state_dict(self.ck["model"])
            opt_w.load_state_dict(self.ck["opt_w"])
            opt_a.load_state_dict(self.ck["opt_a"])
            gen.set_state(self.ck["gen"])
            step, arch_steps, history = (
                int(self.ck["step"]),
                int(self.ck["arch_steps"]),
                list(self.ck["history"]),
            )

        def save():
            save_tensors(
                self.out / CHECKPOINT,
                {
                    "format": FORMAT,
                    "config": cfg.to_dict(),
                    "model": net.state_dict(),
                    "opt_w": opt_w.state_dict(),
                    "opt_a": opt_a.state_dict(),
                    "gen": gen.get_state(),
                    "step": step,
                    "arch_steps": arch_steps,
                    "history": history,
                    "lut": table,
                    "device": device,
                    "labels": labels,
                },
            )

        rate = Rate(total, step)
        last_arch = {}
        while step < total:
            if should_stop():
                save()
                raise Cancelled(f"stopped at step {step}/{total}; resume with the same output folder")
            epoch, i = divmod(step, spe)
            perm = _perm(len(w_idx), cfg.seed * 100003 + epoch)
            idx = w_idx[perm[i * bs : (i + 1) * bs]]
            for g in opt_w.param_groups:
                g["lr"] = 0.5 * cfg.w_lr * (1 + math.cos(math.pi * step / total))
            # weight step: one path per layer
            net.train()
            gates.sample_single(net, gen)
            ce = F.cross_entropy(net(x[idx]), y[idx])
            opt_w.zero_grad(set_to_none=True)
            ce.backward()
            opt_w.step()
            # architecture step: two paths per layer, latency loss
            if step >= warmup and (step + 1) % cfg.arch_every == 0:
                a_epoch, a_i = divmod(arch_steps, a_spe)
                a_perm = _perm(len(arch_idx), cfg.seed * 100003 + 7919 + a_epoch)
                a_idx = arch_idx[a_perm[a_i * abs_ : (a_i + 1) * abs_]]
                last_arch = self.arch_step(net, lat, loss_fn, opt_a, x[a_idx], y[a_idx], gen)
                arch_steps += 1
            step += 1
            ips, eta = rate.update(step, len(idx))
            if step % cfg.report_every == 0 or step == total:
                with torch.no_grad():
                    e_ms = float(lat.expected_of(net))
                rec = {
                    "step": step,
                    "ce": round(ce.item(), 5),
                    "expected_ms": round(e_ms, 5),
                    "argmax_ms": round(lat.of_choices(net.argmax()), 5),
                    **last_arch,
                }
                history.append(rec)
                progress(
                    Progress(
                        phase="warmup" if step <= warmup else "search",
                        step=step,
                        total=total,
                        loss=ce.item(),
                        images_per_s=ips,
                        eta_s=eta,
                        message=f"E[lat] {e_ms:.3f} ms (target {cfg.target_ms:g})",
                        extra={
                            "probs": net.probs(),
                            "labels": labels,
                            "target_ms": cfg.target_ms,
                            "epoch": epoch,
                            **rec,
                        },
                    )
                )
            if step % cfg.save_every == 0 or step == total:
                save()
        return self.finish(net, lat, loss_fn, device, history, x[w_idx], x[arch_idx], y[arch_idx], progress)

    @staticmethod
    def arch_step(net, lat, loss_fn, opt_a, xa, ya, gen) -> dict:
        net.train()
        gates.sample_two(net, gen)
        old = gates.pair_alphas(net)
        ce = F.cross_entropy(net(xa), ya)
        e = lat.expected([gates.pair_probs(m) for m in net.layers])
        loss = loss_fn(ce, e)
        alphas = net.arch_parameters()
        grads = torch.autograd.grad(loss, [m.gates for m in net.layers] + alphas, allow_unused=True)
        n = len(alphas)
        for m, gg, ga in zip(net.layers, grads[:n], grads[n:]):
            full = torch.zeros_like(m.alpha) if ga is None else ga.detach().clone()
            if gg is not None:
                full += gates.gate_grad_to_alpha(m.alpha, (m.active, m.inactive), gg)
            m.alpha.grad = full
        opt_a.step()
        opt_a.zero_grad(set_to_none=True)
        gates.rescale(net, old)
        net.set_mode("single")
        for m in net.layers:
            m.gates = None
        return {"arch_loss": round(loss.item(), 5), "arch_ce": round(ce.item(), 5)}

    def finish(self, net, lat, loss_fn, device, history, x_train, x_val, y_val, progress) -> dict:
        cfg = self.cfg
        choices = net.argmax()
        predicted = lat.of_choices(choices)
        provenance = {
            "method": "proxylessnas",
            "device": device,
            "loss": loss_fn.describe(),
            "steps": history[-1]["step"] if history else 0,
            "seed": cfg.seed,
            "data": cfg.data,
            "checkpoint": str(self.out / CHECKPOINT),
        }
        graph = derive_graph(net, choices, name=f"proxyless-{cfg.target_ms:g}ms", provenance=provenance)
        # accuracy of the path with supernet weights (BN recalibrated) on the held-out arch split
        net.set_choices(choices)
        recalibrate_bn(net, x_train[:512])
        val_acc = accuracy(net, x_val, y_val)
        measured, note = None, None
        if cfg.measure:
            progress(Progress(phase="measure", message="measuring the derived architecture"))
            try:
                src = self.source()
                measured = src.measure_graph(graph) if src is not None else None
            except ExplorerError as e:
                note = f"not measured: {e}"
        from explorer.arch import save_arch

        arch_path = self.out / "arch.json"
        graph.meta["provenance"]["predicted_ms"] = round(predicted, 5)
        if measured:
            graph.meta["provenance"]["measured"] = measured
        save_arch(graph, arch_path)
        save_tensors(self.out / "weights.pt", derived_state_dict(net, graph))
        with torch.no_grad():
            expected = float(lat.expected_of(net))
        lo, hi = lat.bounds()
        result = {
            "arch": str(arch_path),
            "weights": str(self.out / "weights.pt"),
            "checkpoint": str(self.out / CHECKPOINT),
            "choices": graph.meta["config"]["choices"],
            "layers_kept": len(graph.nodes_of("mbconv")) - 1,
            "predicted_ms": round(predicted, 5),
            "expected_ms": round(expected, 5),
            "target_ms": cfg.target_ms,
            "lut_range_ms": [round(lo, 5), round(hi, 5)],
            "device": device,
            "loss": loss_fn.describe(),
            "measured": measured,
            "val_acc_supernet_path": round(val_acc, 4),
            "probs": net.probs(),
            "labels": net.labels(),
            "steps": history[-1]["step"] if history else 0,
        }
        if note:
            result["note"] = note
        atomic_write_text(self.out / "result.json", json.dumps(result, indent=1) + "\n")
        progress(
            Progress(
                phase="done",
                step=result["steps"],
                total=result["steps"],
                message=f"derived {result['layers_kept']} layers, predicted {predicted:.3f} ms",
                extra={"result": result},
            )
        )
        return result
