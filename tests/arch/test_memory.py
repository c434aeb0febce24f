"""The memory estimate: a graph too big for the machine is refused with its size and the limit,
before torch allocates anything; the estimate itself is close to what torch keeps."""

from __future__ import annotations

import json

import pytest
import torch

from explorer.arch import ArchGraph, build_model, check_memory, count_complexity, estimate_memory, to_dict
from explorer.cli import main
from explorer.errors import MemoryLimitError
from explorer.spaces import get_space
from tests.arch_fuzzing import chain_graph


def largest_conv(channels: int = 4096) -> ArchGraph:
    """The largest conv the registry allows, on the largest input it allows."""
    g = ArchGraph("largest conv")
    g.add_node("input", {"channels": channels, "resolution": 4096}, id="input")
    g.add_node("conv", {"out_channels": 65536, "kernel": 15}, id="conv")
    g.add_node("output", id="output")
    g.chain("input", "conv", "output")
    return g


def test_largest_conv_is_counted_but_refused_before_torch_allocates(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NAS_EXPLORER_MEMORY_LIMIT", "64G")
    path = tmp_path / "big.json"
    path.write_text(json.dumps(to_dict(largest_conv())))
    assert main(["arch", "info", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == count_complexity(largest_conv()).params
    assert main(["score", str(path), "--proxies", "zen"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "Zen-Score (batch 64) would need about" in err and "weights 241.6 GB" in err
    assert "the limit is 68.7 GB ($NAS_EXPLORER_MEMORY_LIMIT" in err
    with pytest.raises(MemoryLimitError, match="building the model would need about"):
        build_model(largest_conv())


def test_gradsign_is_checked_on_one_sample(tmp_path, capsys, monkeypatch):
    """GradSign runs samples in chunks, so one sample's forward and backward is what must fit."""
    monkeypatch.setenv("NAS_EXPLORER_MEMORY_LIMIT", "64G")
    g = largest_conv(channels=3)
    with pytest.raises(MemoryLimitError, match="GradSign would need about"):
        check_memory(g, 1, training=True, what="GradSign")
    est = estimate_memory(g, 1, training=True)
    assert est.weights == 4 * count_complexity(g).params and est.total > est.weights * 2


def test_estimate_counts_weights_exactly_and_activations_as_the_graph_runs():
    g = chain_graph()
    model = build_model(g, seed=0)
    est = estimate_memory(g, 8)
    assert est.weights == 4 * sum(p.numel() for p in model.parameters())
    train = estimate_memory(g, 8, training=True)
    assert train.activations > est.activations > 0  # training keeps all; inference the live peak
    assert estimate_memory(g, 16).activations == 2 * est.activations
    assert train.total == 2 * train.weights + train.activations


@pytest.mark.parametrize("space", ["ofa-mbv3-w1.0", "nb201"])
def test_training_estimate_bounds_what_autograd_keeps(space):
    """Upper bound within ~2.5x of the bytes autograd saves for backward (distinct storages)."""
    sp = get_space(space)
    g = sp.encode(sp.min_config(128) if space != "nb201" else sp.sample(1))
    model = build_model(g, seed=0).train()
    params = {p.data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t):
        if t.data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(2, *g.input_shape))
    est = estimate_memory(g, 2, training=True).activations
    assert sum(saved.values()) <= est <= 2.5 * sum(saved.values())


def test_limit_from_the_environment(monkeypatch):
    g = get_space("nb201").encode(get_space("nb201").sample(0))
    monkeypatch.setenv("NAS_EXPLORER_MEMORY_LIMIT", "1M")
    with pytest.raises(MemoryLimitError, match=r"the limit is 1.0 MB \(\$NAS_EXPLORER_MEMORY_LIMIT"):
        build_model(g)
    monkeypatch.setenv("NAS_EXPLORER_MEMORY_LIMIT", "lots")
    with pytest.raises(MemoryLimitError, match="is not a size"):
        build_model(g)
    monkeypatch.delenv("NAS_EXPLORER_MEMORY_LIMIT")
    assert build_model(g) is not None
