"""#params and MACs as registered proxies: the baselines every zero-shot proxy must beat."""

from __future__ import annotations

from explorer.proxies.registry import Proxy, register_proxy


def _counts(graph):
    from explorer.arch import count_complexity

    return count_complexity(graph)


def _params(graph, _inputs):
    return float(_counts(graph).params), {}, {}


def _macs(graph, _inputs):
    return float(_counts(graph).macs), {}, {}


register_proxy(
    Proxy("params", "#params", "number of parameters (the baseline)", "none", 0, 0, _params, needs_grad=False)
)
register_proxy(
    Proxy(
        "macs",
        "MACs",
        "multiply-accumulates of conv and linear layers",
        "none",
        0,
        0,
        _macs,
        needs_grad=False,
    )
)
