"""Reading the architecture files the latency commands take: a graph, or a space config."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ExplorerError


def read_arch_file(path: Path):
    """(space, graph, None) for a graph file, predicted as the graph it is (a network-wise device
    decodes and verifies its config, never a stale meta.config); (space, None, config) for a file
    that only holds meta.space and meta.config."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ExplorerError(f"cannot read {path}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ExplorerError(f"{path}: not valid JSON ({e})") from None
    if isinstance(data, dict) and "nodes" in data:
        from ..arch import from_dict

        try:
            graph = from_dict(data)
        except ExplorerError as e:
            raise ExplorerError(f"{path}: {e}") from None
        return graph.meta.get("space"), graph, None
    meta = data.get("meta") if isinstance(data, dict) else None
    if not isinstance(meta, dict) or "space" not in meta or "config" not in meta:
        raise ExplorerError(
            f"{path}: no meta.space/meta.config (a hand-drawn graph needs a layer-wise LUT device)"
        )
    space, config = meta["space"], meta["config"]
    if not isinstance(space, str):
        raise ExplorerError(f"{path}: meta.space must be a space name")
    if not isinstance(config, dict):
        raise ExplorerError(f"{path}: meta.config must be an object")
    from ..spaces.latency_support import latency_features

    try:
        feats = latency_features(space)
    except ExplorerError:  # a space this app does not have (an imported table's own configs)
        feats = None
    if feats is not None:
        try:
            feats.normalise(config)
        except ExplorerError as e:
            raise ExplorerError(f"{path}: meta.config: {e}") from None
    return space, None, config
