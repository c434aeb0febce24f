"""Layer-wise look-up tables (ProxylessNAS / Once-for-All idea): the one LUT device class.

A network's latency is the sum of its layers' table entries (`keys.layer_specs`: nodes without a
key cost nothing), optionally calibrated per space: ``ms ~ a * LUT_sum + b`` (see `profile`). A
key that is *missing* is never taken as zero: a local device measures it on demand, a remote
device reports it.

File layout (the envelope of `device`): ``"tables": {table id: {key: entry}}`` with an entry
``{median | mean, ...}`` (its ``"stat"`` names the figure it contributes; see
`measure.entry_ms`). The ``"keyer"`` says how the keys were formed:

- ``"graph"``: the keys of the graph's layers, one table ``"any"`` for every resolution (local
  profiles; this machine's tables measure what they lack);
- a space name (OFA's official tables name their supernet's width): the same keys, one table
  per input resolution (``{"160": {...}, "224": {...}}``) for configs of that space;
- a foreign format of `keys.CONFIG_KEYERS` (ProxylessNAS's mobile table).

Calibrations per space live in ``"calibration_by_space"``; a single ``"calibration"`` {a, b} (as
imported tables write it) counts for every space. A calibration may carry ``"by_kind"`` scales per
op kind (`calibration`); without them it is ``a * LUT + b``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from explorer.errors import ExplorerError, FormatError

from .calibration import apply, check_by_kind, kind_sums
from .device import (
    MISSING_POLICIES,
    Device,
    DeviceError,
    MissingKeysError,
    Prediction,
    build,
    finite,
    ms_ok,
)
from .files import read_device_json, write_device_json
from .keys import ANY_TABLE, CONFIG_KEYERS, GRAPH_KEYER, layer_keys, layer_specs, table_id
from .measure import STATISTICS, MeasureConfig, entry_ms, environment
from .profile import ANY_SPACE, LayerMeasurer, graph_space, measure_layer, profile

_KNOWN = {"format", "version", "kind", "name", "tables", "provenance", "calibration_by_space"}
_KNOWN |= {"local", "description", "networks", "spaces", "keyer"}


def _clip(v, n: int) -> str:
    return repr(str(v)[:n])


def _check_tables(tables) -> None:
    if not isinstance(tables, Mapping):
        raise FormatError("field 'tables' is missing or not an object (partial file?)")
    for tid, table in tables.items():
        if not isinstance(table, Mapping):
            raise FormatError(f"table {_clip(tid, 40)} is not an object")
        for key, e in table.items():
            at = f"table {_clip(tid, 40)} entry {_clip(key, 80)}"
            if not isinstance(e, Mapping) or not any(ms_ok(e.get(f)) for f in ("median", "mean")):
                raise FormatError(f"{at} lacks a valid 'median' or 'mean' (ms)")
            for f in ("median", "mean", "p10", "p90", "min"):
                if f in e and not ms_ok(e[f]):
                    raise FormatError(f"{at} has an invalid {f!r}: {str(e[f])[:40]!r}")
            if "stat" in e and (e["stat"] not in STATISTICS or not ms_ok(e.get(e["stat"]))):
                raise FormatError(f"{at} lacks a valid {str(e['stat'])[:20]!r} (its stat)")


def _calibrations(d: Mapping) -> dict:
    by_space = d.get("calibration_by_space") or {}
    if not isinstance(by_space, Mapping):
        raise FormatError("'calibration_by_space' must be an object")
    cal = dict(by_space)
    for space, c in cal.items():
        if not isinstance(c, Mapping) or not all(finite(c.get(f)) for f in "ab"):
            raise FormatError(f"calibration for {_clip(space, 40)} needs finite 'a' and 'b'")
        check_by_kind(c.get("by_kind"), f"calibration for {_clip(space, 40)}")
    single = d.get("calibration")
    if single is not None:
        if not isinstance(single, Mapping) or not all(finite(single.get(f)) for f in "ab"):
            raise FormatError("'calibration' needs finite numbers 'a' and 'b'")
        if single:
            cal.setdefault(ANY_SPACE, dict(single))
    return cal


class LutDevice(Device):
    """A device whose latency is a layer table (+ calibration). `local` devices were measured on
    this kind of machine and may measure missing keys; any other LUT device is remote."""

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
        super().__init__(name, spaces, provenance or {}, path)
        self.tables: dict[str, dict] = {str(k): dict(v) for k, v in (tables or {}).items()}
        if table is not None or not self.tables:
            self.tables[ANY_TABLE] = dict(table or {})
        self.calibration: dict[str, dict] = dict(calibration or {})
        self.networks: dict[str, list] = {k: list(v) for k, v in (networks or {}).items()}
        self.local = bool(local)
        self.description = description
        self.keyer = keyer
        self.extra = dict(extra or {})  # unknown top-level fields survive a load/save round trip

    @property
    def table(self) -> dict[str, dict]:
        """The table for any resolution (the one local devices measure into)."""
        return self.tables.setdefault(ANY_TABLE, {})

    def table_for(self, graph) -> dict[str, dict] | None:
        if ANY_TABLE in self.tables:
            return self.tables[ANY_TABLE]
        return self.tables.get(table_id(graph))

    # reading / writing
    @classmethod
    def from_json(cls, d: Mapping, path: Path | None = None, resolve=None) -> LutDevice:
        _check_tables(d.get("tables"))
        keyer = d.get("keyer", GRAPH_KEYER)
        if not isinstance(keyer, str):
            raise FormatError("'keyer' must be a string")
        return cls(
            d["name"],
            None,
            d["provenance"],
            _calibrations(d),
            local=bool(d.get("local", False)),
            description=str(d.get("description", "")),
            networks=d.get("networks") or {},
            tables=d["tables"],
            spaces=d.get("spaces") or [],
            keyer=keyer,
            extra={k: v for k, v in d.items() if k not in _KNOWN},
            path=path,
        )

    @classmethod
    def load(cls, path: str | Path) -> LutDevice:
        path = Path(path)
        d = read_device_json(path)
        if isinstance(d, Mapping) and d.get("kind") != cls.kind:
            raise FormatError(f"{path}: device kind {str(d.get('kind'))[:40]!r} is not a LUT ('lut')")
        return build(cls, d, path)

    def to_json(self) -> dict:
        d = {
            **self.envelope(),
            "spaces": sorted(set(self.spaces)),
            "keyer": self.keyer,
            "local": self.local,
            "description": self.description,
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
        write_device_json(path, self.to_json())
        self.path = path
        return path

    # measuring here
    def measure_config(self) -> MeasureConfig:
        p = self.provenance
        cfg = MeasureConfig(
            runtime=p.get("runtime", "torch"), threads=p.get("threads", 1), batch=p.get("batch", 1)
        )
        proto = dict(p.get("protocol") or {})
        # files written before statistic/rounds existed were measured (and calibrated) on medians
        proto.setdefault("statistic", "median")
        proto.setdefault("rounds", 1)
        proto.setdefault("context", "isolated")  # and each layer back to back, before 'context' existed
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
        """Keys (unique, in order) absent from `table` (default: the table for any resolution)."""
        table = self.table if table is None else table
        return [k for k in dict.fromkeys(keys) if k not in table]

    # coverage
    def covers(self, space: str) -> bool:
        """A local graph-keyed table covers every space (it measures what it lacks); others what they list."""
        from explorer.spaces.latency_support import matches

        return (self.local and self.keyer == GRAPH_KEYER) or any(matches(space, s) for s in self.spaces)

    def calibration_for(self, space: str) -> tuple[str, dict] | None:
        """(the calibration's space, {a, b, ...}): the space's own, else the one for every space."""
        for name in (space, ANY_SPACE):
            if name in self.calibration:
                return name, self.calibration[name]
        return None

    # prediction
    def predict_graph(
        self,
        graph,
        *,
        on_missing: str = "report",
        should_stop: Callable[[], bool] | None = None,
        calibrated: bool = True,
        measure: LayerMeasurer = measure_layer,
        save: bool = True,
    ) -> Prediction:
        """The LUT sum of `graph`, calibrated when the device has a calibration for the graph's
        space (or a catch-all one).

        Missing keys: 'report' returns ms=None with the keys listed; 'measure' measures them here
        (kept in the table, file rewritten; `should_stop()` is asked between keys); 'error' raises
        MissingKeysError; 'auto' measures on a device that can, and raises on any other."""
        if on_missing not in MISSING_POLICIES:
            raise ExplorerError(f"on_missing must be one of {list(MISSING_POLICIES)}, got {on_missing!r}")
        method = "lut"
        table = self.table_for(graph)
        if table is None:
            have = sorted(self.tables)
            why = f"device {self.name!r} has no table for resolution {graph.resolution} (has {have})"
            if on_missing == "report":
                return Prediction(self.name, None, method, reason=why)
            raise DeviceError(why)
        layers = layer_specs(graph)
        missing = self.missing((s.key for _, s in layers), table)
        measured: list[str] = []
        stopped = False
        if missing:
            policy = on_missing
            if policy == "auto":
                policy = "measure" if self.can_measure() else "error"
            if policy == "measure":
                specs = {s.key: s for _, s in layers if s.key in set(missing)}
                stop = None if should_stop is None else (lambda _n: should_stop())
                res = profile(
                    self,
                    specs,
                    should_stop=stop,
                    measure=measure,
                    spaces=[graph_space(graph)],
                    save=save,
                    context=[s for _, s in layers],
                )
                measured, stopped = res.measured, res.stopped
                missing = self.missing((s.key for _, s in layers), table)
            elif policy == "error":
                raise MissingKeysError(self.name, missing, self.missing_why())
        detail = [(n, s.key, entry_ms(table[s.key]) if s.key in table else None) for n, s in layers]
        raw = float(sum(v for _, _, v in detail if v is not None))
        by_kind = kind_sums((s.kind, v) for (_, s), (_, _, v) in zip(layers, detail))
        cal = self.calibration_for(graph_space(graph)) if calibrated else None
        if cal is not None:
            method = "lut+calibration"
        if missing:
            ms, reason = None, self.missing_reason(len(missing), stopped)
        else:
            ms = apply(cal[1], by_kind) if cal is not None else raw
            reason = ""
        return Prediction(
            self.name,
            ms,
            method,
            raw_ms=raw,
            raw_by_kind=by_kind,
            missing_keys=missing,
            layers=detail,
            calibration=cal[0] if cal else None,
            confidence=self.confidence(),
            reason=reason,
            measured=measured,
            stopped=stopped,
        )

    def missing_why(self) -> str:
        """Why missing keys cannot be measured here."""
        if not self.local:
            return "remote device: measure it there and import the table"
        bad = self.env_mismatches()
        return "table measured elsewhere: " + "; ".join(bad) if bad else ""

    def missing_reason(self, n: int, stopped: bool = False) -> str:
        if stopped:
            return f"stopped: {n} layer(s) still to measure"
        if self.can_measure():
            return f"{n} layer(s) not profiled yet: run `nas-explorer latency profile --device {self.name}`"
        return f"{n} layer(s) missing from the table ({self.missing_why()})"

    def space_for(self, space: str) -> str:
        """The exact registered space for a (possibly width-less) space name."""
        from explorer.spaces.latency_support import member

        return member(space, prefer=self.spaces)

    def keys_for(self, config, space: str | None = None) -> tuple[str, list[str]]:
        """(table id, keys) of a native config: through the graph its space encodes it as, or the
        device's foreign key format."""
        if self.keyer in CONFIG_KEYERS:
            return CONFIG_KEYERS[self.keyer](config)
        g = self._graph(config, space)
        return (ANY_TABLE if ANY_TABLE in self.tables else table_id(g)), [k for _, k in layer_keys(g)]

    def _default_space(self) -> str:
        if self.keyer != GRAPH_KEYER:
            return self.keyer  # OFA's tables name the space their keys were formed for
        if len(self.spaces) == 1:
            return self.spaces[0]
        raise DeviceError(f"device {self.name!r}: say which space the config is of")

    def _graph(self, config, space: str | None):
        from explorer.spaces import get_space

        sp = get_space(self.space_for(space or self._default_space()))
        return sp.encode(sp.latency.normalise(config) if sp.latency is not None else config)

    def missing_keys(self, config, space: str | None = None) -> list[str]:
        tid, keys = self.keys_for(config, space)
        table = self.tables.get(tid)
        if table is None:
            return [f"table {tid}"]
        return self.missing(keys, table)

    def predict(self, space: str, configs: Iterable, on_missing: str = "auto") -> np.ndarray:
        """Latency (ms) of native configs of `space` (NaN where keys are missing and reported)."""
        space = self.check_space(space)
        if self.keyer in CONFIG_KEYERS:
            return np.array([self._predict_foreign(c) for c in configs], dtype=np.float64)
        out = []
        for c in configs:
            p = self.predict_graph(self._graph(c, space), on_missing=on_missing)
            out.append(math.nan if p.ms is None else p.ms)
        return np.array(out, dtype=np.float64)

    def _predict_foreign(self, config) -> float:
        tid, keys = self.keys_for(config)
        table = self.tables.get(tid)
        if table is None:
            raise DeviceError(f"device {self.name!r} has no table for {tid} (has {sorted(self.tables)})")
        missing = self.missing(keys, table)
        if missing:
            raise MissingKeysError(self.name, missing)
        raw = float(sum(entry_ms(table[k]) for k in keys))
        cal = self.calibration.get(ANY_SPACE)
        return float(cal["a"]) * raw + float(cal["b"]) if cal else raw

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

    def __repr__(self) -> str:
        keys = sum(len(t) for t in self.tables.values())
        return f"LutDevice({self.name!r}, keys={keys}, local={self.local})"
