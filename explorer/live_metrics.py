"""Live metrics for the editor: params/MACs, the chosen registered proxies and the latency per
device of one graph, each entry a value or `{"value": None, "reason": ...}`, each stamped with the
digest (and generation) of the graph it belongs to, so a consumer drops what a newer edit made stale.

A direct client of the core APIs: the proxies through their registry (`compute_many`; a population
proxy, AZ-NAS or the ensemble, as its percentile in the space's reference sample), every device
through `latency.predict.predict_graph`; this machine's layer table measures the layers it lacks
(`measure_missing`) inline, or, for the GUI, as a separate step after the other rows are shown.
The graph is validated once per call (or the caller's report is used) and trusted for the
counting, building and keying that follow. Pure core (no Qt); `should_stop()` is polled between
metrics, and a stale request ends early with `Stopped`.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from .arch import ArchGraph, count_complexity, validate
from .arch.validate import Report, reshaped, trusted
from .edits import graph_digest
from .errors import ExplorerError
from .latency.device import Device, Prediction
from .latency.local import local_device_name, parse_local_name
from .latency.lut import LutDevice
from .latency.predict import measure_missing, predict_graph
from .latency.profile import LayerMeasurer, measure_layer
from .latency.registry import devices_covering, list_devices, load_device
from .proxies.reference import load as load_reference
from .proxies.reference import settings_for, space_percentile
from .proxies.registry import ProxySettings, ProxyValue, compute_many, expand, get_proxy, list_proxies
from .spaces import find_space

LOCAL_CPU = "local-cpu"  # this machine, torch on one thread: the live view's own row
COUNTS = ("params", "macs")  # always computed (from shapes alone), not proxy rows
DEFAULT_PROXIES = ("zen", "gradsign")
PENDING = "measure"  # an entry's "pending": its layers are to be measured (`predict_latency`)


def live_proxies() -> list:
    """The registered proxies the live view can show (the counts have rows of their own)."""
    return [p for p in list_proxies() if p.name not in COUNTS]


LEGACY_KEYS = ("zen", "gradsign", "zen_batch", "gradsign_batch", "zen_repeats")


@dataclass(frozen=True, init=False)
class LiveSettings:
    """What the live view computes: the registered proxies shown (`proxies`, in order), each
    one's live or official batch (`preset`; `batch` overrides by name), the resolution the
    per-network proxies run at, at most (None: the architecture's own), the seed, per-proxy keyword
    options (Zen's repeats) and whether latency is predicted. Population proxies (AZ-NAS, the
    ensemble) always use their reference sample's settings, so their percentile means something.

    The keywords of the settings before the proxy registry still work (`zen=False`,
    `gradsign_batch=8`, `zen_repeats=2`...), and read back as properties."""

    proxies: tuple[str, ...]
    preset: str
    batch: Mapping[str, int]
    resolution: int | None
    seed: int
    options: Mapping[str, Mapping]
    latency: bool

    def __init__(
        self,
        proxies=DEFAULT_PROXIES,
        preset: str = "live",
        batch: Mapping[str, int] | None = None,
        resolution: int | None = 64,
        seed: int = 0,
        options: Mapping[str, Mapping] | None = None,
        latency: bool = True,
        **legacy,
    ):
        unknown = sorted(set(legacy) - set(LEGACY_KEYS))
        if unknown:
            raise TypeError(f"LiveSettings got unexpected keyword(s) {unknown}")
        if preset not in ("live", "official"):
            raise ValueError(f"preset must be 'live' or 'official', got {preset!r}")
        proxies = list(dict.fromkeys(proxies))
        for n in DEFAULT_PROXIES:  # zen=False / gradsign=False: not shown
            if n in legacy and bool(legacy[n]) != (n in proxies):
                proxies = [*proxies, n] if legacy[n] else [p for p in proxies if p != n]
        for n in proxies:
            get_proxy(n)  # an unknown name is a ProxyError here, not a missing row later
        batch = dict(batch or {}) | {
            n: legacy[f"{n}_batch"] for n in DEFAULT_PROXIES if f"{n}_batch" in legacy
        }
        options = {k: dict(v) for k, v in (options or {}).items()}
        if legacy.get("zen_repeats", 1) != 1:
            options["zen"] = {**options.get("zen", {}), "repeats": int(legacy["zen_repeats"])}
        plain = ProxySettings(preset=preset)  # a batch equal to the preset's is no override
        batch = {k: int(v) for k, v in batch.items() if int(v) != plain.batch_for(get_proxy(k))}
        values = {"proxies": tuple(proxies), "preset": preset, "batch": batch, "resolution": resolution}
        values |= {"seed": int(seed), "options": options, "latency": bool(latency)}
        for k, v in values.items():
            object.__setattr__(self, k, v)

    @classmethod
    def live(cls) -> LiveSettings:
        """Fast enough to follow edits: each proxy's live batch (Zen 16, GradSign 32), <= 64 px."""
        return cls()

    @classmethod
    def paper(cls) -> LiveSettings:
        """Official settings (Zen batch 64, GradSign 128...) at the architecture's own resolution."""
        return cls(preset="official", resolution=None)

    def proxy_settings(self) -> ProxySettings:
        return ProxySettings(
            preset=self.preset,
            batch=dict(self.batch),
            resolution=self.resolution,
            seed=self.seed,
            options={k: dict(v) for k, v in self.options.items()},
        )

    def batch_of(self, name: str) -> int:
        return self.proxy_settings().batch_for(get_proxy(name))

    # the fields before the proxy registry, read back
    zen = property(lambda self: "zen" in self.proxies)
    gradsign = property(lambda self: "gradsign" in self.proxies)
    zen_batch = property(lambda self: self.batch_of("zen"))
    gradsign_batch = property(lambda self: self.batch_of("gradsign"))
    zen_repeats = property(lambda self: int(self.options.get("zen", {}).get("repeats", 1)))

    def to_dict(self) -> dict:
        """Plain data; the keys of the earlier format are written too, for its readers (settings
        recorded with project metrics, an older app)."""
        return {
            "proxies": list(self.proxies),
            "preset": self.preset,
            "batch": dict(self.batch),
            "resolution": self.resolution,
            "seed": self.seed,
            "options": {k: dict(v) for k, v in self.options.items()},
            "latency": self.latency,
            **{k: getattr(self, k) for k in LEGACY_KEYS},
        }

    @classmethod
    def from_dict(cls, d: Mapping | None) -> LiveSettings:
        """Stored settings, in this format or the one before the proxy registry; what does not
        fit (a proxy no longer registered, a damaged value) falls back to the default."""
        d = dict(d or {})
        known = {p.name for p in live_proxies()}
        newer = {"zen": "proxies", "gradsign": "proxies", "zen_repeats": "options"}
        newer |= {f"{n}_batch": "batch" for n in DEFAULT_PROXIES}
        kw: dict = {k: d[k] for k in LEGACY_KEYS if k in d and newer[k] not in d}
        if isinstance(d.get("proxies"), (list, tuple)):
            kw["proxies"] = tuple(n for n in d["proxies"] if n in known)
        if d.get("preset") in ("live", "official"):
            kw["preset"] = d["preset"]
        for key in ("batch", "options"):
            if isinstance(d.get(key), Mapping):
                kw[key] = {k: v for k, v in d[key].items() if k in known}
        res = d.get("resolution", 64)
        kw["resolution"] = res if res is None or (isinstance(res, int) and res > 0) else 64
        kw["seed"] = d.get("seed", 0) if isinstance(d.get("seed", 0), int) else 0
        kw["latency"] = bool(d.get("latency", True))
        try:
            return cls(**kw)
        except (TypeError, ValueError):
            return cls()


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
def device_names() -> tuple[list[str], str]:
    """The devices to offer: this machine first, then the registry's (its own table's file is
    the same device as LOCAL_CPU, so it is not listed twice), and a note when there are none."""
    mine = local_device_name("torch", 1, 1)
    names = [LOCAL_CPU] + [d["name"] for d in list_devices() if d["name"] not in (LOCAL_CPU, mine)]
    return names, "" if len(names) > 1 else "no latency device files found (luts/)"


def default_devices(names: list[str], space: str | None, limit: int = 3) -> list[str]:
    """This machine plus up to `limit` offered devices that cover `space` (the latency registry
    says which), batch 1 first, one per piece of hardware; a graph outside every space gets this
    machine only (its table sums any graph)."""
    offered = set(names)
    covering = [s for s in devices_covering(space) if s["name"] in offered and s["name"] != LOCAL_CPU]
    covering = [s for s in covering if parse_local_name(s["name"]) is None]
    covering.sort(key=lambda s: (s.get("batch") not in (1, None), s["name"]))
    picked, seen = [], set()
    for s in covering:
        hw = str(s.get("hardware") or s["name"]).rsplit("_", 1)[0]  # "2080ti_32": the 2080 Ti
        if hw not in seen:
            seen.add(hw)
            picked.append(s["name"])
    return ([LOCAL_CPU] if LOCAL_CPU in offered else []) + picked[:limit]


def covering_names(space: str | None) -> set[str]:
    """Names of the devices that predict graphs of `space` (this machine predicts any graph)."""
    return {LOCAL_CPU} | {s["name"] for s in devices_covering(space)}


_LOCAL: dict[str, LutDevice] = {}  # this machine's tables by name and by file: one handle each
_LOCAL_LOCK = threading.Lock()
MEASURE_LOCK = threading.Lock()  # measuring into / saving a local table: one caller at a time


def device(name: str) -> Device:
    """The registry's device `name`. This machine's tables are held once per process (an alias and
    the full name share one), measured into in place, so every caller sees what was measured."""
    if parse_local_name(name) is None:
        return load_device(name)
    with _LOCAL_LOCK:
        dev = _LOCAL.get(name)
        if dev is None:
            dev = load_device(name)
            if isinstance(dev, LutDevice):
                dev = _LOCAL.setdefault(str(dev.path.resolve()) if dev.path else name, dev)
                _LOCAL[name] = dev
        return dev


def local_lut_device() -> LutDevice:
    """This machine's layer table of the live row (torch CPU, 1 thread, batch 1)."""
    return device(LOCAL_CPU)


METHODS = {"lut": "LUT", "lut+calibration": "LUT calibrated", "network": "network-wise"}


def _latency_entry(dev: Device, pred: Prediction, measured: list[str]) -> Entry:
    conf = pred.confidence or ("uncalibrated" if pred.method == "lut" else "n/a")
    stale = dev.stale_sources()
    if stale:  # a few-shot head fitted on predictions its sources no longer give
        conf += f"; stale: {', '.join(stale)} changed since adaptation, re-run `latency adapt`"
    if measured:
        conf += f"; {len(measured)} layer(s) measured now"
    extra = {"device": dev.name}
    if isinstance(dev, LutDevice) and dev.local:
        extra["measured_layers"] = len(measured)
    return Entry(pred.ms, method=METHODS.get(pred.method, pred.method), confidence=conf, extra=extra)


def predict_latency(
    graph: ArchGraph,
    name: str,
    should_stop: Callable[[], bool] | None = None,
    *,
    measure: bool = True,
    measure_layer: LayerMeasurer = measure_layer,
) -> dict:
    """The latency entry of `graph` on device `name`, or "n/a" with the reason.

    A table of this machine that lacks layers measures them first (`should_stop()` asked between
    layers; what was measured is kept); with `measure=False` it answers at once with a pending
    entry (`"pending": PENDING`) for the caller to fill by calling again. Any error of one device
    is its row's reason: the other rows never depend on it."""
    t0 = time.perf_counter()
    measured: list[str] = []
    try:
        dev = device(name)
        pred = predict_graph(dev, graph, on_missing="report")
        if pred.ms is None and pred.missing_keys and isinstance(dev, LutDevice) and dev.can_measure():
            n = len(pred.missing_keys)
            if not measure:
                return {
                    "value": None,
                    "pending": PENDING,
                    "reason": f"measuring {n} new layer(s) on this machine\u2026",
                    "missing_layers": n,
                    "device": dev.name,
                }
            with MEASURE_LOCK:
                res = measure_missing(dev, graph, should_stop=should_stop, measure=measure_layer)
            if res.stopped:
                raise Stopped
            measured = res.measured
            pred = predict_graph(dev, graph, on_missing="report")
        if pred.ms is None:
            return na(pred.reason or "no prediction for this architecture")
        entry = _latency_entry(dev, pred, measured)
    except Stopped:
        raise
    except Exception as e:  # noqa: BLE001 - an unknown device or a broken file is this row's n/a
        return na(_one_line(e))
    entry.seconds = time.perf_counter() - t0
    return entry.as_dict()


# -- proxies --------------------------------------------------------------------------------------
@dataclass
class _ProxyJob:
    """Proxies computed together (one build shared) on one graph with one set of settings."""

    names: list[str]
    settings: ProxySettings
    graph: ArchGraph
    report: Report
    population: bool = False


def _at_resolution(graph: ArchGraph, report: Report, resolution: int | None) -> tuple[ArchGraph, Report]:
    if resolution is None or resolution == graph.resolution:
        return graph, report
    g = graph.copy()
    g.set_params(g.input_node, resolution=int(resolution))
    return g, reshaped(g, report)


def _proxy_jobs(graph: ArchGraph, report: Report, s: LiveSettings, parallel: bool, ref) -> list[_ProxyJob]:
    """Per-network proxies at the live settings but never above the graph's own resolution (an
    NB201 cell at 64 px costs four times its own 32 px; the reference samples are scored so too),
    with `parallel` those built without shortcuts apart from the others; the population proxies at
    their reference sample's settings (none without a sample: nothing to place them in)."""
    names = [n for n in s.proxies if n not in COUNTS]
    plain = [n for n in names if not get_proxy(n).population]
    pop = [n for n in names if get_proxy(n).population]
    jobs = []
    if plain:
        ps = s.proxy_settings()
        res = min(ps.resolution, graph.resolution) if ps.resolution else None
        g, r = _at_resolution(graph, report, res)
        lanes = {get_proxy(n).residual_free: [] for n in plain} if parallel else {False: []}
        for n in plain:
            lanes[get_proxy(n).residual_free if parallel else False].append(n)
        jobs += [_ProxyJob(lane, replace(ps, resolution=None), g, r) for lane in lanes.values()]
    if pop and ref[0] is not None:
        rs = settings_for(graph)
        g, r = _at_resolution(graph, report, rs.resolution)
        jobs.append(_ProxyJob(pop, replace(rs, resolution=None), g, r, population=True))
    return jobs


def _reference(graph: ArchGraph) -> tuple[str | None, int, str]:
    """(the space whose reference sample places this graph, its size, why there is none)."""
    name = graph.meta.get("space")
    if not name:
        return None, 0, "custom graph: no reference sample of its space to place it in"
    space = find_space(name)
    if space is None or space.recognise(graph) is None:
        return None, 0, f"edited out of {name}: no reference sample to place it in"
    nets = load_reference(name)
    if not nets:
        how = f"python -m explorer.proxies.reference --space {name}"
        return None, 0, f"no reference sample of {name} yet (build one: `{how}`)"
    return name, len(nets), ""


def _proxy_entry(job: _ProxyJob, v: ProxyValue, ref: tuple[str | None, int, str]) -> dict:
    if v.message:
        return na(v.message)
    p = get_proxy(v.name)
    if job.population:
        space, n, why = ref
        if space is None:
            return na(why)
        pct = space_percentile(space, v.name, v)
        if pct is None:
            return na(f"no percentile in the {space} reference sample")
        where = f"in {space} ({n}-net reference)"
        extra = {"unit": "percentile", "reference": where, "parts": dict(v.parts)}
        return Entry(pct, method="percentile", confidence=where, seconds=v.seconds, extra=extra).as_dict()
    if v.score is None:
        return na(f"{p.label} gave no score")
    method = f"b{job.settings.batch_for(p)} r{job.graph.resolution}" if p.data != "none" else "core"
    opts = job.settings.options.get(p.name)
    if opts:
        method += " " + " ".join(f"{k}={x}" for k, x in sorted(opts.items()))
    return Entry(float(v.score), method=method, seconds=v.seconds).as_dict()


def _run_job(job: _ProxyJob, emit: Callable[[str, dict], None], should_stop, ref) -> None:
    """Every proxy of `job`, each emitted as it is known. A proxy that fails with a bug (not an
    ExplorerError, which is its value's message) says so in its row (and in the rows of the
    ensembles it is a member of); the rest of the job still runs."""
    if not job.report.ok:
        for n in job.names:
            emit(n, na(f"at resolution {job.graph.resolution}: {job.report.issues[0]}"))
        return
    seen: set[str] = set()

    def on_value(name: str, v: ProxyValue) -> None:
        seen.add(name)
        if name in job.names:
            emit(name, _proxy_entry(job, v, ref))

    left = list(job.names)
    while left:
        try:
            with trusted(job.graph, job.report):
                compute_many(job.graph, left, job.settings, should_stop=should_stop, on_value=on_value)
            return
        except Exception as e:  # noqa: BLE001 - one broken proxy must not blank the others
            bad = next((n for n in expand(left) if n not in seen), None)
            if bad is None:  # not a proxy's failure (its value was handed on): the caller's
                raise
            seen.add(bad)
            for n in left:
                if n == bad:
                    emit(n, na(_one_line(e)))
                elif bad in get_proxy(n).members:
                    seen.add(n)
                    emit(n, na(f"member {bad} failed: {_one_line(e)}"))
            left = [n for n in left if n not in seen]


def _run_jobs(jobs: list[_ProxyJob], put, should_stop, parallel: bool, ref) -> None:
    """The jobs side by side (each is small-batch work that one core runs about as fast as two
    OpenMP threads, so on two cores this saves the shorter one outright), their entries handed
    to `put` on this thread as they arrive; one after the other without `parallel`."""
    if not parallel or len(jobs) < 2:
        for job in jobs:
            if should_stop():
                raise Stopped
            _run_job(job, put, should_stop, ref)
        return
    q: queue.Queue = queue.Queue()
    done = object()

    def lane(job: _ProxyJob) -> None:
        try:
            _run_job(job, lambda k, e: q.put((k, e)), should_stop, ref)
        except BaseException as e:  # noqa: BLE001 - raised again on the caller's thread
            q.put((None, e))
        finally:
            q.put(done)

    threads = [threading.Thread(target=lane, args=(j,), name="live-proxies", daemon=True) for j in jobs]
    for t in threads:
        t.start()
    error, left = None, len(threads)
    while left:
        item = q.get()
        if item is done:
            left -= 1
        elif item[0] is None:
            error = error or item[1]
        elif error is None:
            put(*item)
    for t in threads:
        t.join()
    if error is not None:
        raise error


# -- the whole set --------------------------------------------------------------------------------
def count_entries(graph: ArchGraph, report: Report) -> dict[str, dict]:
    """Params and MACs of a valid graph from its report (shapes alone: the editor shows them at
    each edit, before any debounce)."""
    t0 = time.perf_counter()
    with trusted(graph, report):
        c = count_complexity(graph)
    dt = time.perf_counter() - t0
    return {
        "params": Entry(float(c.params), method="core", seconds=dt).as_dict(),
        "macs": Entry(float(c.macs), method="core", seconds=dt).as_dict(),
    }


def metric_keys(devices, settings: LiveSettings | None = None) -> list[str]:
    """Every key compute_metrics gives, in the order they arrive when nothing is measured."""
    s = settings or LiveSettings()
    return [*COUNTS, *(f"latency:{d}" for d in devices), *(n for n in s.proxies if n not in COUNTS)]


def compute_metrics(
    graph: ArchGraph,
    settings: LiveSettings | None = None,
    devices: list[str] | tuple[str, ...] = (),
    should_stop: Callable[[], bool] = lambda: False,
    on_entry: Callable[[str, dict], None] | None = None,
    parallel: bool | None = None,
    *,
    report: Report | None = None,
    generation: int | None = None,
    measure: str = "inline",
    measure_layer: LayerMeasurer = measure_layer,
) -> dict:
    """{"params", "macs", "latency:<device>"..., proxy name...: entry dicts}, each with the graph's
    "digest" (explorer.edits.graph_digest) and `generation` when given.

    `report` is the caller's validation of this very graph (the editor validates each edit once);
    without it the graph is validated here, once. Entries arrive through `on_entry(key, entry)` as
    soon as each is known: the counts, then every device's row (predictions are sums or one model
    call), then the proxies (`parallel`, default with two or more CPUs: side by side). A table
    of this machine that lacks layers measures them last (`measure="inline"`), or leaves a pending
    entry for the caller to fill with `predict_latency` (`measure="defer"`: the GUI measures in
    the background). Raises Stopped when `should_stop()` turns true between metrics."""
    if measure not in ("inline", "defer"):
        raise ValueError(f"measure must be 'inline' or 'defer', got {measure!r}")
    settings = settings or LiveSettings()
    stamp = {"digest": graph_digest(graph)}
    if generation is not None:
        stamp["generation"] = generation
    out: dict[str, dict] = {}

    def put(key: str, entry: dict) -> None:
        entry = {**entry, **stamp}
        out[key] = entry
        if on_entry is not None:
            on_entry(key, entry)

    def check_stop() -> None:
        if should_stop():
            raise Stopped

    report = validate(graph) if report is None else report
    if not report.ok:
        reason = f"invalid graph: {report.issues[0]}"
        for k in metric_keys(devices, settings):
            put(k, na(reason))
        return out
    if parallel is None:
        parallel = (os.cpu_count() or 1) >= 2
    with trusted(graph, report):
        for key, entry in count_entries(graph, report).items():
            put(key, entry)
        pending = []
        for d in devices:
            check_stop()
            if not settings.latency:
                put(f"latency:{d}", na("disabled in settings"))
                continue
            e = predict_latency(graph, d, should_stop, measure=False)
            put(f"latency:{d}", e)
            if e.get("pending"):
                pending.append(d)
        check_stop()
        ref = (None, 0, "")
        population = [n for n in settings.proxies if get_proxy(n).population]
        if population:
            ref = _reference(graph)
            for n in population if ref[0] is None else ():
                put(n, na(ref[2]))
        jobs = _proxy_jobs(graph, report, settings, parallel, ref)
        _run_jobs(jobs, put, should_stop, parallel, ref)
        check_stop()
        if measure == "inline":
            for d in pending:
                put(f"latency:{d}", predict_latency(graph, d, should_stop, measure_layer=measure_layer))
    return out
