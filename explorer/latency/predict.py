"""One entry point for the latency of any graph on any device: the live view, the CLI and the
searches call `predict_graph`.

A layer-wise device sums the graph's layers (any graph: hand-drawn, imported, sampled); a
network-wise or few-shot device predicts the config the graph is in its space (decoded and
verified), and says "not covered: <why>" for a graph outside its spaces. Stale sources of a
few-shot head come back as warnings; the confidence text is the device's recorded accuracy.
"""

from __future__ import annotations

from collections.abc import Callable

from .device import Device, Prediction
from .keys import layer_specs
from .lut import LutDevice
from .profile import LayerMeasurer, ProfileResult, graph_space, measure_layer, profile
from .registry import load_device


def stale_warning(device: Device, stale: list[str]) -> str:
    return (
        f"device {device.name!r} was adapted on predictions of {', '.join(stale)}, which changed since; "
        f"its figures may be off: run `nas-explorer latency adapt` again with the same measurements"
    )


def predict_graph(
    device: Device | str,
    graph,
    *,
    on_missing: str = "report",
    should_stop: Callable[[], bool] | None = None,
) -> Prediction:
    """Latency of `graph` on `device` (a Device, or a name or path for `registry.load_device`).

    `on_missing` (layer-wise devices): 'report' lists the layers the table lacks (no number),
    'measure' measures them on this machine first (asking `should_stop()` between layers),
    'error' raises MissingKeysError, 'auto' measures where the device can and raises elsewhere.
    An unknown device or a damaged file raises (ExplorerError); a graph a device cannot predict
    comes back with `ms` None and the reason."""
    dev = load_device(device) if isinstance(device, (str, bytes)) or hasattr(device, "__fspath__") else device
    pred = dev.predict_graph(graph, on_missing=on_missing, should_stop=should_stop)
    stale = dev.stale_sources()
    if stale:
        pred.warnings.append(stale_warning(dev, stale))
    return pred


def measure_missing(
    device: LutDevice,
    graph,
    *,
    should_stop: Callable[[], bool] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    measure: LayerMeasurer = measure_layer,
) -> ProfileResult:
    """Measure the layers of `graph` this machine's table lacks (e.g. in the background while
    the other devices' rows are shown); `should_stop()` is asked between layers, `measure` times
    one layer (tests pass a stand-in)."""
    layers = [s for _, s in layer_specs(graph)]
    specs = {s.key: s for s in layers if s.key not in device.table}
    if not specs:  # nothing to measure: a table measured elsewhere still predicts
        return ProfileResult([], [], False, [], str(device.path) if device.path else None)
    stop = None if should_stop is None else (lambda _n: should_stop())
    return profile(
        device,
        specs,
        should_stop=stop,
        progress=progress,
        measure=measure,
        spaces=[graph_space(graph)],
        context=layers,
    )
