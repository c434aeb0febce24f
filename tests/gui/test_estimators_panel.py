"""The Estimators dock: choices per space, the stored ranking table with its trust note, the chosen
estimator as an extra Metrics row, and scoring an NB201 cell from a one-shot checkpoint on a worker
thread (a tiny supernet trained for 2 steps)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from explorer.estimators.ranking import load_ranking
from explorer.spaces.nb201 import NB201Space

from .helpers import small_graph

ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|nor_conv_1x1~0|avg_pool_3x3~1|nor_conv_3x3~2|"


def nb201_graph():
    return NB201Space(channels=8, cells_per_stage=1).encode({"arch_str": ARCH})


def _keys(panel) -> list[str]:
    return [panel.choice.itemData(i) for i in range(panel.choice.count())]


def test_choices_follow_the_space_and_ranking_is_shown(qtbot, make_window):
    table = load_ranking("nb201")
    if table is None:
        pytest.skip("no stored NB201 ranking table (resources/estimator_ranking_nb201.json)")
    win = make_window(nb201_graph(), wait=False)
    win.estimators_dock.raise_()
    panel = win.estimators
    qtbot.waitUntil(panel.isVisible, timeout=2000)
    assert {"params", "zen", "gradsign", "oneshot", "smash"} <= set(_keys(panel))
    rows = panel.ranking_rows()
    assert [r[0] for r in rows] == [r["label"] for r in table["rows"]]
    zen = next(r for r in table["rows"] if r["estimator"] == "zen")
    assert (zen["label"], f"{zen['spearman']:+.3f}") in rows
    assert "prefer a zero-shot proxy" in panel.note.text()

    # a zero-shot choice mirrors its live metric in the Metrics panel's extra row
    assert panel.select("zen")
    assert win.metrics.summary.item(win.metrics.summary.rowCount() - 1, 0).text() == "Estimator: Zen-Score"
    assert not panel.score_box.isVisible()

    # a custom graph offers no NB201-only estimator, and the table says where it was measured
    win.doc.replace(small_graph())
    assert "oneshot" not in _keys(panel) and "smash" not in _keys(panel)
    assert "measured on nb201" in panel.caption.text()


def test_score_current_candidate_from_oneshot_checkpoint(qtbot, make_window, tmp_path):
    from explorer.estimators._common import cifar_split
    from explorer.estimators.oneshot_nb201 import OneShotConfig, new_supernet, save_supernet, train_supernet

    cfg = OneShotConfig(C=4, N=1, steps=2, batch_size=8, calib_images=16)
    split = cifar_split(n_train=32, n_val=16)
    net = new_supernet(cfg)
    train_supernet(net, split, cfg)
    ckpt = save_supernet(net, cfg, tmp_path / "oneshot.pt")

    win = make_window(nb201_graph(), wait=False)
    win.estimators_dock.raise_()
    panel = win.estimators
    panel.n_val, panel.calib_images = 32, 16
    assert panel.select("oneshot")
    qtbot.waitUntil(panel.score_btn.isVisible, timeout=2000)
    assert not panel.score_btn.isEnabled()  # no checkpoint yet
    assert "not scored" in win.metrics.text_of("estimator")
    panel.path.setText(str(ckpt))
    assert panel.score_btn.isEnabled()

    with qtbot.waitSignal(panel.scored, timeout=60_000) as sig:
        qtbot.mouseClick(panel.score_btn, Qt.MouseButton.LeftButton)
        assert panel.busy  # the GUI returned while the worker scores
    res = sig.args[0]
    assert res["arch_str"] == ARCH and res["n_val"] == 32
    assert 0.0 <= res["val_acc"] <= 1.0 and res["val_loss"] > 0
    assert res["thread"] != "MainThread"
    assert "val_acc" in panel.result.text()
    assert win.metrics.text_of("estimator").startswith("val acc")
    assert panel.score_btn.isEnabled()

    # a bad checkpoint: the error shows in the dock, the app goes on
    panel.path.setText(str(tmp_path / "missing.pt"))
    assert "not scored" in win.metrics.text_of("estimator")  # the score belongs to the other file
    with qtbot.waitSignal(panel.status, timeout=20_000) as st:
        assert panel.score_current()
    assert st.args[0].startswith("scoring failed") and "missing.pt" in st.args[0]
    assert "scoring failed" in panel.result.text() and not panel.busy
