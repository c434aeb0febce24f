"""NAS Explorer: a pure core (no Qt) for hardware-aware neural architecture search.

`explorer.gui` presents and edits the core; everything else here runs without a display.
"""

__version__ = "0.1.0"
