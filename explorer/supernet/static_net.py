"""A static OFA-MBv3 subnet with one submodule per ArchGraph node (`stem`, `first_block`, `block{i}`...).

It is what extraction produces before (or without) the core's GraphModule: the same layers, the
same parameter names per node, so copying into `build_model(space.encode(config))` is a
per-node `load_state_dict`.
"""

from __future__ import annotations

import torch
from torch import nn

from explorer.arch.modules import ConvBNAct, Linear, MBConv
from explorer.spaces.ofa_geometry import OFAGeometry, ofa_blocks, se_channels


class StaticOFASubnet(nn.Module):
    def __init__(self, geo: OFAGeometry, config: dict, dropout: float = 0.1):
        super().__init__()
        self.config = {k: (list(v) if isinstance(v, list) else v) for k, v in config.items()}
        self.stem = ConvBNAct(3, geo.stem, 3, 2, act="h_swish")
        self.first_block = MBConv(geo.stem, geo.first_block, 3, 1, geo.stem, 0, "relu", True, False)
        self.block_ids: list[str] = []
        for b in ofa_blocks(config, geo):
            se_mid = se_channels(b.mid_channels) if b.se else 0
            block = MBConv(
                b.in_channels, b.out_channels, b.kernel, b.stride, b.mid_channels, se_mid, b.act, b.skip, True
            )
            self.add_module(b.node_id, block)
            self.block_ids.append(b.node_id)
        self.final_expand = ConvBNAct(geo.stage_widths[-1], geo.final_expand, 1, act="h_swish")
        self.feature_mix = ConvBNAct(geo.final_expand, geo.last_channel, 1, bn=False, act="h_swish")
        self.dropout = nn.Dropout(dropout)
        self.classifier = Linear(geo.last_channel, geo.n_classes)

    @property
    def node_ids(self) -> list[str]:
        return ["stem", "first_block", *self.block_ids, "final_expand", "feature_mix", "classifier"]

    def node_module(self, node_id: str) -> nn.Module:
        return getattr(self, node_id)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_block(self.stem(x))
        for b in self.block_ids:
            x = getattr(self, b)(x)
        x = self.final_expand(x)
        x = x.mean(3, keepdim=True).mean(2, keepdim=True)
        x = self.feature_mix(x)
        return self.classifier(self.dropout(x.flatten(1)))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def count_macs(model: nn.Module, resolution: int) -> int:
    """Multiply-accumulates of conv and linear layers at one input size (OFA's `count_net_flops` rule)."""
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out):
        nonlocal total
        kh, kw = m.kernel_size
        total += out.shape[2] * out.shape[3] * m.out_channels * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp, _out):
        nonlocal total
        total += m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        p = next(model.parameters())
        model(torch.zeros(1, 3, resolution, resolution, dtype=p.dtype, device=p.device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return int(total)
