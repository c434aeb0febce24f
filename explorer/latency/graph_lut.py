"""Layer-wise latency look-up tables over the core's ArchGraph (ProxylessNAS / Once-for-All idea).

Every node with a LUT key (`explorer.arch.lut_keys`: OFA's key format for OFA layers, own keys for
other ops; plus `EXTRA_KEYS` below) is one table entry; a network's latency is the sum of its
nodes' entries, and a per-device calibration `ms ~ a * LUT_sum + b` fitted on a few whole-network
measurements absorbs what a sum cannot see (framework overhead between layers, caches). Nodes
without a key (input, output, identity, dropout, skip) cost nothing in the sum; a key that is
*missing* is never taken as zero: a local device measures it on demand, a remote device reports it.

Which figure an entry contributes is the device's protocol `statistic` (new local devices: the
per-run minimum, best of `rounds` measurements spread over time; see `explorer.latency.measure`
for why); entries say so in `"stat"`, and files without it mean the median, as before.

A table lives in a device file (JSON, `"format": "nas-explorer/device"`, `"kind": "lut"`). Writes
are atomic (temporary file + rename) and the previous version is kept as `<file>.bak`; a profile
writes every few keys, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.arch.registry import shape_str
from explorer.errors import ExplorerError, FormatError

from .measure import (
    STATISTICS,
    MeasureConfig,
    Measurement,
    environment,
    measure_graph,
    measure_module,
    today,
)

FORMAT = "nas-explorer/device"
VERSION = 1
ANY_SPACE = "*"
ANY_TABLE = "any"  # the table id of graph-keyed tables (any resolution)
GRAPH_KEYER = "graph"  # keys come from explorer.arch LUT keys of the ArchGraph
MISSING_POLICIES = ("auto", "measure", "error", "report")


class MissingKeysError(ExplorerError):
    """A prediction needs table entries the device does not have and cannot measure here."""

    def __init__(self, device: str, keys: Sequence[str], why: str = ""):
        self.keys = list(keys)
        shown = ", ".join(self.keys[:3]) + (f" and {len(self.keys) - 3} more" if len(self.keys) > 3 else "")
        reason = f" ({why})" if why else ""
        super().__init__(f"device {device!r} lacks {len(self.keys)} LUT key(s){reason}: {shown}")


# -- layers of a graph ---------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerSpec:
    """Everything needed to build and time one keyed layer in isolation."""

    key: str
    op: str
    params: dict = field(hash=False, compare=False)
    in_shapes: tuple
    out_shape: tuple

    def build(self):
        from explorer.arch import OPS

        spec = OPS[self.op]
        return spec.build(
            spec.resolve(self.params), [tuple(s) for s in self.in_shapes], tuple(self.out_shape)
        )


# Ops the core leaves without a key that still run a kernel: NB201's `none` computes x * 0 (about
# 15 us at 32x32x16 on one core, up to 90 of them per network), so the LUT times it too.
EXTRA_KEYS = {"none": lambda c: f"Zero-input:{shape_str(c.in_shapes[0])}"}


def node_key(c) -> str | None:
    """The LUT key of a NodeCost: the core's key, else an EXTRA_KEYS key, else None (free)."""
    if c.lut_key:
        return c.lut_key
    extra = EXTRA_KEYS.get(c.op)
    return extra(c) if extra else None


def layer_specs(graph) -> list[tuple[str, LayerSpec]]:
    """(node, LayerSpec) for every keyed node of `graph`, in execution order."""
    from explorer.arch import count_complexity

    out = []
    for c in count_complexity(graph).layers:
        key = node_key(c)
        if key:
            spec = LayerSpec(key, c.op, dict(graph.params(c.node)), tuple(c.in_shapes), c.out_shape)
            out.append((c.node, spec))
    return out


def unique_specs(graphs: Iterable) -> dict[str, LayerSpec]:
    """The unique keys a set of graphs needs (first occurrence wins; equal keys mean equal layers)."""
    specs: dict[str, LayerSpec] = {}
    for g in graphs:
        for _, s in layer_specs(g):
            specs.setdefault(s.key, s)
    return specs


