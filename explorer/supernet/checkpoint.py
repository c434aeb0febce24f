"""Supernet checkpoints: atomic writes, plain tensors only (load with weights_only=True), clear errors.

A checkpoint holds the supernet spec and weights, the teacher's weights, optimizer and scheduler
state, RNG states (python, numpy, torch; as tensors and plain numbers), the phase and step, the
training arguments and the metrics so far. It is written to a temporary file in the same folder,
fsynced, then renamed over the old one, so a crash at any moment leaves the last good checkpoint;
a SHA-256 of the contents is recorded and checked on load (`explorer.tensorfile`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explorer.errors import ExplorerError, FormatError
from explorer.tensorfile import load_tensors, save_tensors

FORMAT = "nas-explorer-supernet/1"


class CheckpointError(FormatError):
    """A checkpoint could not be read or does not fit the request."""


def rng_state() -> dict[str, Any]:
    version, state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": {"version": version, "state": torch.tensor(state, dtype=torch.int64), "gauss": gauss},
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "torch": torch.get_rng_state(),
    }


def set_rng_state(s: dict[str, Any]) -> None:
    """Restore what `rng_state` saved; CheckpointError (not a raw KeyError) when it is damaged."""
    try:
        py = s["python"]
        py_state = (int(py["version"]), tuple(int(v) for v in py["state"].tolist()), py["gauss"])
        n = s["numpy"]
        np_state = (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
        np.random.RandomState().set_state(np_state)  # validate before changing any generator
        torch_state = s["torch"]
        if not isinstance(torch_state, torch.Tensor) or torch_state.dtype != torch.uint8:
            raise TypeError("torch RNG state is not a byte tensor")
        random.Random().setstate(py_state)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint's RNG state is damaged ({type(e).__name__}: {e})"[:200]) from None
    random.setstate(py_state)
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)


def save_atomic(obj: dict, path: str | Path) -> Path:
    """torch.save with a SHA-256 of the contents, atomically (see `explorer.tensorfile`)."""
    return save_tensors(path, obj)


def _check_structure(ck, path: Path) -> None:
    """The fields every reader uses, with their types: a wrong file fails here, in one line."""
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a NAS Explorer supernet checkpoint")
    spec = ck.get("spec")
    if not isinstance(spec, dict):
        raise CheckpointError(f"{path}: damaged supernet checkpoint: 'spec' is not a dictionary")
    if not isinstance(spec.get("space"), str):
        raise CheckpointError(f"{path}: damaged supernet checkpoint: 'spec' names no space")
    n = spec.get("n_classes")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CheckpointError(f"{path}: damaged supernet checkpoint: 'spec' lacks a positive 'n_classes'")
    if not isinstance(spec.get("dropout", 0.0), (int, float)):
        raise CheckpointError(f"{path}: damaged supernet checkpoint: 'spec.dropout' is not a number")
    res = spec.get("resolutions")
    if res is not None and (
        not isinstance(res, (list, tuple)) or not all(isinstance(r, int) and r > 0 for r in res)
    ):
        raise CheckpointError(
            f"{path}: damaged supernet checkpoint: 'spec.resolutions' is not a list of sizes"
        )
    if not isinstance(ck.get("model"), dict):
        raise CheckpointError(f"{path}: damaged supernet checkpoint: no 'model' weights")
    for key, typ in (("phase_index", int), ("phase_step", int), ("metrics", list), ("phases", list)):
        if key in ck and not isinstance(ck[key], typ):
            raise CheckpointError(f"{path}: damaged supernet checkpoint: {key!r} is not a {typ.__name__}")
    for key in ("rng", "train_args", "teacher", "optimizer", "scheduler"):
        if ck.get(key) is not None and not isinstance(ck[key], dict):
            raise CheckpointError(f"{path}: damaged supernet checkpoint: {key!r} is not a dictionary")


def load(path: str | Path, space: str | None = None, map_location: str | torch.device = "cpu") -> dict:
    """Read a supernet checkpoint; CheckpointError when missing, corrupt, foreign or of another space.

    Verified against its SHA-256 when it has one (checkpoints written before digests load
    unverified); NaN or inf weights are rejected either way.
    """
    path = Path(path)
    try:
        ck = load_tensors(path, "supernet checkpoint", map_location)
    except FormatError as e:
        raise CheckpointError(str(e)) from None
    _check_structure(ck, path)
    ck_space = ck["spec"]["space"]
    if space is not None and ck_space != space:
        raise CheckpointError(f"{path}: checkpoint is for space {ck_space!r}, not {space!r}")
    return ck


def make(supernet, **fields) -> dict:
    """A checkpoint dict for `supernet` plus the given fields (optimizer, phase, ...)."""
    ck = {"format": FORMAT, "spec": supernet.spec(), "model": supernet.state_dict(), "rng": rng_state()}
    ck.update(fields)
    return ck


def build_supernet(ck: dict):
    """The supernet a checkpoint describes, with its weights loaded."""
    from explorer.supernet.ofa_mbv3 import OFAMobileNetV3

    try:
        net = OFAMobileNetV3.from_spec(ck["spec"])
        net.load_state_dict(ck["model"])
    except (KeyError, RuntimeError, TypeError, ValueError, AttributeError, ExplorerError) as e:
        msg = str(e).splitlines()[0]
        raise CheckpointError(f"checkpoint does not match its supernet spec ({msg[:160]})") from None
    return net
