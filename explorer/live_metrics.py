"""Live metrics for the editor: one call computes params/MACs, Zen-Score, GradSign and latency per
device for a graph, each entry either a value or `{"value": None, "reason": ...}`.

Pure core (no Qt). The proxies and latency packages are imported lazily and any missing API or
ExplorerError becomes an "n/a" entry with its reason, so the app keeps working while those
packages change or break. `should_stop()` is polled between metrics so a stale request ends early.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .arch import ArchGraph, count_complexity, validate
from .errors import ExplorerError

LOCAL_CPU = "local-cpu"


@dataclass(frozen=True)
class LiveSettings:
    """Proxy settings: the live defaults of the proxies issue (fast enough to follow edits)."""

    zen_batch: int = 16
    zen_repeats: int = 1
    gradsign_batch: int = 32
    resolution: int | None = 64  # None: the architecture's own input resolution
    seed: int = 0
    zen: bool = True
    gradsign: bool = True
    latency: bool = True

    @classmethod
    def live(cls) -> LiveSettings:
        return cls()

    @classmethod
    def paper(cls) -> LiveSettings:
        """Official search settings: Zen batch 64, 1 repeat; GradSign batch 128; own resolution."""
        return cls(zen_batch=64, zen_repeats=1, gradsign_batch=128, resolution=None)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LiveSettings:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


@dataclass
class Entry:
    """One metric value (or None with the reason) and how it was obtained."""

    value: float | None
    reason: str = ""
    method: str = ""
    confidence: str = ""
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = {"value": self.value}
        for k in ("reason", "method", "confidence"):
            if getattr(self, k):
                d[k] = getattr(self, k)
        d["seconds"] = round(self.seconds, 4)
        if self.extra:
            d.update(self.extra)
        return d


def na(reason: str) -> dict:
    return {"value": None, "reason": reason}


class Stopped(Exception):
    """A newer request superseded this one."""


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else e.__class__.__name__
    return text if isinstance(e, ExplorerError) else f"{e.__class__.__name__}: {text}"


# -- latency devices ------------------------------------------------------------------------------
def _latency_module():
    import importlib

    return importlib.import_module("explorer.latency")


def _submodule(name: str):
    """explorer.latency.<name>, or None when it does not exist (yet)."""
    import importlib

    try:
        return importlib.import_module(f"explorer.latency.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"explorer.latency.{name}":
            return None
        raise


def _device_name(d) -> str:
    if isinstance(d, str):
        return d
    for attr in ("name", "id", "key"):
        v = getattr(d, attr, None) if not isinstance(d, dict) else d.get(attr)
        if isinstance(v, str):
            return v
    return str(d)


def list_devices() -> tuple[list[str], str]:
    """Device names: our direct local-CPU measurement first, then the latency registry's devices,
    and a note when the registry is unavailable. Never raises."""
    names: list[str] = [LOCAL_CPU]
    note = ""
    try:
        lat = _latency_module()
        fn = None
        for holder in (lat, _submodule("registry")):
            for attr in ("list_devices", "available_devices", "device_names"):
                cand = getattr(holder, attr, None) if holder is not None else None
                if callable(cand):
                    fn = cand
                    break
            if fn:
                break
        if fn is None:
            note = "latency registry has no device list yet"
        else:
            found = fn()
            if isinstance(found, dict):
                found = list(found)
            names += [n for n in (_device_name(d) for d in found) if n != LOCAL_CPU]
            if len(names) == 1:
                note = "no latency device files found (luts/)"
    except Exception as e:  # a broken package must not take the app down
        note = f"latency registry unavailable ({_one_line(e)})"
    return names, note


def device_covers(name: str, space: str) -> bool | None:
    """Whether a registry device can predict `space` (None when it cannot be told)."""
    try:
        dev = _submodule("registry").load_device(name)
        return bool(dev.covers(space))
    except Exception:
        return None


def default_devices(names: list[str], space: str = "ofa-mbv3-w1.0", limit: int = 3) -> list[str]:
    """The local CPU plus up to `limit` shipped devices that can predict `space` (e.g. HELP GPU
    predictors for OFA-MBv3 w1.0; the Note10 LUT covers w1.2 only, so it is not picked)."""
    local = [LOCAL_CPU] if LOCAL_CPU in names else []
    fam = "nb201" if space == "nb201" else "ofa"
    remote = [n for n in names if n != LOCAL_CPU and not n.startswith("local")]
    covering = [n for n in remote if device_covers(n, space)]
    if not covering:  # coverage unknown: fall back to the naming convention of the shipped files
        covering = [n for n in remote if n.startswith(f"help-{fam}")]
    # prefer variety (a phone, a server GPU, a server CPU...) over three settings of one card
    pref = ("pixel", "titan", "gold", "note", "samsung", "2080", "fpga")
    rank = {n: next((i for i, k in enumerate(pref) if k in n), len(pref)) for n in covering}
    picked, seen = [], set()
    for n in sorted(covering, key=lambda n: (not n.startswith("help-"), rank[n], n)):
        hw = pref[rank[n]] if rank[n] < len(pref) else n.rsplit("-", 1)[-1].split("_")[0]
        if hw not in seen:
            picked.append(n)
            seen.add(hw)
    return local + picked[:limit]


def _confidence(provenance) -> str:
    """A short accuracy note from a device's provenance (Spearman rho, share within +-10 %)."""
    from .latency.device import confidence_text

    return confidence_text(provenance)


