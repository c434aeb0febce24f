"""Devices: readable JSON files that predict the latency of an architecture on one setting.

A device is hardware x runtime x threads x batch size. Every device file shares one envelope::

    {"format": "nas-explorer/device", "version": 1, "name": ..., "kind": ...,
     "spaces": [...], "provenance": {...}, ...payload of its kind...}

Kinds register themselves in `DEVICE_KINDS` (kind -> class with `from_json`), so new kinds
(a locally profiled device, a graph-keyed layer-wise table) are one subclass and one entry:

- ``lut``: layer-wise tables ``{"tables": {resolution or "any": {key: {mean, std, count, p10, p90}}}}``
  plus ``"keyer"``, the name of a function in `LUT_KEYERS` that lists the keys of a config.
- ``network``: a network-wise model (see `predictor.py`), or a few-shot head over other devices.

Files are found in the repo's ``luts/`` and in the user directory (``$NAS_EXPLORER_LUTS`` or
``~/.local/share/nas-explorer/luts``); a user device of the same name shadows a shipped one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from pathlib import Path

import numpy as np

import explorer
from explorer.errors import ExplorerError, FormatError
from explorer.fileio import atomic_write_text
from explorer.latency import features as F
from explorer.latency.predictor import Predictor

FORMAT = "nas-explorer/device"
VERSION = 1


class DeviceError(ExplorerError):
    """Unknown device, or a device that cannot predict what was asked (e.g. missing LUT keys)."""


# ------------------------------------------------------------------------------------------ paths
def shipped_dir() -> Path:
    return Path(explorer.__file__).resolve().parents[1] / "luts"


def user_dir() -> Path:
    env = os.environ.get("NAS_EXPLORER_LUTS")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "nas-explorer" / "luts"


def search_dirs() -> list[Path]:
    """User directory first, so a user's device shadows a shipped one of the same name."""
    return [user_dir(), shipped_dir()]


# ------------------------------------------------------------------------------------------ kinds
class Device:
    """Base of all device kinds: the envelope fields and the prediction interface."""

    kind = "?"

    def __init__(self, name: str, spaces: list[str], provenance: dict, path: Path | None = None):
        self.name = name
        self.spaces = [_space_name(s) for s in spaces]
        self.provenance = provenance
        self.path = path

    def covers(self, space: str) -> bool:
        """Empty `spaces` means any space (a graph-keyed table keys whatever graph it is given)."""
        if not self.spaces:
            return True
        try:
            return any(F.space_matches(space, s) for s in self.spaces)
        except ExplorerError:
            return _space_name(space) in self.spaces

    def check_space(self, space: str) -> str:
        if not self.covers(space):
            raise DeviceError(f"device {self.name!r} covers {self.spaces}, not space {space!r}")
        return _space_name(space)

    def predict(self, space: str, configs: Iterable) -> np.ndarray:
        """Latency (ms) of each config of `space`; raises DeviceError when it cannot."""
        raise NotImplementedError

    def stale_sources(self) -> list[str]:
        """Devices this one was fitted on that changed since (only few-shot devices have any)."""
        return []

    def predict_features(self, X: np.ndarray, space: str) -> np.ndarray:
        """Latency from precomputed features (network-wise devices only)."""
        raise DeviceError(f"device {self.name!r} ({self.kind}) cannot predict from features")

    def payload(self) -> dict:
        raise NotImplementedError

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "kind": self.kind,
            "spaces": self.spaces,
            "provenance": self.provenance,
            **self.payload(),
        }

    def summary(self) -> dict:
        p = self.provenance or {}
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


def _space_name(space: str) -> str:
    """Canonical name for the spaces the predictors know; other (user) spaces kept as given."""
    try:
        return F.canonical_space(space)
    except ExplorerError:
        return str(space)


# keyer name -> function(config) -> (table id, [keys]); table id selects e.g. the resolution table
LUT_KEYERS: dict[str, Callable[[Mapping], tuple[str, list[str]]]] = {}


def register_keyer(name: str, fn: Callable[[Mapping], tuple[str, list[str]]]) -> None:
    LUT_KEYERS[name] = fn


def _entry_ms(entry: Mapping) -> float:
    """A table entry's figure: the median where measured locally, else the mean (OFA tables)."""
    return float(entry["median"] if "median" in entry else entry["mean"])


