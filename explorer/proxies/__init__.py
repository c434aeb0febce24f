"""Zero-shot proxies: rank architectures without training.

Zen-Score, GradSign, SynFlow, NASWOT, ZiCo, MeCo and AZ-NAS, each following its official
implementation (the module docstrings say how, and where we differ); see
../shared/notes/zero_shot_proxies.md. Every proxy is registered (`registry`: `compute`,
`compute_many`, `list_proxies`); `population` scores AZ-NAS and the ensemble within a population
(`rank_aggregate`) and places one network in a reference sample.
"""

from explorer.proxies._model import ProxyError
from explorer.proxies.aznas import AZNASResult, aznas, aznas_scores
from explorer.proxies.gradsign import GradSignResult, gradsign
from explorer.proxies.meco import MeCoResult, meco
from explorer.proxies.naswot import NASWOTResult, naswot
from explorer.proxies.rank_aggregate import log_rank_sum, rankdata
from explorer.proxies.registry import (
    ProxySettings,
    ProxyValue,
    compute,
    compute_many,
    get_proxy,
    list_proxies,
)
from explorer.proxies.synflow import SynFlowResult, synflow
from explorer.proxies.zen import ZenResult, zen_score
from explorer.proxies.zico import ZiCoResult, zico

__all__ = [
    "AZNASResult",
    "GradSignResult",
    "MeCoResult",
    "NASWOTResult",
    "ProxyError",
    "ProxySettings",
    "ProxyValue",
    "SynFlowResult",
    "ZenResult",
    "ZiCoResult",
    "aznas",
    "aznas_scores",
    "compute",
    "compute_many",
    "get_proxy",
    "gradsign",
    "list_proxies",
    "log_rank_sum",
    "meco",
    "naswot",
    "rankdata",
    "synflow",
    "zen_score",
    "zico",
]
