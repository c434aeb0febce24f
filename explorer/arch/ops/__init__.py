"""Built-in ops; importing this package registers them (one module per op family)."""

from . import basic, conv, mbconv, nb201  # noqa: F401
