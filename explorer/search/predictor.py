"""Accuracy predictors for OFA-MBv3 subnets: OFA's MLP (128 -> 400 x3 -> 1) on a one-hot encoding.

Encoding (the official one): one-hot kernel per block (20 x {3,5,7}), one-hot expand per block
(20 x {3,4,6}), one-hot resolution at (r - r_base) // r_step (8 slots); blocks beyond a stage's
depth are all-zero. The official ImageNet predictor for w1.2 uses r_base 112, r_step 16; a
predictor trained here on another resolution range stores its own base/step.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from explorer.errors import ExplorerError, FormatError
from explorer.spaces.ofa_geometry import EXPANDS, KERNELS, N_BLOCKS, active_blocks
from explorer.tensorfile import load_tensors, save_tensors

OFFICIAL_W12 = (
    Path(__file__).resolve().parents[2] / "resources" / "predictors" / "ofa_mbv3_w12_imagenet_acc.pth"
)
N_RES_SLOTS = 8
N_FEATURES = 2 * 3 * N_BLOCKS + N_RES_SLOTS


def encode(config: dict, r_base: int = 112, r_step: int = 16) -> torch.Tensor:
    x = torch.zeros(N_FEATURES)
    for i in active_blocks(config["d"]):
        x[i * 3 + KERNELS.index(config["ks"][i])] = 1
        x[3 * N_BLOCKS + i * 3 + EXPANDS.index(config["e"][i])] = 1
    slot = (int(config["r"]) - r_base) // r_step
    if not 0 <= slot < N_RES_SLOTS:
        raise ExplorerError(
            f"resolution {config['r']} is outside this predictor's range "
            f"({r_base}..{r_base + N_RES_SLOTS * r_step - 1})"
        )
    x[2 * 3 * N_BLOCKS + slot] = 1
    return x


def mlp(hidden: int = 400) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(N_FEATURES, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 1),
    )


def official_space() -> str:
    """The space the shipped official predictor is for, as its provenance JSON records it."""
    prov = OFFICIAL_W12.with_suffix(".json")
    try:
        space = json.loads(prov.read_text(encoding="utf-8")).get("space")
    except (OSError, ValueError, AttributeError):
        space = None
    if not isinstance(space, str):
        raise ExplorerError(f"the official predictor's provenance is missing or names no space ({prov})")
    return space


class AccuracyPredictor:
    """config(s) -> predicted top-1 accuracy (fraction)."""

    def __init__(self, model: nn.Sequential | None = None, r_base: int = 112, r_step: int = 16, meta=None):
        self.model = (model or mlp()).eval()
        self.r_base, self.r_step = r_base, r_step
        self.meta = dict(meta or {})

    @torch.no_grad()
    def predict(self, configs: Sequence[dict]) -> list[float]:
        if not configs:
            return []
        x = torch.stack([encode(c, self.r_base, self.r_step) for c in configs])
        return self.model(x).view(-1).tolist()

    def __call__(self, configs: Sequence[dict]) -> list[float]:
        return self.predict(configs)

    # -- files -----------------------------------------------------------------------------
    @classmethod
    def official_w12(cls) -> AccuracyPredictor:
        """The official OFA ImageNet predictor of `official_space()` (shipped, provenance beside it)."""
        if not OFFICIAL_W12.is_file():
            raise ExplorerError(f"the official predictor is missing ({OFFICIAL_W12})")
        return cls.load(OFFICIAL_W12)

    @classmethod
    def load(cls, path: str | Path) -> AccuracyPredictor:
        """A predictor file (ours, with its SHA-256, or a bare OFA state_dict such as the official
        one, unverified); FormatError (one line) when unreadable, damaged or of another shape."""
        path = Path(path)
        sd = load_tensors(path, "accuracy predictor")
        meta = {}
        if "state_dict" in sd:
            try:
                meta = json.loads(sd.get("meta", "{}"))
            except (TypeError, ValueError):
                meta = None
            if not isinstance(meta, dict):
                raise FormatError(f"{path}: damaged accuracy predictor ('meta' is not a JSON object)")
            sd = sd["state_dict"]
        w = sd.get("0.weight") if isinstance(sd, dict) else None
        if not isinstance(w, torch.Tensor) or w.dim() != 2 or not 1 <= w.shape[0] <= 8192:
            raise FormatError(f"{path}: not an OFA accuracy predictor state_dict")
        model = mlp(int(w.shape[0]))
        try:
            model.load_state_dict(sd)
            r_base, r_step = int(meta.get("r_base", 112)), int(meta.get("r_step", 16))
        except (RuntimeError, TypeError, ValueError) as e:
            lines = str(e).strip().splitlines()
            msg = (lines[1] if len(lines) > 1 else lines[0]).strip()[:120] if lines else type(e).__name__
            raise FormatError(f"{path}: predictor weights do not fit ({msg})") from None
        if r_step < 1:
            raise FormatError(f"{path}: damaged accuracy predictor (r_step must be positive)")
        return cls(model, r_base, r_step, meta)

    def save(self, path: str | Path) -> Path:
        meta = dict(self.meta, r_base=self.r_base, r_step=self.r_step)
        return save_tensors(path, {"state_dict": self.model.state_dict(), "meta": json.dumps(meta)})


def train_predictor(
    configs: Sequence[dict],
    accuracies: Sequence[float],
    *,
    epochs: int = 200,
    lr: float = 1e-3,
    batch_size: int = 256,
    seed: int = 0,
    r_base: int | None = None,
    r_step: int = 16,
    hidden: int = 400,
) -> AccuracyPredictor:
    """Fit the MLP to (config, accuracy) pairs, e.g. BN-recalibrated accuracies of sampled subnets.

    As OFA's predictor the output is the accuracy; the last bias starts at the mean accuracy so
    training only learns the deviations.
    """
    if len(configs) != len(accuracies) or not configs:
        raise ExplorerError("training a predictor needs as many accuracies as configs (at least one)")
    if r_base is None:
        r_base = min(int(c["r"]) for c in configs) // r_step * r_step
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = mlp(hidden)
    x = torch.stack([encode(c, r_base, r_step) for c in configs])
    y = torch.tensor(list(accuracies), dtype=torch.float32)
    with torch.no_grad():
        model[-1].bias.fill_(float(y.mean()))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            b = perm[i : i + batch_size]
            loss = nn.functional.mse_loss(model(x[b]).view(-1), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return AccuracyPredictor(model.eval(), r_base, r_step, {"n_train": len(configs)})
