"""`nas-explorer spaces`: the registered search spaces and their sizes; `--json` gives each space's
self-description (family, ops, geometry, config schema, flags) besides name, size and description."""

from __future__ import annotations

from ..spaces import list_spaces
from ._output import print_json, print_table


def register(sub) -> None:
    p = sub.add_parser("spaces", help="list search spaces with their sizes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_spaces)


def cmd_spaces(args) -> int:
    spaces = list_spaces()
    if args.json:
        print_json([s.describe() for s in spaces])
        return 0
    print_table(
        ["space", "size", "description"],
        [[s.name, f"{s.size():.3g}", s.description] for s in spaces],
        align="lrl",
    )
    return 0
