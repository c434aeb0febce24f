"""Latency of imported models on this machine's layer-wise table (issue 17): every layer an
import produces, opaque ones included, is keyed, measured for real and summed; layers are
measured interleaved with the layers before them, as a network runs them; and the allocator
state the measurements run in does not depend on what ran before."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from explorer.importers import import_model
from explorer.latency.keys import LayerSpec, layer_specs
from explorer.latency.local import local_device
from explorer.latency.lut import LutDevice
from explorer.latency.measure import MeasureConfig, entry_ms, measure_sequence
from explorer.latency.predict import predict_graph
from explorer.latency.profile import CONTEXT_LAYERS, interleaved_sequence
from explorer.layer_costs import layer_report
from tests import zoo

FAST = {"warmup": 1, "runs": 3, "min_time_s": 0.0, "max_attempts": 1, "rounds": 1}
REPO = Path(__file__).resolve().parents[2]


def imported(name: str, tmp_path):
    path = tmp_path / f"{name}.pt2"
    torch.export.save(torch.export.export(zoo.make(name), (torch.randn(1, 3, 64, 64),)), path)
    return import_model(path).graph


@pytest.mark.parametrize("name", ["mobilenetv3", "unmapped"])
def test_imported_model_is_predicted_from_measured_layers(name, tmp_path):
    graph = imported(name, tmp_path)
    dev = local_device(directory=tmp_path / "luts", protocol=FAST)
    assert dev.measure_config().context == "interleaved"
    pred = predict_graph(dev, graph, on_missing="measure")

    specs = layer_specs(graph)
    assert pred.ms is not None and not pred.missing_keys
    assert [(n, k) for n, k, _ in pred.layers] == [(n, s.key) for n, s in specs]
    assert set(pred.measured) == {s.key for _, s in specs}  # a fresh table measures them all
    assert all(ms > 0 for _, _, ms in pred.layers)
    # the prediction is the sum of the nodes' table entries (a key used twice counts twice)
    assert pred.raw_ms == pytest.approx(sum(entry_ms(dev.table[s.key]) for _, s in specs))
    assert pred.raw_ms == pytest.approx(sum(ms for _, _, ms in pred.layers))

    opaque = [n for n in graph.nodes if graph.op(n) == "opaque"]
    assert bool(opaque) == (name == "unmapped")
    keyed = {n for n, _, _ in pred.layers}
    assert set(opaque) <= keyed

    # the per-node report reads the same entries; the file it wrote predicts without measuring
    rep = layer_report(graph, LutDevice.load(dev.path))
    by_node = {n.node: n.latency_ms for n in rep.nodes}
    assert all(by_node[n] == pytest.approx(ms) for n, _, ms in pred.layers)
    assert rep.total("latency_ms") == pytest.approx(pred.raw_ms)
    again = predict_graph(local_device(directory=tmp_path / "luts"), graph, on_missing="measure")
    assert again.measured == [] and again.raw_ms == pytest.approx(pred.raw_ms)


def spec(key: str) -> LayerSpec:
    return LayerSpec(key, "activation", {"act": "relu"}, ((4, 8, 8),), (4, 8, 8))


def test_interleaved_sequence_runs_each_due_layer_after_the_ones_before_it():
    graph = [spec(f"k{i}") for i in range(20)] + [spec("k3")]  # k3 used twice: run once
    seq = [s.key for s in interleaved_sequence([spec("k3"), spec("k15"), spec("extra")], graph)]
    assert seq == [f"k{i}" for i in range(4)] + [f"k{i}" for i in range(15 - CONTEXT_LAYERS, 16)] + ["extra"]
    assert [s.key for s in interleaved_sequence([spec("a"), spec("b")], [])] == ["a", "b"]


class Recorder(torch.nn.Module):
    def __init__(self, name, calls):
        super().__init__()
        self.name, self.calls = name, calls

    def forward(self, x):
        self.calls.append(self.name)
        return x + 1


def test_measure_sequence_never_runs_a_layer_twice_in_a_row():
    calls: list[str] = []
    items = [(Recorder(n, calls), [(4, 8, 8)]) for n in "abc"]
    cfg = MeasureConfig(warmup=2, runs=5, max_attempts=1)
    out = measure_sequence(items, cfg, timed=[0, 2])
    assert calls == list("abc") * 7  # one run of each per pass, in order
    assert out[1] is None and all(m.count == 5 and m.min_ms > 0 for m in (out[0], out[2]))
    assert out[0].env["threads"] == 1
    calls.clear()
    asked = []
    assert measure_sequence(items, cfg, should_stop=lambda: asked.append(1) or len(asked) > 3) is None
    assert calls == list("abc") * 3  # a stop is heard between passes


def test_tables_measured_before_the_context_existed_stay_isolated(tmp_path):
    dev = local_device(directory=tmp_path, protocol=FAST)
    assert dev.provenance["protocol"]["context"] == "interleaved"
    del dev.provenance["protocol"]["context"]
    dev.save()
    assert LutDevice.load(dev.path).measure_config().context == "isolated"


_FAULTS = """
import resource, sys, torch
from explorer.latency.measure import settle_allocator
torch.set_num_threads(1)  # as measurements run: every page is touched by this thread
if sys.argv[1] == "settle":
    settle_allocator()
def forward():  # three 4 MB feature maps alive at once, then all freed, as in a network
    a = torch.ones(1 << 20); b = torch.ones(1 << 20); c = a + b; del a, b, c
for _ in range(3):
    forward()
for _ in range(9):
    f0 = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
    forward()
    print(resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - f0)
"""


@pytest.mark.skipif(
    sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc malloc's thresholds"
)
def test_settled_allocator_stops_page_faults_in_steady_state():
    """Counted per forward: an unsettled allocator faults its buffers in again on every (or every
    other) forward; a settled one on none. One forward in nine may still fault once, for reasons
    outside the allocator's thresholds (a CI guest once showed one 4 MB growth of the heap), so the
    test counts faulting forwards, not faults."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}

    def faulting_forwards(mode: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", _FAULTS, mode], env=env, capture_output=True, text=True, check=True
        )
        return sum(int(n) > 0 for n in out.stdout.split())

    if faulting_forwards("default") < 4:
        pytest.skip("this allocator does not hand the memory back between passes")
    assert faulting_forwards("settle") <= 1
