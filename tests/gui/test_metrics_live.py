"""The live metrics in the window: entries of an older edit never reach the panel, one validation
per edit, this machine's new layers measured in the background without holding back the other
rows, the proxies chosen from the registry in the settings dialog, population proxies as
percentiles of their space's reference sample."""

from __future__ import annotations

import sys
import threading

import pytest

from explorer import live_metrics as LM
from explorer.gui.settings_dialog import SettingsDialog
from explorer.latency.measure import Measurement
from explorer.live_metrics import LOCAL_CPU, LiveSettings, live_proxies
from explorer.spaces import get_space

from .conftest import METRICS_TIMEOUT_MS, TINY, wait_metrics
from .helpers import small_graph


def _set_channels(win, n: int) -> None:
    win.doc.edit(f"channels {n}", lambda g: g.set_params("conv_1", out_channels=n))


def _record_puts(win, monkeypatch) -> list:
    """(key, entry, the controller's generation then) of every entry the panel is handed."""
    seen = []
    real = win.metrics.put

    def put(key, entry):
        seen.append((key, entry, win.controller.generation))
        return real(key, entry)

    monkeypatch.setattr(win.metrics, "put", put)
    return seen


def test_an_edit_during_a_computation_drops_the_old_generations_entries(qtbot, make_window, monkeypatch):
    win = make_window(small_graph(), devices=())
    seen = _record_puts(win, monkeypatch)
    release, old_done = threading.Event(), []
    real = LM.compute_many

    def held_once(graph, names, *a, **kw):
        if not old_done:  # the first edit's proxies wait until the second edit was made
            release.wait(30)
            old_done.append(real(graph, names, *a, **kw))
            return old_done[-1]
        return real(graph, names, *a, **kw)

    monkeypatch.setattr(LM, "compute_many", held_once)
    _set_channels(win, 10)
    qtbot.waitUntil(
        lambda: any(k == "params" and e["generation"] == win.controller.generation for k, e, _ in seen)
    )
    first = win.controller.generation
    _set_channels(win, 12)
    qtbot.waitUntil(lambda: win.controller.generation == first + 1, timeout=5000)
    release.set()
    wait_metrics(qtbot, win)
    assert old_done and all(v.score is not None for v in old_done[0].values())  # the old job finished...
    late = [(k, e["generation"]) for k, e, now in seen if now > first and e["generation"] == first]
    assert late == []  # ...and none of them reached the panel once the next edit had started
    m = win.metrics
    assert m.generation == first + 1 and m.digest == win.controller.digest
    assert {e["generation"] for e in m.values.values()} == {first + 1}
    assert all(e["digest"] == win.controller.digest for e in m.last_result.values())


def test_the_panel_itself_drops_an_entry_of_another_generation_or_graph(qtbot, make_window):
    win = make_window(small_graph(), devices=())
    m = win.metrics
    shown = m.text_of("zen")
    m.start(["zen"], 99, "d99")
    assert not m.put("zen", {"value": 1.0, "generation": 98, "digest": "d99"})
    assert not m.put("zen", {"value": 1.0, "generation": 99, "digest": "other"})
    assert m.text_of("zen") == f"{shown}  (computing\u2026)"
    assert m.put("zen", {"value": 1.0, "generation": 99, "digest": "d99"}) and m.text_of("zen") == "1.00"


def test_one_validation_per_edit(qtbot, make_window, monkeypatch):
    """The document validates the edit (the Errors dock shows it); the metrics reuse that report
    for counting, both proxies' builds and memory checks, and the latency keys."""
    win = make_window(small_graph(), devices=(LOCAL_CPU,))
    calls = []
    mod = sys.modules["explorer.arch.validate"]
    real = mod.validate

    def counting(graph):
        calls.append(threading.current_thread().name)
        return real(graph)

    for target in (mod, LM, sys.modules["explorer.gui.document"], sys.modules["explorer.gui.metrics_worker"]):
        monkeypatch.setattr(target, "validate", counting)
    for n in (9, 10):
        calls.clear()
        _set_channels(win, n)
        wait_metrics(qtbot, win)
        assert win.metrics.values["gradsign"]["value"] is not None
        assert win.metrics.values[f"latency:{LOCAL_CPU}"]["value"] is not None
        assert calls == ["MainThread"]