def coverage_configs(space, resolutions: Sequence[int] | None = None) -> list[dict]:
    """Configs whose graphs together hold every LUT key of `space` (at `resolutions` for OFA).

    OFA-MBv3: all blocks of a stage after the first share one key per (kernel, expand), so the 9
    uniform configs (ks, e) with depth 4 everywhere cover every key at a resolution. NB201: one
    cell holding each keyed op covers all keys (the cell's shapes do not depend on the ops)."""
    name = space.name
    if name.startswith("ofa-mbv3"):
        from explorer.spaces.ofa_geometry import EXPANDS, KERNELS, N_BLOCKS, N_STAGES

        rs = list(resolutions or space.geo.resolutions)
        return [
            {"ks": [k] * N_BLOCKS, "e": [e] * N_BLOCKS, "d": [4] * N_STAGES, "r": r}
            for r in rs
            for k in KERNELS
            for e in EXPANDS
        ]
    if name == "nb201":
        return [
            {
                "arch_str": "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|"
                "+|none~0|skip_connect~1|nor_conv_3x3~2|"
            }
        ]
    raise ExplorerError(f"no coverage rule for space {name!r}; profile sampled nets instead (--samples)")


def sample_configs(space, n: int, seed: int = 0, resolutions: Sequence[int] | None = None) -> list[dict]:
    """`n` sampled configs (seeds seed..seed+n-1); OFA resolutions restricted to `resolutions`."""
    out = []
    for i in range(n):
        cfg = space.sample(seed + i)
        if resolutions and "r" in cfg:
            cfg["r"] = list(resolutions)[(seed + i) % len(resolutions)]
        out.append(cfg)
    return out


