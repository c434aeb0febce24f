"""Torch files (checkpoints, weights, predictors): the one place that calls `torch.load`.

`read_torch` loads with ``weights_only=True`` (never unpickles code) and turns every failure
(unpickling, a truncated or foreign archive, EOF, I/O errors...) into one FormatError line that
names the file. `save_tensors` / `load_tensors` add integrity on top:

- A file we write records a SHA-256 of its payload, computed over a canonical serialisation
  (the bytes of every tensor, little-endian, with its dtype and shape, in key order, plus the JSON
  of the non-tensor values and the keys). torch's archive checks nothing: 4 KB of random bytes in
  the middle of a checkpoint used to load as a tensor of inf.
- The digest sits in the `_metadata` attribute of the saved (ordered) dict, under `DIGEST_KEY`:
  `torch.load(weights_only=True)` restores it, and `nn.Module.load_state_dict` only looks up its
  modules' own prefixes there, so an exported state_dict stays a plain state_dict that users load
  with `model.load_state_dict(torch.load(path, weights_only=True))`. (`DIGEST_KEY` starts with a
  dot, which no module prefix can.) Loading and re-saving it with plain torch keeps the digest;
  building a new dict from its items drops it (the file is then unverified, never rejected).
- Every floating tensor must be finite; the error names the first one that is not.

Files written before digests existed (and files from elsewhere) have none: they load unverified,
and the finiteness check still applies. The digest guards against damage, not against tampering.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import FormatError
from .fileio import atomic_write

DIGEST_FORMAT = "nas-explorer-sha256/1"
DIGEST_KEY = ".nas-explorer"


# ------------------------------------------------------------------------------------- loading
def _reason(e: BaseException) -> str:
    """Our own words for why torch could not read a file (torch's texts run to many lines)."""
    text = str(e)
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, (EOFError, OSError)) or "failed finding central directory" in text:
        return "empty or truncated file"  # torch reports a cut archive as EINVAL, EOF or this
    if "GLOBAL" in text:  # weights_only refused a class or function
        return "it holds Python objects, not only tensors; NAS Explorer never unpickles those"
    if isinstance(e, MemoryError):
        return "too large to load"
    return "not a torch file, or its contents are damaged"


def read_torch(path: str | os.PathLike, what: str = "checkpoint", map_location: Any = "cpu") -> Any:
    """`torch.load(path, weights_only=True)`; FormatError (one line, naming the file) on any failure.

    `what` names the kind of file in messages ("supernet checkpoint", "weights file", ...).
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{p}: no such {what}")
    if p.is_dir():
        raise FormatError(f"{p}: is a folder, not a {what}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(p, map_location=map_location, weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a damaged or foreign file
        raise FormatError(f"{p}: not a NAS Explorer {what}, or a damaged one ({_reason(e)})") from None


# ---------------------------------------------------------------------------------------- digest
def _feed(h, obj: Any) -> None:
    """Canonical serialisation of a payload into the hash `h` (see the module docstring)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(b"T" + json.dumps([str(obj.dtype), list(obj.shape)]).encode())
        if t.numel():
            raw = t.view(torch.uint8)
            if sys.byteorder == "big" and t.element_size() > 1:
                raw = raw.reshape(-1, t.element_size()).flip(1).reshape(-1)
            h.update(raw.numpy())  # a contiguous buffer: no copy
    elif isinstance(obj, Mapping):
        meta = getattr(obj, "_metadata", None)
        h.update(b"{%d" % len(obj))
        if isinstance(meta, Mapping):
            own = {str(k): v for k, v in meta.items() if k != DIGEST_KEY}
            h.update(json.dumps(own, sort_keys=True, default=repr).encode())
        for k, v in obj.items():
            h.update(json.dumps([type(k).__name__, k if isinstance(k, (str, int)) else repr(k)]).encode())
            _feed(h, v)
        h.update(b"}")
    elif isinstance(obj, (list, tuple)):
        h.update(b"[%d" % len(obj) if isinstance(obj, list) else b"(%d" % len(obj))
        for v in obj:
            _feed(h, v)
        h.update(b"]")
    elif obj is None or isinstance(obj, (bool, int, float, str)):
        h.update(json.dumps([type(obj).__name__, obj]).encode())
    else:  # torch.dtype, torch.device, ...
        h.update(json.dumps([type(obj).__name__, repr(obj)]).encode())


