"""The one device model: what every kind of latency device answers, its file envelope, its errors.

A device is hardware x runtime x threads x batch size. Every device file shares one envelope::

    {"format": "nas-explorer/device", "version": 1, "name": ..., "kind": ...,
     "spaces": [...], "provenance": {...}, ...payload of its kind...}

Kinds (one module each): ``lut.LutDevice`` (layer-wise tables, ``"kind": "lut"``),
``network.NetworkDevice`` (a network-wise predictor) and ``fewshot.FewShotDevice`` (a head over
other devices' predictions; both ``"kind": "network"``), and this machine's tables from
``local``. `registry` finds, loads and lists them; `predict.predict_graph` is the entry point
for any graph.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from explorer.errors import ExplorerError, FormatError
from explorer.spaces.latency_support import matches, resolve_or_keep

FORMAT = "nas-explorer/device"
VERSION = 1
MISSING_POLICIES = ("report", "measure", "error", "auto")


class DeviceError(ExplorerError):
    """Unknown device, or a device that cannot predict what was asked (e.g. missing LUT keys)."""


class MissingKeysError(DeviceError):
    """A prediction needs table entries the device does not have and cannot measure here."""

    def __init__(self, device: str, keys: Sequence[str], why: str = ""):
        self.keys = list(keys)
        shown = ", ".join(self.keys[:3]) + (f" and {len(self.keys) - 3} more" if len(self.keys) > 3 else "")
        reason = f" ({why})" if why else ""
        super().__init__(f"device {device!r} lacks {len(self.keys)} LUT key(s){reason}: {shown}")


@dataclass
class Prediction:
    """One graph's latency on one device, or why there is none (`ms` None and `reason`)."""

    device: str
    ms: float | None
    method: str = ""  # 'lut' | 'lut+calibration' | 'network' | 'few-shot'
    raw_ms: float | None = None  # layer-wise: the plain sum of the entries present
    raw_by_kind: dict[str, float] = field(default_factory=dict)  # that sum per op kind
    missing_keys: list[str] = field(default_factory=list)
    layers: list[tuple[str, str, float | None]] = field(default_factory=list)  # (node, key, ms)
    calibration: str | None = None  # the calibration used: a space name or '*'
    confidence: str = ""  # accuracy figures from the device's provenance
    warnings: list[str] = field(default_factory=list)  # e.g. stale sources of a few-shot head
    reason: str = ""  # why `ms` is None ("not covered: ...", missing layers, stopped)
    measured: list[str] = field(default_factory=list)  # keys measured for this prediction
    stopped: bool = False  # should_stop ended the measuring of missing keys

    def as_dict(self) -> dict:
        def r(v, digits):
            return None if v is None or not math.isfinite(v) else round(v, digits)

        out = {
            "device": self.device,
            "latency_ms": r(self.ms, 4),
            "method": self.method,
            "raw_ms": r(self.raw_ms, 4),
            "missing_keys": self.missing_keys,
            "calibration": self.calibration,
            "confidence": self.confidence,
            "layers": [{"node": n, "key": k, "ms": r(v, 5)} for n, k, v in self.layers],
        }
        for key in ("warnings", "reason", "measured", "stopped"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        return out


class Device(ABC):
    """Base of every device kind: the envelope fields and the prediction interface."""

    kind = "?"

    def __init__(self, name: str, spaces: Iterable[str], provenance: Mapping, path: Path | None = None):
        self.name = name
        self.spaces = [resolve_or_keep(s) for s in spaces]
        self.provenance = dict(provenance or {})
        self.path = Path(path) if path else None

    @classmethod
    def claims(cls, d: Mapping) -> bool:
        """Whether a file's JSON (envelope checked) is of this kind."""
        return d.get("kind") == cls.kind

    @classmethod
    @abstractmethod
    def from_json(cls, d: Mapping, path: Path | None = None, resolve=None) -> Device:
        """Build from a file's JSON; `resolve(name)` loads other devices (few-shot sources)."""

    @abstractmethod
    def to_json(self) -> dict: ...

    def envelope(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "kind": self.kind,
            "spaces": self.spaces,
            "provenance": self.provenance,
        }

    # what it covers
    def covers(self, space: str) -> bool:
        """Empty `spaces` means any space."""
        return not self.spaces or any(matches(space, s) for s in self.spaces)

    def check_space(self, space: str) -> str:
        if not self.covers(space):
            raise DeviceError(f"device {self.name!r} covers {self.spaces}, not space {space!r}")
        return resolve_or_keep(space)

    # what it predicts
    @abstractmethod
    def predict(self, space: str, configs: Iterable) -> np.ndarray:
        """Latency (ms) of each native config of `space`; raises DeviceError when it cannot."""

    @abstractmethod
    def predict_graph(
        self, graph, *, on_missing: str = "report", should_stop: Callable[[], bool] | None = None
    ) -> Prediction:
        """Latency of an ArchGraph; a Prediction with a reason where there is none."""

    def predict_features(self, X: np.ndarray, space: str) -> np.ndarray:
        """Latency from precomputed features (network-wise devices only)."""
        raise DeviceError(f"device {self.name!r} ({self.kind}) cannot predict from features")

    # how far to trust it
    @property
    def accuracy(self) -> dict:
        """The accuracy its provenance records (protocols, calibrations, noise ceilings)."""
        acc = self.provenance.get("accuracy")
        return dict(acc) if isinstance(acc, Mapping) else {}

    def confidence(self) -> str:
        return confidence_text(self.provenance)

    def stale_sources(self) -> list[str]:
        """Devices this one was fitted on that changed since (only few-shot devices have any)."""
        return []

    def summary(self) -> dict:
        p = self.provenance
        return {
            "name": self.name,
            "kind": self.kind,
            "spaces": self.spaces,
            "hardware": p.get("hardware"),
            "runtime": p.get("runtime"),
            "batch": p.get("batch"),
            "source": p.get("source"),
            "path": str(self.path) if self.path else None,
        }


class ConfigDevice(Device):
    """A device that predicts native configs of its spaces (network-wise, few-shot): a graph is
    predicted as the config it is (`SearchSpace.decode`, verified), never a stale meta.config."""

    method = "network"

    def predict_graph(self, graph, *, on_missing: str = "report", should_stop=None) -> Prediction:
        from explorer.spaces import get_space

        space = graph.meta.get("space")
        if not space:
            covered = ", ".join(self.spaces or ["?"])
            return self._uncovered(f"custom graph: {self.name} predicts configs of {covered}")
        if not self.covers(space):
            return self._uncovered(f"covers {', '.join(self.spaces)}, not {space}")
        try:
            config = get_space(space).decode(graph)
        except ExplorerError as e:
            return self._uncovered(str(e))
        ms = float(self.predict(space, [config])[0])
        if not math.isfinite(ms):
            return Prediction(self.name, None, self.method, reason="no prediction for this architecture")
        return Prediction(self.name, ms, self.method, confidence=self.confidence())

    def _uncovered(self, why: str) -> Prediction:
        return Prediction(self.name, None, self.method, reason=f"not covered: {why}")


# ------------------------------------------------------------------------------------ the envelope
def check_envelope(d, where: str) -> None:
    """Format, version and the envelope's fields; every problem is one FormatError line."""
    if not isinstance(d, Mapping):
        raise FormatError(f"{where}: not a device file (top level is not an object)")
    if d.get("format") != FORMAT:
        raise FormatError(f"{where}: not a device file (format is {d.get('format')!r}, expected {FORMAT!r})")
    if d.get("version") != VERSION:
        raise FormatError(
            f"{where}: device format version {d.get('version')!r} is not supported (this app reads {VERSION})"
        )
    missing = [k for k in ("name", "kind", "provenance") if k not in d]
    if missing:
        raise FormatError(f"{where}: device file lacks {missing}")
    for key, typ, what in (
        ("name", str, "a string"),
        ("kind", str, "a string"),
        ("provenance", Mapping, "an object"),
        ("spaces", list, "a list"),
    ):
        if key in d and not isinstance(d[key], typ):
            raise FormatError(f"{where}: field {key!r} must be {what}")
    if not all(isinstance(s, str) for s in d.get("spaces", [])):
        raise FormatError(f"{where}: field 'spaces' must list space names")


def build(cls, d, path: Path | None = None, resolve=None) -> Device:
    """`cls.from_json` of a checked envelope, every problem one FormatError line naming the file."""
    where = f"{path}" if path else "device"
    check_envelope(d, where)
    try:
        return cls.from_json(d, path, resolve)
    except KeyError as e:
        raise FormatError(f"{where}: device file is partial: lacks {e.args[0]!r}") from None
    except ExplorerError as e:
        msg = str(e)
        raise FormatError(msg if msg.startswith(where) else f"{where}: {msg}") from None
    except (TypeError, ValueError, AttributeError, OverflowError, IndexError) as e:
        raise FormatError(f"{where}: malformed device file ({str(e)[:120]})") from None


def finite(v) -> bool:
    """A JSON number that is a finite float (an int beyond float range is not)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def ms_ok(v) -> bool:
    """A table figure: a finite, non-negative number of milliseconds."""
    return finite(v) and v >= 0


def provenance(**fields) -> dict:
    """A provenance dict with the fields every device should state (None when unknown)."""
    base = {
        "source": None,
        "method": None,
        "date": date.today().isoformat(),
        "hardware": None,
        "runtime": None,
        "threads": None,
        "batch": None,
        "covers": None,
        "accuracy": {},
    }
    base.update(fields)
    return base


def confidence_text(provenance: Mapping) -> str:
    """A short accuracy note from a provenance: the first Spearman rho and share within +-10 % it
    records (either contract's key names, see `metrics`)."""
    found: dict[str, float] = {}

    def walk(d, depth=0):
        if depth > 4:
            return
        if isinstance(d, Mapping):
            for k, v in d.items():
                lk = str(k).lower()
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    if ("spearman" in lk or lk in ("rho", "spearman_rho")) and "rho" not in found:
                        found["rho"] = float(v)
                    elif (
                        "within_10" in lk or "within10" in lk or lk == "pct_within_10"
                    ) and "w10" not in found:
                        found["w10"] = float(v)
                else:
                    walk(v, depth + 1)

    walk(provenance)
    parts = []
    if "rho" in found:
        parts.append(f"\u03c1 {found['rho']:.2f}")
    if "w10" in found:
        w = found["w10"] * (100 if found["w10"] <= 1 else 1)
        parts.append(f"{w:.0f}% within \u00b110%")
    return ", ".join(parts)
