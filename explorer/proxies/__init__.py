"""Zero-shot proxies: rank architectures without training (Zen-Score, GradSign).

Both follow the official implementations; see ../shared/notes/zero_shot_proxies.md.
"""

from explorer.proxies._model import ProxyError
from explorer.proxies.gradsign import GradSignResult, gradsign
from explorer.proxies.zen import ZenResult, zen_score

__all__ = ["GradSignResult", "ProxyError", "ZenResult", "gradsign", "zen_score"]
