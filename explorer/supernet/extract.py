"""Subnet extraction: copy the active subnet's sliced weights into static layers.

The depthwise kernels get the 7 -> 5 -> 3 transforms baked in and BN running statistics are
sliced, so the static model computes exactly what the supernet computes in that config (eval mode).
Two targets: our `StaticOFASubnet`, and the core's ArchGraph model (`build_model(space.encode(cfg))`),
filled node by node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from explorer.errors import ExplorerError
from explorer.progress import Progress, ProgressFn, StopFn
from explorer.spaces.ofa_geometry import active_blocks, se_channels
from explorer.supernet.dynamic_ops import DynamicMBConv
from explorer.supernet.ofa_mbv3 import OFAMobileNetV3
from explorer.supernet.static_net import StaticOFASubnet


def _copy_bn(dst: nn.BatchNorm2d, src: nn.BatchNorm2d, c: int) -> None:
    dst.weight.copy_(src.weight[:c])
    dst.bias.copy_(src.bias[:c])
    dst.running_mean.copy_(src.running_mean[:c])
    dst.running_var.copy_(src.running_var[:c])
    dst.num_batches_tracked.copy_(src.num_batches_tracked)
    dst.eps, dst.momentum = src.eps, src.momentum


@torch.no_grad()
def block_state(block: DynamicMBConv) -> dict[str, torch.Tensor]:
    """The active block's weights as a static MBConv state_dict (kernel transform baked in)."""
    mid = block.active_mid
    ib, dc, pl = block.inverted_bottleneck, block.depth_conv, block.point_linear
    sd: dict[str, torch.Tensor] = {"inverted_bottleneck.conv.weight": ib.conv.weight[:mid]}
    for prefix, bn, c in (
        ("inverted_bottleneck.bn", ib.bn, mid),
        ("depth_conv.bn", dc.bn, mid),
        ("point_linear.bn", pl.bn, block.out_channels),
    ):
        sd[f"{prefix}.weight"] = bn.weight[:c]
        sd[f"{prefix}.bias"] = bn.bias[:c]
        sd[f"{prefix}.running_mean"] = bn.running_mean[:c]
        sd[f"{prefix}.running_var"] = bn.running_var[:c]
        sd[f"{prefix}.num_batches_tracked"] = bn.num_batches_tracked
    sd["depth_conv.conv.weight"] = block.active_dw_kernel(mid)
    if block.use_se:
        fc = dc.se.fc
        se_mid = se_channels(mid)
        sd["depth_conv.se.fc.reduce.weight"] = fc.reduce.weight[:se_mid, :mid]
        sd["depth_conv.se.fc.reduce.bias"] = fc.reduce.bias[:se_mid]
        sd["depth_conv.se.fc.expand.weight"] = fc.expand.weight[:mid, :se_mid]
        sd["depth_conv.se.fc.expand.bias"] = fc.expand.bias[:mid]
    sd["point_linear.conv.weight"] = pl.conv.weight[:, :mid]
    return {k: v.detach().clone() for k, v in sd.items()}


@torch.no_grad()
def node_states(supernet: OFAMobileNetV3, config: dict | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """node id -> state_dict of that node's static module, for the given (default: active) config."""
    if config is not None:
        supernet.set_active(config)

    def plain(m: nn.Module) -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in m.state_dict().items()}

    out = {"stem": plain(supernet.stem), "first_block": plain(supernet.first_block)}
    for i in active_blocks(supernet.active_depths):
        out[f"block{i}"] = block_state(supernet.blocks[i])
    out["final_expand"] = plain(supernet.final_expand)
    out["feature_mix"] = plain(supernet.feature_mix)
    out["classifier"] = plain(supernet.classifier)
    return out


def _load_node(module: nn.Module, node_id: str, state: dict[str, torch.Tensor]) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    if missing or extra:
        raise ExplorerError(
            f"node {node_id}: layers differ from the supernet's (missing {missing}, extra {extra})"
        )
    for k, v in state.items():
        if own[k].shape != v.shape:
            raise ExplorerError(
                f"node {node_id}: {k} has shape {tuple(own[k].shape)}, supernet gives {tuple(v.shape)}"
            )
    module.load_state_dict(state)


@torch.no_grad()
def extract_static(supernet: OFAMobileNetV3, config: dict | None = None) -> StaticOFASubnet:
    """The active (or given) subnet as a standalone nn.Module with copied weights."""
    if config is not None:
        supernet.set_active(config)
    cfg = supernet.active_config()
    net = StaticOFASubnet(supernet.geo, cfg, supernet.dropout_rate)
    for nid, state in node_states(supernet).items():
        _load_node(net.node_module(nid), nid, state)
    net.train(supernet.training)
    return net.to(next(supernet.parameters()).device)


def fill_graph_model(model: nn.Module, states: dict[str, dict[str, torch.Tensor]]) -> nn.Module:
    """Copy node states into a core GraphModule (or any module offering `node_module(node_id)`)."""
    for nid, state in states.items():
        _load_node(model.node_module(nid), nid, state)
    return model


def core_space(supernet: OFAMobileNetV3):
    """The core's search space for this supernet, with its class count and resolutions.

    The registered spaces describe ImageNet subnets (1000 classes, r 128..224); a CIFAR supernet
    gets a space object with the same structure and its own head and resolutions.
    """
    import dataclasses

    try:
        from explorer.spaces import get_space
        from explorer.spaces.ofa_mbv3 import OFAMobileNetV3Space
    except ImportError as e:
        raise ExplorerError(f"the architecture core is not available ({e})") from None
    registered = get_space(supernet.space)
    geo = registered.geo
    res = tuple(sorted(set(geo.resolutions) | set(supernet.resolutions)))
    if (
        geo.n_classes == supernet.n_classes
        and geo.dropout == supernet.dropout_rate
        and res == geo.resolutions
    ):
        return registered
    geo = dataclasses.replace(
        geo, n_classes=supernet.n_classes, dropout=supernet.dropout_rate, resolutions=res
    )
    return OFAMobileNetV3Space(supernet.space, geo)


@torch.no_grad()
def extract_graph(supernet: OFAMobileNetV3, config: dict | None = None):
    """(ArchGraph, GraphModule with the subnet's weights) through the core's space and builder."""
    from explorer.arch import build_model

    if config is not None:
        supernet.set_active(config)
    graph = core_space(supernet).encode(supernet.active_config())
    model = build_model(graph)
    fill_graph_model(model, node_states(supernet))
    model.train(supernet.training)
    return graph, model.to(next(supernet.parameters()).device)


@dataclass
class ExtractJob:
    """Extraction (and optional BN recalibration) as a job: progress + cooperative cancel."""

    supernet: OFAMobileNetV3
    config: dict
    calib_batches: Any = None  # iterable of image batches, or None for no recalibration
    calib_total: int | None = None

    def run(self, progress: ProgressFn, should_stop: StopFn) -> StaticOFASubnet:
        progress(Progress(phase="extract", step=0, total=1, message="copying weights"))
        net = extract_static(self.supernet, self.config)
        progress(Progress(phase="extract", step=1, total=1, message="weights copied"))
        if self.calib_batches is not None:
            from explorer.supernet.bn_calib import recalibrate_bn

            recalibrate_bn(
                net, self.calib_batches, progress=progress, should_stop=should_stop, total=self.calib_total
            )
        net.eval()
        return net
