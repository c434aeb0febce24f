"""The ensemble proxy: AZ-NAS-style log-rank sum of several proxies within the population it ranks.

Members are registered proxies; a population member (AZ-NAS) enters with its own aggregate over
the same population. See explorer.proxies.population for the arithmetic and the percentile of a
single network in a reference sample.
"""

from __future__ import annotations

from explorer.proxies.registry import Proxy, register_proxy

DEFAULT_MEMBERS = ("az-nas", "meco", "zico", "synflow")


def _never(model, inputs):  # an ensemble's value is assembled from its members by the registry
    raise AssertionError("the ensemble has no run of its own")


register_proxy(
    Proxy(
        "ensemble",
        "Ensemble",
        "log-rank sum of " + ", ".join(DEFAULT_MEMBERS) + " within the population ranked",
        data="none",
        official_batch=0,
        live_batch=0,
        run=_never,
        population=True,
        members=DEFAULT_MEMBERS,
    )
)
