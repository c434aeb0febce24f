"""Per-sample weight-gradient sign counts for Conv2d/Linear layers, without holding N x D.

Two facts make a batched pass equal to N separate train-mode passes:
1. Train-mode BatchNorm on a batch of one sample normalises with that sample's own spatial
   statistics, i.e. it is instance normalisation with the BN's affine parameters.
2. With per-sample normalisation nothing mixes samples, so the summed loss' gradient w.r.t. a
   layer's output, restricted to sample i, is sample i's own output gradient; sample i's weight
   gradient is then an outer product of that with its (unfolded) input, as Opacus forms it.

We capture each layer's input in a forward hook and its output gradient in a tensor hook, and
turn them into sign counts right in the backward pass, a few samples at a time, so at most one
chunk of one layer's per-sample gradients exists at once.
"""

from __future__ import annotations

import types

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.proxies._model import ProxyError

# bytes of per-sample gradient / unfolded input one chunk may hold
CHUNK_BYTES = 48 * 2**20


class SignCounter:
    """Integer sign sums per weight coordinate, with coordinates that ever saw NaN dropped."""

    def __init__(self, layers: list[nn.Module]):
        self.layers = layers
        self.counts = {id(m): torch.zeros(m.weight.shape, dtype=torch.int32) for m in layers}
        self.nan = {id(m): None for m in layers}

    def add(self, layer: nn.Module, sign_sum: torch.Tensor, nan_mask: torch.Tensor | None = None) -> None:
        """Add summed signs (integer valued floats); `nan_mask` marks coordinates whose gradient was NaN.

        numpy's sign (which the official code uses) keeps NaN and `nansum` drops the coordinate;
        torch.sign maps NaN to 0, so NaN is tracked separately.
        """
        key = id(layer)
        if nan_mask is not None and nan_mask.any():
            self.nan[key] = nan_mask if self.nan[key] is None else self.nan[key] | nan_mask
        self.counts[key] += sign_sum.to(torch.int32)

    def score(self) -> tuple[int, int]:
        """(sum over kept coordinates of |count|, number of coordinates dropped for NaN)."""
        total, dropped = 0, 0
        for m in self.layers:
            c = self.counts[id(m)].abs()
            bad = self.nan[id(m)]
            if bad is not None:
                c = c.masked_fill(bad, 0)
                dropped += int(bad.sum())
            total += int(c.sum(dtype=torch.int64))
        return total, dropped


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """Conv2d and Linear modules, each once, in modules() order: the layers GradSign counts."""
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _per_sample_bn_forward(self: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    if x.dim() < 3 or x[0, 0].numel() < 2:
        raise ProxyError(
            f"{type(self).__name__} on input {tuple(x.shape)} is undefined for one sample in train mode "
            "(GradSign forwards each sample alone)"
        )
    return F.instance_norm(x, None, None, self.weight, self.bias, use_input_stats=True, eps=self.eps)


def make_per_sample(model: nn.Module) -> None:
    """In place: every BatchNorm normalises each sample alone; dropout off; train mode otherwise."""
    model.train()
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.forward = types.MethodType(_per_sample_bn_forward, m)
        elif isinstance(m, nn.modules.dropout._DropoutNd):
            m.eval()


def _chunk(n: int, per_sample_bytes: int) -> int:
    return max(1, min(n, CHUNK_BYTES // max(1, per_sample_bytes)))


def _padded(conv: nn.Conv2d, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """The input as the conv sees it, and the zero padding still to apply."""
    if conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        mode = "constant" if conv.padding_mode == "zeros" else conv.padding_mode
        return F.pad(x, conv._reversed_padding_repeated_twice, mode=mode), (0, 0)
    return x, tuple(conv.padding)


def conv_per_sample_grad(conv: nn.Conv2d, x: torch.Tensor, gout: torch.Tensor) -> torch.Tensor:
    """Per-sample weight gradients [n, *weight.shape] of a Conv2d (groups/depthwise included).

    Pointwise convs are a batched matmul. Otherwise the n samples are stacked along channels and
    treated as a conv with n x groups groups, whose ordinary weight gradient is the per-sample
    gradient: one native backward-weights call, no im2col copy.
    """
    n, cout = gout.shape[0], conv.out_channels
    x, padding = _padded(conv, x)
    if conv.kernel_size == (1, 1) and padding == (0, 0) and conv.groups == 1:
        s0, s1 = conv.stride
        xs = x if (s0, s1) == (1, 1) else x[:, :, ::s0, ::s1]
        cols = xs.reshape(n, x.shape[1], -1)
        grad = torch.bmm(gout.reshape(n, cout, -1), cols.transpose(1, 2))
        return grad.reshape(n, *conv.weight.shape)
    w = conv.weight
    stacked_w = w.new_empty((n * w.shape[0], *w.shape[1:]))  # values unused by the weight gradient
    grad = torch.ops.aten.convolution_backward(
        gout.reshape(1, n * cout, *gout.shape[2:]),
        x.reshape(1, n * x.shape[1], *x.shape[2:]),
        stacked_w,
        None,
        list(conv.stride),
        list(padding),
        list(conv.dilation),
        False,
        [0, 0],
        n * conv.groups,
        [False, True, False],
    )[1]
    return grad.reshape(n, *w.shape)


def _sign_sum(grads, n: int, step: int, shape, maybe_nan: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sum of signs over sample chunks of per-sample gradients, and the coordinates that saw NaN."""
    total = torch.zeros(shape)
    nan = None
    for s in range(0, n, step):
        grad = grads(s, s + step)
        if maybe_nan:
            bad = torch.isnan(grad).any(0)
            nan = bad if nan is None else nan | bad
        total += torch.sign(grad).sum(0)
    return total, nan


def _rank_one_sign_sum(x: torch.Tensor, gout: torch.Tensor) -> torch.Tensor:
    """Sum over samples of sign(outer(gout_n, x_n)) = sign(gout)^T @ sign(x): no per-sample matrices.

    Exact because sign(a * b) = sign(a) * sign(b) (zero included) whenever each sample's gradient
    is a single outer product, i.e. a Linear on [N, in] or a pointwise conv producing a 1x1 map.
    """
    return torch.sign(gout).t() @ torch.sign(x)


def conv_sign_sum(conv: nn.Conv2d, x: torch.Tensor, gout: torch.Tensor, maybe_nan: bool = True):
    """(sum over samples of sign(per-sample weight gradient), NaN mask) of a Conv2d."""
    pointwise = conv.kernel_size == (1, 1) and conv.groups == 1 and conv.padding in ((0, 0), "valid")
    if pointwise and not maybe_nan and gout.shape[2] * gout.shape[3] == 1:
        s0, s1 = conv.stride
        xs = x[:, :, ::s0, ::s1][:, :, :1, :1].reshape(x.shape[0], -1)
        total = _rank_one_sign_sum(xs, gout.reshape(gout.shape[0], -1))
        return total.reshape(conv.weight.shape), None
    step = _chunk(gout.shape[0], 4 * conv.weight.numel())
    return _sign_sum(
        lambda a, b: conv_per_sample_grad(conv, x[a:b], gout[a:b]),
        gout.shape[0],
        step,
        conv.weight.shape,
        maybe_nan,
    )


def _linear_grad(x: torch.Tensor, gout: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    return torch.bmm(gout.reshape(n, -1, gout.shape[-1]).transpose(1, 2), x.reshape(n, -1, x.shape[-1]))


def linear_sign_sum(lin: nn.Linear, x: torch.Tensor, gout: torch.Tensor, maybe_nan: bool = True):
    """(sum over samples of sign(per-sample weight gradient), NaN mask) of a Linear (any leading dims)."""
    if x.dim() == 2 and not maybe_nan:
        return _rank_one_sign_sum(x, gout), None
    step = _chunk(x.shape[0], 4 * lin.weight.numel())
    return _sign_sum(
        lambda a, b: _linear_grad(x[a:b], gout[a:b]), x.shape[0], step, lin.weight.shape, maybe_nan
    )


def layer_sign_sum(layer: nn.Module, x: torch.Tensor, gout: torch.Tensor, maybe_nan: bool = True):
    if isinstance(layer, nn.Conv2d):
        return conv_sign_sum(layer, x, gout, maybe_nan)
    return linear_sign_sum(layer, x, gout, maybe_nan)


def _per_sample_grad(layer: nn.Module, x: torch.Tensor, gout: torch.Tensor) -> torch.Tensor:
    """Full per-sample gradients [n, *weight.shape] (only for layers called more than once)."""
    if isinstance(layer, nn.Conv2d):
        return conv_per_sample_grad(layer, x, gout)
    return _linear_grad(x, gout)


class SignCapture:
    """Hooks that fill a SignCounter during one forward/backward of a chunk of samples.

    `track_nan` (set per chunk) enables NaN masks; it is needed only when some per-sample loss is
    not finite, since a NaN gradient entry needs a NaN/inf somewhere on that sample's path.
    `held_bytes` counts the layer inputs the hooks keep alive, for sizing the next chunk.
    """

    def __init__(self, layers: list[nn.Module], counter: SignCounter):
        self.counter = counter
        self.calls: dict[int, list] = {}
        self.shared: dict[int, tuple] = {}
        self.track_nan = True
        self.held_bytes = 0
        self.handles = [m.register_forward_hook(self._forward_hook) for m in layers]

    def _forward_hook(self, module, inputs, output):
        if not output.requires_grad:
            return
        x = inputs[0].detach()
        rec = [module, x, x._version]
        self.calls.setdefault(id(module), []).append(rec)
        self.held_bytes += x.numel() * x.element_size()
        output.register_hook(lambda g, rec=rec: self._on_grad(rec, g))

    def _on_grad(self, rec, g: torch.Tensor) -> None:
        module, x, version = rec
        if x._version != version:
            raise ProxyError(
                f"an input of {type(module).__name__} was modified in place after use; "
                "use GradSign method='exact' for this model"
            )
        g = g.detach()
        if len(self.calls[id(module)]) == 1:
            self.counter.add(module, *layer_sign_sum(module, x, g, self.track_nan))
        else:  # weight shared across calls: signs only after summing the calls' gradients
            acc = self.shared.get(id(module))
            grad = _per_sample_grad(module, x, g)
            self.shared[id(module)] = (module, grad if acc is None else acc[1] + grad)
        rec[1] = None

    def finish_chunk(self) -> None:
        for module, grad in self.shared.values():
            self.counter.add(module, torch.sign(grad).sum(0), torch.isnan(grad).any(0))
        self.calls.clear()
        self.shared.clear()
        self.held_bytes = 0

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class SavedBytes:
    """Counts the bytes autograd saves for backward (distinct storages), to size sample chunks."""

    def __init__(self):
        self.bytes = 0
        self._seen: set[int] = set()

    def pack(self, t: torch.Tensor):
        try:
            key = t.untyped_storage().data_ptr()
        except RuntimeError:
            key = id(t)
        if key not in self._seen:
            self._seen.add(key)
            self.bytes += t.numel() * t.element_size()
        return t

    @staticmethod
    def unpack(t):
        return t