def _fake_measurer(gate: threading.Event, calls: list):
    def measure(spec, config):
        calls.append(spec.key)
        gate.wait(30)
        return Measurement(0.5, 0.5, 0.5, 0.5, 0.0, 0.5, 5)  # every statistic 0.5 ms

    return measure


@pytest.fixture
def own_table(tmp_path, monkeypatch):
    """A fresh layer table of this machine for the test (fake measurements stay out of the session's)."""
    monkeypatch.setenv("NAS_EXPLORER_LUTS", str(tmp_path / "luts"))
    monkeypatch.setattr(LM, "_LOCAL", {})


def test_new_layers_are_measured_after_every_other_row_arrived(qtbot, make_window, own_table):
    devices = (LOCAL_CPU, "help-nb201-pixel3")
    win = make_window(small_graph(), devices=devices, wait=False)
    gate, calls = threading.Event(), []
    win.controller.measure_layer = _fake_measurer(gate, calls)
    arrivals = []
    win.controller.entry.connect(lambda gen, key, e: arrivals.append((key, bool(e.get("pending")))))
    win.controller.finished.connect(lambda gen, res: arrivals.append(("finished", False)))
    win.controller.settled.connect(lambda gen: arrivals.append(("settled", False)))
    qtbot.waitUntil(lambda: bool(calls), timeout=METRICS_TIMEOUT_MS)  # measuring, and held there
    m = win.metrics
    # every other row is in while this machine's layers are still being measured
    others = ("params", "macs", "zen", "gradsign", "latency:help-nb201-pixel3")
    assert not m.computing & set(others)
    assert all(m.values[k]["value"] is not None for k in others[:4])
    assert "custom graph" in m.values[others[-1]]["reason"]  # a row of its own, at once
    row = f"latency:{LOCAL_CPU}"
    assert m.values[row]["pending"] and row in m.computing and "measuring" in m.text_of(row)
    assert arrivals.index((row, True)) < arrivals.index(("finished", False))
    gate.set()
    wait_metrics(qtbot, win)
    assert arrivals[-2:] == [(row, False), ("settled", False)]  # filled after everything else
    assert len(set(calls)) == m.values[row]["measured_layers"] == 3  # conv_1, pool, fc (in rounds)
    assert m.values[row]["value"] == pytest.approx(1.5) and row not in m.computing
    assert m.last_result[row]["value"] == pytest.approx(1.5)  # what Keep records is the filled row


def keys_of(graph) -> list[str]:
    from explorer.latency.keys import layer_keys

    return [k for _, k in layer_keys(graph)]


def test_an_edit_cancels_the_measuring_of_the_previous_graph(qtbot, make_window, own_table, monkeypatch):
    win = make_window(small_graph(), devices=(LOCAL_CPU,), wait=False)
    gate, calls = threading.Event(), []
    win.controller.measure_layer = _fake_measurer(gate, calls)
    qtbot.waitUntil(lambda: bool(calls), timeout=METRICS_TIMEOUT_MS)
    seen = _record_puts(win, monkeypatch)
    first = win.controller.generation
    _set_channels(win, 14)  # the next edit, while the first graph's layers are measured
    qtbot.waitUntil(lambda: win.controller.generation == first + 1, timeout=5000)
    gate.set()
    wait_metrics(qtbot, win)
    # the first graph's job stopped after the layer in hand; the second graph's were measured
    old, new = (keys_of(small_graph(width=w)) for w in (8, 14))
    assert calls[0] == old[0] and set(calls[1:]) == set(new) and not set(old) & set(new)
    assert not [k for k, e, now in seen if e.get("generation") == first and now > first]
    assert win.metrics.values[f"latency:{LOCAL_CPU}"]["value"] > 0