class LutDevice(Device):
    """Layer-wise table: network latency = sum of its layers' entries (optionally calibrated)."""

    kind = "lut"

    def __init__(self, name, spaces, provenance, tables: dict, keyer: str, calibration=None, path=None):
        super().__init__(name, spaces, provenance, path)
        self.tables = tables
        self.keyer = keyer
        self.calibration = calibration  # {"a": float, "b": float}: latency = a * sum + b

    @classmethod
    def from_json(cls, d: Mapping, path: Path | None = None) -> LutDevice:
        tables = d["tables"]
        if not isinstance(tables, Mapping) or not tables:
            raise FormatError("'tables' must be a non-empty object")
        for tid, table in tables.items():
            if not isinstance(table, Mapping):
                raise FormatError(f"table {str(tid)[:40]!r} is not an object")
            for key, entry in table.items():
                at = f"table {str(tid)[:40]!r} entry {str(key)[:80]!r}"
                if not isinstance(entry, Mapping) or not any(
                    _ms_ok(entry.get(f)) for f in ("median", "mean")
                ):
                    raise FormatError(f"{at} lacks a valid 'median' or 'mean' (ms)")
                for f in ("median", "mean"):
                    if f in entry and not _ms_ok(entry[f]):
                        raise FormatError(f"{at} has an invalid {f!r}")
        keyer = d.get("keyer", "graph")
        if not isinstance(keyer, str):
            raise FormatError("'keyer' must be a string")
        cal = d.get("calibration")
        if cal is not None and (not isinstance(cal, Mapping) or not all(_finite(cal.get(f)) for f in "ab")):
            raise FormatError("'calibration' needs finite numbers 'a' and 'b'")
        return cls(d["name"], d.get("spaces", []), d["provenance"], dict(tables), keyer, cal, path)

    def payload(self) -> dict:
        out = {"keyer": self.keyer, "tables": self.tables}
        if self.calibration:
            out["calibration"] = self.calibration
        return out

    def keys_for(self, config: Mapping) -> tuple[str, list[str]]:
        fn = LUT_KEYERS.get(self.keyer)
        if fn is None:
            # importing the module that defines the keyer registers it
            import importlib

            for mod in ("explorer.latency.ofa_yaml", "explorer.latency.graph_lut"):
                try:
                    importlib.import_module(mod)
                except ImportError:
                    pass
            fn = LUT_KEYERS.get(self.keyer)
        if fn is None:
            raise DeviceError(f"device {self.name!r} needs keyer {self.keyer!r}, which is not available")
        return fn(config)

    def missing_keys(self, config: Mapping) -> list[str]:
        tid, keys = self.keys_for(config)
        table = self.tables.get(tid)
        if table is None:
            return [f"table {tid}"]
        return [k for k in dict.fromkeys(keys) if k not in table]

    def layer_sum(self, config: Mapping) -> float:
        tid, keys = self.keys_for(config)
        table = self.tables.get(tid)
        if table is None:
            have = sorted(self.tables)
            raise DeviceError(f"device {self.name!r} has no table for {tid} (has {have})")
        missing = [k for k in dict.fromkeys(keys) if k not in table]
        if missing:
            more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
            raise DeviceError(
                f"device {self.name!r} lacks {len(missing)} LUT key(s): {', '.join(missing[:3])}{more}"
            )
        return float(sum(_entry_ms(table[k]) for k in keys))

    def predict(self, space: str, configs: Iterable) -> np.ndarray:
        self.check_space(space)
        raw = np.array([self.layer_sum(c) for c in configs], dtype=np.float64)
        if self.calibration:
            raw = float(self.calibration["a"]) * raw + float(self.calibration["b"])
        return raw