def _method_of(dev) -> str:
    kind = getattr(dev, "kind", "")
    if kind == "lut":
        return "LUT calibrated" if getattr(dev, "calibration", None) else "LUT"
    if kind == "network":
        model = getattr(dev, "model", {}) or {}
        return "few-shot" if model.get("kind") == "fewshot" else "network-wise"
    return str(kind)


def _registry_predict(lat, graph: ArchGraph, device: str) -> dict:
    """Through `explorer.latency.registry`: local LUT devices by graph (missing keys reported, not
    measured on the live path), shipped devices by the graph's space config."""
    local = _submodule("local")
    if local is not None and getattr(local, "parse_local_name", lambda n: None)(device) is not None:
        dev = local.resolve_local(device)
        pred = dev.predict_graph(graph, on_missing="report", save=False)
        if pred.missing_keys:
            return na(
                f"{len(pred.missing_keys)} layer(s) not profiled yet: run `nas-explorer latency profile "
                f"--device {device}`"
            )
        return Entry(
            pred.ms,
            method="LUT calibrated" if pred.calibration else "LUT",
            confidence=_confidence(getattr(dev, "provenance", {})) or "n/a",
        ).as_dict()
    load = getattr(_submodule("registry"), "load_device", None)
    if load is None:
        return na("latency predictors not available")
    dev = load(device)
    space = graph.meta.get("space")
    if not space:
        return na(
            f"custom graph: {device} predicts configs of {', '.join(getattr(dev, 'spaces', []) or ['?'])}"
        )
    if hasattr(dev, "covers") and not dev.covers(space):
        return na(f"covers {', '.join(dev.spaces)}, not {space}")
    from .spaces import get_space

    cfg = get_space(space).decode(graph)
    ms = float(dev.predict(space, [cfg])[0])
    if not math.isfinite(ms):
        return na("no prediction for this architecture")
    confidence = _confidence(getattr(dev, "provenance", {})) or "n/a"
    stale = dev.stale_sources() if hasattr(dev, "stale_sources") else []
    if stale:  # a few-shot head fitted on predictions its sources no longer give
        confidence += f"; stale: {', '.join(stale)} changed since adaptation, re-run `latency adapt`"
    return Entry(ms, method=_method_of(dev), confidence=confidence).as_dict()


def _result_fields(res) -> tuple[float | None, str, str, str]:
    """(ms, method, confidence, reason) from whatever a predictor returns."""
    if res is None:
        return None, "", "", "no prediction"
    if isinstance(res, (int, float)):
        return float(res), "", "", ""
    get = res.get if isinstance(res, dict) else (lambda k, d=None: getattr(res, k, d))
    ms = None
    for k in ("latency_ms", "ms", "value", "latency", "mean_ms"):
        v = get(k)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            ms = float(v)
            break
    method = str(get("method", "") or get("kind", "") or "")
    conf = get("confidence", None)
    if conf is None:
        conf = get("accuracy", None)
    if isinstance(conf, float):
        conf = f"{conf:.2f}"
    reason = str(get("reason", "") or get("message", "") or "")
    return ms, method, str(conf or ""), reason


