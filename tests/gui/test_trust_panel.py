"""The trust panel of the Estimators dock: one row per proxy with bootstrap intervals computed on a
worker, the members checkboxes recomputing the ensemble row, the cost measured here off the GUI
thread, and the panel living in the Estimators dock."""

from __future__ import annotations

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt

from explorer.gui.trust_panel import TrustPanel
from explorer.proxies import trust
from explorer.proxies.registry import ProxySettings
from explorer.spaces.nb201 import NB201Space

TIMEOUT_MS = 60_000


@pytest.fixture
def panel(qtbot):
    if trust.load() is None:
        pytest.skip("no shipped proxy trust sample")
    p = TrustPanel(resamples=60)
    qtbot.addWidget(p)
    p.resize(640, 1000)
    with qtbot.waitSignal(p.computed, timeout=TIMEOUT_MS):
        p.show()  # computed when first shown, on the worker
    yield p
    p.shutdown()


def _row(panel, label_start: str) -> list[str]:
    return next(r for r in panel.row_texts() if r[0].startswith(label_start))


def test_one_row_per_proxy_with_intervals_and_a_plot(panel):
    rows = panel.row_texts()
    assert len(rows) == len(trust.member_keys()) + 1
    assert {r[0] for r in rows} >= {"#params", "AZ-NAS", "MeCo", "Zen-Score", "Ensemble (3)"}
    for label, rho, tau, cost, here in rows:
        for text in (rho, tau):  # "0.917 [0.903, 0.929]"
            value, lo, hi = (
                float(t) for t in text.replace("[", "").replace("]", "").replace(",", "").split()
            )
            assert lo <= value <= hi, label
        assert cost.endswith("s") and here == ""
    # best first; the plot draws an interval per statistic
    spearman = [float(r[1].split()[0]) for r in rows]
    assert spearman == sorted(spearman, reverse=True)
    bars = [i for i in panel.plot.getPlotItem().items if isinstance(i, pg.ErrorBarItem)]
    assert len(bars) == 2
    assert "NB201 cells" in panel.source.text() and "nb201_cifar10_200ep.csv" in panel.source.text()
    assert "paired bootstrap" in panel.versus.text()


def test_members_control_recomputes_the_ensemble_row(qtbot, panel):
    before, az_before = _row(panel, "Ensemble"), _row(panel, "AZ-NAS")
    assert before[0] == "Ensemble (3)"
    with qtbot.waitSignal(panel.computed, timeout=TIMEOUT_MS) as sig:
        panel.member_checks["zico"].setChecked(True)
        panel.member_checks["synflow"].setChecked(False)  # two clicks: the first result is stale
    assert sig.args[0]["members"] == ["zico", "meco", "az-nas"]
    qtbot.waitUntil(lambda: panel.table_data["members"] == ["zico", "meco", "az-nas"], timeout=TIMEOUT_MS)
    after = _row(panel, "Ensemble")
    assert after[0] == "Ensemble (3)" and after[1] != before[1] and after[3] != before[3]
    assert _row(panel, "AZ-NAS") == az_before  # the single proxies do not change
    # no member: no ensemble figures, and nothing computed
    panel.set_members(["meco"])
    qtbot.waitUntil(lambda: panel.table_data["members"] == ["meco"] and not panel.busy, timeout=TIMEOUT_MS)
    panel.member_checks["meco"].setChecked(False)
    assert not panel.busy and _row(panel, "Ensemble")[1] == "\u2014"
    assert "at least one" in panel.versus.text()


def test_cost_measured_here_on_a_worker(qtbot, panel):
    panel.measure_cells = 1
    panel.measure_space = NB201Space(channels=8, cells_per_stage=1)
    panel.measure_settings = ProxySettings.live()
    with qtbot.waitSignal(panel.measured, timeout=TIMEOUT_MS) as sig:
        qtbot.mouseClick(panel.measure_btn, Qt.MouseButton.LeftButton)
        assert not panel.measure_btn.isEnabled()  # the GUI returned while the worker times
    res = sig.args[0]
    assert res["thread"] != "MainThread" and res["cells"] == 1
    assert all(r[4].endswith("s") for r in panel.row_texts())
    assert "1 cell(s)" in panel.cost_status.text()
    qtbot.waitUntil(panel.measure_btn.isEnabled, timeout=5000)


def test_the_estimators_dock_holds_the_trust_panel(qtbot, make_window):
    from .helpers import small_graph

    win = make_window(small_graph(), wait=False)
    win.estimators_dock.raise_()
    panel = win.estimators.trust
    assert isinstance(panel, TrustPanel)
    qtbot.waitUntil(panel.isVisible, timeout=2000)
    assert panel.busy or panel.table_data is not None  # started on first show
    assert win.estimators.ranking_rows()  # the ranking table above still shows