class NetworkDevice(Device):
    """Network-wise model on config features, or a few-shot head over other devices' predictions."""

    kind = "network"

    def __init__(self, name, spaces, provenance, model: dict, path=None):
        super().__init__(name, spaces, provenance, path)
        self.model = model
        self._predictor: Predictor | None = None

    @classmethod
    def from_json(cls, d: Mapping, path: Path | None = None) -> NetworkDevice:
        model = d["model"]
        if not isinstance(model, Mapping):
            raise FormatError("'model' must be an object")
        dev = cls(d["name"], d.get("spaces", []), d["provenance"], dict(model), path)
        if model.get("kind") == "fewshot":
            dev.model["head"] = _check_fewshot(model)
        else:
            dev._predictor = Predictor(model)  # validates the weights now, not at first use
        return dev

    def payload(self) -> dict:
        return {"model": self.model}

    def predict(self, space: str, configs: Iterable) -> np.ndarray:
        space = self.check_space(space)
        X = F.featurize(space, list(configs))
        return self.predict_features(X, space)

    def stale_sources(self) -> list[str]:
        """Source devices of a few-shot head whose model changed (or vanished) since it was fitted:
        the head's weights were fitted on their old predictions. Empty for other devices and for
        few-shot files written before source digests were recorded."""
        digests = self.model.get("source_digests") if self.model.get("kind") == "fewshot" else None
        stale = []
        for name, digest in (digests or {}).items():
            try:
                src = load_device(name)
            except ExplorerError:
                stale.append(name)
                continue
            if not isinstance(src, NetworkDevice) or model_digest(src.model) != digest:
                stale.append(name)
        return stale

    def predict_features(self, X: np.ndarray, space: str) -> np.ndarray:
        if self.model.get("kind") == "fewshot":
            from explorer.latency.fewshot import head_predict

            stat_idx = self.model["head"]["stat_idx"]
            if stat_idx and max(stat_idx) >= X.shape[1]:
                where = self.path or f"device {self.name!r}"
                raise FormatError(
                    f"{where}: model.head.stat_idx uses feature {max(stat_idx)}; {space} has {X.shape[1]}"
                )
            sources = [load_device(n) for n in self.model["sources"]]  # cached by file mtime
            S = np.column_stack([s.predict_features(X, space) for s in sources]) if sources else None
            return head_predict(self.model["head"], X, S)
        assert self._predictor is not None
        return self._predictor.predict(F.columns_for(X, space, self._predictor.n_features))


