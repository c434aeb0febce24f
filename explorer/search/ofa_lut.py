"""Latency of an OFA-MBv3 config from OFA-format per-resolution look-up tables, compiled for search.

Network latency = plain sum of the stem, the fixed first block, the active blocks and the head
entries (mean ms), as the tutorial's `LatencyTable`. The tables come from a latency device of
`explorer.latency` (default: the shipped `note10-ofa-w12`, imported from the official YAMLs) or
from a folder of `{r}_lookup_table.yaml` files in OFA's own format. Compiling each resolution's
(block, kernel, expand) entries once makes a config's latency a sum of floats, which evolution
calls tens of thousands of times; the keys are the graphs' own (`explorer.latency.keys`).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from explorer.errors import ExplorerError
from explorer.spaces.ofa_geometry import EXPANDS, KERNELS, MAX_DEPTH, N_BLOCKS, N_STAGES, W12, OFAGeometry

NOTE10_DEVICE = "note10-ofa-w12"


def _device_tables(name: str) -> dict[int, dict[str, float]]:
    """{resolution: {key: ms}} of an OFA-keyed LUT device."""
    from explorer.latency.lut import LutDevice
    from explorer.latency.measure import entry_ms
    from explorer.latency.registry import load_device

    dev = load_device(name)
    if not isinstance(dev, LutDevice) or not all(str(t).isdigit() for t in dev.tables):
        raise ExplorerError(f"device {name!r} has no per-resolution OFA tables")
    return {int(r): {k: entry_ms(v) for k, v in t.items()} for r, t in dev.tables.items()}


@lru_cache(maxsize=16)
def _table(path: str) -> dict[str, float]:
    """{key: mean ms} of one OFA YAML table, validated (`latency.ofa_yaml.read_yaml_table`)."""
    from explorer.latency.ofa_yaml import read_yaml_table

    return {k: v["mean"] for k, v in read_yaml_table(path).items()}


def _space(geo: OFAGeometry):
    """The registered OFA space of this geometry (it encodes the graphs the keys come from)."""
    from explorer.spaces import list_spaces

    for sp in list_spaces():
        if getattr(sp, "geo", None) == geo:
            return sp
    raise ExplorerError(f"no search space has the OFA geometry w{geo.width_mult}")


class LUTLatency:
    """config -> ms from a folder of `{r}_lookup_table.yaml` files."""

    def __init__(self, source: str | Path = NOTE10_DEVICE, geo: OFAGeometry = W12):
        """`source`: a latency device name (or .json path), or a folder of OFA YAML tables."""
        self.geo = geo
        self._compiled: dict[int, tuple[float, dict]] = {}
        folder = Path(source)
        if folder.is_dir():
            self._tables = {
                int(p.name.split("_")[0]): str(p)
                for p in folder.glob("*_lookup_table.yaml")
                if p.name.split("_")[0].isdigit()
            }
            if not self._tables:
                raise ExplorerError(f"{folder}: no {{r}}_lookup_table.yaml files")
        else:
            self._tables = _device_tables(str(source))
        self.resolutions = sorted(self._tables)

    def _get(self, lut: dict, key: str) -> float:
        if key not in lut:
            raise ExplorerError(f"latency table has no entry {key}")
        return lut[key]

    def _compile(self, r: int) -> tuple[float, dict[tuple[int, int, int], float]]:
        """(fixed ms of stem + first block + head, {(block, kernel, expand): ms}) for one resolution.

        A block's input size depends only on r and its position (strides are fixed), so every
        entry a config can need is looked up once; a config's latency is then a sum of floats.
        """
        if r in self._compiled:
            return self._compiled[r]
        from explorer.latency.keys import layer_keys

        src = self._tables[r]
        lut = _table(src) if isinstance(src, str) else src
        space = _space(self.geo)
        fixed, blocks = 0.0, {}
        for k in KERNELS:
            for e in EXPANDS:  # depth 4 everywhere: every block at its own input size
                g = space.encode({"ks": [k] * N_BLOCKS, "e": [e] * N_BLOCKS, "d": [4] * N_STAGES, "r": r})
                fixed = 0.0
                for node, key in layer_keys(g):
                    if node.startswith("block") and node[5:].isdigit():
                        blocks[(int(node[5:]), k, e)] = self._get(lut, key)
                    else:  # stem, first block, head: the same in every config
                        fixed += self._get(lut, key)
        self._compiled[r] = (fixed, blocks)
        return fixed, blocks

    def __call__(self, config: dict) -> float:
        r = int(config["r"])
        if r not in self.resolutions:
            raise ExplorerError(f"no latency table for resolution {r} (have {self.resolutions})")
        fixed, blocks = self._compile(r)
        ks, e = config["ks"], config["e"]
        ms = fixed
        for s, d in enumerate(config["d"]):
            for i in range(s * MAX_DEPTH, s * MAX_DEPTH + d):
                ms += blocks[(i, ks[i], e[i])]
        return ms
