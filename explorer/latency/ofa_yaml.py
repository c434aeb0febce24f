"""Import Once-for-All / ProxylessNAS YAML latency tables as LUT devices.

The keys of an OFA-MBv3 graph (`keys.layer_keys`) are exactly the keys OFA's
``MBv3LatencyTable.predict_network_latency_given_config`` queries, so a LUT device built from the
official Note10 YAMLs reproduces OFA's predicted latencies (92.4 ms at r=224 for the full w1.2 net).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import yaml

from explorer.errors import FormatError
from explorer.spaces.ofa_mbv3 import OFA_W12

from .device import provenance
from .lut import LutDevice

# What the official tables are (data, as published): the space their keys were formed for.
NOTE10_SPACE = OFA_W12.name
PROXYLESS_FORMAT = "proxylessnas-mobile"  # ProxylessNAS's own key format (`keys.CONFIG_KEYERS`)


def _ms(v, key: str, field: str, path: Path) -> float:
    """A finite, non-negative figure of an entry; FormatError naming the file, key and field."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise FormatError(f"{path}: entry {key[:80]!r} has an invalid {field!r} ({str(v)[:40]!r})")
    return float(v)


def _entry(v, key: str, path: Path) -> dict:
    """{count, mean, std} from a YAML entry; ProxylessNAS's `var` becomes std."""
    if not isinstance(v, Mapping) or "mean" not in v:
        raise FormatError(f"{path}: entry {key[:80]!r} lacks 'mean'")
    out = {"mean": _ms(v["mean"], key, "mean", path)}
    if "std" in v:
        out["std"] = _ms(v["std"], key, "std", path)
    elif "var" in v:
        out["std"] = _ms(v["var"], key, "var", path) ** 0.5
    if "count" in v:
        if isinstance(v["count"], bool) or not isinstance(v["count"], int) or v["count"] < 0:
            raise FormatError(f"{path}: entry {key[:80]!r} has an invalid 'count'")
        out["count"] = v["count"]
    return out


def read_yaml_table(path: str | Path) -> dict[str, dict]:
    """An OFA / ProxylessNAS YAML table {key: {mean, std | var, count}}; FormatError (one line) for
    an unreadable, truncated or wrongly typed file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise FormatError(f"cannot read YAML latency table {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not a YAML latency table (not UTF-8 text)") from None
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise FormatError(f"{path}: corrupt or truncated YAML latency table{at}") from None
    except (RecursionError, ValueError, TypeError):  # absurd nesting, odd scalars
        raise FormatError(f"{path}: corrupt YAML latency table") from None
    if not isinstance(data, Mapping) or not data:
        kind = "empty" if data is None else f"a YAML {type(data).__name__}"
        raise FormatError(
            f"{path}: not a latency table (it is {kind}; expected a mapping of keys to entries)"
        )
    return {str(k): _entry(v, str(k), path) for k, v in data.items()}


def import_ofa_note10(lut_dir: str | Path, name: str = "note10-ofa-w12") -> LutDevice:
    """The official Note10 tables (one YAML per resolution) as one LUT device."""
    lut_dir = Path(lut_dir)
    files = sorted(lut_dir.glob("*_lookup_table.yaml"))
    if not files:
        raise FormatError(f"no *_lookup_table.yaml files in {lut_dir}")
    tables = {p.name.split("_")[0]: read_yaml_table(p) for p in files}
    prov = provenance(
        source="Once-for-All official latency tables (han-cai/files, mit-han-lab/once-for-all), "
        + ", ".join(p.name for p in files),
        method="layer-wise look-up table measured on device by the OFA authors; network = plain sum "
        "of stem, active blocks and head entries (OFA's predict_network_latency_given_config)",
        hardware="Samsung Galaxy Note10 (mobile CPU)",
        runtime="TensorFlow Lite (per OFA; version not published)",
        threads=None,
        batch=1,
        covers=f"OFA-MobileNetV3 w1.2 supernet, resolutions {sorted(int(t) for t in tables)}",
        accuracy={
            "reproduces_official": "full w1.2 net (k7 e6 d4): 92.4 ms at r=224, 47.8 ms at r=160",
            "note": "no whole-network measurements published; HELP reports layer-wise LUTs at "
            "Spearman 0.67-0.87 on other devices",
        },
        imported_from=[str(p.name) for p in files],
    )
    return LutDevice(name, provenance=prov, tables=tables, spaces=[NOTE10_SPACE], keyer=NOTE10_SPACE)


def import_proxyless(path: str | Path, name: str = "proxylessnas-mobile") -> LutDevice:
    """ProxylessNAS's mobile_trim.yaml (expand ratio, `var`) as a LUT device with one table."""
    table = read_yaml_table(path)
    prov = provenance(
        source=f"ProxylessNAS LatencyTools {Path(path).name} (mit-han-lab/proxylessnas)",
        method="layer-wise look-up table measured on a phone by the ProxylessNAS authors; std = sqrt(var)",
        hardware="Google Pixel 1 (mobile CPU), per ProxylessNAS",
        runtime="TensorFlow Lite (per ProxylessNAS; version not published)",
        batch=1,
        covers="ProxylessNAS mobile search space at r=224 (MBConv expand 3/6, kernel 3/5/7)",
        accuracy={"paper": "RMSE about 0.75 ms on the phone (ProxylessNAS paper figure)"},
    )
    return LutDevice(
        name, provenance=prov, tables={"any": table}, spaces=[PROXYLESS_FORMAT], keyer=PROXYLESS_FORMAT
    )
