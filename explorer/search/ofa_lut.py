"""Latency of an OFA-MBv3 config from OFA-format per-resolution look-up tables, compiled for search.

Network latency = plain sum of the stem, the fixed first block, the active blocks and the head
entries (mean ms), as the tutorial's `LatencyTable`. The tables come from a latency device of
`explorer.latency` (default: the shipped `note10-ofa-w12`, imported from the official YAMLs) or
from a folder of `{r}_lookup_table.yaml` files in OFA's own format. Compiling each resolution's
(block, kernel, expand) entries once makes a config's latency a sum of floats, which evolution
calls tens of thousands of times.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from explorer.errors import ExplorerError
from explorer.spaces.ofa_geometry import (
    EXPANDS,
    KERNELS,
    MAX_DEPTH,
    N_BLOCKS,
    N_STAGES,
    W12,
    OFAGeometry,
    middle_channels,
    ofa_blocks,
    stem_size,
)

NOTE10_DEVICE = "note10-ofa-w12"


def _device_tables(name: str) -> dict[int, dict[str, float]]:
    """{resolution: {key: mean ms}} of an OFA-keyed LUT device."""
    from explorer.latency.devices import load_device

    dev = load_device(name)
    tables = getattr(dev, "tables", None)
    if not isinstance(tables, dict) or not all(str(t).isdigit() for t in tables):
        raise ExplorerError(f"device {name!r} has no per-resolution OFA tables")
    return {
        int(r): {k: float(v.get("mean", v.get("median"))) for k, v in t.items()} for r, t in tables.items()
    }


@lru_cache(maxsize=16)
def _table(path: str) -> dict[str, float]:
    """{key: mean ms} of one OFA YAML table, validated (`latency.ofa_yaml.read_yaml_table`)."""
    from explorer.latency.ofa_yaml import read_yaml_table

    return {k: v["mean"] for k, v in read_yaml_table(path).items()}


def _shape(s) -> str:
    return "x".join(str(v) for v in s)


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
        src = self._tables[r]
        lut = _table(src) if isinstance(src, str) else src
        g = self.geo
        f = stem_size(r)
        fixed = self._get(lut, f"Conv-input:{_shape((r, r, 3))}-output:{_shape((f, f, g.stem))}")
        fixed += self._get(
            lut,
            f"expanded_conv-input:{_shape((f, f, g.stem))}-output:{_shape((f, f, g.first_block))}"
            f"-expand:{g.stem}-kernel:3-stride:1-idskip:1-se:0-hs:0",
        )
        blocks: dict[tuple[int, int, int], float] = {}
        deepest = {"ks": [KERNELS[0]] * N_BLOCKS, "e": [EXPANDS[0]] * N_BLOCKS, "d": [MAX_DEPTH] * N_STAGES}
        for b in ofa_blocks(dict(deepest, r=r), g):  # every block, active in some config
            cin, cout, fi, fo = b.in_channels, b.out_channels, b.in_size, b.out_size
            for k in KERNELS:
                for e in EXPANDS:
                    blocks[(b.index, k, e)] = self._get(
                        lut,
                        f"expanded_conv-input:{_shape((fi, fi, cin))}-output:{_shape((fo, fo, cout))}"
                        f"-expand:{middle_channels(cin, e)}-kernel:{k}-stride:{b.stride}"
                        f"-idskip:{int(b.skip)}-se:{int(b.se)}-hs:{int(b.act == 'h_swish')}",
                    )
        f = fo
        fixed += self._get(
            lut, f"Conv_1-input:{_shape((f, f, cout))}-output:{_shape((f, f, g.final_expand))}"
        )
        fixed += self._get(
            lut, f"AvgPool2D-input:{_shape((f, f, g.final_expand))}-output:1x1x{g.final_expand}"
        )
        fixed += self._get(lut, f"Conv_2-input:1x1x{g.final_expand}-output:1x1x{g.last_channel}")
        fixed += self._get(lut, f"Logits-input:1x1x{g.last_channel}-output:1000")
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
