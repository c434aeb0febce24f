"""Once-for-All MobileNetV3 spaces (`ofa-mbv3-w1.0`, `ofa-mbv3-w1.2`), exactly as the official
`OFAMobileNetV3` builds its subnets. Config uses OFA's own field names:
{"ks": [20 kernels], "e": [20 expand ratios], "d": [5 depths], "r": resolution}; entries of blocks
beyond a stage's depth are kept in the config but do not appear in the graph."""

from __future__ import annotations

from ..arch.graph import ArchGraph
from ..errors import ConfigError
from . import ofa_geometry
from .base import SearchSpace
from .ofa_features import OFA_LATENCY
from .ofa_geometry import DEPTHS, EXPANDS, KERNELS, MAX_DEPTH, N_BLOCKS, N_STAGES, W10, W12, OFAGeometry
from .registry import register_space
from .schema import ConfigSchema, Field, FormRow

OPS = ("input", "conv", "mbconv", "global_avgpool", "dropout", "linear", "output")


class OFAMobileNetV3Space(SearchSpace):
    family = "ofa-mbv3"
    config_keys = ("ks", "e", "d", "r")
    supports_supernet = True
    aliases, latency = ("ofa",), OFA_LATENCY

    def __init__(self, name: str, geo: OFAGeometry):
        self.name = name
        self.geo = geo
        self.default_resolution = 224 if 224 in geo.resolutions else geo.resolutions[-1]
        self.description = (
            f"Once-for-All MobileNetV3 w{geo.width_mult}: 20 blocks, kernel {{3,5,7}}, expand {{3,4,6}}, "
            f"depth {{2,3,4}} per stage, resolution {geo.resolutions[0]}-{geo.resolutions[-1]}"
        )
        self._schema = _schema(geo)

    def size(self) -> int:
        per_stage = sum((len(KERNELS) * len(EXPANDS)) ** d for d in DEPTHS)
        return per_stage**N_STAGES * len(self.geo.resolutions)

    def check(self, config: dict) -> dict:
        if not isinstance(config, dict):
            raise ConfigError(f"{self.name}: config must be an object with ks, e, d, r")
        unknown = set(config) - {"ks", "e", "d", "r"}
        if unknown:
            raise ConfigError(f"{self.name}: unknown config field(s) {sorted(unknown)}")
        out = {}
        for key, n, allowed in (("ks", N_BLOCKS, KERNELS), ("e", N_BLOCKS, EXPANDS), ("d", N_STAGES, DEPTHS)):
            vals = config.get(key)
            if isinstance(vals, str) and vals.isdigit():  # HELP's CSVs write "7537..." strings
                vals = [int(c) for c in vals]
            if not isinstance(vals, list) or len(vals) != n:
                raise ConfigError(f"{self.name}: '{key}' must be a list of {n} values")
            for i, v in enumerate(vals):
                if isinstance(v, float) and v.is_integer():
                    v = int(v)
                if v not in allowed or isinstance(v, bool):
                    raise ConfigError(f"{self.name}: {key}[{i}]={v!r} is not one of {list(allowed)}")
            out[key] = [int(v) for v in vals]
        r = config.get("r", self.default_resolution)
        if r not in self.geo.resolutions or isinstance(r, bool):
            lo, hi = self.geo.resolutions[0], self.geo.resolutions[-1]
            raise ConfigError(f"{self.name}: resolution r={r!r} is not in {lo}..{hi} step 4")
        out["r"] = int(r)
        return out

    def sample(self, seed: int | None = None) -> dict:
        rng = self.rng(seed)
        return {
            "ks": [rng.choice(KERNELS) for _ in range(N_BLOCKS)],
            "e": [rng.choice(EXPANDS) for _ in range(N_BLOCKS)],
            "d": [rng.choice(DEPTHS) for _ in range(N_STAGES)],
            "r": rng.choice(self.geo.resolutions),
        }

    def max_config(self, r: int = 224) -> dict:
        return {"ks": [7] * N_BLOCKS, "e": [6] * N_BLOCKS, "d": [4] * N_STAGES, "r": r}

    def min_config(self, r: int = 224) -> dict:
        return {"ks": [3] * N_BLOCKS, "e": [3] * N_BLOCKS, "d": [2] * N_STAGES, "r": r}

    def active_blocks(self, config: dict) -> list[int]:
        return ofa_geometry.active_blocks(config["d"])

    # -- self-description ------------------------------------------------------------------
    def schema(self) -> ConfigSchema:
        return self._schema

    def form_active(self, values: dict, key: str, index: int | None) -> bool:
        if key in ("ks", "e") and index is not None:
            return index % MAX_DEPTH < values["d"][index // MAX_DEPTH]
        return True

    def ops(self) -> tuple[str, ...]:
        return OPS

    def geometry(self) -> dict:
        geo = self.geo
        stages = [
            {"width": w, "stride": st, "act": a, "se": se, "max_depth": MAX_DEPTH}
            for w, st, a, se in zip(geo.stage_widths, geo.stage_strides, geo.stage_acts, geo.stage_se)
        ]
        return {
            "width_mult": geo.width_mult,
            "stem": geo.stem,
            "first_block": geo.first_block,
            "stages": stages,
            "final_expand": geo.final_expand,
            "last_channel": geo.last_channel,
            "n_classes": geo.n_classes,
            "dropout": geo.dropout,
            "resolutions": list(geo.resolutions),
            "kernels": list(KERNELS),
            "expands": list(EXPANDS),
            "depths": list(DEPTHS),
        }

    def encode(self, config: dict) -> ArchGraph:
        cfg = self.check(config)
        geo = self.geo
        g = ArchGraph(f"{self.name} subnet", {"space": self.name, "config": cfg})
        x = 0.0

        def node(op, nid, params=None, group=None):
            nonlocal x
            g.add_node(op, params, id=nid, pos=(x, 0.0), group=group)
            x += 160.0
            return nid

        prev = node("input", "input", {"channels": 3, "resolution": cfg["r"]})
        chain = [prev]
        chain.append(
            node(
                "conv", "stem", {"out_channels": geo.stem, "kernel": 3, "stride": 2, "act": "h_swish"}, "stem"
            )
        )
        chain.append(
            node(
                "mbconv",
                "first_block",
                {
                    "out_channels": geo.first_block,
                    "kernel": 3,
                    "stride": 1,
                    "expand_ratio": 1.0,
                    "act": "relu",
                },
                "stem",
            )
        )
        for b in ofa_geometry.ofa_blocks(cfg, geo):
            params = {
                "out_channels": b.out_channels,
                "kernel": b.kernel,
                "stride": b.stride,
                "expand_ratio": float(b.expand),
                "se": b.se,
                "act": b.act,
            }
            chain.append(node("mbconv", b.node_id, params, f"stage{b.stage + 1}"))
        head = [
            ("conv", "final_expand", {"out_channels": geo.final_expand, "kernel": 1, "act": "h_swish"}),
            ("global_avgpool", "pool", None),
            (
                "conv",
                "feature_mix",
                {"out_channels": geo.last_channel, "kernel": 1, "bn": False, "act": "h_swish"},
            ),
            ("dropout", "dropout", {"p": geo.dropout}),
            ("linear", "classifier", {"out_features": geo.n_classes}),
        ]
        for op, nid, params in head:
            chain.append(node(op, nid, params, "head"))
        chain.append(node("output", "output"))
        g.chain(*chain)
        return g

    def read_config(self, graph: ArchGraph) -> dict:
        """Kernels, expand ratios, depths and resolution read from the graph's blocks (so edits made
        in the editor count); blocks absent from the graph keep the meta config's values when it is
        valid (they are inactive and change nothing)."""
        try:
            base = self.check(graph.meta.get("config"))
        except ConfigError:
            base = self.min_config()
        ks, e, d = list(base["ks"]), list(base["e"]), [0] * N_STAGES
        for nid in graph.nodes:
            if nid.startswith("block") and nid[5:].isdigit() and graph.op(nid) == "mbconv":
                i = int(nid[5:])
                if i >= N_BLOCKS:
                    raise ConfigError(f"{self.name}: node {nid} is not a block of this space")
                p = graph.params(nid)
                ks[i], e[i] = p["kernel"], p["expand_ratio"]
                d[i // MAX_DEPTH] = max(d[i // MAX_DEPTH], i % MAX_DEPTH + 1)
        return self.check({"ks": ks, "e": e, "d": d, "r": graph.resolution})

    def mutate(self, config: dict, seed: int | None = None, prob: float = 0.1) -> dict:
        """OFA's evolution mutation: each block's kernel/expand and each stage's depth resampled
        with `prob`, the resolution with probability 0.5."""
        rng = self.rng(seed)
        cfg = self.check(config)
        out = {"ks": list(cfg["ks"]), "e": list(cfg["e"]), "d": list(cfg["d"]), "r": cfg["r"]}
        for i in range(N_BLOCKS):
            if rng.random() < prob:
                out["ks"][i] = rng.choice(KERNELS)
            if rng.random() < prob:
                out["e"][i] = rng.choice(EXPANDS)
        for s in range(N_STAGES):
            if rng.random() < prob:
                out["d"][s] = rng.choice(DEPTHS)
        if rng.random() < 0.5:
            out["r"] = rng.choice(self.geo.resolutions)
        return out

    def crossover(self, a: dict, b: dict, seed: int | None = None) -> dict:
        rng = self.rng(seed)
        a, b = self.check(a), self.check(b)
        return {
            "ks": [rng.choice(p) for p in zip(a["ks"], b["ks"])],
            "e": [rng.choice(p) for p in zip(a["e"], b["e"])],
            "d": [rng.choice(p) for p in zip(a["d"], b["d"])],
            "r": rng.choice((a["r"], b["r"])),
        }

    def default_config(self) -> dict:
        return self.sample(0)


def _schema(geo: OFAGeometry) -> ConfigSchema:
    """Resolution, then per stage its depth and the kernel / expand ratio of each of its blocks."""
    rows = [FormRow("resolution", (("r", None),))]
    for s in range(N_STAGES):
        rows.append(FormRow(f"stage{s + 1}  depth", (("d", s),), heading=True))
        for j in range(MAX_DEPTH):
            i = s * MAX_DEPTH + j
            rows.append(FormRow(f"   block{i}", (("ks", i), ("e", i))))
    return ConfigSchema(
        fields=(
            Field("ks", KERNELS, N_BLOCKS, "kernel", "kernel size", short="k"),
            Field("e", EXPANDS, N_BLOCKS, "expand", "expand ratio"),
            Field("d", DEPTHS, N_STAGES, "depth", "blocks in this stage"),
            Field("r", geo.resolutions, 0, "resolution", "input resolution"),
        ),
        rows=tuple(rows),
        note="k = kernel, e = expand ratio",
    )


OFA_W10 = register_space(OFAMobileNetV3Space("ofa-mbv3-w1.0", W10))
OFA_W12 = register_space(OFAMobileNetV3Space("ofa-mbv3-w1.2", W12))