def _finite(v) -> bool:
    """A JSON number that is a finite float (an int beyond float range is not)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _ms_ok(v) -> bool:
    """A table figure: a finite, non-negative number of milliseconds."""
    return _finite(v) and v >= 0


def _int_list(v) -> bool:
    return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in v)


def _check_fewshot(model: Mapping) -> dict:
    """Types and lengths of a few-shot head (see `fewshot.fit_head`), so predict cannot crash;
    returns the head with its weights as floats."""
    for k in ("sources", "head"):
        if k not in model:
            raise FormatError(f"few-shot model lacks {k!r}")
    sources, head = model["sources"], model["head"]
    if not isinstance(sources, list) or not all(isinstance(n, str) for n in sources):
        raise FormatError("model.sources must be a list of device names")
    if not isinstance(head, Mapping):
        raise FormatError("model.head must be an object")
    if not _finite(head.get("b")):
        raise FormatError("model.head.b must be a finite number")
    for idx, w in (("stat_idx", "w_stats"), ("source_idx", "w_sources")):
        if not _int_list(head.get(idx)):
            raise FormatError(f"model.head.{idx} must be a list of feature indices")
        if head[idx] and (
            not isinstance(head.get(w), list)
            or len(head[w]) != len(head[idx])
            or not all(_finite(x) for x in head[w])
        ):
            raise FormatError(f"model.head.{w} must hold one finite number per entry of {idx}")
    if any(i >= len(sources) for i in head["source_idx"]):
        raise FormatError("model.head.source_idx refers to a source the device does not list")
    digests = model.get("source_digests")
    if digests is not None and (
        not isinstance(digests, Mapping) or not all(isinstance(v, str) for v in digests.values())
    ):
        raise FormatError("model.source_digests must map device names to digests")
    return dict(
        head,
        b=float(head["b"]),
        w_stats=[float(x) for x in head["w_stats"]] if head["stat_idx"] else [],
        w_sources=[float(x) for x in head["w_sources"]] if head["source_idx"] else [],
    )


def model_digest(model: Mapping) -> str:
    """A short fingerprint of a network model, to notice when a device's predictor was replaced."""
    import hashlib

    text = json.dumps(model, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


DEVICE_KINDS: dict[str, type] = {"lut": LutDevice, "network": NetworkDevice}


# ------------------------------------------------------------------------------------- load/save
def device_from_json(d, path: Path | None = None) -> Device:
    """Validate the envelope and build the device; every problem is one FormatError line."""
    where = f"{path}" if path else "device"
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
    cls = DEVICE_KINDS.get(d["kind"])
    if d["kind"] == "lut" and d.get("keyer", "graph") == "graph":
        # tables keyed by the core's per-layer LUT keys (local profiles): graph_lut owns those
        from .graph_lut import LutDevice as GraphLutDevice

        try:
            dev = GraphLutDevice.from_dict(d, str(path) if path else "")
        except ExplorerError as e:
            msg = str(e)
            raise FormatError(msg if msg.startswith(where) else f"{where}: {msg}") from None
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
            raise FormatError(f"{where}: malformed device file ({str(e)[:120]})") from None
        dev.path = path
        return dev
    if cls is None:
        raise FormatError(f"{where}: unknown device kind {d['kind']!r} (known: {sorted(DEVICE_KINDS)})")
    try:
        return cls.from_json(d, path)
    except KeyError as e:
        raise FormatError(f"{where}: device file is partial: lacks {e.args[0]!r}") from None
    except ExplorerError as e:
        raise FormatError(f"{where}: {e}") from None
    except (TypeError, ValueError, AttributeError, OverflowError) as e:
        raise FormatError(f"{where}: malformed device file ({str(e)[:120]})") from None


def read_device_json(path: str | Path):
    """The parsed JSON of a device file; a clear FormatError (naming the backup, if any) otherwise."""
    path = Path(path)
    bak = path.with_name(path.name + ".bak")
    hint = f"; the previous version is {bak.name}" if bak.exists() else ""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise FormatError(f"cannot read device file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: corrupt device file (not UTF-8 text){hint}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FormatError(
            f"{path}: corrupt device file (corrupt or truncated JSON at line {e.lineno}: {e.msg}){hint}"
        ) from None
    except RecursionError:
        raise FormatError(f"{path}: corrupt device file (JSON nested too deeply){hint}") from None


def read_device_file(path: str | Path) -> Device:
    return device_from_json(read_device_json(path), Path(path))


def _files() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in reversed(search_dirs()):  # later (user) entries overwrite shipped ones
        if d.is_dir():
            for p in sorted(d.glob("*.json")):
                found[p.stem] = p
    return found


def list_devices(with_errors: bool = False) -> list[dict]:
    """Summaries of all devices found; unreadable files appear with an 'error' when asked."""
    out = []
    for name, path in sorted(_files().items()):
        try:
            out.append(_cached(path).summary())
        except ExplorerError as e:
            if with_errors:
                out.append({"name": name, "path": str(path), "error": str(e)})
    return out


_CACHE: dict[tuple[str, int, int], Device] = {}


def load_device(name_or_path: str | Path) -> Device:
    """A device by name (file stem in the search dirs) or by path to a .json file."""
    p = Path(name_or_path)
    if p.suffix == ".json" and p.exists():
        path = p
    else:
        path = _files().get(str(name_or_path))
        if path is None and str(name_or_path).startswith("local"):
            from .local import resolve_local  # this machine is always a device

            dev = resolve_local(str(name_or_path))
            if dev is not None:
                return dev
        if path is None:
            known = sorted(_files())
            hint = f"; known: {', '.join(known[:8])}{' ...' if len(known) > 8 else ''}" if known else ""
            raise DeviceError(f"unknown device {str(name_or_path)!r}{hint}")
    return _cached(path)


def _cached(path: Path) -> Device:
    """Parse a device file once per modification (predictor files are a few hundred KB)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        _CACHE[key] = read_device_file(path)
    return _CACHE[key]


def save_device(device: Device | Mapping, path: str | Path | None = None) -> Path:
    """Write atomically (temp file + os.replace); an existing file is kept as `<name>.json.bak`."""
    d = device.to_json() if isinstance(device, Device) else dict(device)
    device_from_json(d)  # never write what we could not read back
    if path is None:
        path = user_dir() / f"{d['name']}.json"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # layer tables stay line-per-entry readable; model weights stay compact
    text = json.dumps(d, indent=1 if d.get("kind") == "lut" else None, separators=(",", ":"), allow_nan=False)
    write_text_atomic(path, text)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Atomic write (`explorer.fileio`); an existing file is first copied to `<name>.bak`, so
    nothing is overwritten without a backup."""
    atomic_write_text(path, text, backup=True)


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
