"""Supernet checkpoints: atomic writes, plain tensors only (load with weights_only=True), clear errors.

A checkpoint holds the supernet spec and weights, the teacher's weights, optimizer and scheduler
state, RNG states (python, numpy, torch; as tensors and plain numbers), the phase and step, the
training arguments and the metrics so far. It is written to a temporary file in the same folder,
fsynced, then renamed over the old one, so a crash at any moment leaves the last good checkpoint.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from explorer.errors import ExplorerError

FORMAT = "nas-explorer-supernet/1"


class CheckpointError(ExplorerError):
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
    py = s["python"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["state"].tolist()), py["gauss"]))
    n = s["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"])
    )
    torch.set_rng_state(s["torch"])


def save_atomic(obj: dict, path: str | Path) -> Path:
    """torch.save to a temp file beside `path`, fsync, then os.replace (atomic on POSIX and Windows)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path


def load(path: str | Path, space: str | None = None, map_location: str | torch.device = "cpu") -> dict:
    """Read a supernet checkpoint; CheckpointError when missing, corrupt, foreign or of another space."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    try:
        ck = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged file
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({msg[:160]})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a NAS Explorer supernet checkpoint")
    ck_space = ck.get("spec", {}).get("space")
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
    except (KeyError, RuntimeError, TypeError, ValueError) as e:
        msg = str(e).splitlines()[0]
        raise CheckpointError(f"checkpoint does not match its supernet spec ({msg[:160]})") from None
    return net