def test_settings_dialog_lists_every_registered_proxy(qtbot, make_window):
    dlg = SettingsDialog(LiveSettings())
    qtbot.addWidget(dlg)
    names = {p.name for p in live_proxies()}
    assert set(dlg.checks) == names and {"zen", "gradsign", "az-nas", "ensemble", "naswot"} <= names
    assert list(dlg.checks)[:2] == ["gradsign", "zen"] and list(dlg.checks)[-2:] == ["az-nas", "ensemble"]
    assert {n for n, c in dlg.checks.items() if c.isChecked()} == {"zen", "gradsign"}
    assert dlg.batches["zen"].value() == 16 and dlg.batches["gradsign"].value() == 32
    assert "ensemble" not in dlg.batches and "az-nas" not in dlg.batches  # at the reference's settings
    assert not dlg.batches["naswot"].isEnabled()
    dlg.checks["naswot"].setChecked(True)
    assert dlg.batches["naswot"].isEnabled()
    dlg.batches["naswot"].setValue(8)
    dlg.checks["ensemble"].setChecked(True)
    s = dlg.settings()
    assert s.proxies == ("zen", "gradsign", "naswot", "ensemble") and s.batch == {"naswot": 8}
    # the window shows the chosen rows, persists the choice, and the next start reads it
    win = make_window(small_graph(), devices=())
    win.set_live_settings(LiveSettings(proxies=("gradsign", "naswot"), batch={"naswot": 4, "gradsign": 8}))
    wait_metrics(qtbot, win)
    assert [k for k, _ in win.metrics.rows] == ["params", "macs", "gradsign", "naswot"]
    assert win.metrics.summary.item(3, 0).text() == "NASWOT" and win.metrics.values["naswot"]["value"] > 0
    assert win.metrics.values["naswot"]["method"] == "b4 r16"  # at most 64 px: the graph's own 16
    again = make_window(small_graph(), settings=None, devices=())
    assert again.live.proxies == ("gradsign", "naswot") and again.live.batch_of("naswot") == 4


def test_population_proxies_show_a_percentile_or_say_why_not(qtbot, make_window):
    s = LiveSettings(proxies=("az-nas",), resolution=32)
    nb = get_space("nb201")
    win = make_window(nb.encode(nb.sample(2)), settings=s, devices=())
    text = win.metrics.text_of("az-nas")
    assert text.startswith("p") and text.endswith("in nb201 (100-net reference)")
    assert "expressivity" in win.metrics.summary.item(2, 1).toolTip()
    win.doc.set_graph_undoable("drawn", small_graph())
    wait_metrics(qtbot, win)
    assert win.metrics.text_of("az-nas").startswith("n/a \u2013 custom graph")


def test_devices_that_do_not_cover_the_graph_are_greyed(qtbot, make_window):
    win = make_window(small_graph(), devices=(LOCAL_CPU,), wait=False)
    dl = win.device_list
    items = {dl.item(i).text(): dl.item(i) for i in range(dl.count())}
    assert "does not predict" in items["help-nb201-pixel3"].toolTip()
    assert "does not predict" not in items[LOCAL_CPU].toolTip()
    nb = get_space("nb201")
    win.apply_space_graph(nb.encode(nb.sample(0)), "sample")
    assert dl.space == "nb201" and "does not predict" not in items["help-nb201-pixel3"].toolTip()
    assert "does not predict space nb201" in items["help-ofa-2080ti_1"].toolTip()
    order = [dl.item(i).text() for i in range(dl.count())]  # those that cover it first
    assert order[0] == LOCAL_CPU and order.index("help-nb201-pixel3") < order.index("help-ofa-2080ti_1")
    assert dl.checked() == [LOCAL_CPU]
    wait_metrics(qtbot, win)


def test_default_settings_still_give_zen_and_gradsign(qtbot, make_window):
    win = make_window(small_graph(), settings=TINY, devices=())
    assert [k for k, _ in win.metrics.rows] == ["params", "macs", "zen", "gradsign"]
