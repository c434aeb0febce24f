"""Built-in ops; importing this package registers them (one module per op family)."""

from . import basic, conv, layers, layout, mbconv, nb201, opaque  # noqa: F401
