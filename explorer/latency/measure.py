"""The measurement protocol (../shared/notes/latency.md): one function times anything on one runtime.

Why each rule: a fixed thread count because OpenMP spin-waiting makes multi-thread timings spike
10-300x when another process is busy; eval + inference mode and a fixed input shape so every run
does the same work; >= 10 warm-up runs for allocator and kernel caches; the *median* of >= 30 runs
with p10/p90 so single preemptions do not move the figure; the CPU time other processes used
during the runs (from /proc/stat) and the p90/p10 dispersion to detect foreign load, in which case
the measurement is repeated (a few times, after a pause) and flagged when it never came out clean.
Every record carries the runtime, its version, CPU model, threads and batch size: a "device" is
hardware x runtime x threads x batch.

Statistic and rounds (new devices; files without them keep median / 1 round): a shared host slows
this process down for ~0.5-2 s stretches that neither the load monitor nor the thread CPU clock sees
(cache and memory-bandwidth contention count as our own CPU time). Noise of that kind only ever
*adds* time, so the per-run **minimum** estimates the undisturbed latency (the estimator timeit and
Chen & Revels, "Robust benchmarking in noisy environments", 2016, recommend), and measuring every
layer / network in several **rounds** spread over time (each a full warm-up + runs, other items in
between) and keeping the fastest round makes one bad stretch harmless. Measured on the 2-core VM
here: the same layer measured twice agreed within +-10 % for 35 % of 810 OFA keys by the median of
one round, 72 % by the minimum, 90 % by the minimum of two rounds; whole nets 98 % (min, 2 rounds).

Context (new devices; files without it keep 'isolated'): a layer timed back to back keeps its
weights, input and output buffer in the core's caches, which no network does, so layers are
measured *interleaved*: one run of each per pass, in execution order, after the layers that
precede it in the graph (`measure_sequence`). Whole networks run back to back, as deployed. The C
allocator is settled first (`settle_allocator`), so no measurement depends on what ran before.

Runtimes: ``torch`` (CPU, eager), ``onnxruntime`` (CPU; the module is exported to ONNX in memory)
and ``torch-cuda`` (CUDA events, synchronised per run).
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from explorer.errors import ExplorerError

from .host import LoadMonitor, cpu_count, environment

RUNTIMES = ("torch", "onnxruntime", "torch-cuda")
RUNTIME_ALIASES = {"torch": "torch", "torch-cpu": "torch", "onnxruntime": "onnxruntime", "ort": "onnxruntime"}
RUNTIME_ALIASES.update({"onnxruntime-cpu": "onnxruntime", "torch-cuda": "torch-cuda", "cuda": "torch-cuda"})


STATISTICS = ("median", "min", "p10")  # entry fields a table may be summed over
CONTEXTS = ("interleaved", "isolated")  # how layers are run while measured (see measure_sequence)
MIN_SPREAD_MS = 0.01  # below this p90 - p10 is timer noise, not disturbance (tiny layers)


class MeasureError(ExplorerError):
    """A module or network could not be measured on the requested runtime."""


def canonical_runtime(runtime: str) -> str:
    r = str(runtime).strip().lower()
    if r not in RUNTIME_ALIASES:
        raise MeasureError(f"unknown runtime {runtime!r}; expected one of {list(RUNTIMES)}")
    return RUNTIME_ALIASES[r]


@dataclass(frozen=True)
class MeasureConfig:
    """How to measure: the device part (runtime, threads, batch) and the protocol part."""

    runtime: str = "torch"
    threads: int = 1  # 0: all cores this process may use
    batch: int = 1
    warmup: int = 10
    runs: int = 30
    max_runs: int = 200  # tiny layers get more runs (up to this) so they fill `min_time_s`
    min_time_s: float = 0.05
    max_attempts: int = 3  # measurements repeated under foreign load
    foreign_threshold: float = 0.25  # cores of CPU time used by other processes during the runs
    max_dispersion: float = 1.5  # p90 / p10 above this counts as disturbed
    pause_s: float = 0.2  # wait before a repeat (grows with the attempt number)
    clock: str = "auto"  # 'wall' | 'cpu' (thread CPU time) | 'auto' (see measure_callable)
    statistic: str = "min"  # the figure a table entry / network contributes (see the module doc)
    rounds: int = 3  # separate measurements per layer / network; the fastest one is kept
    context: str = "interleaved"  # layers: 'interleaved' (as in a network) or 'isolated' (back to back)

    def __post_init__(self):
        object.__setattr__(self, "runtime", canonical_runtime(self.runtime))
        if self.threads == 0:
            object.__setattr__(self, "threads", cpu_count())
        if self.clock not in ("auto", "wall", "cpu"):
            raise MeasureError(f"clock must be auto, wall or cpu, got {self.clock!r}")
        if self.clock == "cpu" and not cpu_clock_valid(self):
            raise MeasureError("clock 'cpu' measures single-thread CPU runtimes only (threads 1, not CUDA)")
        if self.statistic not in STATISTICS:
            raise MeasureError(f"statistic must be one of {list(STATISTICS)}, got {self.statistic!r}")
        if self.context not in CONTEXTS:
            raise MeasureError(f"context must be one of {list(CONTEXTS)}, got {self.context!r}")
        ints = (("threads", 1), ("batch", 1), ("warmup", 0), ("runs", 1), ("max_attempts", 1), ("rounds", 1))
        for name, low in ints:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise MeasureError(f"{name} must be an integer >= {low}, got {v!r}")

    def protocol(self) -> dict:
        d = asdict(self)
        for k in ("runtime", "threads", "batch"):
            d.pop(k)
        return d

    def with_protocol(self, protocol: dict | None) -> MeasureConfig:
        known = {k: v for k, v in (protocol or {}).items() if k in self.protocol()}
        return replace(self, **known)


# -- records -------------------------------------------------------------------------------------
@dataclass
class Measurement:
    """One measured thing: summary statistics (ms), how it was measured, and whether it is clean."""

    median_ms: float
    mean_ms: float
    p10_ms: float
    p90_ms: float
    std_ms: float
    min_ms: float
    count: int
    attempts: int = 1
    foreign_load: bool = False
    foreign_cpu: float | None = None  # cores used by other processes during the kept attempt
    dispersion: float = 1.0  # p90 / p10 of the kept attempt
    clock: str = "wall"  # 'wall' (GPU time for CUDA) or 'cpu' (this thread's CPU time)
    env: dict = field(default_factory=dict)

    def entry(self) -> dict:
        """The compact form stored per LUT key (environment is stored once per table)."""
        return {
            "median": round(self.median_ms, 6),
            "mean": round(self.mean_ms, 6),
            "p10": round(self.p10_ms, 6),
            "p90": round(self.p90_ms, 6),
            "std": round(self.std_ms, 6),
            "min": round(self.min_ms, 6),
            "count": self.count,
            "attempts": self.attempts,
            "foreign_load": self.foreign_load,
            "clock": self.clock,
        }

    def value(self, statistic: str = "median") -> float:
        """The figure `statistic` ('median', 'min' or 'p10') names, in ms."""
        if statistic not in STATISTICS:
            raise MeasureError(f"statistic must be one of {list(STATISTICS)}, got {statistic!r}")
        return float(getattr(self, f"{statistic}_ms"))

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(times_ms: Sequence[float]) -> dict:
    t = np.asarray(times_ms, dtype=np.float64)
    p10, med, p90 = np.percentile(t, [10, 50, 90])
    return {
        "median_ms": float(med),
        "mean_ms": float(t.mean()),
        "p10_ms": float(p10),
        "p90_ms": float(p90),
        "std_ms": float(t.std()),
        "min_ms": float(t.min()),
        "count": int(t.size),
    }


# -- table entries -------------------------------------------------------------------------------
def entry_ms(entry: dict) -> float:
    """The figure a table entry (a layer's or a network's) contributes: the statistic it names in
    "stat" (its device protocol's), else the median where measured here, else the mean (OFA)."""
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


# -- runtimes ------------------------------------------------------------------------------------
@contextlib.contextmanager
def thread_scope(threads: int) -> Iterator[None]:
    """Fix torch's intra-op threads (and the OpenMP/MKL variables that subprocesses inherit) for
    the duration; restore afterwards. Denormals are flushed so random weights cannot hit the slow
    subnormal path in one measurement and not in another."""
    import torch

    prev_threads = torch.get_num_threads()
    prev_env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    torch.set_num_threads(threads)
    for k in prev_env:
        os.environ[k] = str(threads)
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        torch.set_num_threads(prev_threads)
        for k, v in prev_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def make_inputs(input_shapes: Sequence[Sequence[int]], batch: int, seed: int = 0):
    import torch

    gen = torch.Generator().manual_seed(seed)
    return [torch.randn((batch, *shape), generator=gen) for shape in input_shapes]


def onnx_bytes(module, inputs) -> bytes:
    """Export to ONNX in memory (TorchScript exporter: no files, no dynamo tracing cost)."""
    import torch

    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")
        names = [f"x{i}" for i in range(len(inputs))]
        try:
            torch.onnx.export(module, tuple(inputs), buf, input_names=names, opset_version=17, dynamo=False)
        except TypeError:  # older torch without the `dynamo` argument
            torch.onnx.export(module, tuple(inputs), buf, input_names=names, opset_version=17)
    return buf.getvalue()


def _runner(module, input_shapes, config: MeasureConfig) -> Callable[[], float | None]:
    """A zero-argument callable running the module once; returns its GPU time (ms) for CUDA."""
    import torch

    module = module.eval()
    inputs = make_inputs(input_shapes, config.batch)
    if config.runtime == "torch":

        def run():
            with torch.inference_mode():
                module(*inputs)

        return run
    if config.runtime == "onnxruntime":
        try:
            import onnxruntime as ort
        except ImportError:
            raise MeasureError("runtime onnxruntime is not installed (pip install onnxruntime)") from None
        try:
            model = onnx_bytes(module, inputs)
        except Exception as e:
            raise MeasureError(f"ONNX export failed: {type(e).__name__}: {str(e).splitlines()[0]}") from e
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = config.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        feeds = {i.name: x.numpy() for i, x in zip(sess.get_inputs(), inputs)}

        def run():
            sess.run(None, feeds)

        return run
    if not torch.cuda.is_available():
        raise MeasureError("runtime torch-cuda needs a CUDA GPU; none is available here")
    dev = torch.device("cuda")
    module = module.to(dev)
    inputs = [x.to(dev) for x in inputs]
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def run_cuda():
        with torch.inference_mode():
            start.record()
            module(*inputs)
            end.record()
        end.synchronize()
        return start.elapsed_time(end)

    return run_cuda


def _time_runs(run: Callable[[], float | None], n: int) -> tuple[list[float], list[float]]:
    """Per-run (wall or GPU ms, this thread's CPU ms)."""
    wall, cpu = [], []
    clock, tclock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(n):
        t0, c0 = clock(), tclock()
        gpu = run()
        c1, t1 = tclock(), clock()
        wall.append(gpu if gpu is not None else (t1 - t0) / 1e6)
        cpu.append((c1 - c0) / 1e6)
    return wall, cpu


def cpu_clock_valid(config: MeasureConfig) -> bool:
    """Thread CPU time equals latency only when all the work runs in the calling thread: one
    intra-op thread on a CPU runtime (torch and onnxruntime then run inline, no pool)."""
    return config.threads == 1 and config.runtime in ("torch", "onnxruntime")


def measure_callable(run: Callable[[], float | None], config: MeasureConfig) -> Measurement:
    """Time `run` by the protocol (threads must already be fixed; see `measure_module`).

    Clock 'auto': wall time, except when other processes were busy during the runs and the
    measurement is single-threaded on the CPU: then this thread's CPU time, which preemption does
    not inflate (on a quiet machine the two agree for compute-bound single-thread work). The
    record keeps `foreign_load: true` and says which clock it used."""
    use_cpu_ok = cpu_clock_valid(config)
    attempts: list[tuple[bool, dict, float | None, float, str]] = []
    for attempt in range(config.max_attempts):
        if attempt:
            time.sleep(config.pause_s * attempt)
        warm, _ = _time_runs(run, max(config.warmup, 1))
        per_run = max(float(np.median(warm[len(warm) // 2 :])), 1e-3)
        n = max(config.runs, min(config.max_runs, math.ceil(config.min_time_s * 1000 / per_run)))
        monitor = LoadMonitor().start()
        wall, cpu = _time_runs(run, n)
        foreign = monitor.stop()
        loaded = foreign is not None and foreign > config.foreign_threshold
        clock = (
            "cpu" if config.clock == "cpu" or (config.clock == "auto" and loaded and use_cpu_ok) else "wall"
        )
        s = summarize(cpu if clock == "cpu" else wall)
        disp = s["p90_ms"] / max(s["p10_ms"], 1e-9)
        spread = disp > config.max_dispersion and s["p90_ms"] - s["p10_ms"] > MIN_SPREAD_MS
        disturbed = loaded or spread
        attempts.append((disturbed, s, foreign, disp, clock))
        if not disturbed or (clock == "cpu" and not spread):
            break
    clean = [a for a in attempts if not a[0]] or [a for a in attempts if a[4] == "cpu"] or attempts
    disturbed, s, foreign, disp, clock = min(clean, key=lambda a: a[1]["median_ms"])
    return Measurement(
        **s,
        attempts=len(attempts),
        foreign_load=disturbed,
        foreign_cpu=None if foreign is None else round(foreign, 3),
        dispersion=round(disp, 4),
        clock=clock,
    )


# just under glibc's largest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX, 32 MiB on 64-bit)
SETTLE_BYTES = 30 << 20


@functools.lru_cache(maxsize=1)
def settle_allocator() -> None:
    """Put the C allocator in the state a long-running process reaches, once per process.

    glibc malloc serves blocks above a threshold by mmap and returns the heap's free top to the
    system above twice that; the threshold starts at 128 KiB and rises to the largest mmapped
    block ever freed (mallopt(3)). Until some process history raised it, a network whose feature
    maps are a few MB gives its memory back after every forward and page-faults it in again on
    the next: measured here, EfficientNet-B0 at 224 took 2,800 faults and +17 % per forward in a
    fresh process, none after a larger model had run, and isolated layers (the same few buffers
    reused) barely fault at all. One freed 30 MB block sets the threshold for good, so every
    measurement sees the same, fault-free steady state whatever ran before it. Elsewhere this is
    a harmless allocation."""
    import torch

    torch.empty(SETTLE_BYTES, dtype=torch.uint8)  # mmapped, and unmapped as it is dropped


def measure_module(module, input_shapes: Sequence[Sequence[int]], config: MeasureConfig) -> Measurement:
    """Measure one torch module (a layer or a whole network) on `config`'s runtime.

    `input_shapes` exclude the batch dimension; the batch size comes from the config."""
    import torch

    config = MeasureConfig(**asdict(config))  # re-validate (threads=0 -> all cores)
    settle_allocator()
    with thread_scope(config.threads):
        with torch.inference_mode(False):
            run = _runner(module, input_shapes, config)
        try:
            m = measure_callable(run, config)
        except RuntimeError as e:
            raise MeasureError(f"{config.runtime} failed to run the module: {str(e).splitlines()[0]}") from e
    m.env = environment(config)
    return m


def measure_sequence(
    items: Sequence[tuple[object, Sequence[Sequence[int]]]],
    config: MeasureConfig,
    timed: Iterable[int] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[Measurement | None] | None:
    """Measure torch modules the way a network runs them (the 'interleaved' context): each pass
    runs every item once, in order, so a layer is never timed right after itself; its input is
    read just before its run (in a network it was just written) and its weights, output buffer
    and code come from wherever the other items left the caches. Returns one Measurement per
    index in `timed` (default all; the others only run, as context), None elsewhere; None
    altogether when `should_stop()`, asked between passes, said stop.

    Why: timed back to back (`measure_module`) a layer keeps its weights, input, output buffer
    and kernel hot in L1/L2, a state no network reaches. Measured here (1 thread, 224x224, 12
    zoo models) the sum of such layers was 0.59-0.91 of the network, by family; replayed in
    execution order 0.85-1.16, 10 of 12 within +-10 %. Passes: `warmup` + `runs`; the clock
    falls back to this thread's CPU time under foreign load as in `measure_callable`; there are
    no repeats (`rounds` spread over time do that). CPU torch only."""
    import torch

    config = MeasureConfig(**asdict(config))
    if config.runtime != "torch":
        raise MeasureError(f"interleaved measurement runs on the torch CPU runtime, not {config.runtime}")
    idx = list(range(len(items))) if timed is None else sorted(set(timed))
    settle_allocator()
    out: list[Measurement | None] = [None] * len(items)
    if not idx:
        return out
    with thread_scope(config.threads):
        with torch.inference_mode(False):
            runs = [(m.eval(), make_inputs(sh, config.batch, seed=i)) for i, (m, sh) in enumerate(items)]
        wall: dict[int, list[float]] = {i: [] for i in idx}
        cpu: dict[int, list[float]] = {i: [] for i in idx}
        clock, tclock = time.perf_counter_ns, time.thread_time_ns
        monitor = LoadMonitor()
        try:
            with torch.inference_mode():
                for p in range(config.warmup + config.runs):
                    if should_stop is not None and should_stop():
                        return None
                    if p == config.warmup:
                        monitor.start()
                    for i, (module, inputs) in enumerate(runs):
                        for x in inputs:
                            x.sum()  # the input in cache, as if the layer before had just written it
                        t0, c0 = clock(), tclock()
                        module(*inputs)
                        c1, t1 = tclock(), clock()
                        if p >= config.warmup and i in wall:
                            wall[i].append((t1 - t0) / 1e6)
                            cpu[i].append((c1 - c0) / 1e6)
        except RuntimeError as e:
            raise MeasureError(f"torch failed to run a layer: {str(e).splitlines()[0]}") from None
        foreign = monitor.stop()
    loaded = foreign is not None and foreign > config.foreign_threshold
    use_cpu = config.clock == "cpu" or (config.clock == "auto" and loaded and cpu_clock_valid(config))
    env = environment(config)
    for i in idx:
        s = summarize(cpu[i] if use_cpu else wall[i])
        disp = s["p90_ms"] / max(s["p10_ms"], 1e-9)
        spread = disp > config.max_dispersion and s["p90_ms"] - s["p10_ms"] > MIN_SPREAD_MS
        out[i] = Measurement(
            **s,
            foreign_load=loaded or spread,
            foreign_cpu=None if foreign is None else round(foreign, 3),
            dispersion=round(disp, 4),
            clock="cpu" if use_cpu else "wall",
            env=env,
        )
    return out


def measure_graph(graph, config: MeasureConfig, seed: int = 0) -> Measurement:
    """Whole-network latency of an ArchGraph (the reference a LUT prediction is checked against)."""
    from explorer.arch import build_model

    model = build_model(graph, seed=seed).eval()
    return measure_module(model, [graph.input_shape], config)
