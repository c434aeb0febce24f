"""The measurement protocol: records, threads, foreign-load handling, runtimes (no timing asserts)."""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from explorer.errors import ExplorerError
from explorer.latency import measure as M
from explorer.latency.measure import MeasureConfig, MeasureError, measure_graph, measure_module

FAST = dict(warmup=1, runs=5, min_time_s=0.0, max_attempts=1)


def test_torch_record_carries_device_and_versions():
    m = measure_module(nn.Conv2d(4, 4, 3, padding=1), [(4, 8, 8)], MeasureConfig(threads=1, batch=2, **FAST))
    assert m.count >= 5
    assert m.p10_ms <= m.median_ms <= m.p90_ms
    assert m.min_ms <= m.p10_ms
    env = m.env
    assert env["runtime"] == "torch" and env["threads"] == 1 and env["batch"] == 2
    assert env["runtime_version"] == torch.__version__.split("+")[0]
    assert env["versions"]["torch"] and env["cpu_model"]
    e = m.entry()
    assert set(e) >= {"median", "mean", "p10", "p90", "count", "foreign_load"}


def test_onnxruntime_record():
    ort = pytest.importorskip("onnxruntime")
    m = measure_module(
        nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), [(3, 16, 16)], MeasureConfig(runtime="ort", **FAST)
    )
    assert m.env["runtime"] == "onnxruntime"
    assert m.env["runtime_version"] == ort.__version__
    assert m.median_ms > 0


def test_multi_input_module_on_both_runtimes():
    class Add3(nn.Module):
        def forward(self, a, b, c):
            return a + b + c

    for rt in ("torch", "onnxruntime"):
        m = measure_module(Add3(), [(2, 4, 4)] * 3, MeasureConfig(runtime=rt, **FAST))
        assert m.count >= 5


def test_thread_scope_restores_threads_and_env():
    before = torch.get_num_threads()
    env_before = os.environ.get("OMP_NUM_THREADS")
    with M.thread_scope(1):
        assert torch.get_num_threads() == 1
        assert os.environ["OMP_NUM_THREADS"] == "1"
    assert torch.get_num_threads() == before
    assert os.environ.get("OMP_NUM_THREADS") == env_before


def test_foreign_load_triggers_repeats_and_flag(monkeypatch):
    monkeypatch.setattr(M, "_time_runs", lambda run, n: ([1.0] * n, [1.0] * n))
    monkeypatch.setattr(M.LoadMonitor, "stop", lambda self: 1.5)
    cfg = MeasureConfig(warmup=1, runs=3, min_time_s=0.0, max_attempts=3, pause_s=0.0, clock="wall")
    m = M.measure_callable(lambda: None, cfg)
    assert m.attempts == 3 and m.foreign_load and m.foreign_cpu == 1.5

    monkeypatch.setattr(M.LoadMonitor, "stop", lambda self: 0.0)
    m = M.measure_callable(lambda: None, cfg)
    assert m.attempts == 1 and not m.foreign_load


def test_dispersion_counts_as_disturbed(monkeypatch):
    monkeypatch.setattr(M.LoadMonitor, "stop", lambda self: 0.0)
    spread = [1.0] * 15 + [5.0] * 15
    monkeypatch.setattr(M, "_time_runs", lambda run, n: (spread, spread))
    cfg = MeasureConfig(warmup=1, runs=30, min_time_s=0.0, max_attempts=2, pause_s=0.0)
    m = M.measure_callable(lambda: None, cfg)
    assert m.attempts == 2 and m.foreign_load and m.dispersion > 1.5


def test_clean_attempt_is_preferred(monkeypatch):
    loads = iter([2.0, 0.0])
    monkeypatch.setattr(M, "_time_runs", lambda run, n: ([1.0] * n, [1.0] * n))
    monkeypatch.setattr(M.LoadMonitor, "stop", lambda self: next(loads))
    cfg = MeasureConfig(warmup=1, runs=3, min_time_s=0.0, pause_s=0.0, clock="wall")
    m = M.measure_callable(lambda: None, cfg)
    assert m.attempts == 2 and not m.foreign_load


def test_auto_clock_uses_thread_cpu_time_under_load(monkeypatch):
    """Preemption inflates wall time; single-thread CPU time is what a quiet machine would show."""
    monkeypatch.setattr(M.LoadMonitor, "stop", lambda self: 1.5)
    monkeypatch.setattr(M, "_time_runs", lambda run, n: ([9.0] * n, [2.0] * n))
    m = M.measure_callable(lambda: None, MeasureConfig(warmup=1, runs=3, min_time_s=0.0, pause_s=0.0))
    assert m.clock == "cpu" and m.median_ms == 2.0 and m.foreign_load and m.attempts == 1
    assert m.entry()["clock"] == "cpu"
    cfg = MeasureConfig(threads=2, warmup=1, runs=3, min_time_s=0.0, pause_s=0.0, max_attempts=1)
    m = M.measure_callable(lambda: None, cfg)
    assert m.clock == "wall" and m.median_ms == 9.0  # several threads: CPU time is not latency
    monkeypatch.setattr(M.LoadMonitor, "stop", lambda self: 0.0)
    m = M.measure_callable(lambda: None, MeasureConfig(warmup=1, runs=3, min_time_s=0.0))
    assert m.clock == "wall" and m.median_ms == 9.0
    with pytest.raises(MeasureError, match="single-thread"):
        MeasureConfig(threads=2, clock="cpu")


def test_load_monitor_reads_something():
    m = M.LoadMonitor().start()
    sum(range(10000))
    v = m.stop()
    assert v is None or v >= 0.0


def test_config_validation():
    with pytest.raises(ExplorerError, match="unknown runtime"):
        MeasureConfig(runtime="tflite")
    with pytest.raises(MeasureError, match="threads"):
        MeasureConfig(threads=-1)
    assert MeasureConfig(threads=0).threads == M.cpu_count()
    assert MeasureConfig(runtime="ort").runtime == "onnxruntime"
    cfg = MeasureConfig().with_protocol({"runs": 50, "bogus": 1})
    assert cfg.runs == 50 and cfg.protocol()["runs"] == 50


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_without_gpu_is_a_clear_error():
    with pytest.raises(MeasureError, match="CUDA"):
        measure_module(nn.ReLU(), [(4,)], MeasureConfig(runtime="cuda", **FAST))


def test_slug():
    from explorer.latency.host import slug

    assert slug("AMD EPYC 7B13 64-Core Processor") == "amd-epyc-7b13-64-core"
    assert slug("Intel(R) Core(TM) i7-8700 CPU @ 3.20GHz") == "intel-core-i7-8700"
    assert slug("") == "unknown"


def test_measure_graph_whole_network():
    from explorer.spaces import get_space

    sp = get_space("nb201")
    m = measure_graph(
        sp.encode(sp.sample(0)), MeasureConfig(warmup=1, runs=2, min_time_s=0.0, max_attempts=1)
    )
    assert m.count >= 2 and m.env["batch"] == 1
