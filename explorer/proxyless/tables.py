"""Where the search's per-layer latencies come from: a device's layer table (the latency
package's `LutDevice`; a local device measures the keys it lacks on demand), or a synthetic
MACs-proportional table for tests and demos. The search resolves every key it needs once, at the
start, and keeps that snapshot (in its checkpoint) for the whole run.

A remote table (e.g. the Note10 OFA tables or ProxylessNAS's mobile LUT) only holds its own
ImageNet geometry, so it rarely covers a CIFAR skeleton: the missing keys are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from explorer.arch import OPS
from explorer.errors import ExplorerError

from .derive import SPACE
from .supernet import LayerPlan

SYNTHETIC = "synthetic"


class LatencySource(Protocol):
    name: str
    local: bool

    def lookup(
        self,
        layers: dict[str, LayerPlan],
        should_stop: Callable[[], bool] | None = None,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> dict[str, float]: ...

    def measure_graph(self, graph) -> dict | None: ...

    def describe(self) -> dict: ...


class SyntheticSource:
    """ms = MACs / `macs_per_ms` + `overhead_ms` per layer: deterministic, not a real device."""

    local = False

    def __init__(self, macs_per_ms: float = 2e7, overhead_ms: float = 0.01):
        self.name = SYNTHETIC
        self.macs_per_ms = macs_per_ms
        self.overhead_ms = overhead_ms

    def ms(self, layer: LayerPlan) -> float:
        spec = OPS[layer.op]
        cost = spec.cost(spec.resolve(layer.params), [layer.in_shape], layer.out_shape)
        return cost.macs / self.macs_per_ms + self.overhead_ms

    def lookup(self, layers, should_stop=None, progress=None):
        return {k: self.ms(lay) for k, lay in layers.items()}

    def measure_graph(self, graph):
        return None

    def describe(self):
        return {
            "name": self.name,
            "kind": "synthetic",
            "macs_per_ms": self.macs_per_ms,
            "overhead_ms": self.overhead_ms,
        }


class TableSource:
    """A plain {key: ms} mapping (tests, imported tables)."""

    local = False

    def __init__(self, table: dict[str, float], name: str = "table"):
        self.name, self.table = name, dict(table)

    def lookup(self, layers, should_stop=None, progress=None):
        missing = [k for k in layers if k not in self.table]
        if missing:
            raise ExplorerError(
                f"table {self.name!r} lacks {len(missing)} key(s) of this skeleton (its geometry is not"
                f" covered; use a local device), e.g. {missing[0]}"
            )
        return {k: float(self.table[k]) for k in layers}

    def measure_graph(self, graph):
        return None

    def describe(self):
        return {"name": self.name, "kind": "table", "keys": len(self.table)}


class LutDeviceSource:
    """Adapter over `explorer.latency.lut.LutDevice`."""

    def __init__(self, device):
        self.device = device
        self.name = device.name
        self.local = bool(device.can_measure())

    def lookup(self, layers, should_stop=None, progress=None):
        from explorer.latency.device import MissingKeysError
        from explorer.latency.keys import LayerSpec
        from explorer.latency.profile import profile

        dev = self.device
        missing = dev.missing(layers)
        if missing and self.local:
            specs = {
                k: LayerSpec(
                    k,
                    layers[k].op,
                    dict(layers[k].params),
                    (tuple(layers[k].in_shape),),
                    tuple(layers[k].out_shape),
                )
                for k in missing
            }
            stop = None if should_stop is None else (lambda _n: should_stop())
            profile(dev, specs, should_stop=stop, progress=progress, spaces=[SPACE])
            missing = dev.missing(layers)
            if missing and should_stop is not None and should_stop():
                from explorer.progress import Cancelled

                raise Cancelled("stopped while measuring the latency table")
        if missing:
            why = "" if dev.local else "its table does not cover this skeleton's geometry; use a local device"
            raise MissingKeysError(dev.name, missing, why)
        from explorer.latency.measure import entry_ms

        return {k: entry_ms(dev.table[k]) for k in layers}

    def measure_graph(self, graph):
        if not self.local:
            return None
        from explorer.latency.measure import measure_graph

        m = measure_graph(graph, self.device.measure_config())
        pred = self.device.predict_graph(graph, on_missing="report")
        return {
            "measured_ms": round(m.median_ms, 4),
            "p10_ms": round(m.p10_ms, 4),
            "p90_ms": round(m.p90_ms, 4),
            "foreign_load": m.foreign_load,
            "lut_ms": round(pred.raw_ms, 4),
            "calibrated_ms": None if pred.calibration is None or pred.ms is None else round(pred.ms, 4),
        }

    def describe(self):
        p = self.device.provenance
        return {
            "name": self.name,
            "kind": "lut",
            "local": self.device.local,
            "path": str(self.device.path or ""),
            **{k: p[k] for k in ("hardware", "runtime", "runtime_version", "threads", "batch") if k in p},
        }


def resolve_source(name: str, lut_dir: str | Path | None = None) -> LatencySource:
    """`synthetic`; a local device name or alias (`local`, `local-cpu-torch-1t`...); a device JSON
    file; or a name the latency package's device registry knows."""
    if name == SYNTHETIC:
        return SyntheticSource()
    from explorer.latency.local import resolve_local
    from explorer.latency.lut import LutDevice
    from explorer.latency.registry import load_device

    dev = resolve_local(name, directory=lut_dir)
    if dev is not None:
        return LutDeviceSource(dev)
    p = Path(name)
    if p.suffix == ".json" and p.is_file():
        try:
            return LutDeviceSource(LutDevice.load(p))
        except ExplorerError:
            pass  # not a graph-keyed table file: try the device registry's formats
    try:  # the registry of shipped / imported devices
        dev = load_device(name)
    except ExplorerError:
        dev = None
    if dev is not None:
        if not isinstance(dev, LutDevice):
            raise ExplorerError(
                f"device {name!r} is not a layer table (ProxylessNAS needs per-layer latencies)"
            )
        merged = {}
        for t in dev.tables.values():  # keys carry their shapes, so resolutions cannot collide
            merged.update({k: float(e["mean"] if isinstance(e, dict) else e) for k, e in t.items()})
        return TableSource(merged, dev.name)
    raise ExplorerError(f"unknown device {name!r}: use 'local', 'synthetic' or a device .json file")
