"""The main window as a whole: default project, sampling and config edits, files, closing while a
worker runs, the --screenshot mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtCore import Qt

from explorer.arch import load_arch, save_arch
from explorer.live_metrics import LOCAL_CPU
from explorer.spaces import get_space

from .conftest import TINY, wait_metrics
from .helpers import small_graph

REPO = Path(__file__).resolve().parents[2]


def test_default_project_gets_metrics(qtbot, make_window):
    win = make_window(devices=None)  # the devices the first start picks
    g = win.doc.graph
    space = get_space("ofa-mbv3-w1.0")
    assert g.meta["space"] == "ofa-mbv3-w1.0" and g.meta["config"] == space.sample(0)
    assert LOCAL_CPU in win.device_list.checked() or any(
        d.startswith("local") for d in win.device_list.checked()
    )
    for key in ("params", "macs", "zen", "gradsign"):
        entry = win.metrics.values[key]
        assert entry["value"] is not None, (key, entry)
        assert "computing" not in win.metrics.text_of(key)
    assert win.metrics.values["params"]["value"] == 5316280  # core count for seed 0
    # every selected device has a row with a value or an explicit reason
    for d in win.device_list.checked():
        e = win.metrics.values[f"latency:{d}"]
        assert e["value"] is not None or e.get("reason")


def test_sampling_and_config_edits_update_graph_and_metrics(qtbot, make_window):
    win = make_window()
    sp = win.space_panel
    params0 = win.metrics.values["params"]["value"]
    sp.seed.setValue(3)
    qtbot.mouseClick(sp.sample_btn, Qt.MouseButton.LeftButton)
    cfg3 = get_space("ofa-mbv3-w1.0").sample(3)
    assert win.doc.graph.meta["config"] == cfg3
    wait_metrics(qtbot, win)
    params3 = win.metrics.values["params"]["value"]
    assert params3 != params0
    assert win.doc.undo.undoText().startswith("Sample")

    # the form follows the graph; editing the form re-encodes the graph
    d0 = sp.widgets["d0"]
    assert d0.currentData() == cfg3["d"][0]
    d0.setFocus()
    key = Qt.Key.Key_Down if d0.currentIndex() < d0.count() - 1 else Qt.Key.Key_Up
    qtbot.keyClick(d0, key)
    new_d = d0.currentData()
    assert new_d != cfg3["d"][0]
    assert win.doc.graph.meta["config"]["d"][0] == new_d
    blocks = [n for n in win.doc.graph.nodes if n.startswith("block") and int(n[5:]) < 4]
    assert len(blocks) == new_d
    wait_metrics(qtbot, win)
    assert win.metrics.values["params"]["value"] != params3

    # editing a block in the inspector moves the form with it (decode from the graph)
    win.scene.set_collapsed("stage1", False)
    win.scene.select_nodes(["block0"])
    k = win.inspector.widgets["kernel"]
    target = 7 if win.doc.graph.params("block0")["kernel"] != 7 else 5
    k.setValue(target)
    assert win.doc.graph.params("block0")["kernel"] == target
    assert sp.widgets["k0"].currentData() == target

    # mutate gives another candidate of the same space
    before = dict(win.doc.graph.meta["config"])
    for _ in range(5):
        qtbot.mouseClick(sp.mutate_btn, Qt.MouseButton.LeftButton)
        if win.doc.graph.meta["config"] != before:
            break
    assert win.doc.graph.meta["config"] != before


def test_nb201_sample_and_edge_edit(qtbot, make_window):
    win = make_window(small_graph())
    sp = win.space_panel
    sp.space.setCurrentText("nb201")
    qtbot.mouseClick(sp.sample_btn, Qt.MouseButton.LeftButton)
    g = win.doc.graph
    assert g.meta["space"] == "nb201"
    assert "group:stage2" in win.scene.nodes and "s1c0_e01" in win.scene.nodes  # the first cell shown
    assert "group:s1c1" in win.scene.nodes  # the other cells of stage1 collapsed
    combo = sp.widgets["op0"]
    new = "nor_conv_3x3" if combo.currentData() != "nor_conv_3x3" else "avg_pool_3x3"
    combo.setCurrentIndex(combo.findData(new))
    combo.activated.emit(combo.currentIndex())
    assert win.doc.graph.op("s1c0_e01") == new
    assert win.doc.graph.op("s3c4_e01") == new  # every cell shares the arch string
    wait_metrics(qtbot, win)
    assert win.metrics.values["zen"]["value"] is not None or win.metrics.values["zen"]["reason"]


def test_closing_while_a_worker_runs_exits_cleanly(qtbot, make_window):
    from explorer.live_metrics import LiveSettings

    win = make_window(settings=LiveSettings(zen_batch=8, gradsign_batch=16, resolution=64), wait=False)
    win.request_metrics(immediate=True)
    qtbot.waitUntil(lambda: win.controller.busy, timeout=5000)
    pool = win.controller.pool
    assert win.close()
    assert pool.activeThreadCount() == 0
    assert win.controller._closed


def test_save_open_and_recent_files(qtbot, make_window, tmp_path):
    win = make_window(small_graph(), wait=False)
    path = tmp_path / "a.json"
    assert win._write(str(path))
    assert load_arch(path) == win.doc.graph
    assert not win.isWindowModified()
    win.scene.select_nodes(["pool"])
    win.scene.delete_selected()
    assert win.isWindowModified()
    other = small_graph()
    other.name = "other"
    p2 = tmp_path / "b.json"
    save_arch(other, p2)
    assert win.open_path(str(p2))
    assert win.doc.graph.name == "other" and win.doc.undo.count() == 0
    recent = win._recent()
    assert recent[0] == str(p2.resolve()) and str(path.resolve()) in recent
    assert [a.text() for a in win.recent_menu.actions()][:2] == ["b.json", "a.json"]
    # a bad file is refused with a message, the current graph stays
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    from PySide6.QtWidgets import QMessageBox

    orig = QMessageBox.warning
    QMessageBox.warning = staticmethod(lambda *a, **k: None)
    try:
        assert not win.open_path(str(bad))
    finally:
        QMessageBox.warning = orig
    assert win.doc.graph.name == "other"


def test_layout_and_settings_restored(qtbot, make_window):
    from explorer.gui.main_window import MainWindow

    win = make_window(small_graph(), wait=False)
    win.errors_dock.hide()
    win.set_live_settings(TINY)
    win.close()
    win2 = MainWindow(small_graph(), restore_state=True, ask_to_save=False, torch_threads=None)
    qtbot.addWidget(win2)
    win2.show()
    assert win2.errors_dock.isHidden()
    assert win2.live == TINY
    win2.close()


def test_screenshot_mode_writes_png(tmp_path):
    g = small_graph()
    arch = tmp_path / "small.json"
    save_arch(g, arch)
    out = tmp_path / "shot.png"
    env = dict(
        os.environ,
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        NAS_EXPLORER_WINDOW_SIZE="1280x800",
    )
    r = subprocess.run(
        [sys.executable, "-m", "explorer", "--screenshot", str(out), "--open", str(arch)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    from PySide6.QtGui import QImage

    img = QImage(str(out))
    assert (img.width(), img.height()) == (1280, 800)


def test_open_bad_file_raises_a_one_line_error(tmp_path):
    """The CLI turns this ExplorerError into exit code 2 and one line on stderr."""
    import pytest

    from explorer.errors import FormatError
    from explorer.gui.launch import run_app

    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    with pytest.raises(FormatError, match="not an architecture file"):
        run_app(open_path=str(bad), screenshot=str(tmp_path / "x.png"))


def test_weights_are_saved_beside_the_file_and_come_back_on_open(qtbot, make_window, tmp_path):
    """An imported model's (or grown net's) weights are not lost by File > Save: they go to
    NAME.weights.pt beside it (on a worker) and come back on open; damaged or unfitting weights
    are said and the graph opens with fresh ones."""
    import torch

    from explorer.arch import build_model
    from explorer.gui.window_files import weights_beside

    win = make_window(small_graph(), wait=False)
    state = build_model(win.doc.graph, seed=3).state_dict()
    win.doc.weights = dict(state)
    path = tmp_path / "net.json"
    assert win._write(str(path))
    qtbot.waitUntil(lambda: weights_beside(path).is_file() and not win.weights_task.running, timeout=20000)
    assert win.weights_error is None

    win.doc.replace(small_graph())  # another document, no weights
    assert win.doc.weights is None
    assert win.open_path(str(path))
    qtbot.waitUntil(lambda: win.doc.weights is not None, timeout=20000)
    assert all(torch.equal(win.doc.weights[k], v) for k, v in state.items())

    # damaged weights: said, the graph stays open without them
    raw = bytearray(weights_beside(path).read_bytes())
    raw[len(raw) // 2 : len(raw) // 2 + 64] = bytes(64)
    weights_beside(path).write_bytes(bytes(raw))
    assert win.open_path(str(path))
    qtbot.waitUntil(lambda: win.weights_error is not None, timeout=20000)
    assert "net.weights.pt not loaded" in win.weights_error and win.doc.weights is None
    assert win.doc.graph == load_arch(path)

    # weights of another architecture: refused by the fit check
    other = small_graph()
    other.set_params("conv_1", out_channels=24)
    torch.save(build_model(other).state_dict(), weights_beside(path))
    win.weights_error = None
    assert win.open_path(str(path))
    qtbot.waitUntil(lambda: win.weights_error is not None, timeout=20000)
    assert "do not fit" in win.weights_error and win.doc.weights is None
