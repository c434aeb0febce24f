"""ProxylessNAS (arXiv 1812.00332): hardware-aware gradient search with binarised paths and a
latency loss from a device's layer table, over a CIFAR-sized MBConv skeleton."""

from .derive import SPACE, derive_graph, derived_state_dict
from .latency_loss import LatencyLoss, LatencyModel, needed_layers
from .search import ProxylessSearch, SearchConfig
from .supernet import ProxylessSupernet, Skeleton
from .tables import SyntheticSource, TableSource, resolve_source

__all__ = [
    "SPACE",
    "LatencyLoss",
    "LatencyModel",
    "ProxylessSearch",
    "ProxylessSupernet",
    "SearchConfig",
    "Skeleton",
    "SyntheticSource",
    "TableSource",
    "derive_graph",
    "derived_state_dict",
    "needed_layers",
    "resolve_source",
]
