"""Measuring a layer-wise table on this machine: profiling its keys (resumable), whole-network
measurements, the calibration ``ms ~ a * LUT_sum + b`` per space (or a scale per op kind,
`calibration`) and its held-out evaluation.

A network's latency is the sum of its layers' entries; the calibration fitted on a few
whole-network measurements absorbs what a sum cannot see (framework overhead between layers,
caches). Which figure an entry contributes is the device protocol's `statistic` (new local
devices: the per-run minimum, best of `rounds` measurements spread over time; see
`explorer.latency.measure` for why). A profile writes every few keys, so an interrupted run
resumes where it stopped. The functions take a local `lut.LutDevice`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from explorer.errors import ExplorerError

from .calibration import apply, fit_by_kind, fit_linear
from .host import today
from .keys import LayerSpec
from .measure import (
    MeasureConfig,
    Measurement,
    device_entry,
    entry_ms,
    measure_graph,
    measure_module,
    measure_sequence,
    merge_entries,
)
from .metrics import accuracy

if TYPE_CHECKING:
    from .lut import LutDevice

ANY_SPACE = "*"  # the calibration for every space (and nets of mixed spaces)
LayerMeasurer = Callable[[LayerSpec, MeasureConfig], Measurement]
NetMeasurer = Callable[[object, MeasureConfig], Measurement]


def graph_space(graph) -> str:
    return str(graph.meta.get("space") or ANY_SPACE)


def coverage_configs(space, resolutions: Sequence[int] | None = None) -> list[dict]:
    """Configs whose graphs together hold every LUT key of `space` (at `resolutions` where the
    space has several): the space's latency features know which."""
    if space.latency is None:
        raise ExplorerError(
            f"no coverage rule for space {space.name!r}; profile sampled nets instead (--samples)"
        )
    return space.latency.coverage_configs(space, resolutions)


def sample_configs(space, n: int, seed: int = 0, resolutions: Sequence[int] | None = None) -> list[dict]:
    """`n` sampled configs (seeds seed..seed+n-1); OFA resolutions restricted to `resolutions`."""
    out = []
    for i in range(n):
        cfg = space.sample(seed + i)
        if resolutions and "r" in cfg:
            cfg["r"] = list(resolutions)[(seed + i) % len(resolutions)]
        out.append(cfg)
    return out


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


def require_measurable(device: LutDevice) -> None:
    if not device.local:
        raise ExplorerError(f"device {device.name!r} is not local: its table cannot be measured here")
    bad = device.env_mismatches()
    if bad:
        raise ExplorerError(
            f"device {device.name!r} was measured elsewhere ({'; '.join(bad)}); "
            "profile it under a new name or restart it (the old file is kept as .bak)"
        )


def touch_provenance(device: LutDevice, spaces: Iterable[str] = ()) -> None:
    p = device.provenance
    p["updated"] = today()
    p["keys"] = len(device.table)
    cov = p.setdefault("covers", {})
    sp = set(cov.get("spaces", [])) | set(spaces)
    cov["spaces"] = sorted(sp)
    device.spaces = sorted(set(device.spaces) | {x for x in sp if x != ANY_SPACE})


CONTEXT_LAYERS = 8  # layers run before each one measured interleaved (what sets its cache state)
SEQUENCE_CHUNK = 256  # modules built at a time for one interleaved measurement


