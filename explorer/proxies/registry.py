"""The proxy registry: one entry per zero-shot proxy, so a new proxy lands in one place.

Each proxy module registers a `Proxy` (name, label, what data it needs, its official and live
batch sizes, and a `run` function). Callers (the live view, `nas-explorer score`, batch scoring,
the estimators' trust panel) ask the registry instead of naming proxy functions:

    value = compute("zico", graph, ProxySettings.official())
    values = compute_many(graph, ["zen", "az-nas", "meco"], settings)   # one build shared

A proxy whose final score is a rank aggregate over a population (AZ-NAS, the ensemble) computes
per-network *parts* here; `population_scores` (explorer.proxies.population) turns the parts of a
population into scores.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import torch.nn as nn

from explorer.proxies._model import ProxyError

# what a proxy feeds the network
DATA_KINDS = ("none", "random", "images", "labelled")


@dataclass(frozen=True)
class ProxySettings:
    """How to compute: `preset` picks each proxy's official or live batch; overrides win."""

    preset: str = "official"  # "official" | "live"
    batch: dict = field(default_factory=dict)  # proxy name -> batch size
    resolution: int | None = None  # None: the architecture's own
    seed: int = 0  # build seed (PyTorch default init after manual_seed) and proxies' own seed
    data: str | None = None  # image source for data proxies (None: the CIFAR-10 sample)
    options: dict = field(default_factory=dict)  # proxy name -> keyword options of its function

    @classmethod
    def official(cls, **kw) -> ProxySettings:
        return cls(preset="official", **kw)

    @classmethod
    def live(cls, **kw) -> ProxySettings:
        return cls(preset="live", **kw)

    def batch_for(self, proxy: Proxy) -> int:
        if proxy.name in self.batch:
            return int(self.batch[proxy.name])
        return proxy.live_batch if self.preset == "live" else proxy.official_batch

    def with_batch(self, name: str, n: int) -> ProxySettings:
        return replace(self, batch={**self.batch, name: int(n)})

    def to_dict(self) -> dict:
        return {
            "preset": self.preset,
            "batch": dict(self.batch),
            "resolution": self.resolution,
            "seed": self.seed,
            "data": self.data,
            "options": {k: dict(v) for k, v in self.options.items()},
        }


@dataclass
class ProxyValue:
    """One proxy on one network: its score (None when only a population gives one, or on failure),
    its per-network parts (AZ-NAS components, ensemble members), the proxy's own result dict."""

    name: str
    score: float | None
    parts: dict[str, float] = field(default_factory=dict)
    detail: dict = field(default_factory=dict)
    seconds: float = 0.0
    message: str = ""

    @property
    def ok(self) -> bool:
        return not self.message and (self.score is not None or bool(self.parts))

    def to_dict(self) -> dict:
        d = {"score": _finite_or_none(self.score), "seconds": round(self.seconds, 4)}
        if self.parts:
            d["parts"] = {k: _finite_or_none(v) for k, v in self.parts.items()}
        if self.detail:
            d["detail"] = self.detail
        if self.message:
            d["message"] = self.message
        return d


