"""Give a proxy a model it may mutate: a fresh build of an ArchGraph, or the caller's module on loan.

Proxies re-initialise weights, switch modes, patch BN and attach hooks. A deep copy of a module
costs more Python time than a whole Zen-Score forward on small nets, so a module is instead lent:
every parameter, buffer, grad, requires_grad flag, training flag and per-instance override is
recorded and put back when the proxy returns (or raises). The module must not be used by another
thread meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch.nn as nn

from explorer.errors import ExplorerError


class ProxyError(ExplorerError):
    """A proxy cannot be computed for this model or these inputs."""


def _arch_api():
    try:
        from explorer.arch import ArchGraph, build_model
    except ImportError:  # the architecture core is optional for plain nn.Modules
        return None, None
    return ArchGraph, build_model


@contextmanager
def lent(model: nn.Module) -> Iterator[nn.Module]:
    """Yield `model`; afterwards restore its tensors' values and identities, flags and attributes."""
    saved = []
    for m in model.modules():
        params = {
            k: (p, p.detach().clone(), p.requires_grad, p.grad)
            for k, p in m._parameters.items()
            if p is not None
        }
        bufs = {k: (b, b.detach().clone()) for k, b in m._buffers.items() if b is not None}
        saved.append((m, m.training, dict(m._parameters), dict(m._buffers), params, bufs, dict(m.__dict__)))
    try:
        yield model
    finally:
        for m, training, param_refs, buf_refs, params, bufs, attrs in saved:
            m._parameters.clear()
            m._parameters.update(param_refs)
            m._buffers.clear()
            m._buffers.update(buf_refs)
            for p, value, requires_grad, grad in params.values():
                p.data.copy_(value)
                p.requires_grad_(requires_grad)
                p.grad = grad
            for b, value in bufs.values():
                b.data.copy_(value)
            for k in set(m.__dict__) - set(attrs):  # e.g. a patched per-instance forward
                del m.__dict__[k]
            m.training = training


@contextmanager
def scoring_model(
    model_or_graph, *, residual_free: bool, seed: int | None
) -> Iterator[tuple[nn.Module, tuple[int, int, int] | None]]:
    """(a model the proxy may mutate, the graph's input shape or None).

    An ArchGraph is built fresh (seeded; residual-free for Zen-Score); an nn.Module is lent.
    """
    if isinstance(model_or_graph, nn.Module):
        with lent(model_or_graph) as m:
            yield m, None
        return
    ArchGraph, build_model = _arch_api()
    if ArchGraph is not None and isinstance(model_or_graph, ArchGraph):
        model = build_model(model_or_graph, residual_free=residual_free, seed=seed)
        yield model, tuple(model_or_graph.input_shape)
        return
    raise ProxyError(f"expected an nn.Module or an ArchGraph, got {type(model_or_graph).__name__}")


def input_channels(model: nn.Module, default: int = 3) -> int:
    """Channels the first Conv2d expects (the image channels), else `default`."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    return default