def payload_digest(payload: Any) -> str:
    """Hex SHA-256 of a payload's canonical serialisation (the same on every machine)."""
    h = hashlib.sha256()
    _feed(h, payload)
    return h.hexdigest()


def recorded_digest(obj: Any) -> str | None:
    """The SHA-256 a file recorded when we wrote it, or None (written elsewhere or earlier)."""
    meta = getattr(obj, "_metadata", None)
    rec = meta.get(DIGEST_KEY) if isinstance(meta, Mapping) else None
    if isinstance(rec, Mapping) and rec.get("format") == DIGEST_FORMAT and isinstance(rec.get("sha256"), str):
        return rec["sha256"]
    return None


def _all_finite(t: torch.Tensor) -> bool:
    """In numpy, one thread: torch's parallel isfinite over hundreds of small tensors runs 30x
    slower on a busy machine (OpenMP spin-waits)."""
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:  # numpy has no bfloat16: all exponent bits set means inf/NaN
        bits = t.contiguous().view(torch.int16).numpy()
        return not bool(((bits & 0x7F80) == 0x7F80).any())
    try:
        return bool(np.isfinite(t.numpy()).all())
    except TypeError:  # float8 and other types numpy lacks
        return bool(torch.isfinite(t).all())


def first_non_finite(obj: Any, prefix: str = "") -> str | None:
    """Name of the first floating tensor holding NaN or inf (keys joined with '.'), else None."""
    if isinstance(obj, torch.Tensor):
        if (obj.is_floating_point() or obj.is_complex()) and not _all_finite(obj):
            return prefix or "<tensor>"
        return None
    if isinstance(obj, Mapping):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    else:
        return None
    for k, v in items:
        bad = first_non_finite(v, f"{prefix}.{k}" if prefix else str(k))
        if bad is not None:
            return bad
    return None


# ------------------------------------------------------------------------------- save / load
def save_tensors(path: str | os.PathLike, payload: Mapping) -> Path:
    """torch.save `payload` (a dict of tensors and plain values) atomically, with its SHA-256.

    The file is the payload itself (an OrderedDict with the same keys); a state_dict keeps its
    module metadata, so it loads into its model as before.
    """
    if not isinstance(payload, Mapping):
        raise TypeError("save_tensors needs a dict payload")
    out: Any = OrderedDict(payload)
    meta = getattr(payload, "_metadata", None)
    own = OrderedDict(
        (k, v) for k, v in (meta if isinstance(meta, Mapping) else {}).items() if k != DIGEST_KEY
    )
    out._metadata = own
    own[DIGEST_KEY] = {"format": DIGEST_FORMAT, "sha256": payload_digest(out)}
    return atomic_write(path, lambda f: torch.save(out, f))


def load_tensors(path: str | os.PathLike, what: str = "checkpoint", map_location: Any = "cpu") -> dict:
    """A dict saved by `save_tensors` (or plain `torch.save`), verified; FormatError otherwise.

    Rejects: unreadable files, a top level that is not a dict, contents that do not match the
    recorded SHA-256, and non-finite floating tensors. Files without a digest load unverified.
    """
    p = Path(path)
    obj = read_torch(p, what, map_location)
    if not isinstance(obj, Mapping):
        kind = type(obj).__name__
        raise FormatError(f"{p}: not a NAS Explorer {what} (it holds a {kind}, not a dictionary)")
    digest = recorded_digest(obj)
    if digest is not None and payload_digest(obj) != digest:
        raise FormatError(
            f"{p}: the {what} is damaged (its contents do not match the SHA-256 recorded when it was written)"
        )
    bad = first_non_finite(obj)
    if bad is not None:
        raise FormatError(
            f"{p}: tensor {bad!r} holds NaN or inf values (a damaged {what}, or saved from a diverged run)"
        )
    return obj


def state_dict_of(obj: Mapping, path: str | os.PathLike, what: str = "weights file") -> dict:
    """The names -> tensors of a loaded weights file; a {"state_dict": ...} wrapper is unwrapped."""
    if isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()):
        raise FormatError(f"{path}: not a {what}: expected a state_dict (names -> tensors)")
    return obj  # type: ignore[return-value]
