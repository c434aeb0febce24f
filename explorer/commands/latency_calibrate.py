"""`nas-explorer latency calibrate`: fit a local device's calibration on whole networks of your own.

Measures each architecture file (an imported model, a hand-drawn net, a sampled config) as a
whole network on this machine by the device's protocol, the layers it lacks first, and fits
``ms ~ a * LUT + b`` on them, or with --by-kind a scale per op kind (dense / grouped convs,
pooling, ...; `explorer.latency.calibration`), stored in the device file for the files' space
('*' for imported and mixed ones), so every later prediction of that space uses it.

Wired by the latency CLI: `add_calibrate_parser(latency_subparsers)`; the handler is `cmd_calibrate`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from explorer.errors import ExplorerError


def add_calibrate_parser(latency_subparsers):
    p = latency_subparsers.add_parser(
        "calibrate",
        help="fit a local device's calibration on whole-network measurements of architecture files",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="architecture JSON files (at least 2)")
    p.add_argument("--device", required=True, help="a local device (see `latency devices`) or its .json")
    p.add_argument("--by-kind", action="store_true", help="a scale per op kind, not one for the sum")
    p.add_argument("--space", help="store the calibration for this space (default: the files' space, '*')")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the stored record as JSON")
    p.set_defaults(handler=cmd_calibrate)
    return p


def _graphs(files: list[str]) -> list:
    from explorer.spaces import get_space

    from ._arch_files import read_arch_file

    out = []
    for f in files:
        space, graph, config = read_arch_file(Path(f))
        if graph is None:
            graph = get_space(space).encode(config)
        out.append(graph)
    return out


def cmd_calibrate(args) -> int:
    from tqdm import tqdm

    from ..latency.lut import LutDevice
    from ..latency.profile import calibrate, require_measurable
    from ..latency.registry import load_device

    if len(args.files) < 2:
        raise ExplorerError("a calibration needs at least 2 architecture files")
    dev = load_device(args.device)
    if not isinstance(dev, LutDevice):
        raise ExplorerError(
            f"device {dev.name!r} is {dev.kind}, not a layer-wise table: nothing to calibrate"
        )
    require_measurable(dev)
    graphs = _graphs(args.files)
    with tqdm(
        total=len(graphs), desc="whole networks", disable=args.quiet, file=sys.stderr, leave=False
    ) as bar:
        record = calibrate(
            dev,
            graphs,
            space=args.space,
            by_kind=args.by_kind,
            progress=lambda _name, done, _total: bar.update(done - bar.n),
        )
    space = args.space or next(s for s, r in dev.calibration.items() if r is record)
    if args.json:
        from ._output import print_json

        print_json({"device": dev.name, "path": str(dev.path), "space": space, **record})
        return 0
    kinds = ", ".join(f"{k} x{v:.3g}" for k, v in sorted((record.get("by_kind") or {}).items()))
    scale = f"per kind ({kinds}; other kinds x{record['a']:.4g})" if kinds else f"{record['a']:.4g} * LUT"
    form = f"ms = {record['b']:.4g} + {scale}"
    print(f"calibration {space} of {dev.name} on {record['n']} nets: {form}")
    print(
        f"within 10 % in sample: raw {record['raw']['within_10']:.0%}, calibrated "
        f"{record['calibrated']['within_10']:.0%}"
        + (
            f"; leave-one-out rms relative error {record['loo_rms_rel_error']:.1%}"
            if record.get("loo_rms_rel_error") is not None
            else ""
        )
    )
    return 0
