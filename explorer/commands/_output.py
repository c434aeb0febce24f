"""Small helpers for CLI output: JSON to stdout, aligned text tables."""

from __future__ import annotations

import json
import math
import sys


def strict(data):
    """`data` with every non-finite float (NaN, +-inf) replaced by None and tuples as lists, so
    it serialises as strict JSON (RFC 8259 has no NaN or Infinity; `null` means "no value")."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: strict(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict(v) for v in data]
    return data


def print_json(data) -> None:
    """Strict JSON on stdout: every command's `--json` output parses with any JSON parser
    (non-finite numbers print as null; non-ASCII text is escaped)."""
    json.dump(strict(data), sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def print_table(headers: list[str], rows: list[list], align: str | None = None) -> None:
    """Print rows under headers; `align` is a string of 'l'/'r' per column (default: numbers right)."""
    cells = [[str(h) for h in headers]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[k]) for r in cells) for k in range(len(headers))]
    if align is None:
        align = "".join(
            "r" if rows and isinstance(rows[0][k], (int, float)) and not isinstance(rows[0][k], bool) else "l"
            for k in range(len(headers))
        )
    for n, r in enumerate(cells):
        line = "  ".join(c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(r, widths, align))
        print(line.rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def human(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.2f}{unit}"
    return f"{n:g}"
