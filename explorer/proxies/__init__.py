"""Zero-shot proxies: rank architectures without training.

Zen-Score, GradSign and SynFlow, each following its official implementation (the module
docstrings say how, and where we differ); see ../shared/notes/zero_shot_proxies.md.
"""

from explorer.proxies._model import ProxyError
from explorer.proxies.gradsign import GradSignResult, gradsign
from explorer.proxies.synflow import SynFlowResult, synflow
from explorer.proxies.zen import ZenResult, zen_score

__all__ = ["GradSignResult", "ProxyError", "SynFlowResult", "ZenResult", "gradsign", "synflow", "zen_score"]
