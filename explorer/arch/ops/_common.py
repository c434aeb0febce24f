"""Small helpers shared by the op families."""

from __future__ import annotations

from ..registry import Shape, ShapeError


def conv_out(size: int, kernel: int, stride: int) -> int:
    """Output size of a 'same'-padded (k // 2) convolution or pooling."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def need_map(shape: Shape, what: str = "input") -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"{what} must be a feature map (C,H,W), got {shape_text(shape)}")
    return shape  # type: ignore[return-value]


def shape_text(shape: Shape) -> str:
    return "(" + ",".join(str(s) for s in shape) + ")"


def check_kernel(kernel: int, size: int, stride: int) -> None:
    if kernel > size + 2 * (kernel // 2):
        raise ShapeError(f"kernel {kernel} is larger than the padded input ({size})")
    if conv_out(size, kernel, stride) < 1:
        raise ShapeError(f"stride {stride} leaves no output for input size {size}")


def window_out(
    size: int, kernel: int, stride: int, padding: int, dilation: int = 1, ceil: bool = False
) -> int:
    """Output size of a convolution or pooling window, exactly as torch computes it."""
    span = dilation * (kernel - 1) + 1
    num = size + 2 * padding - span
    if num < 0:
        raise ShapeError(f"kernel {kernel} (dilation {dilation}) is larger than the padded input ({size})")
    if not ceil:
        return num // stride + 1
    out = -(-num // stride) + 1
    if (out - 1) * stride >= size + padding:  # the last window must start inside the input
        out -= 1
    return out


def same_padding(p: dict) -> int:
    """The `padding` parameter resolved: -1 means 'same' for odd kernels (dilation * (k // 2))."""
    if p["padding"] >= 0:
        return p["padding"]
    return p.get("dilation", 1) * (p["kernel"] // 2)


def odd_unless_padded(p: dict) -> list[str]:
    """'Same' padding needs an odd kernel; an explicit padding takes any kernel."""
    if p["kernel"] % 2 == 1 or p.get("padding", -1) >= 0:
        return []
    return [f"kernel {p['kernel']} must be odd ('same' padding; or give an explicit padding)"]


def window_suffix(p: dict, defaults: dict) -> str:
    """LUT-key suffix naming the window parameters that differ from the defaults, so keys of
    graphs that do not use them stay what they were."""
    return "".join(f"-{k}:{int(p[k])}" for k, v in defaults.items() if k in p and p[k] != v)
