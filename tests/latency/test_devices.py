"""Device files and the OFA/ProxylessNAS YAML import: Note10 numbers, LUT keys, bad files rejected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.errors import ExplorerError, FormatError
from explorer.latency import registry as D
from explorer.latency.device import DeviceError
from explorer.latency.lut import LutDevice
from explorer.latency.ofa_yaml import import_ofa_note10, import_proxyless, read_yaml_table
from tests.conftest import shared_file

FULL = {"ks": [7] * 20, "e": [6] * 20, "d": [4] * 5}


@pytest.fixture()
def user_luts(tmp_path, monkeypatch):
    d = tmp_path / "luts"
    monkeypatch.setenv("NAS_EXPLORER_LUTS", str(d))
    return d


def test_shipped_note10_reproduces_official_latency():
    dev = D.load_device("note10-ofa-w12")
    assert dev.kind == "lut" and dev.covers("ofa-mbv3-w1.2")
    lat = dev.predict("ofa-mbv3-w1.2", [dict(FULL, r=224), dict(FULL, r=160)])
    assert abs(lat[0] - 92.4) < 0.1 and abs(lat[1] - 47.8) < 0.1
    # string configs as in the CSVs give the same numbers; smaller nets are faster
    small = dev.predict("ofa-mbv3", [{"ks": "3" * 20, "e": "3" * 20, "d": "22222", "r": 224}])[0]
    assert 0 < small < lat[0] / 2


def test_note10_import_from_yaml_matches_shipped():
    lut_dir = shared_file("ofa", "note10_lut")
    dev = import_ofa_note10(lut_dir)
    assert sorted(dev.tables) == ["160", "176", "192", "208", "224"]
    shipped = D.load_device("note10-ofa-w12")
    assert dev.tables == shipped.tables


def test_ofa_keys_match_official_table_keys():
    table = read_yaml_table(shared_file("ofa", "note10_lut", "224_lookup_table.yaml"))
    note10 = D.load_device("note10-ofa-w12")  # OFA configs are keyed through the graphs they encode
    tid, keys = note10.keys_for(dict(FULL, r=224))
    assert tid == "224" and len(keys) == 1 + 1 + 20 + 4
    assert keys[0] == "Conv-input:224x224x3-output:112x112x24"
    assert (
        keys[1]
        == "expanded_conv-input:112x112x24-output:112x112x24-expand:24-kernel:3-stride:1-idskip:1-se:0-hs:0"
    )
    assert keys[-1] == "Logits-input:1x1x1536-output:1000"
    assert all(k in table for k in keys)
    # a depth-2 config uses fewer blocks; stride-2 first blocks never have an identity skip
    _, k2 = note10.keys_for({"ks": [5] * 20, "e": [4] * 20, "d": [2] * 5, "r": 160}, "ofa-mbv3-w1.2")
    assert len(k2) == 1 + 1 + 10 + 4
    assert "stride:2-idskip:0" in k2[2] and "stride:1-idskip:1" in k2[3]


def test_missing_lut_key_is_named_never_zero():
    dev = D.load_device("note10-ofa-w12")
    tables = {t: dict(v) for t, v in dev.tables.items()}
    _, keys = dev.keys_for(dict(FULL, r=224))
    del tables["224"][keys[5]]
    broken = LutDevice("broken", provenance=dev.provenance, tables=tables, spaces=dev.spaces, keyer=dev.keyer)
    with pytest.raises(DeviceError, match="lacks 1 LUT key") as e:
        broken.predict("ofa-mbv3-w1.2", [dict(FULL, r=224)])
    assert keys[5] in str(e.value)
    assert broken.missing_keys(dict(FULL, r=224)) == [keys[5]]
    with pytest.raises(DeviceError, match="no table for resolution 200"):
        broken.predict("ofa-mbv3-w1.2", [dict(FULL, r=200)])
    with pytest.raises(DeviceError, match="not space"):
        broken.predict("nb201", ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"])


def test_proxyless_import_uses_ratio_and_var():
    dev = import_proxyless(shared_file("ofa", "proxylessnas_mobile_trim.yaml"))
    table = dev.tables["any"]
    k = "expanded_conv-input:112x112x16-output:56x56x24-expand:3-kernel:3-stride:2-idskip:0"
    assert abs(table[k]["std"] ** 2 - 0.07330791484716055) < 1e-12
    cfg = {"r": 224, "first_conv": 32, "blocks": [[32, 16, 1, 3, 1], [16, 24, 3, 3, 2]], "feature_mix": 1280}
    # the trimmed table holds only ProxylessNAS-mobile's own layers: other layers are reported missing
    missing = dev.missing_keys(cfg)
    assert all(m not in table for m in missing)


def test_unknown_device_message(user_luts):
    with pytest.raises(DeviceError, match="unknown device 'no-such-phone'"):
        D.load_device("no-such-phone")


@pytest.mark.parametrize(
    "text, match",
    [
        ('{"format": "nas-explorer/device", "version": 1, "name": "x", "ki', "corrupt or truncated"),
        ('{"format": "nas-explorer/device", "version": 7, "name": "x"}', "version 7 is not supported"),
        ('{"format": "something-else", "version": 1}', "not a device file"),
        ("[1, 2]", "not a device file"),
        (
            '{"format": "nas-explorer/device", "version": 1, "name": "x", "kind": "lut",'
            ' "spaces": ["ofa-mbv3-w1.2"], "provenance": {}}',
            "'tables' is missing.*partial",
        ),
        (
            '{"format": "nas-explorer/device", "version": 1, "name": "x", "kind": "network",'
            ' "spaces": ["nb201"], "provenance": {}, "model": {"kind": "hat", "n_features": 70,'
            ' "parts": [{"type": "mlp"}],'
            ' "weights": [1.0]}}',
            "incomplete or malformed",
        ),
        (
            '{"format": "nas-explorer/device", "version": 1, "name": "x", "kind": "quantum", "spaces": [],'
            ' "provenance": {}}',
            "unknown device kind",
        ),
    ],
)
def test_bad_device_files_rejected(user_luts, text, match):
    user_luts.mkdir(parents=True)
    (user_luts / "x.json").write_text(text)
    with pytest.raises(FormatError, match=match):
        D.load_device("x")
    listed = {d["name"]: d for d in D.list_devices(with_errors=True)}
    assert "error" in listed["x"]
    assert "x" not in {d["name"] for d in D.list_devices()}


def test_save_keeps_backup_and_user_device_shadows_shipped(user_luts):
    dev = D.load_device("note10-ofa-w12")
    p = D.save_device(dev)
    assert p == user_luts / "note10-ofa-w12.json"
    assert D.load_device("note10-ofa-w12").path == p
    d = json.loads(p.read_text())
    d["provenance"]["note"] = "edited"
    D.save_device(d, p)
    bak = Path(str(p) + ".bak")
    assert bak.exists() and "edited" not in bak.read_text() and "edited" in p.read_text()
    with pytest.raises(ExplorerError):  # never writes a file it could not read back
        D.save_device({**d, "version": 2}, p)
    assert "edited" in p.read_text()


def test_shipped_devices_batch_is_a_batch_never_a_model_number():
    """HELP's GPU columns end in their batch (`2080ti_32`); `gold_6226` or `essential_ph_1` end in
    a model number, which once became "batch 6,226"."""
    from explorer.latency.train_shipped import _batch

    assert _batch("help-nb201", "2080ti_32") == 32 and _batch("help-ofa", "titan_xp_64") == 64
    assert _batch("help-nb201", "gold_6226") is None and _batch("help-nb201", "essential_ph_1") is None
    shipped = {d["name"]: d for d in D.list_devices() if d["name"].startswith(("help-", "latbench-"))}
    assert shipped["help-nb201-gold_6226"]["batch"] is None
    assert {d["batch"] for d in shipped.values()} <= {None, 1, 32, 64, 256}
