"""The LUT keys of a graph's layers: the one function every layer-wise table is read and written by.

A node's key is its op's own key (`explorer.arch` OpSpec.lut_key: Once-for-All's key format for
OFA layers, so the official tables read as they are, own keys for other ops), or one of
`EXTRA_KEYS` for ops the core leaves keyless that still run a kernel. Nodes without a key (input,
output, identity, dropout, skip) cost nothing in a sum; a config of a space is keyed through the
graph the space encodes it as. The table a graph reads is `table_id(graph)`: its input
resolution (per-resolution OFA tables) unless the device has one table for any resolution.

The only other key format is a foreign one: ProxylessNAS's mobile table keys explicit block lists
its own way (expand *ratio*, no SE / activation fields), `CONFIG_KEYERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from explorer.arch.registry import shape_str
from explorer.errors import FormatError

GRAPH_KEYER = "graph"  # keys come from the ArchGraph's layers (any space)
ANY_TABLE = "any"  # the table id of tables that hold every resolution


@dataclass(frozen=True)
class LayerSpec:
    """Everything needed to build and time one keyed layer in isolation."""

    key: str
    op: str
    params: dict = field(hash=False, compare=False)
    in_shapes: tuple
    out_shape: tuple

    @property
    def kind(self) -> str:
        """The op kind a per-kind calibration scales this layer with (OpSpec.kind_of)."""
        from explorer.arch import OPS

        return OPS[self.op].kind_of(self.params)

    def build(self):
        from explorer.arch import OPS

        spec = OPS[self.op]
        return spec.build(
            spec.resolve(self.params), [tuple(s) for s in self.in_shapes], tuple(self.out_shape)
        )


# Ops the core leaves without a key that still run a kernel: NB201's `none` computes x * 0 (about
# 15 us at 32x32x16 on one core, up to 90 of them per network), so the LUT times it too.
EXTRA_KEYS = {"none": lambda c: f"Zero-input:{shape_str(c.in_shapes[0])}"}


def node_key(c) -> str | None:
    """The LUT key of a NodeCost: the core's key, else an EXTRA_KEYS key, else None (free)."""
    if c.lut_key:
        return c.lut_key
    extra = EXTRA_KEYS.get(c.op)
    return extra(c) if extra else None


def layer_specs(graph) -> list[tuple[str, LayerSpec]]:
    """(node, LayerSpec) for every keyed node of `graph`, in execution order."""
    from explorer.arch import count_complexity

    out = []
    for c in count_complexity(graph).layers:
        key = node_key(c)
        if key:
            spec = LayerSpec(key, c.op, dict(graph.params(c.node)), tuple(c.in_shapes), c.out_shape)
            out.append((c.node, spec))
    return out


def layer_keys(graph) -> list[tuple[str, str]]:
    """(node, key) for every keyed node of `graph`, in execution order."""
    return [(n, s.key) for n, s in layer_specs(graph)]


def unique_specs(graphs: Iterable) -> dict[str, LayerSpec]:
    """The unique keys a set of graphs needs (first occurrence wins; equal keys mean equal layers)."""
    specs: dict[str, LayerSpec] = {}
    for g in graphs:
        for _, s in layer_specs(g):
            specs.setdefault(s.key, s)
    return specs


def table_id(graph) -> str:
    """The per-resolution table a graph reads (OFA's tables: one per input resolution)."""
    return str(graph.resolution)


def proxylessnas_mobile_keys(cfg: Mapping) -> tuple[str, list[str]]:
    """Keys of ProxylessNAS's mobile_trim.yaml for an explicit block list.

    ``cfg = {"r": 224, "first_conv": 32, "blocks": [[cin, cout, expand_ratio, k, stride], ...],
    "feature_mix": 1280}``; expand is the *ratio* and idskip 1 iff stride 1 and cin == cout.
    The table only holds ProxylessNAS-mobile's own layers (r=224); anything else is reported missing.
    """
    try:
        r = int(cfg["r"])
        f = (r + 1) // 2
        keys = [f"Conv-input:{r}x{r}x3-output:{f}x{f}x{int(cfg['first_conv'])}"]
        cin = None
        for cin, cout, e, k, s in cfg["blocks"]:
            fo = int((f - 1) / s + 1)
            idskip = 1 if s == 1 and cin == cout else 0
            keys.append(
                f"expanded_conv-input:{f}x{f}x{cin}-output:{fo}x{fo}x{cout}"
                f"-expand:{int(e)}-kernel:{k}-stride:{s}-idskip:{idskip}"
            )
            f, cin = fo, cout
        fm = int(cfg["feature_mix"])
        keys.append(f"Conv_1-input:{f}x{f}x{cin}-output:{f}x{f}x{fm}")
        keys.append(f"Logits-input:{f}x{f}x{fm}-output:1000")
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"ProxylessNAS config is malformed ({e})") from None
    return ANY_TABLE, keys


# keyer name -> function(config) -> (table id, keys), for tables in another tool's key format
CONFIG_KEYERS: dict[str, Callable[[Mapping], tuple[str, list[str]]]] = {
    "proxylessnas-mobile": proxylessnas_mobile_keys,
}
