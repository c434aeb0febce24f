"""Zero-shot proxies: rank architectures without training.

Zen-Score, GradSign, SynFlow, NASWOT, ZiCo and MeCo, each following its official implementation (the module
docstrings say how, and where we differ); see ../shared/notes/zero_shot_proxies.md.
"""

from explorer.proxies._model import ProxyError
from explorer.proxies.gradsign import GradSignResult, gradsign
from explorer.proxies.meco import MeCoResult, meco
from explorer.proxies.naswot import NASWOTResult, naswot
from explorer.proxies.synflow import SynFlowResult, synflow
from explorer.proxies.zen import ZenResult, zen_score
from explorer.proxies.zico import ZiCoResult, zico

__all__ = [
    "GradSignResult",
    "MeCoResult",
    "NASWOTResult",
    "ProxyError",
    "SynFlowResult",
    "ZenResult",
    "ZiCoResult",
    "gradsign",
    "meco",
    "naswot",
    "synflow",
    "zen_score",
    "zico",
]