def _finite_or_none(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


class Inputs:
    """What a proxy's `run` gets: the settings resolved for it, the graph's input shape, and
    cached image batches (one load of the CIFAR sample per batch size and resolution)."""

    def __init__(self, proxy: Proxy, settings: ProxySettings, resolution: int, channels: int):
        self.proxy = proxy
        self.settings = settings
        self.batch_size = settings.batch_for(proxy)
        self.resolution = resolution
        self.channels = channels
        self.seed = settings.seed
        self.options = dict(settings.options.get(proxy.name, {}))

    def images(self, n: int | None = None, *, augment: bool = False):
        return _batch(n or self.batch_size, self.resolution, self.settings.data, augment, self.seed)[0]

    def labelled(self, n: int | None = None):
        return _batch(n or self.batch_size, self.resolution, self.settings.data, False, self.seed)


@functools.lru_cache(maxsize=16)
def _batch(n: int, resolution: int, source: str | None, augment: bool, seed: int):
    from explorer.data import gradsign_batch

    images, labels = gradsign_batch(n, resolution, source=source, augment=augment, seed=seed)
    images.requires_grad_(False)
    return images, labels


# run(model, inputs) -> (score or None, parts, detail dict)
RunFn = Callable[[nn.Module, Inputs], tuple[float | None, dict, dict]]


@dataclass(frozen=True)
class Proxy:
    name: str  # the name users type (`--proxies`, CSV columns, live metric keys)
    label: str
    summary: str  # one line: the method and its paper
    data: str  # one of DATA_KINDS
    official_batch: int
    live_batch: int
    run: RunFn
    components: tuple[str, ...] = ()  # per-network parts of a population proxy
    population: bool = False  # the score is a rank aggregate within a population
    residual_free: bool = False  # built without shortcuts (Zen-Score)
    needs_grad: bool = True  # backward passes (memory estimate: training mode)
    chunked: bool = False  # runs its batch in chunks (memory estimate: one sample)
    members: tuple[str, ...] = ()  # an ensemble's default member proxies


_PROXIES: dict[str, Proxy] = {}
_BUILTIN = (
    "explorer.proxies.complexity_proxies",
    "explorer.proxies.zen",
    "explorer.proxies.gradsign",
    "explorer.proxies.synflow",
    "explorer.proxies.naswot",
    "explorer.proxies.zico",
    "explorer.proxies.meco",
    "explorer.proxies.aznas",
    "explorer.proxies.ensemble",
)
_loaded = False


def register_proxy(proxy: Proxy) -> Proxy:
    if proxy.data not in DATA_KINDS:
        raise ValueError(f"proxy {proxy.name!r}: data must be one of {DATA_KINDS}")
    if proxy.name in _PROXIES and _PROXIES[proxy.name] is not proxy:
        raise ValueError(f"proxy {proxy.name!r} registered twice")
    _PROXIES[proxy.name] = proxy
    return proxy


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        import importlib

        for mod in _BUILTIN:
            importlib.import_module(mod)


def list_proxies() -> list[Proxy]:
    _load()
    return list(_PROXIES.values())


def proxy_names() -> list[str]:
    return [p.name for p in list_proxies()]


def get_proxy(name: str) -> Proxy:
    _load()
    if isinstance(name, str) and name in _PROXIES:
        return _PROXIES[name]
    raise ProxyError(f"unknown proxy {str(name)[:60]!r} (known: {', '.join(_PROXIES)})")


def parse_proxies(text: str) -> list[str]:
    """A comma-separated list of registered names, in order, without repeats."""
    names = list(dict.fromkeys(t.strip() for t in str(text).split(",") if t.strip()))
    if not names:
        raise ProxyError(f"no proxy named in {text!r} (known: {', '.join(proxy_names())})")
    for n in names:
        get_proxy(n)
    return names


def expand(names: Iterable[str]) -> list[str]:
    """`names` plus the members of any ensemble among them (each computed once)."""
    out: list[str] = []
    for n in names:
        p = get_proxy(n)
        for m in (*p.members, n):
            if m not in out:
                out.append(m)
    return out


# -- computing ------------------------------------------------------------------------------------
def _graph_shape(graph, settings: ProxySettings) -> tuple[int, int]:
    channels, res, _ = graph.input_shape
    return channels, int(settings.resolution or res)


def _at_resolution(graph, resolution: int):
    if resolution == graph.input_shape[1]:
        return graph
    from explorer.arch import check

    g = graph.copy()
    g.set_params(g.input_node, resolution=int(resolution))
    check(g)
    return g


def compute(name: str, graph, settings: ProxySettings | None = None) -> ProxyValue:
    """One proxy on an ArchGraph; ProxyError (and other ExplorerErrors) propagate."""
    return compute_many(graph, [name], settings, errors="raise")[name]


def compute_many(
    graph,
    names: Sequence[str],
    settings: ProxySettings | None = None,
    *,
    errors: str = "keep",
    should_stop: Callable[[], bool] | None = None,
    on_value: Callable[[str, ProxyValue], None] | None = None,
) -> dict[str, ProxyValue]:
    """Several proxies on one ArchGraph, sharing one seeded build (one residual-free build for the
    proxies that want it). Ensembles pull in their members. `errors="keep"` turns an
    ExplorerError of one proxy into that value's message; "raise" lets it propagate.
    `on_value(name, value)` hears each value as soon as it is known (the live view shows them
    one by one)."""
    from explorer.arch import build_model, check_memory
    from explorer.errors import ExplorerError

    settings = settings or ProxySettings()
    channels, res = _graph_shape(graph, settings)
    graph = _at_resolution(graph, res)
    wanted = expand(names)
    built: dict[bool, nn.Module] = {}
    out: dict[str, ProxyValue] = {}
    for n in wanted:
        if should_stop is not None and should_stop():
            break
        p = get_proxy(n)
        t0 = time.perf_counter()
        try:
            if p.members:
                value = ensemble_value(p, out)
            else:
                inputs = Inputs(p, settings, res, channels)
                if p.data != "none":
                    batch = 1 if p.chunked else inputs.batch_size
                    check_memory(graph, batch, training=p.needs_grad, what=f"{p.label} (batch {batch})")
                if p.data != "none" and p.residual_free not in built:
                    built[p.residual_free] = build_model(
                        graph, residual_free=p.residual_free, seed=settings.seed
                    )
                model = built.get(p.residual_free)
                score, parts, detail = p.run(graph if p.data == "none" else model, inputs)
                value = ProxyValue(n, score, dict(parts), dict(detail))
        except ExplorerError as e:
            if errors == "raise":
                raise
            value = ProxyValue(n, None, message=str(e).splitlines()[0] if str(e) else type(e).__name__)
        value.seconds = time.perf_counter() - t0
        out[n] = value
        if on_value is not None:
            on_value(n, value)
    return out


def ensemble_value(p: Proxy, out: dict[str, ProxyValue]) -> ProxyValue:
    """An ensemble's parts: each member's score, or a population member's parts as `member:part`."""
    parts: dict[str, float] = {}
    for m in p.members:
        mv = out[m]
        if get_proxy(m).population:
            parts.update({f"{m}:{k}": v for k, v in mv.parts.items()})
        else:
            parts[m] = mv.score if mv.score is not None else math.nan
    value = ProxyValue(p.name, None, parts)
    bad = [m for m in p.members if out[m].message]
    if bad:
        value.message = f"member {bad[0]} failed: {out[bad[0]].message}"
    return value