def interleaved_sequence(due: Sequence[LayerSpec], context: Sequence[LayerSpec]) -> list[LayerSpec]:
    """The layers to run, in order, to measure `due` interleaved: each due layer with the
    `CONTEXT_LAYERS` that precede it in `context` (a graph's layers in execution order), one of
    each key; due layers outside the context follow, interleaved among themselves."""
    order = list({s.key: s for s in context}.values())  # each key once, where it first runs
    pos = {s.key: i for i, s in enumerate(order)}
    want = {s.key for s in due}
    keep = set()
    for i, s in enumerate(order):
        if s.key in want:
            keep.update(range(max(0, i - CONTEXT_LAYERS), i + 1))
    seq = [order[i] for i in sorted(keep)]
    seen = {s.key for s in seq}
    return seq + [s for s in {s.key: s for s in due}.values() if s.key not in pos and s.key not in seen]


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
    context: Sequence[LayerSpec] = (),
) -> ProfileResult:
    """Measure the keys of `specs` the table lacks; resumable (writes every `save_every` keys and on
    stop/interrupt, and skips keys already measured on this device). `should_stop(n_measured)` is
    asked before each key (each batch of keys, interleaved); `progress(key, done, total)` after each.

    With the protocol's `rounds` > 1 every key is measured in that many passes over all the keys
    to do (so one slow stretch of the host hits one round of a few keys, not all rounds of one),
    keeping the fastest round. A key already in the table is skipped whatever its rounds (a profile
    interrupted between rounds keeps valid, if less robust, entries; `remeasure_flagged` redoes
    the ones taken under foreign load).

    The protocol's `context` 'interleaved' (new devices; `measure.measure_sequence` says why)
    runs the keys in passes together with the layers that precede them in `context` (the graph
    they come from, in execution order); 'isolated', or a custom `measure`, times each key on
    its own."""
    require_measurable(device)
    if isinstance(specs, dict):
        specs = list(specs.values())
    specs = list(specs)
    config = device.measure_config()
    interleave = config.context == "interleaved" and measure is measure_layer and config.runtime == "torch"
    todo, skipped, have = [], [], {}
    for s in specs:
        e = device.table.get(s.key)
        if e is not None and not (remeasure_flagged and e.get("foreign_load")):
            skipped.append(s.key)
        else:
            todo.append(s)
    todo = list({s.key: s for s in todo}.values())  # one of each key (equal keys: equal layers)
    measured, stopped, dirty, n_done = [], False, 0, 0
    spaces = list(spaces)

    def flush():
        nonlocal dirty
        if save and device.path is not None and dirty:
            touch_provenance(device, spaces)
            device.save()
        dirty = 0

    work = config.rounds * len(todo)
    try:
        for rnd in range(config.rounds):
            due = [s for s in todo if have.get(s.key) is None or int(have[s.key].get("rounds", 1)) <= rnd]
            if interleave:
                seq = interleaved_sequence(due, context)
                batches = [seq[i : i + SEQUENCE_CHUNK] for i in range(0, len(seq), SEQUENCE_CHUNK)]
            else:
                batches = [[s] for s in due]
            want = {s.key for s in due}
            for batch in batches:
                timed = [j for j, s in enumerate(batch) if s.key in want]
                if should_stop is not None:  # asked before each key, as if they were timed in turn
                    new = 0
                    for k, j in enumerate(timed):
                        if should_stop(len(measured) + new):
                            timed, stopped = timed[:k], True
                            break
                        new += batch[j].key not in measured
                if timed:
                    if interleave:  # a stop asked for during the passes drops this batch
                        # (unless the stop already came before its keys: the few kept are timed whole)
                        stop = (
                            None if should_stop is None or stopped else (lambda: should_stop(len(measured)))
                        )
                        modules = [(s.build(), s.in_shapes) for s in batch]
                        results = measure_sequence(modules, config, timed, should_stop=stop)
                        if results is None:
                            timed, stopped = [], True
                    else:
                        results = [measure(batch[0], config)]
                for j in timed:
                    s = batch[j]
                    e = merge_entries(have.get(s.key), device_entry(results[j], config))
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
            if stopped:
                break
    finally:  # KeyboardInterrupt included: what was measured is kept
        flush()
    flagged = [k for k in measured if device.table[k].get("foreign_load")]
    return ProfileResult(measured, skipped, stopped, flagged, str(device.path) if device.path else None)


# -- calibration and held-out accuracy ----------------------------------------------------------
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
    require_measurable(device)
    config = device.measure_config()
    todo: list[tuple[object, float, list, dict | None]] = []  # (graph, raw, records, record)
    for i, g in enumerate(graphs):
        if should_stop is not None and should_stop(i):
            break
        raw = device.predict_graph(
            g, on_missing="measure", calibrated=False, measure=measure, save=save
        ).raw_ms
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
    by_kind: bool = False,
    progress: Callable[[str, int, int], None] | None = None,
    measure: LayerMeasurer = measure_layer,
    measure_net: NetMeasurer = measure_graph,
    save: bool = True,
) -> dict:
    """Fit `ms ~ a * LUT_sum + b` for `space` (default: the graphs' space, '*' if mixed) on whole-
    network measurements of `graphs` (or given (lut_sum, ms) `pairs`), store it in the device with
    raw and calibrated in-sample accuracy, and return that record. `by_kind`: a scale per op kind
    as well (`calibration`; needs `graphs`, whose layers say the kinds)."""
    if by_kind and pairs is not None:
        raise ExplorerError("a per-kind calibration needs the graphs, not (LUT sum, ms) pairs")
    if pairs is None:
        pairs = measure_networks(
            device, graphs, progress=progress, measure=measure, measure_net=measure_net, save=save
        )
        spaces = {graph_space(g) for g in graphs}
        space = space or (spaces.pop() if len(spaces) == 1 else ANY_SPACE)
    space = space or ANY_SPACE
    x, y = [p[0] for p in pairs], [p[1] for p in pairs]
    if by_kind:
        sums = [device.predict_graph(g, calibrated=False).raw_by_kind for g in graphs[: len(pairs)]]
        fit = fit_by_kind(list(zip(sums, y)))
        a, b = fit["a"], fit["b"]
        predicted = [apply(fit, s) for s in sums]
        extra = {
            "by_kind": {k: round(v, 6) for k, v in fit["by_kind"].items()},
            "ridge": fit["ridge"],
            "loo_rms_rel_error": fit["loo_rms_rel_error"] and round(fit["loo_rms_rel_error"], 4),
        }
    else:
        a, b = fit_linear(x, y)
        predicted, extra = [a * v + b for v in x], {}
    record = {
        "a": round(a, 6),
        "b": round(b, 6),
        **extra,
        "n": len(pairs),
        "fitted": today(),
        "raw": accuracy(x, y),
        "calibrated": accuracy(predicted, y),
    }
    device.calibration[space] = record
    if save and device.path is not None:
        touch_provenance(device, [space] if space != ANY_SPACE else [])
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
        p = device.predict_graph(g, on_missing="auto", measure=measure)
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
