"""Import Once-for-All / ProxylessNAS YAML latency tables and key OFA-MBv3 configs like OFA does.

`ofa_mbv3_keys` lists, for a config ``{"ks", "e", "d", "r"}``, exactly the keys that OFA's
``MBv3LatencyTable.predict_network_latency_given_config`` queries, so a LUT device built from the
official Note10 YAMLs reproduces OFA's predicted latencies (92.4 ms at r=224 for the full w1.2 net).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import yaml

from explorer.errors import ConfigError, FormatError
from explorer.latency import devices as D
from explorer.latency.features import ofa_config
from explorer.spaces.ofa_geometry import MAX_DEPTH, N_STAGES, W10, W12, OFAGeometry, middle_channels

MAX_RESOLUTION = 4096  # far beyond any table; guards the arithmetic against absurd inputs


def _shape(*dims: int) -> str:
    return "x".join(str(d) for d in dims)


def ofa_mbv3_keys(cfg: Mapping, geo: OFAGeometry = W12) -> tuple[str, list[str]]:
    """(resolution table id, OFA LUT keys of the stem, active blocks and head) of one config."""
    c = ofa_config(cfg)
    r = c["r"]
    if not 1 <= r <= MAX_RESOLUTION:
        raise ConfigError(f"OFA-MBv3 resolution r must lie in 1..{MAX_RESOLUTION}, got {str(r)[:20]}")
    keys = []
    f = (r + 1) // 2
    keys.append(f"Conv-input:{_shape(r, r, 3)}-output:{_shape(f, f, geo.stem)}")

    def block(fin, cin, cout, mid, k, stride, se, hs):
        fo = int((fin - 1) / stride + 1)
        idskip = 1 if stride == 1 and cin == cout else 0
        keys.append(
            f"expanded_conv-input:{_shape(fin, fin, cin)}-output:{_shape(fo, fo, cout)}"
            f"-expand:{mid}-kernel:{k}-stride:{stride}-idskip:{idskip}-se:{int(se)}-hs:{int(hs)}"
        )
        return fo

    # the fixed first block: expand ratio 1 (mid = its input), k3, stride 1, relu, no SE
    f = block(f, geo.stem, geo.first_block, geo.stem, 3, 1, False, False)
    cin = geo.first_block
    for s in range(N_STAGES):
        cout = geo.stage_widths[s]
        for j in range(c["d"][s]):
            i = s * MAX_DEPTH + j
            stride = geo.stage_strides[s] if j == 0 else 1
            mid = middle_channels(cin, c["e"][i])
            f = block(f, cin, cout, mid, c["ks"][i], stride, geo.stage_se[s], geo.stage_acts[s] == "h_swish")
            cin = cout
    fe, lc = geo.final_expand, geo.last_channel
    keys.append(f"Conv_1-input:{_shape(f, f, cin)}-output:{_shape(f, f, fe)}")
    keys.append(f"AvgPool2D-input:{_shape(f, f, fe)}-output:{_shape(1, 1, fe)}")
    keys.append(f"Conv_2-input:{_shape(1, 1, fe)}-output:{_shape(1, 1, lc)}")
    keys.append(f"Logits-input:{_shape(1, 1, lc)}-output:{geo.n_classes}")
    return str(r), keys


D.register_keyer("ofa-mbv3-w1.2", lambda cfg: ofa_mbv3_keys(cfg, W12))
D.register_keyer("ofa-mbv3-w1.0", lambda cfg: ofa_mbv3_keys(cfg, W10))


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


def import_ofa_note10(lut_dir: str | Path, name: str = "note10-ofa-w12") -> D.LutDevice:
    """The official Note10 tables (one YAML per resolution) as one LUT device."""
    lut_dir = Path(lut_dir)
    files = sorted(lut_dir.glob("*_lookup_table.yaml"))
    if not files:
        raise FormatError(f"no *_lookup_table.yaml files in {lut_dir}")
    tables = {p.name.split("_")[0]: read_yaml_table(p) for p in files}
    prov = D.provenance(
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
    return D.LutDevice(name, ["ofa-mbv3-w1.2"], prov, tables, keyer="ofa-mbv3-w1.2")


def proxyless_keys(cfg: Mapping) -> tuple[str, list[str]]:
    """Keys of ProxylessNAS's mobile_trim.yaml for an explicit block list.

    ``cfg = {"r": 224, "first_conv": 32, "blocks": [[cin, cout, expand_ratio, k, stride], ...],
    "feature_mix": 1280}``; expand is the *ratio* and idskip 1 iff stride 1 and cin == cout.
    The table only holds ProxylessNAS-mobile's own layers (r=224); anything else is reported missing.
    """
    try:
        r = int(cfg["r"])
        f = (r + 1) // 2
        keys = [f"Conv-input:{_shape(r, r, 3)}-output:{_shape(f, f, int(cfg['first_conv']))}"]
        cin = None
        for cin, cout, e, k, s in cfg["blocks"]:
            fo = int((f - 1) / s + 1)
            idskip = 1 if s == 1 and cin == cout else 0
            keys.append(
                f"expanded_conv-input:{_shape(f, f, cin)}-output:{_shape(fo, fo, cout)}"
                f"-expand:{int(e)}-kernel:{k}-stride:{s}-idskip:{idskip}"
            )
            f, cin = fo, cout
        fm = int(cfg["feature_mix"])
        keys.append(f"Conv_1-input:{_shape(f, f, cin)}-output:{_shape(f, f, fm)}")
        keys.append(f"Logits-input:{_shape(f, f, fm)}-output:1000")
    except (KeyError, TypeError, ValueError) as e:
        raise FormatError(f"ProxylessNAS config is malformed ({e})") from None
    return "any", keys


D.register_keyer("proxylessnas-mobile", proxyless_keys)


def import_proxyless(path: str | Path, name: str = "proxylessnas-mobile") -> D.LutDevice:
    """ProxylessNAS's mobile_trim.yaml (expand ratio, `var`) as a LUT device with one table."""
    table = read_yaml_table(path)
    prov = D.provenance(
        source=f"ProxylessNAS LatencyTools {Path(path).name} (mit-han-lab/proxylessnas)",
        method="layer-wise look-up table measured on a phone by the ProxylessNAS authors; std = sqrt(var)",
        hardware="Google Pixel 1 (mobile CPU), per ProxylessNAS",
        runtime="TensorFlow Lite (per ProxylessNAS; version not published)",
        batch=1,
        covers="ProxylessNAS mobile search space at r=224 (MBConv expand 3/6, kernel 3/5/7)",
        accuracy={"paper": "RMSE about 0.75 ms on the phone (ProxylessNAS paper figure)"},
    )
    return D.LutDevice(name, ["proxylessnas-mobile"], prov, {"any": table}, keyer="proxylessnas-mobile")


def predict_ofa(device: D.LutDevice, cfg: Mapping) -> float:
    """OFA-style predicted latency of one OFA-MBv3 config on a LUT device (ms)."""
    return float(device.layer_sum(cfg))
