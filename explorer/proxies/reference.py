"""Reference samples: where one network's population score (AZ-NAS, the ensemble) stands in its space.

A population proxy has no value for a single network, so the live view shows its percentile
against a seeded uniform sample of the network's space, scored with the same settings
(`settings_for`: the live batches, at most 64 px, so the number follows edits in about a second).
Samples ship in `explorer/_data/proxy_reference_<space>.json` (per-network values of every
per-network proxy and the AZ-NAS components, with the settings and the sampling seed); build one
with `python -m explorer.proxies.reference --space NAME --n 100`.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from pathlib import Path

from explorer.errors import FormatError
from explorer.proxies.population import percentile
from explorer.proxies.registry import ProxySettings, ProxyValue, compute_many, list_proxies

FORMAT = "nas-explorer/proxy-reference"
MAX_RESOLUTION = 64
DATA_DIR = Path(__file__).resolve().parents[1] / "_data"


def settings_for(graph) -> ProxySettings:
    """The settings a reference is scored with and a live network is compared under."""
    return ProxySettings.live(resolution=min(int(graph.resolution), MAX_RESOLUTION))


def _path(space: str) -> Path:
    return DATA_DIR / f"proxy_reference_{space}.json"


def scored_proxies() -> list[str]:
    """Every proxy a reference holds: the per-network ones and population ones with parts."""
    return [p.name for p in list_proxies() if not p.members]


def build(space_name: str, n: int, seed: int = 0, progress=None) -> dict:
    from explorer.spaces import get_space

    space = get_space(space_name)
    nets = []
    for i in range(n):
        graph = space.encode(space.sample(seed + i))
        values = compute_many(graph, scored_proxies(), settings_for(graph))
        nets.append({k: _plain(v) for k, v in values.items()})
        if progress is not None:
            progress(i + 1, n)
    return {
        "format": FORMAT,
        "space": space_name,
        "n": n,
        "seed": seed,
        "settings": {"preset": "live", "max_resolution": MAX_RESOLUTION},
        "nets": nets,
    }


def _finite(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def _plain(v: ProxyValue) -> dict:
    """Strict-JSON form: non-finite values (an AZ-NAS component of -inf) as null, ranked lowest."""
    return {
        "score": _finite(v.score),
        "parts": {k: _finite(x) for k, x in v.parts.items()},
        "message": v.message,
    }


@functools.lru_cache(maxsize=8)
def load(space: str) -> tuple[dict, ...] | None:
    """The reference nets of `space`, or None when none ships."""
    p = _path(space)
    if not p.is_file():
        return None
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
        if d.get("format") != FORMAT or not isinstance(d.get("nets"), list):
            raise ValueError("not a reference sample")
        return tuple(d["nets"])
    except (OSError, ValueError, AttributeError) as e:
        raise FormatError(f"{p}: damaged reference sample ({e})") from None


def reference_values(space: str, name: str) -> list[ProxyValue] | None:
    """The reference sample's values of proxy `name` (an ensemble assembled from its members)."""
    from explorer.proxies.registry import ensemble_value, get_proxy  # noqa: PLC0415

    nets = load(space)
    if nets is None:
        return None
    p = get_proxy(name)
    out = []
    for net in nets:
        vals = {
            k: ProxyValue(
                k,
                v["score"],
                {c: math.nan if x is None else x for c, x in v["parts"].items()},
                message=v["message"],
            )
            for k, v in net.items()
        }
        if p.members:
            if any(m not in vals for m in p.members):
                return None
            out.append(ensemble_value(p, vals))
        elif name in vals:
            out.append(vals[name])
        else:
            return None
    return out


def _value(name: str, d: dict) -> ProxyValue:
    parts = {c: math.nan if x is None else x for c, x in d["parts"].items()}
    return ProxyValue(name, d["score"], parts, message=d["message"])


def space_percentile(space: str | None, name: str, value: ProxyValue) -> float | None:
    """Percentile of one network's `name` value among its space's reference sample (None if none)."""
    if not space:
        return None
    ref = reference_values(space, name)
    return None if ref is None else percentile(name, value, ref)


def main(argv: list[str] | None = None) -> int:
    import torch
    from tqdm import tqdm

    ap = argparse.ArgumentParser(description="build a proxy reference sample of a search space")
    ap.add_argument("--space", required=True)
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", help=f"default: {DATA_DIR}/proxy_reference_SPACE.json")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    with tqdm(total=a.n, file=sys.stderr) as bar:
        ref = build(a.space, a.n, a.seed, lambda d, _n: bar.update(d - bar.n))
    from explorer.fileio import atomic_write_text

    out = Path(a.output) if a.output else _path(a.space)
    atomic_write_text(out, json.dumps(ref, allow_nan=False, separators=(",", ":")) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