def _local_cpu_direct(graph: ArchGraph, should_stop: Callable[[], bool]) -> Entry:
    """Fallback when this machine's layer table cannot be used: time the whole built model
    (batch 1, the worker's thread count), median of a few runs after warm-up."""
    import torch

    from .arch import build_model

    model = build_model(graph).eval()
    x = torch.randn(1, *graph.input_shape)
    times = []
    with torch.inference_mode():
        for k in range(10):
            if should_stop():
                raise Stopped
            t = time.perf_counter()
            model(x)
            if k >= 3:
                times.append(time.perf_counter() - t)
    times.sort()
    return Entry(
        times[len(times) // 2] * 1e3,
        method="measured",
        confidence=f"median of {len(times)}, {torch.get_num_threads()} thread(s)",
    )


_LOCAL_LUT: dict[str, object] = {}  # this process's handle on the local table
_LOCAL_LUT_LOCK = threading.Lock()  # measuring into / saving the table: one caller at a time


def local_lut_device():
    """This machine's layer-wise table (torch CPU, 1 thread, batch 1), loaded or created once per
    process from the user's LUT directory."""
    dev = _LOCAL_LUT.get("torch-1t")
    if dev is None:
        from .latency.local import local_device

        dev = _LOCAL_LUT["torch-1t"] = local_device("torch", 1, 1)
    return dev


def _local_cpu_latency(graph: ArchGraph, should_stop: Callable[[], bool]) -> Entry:
    """The local CPU as a ProxylessNAS/OFA-style layer-wise LUT: layers the table lacks are measured
    now (1 thread, the latency protocol; a stale request stops between layers) and kept in the
    user's table, so after the first start an edit costs only its new layers' measurements and the
    prediction itself is a sum (sub-millisecond). Timing the whole network on every edit instead
    would cost 0.2-0.3 s per edit at r 224 and measure with whatever threads the worker has."""
    with _LOCAL_LUT_LOCK:
        return _local_cpu_latency_locked(graph, should_stop)


def _local_cpu_latency_locked(graph: ArchGraph, should_stop: Callable[[], bool]) -> Entry:
    from .latency.predict import measure_missing

    dev = local_lut_device()
    res = measure_missing(dev, graph, should_stop=should_stop)
    if res.stopped:
        raise Stopped
    missing = res.measured
    pred = dev.predict_graph(graph, on_missing="report", save=False)
    if pred.missing_keys:
        raise ExplorerError(f"{len(pred.missing_keys)} layer(s) could not be measured")
    conf = _confidence(dev.provenance) or ("uncalibrated" if not pred.calibration else "n/a")
    if missing:
        conf += f"; {len(missing)} layer(s) measured now"
    return Entry(
        pred.ms,
        method="LUT calibrated" if pred.calibration else "LUT",
        confidence=conf,
        extra={"device": dev.name, "measured_layers": len(missing)},
    )


def predict_latency(graph: ArchGraph, device: str, should_stop: Callable[[], bool] = lambda: False) -> dict:
    """Latency of `graph` on `device` through the latency package; "n/a" with a reason otherwise."""
    t0 = time.perf_counter()
    if device == LOCAL_CPU:  # this machine: its layer table, or a direct measurement when unusable
        try:
            e = _local_cpu_latency(graph, should_stop)
        except Stopped:
            raise
        except Exception as exc:
            try:
                e = _local_cpu_direct(graph, should_stop)
            except Stopped:
                raise
            except Exception as exc2:
                return na(_one_line(exc2))
            e.confidence += f" (layer table unusable: {_one_line(exc)})"
        e.seconds = time.perf_counter() - t0
        return e.as_dict()
    try:
        lat = _latency_module()
    except Exception as e:
        return na(f"latency package unavailable ({_one_line(e)})")
    fn = None
    for attr in ("predict_graph", "predict_latency"):
        cand = getattr(lat, attr, None)
        if callable(cand):
            fn = cand
            break
    try:
        if fn is None:
            out = _registry_predict(lat, graph, device)
            out["seconds"] = round(time.perf_counter() - t0, 4)
            return out
        res = fn(graph, device)
    except Stopped:
        raise
    except Exception as e:  # ExplorerError or a bug in a predictor: n/a with the reason
        return na(_one_line(e))
    ms, method, conf, reason = _result_fields(res)
    if ms is None or not math.isfinite(ms):
        return na(reason or "no prediction for this architecture")
    return Entry(ms, method=method, confidence=conf, seconds=time.perf_counter() - t0).as_dict()


# -- the whole set --------------------------------------------------------------------------------
def metric_keys(devices: list[str]) -> list[str]:
    return ["params", "macs", "zen", "gradsign"] + [f"latency:{d}" for d in devices]


def compute_metrics(
    graph: ArchGraph,
    settings: LiveSettings | None = None,
    devices: list[str] | tuple[str, ...] = (),
    should_stop: Callable[[], bool] = lambda: False,
    on_entry: Callable[[str, dict], None] | None = None,
    parallel: bool | None = None,
) -> dict:
    """{"params", "macs", "zen", "gradsign", "latency:<device>"...: entry dicts}.

    `parallel` (default: with two or more CPUs) computes Zen-Score in a second thread while
    GradSign runs: each proxy is small-batch work that one core runs about as fast as two
    OpenMP threads, so side by side saves Zen's time outright. Results are identical (each proxy
    draws from its own seeded generator; seeded builds are serialised).

    Entries arrive through `on_entry(key, entry)` as soon as each is known (the GUI shows them one
    by one). Raises Stopped when `should_stop()` turns true between metrics.
    """
    settings = settings or LiveSettings()
    out: dict[str, dict] = {}

    def put(key: str, entry: dict) -> None:
        out[key] = entry
        if on_entry is not None:
            on_entry(key, entry)

    def check_stop() -> None:
        if should_stop():
            raise Stopped

    report = validate(graph)
    if not report.ok:
        reason = f"invalid graph: {report.issues[0]}"
        for k in metric_keys(list(devices)):
            put(k, na(reason))
        return out
    t0 = time.perf_counter()
    c = count_complexity(graph)
    dt = time.perf_counter() - t0
    put("params", Entry(float(c.params), method="core", seconds=dt).as_dict())
    put("macs", Entry(float(c.macs), method="core", seconds=dt).as_dict())

    res = settings.resolution
    if parallel is None:
        parallel = (os.cpu_count() or 1) >= 2
    if settings.zen and settings.gradsign and parallel:
        check_stop()
        zen, grad_sign = _proxies_side_by_side(graph, settings, res)
        put("zen", zen)
        put("gradsign", grad_sign)
    else:
        if settings.zen:
            check_stop()
            put("zen", _zen(graph, settings, res))
        else:
            put("zen", na("disabled in settings"))
        if settings.gradsign:
            check_stop()
            put("gradsign", _gradsign(graph, settings, res))
        else:
            put("gradsign", na("disabled in settings"))
    # this machine last: it may first measure layers it has not seen, the predictors answer at once
    for d in sorted(devices, key=lambda d: d == LOCAL_CPU):
        check_stop()
        put(f"latency:{d}", predict_latency(graph, d, should_stop) if settings.latency else na("disabled"))
    return out


def _proxies_side_by_side(graph: ArchGraph, s: LiveSettings, res: int | None) -> tuple[dict, dict]:
    """(Zen entry, GradSign entry), Zen computed in its own thread meanwhile."""
    box: dict[str, dict] = {}

    def run_zen() -> None:
        box["zen"] = _zen(graph, s, res)

    th = threading.Thread(target=run_zen, name="zen-score", daemon=True)
    th.start()
    try:
        gs = _gradsign(graph, s, res)
    finally:
        th.join()
    return box.get("zen") or na("Zen-Score thread ended without a result"), gs


def _zen(graph: ArchGraph, s: LiveSettings, res: int | None) -> dict:
    t0 = time.perf_counter()
    try:
        from .proxies import zen_score

        r = zen_score(graph, batch_size=s.zen_batch, resolution=res, repeats=s.zen_repeats, seed=s.seed)
    except ImportError as e:
        return na(f"Zen-Score unavailable ({_one_line(e)})")
    except ExplorerError as e:
        return na(_one_line(e))
    except Exception as e:
        return na(_one_line(e))
    score = getattr(r, "score", r)
    if not isinstance(score, (int, float)) or not math.isfinite(score):
        return na(getattr(r, "message", "") or "Zen-Score overflowed")
    extra = {"std": getattr(r, "std", None)}
    return Entry(
        float(score),
        method=f"b{s.zen_batch} r{r.resolution} x{s.zen_repeats}",
        seconds=time.perf_counter() - t0,
        extra=extra,
    ).as_dict()


_BATCH_CACHE: dict[tuple[int, int], tuple] = {}


def _gradsign(graph: ArchGraph, s: LiveSettings, res: int | None) -> dict:
    t0 = time.perf_counter()
    try:
        from .data import gradsign_batch
        from .proxies import gradsign

        r = res or graph.resolution
        key = (s.gradsign_batch, r)
        if key not in _BATCH_CACHE:
            _BATCH_CACHE[key] = gradsign_batch(s.gradsign_batch, r)
        images, labels = _BATCH_CACHE[key]
        out = gradsign(graph, images, labels, method="fast", seed=s.seed)
    except ImportError as e:
        return na(f"GradSign unavailable ({_one_line(e)})")
    except ExplorerError as e:
        return na(_one_line(e))
    except Exception as e:
        return na(_one_line(e))
    score = getattr(out, "score", out)
    if not isinstance(score, (int, float)):
        return na("GradSign returned no score")
    return Entry(float(score), method=f"b{s.gradsign_batch} r{r}", seconds=time.perf_counter() - t0).as_dict()