# -- the device file -----------------------------------------------------------------------------
def _finite_nonneg(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0


def entry_ms(entry: dict) -> float:
    """The figure a LUT entry contributes: the statistic it names in "stat" (the device protocol's),
    else the median where measured here, else the mean (OFA)."""
    stat = entry.get("stat")
    if stat in STATISTICS and stat in entry:
        return float(entry[stat])
    return float(entry["median"] if "median" in entry else entry["mean"])


def device_entry(m: Measurement, config: MeasureConfig) -> dict:
    """A measurement as a table entry of a device measured with `config` (statistic, rounds)."""
    e = m.entry()
    if config.statistic != "median":
        e["stat"] = config.statistic
    if config.rounds > 1:
        e["rounds"] = 1
    return e


def merge_entries(old: dict | None, new: dict) -> dict:
    """Best of two rounds of one item: the round with the lower figure is kept whole (host noise
    only adds time), `rounds` counts both."""
    if old is None:
        return new
    keep = dict(new if entry_ms(new) < entry_ms(old) else old)
    keep["rounds"] = int(old.get("rounds", 1)) + int(new.get("rounds", 1))
    return keep


class LutDevice:
    """A device whose latency is a layer table (+ calibration). `local` devices were measured on
    this kind of machine and may measure missing keys; any other LUT device is remote.

    File layout (the envelope of `explorer.latency.devices`): `"tables": {"any": {key: entry}}`
    with `"keyer": "graph"` (keys come from the ArchGraph, any space), or OFA-style tables per
    resolution (`{"160": {...}, "224": {...}}`, picked by the graph's input resolution).
    Calibrations per space live in `"calibration_by_space"`; a single `"calibration"` {a, b}
    (as other LUT files write it) counts for every space."""

    kind = "lut"

    def __init__(
        self,
        name: str,
        table: dict | None = None,
        provenance: dict | None = None,
        calibration: dict | None = None,
        *,
        local: bool = False,
        path: str | Path | None = None,
        description: str = "",
        networks: dict | None = None,
        tables: dict | None = None,
        spaces: Iterable[str] = (),
        keyer: str = GRAPH_KEYER,
        extra: dict | None = None,
    ):
        self.name = name
        self.tables: dict[str, dict] = {k: dict(v) for k, v in (tables or {}).items()}
        if table is not None or not self.tables:
            self.tables[ANY_TABLE] = dict(table or {})
        self.provenance: dict = dict(provenance or {})
        self.calibration: dict[str, dict] = dict(calibration or {})
        self.networks: dict[str, list] = {k: list(v) for k, v in (networks or {}).items()}
        self.local = bool(local)
        self.path = Path(path) if path else None
        self.description = description
        self.spaces = list(spaces)
        self.keyer = keyer
        self.extra = dict(extra or {})  # unknown top-level fields survive a load/save round trip

    @property
    def table(self) -> dict[str, dict]:
        """The graph-keyed table (the one local devices measure into)."""
        return self.tables.setdefault(ANY_TABLE, {})

    def table_for(self, graph) -> dict[str, dict] | None:
        if ANY_TABLE in self.tables:
            return self.tables[ANY_TABLE]
        return self.tables.get(str(graph.resolution))

    # reading / writing
    @classmethod
    def from_dict(cls, d, source: str = "") -> LutDevice:
        where = source or "device"
        if not isinstance(d, dict):
            raise FormatError(f"{where}: a device file must hold a JSON object")
        if d.get("format") != FORMAT:
            raise FormatError(f"{where}: not a device file (format {d.get('format')!r}, expected {FORMAT!r})")
        if d.get("version") != VERSION:
            raise FormatError(
                f"{where}: device file version {d.get('version')!r} is not supported ({VERSION})"
            )
        if d.get("kind") != cls.kind:
            raise FormatError(f"{where}: device kind {d.get('kind')!r} is not a LUT ('lut')")
        for name, typ in (("name", str), ("tables", dict), ("provenance", dict)):
            if not isinstance(d.get(name), typ):
                raise FormatError(
                    f"{where}: field {name!r} is missing or not a {typ.__name__} (partial file?)"
                )
        for tid, table in d["tables"].items():
            if not isinstance(table, dict):
                raise FormatError(f"{where}: table {tid!r} is not an object")
            for key, e in table.items():
                if not isinstance(e, dict) or not any(_finite_nonneg(e.get(f)) for f in ("median", "mean")):
                    raise FormatError(f"{where}: table entry {key!r} has no valid 'median' or 'mean' (ms)")
                for f in ("median", "mean", "p10", "p90", "min"):
                    if f in e and not _finite_nonneg(e[f]):
                        raise FormatError(f"{where}: table entry {key!r} has an invalid {f!r}: {e[f]!r}")
                if "stat" in e and (e["stat"] not in STATISTICS or not _finite_nonneg(e.get(e["stat"]))):
                    raise FormatError(f"{where}: table entry {key!r} lacks a valid {e['stat']!r} (its stat)")
        cal = dict(d.get("calibration_by_space") or {})
        if isinstance(d.get("calibration"), dict) and d["calibration"]:
            cal.setdefault(ANY_SPACE, d["calibration"])
        for space, c in cal.items():
            if not isinstance(c, dict) or not all(
                isinstance(c.get(f), (int, float)) and math.isfinite(c[f]) for f in ("a", "b")
            ):
                raise FormatError(f"{where}: calibration for {space!r} needs finite 'a' and 'b'")
        known = {"format", "version", "kind", "name", "tables", "provenance", "calibration_by_space"}
        known |= {"local", "description", "networks", "spaces", "keyer"}
        return cls(
            d["name"],
            None,
            d["provenance"],
            cal,
            local=bool(d.get("local", False)),
            description=str(d.get("description", "")),
            networks=d.get("networks") or {},
            tables=d["tables"],
            spaces=d.get("spaces") or [],
            keyer=str(d.get("keyer", GRAPH_KEYER)),
            extra={k: v for k, v in d.items() if k not in known},
        )

    @classmethod
    def load(cls, path: str | Path) -> LutDevice:
        from .devices import read_device_json

        path = Path(path)
        d = read_device_json(path)
        dev = cls.from_dict(d, str(path))
        dev.path = path
        return dev

    def to_dict(self) -> dict:
        d = {
            "format": FORMAT,
            "version": VERSION,
            "name": self.name,
            "kind": self.kind,
            "spaces": sorted(set(self.spaces)),
            "keyer": self.keyer,
            "local": self.local,
            "description": self.description,
            "provenance": self.provenance,
            "calibration_by_space": self.calibration,
            "networks": self.networks,
        }
        d.update(self.extra)
        d["tables"] = {tid: dict(sorted(t.items())) for tid, t in self.tables.items()}
        return d

    def save(self, path: str | Path | None = None) -> Path:
        """Atomic write; an existing file is first copied to `<file>.bak`."""
        path = Path(path or self.path or "")
        if not path.name:
            raise ExplorerError(f"device {self.name!r} has no file to save to")
        atomic_write_json(path, self.to_dict())
        self.path = path
        return path

    # measuring
    def measure_config(self) -> MeasureConfig:
        p = self.provenance
        cfg = MeasureConfig(
            runtime=p.get("runtime", "torch"), threads=p.get("threads", 1), batch=p.get("batch", 1)
        )
        proto = dict(p.get("protocol") or {})
        # files written before statistic/rounds existed were measured (and calibrated) on medians
        proto.setdefault("statistic", "median")
        proto.setdefault("rounds", 1)
        return cfg.with_protocol(proto)

    def env_mismatches(self, env: dict | None = None) -> list[str]:
        """What differs between the table's recorded environment and this machine's."""
        p = self.provenance
        env = env or environment(self.measure_config())
        out = []
        for k in ("hardware", "runtime", "runtime_version", "threads", "batch"):
            if k in p and p[k] != env.get(k):
                out.append(f"{k} {p[k]!r} in the table, {env.get(k)!r} here")
        return out

    def can_measure(self) -> bool:
        return self.local and not self.env_mismatches()

    def missing(self, keys: Iterable[str], table: dict | None = None) -> list[str]:
        """Keys (unique, in order) absent from `table` (default: the graph-keyed table)."""
        table = self.table if table is None else table
        return [k for k in dict.fromkeys(keys) if k not in table]

    # the interface of explorer.latency.devices.Device, so the registry can hand this object out
    def covers(self, space: str) -> bool:
        """A local device covers every space (it measures what it lacks); others what they list."""
        from .features import space_matches

        return (self.local and self.keyer == GRAPH_KEYER) or any(space_matches(space, s) for s in self.spaces)

    def space_for(self, space: str) -> str:
        """The exact registered space for a (possibly width-less) space name."""
        from .features import canonical_space

        s = canonical_space(space)
        if s == "ofa-mbv3":
            ofa = [x for x in self.spaces if x.startswith("ofa-mbv3-")]
            s = ofa[0] if len(ofa) == 1 else "ofa-mbv3-w1.0"
        return s

    def predict(self, space: str, configs: Iterable, on_missing: str = "auto") -> np.ndarray:
        """Latency (ms) of native configs of `space` (the registry's batch interface)."""
        from explorer.spaces import get_space

        sp = get_space(self.space_for(space))
        return np.array([predict(self, sp.encode(c), on_missing=on_missing).ms for c in configs])

    def stale_sources(self) -> list[str]:
        """As `devices.Device.stale_sources`: a layer table is fitted on no other device."""
        return []

    def summary(self) -> dict:
        p = self.provenance
        return {
            "name": self.name,
            "kind": self.kind,
            "spaces": sorted(set(self.spaces)),
            "hardware": p.get("hardware"),
            "runtime": p.get("runtime"),
            "threads": p.get("threads"),
            "batch": p.get("batch"),
            "source": p.get("source") or p.get("method"),
            "local": self.local,
            "keys": sum(len(t) for t in self.tables.values()),
            "calibrated": sorted(self.calibration),
            "path": str(self.path) if self.path else None,
        }

    def to_json(self) -> dict:
        return self.to_dict()

    def __repr__(self) -> str:
        return f"LutDevice({self.name!r}, keys={len(self.table)}, local={self.local})"


def atomic_write_json(path: Path, data) -> None:
    """Indented JSON, written atomically with a `.bak` of the previous file (see
    `devices.write_text_atomic`)."""
    from .devices import write_text_atomic

    write_text_atomic(Path(path), json.dumps(data, indent=1, allow_nan=False) + "\n")


# -- profiling -----------------------------------------------------------------------------------
LayerMeasurer = Callable[[LayerSpec, MeasureConfig], Measurement]
NetMeasurer = Callable[[object, MeasureConfig], Measurement]


def measure_layer(spec: LayerSpec, config: MeasureConfig) -> Measurement:
    return measure_module(spec.build(), spec.in_shapes, config)


@dataclass
class ProfileResult:
    measured: list[str]
    skipped: list[str]  # already in the table (same device: runtime, threads, batch)
    stopped: bool  # should_stop asked to stop before all keys were measured
    flagged: list[str]  # measured under foreign load even after the repeats
    path: str | None

    def as_dict(self) -> dict:
        return {
            "measured": len(self.measured),
            "skipped": len(self.skipped),
            "stopped": self.stopped,
            "foreign_load": len(self.flagged),
            "path": self.path,
        }


def _require_measurable(device: LutDevice) -> None:
    if not device.local:
        raise ExplorerError(f"device {device.name!r} is not local: its table cannot be measured here")
    bad = device.env_mismatches()
    if bad:
        raise ExplorerError(
            f"device {device.name!r} was measured elsewhere ({'; '.join(bad)}); "
            "profile it under a new name or restart it (the old file is kept as .bak)"
        )


def _touch_provenance(device: LutDevice, spaces: Iterable[str] = ()) -> None:
    p = device.provenance
    p["updated"] = today()
    p["keys"] = len(device.table)
    cov = p.setdefault("covers", {})
    sp = set(cov.get("spaces", [])) | set(spaces)
    cov["spaces"] = sorted(sp)
    device.spaces = sorted(set(device.spaces) | {x for x in sp if x != ANY_SPACE})


def profile(
    device: LutDevice,
    specs: dict[str, LayerSpec] | Iterable[LayerSpec],
    *,
    should_stop: Callable[[int], bool] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    save_every: int = 10,
    remeasure_flagged: bool = False,
    measure: LayerMeasurer = measure_layer,
    spaces: Iterable[str] = (),
    save: bool = True,
) -> ProfileResult:
    """Measure the keys of `specs` the table lacks; resumable (writes every `save_every` keys and on
    stop/interrupt, and skips keys already measured on this device). `should_stop(n_measured)` is
    asked before each key; `progress(key, done, total)` after each.

    With the protocol's `rounds` > 1 every key is measured in that many passes over all the keys
    to do (so one slow stretch of the host hits one round of a few keys, not all rounds of one),
    keeping the fastest round. A key already in the table is skipped whatever its rounds (a profile
    interrupted between rounds keeps valid, if less robust, entries; `remeasure_flagged` redoes
    the ones taken under foreign load)."""
    _require_measurable(device)
    if isinstance(specs, dict):
        specs = list(specs.values())
    specs = list(specs)
    config = device.measure_config()
    todo, skipped, have = [], [], {}
    for s in specs:
        e = device.table.get(s.key)
        if e is not None and not (remeasure_flagged and e.get("foreign_load")):
            skipped.append(s.key)
        else:
            todo.append(s)
    measured, stopped, dirty, n_done = [], False, 0, 0
    spaces = list(spaces)

    def flush():
        nonlocal dirty
        if save and device.path is not None and dirty:
            _touch_provenance(device, spaces)
            device.save()
        dirty = 0

    work = config.rounds * len(todo)
    try:
        for rnd in range(config.rounds):
            for s in todo:
                old = have.get(s.key)
                if old is not None and int(old.get("rounds", 1)) > rnd:
                    continue
                if should_stop is not None and should_stop(len(measured)):
                    stopped = True
                    break
                e = merge_entries(old, device_entry(measure(s, config), config))
                have[s.key] = device.table[s.key] = e
                if s.key not in measured:
                    measured.append(s.key)
                dirty += 1
                n_done += 1
                if dirty >= save_every:
                    flush()
                if progress is not None:
                    progress(s.key, len(skipped) + (n_done * len(todo)) // max(work, 1), len(specs))
            if stopped:
                break
    finally:  # KeyboardInterrupt included: what was measured is kept
        flush()
    flagged = [k for k in measured if device.table[k].get("foreign_load")]
    return ProfileResult(measured, skipped, stopped, flagged, str(device.path) if device.path else None)


# -- prediction ----------------------------------------------------------------------------------
@dataclass
class LatencyPrediction:
    ms: float  # NaN when keys are missing and the policy is 'report'
    method: str  # 'lut' | 'lut+calibration'
    raw_ms: float  # plain LUT sum (of the keys present)
    missing_keys: list[str]
    detail: list[tuple[str, str, float]]  # (node, key, ms) per keyed node; NaN for missing keys
    device: str = ""
    calibration: str | None = None  # the calibration used: a space name or '*'

    def as_dict(self) -> dict:
        return {
            "device": self.device,
            "latency_ms": None if math.isnan(self.ms) else round(self.ms, 4),
            "method": self.method,
            "raw_ms": round(self.raw_ms, 4),
            "missing_keys": self.missing_keys,
            "calibration": self.calibration,
            "layers": [
                {"node": n, "key": k, "ms": None if math.isnan(v) else round(v, 5)} for n, k, v in self.detail
            ],
        }


def graph_space(graph) -> str:
    return str(graph.meta.get("space") or ANY_SPACE)


def calibration_for(device: LutDevice, space: str) -> tuple[str, dict] | None:
    for name in (space, ANY_SPACE):
        if name in device.calibration:
            return name, device.calibration[name]
    return None


def predict(
    device: LutDevice,
    graph,
    *,
    on_missing: str = "auto",
    calibrated: bool = True,
    measure: LayerMeasurer = measure_layer,
    save: bool = True,
) -> LatencyPrediction:
    """Latency of `graph` on `device`: the LUT sum, calibrated when the device has a calibration
    for the graph's space (or a catch-all one).

    Missing keys: 'auto' measures them on a local device (cached in the table, file rewritten)
    and raises MissingKeysError on any other; 'measure' / 'error' force one of the two; 'report'
    returns ms=NaN with the keys listed."""
    if on_missing not in MISSING_POLICIES:
        raise ExplorerError(f"on_missing must be one of {list(MISSING_POLICIES)}, got {on_missing!r}")
    layers = layer_specs(graph)
    table = device.table_for(graph)
    if table is None:
        have = sorted(device.tables)
        raise ExplorerError(
            f"device {device.name!r} has no table for resolution {graph.resolution} (has {have})"
        )
    missing = device.missing((s.key for _, s in layers), table)
    if missing:
        policy = on_missing
        if policy == "auto":
            policy = "measure" if device.can_measure() else "error"
        if policy == "measure":
            specs = {s.key: s for _, s in layers if s.key in set(missing)}
            profile(device, specs, measure=measure, spaces=[graph_space(graph)], save=save)
            missing = device.missing((s.key for _, s in layers), table)
        elif policy == "error":
            why = "" if device.local else "remote device: measure it there and import the table"
            if device.local and device.env_mismatches():
                why = "table measured elsewhere: " + "; ".join(device.env_mismatches())
            raise MissingKeysError(device.name, missing, why)
    detail = [(n, s.key, entry_ms(table[s.key]) if s.key in table else math.nan) for n, s in layers]
    raw = float(sum(v for _, _, v in detail if not math.isnan(v)))
    cal = calibration_for(device, graph_space(graph)) if calibrated else None
    if missing:
        ms = math.nan
    elif cal is not None:
        ms = cal[1]["a"] * raw + cal[1]["b"]
    else:
        ms = raw
    return LatencyPrediction(
        ms=ms,
        method="lut+calibration" if cal else "lut",
        raw_ms=raw,
        missing_keys=missing,
        detail=detail,
        device=device.name,
        calibration=cal[0] if cal else None,
    )


# -- calibration and accuracy --------------------------------------------------------------------
def fit_linear(x: Sequence[float], y: Sequence[float], relative: bool = True) -> tuple[float, float]:
    """Least squares y ~ a*x + b; `relative` weights each point by 1/y (minimises relative error,
    which is what "within +-10 %" scores). One point (or no spread in x): a pure scale, b = 0."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size == 0:
        raise ExplorerError("calibration needs at least one whole-network measurement")
    w = 1.0 / np.maximum(y, 1e-12) if relative else np.ones_like(y)
    if x.size == 1 or np.ptp(x) <= 1e-12 * max(abs(x).max(), 1e-12):
        a = float(np.sum(w * w * x * y) / max(np.sum(w * w * x * x), 1e-300))
        return a, 0.0
    A = np.stack([x * w, w], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, y * w, rcond=None)
    if a <= 0:  # noise on a few nets of similar size: latency cannot fall as the LUT sum grows
        return float(np.sum(w * w * x * y) / max(np.sum(w * w * x * x), 1e-300)), 0.0
    return float(a), float(b)


def _ranks(v: np.ndarray) -> np.ndarray:
    order = np.argsort(v, kind="mergesort")
    r = np.empty(len(v), dtype=np.float64)
    r[order] = np.arange(len(v), dtype=np.float64)
    sv = v[order]
    i = 0
    while i < len(v):  # average ranks of ties
        j = i
        while j + 1 < len(v) and sv[j + 1] == sv[i]:
            j += 1
        if j > i:
            r[order[i : j + 1]] = (i + j) / 2.0
        i = j + 1
    return r


def accuracy(pred: Sequence[float], true: Sequence[float]) -> dict:
    """Spearman rho, RMSE (ms), MAPE and the share within +-10 % and +-5 % of measured."""
    p, t = np.asarray(pred, dtype=np.float64), np.asarray(true, dtype=np.float64)
    rel = np.abs(p - t) / np.maximum(t, 1e-12)
    if len(p) > 1 and np.ptp(p) > 0 and np.ptp(t) > 0:
        rho = float(np.corrcoef(_ranks(p), _ranks(t))[0, 1])
    else:
        rho = float("nan")
    return {
        "n": int(len(p)),
        "spearman": None if math.isnan(rho) else round(rho, 4),  # undefined for < 2 distinct values
        "rmse_ms": round(float(np.sqrt(np.mean((p - t) ** 2))), 4),
        "mape": round(float(rel.mean()), 4),
        "within_10": round(float(np.mean(rel <= 0.10)), 4),
        "within_5": round(float(np.mean(rel <= 0.05)), 4),
    }


def network_record(graph, m: Measurement, raw_ms: float, config: MeasureConfig | None = None) -> dict:
    e = m.entry() if config is None else device_entry(m, config)
    return {"name": graph.name, "config": graph.meta.get("config"), "lut_sum": round(raw_ms, 6), **e}


def measure_graphs(
    graphs: Sequence,
    config: MeasureConfig,
    *,
    measure_net: NetMeasurer = measure_graph,
    progress: Callable[[str, int, int], None] | None = None,
    should_stop: Callable[[int], bool] | None = None,
) -> list[dict]:
    """Whole-network entries of `graphs` by `config`'s protocol: `rounds` passes over all graphs,
    the fastest round of each kept (`entry_ms(e)` is the figure to compare a prediction with).
    `should_stop(i)` is asked before each graph of the first round; the list is then shorter."""
    out: list[dict] = []
    n = len(graphs)
    for rnd in range(config.rounds):
        for i, g in enumerate(graphs[: len(out)] if rnd else graphs):
            if not rnd and should_stop is not None and should_stop(i):
                break
            e = device_entry(measure_net(g, config), config)
            if rnd:
                out[i] = merge_entries(out[i], e)
            else:
                out.append(e)
            if progress is not None:
                progress(g.name, rnd * n + i + 1, config.rounds * n)
    return out


def measure_networks(
    device: LutDevice,
    graphs: Sequence,
    *,
    should_stop: Callable[[int], bool] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    measure: LayerMeasurer = measure_layer,
    measure_net: NetMeasurer = measure_graph,
    save: bool = True,
    remeasure_flagged: bool = False,
) -> list[tuple[float, float]]:
    """(LUT sum, measured ms) per graph; missing layer keys are measured first. Records go to
    `device.networks[space]` (kept in the file: the calibration can be refitted and audited).
    With the protocol's `rounds` > 1 the graphs are measured in that many passes (fastest kept);
    records from an interrupted run are reused and topped up."""
    _require_measurable(device)
    config = device.measure_config()
    todo: list[tuple[object, float, list, dict | None]] = []  # (graph, raw, records, record)
    for i, g in enumerate(graphs):
        if should_stop is not None and should_stop(i):
            break
        raw = predict(device, g, on_missing="measure", calibrated=False, measure=measure, save=save).raw_ms
        records = device.networks.setdefault(graph_space(g), [])
        cfg = g.meta.get("config")
        done = [r for r in records if cfg is not None and r.get("config") == cfg]
        if done and remeasure_flagged and done[0].get("foreign_load"):
            records.remove(done[0])
            done = []
        if done:  # measured by an earlier (interrupted) run: reuse, so calibration resumes too
            done[0]["lut_sum"] = round(raw, 6)
        todo.append((g, raw, records, done[0] if done else None))
    n, step = len(todo), 0
    work = sum(config.rounds - min(config.rounds, int(r.get("rounds", 1)) if r else 0) for *_, r in todo)
    if progress is not None and not work:
        for g, *_ in todo:
            progress(g.name, n, n)
    for rnd in range(config.rounds):
        for j, (g, raw, records, rec) in enumerate(todo):
            if rec is not None and int(rec.get("rounds", 1)) > rnd:
                continue
            new = network_record(g, measure_net(g, config), raw, config)
            if rec is None:
                records.append(new)
            else:
                new = merge_entries(rec, new)
                records[next(k for k, r in enumerate(records) if r is rec)] = new
            todo[j] = (g, raw, records, new)
            step += 1
            if save and device.path is not None and step % 5 == 0:
                device.save()
            if progress is not None:
                progress(g.name, (step * n) // work, n)
    return [(raw, entry_ms(rec)) for _, raw, _, rec in todo]


def calibrate(
    device: LutDevice,
    graphs: Sequence,
    *,
    space: str | None = None,
    pairs: Sequence[tuple[float, float]] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    measure: LayerMeasurer = measure_layer,
    measure_net: NetMeasurer = measure_graph,
    save: bool = True,
) -> dict:
    """Fit `ms ~ a * LUT_sum + b` for `space` (default: the graphs' space, '*' if mixed) on whole-
    network measurements of `graphs` (or given (lut_sum, ms) `pairs`), store it in the device with
    raw and calibrated in-sample accuracy, and return that record."""
    if pairs is None:
        pairs = measure_networks(
            device, graphs, progress=progress, measure=measure, measure_net=measure_net, save=save
        )
        spaces = {graph_space(g) for g in graphs}
        space = space or (spaces.pop() if len(spaces) == 1 else ANY_SPACE)
    space = space or ANY_SPACE
    x, y = [p[0] for p in pairs], [p[1] for p in pairs]
    a, b = fit_linear(x, y)
    record = {
        "a": round(a, 6),
        "b": round(b, 6),
        "n": len(pairs),
        "fitted": today(),
        "raw": accuracy(x, y),
        "calibrated": accuracy([a * v + b for v in x], y),
    }
    device.calibration[space] = record
    if save and device.path is not None:
        _touch_provenance(device, [space] if space != ANY_SPACE else [])
        device.save()
    return record


def evaluate(
    device: LutDevice,
    graphs: Sequence,
    *,
    progress: Callable[[str, int, int], None] | None = None,
    measure: LayerMeasurer = measure_layer,
    measure_net: NetMeasurer = measure_graph,
) -> dict:
    """Raw and calibrated LUT predictions against whole-network measurements of held-out graphs."""
    config = device.measure_config()
    raw, cal = [], []
    for g in graphs:
        p = predict(device, g, measure=measure)
        raw.append(p.raw_ms)
        cal.append(p.ms)
    entries = measure_graphs(graphs, config, measure_net=measure_net, progress=progress)
    true = [entry_ms(e) for e in entries]
    flagged = sum(int(bool(e.get("foreign_load"))) for e in entries)
    return {
        "raw": accuracy(raw, true),
        "calibrated": accuracy(cal, true),
        "foreign_load_nets": flagged,
        "predicted_ms": cal,
        "measured_ms": true,
    }
