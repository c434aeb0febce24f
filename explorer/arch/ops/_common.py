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
