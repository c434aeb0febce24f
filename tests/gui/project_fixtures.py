"""A real project file with sampled candidates and metrics, for the project docks' tests."""

from __future__ import annotations

import numpy as np

from explorer.arch import count_complexity
from explorer.spaces import get_space
from explorer.store import Project


def make_project(
    path, n: int = 12, space: str = "nb201", seed: int = 0, devices=("dev-a", "dev-b")
) -> Project:
    p = Project(path)
    sp = get_space(space)
    rng = np.random.default_rng(seed)
    for k in range(n):
        g = sp.encode(sp.sample(seed + k))
        cid = p.add_candidate(g, name=f"cand{k}", tags=["even" if k % 2 == 0 else "odd"])
        c = count_complexity(g)
        p.record_metric(cid, "complexity", "params", c.params)
        p.record_metric(cid, "complexity", "macs", c.macs)
        p.record_metric(cid, "proxy", "zen", float(rng.normal(50, 10)))
        for j, d in enumerate(devices):
            if k == 3 and j == 1:
                p.record_metric(cid, "latency", d, None, method="no LUT")  # one n/a
            else:
                p.record_metric(cid, "latency", d, float(c.macs / 1e6 * (1 + j) + rng.random()), unit="ms")
    return p
